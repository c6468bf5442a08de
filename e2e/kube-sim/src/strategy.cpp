#include "strategy.h"

#include "api_error.h"
#include "selectors.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace kubesim {

namespace {

void set_default(Json& object, const char* key, const Json& value) {
  if (!object.contains(key) || object[key].is_null()) {
    object[key] = value;
  }
}

std::string image_tag(const std::string& image) {
  // "repo:tag@sha256:..." or "host:5000/repo:tag"; the tag is after the last
  // ':' that follows the last '/'.
  std::string ref = image.substr(0, image.find('@'));
  auto slash = ref.rfind('/');
  auto colon = ref.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) {
    return "";
  }
  return ref.substr(colon + 1);
}

void default_container(Json& c) {
  if (!c.is_object()) {
    return;
  }
  std::string image = c.value("image", "");
  std::string tag = image_tag(image);
  bool by_digest = image.find('@') != std::string::npos;
  set_default(c, "imagePullPolicy", (tag.empty() || tag == "latest") && !by_digest ? "Always" : "IfNotPresent");
  set_default(c, "terminationMessagePath", "/dev/termination-log");
  set_default(c, "terminationMessagePolicy", "File");
  set_default(c, "resources", Json::object());
  Json& resources = c["resources"];
  // Limits without requests: requests default to the limits.
  if (resources.is_object() && resources.contains("limits") && resources["limits"].is_object()) {
    Json& requests = resources["requests"];
    if (!requests.is_object()) {
      requests = Json::object();
    }
    for (auto it = resources["limits"].begin(); it != resources["limits"].end(); ++it) {
      if (!requests.contains(it.key())) {
        requests[it.key()] = it.value();
      }
    }
  }
  if (c.contains("ports") && c["ports"].is_array()) {
    for (auto& p : c["ports"]) {
      if (p.is_object()) {
        set_default(p, "protocol", "TCP");
      }
    }
  }
}

void default_pod_spec(Json& spec) {
  if (!spec.is_object()) {
    return;
  }
  set_default(spec, "restartPolicy", "Always");
  set_default(spec, "dnsPolicy", "ClusterFirst");
  set_default(spec, "schedulerName", "default-scheduler");
  set_default(spec, "terminationGracePeriodSeconds", 30);
  set_default(spec, "securityContext", Json::object());
  for (const char* list : {"containers", "initContainers"}) {
    if (spec.contains(list) && spec[list].is_array()) {
      for (auto& c : spec[list]) {
        default_container(c);
      }
    }
  }
}

void default_template(Json& object) {
  Json* tmpl = nullptr;
  if (object.contains("spec") && object["spec"].is_object() && object["spec"].contains("template")) {
    tmpl = &object["spec"]["template"];
  }
  if (tmpl && tmpl->is_object()) {
    set_default(*tmpl, "metadata", Json::object());
    if (tmpl->contains("spec")) {
      default_pod_spec((*tmpl)["spec"]);
    }
  }
}

std::string qos_class(const Json& spec) {
  bool any = false;
  bool guaranteed = true;
  if (!spec.contains("containers") || !spec["containers"].is_array()) {
    return "BestEffort";
  }
  for (const auto& c : spec["containers"]) {
    const Json* req = find_path(c, "resources.requests");
    const Json* lim = find_path(c, "resources.limits");
    if ((req && req->is_object() && !req->empty()) || (lim && lim->is_object() && !lim->empty())) {
      any = true;
    }
    for (const char* res : {"cpu", "memory"}) {
      const Json* l = lim ? find_path(*lim, res) : nullptr;
      const Json* q = req ? find_path(*req, res) : nullptr;
      if (!l || !q || parse_quantity(*l) != parse_quantity(*q)) {
        guaranteed = false;
      }
    }
  }
  if (!any) {
    return "BestEffort";
  }
  return guaranteed ? "Guaranteed" : "Burstable";
}

void add_toleration(Json& spec, const std::string& key, std::int64_t seconds) {
  Json& tolerations = spec["tolerations"];
  if (!tolerations.is_array()) {
    tolerations = Json::array();
  }
  for (const auto& t : tolerations) {
    if (t.value("key", "") == key || (t.value("operator", "") == "Exists" && !t.contains("key"))) {
      return;
    }
  }
  tolerations.push_back(
      {{"key", key}, {"operator", "Exists"}, {"effect", "NoExecute"}, {"tolerationSeconds", seconds}});
}

struct Problems {
  std::vector<StatusCause> causes;
  void required(const std::string& field) {
    causes.push_back({"FieldValueRequired", "Required value", field});
  }
  void invalid(const std::string& field, const Json& value, const std::string& why) {
    causes.push_back({"FieldValueInvalid", "Invalid value: " + value.dump() + ": " + why, field});
  }
  void unsupported(const std::string& field, const Json& value, const std::string& allowed) {
    causes.push_back({"FieldValueNotSupported", "Unsupported value: " + value.dump() + ": supported values: " + allowed,
                      field});
  }
  void forbidden(const std::string& field, const std::string& why) {
    causes.push_back({"FieldValueForbidden", "Forbidden: " + why, field});
  }
  void immutable(const std::string& field, const Json& value) {
    causes.push_back({"FieldValueInvalid", "Invalid value: " + value.dump() + ": field is immutable", field});
  }
  void duplicate(const std::string& field, const Json& value) {
    causes.push_back({"FieldValueDuplicate", "Duplicate value: " + value.dump(), field});
  }
};

void validate_quantities(const Json* resources, const std::string& path, Problems& p) {
  if (!resources || !resources->is_object()) {
    return;
  }
  for (const char* kind : {"limits", "requests"}) {
    const Json* block = find_path(*resources, kind);
    if (!block || !block->is_object()) {
      continue;
    }
    for (auto it = block->begin(); it != block->end(); ++it) {
      if (!parse_quantity(it.value())) {
        p.invalid(path + "." + kind + "[" + it.key() + "]", it.value(), "must be a valid quantity");
      }
    }
  }
  const Json* limits = find_path(*resources, "limits");
  const Json* requests = find_path(*resources, "requests");
  if (limits && requests && limits->is_object() && requests->is_object()) {
    for (auto it = requests->begin(); it != requests->end(); ++it) {
      if (!limits->contains(it.key())) {
        continue;
      }
      auto req = parse_quantity(it.value());
      auto lim = parse_quantity((*limits)[it.key()]);
      if (req && lim && *req > *lim) {
        p.invalid(path + ".requests", it.value(), "must be less than or equal to " + it.key() + " limit of " +
                                                      (*limits)[it.key()].dump());
      }
    }
  }
}

void validate_pod_spec(const Json* spec, const std::string& path, Problems& p, bool in_job) {
  if (!spec || !spec->is_object()) {
    p.required(path);
    return;
  }
  const Json* containers = find_path(*spec, "containers");
  if (!containers || !containers->is_array() || containers->empty()) {
    p.required(path + ".containers");
    return;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < containers->size(); ++i) {
    const Json& c = (*containers)[i];
    std::string cp = path + ".containers[" + std::to_string(i) + "]";
    std::string name = c.is_object() ? c.value("name", "") : "";
    if (name.empty()) {
      p.required(cp + ".name");
    } else if (!is_dns_label(name)) {
      p.invalid(cp + ".name", name, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'");
    } else if (!names.insert(name).second) {
      p.duplicate(cp + ".name", name);
    }
    if (!c.is_object() || c.value("image", "").empty()) {
      p.required(cp + ".image");
    }
    validate_quantities(c.is_object() ? find_path(c, "resources") : nullptr, cp + ".resources", p);
  }
  std::string restart = string_at(*spec, "restartPolicy", "Always");
  if (in_job) {
    if (restart != "Never" && restart != "OnFailure") {
      p.unsupported(path + ".restartPolicy", restart, "\"OnFailure\", \"Never\"");
    }
  } else if (restart != "Always" && restart != "OnFailure" && restart != "Never") {
    p.unsupported(path + ".restartPolicy", restart, "\"Always\", \"OnFailure\", \"Never\"");
  }
}

void validate_selector_and_template(const Json& object, Problems& p, bool selector_required) {
  const Json* selector = find_path(object, "spec.selector");
  if (!selector || !selector->is_object() || selector->empty()) {
    if (selector_required) {
      p.required("spec.selector");
    }
    return;
  }
  LabelSelector sel;
  try {
    sel = LabelSelector::from_json(selector);
  } catch (const ApiError& e) {
    p.invalid("spec.selector", *selector, e.what());
    return;
  }
  if (sel.empty()) {
    p.invalid("spec.selector", *selector, "empty selector is invalid for deployment");
    return;
  }
  auto labels = string_map(find_path(object, "spec.template.metadata.labels"));
  if (!sel.matches(labels)) {
    p.invalid("spec.template.metadata.labels", find_path(object, "spec.template.metadata.labels")
                                                   ? *find_path(object, "spec.template.metadata.labels")
                                                   : Json::object(),
              "`selector` does not match template `labels`");
  }
}

void check_replicas(const Json& object, Problems& p) {
  const Json* replicas = find_path(object, "spec.replicas");
  if (replicas && (!replicas->is_number_integer() || replicas->get<std::int64_t>() < 0)) {
    p.invalid("spec.replicas", *replicas, "must be greater than or equal to 0");
  }
}

// Pod spec fields a pod update may change (apimachinery ValidatePodUpdate).
Json mutable_pod_spec_view(const Json& spec) {
  Json view = spec;
  for (const char* list : {"containers", "initContainers"}) {
    if (view.contains(list) && view[list].is_array()) {
      for (auto& c : view[list]) {
        if (c.is_object()) {
          c.erase("image");
        }
      }
    }
  }
  view.erase("activeDeadlineSeconds");
  view.erase("tolerations");
  view.erase("terminationGracePeriodSeconds");
  // The scheduler binds through the binding subresource; we let nodeName be
  // set once on an unbound pod.
  view.erase("nodeName");
  return view;
}

}  // namespace

bool is_dns_label(const std::string& name) {
  if (name.empty() || name.size() > 63) {
    return false;
  }
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      return false;
    }
  }
  return name.front() != '-' && name.back() != '-';
}

bool is_dns_subdomain(const std::string& name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  std::size_t start = 0;
  while (true) {
    auto dot = name.find('.', start);
    std::string part = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!is_dns_label(part)) {
      return false;
    }
    if (dot == std::string::npos) {
      return true;
    }
    start = dot + 1;
  }
}

void apply_defaults(const ResourceInfo& r, Json& object, const StrategyOptions& options) {
  Json& meta = object["metadata"];
  if (!meta.is_object()) {
    meta = Json::object();
  }
  Json& spec = object["spec"];
  bool had_spec = spec.is_object();
  if (!had_spec) {
    spec = Json::object();
  }
  const std::string& kind = r.kind;
  if (kind == "Pod") {
    default_pod_spec(spec);
    set_default(spec, "serviceAccountName", "default");
    set_default(spec, "enableServiceLinks", true);
    set_default(spec, "priority", 0);
    set_default(spec, "preemptionPolicy", "PreemptLowerPriority");
    add_toleration(spec, "node.kubernetes.io/not-ready", options.default_toleration_seconds);
    add_toleration(spec, "node.kubernetes.io/unreachable", options.default_toleration_seconds);
  } else if (kind == "Deployment") {
    set_default(spec, "replicas", 1);
    set_default(spec, "revisionHistoryLimit", 10);
    set_default(spec, "progressDeadlineSeconds", 600);
    set_default(spec, "strategy", Json{{"type", "RollingUpdate"}});
    if (spec["strategy"].is_object() && spec["strategy"].value("type", "") == "RollingUpdate") {
      Json& ru = spec["strategy"]["rollingUpdate"];
      if (!ru.is_object()) {
        ru = Json::object();
      }
      set_default(ru, "maxSurge", "25%");
      set_default(ru, "maxUnavailable", "25%");
    }
    default_template(object);
  } else if (kind == "ReplicaSet") {
    set_default(spec, "replicas", 1);
    default_template(object);
  } else if (kind == "StatefulSet") {
    set_default(spec, "replicas", 1);
    set_default(spec, "podManagementPolicy", "OrderedReady");
    set_default(spec, "revisionHistoryLimit", 10);
    set_default(spec, "updateStrategy", Json{{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 0}}}});
    set_default(spec, "persistentVolumeClaimRetentionPolicy",
                Json{{"whenDeleted", "Retain"}, {"whenScaled", "Retain"}});
    default_template(object);
  } else if (kind == "Job") {
    set_default(spec, "parallelism", 1);
    set_default(spec, "completions", 1);
    set_default(spec, "backoffLimit", 6);
    set_default(spec, "completionMode", "NonIndexed");
    set_default(spec, "suspend", false);
    set_default(spec, "podReplacementPolicy", "TerminatingOrFailed");
    // The job controller's own selector, unless the user asked for
    // manualSelector: batch.kubernetes.io/controller-uid=<uid>.
    std::string uid = string_at(object, "metadata.uid");
    if (!bool_at(spec, "manualSelector") && !uid.empty()) {
      std::string name = string_at(object, "metadata.name");
      Json& labels = ensure_path(spec, "template.metadata")["labels"];
      if (!labels.is_object()) {
        labels = Json::object();
      }
      labels["batch.kubernetes.io/controller-uid"] = uid;
      labels["batch.kubernetes.io/job-name"] = name;
      labels["controller-uid"] = uid;
      labels["job-name"] = name;
      set_default(spec, "selector", Json{{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}});
    }
    default_template(object);
  } else if (kind == "HorizontalPodAutoscaler") {
    set_default(spec, "minReplicas", 1);
    if (!spec.contains("metrics") || !spec["metrics"].is_array() || spec["metrics"].empty()) {
      spec["metrics"] = Json::array({{{"type", "Resource"},
                                      {"resource", {{"name", "cpu"},
                                                    {"target", {{"type", "Utilization"}, {"averageUtilization", 80}}}}}}});
    }
  } else if (kind == "PersistentVolumeClaim") {
    set_default(spec, "volumeMode", "Filesystem");
  } else if (kind == "StorageClass") {
    set_default(object, "reclaimPolicy", "Delete");
    set_default(object, "volumeBindingMode", "Immediate");
  } else if (kind == "Namespace") {
    set_default(spec, "finalizers", Json::array({"kubernetes"}));
    Json& labels = meta["labels"];
    if (!labels.is_object()) {
      labels = Json::object();
    }
    labels["kubernetes.io/metadata.name"] = meta.value("name", "");
  }
  if (!had_spec && spec.empty()) {
    object.erase("spec");
  }
  if (kind == "StorageClass" || kind == "Event") {
    object.erase("spec");
  }
}

void prepare_for_create(const ResourceInfo& r, Json& object) {
  if (r.kind == "Node") {
    return;  // kubelets register nodes with their status
  }
  if (r.has_subresource("status")) {
    object.erase("status");
  }
  if (r.kind == "Namespace") {
    object["status"] = {{"phase", "Active"}};
  }
  if (r.kind == "Pod") {
    object["status"] = {{"phase", "Pending"}, {"qosClass", qos_class(object.value("spec", Json::object()))}};
  }
  if (r.tracks_generation) {
    object["metadata"]["generation"] = 1;
  }
}

void prepare_for_update(const ResourceInfo& r, Json& object, const Json& old) {
  if (r.has_subresource("status")) {
    if (old.contains("status")) {
      object["status"] = old["status"];
    } else {
      object.erase("status");
    }
  }
}

Json merge_status_update(const Json& incoming, const Json& old) {
  Json result = old;
  if (incoming.contains("status")) {
    result["status"] = incoming["status"];
  }
  result["metadata"]["resourceVersion"] = string_at(incoming, "metadata.resourceVersion",
                                                    string_at(old, "metadata.resourceVersion"));
  return result;
}

void validate_object(const ResourceInfo& r, const Json& object, const Json* old) {
  Problems p;
  std::string name = string_at(object, "metadata.name");
  if (name.empty()) {
    p.causes.push_back({"FieldValueRequired", "Required value: name or generateName is required", "metadata.name"});
  } else if (r.kind == "Namespace" ? !is_dns_label(name) : (r.kind != "Event" && !is_dns_subdomain(name))) {
    p.invalid("metadata.name", name,
              "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
              "must start and end with an alphanumeric character");
  }
  for (const auto& [key, value] : labels_of(object)) {
    if (value.size() > 63) {
      p.invalid("metadata.labels", value, "must be no more than 63 characters");
    }
    if (key.empty()) {
      p.invalid("metadata.labels", key, "name part must be non-empty");
    }
  }
  const std::string& kind = r.kind;
  if (kind == "Pod") {
    validate_pod_spec(find_path(object, "spec"), "spec", p, false);
    if (old && old->contains("spec") && object.contains("spec")) {
      Json before = mutable_pod_spec_view((*old)["spec"]);
      Json after = mutable_pod_spec_view(object["spec"]);
      std::string old_node = string_at(*old, "spec.nodeName");
      if (before != after || (!old_node.empty() && old_node != string_at(object, "spec.nodeName"))) {
        p.forbidden("spec",
                    "pod updates may not change fields other than `spec.containers[*].image`,"
                    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
                    "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
                    "was previously negative)");
      }
    }
  } else if (kind == "Deployment" || kind == "ReplicaSet" || kind == "StatefulSet") {
    check_replicas(object, p);
    validate_selector_and_template(object, p, true);
    validate_pod_spec(find_path(object, "spec.template.spec"), "spec.template.spec", p, false);
    if (string_at(object, "spec.template.spec.restartPolicy", "Always") != "Always") {
      p.unsupported("spec.template.spec.restartPolicy", string_at(object, "spec.template.spec.restartPolicy"),
                    "\"Always\"");
    }
    if (old) {
      const Json* a = find_path(*old, "spec.selector");
      const Json* b = find_path(object, "spec.selector");
      if (a && b && *a != *b) {
        p.immutable("spec.selector", *b);
      }
    }
    if (kind == "Deployment") {
      std::string type = string_at(object, "spec.strategy.type", "RollingUpdate");
      if (type != "RollingUpdate" && type != "Recreate") {
        p.unsupported("spec.strategy.type", type, "\"Recreate\", \"RollingUpdate\"");
      }
    }
  } else if (kind == "Job") {
    validate_pod_spec(find_path(object, "spec.template.spec"), "spec.template.spec", p, true);
    for (const char* field : {"spec.parallelism", "spec.completions", "spec.backoffLimit"}) {
      const Json* v = find_path(object, field);
      if (v && v->is_number_integer() && v->get<std::int64_t>() < 0) {
        p.invalid(field, *v, "must be greater than or equal to 0");
      }
    }
    if (old) {
      const Json* a = find_path(*old, "spec.completions");
      const Json* b = find_path(object, "spec.completions");
      if (a && b && *a != *b) {
        p.immutable("spec.completions", *b);
      }
    }
  } else if (kind == "HorizontalPodAutoscaler") {
    std::int64_t min = int_at(object, "spec.minReplicas", 1);
    std::int64_t max = int_at(object, "spec.maxReplicas", 0);
    if (max < 1) {
      p.invalid("spec.maxReplicas", max, "must be greater than or equal to 1");
    } else if (min > max) {
      p.invalid("spec.minReplicas", min, "must be less than or equal to maxReplicas");
    }
    if (min < 1) {
      p.invalid("spec.minReplicas", min, "must be greater than or equal to 1");
    }
    if (string_at(object, "spec.scaleTargetRef.kind").empty()) {
      p.required("spec.scaleTargetRef.kind");
    }
    if (string_at(object, "spec.scaleTargetRef.name").empty()) {
      p.required("spec.scaleTargetRef.name");
    }
  } else if (kind == "PersistentVolumeClaim") {
    const Json* storage = find_path(object, "spec.resources.requests.storage");
    if (!storage) {
      p.required("spec.resources.requests[storage]");
    } else if (!parse_quantity(*storage)) {
      p.invalid("spec.resources.requests[storage]", *storage, "must be a valid quantity");
    }
    const Json* modes = find_path(object, "spec.accessModes");
    if (!modes || !modes->is_array() || modes->empty()) {
      p.required("spec.accessModes");
    }
    if (old) {
      Json a = (*old).value("spec", Json::object());
      Json b = object.value("spec", Json::object());
      for (Json* s : {&a, &b}) {
        if (s->contains("resources") && (*s)["resources"].is_object()) {
          (*s)["resources"].erase("requests");
        }
        s->erase("volumeAttributesClassName");
        s->erase("volumeName");
      }
      if (a != b) {
        p.forbidden("spec",
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName for "
                    "bound claims");
      }
      auto before = parse_quantity(find_path(*old, "spec.resources.requests.storage")
                                       ? *find_path(*old, "spec.resources.requests.storage")
                                       : Json());
      auto after = storage ? parse_quantity(*storage) : std::nullopt;
      if (before && after && *after < *before) {
        p.forbidden("spec.resources.requests.storage", "field can not be less than previous value");
      }
    }
  } else if (kind == "PodDisruptionBudget") {
    if (find_path(object, "spec.minAvailable") && find_path(object, "spec.maxUnavailable")) {
      p.invalid("spec", object["spec"], "minAvailable and maxUnavailable cannot be both set");
    }
  } else if (kind == "Event") {
    if (string_at(object, "involvedObject.name").empty() && string_at(object, "regarding.name").empty()) {
      p.required("involvedObject");
    }
  }
  if (!p.causes.empty()) {
    throw ApiError::invalid(r.kind_qualified(), name, p.causes);
  }
}

}  // namespace kubesim
