#include "filters.h"

#include "api_error.h"

#include <set>

namespace kubesim {

namespace {

const std::set<std::string>& supported_fields(const std::string& kind) {
  static const std::map<std::string, std::set<std::string>> kFields = {
      {"Pod",
       {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
        "status.phase", "status.podIP", "status.nominatedNodeName"}},
      {"Event",
       {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
        "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
        "reportingComponent", "source", "type"}},
      {"Node", {"spec.unschedulable"}},
      {"Namespace", {"status.phase"}},
      {"ReplicaSet", {"status.replicas"}},
      {"Job", {"status.successful"}},
  };
  static const std::set<std::string> kNone;
  auto it = kFields.find(kind);
  return it == kFields.end() ? kNone : it->second;
}

}  // namespace

std::optional<std::string> field_value(const ResourceInfo& r, const Json& object, const std::string& field) {
  if (field == "metadata.name") {
    return name_of(object);
  }
  if (field == "metadata.namespace") {
    return namespace_of(object);
  }
  if (!supported_fields(r.kind).count(field)) {
    return std::nullopt;
  }
  if (field == "source") {
    return string_at(object, "source.component");
  }
  if (field == "spec.unschedulable" || field == "spec.hostNetwork") {
    return bool_at(object, field) ? "true" : "false";
  }
  if (field == "status.replicas") {
    return std::to_string(int_at(object, field, 0));
  }
  if (field == "status.successful") {
    return std::to_string(int_at(object, "status.succeeded", 0));
  }
  const Json* v = find_path(object, field);
  if (!v || v->is_null()) {
    return std::string();
  }
  return v->is_string() ? v->get<std::string>() : v->dump();
}

void validate_field_selector(const ResourceInfo& r, const FieldSelector& fields) {
  for (const auto& req : fields.requirements()) {
    if (req.field == "metadata.name" || req.field == "metadata.namespace") {
      continue;
    }
    if (!supported_fields(r.kind).count(req.field)) {
      throw ApiError::bad_request("field label not supported: " + req.field);
    }
  }
}

bool ObjectFilter::matches(const ResourceInfo& r, const Json& object) const {
  if (!ns.empty() && r.namespaced && namespace_of(object) != ns) {
    return false;
  }
  if (!name.empty() && name_of(object) != name) {
    return false;
  }
  if (!labels.matches(labels_of(object))) {
    return false;
  }
  for (const auto& req : fields.requirements()) {
    auto value = field_value(r, object, req.field);
    bool equal = value && *value == req.value;
    if (req.negate ? equal : !equal) {
      return false;
    }
  }
  return true;
}

}  // namespace kubesim
