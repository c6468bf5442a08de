#include "object_api.h"

#include "api_error.h"
#include "patch.h"
#include "selectors.h"

#include <algorithm>

namespace kubesim {

namespace {

Json success_status(const ResourceInfo& r, const Json& object) {
  Json details = {{"name", name_of(object)}, {"kind", r.plural}, {"uid", uid_of(object)}};
  if (!r.group.empty()) {
    details["group"] = r.group;
  }
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", Json::object()},
          {"status", "Success"},
          {"details", details}};
}

bool has_finalizers(const Json& object) {
  const Json* f = find_path(object, "metadata.finalizers");
  return f && f->is_array() && !f->empty();
}

void add_finalizer(Json& object, const std::string& finalizer) {
  Json& f = object["metadata"]["finalizers"];
  if (!f.is_array()) {
    f = Json::array();
  }
  if (std::find(f.begin(), f.end(), finalizer) == f.end()) {
    f.push_back(finalizer);
  }
}

// Go clients send `null` for unset pointer fields ("creationTimestamp":
// null in every template kubectl writes); the API server decodes them to
// "absent". Doing the same keeps templates comparable.
void prune_nulls(Json& node) {
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end();) {
      if (it.value().is_null()) {
        it = node.erase(it);
      } else {
        prune_nulls(it.value());
        ++it;
      }
    }
  } else if (node.is_array()) {
    for (auto& e : node) {
      prune_nulls(e);
    }
  }
}

}  // namespace

PatchType patch_type_from_content_type(const std::string& content_type) {
  std::string base = content_type.substr(0, content_type.find(';'));
  while (!base.empty() && base.back() == ' ') {
    base.pop_back();
  }
  if (base == "application/json-patch+json") {
    return PatchType::kJson;
  }
  if (base == "application/merge-patch+json") {
    return PatchType::kMerge;
  }
  if (base == "application/strategic-merge-patch+json") {
    return PatchType::kStrategic;
  }
  if (base == "application/apply-patch+yaml") {
    return PatchType::kApply;
  }
  throw ApiError::unsupported_media_type(content_type);
}

Json apply_patch(PatchType type, const Json& original, const Json& patch) {
  switch (type) {
    case PatchType::kJson:
      return apply_json_patch(original, patch);
    case PatchType::kMerge:
      return apply_merge_patch(original, patch);
    case PatchType::kStrategic:
    case PatchType::kApply:
      // Server-side apply without field ownership: the applied configuration
      // is merged like a strategic patch.
      return apply_strategic_merge_patch(original, patch);
  }
  return original;
}

const Json& ObjectApi::must_get(const ResourceInfo& r, const std::string& ns, const std::string& name) const {
  const Json* object = store_.get(r, ns, name);
  if (!object) {
    throw ApiError::not_found(r.qualified(), name);
  }
  return *object;
}

Json ObjectApi::get(const ResourceInfo& r, const std::string& ns, const std::string& name) const {
  return must_get(r, ns, name);
}

Json ObjectApi::create(const ResourceInfo& r, const std::string& ns, Json object, const WriteOptions& options) {
  if (!object.is_object()) {
    throw ApiError::bad_request("the body of the request must be a JSON object");
  }
  std::string kind = object.value("kind", "");
  if (!kind.empty() && kind != r.kind) {
    throw ApiError::bad_request("the kind of the provided object (" + kind + ") does not match the resource (" +
                                r.kind + ")");
  }
  if (!options.keep_status) {
    prune_nulls(object);
  }
  object["kind"] = r.kind;
  object["apiVersion"] = r.api_version();
  Json& meta = object["metadata"];
  if (!meta.is_object()) {
    meta = Json::object();
  }
  if (r.namespaced) {
    std::string body_ns = meta.value("namespace", "");
    if (!ns.empty() && !body_ns.empty() && body_ns != ns) {
      throw ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request");
    }
    meta["namespace"] = ns.empty() ? (body_ns.empty() ? "default" : body_ns) : ns;
    std::string target = meta["namespace"];
    const Json* namespace_object = store_.get(resource_by_plural("namespaces"), "", target);
    if (!namespace_object) {
      throw ApiError::not_found("namespaces", target);
    }
    if (find_path(*namespace_object, "metadata.deletionTimestamp")) {
      throw ApiError::forbidden(r.qualified(), meta.value("name", ""),
                                "unable to create new content in namespace " + target +
                                    " because it is being terminated");
    }
  } else {
    meta.erase("namespace");
  }
  if (meta.value("name", "").empty() && !meta.value("generateName", "").empty()) {
    meta["name"] = meta["generateName"].get<std::string>() + random_.suffix(5);
  }
  meta["uid"] = random_.uid();
  meta["creationTimestamp"] = format_time(clock_.now());
  meta.erase("resourceVersion");
  meta.erase("deletionTimestamp");
  meta.erase("deletionGracePeriodSeconds");
  meta.erase("managedFields");
  Json given_status = object.contains("status") ? object["status"] : Json();
  prepare_for_create(r, object);
  if (options.keep_status && !given_status.is_null()) {
    object["status"] = given_status;
  }
  apply_defaults(r, object, options_);
  validate_object(r, object, nullptr);
  if (r.kind == "PersistentVolumeClaim" && string_at(object, "spec.storageClassName").empty() &&
      !find_path(object, "spec.storageClassName")) {
    // DefaultStorageClass admission.
    for (const Json* sc : store_.list(resource_by_plural("storageclasses"))) {
      const Json* annotations = find_path(*sc, "metadata.annotations");
      if (annotations && annotations->is_object() &&
          annotations->value("storageclass.kubernetes.io/is-default-class", "") == "true") {
        object["spec"]["storageClassName"] = name_of(*sc);
      }
    }
  }
  if (options.dry_run) {
    if (store_.get(r, namespace_of(object), name_of(object))) {
      throw ApiError::already_exists(r.qualified(), name_of(object));
    }
    return object;
  }
  return store_.insert(r, std::move(object));
}

Json ObjectApi::write_update(const ResourceInfo& r, Json object, const Json& old, const std::string& subresource,
                             const WriteOptions& options, bool check_rv) {
  if (!object.is_object()) {
    throw ApiError::bad_request("the body of the request must be a JSON object");
  }
  std::string kind = object.value("kind", "");
  if (!kind.empty() && kind != r.kind) {
    throw ApiError::bad_request("the kind of the provided object (" + kind + ") does not match the resource (" +
                                r.kind + ")");
  }
  if (!options.keep_status) {
    prune_nulls(object);
  }
  if (name_of(object) != name_of(old)) {
    throw ApiError::bad_request("the name of the object (" + name_of(object) +
                                ") does not match the name on the URL (" + name_of(old) + ")");
  }
  object["kind"] = r.kind;
  object["apiVersion"] = r.api_version();
  if (r.namespaced) {
    object["metadata"]["namespace"] = namespace_of(old);
  }
  if (subresource == "status") {
    object = merge_status_update(object, old);
  } else if (!options.keep_status) {
    prepare_for_update(r, object, old);
  }
  if (r.tracks_generation) {
    object["metadata"]["generation"] = old["metadata"].value("generation", 1);
  }
  apply_defaults(r, object, options_);
  validate_object(r, object, &old);
  if (r.kind == "PersistentVolumeClaim" && subresource.empty()) {
    admit_pvc_resize(object, old);
  }
  if (options.dry_run) {
    Json preview = object;
    preview["metadata"]["uid"] = old["metadata"]["uid"];
    preview["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"];
    return preview;
  }
  Json stored = store_.replace(r, std::move(object), check_rv);
  // The last finalizer is gone from an object being deleted: it goes now.
  if (find_path(stored, "metadata.deletionTimestamp") && !has_finalizers(stored) && r.kind != "Pod" &&
      r.kind != "Namespace") {
    return store_.erase(r, namespace_of(stored), name_of(stored));
  }
  return stored;
}

void ObjectApi::admit_pvc_resize(const Json& object, const Json& old) const {
  auto before = parse_quantity(find_path(old, "spec.resources.requests.storage")
                                   ? *find_path(old, "spec.resources.requests.storage")
                                   : Json());
  auto after = parse_quantity(find_path(object, "spec.resources.requests.storage")
                                  ? *find_path(object, "spec.resources.requests.storage")
                                  : Json());
  if (!before || !after || *after <= *before) {
    return;
  }
  // PersistentVolumeClaimResize admission.
  std::string class_name = string_at(object, "spec.storageClassName");
  const Json* sc = class_name.empty() ? nullptr : store_.get(resource_by_plural("storageclasses"), "", class_name);
  if (!sc || !bool_at(*sc, "allowVolumeExpansion")) {
    throw ApiError::forbidden("persistentvolumeclaims", name_of(object),
                              "only dynamically provisioned pvc can be resized and the storageclass that provisions "
                              "the pvc must support resize");
  }
}

Json ObjectApi::update(const ResourceInfo& r, const std::string& ns, const std::string& name, Json object,
                       const std::string& subresource, const WriteOptions& options) {
  const Json old = must_get(r, ns, name);
  if (object.is_object() && !object.contains("metadata")) {
    object["metadata"] = Json::object();
  }
  if (object.is_object() && object["metadata"].is_object() && !object["metadata"].contains("name")) {
    object["metadata"]["name"] = name;
  }
  return write_update(r, std::move(object), old, subresource, options, true);
}

Json ObjectApi::patch(const ResourceInfo& r, const std::string& ns, const std::string& name, PatchType type,
                      const Json& patch, const std::string& subresource, const WriteOptions& options) {
  const Json old = must_get(r, ns, name);
  Json patched = apply_patch(type, old, patch);
  if (!patched.is_object()) {
    throw ApiError(422, "Invalid", "the patch turned the object into a non-object");
  }
  return write_update(r, std::move(patched), old, subresource, options, true);
}

void ObjectApi::orphan_dependents(const std::string& ns, const std::string& owner_uid) {
  for (const auto& type : all_resources()) {
    for (const Json* dependent : store_.list(type, type.namespaced ? ns : "")) {
      const Json* refs = find_path(*dependent, "metadata.ownerReferences");
      if (!refs || !refs->is_array()) {
        continue;
      }
      bool owned = false;
      Json kept = Json::array();
      for (const auto& ref : *refs) {
        if (ref.value("uid", "") == owner_uid) {
          owned = true;
        } else {
          kept.push_back(ref);
        }
      }
      if (owned) {
        Json copy = *dependent;
        if (kept.empty()) {
          copy["metadata"].erase("ownerReferences");
        } else {
          copy["metadata"]["ownerReferences"] = kept;
        }
        store_.replace(type, std::move(copy), false);
      }
    }
  }
}

Json ObjectApi::remove(const ResourceInfo& r, const std::string& ns, const std::string& name,
                       const DeleteOptions& options) {
  Json object = must_get(r, ns, name);
  if (!options.precondition_uid.empty() && options.precondition_uid != uid_of(object)) {
    throw ApiError::conflict(r.qualified(), name,
                             "Precondition failed: UID in precondition: " + options.precondition_uid +
                                 ", UID in object meta: " + uid_of(object));
  }
  if (!options.precondition_rv.empty() &&
      options.precondition_rv != string_at(object, "metadata.resourceVersion")) {
    throw ApiError::conflict(r.qualified(), name,
                             "Precondition failed: ResourceVersion in precondition: " + options.precondition_rv +
                                 ", ResourceVersion in object meta: " +
                                 string_at(object, "metadata.resourceVersion"));
  }
  std::string now = format_time(clock_.now());
  if (options.dry_run) {
    return r.kind == "Pod" ? object : success_status(r, object);
  }
  if (r.kind == "Namespace") {
    if (!find_path(object, "metadata.deletionTimestamp")) {
      object["metadata"]["deletionTimestamp"] = now;
      object["status"]["phase"] = "Terminating";
      object = store_.replace(r, std::move(object), false);
    }
    return object;
  }
  std::string propagation = options.propagation;
  if (propagation == "Orphan") {
    orphan_dependents(ns, uid_of(object));
    object = must_get(r, ns, name);
  } else if (propagation == "Foreground") {
    add_finalizer(object, "foregroundDeletion");
  }
  bool pending = has_finalizers(object);
  if (r.kind == "Pod" && !pending) {
    std::int64_t grace = options.grace_period_seconds.value_or(int_at(object, "spec.terminationGracePeriodSeconds", 30));
    bool bound = !string_at(object, "spec.nodeName").empty();
    std::string phase = string_at(object, "status.phase");
    bool finished = phase == "Succeeded" || phase == "Failed";
    if (grace > 0 && bound && !finished) {
      auto deadline = clock_.now() + std::chrono::seconds(grace);
      std::string existing = string_at(object, "metadata.deletionTimestamp");
      TimePoint existing_deadline;
      if (existing.empty() || (parse_time(existing, existing_deadline) && deadline < existing_deadline)) {
        object["metadata"]["deletionTimestamp"] = format_time(deadline);
        object["metadata"]["deletionGracePeriodSeconds"] = grace;
        object = store_.replace(r, std::move(object), false);
      }
      return object;
    }
    return store_.erase(r, ns, name);
  }
  if (pending) {
    if (!find_path(object, "metadata.deletionTimestamp")) {
      object["metadata"]["deletionTimestamp"] = now;
      object["metadata"]["deletionGracePeriodSeconds"] = 0;
    }
    return store_.replace(r, std::move(object), false);
  }
  Json last = store_.erase(r, ns, name);
  return success_status(r, last);
}

void ObjectApi::finalize_delete(const ResourceInfo& r, const std::string& ns, const std::string& name) {
  if (store_.get(r, ns, name)) {
    store_.erase(r, ns, name);
  }
}

Json ObjectApi::get_scale(const ResourceInfo& r, const std::string& ns, const std::string& name) const {
  const Json& object = must_get(r, ns, name);
  Json selector_json = find_path(object, "spec.selector") ? *find_path(object, "spec.selector") : Json();
  std::string selector;
  try {
    selector = LabelSelector::from_json(&selector_json).to_string();
  } catch (const ApiError&) {
    selector = "";
  }
  return {{"kind", "Scale"},
          {"apiVersion", "autoscaling/v1"},
          {"metadata",
           {{"name", name},
            {"namespace", ns},
            {"uid", uid_of(object)},
            {"resourceVersion", string_at(object, "metadata.resourceVersion")},
            {"creationTimestamp", string_at(object, "metadata.creationTimestamp")}}},
          {"spec", {{"replicas", int_at(object, "spec.replicas", 1)}}},
          {"status", {{"replicas", int_at(object, "status.replicas", 0)}, {"selector", selector}}}};
}

Json ObjectApi::update_scale(const ResourceInfo& r, const std::string& ns, const std::string& name,
                             const Json& scale, const WriteOptions& options) {
  const Json* replicas = find_path(scale, "spec.replicas");
  if (!replicas || !replicas->is_number_integer() || replicas->get<std::int64_t>() < 0) {
    throw ApiError::invalid("Scale.autoscaling", name,
                            {{"FieldValueInvalid",
                              "Invalid value: " + (replicas ? replicas->dump() : std::string("null")) +
                                  ": must be greater than or equal to 0",
                              "spec.replicas"}});
  }
  Json object = must_get(r, ns, name);
  std::string rv = string_at(scale, "metadata.resourceVersion");
  if (!rv.empty() && rv != string_at(object, "metadata.resourceVersion")) {
    throw ApiError::conflict(r.qualified(), name,
                             "the object has been modified; please apply your changes to the latest version and try "
                             "again");
  }
  object["spec"]["replicas"] = *replicas;
  write_update(r, std::move(object), must_get(r, ns, name), "", options, false);
  if (options.dry_run) {
    Json preview = get_scale(r, ns, name);
    preview["spec"]["replicas"] = *replicas;
    return preview;
  }
  return get_scale(r, ns, name);
}

Json ObjectApi::patch_scale(const ResourceInfo& r, const std::string& ns, const std::string& name, PatchType type,
                            const Json& patch, const WriteOptions& options) {
  Json scale = apply_patch(type, get_scale(r, ns, name), patch);
  return update_scale(r, ns, name, scale, options);
}

}  // namespace kubesim
