#include "fake_kube.h"

#include <sstream>

namespace kubemend::executor::testing {

using nlohmann::json;

namespace {

kube::Error Err(kube::ErrorKind k, std::string m) { return kube::MakeError(k, std::move(m)); }

bool LabelsMatch(const json& obj, const std::string& selector) {
  if (selector.empty()) {
    return true;
  }
  std::stringstream ss(selector);
  std::string term;
  while (std::getline(ss, term, ',')) {
    auto eq = term.find('=');
    std::string k = term.substr(0, eq);
    std::string v = term.substr(eq + 1);
    const json& labels = obj["metadata"].value("labels", json::object());
    if (!labels.contains(k) || labels[k] != v) {
      return false;
    }
  }
  return true;
}

bool FieldsMatch(const json& obj, const std::string& selector) {
  if (selector.empty()) {
    return true;
  }
  auto eq = selector.find('=');
  std::string k = selector.substr(0, eq);
  std::string v = selector.substr(eq + 1);
  if (k == "spec.nodeName") {
    return obj.contains("spec") && obj["spec"].value("nodeName", "") == v;
  }
  return false;
}

}  // namespace

std::string FakeKube::Key(const kube::ResourceType& t, std::string_view ns, std::string_view name) {
  return t.plural + "/" + std::string(t.namespaced ? ns : "") + "/" + std::string(name);
}

void FakeKube::Put(const kube::ResourceType& type, json obj) {
  std::lock_guard<std::mutex> g(mu_);
  obj["kind"] = type.kind;
  obj["apiVersion"] = type.ApiVersion();
  json& md = obj["metadata"];
  if (!md.contains("uid")) {
    md["uid"] = "uid-" + std::to_string(++uid_);
  }
  md["resourceVersion"] = std::to_string(++rv_);
  std::string key = Key(type, md.value("namespace", ""), md.value("name", ""));
  objects_[key] = obj;
  types_[key] = type;
}

json FakeKube::Object(const kube::ObjectRef& ref) const {
  std::lock_guard<std::mutex> g(mu_);
  auto it = objects_.find(Key(ref.type, ref.ns, ref.name));
  return it == objects_.end() ? json(nullptr) : it->second;
}

bool FakeKube::Exists(const kube::ObjectRef& ref) const { return !Object(ref).is_null(); }

int FakeKube::updates() const {
  std::lock_guard<std::mutex> g(mu_);
  int n = 0;
  for (const auto& w : writes_) {
    bool write = w.rfind("PUT ", 0) == 0 || w.rfind("PATCH ", 0) == 0;
    n += write && w.find("dry-run") == std::string::npos ? 1 : 0;
  }
  return n;
}

kube::Result<json> FakeKube::Get(const kube::ObjectRef& ref, const kube::GetOptions&) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = objects_.find(Key(ref.type, ref.ns, ref.name));
  if (it == objects_.end()) {
    return Err(kube::ErrorKind::kNotFound, ref.type.plural + " \"" + ref.name + "\" not found");
  }
  if (ref.subresource == "scale") {
    const json& o = it->second;
    json scale = {{"kind", "Scale"},
                  {"apiVersion", "autoscaling/v1"},
                  {"metadata", {{"name", ref.name}, {"namespace", ref.ns}, {"resourceVersion", o["metadata"]["resourceVersion"]}}},
                  {"spec", {{"replicas", o["spec"].value("replicas", 1)}}},
                  {"status", {{"replicas", o.value("status", json::object()).value("replicas", 0)}, {"selector", ""}}}};
    return scale;
  }
  return it->second;
}

kube::Result<kube::ObjectList> FakeKube::List(const kube::ResourceType& type, std::string_view ns,
                                              const kube::ListOptions& options) {
  std::lock_guard<std::mutex> g(mu_);
  kube::ObjectList out;
  for (const auto& [k, o] : objects_) {
    if (types_[k].plural != type.plural) {
      continue;
    }
    if (!ns.empty() && o["metadata"].value("namespace", "") != ns) {
      continue;
    }
    if (LabelsMatch(o, options.label_selector) && FieldsMatch(o, options.field_selector)) {
      out.items.push_back(o);
    }
  }
  out.resource_version = std::to_string(rv_);
  return out;
}

kube::Result<json> FakeKube::Create(const kube::ResourceType& type, std::string_view ns, const json& object,
                                    const kube::WriteOptions& options) {
  json o = object;
  o["metadata"]["namespace"] = std::string(ns);
  if (Exists({type, std::string(ns), o["metadata"].value("name", ""), {}})) {
    return Err(kube::ErrorKind::kAlreadyExists, "exists");
  }
  if (!options.dry_run) {
    Put(type, o);
  }
  return o;
}

kube::Result<json> FakeKube::Update(const kube::ObjectRef& ref, const json& object, const kube::WriteOptions& options) {
  std::lock_guard<std::mutex> g(mu_);
  std::string key = Key(ref.type, ref.ns, ref.name);
  writes_.push_back("PUT " + key + (options.dry_run ? " dry-run" : ""));
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return Err(kube::ErrorKind::kNotFound, "not found");
  }
  std::string want = object["metadata"].value("resourceVersion", "");
  if (!want.empty() && want != it->second["metadata"].value("resourceVersion", "")) {
    return Err(kube::ErrorKind::kConflict, "the object has been modified");
  }
  json stored = object;
  stored["metadata"]["resourceVersion"] = std::to_string(++rv_);
  if (stored.contains("spec") && it->second.contains("spec") && stored["spec"] != it->second["spec"]) {
    stored["metadata"]["generation"] = it->second["metadata"].value("generation", 1) + 1;
  }
  const bool fail = fail_patches_ > 0 && !options.dry_run;
  if (fail) {
    --fail_patches_;
  }
  if (!options.dry_run && (!fail || failed_patches_apply_)) {
    it->second = stored;
  }
  if (fail) {
    kube::Error e;
    e.kind = kube::ErrorKind::kUnavailable;
    e.http_status = 503;
    e.message = "the server is currently unable to handle the request";
    return e;
  }
  return stored;
}

kube::Result<json> FakeKube::Patch(const kube::ObjectRef& ref, kube::PatchType, const json& patch,
                                   const kube::PatchOptions& options) {
  std::lock_guard<std::mutex> g(mu_);
  std::string key = Key(ref.type, ref.ns, ref.name);
  writes_.push_back("PATCH " + key + (options.dry_run ? " dry-run" : ""));
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return Err(kube::ErrorKind::kNotFound, "not found");
  }
  std::string want = patch.contains("metadata") ? patch["metadata"].value("resourceVersion", "") : "";
  if (!want.empty() && want != it->second["metadata"].value("resourceVersion", "")) {
    return Err(kube::ErrorKind::kConflict, "the object has been modified");
  }
  json stored = it->second;
  stored.merge_patch(patch);
  stored["metadata"]["resourceVersion"] = std::to_string(++rv_);
  if (stored.contains("spec") && it->second.contains("spec") && stored["spec"] != it->second["spec"]) {
    stored["metadata"]["generation"] = it->second["metadata"].value("generation", 1) + 1;
  }
  const bool fail = fail_patches_ > 0 && !options.dry_run;
  if (fail) {
    --fail_patches_;
  }
  if (!options.dry_run && (!fail || failed_patches_apply_)) {
    it->second = stored;
  }
  if (fail) {
    kube::Error e;
    e.kind = kube::ErrorKind::kUnavailable;
    e.http_status = 503;
    e.message = "the server is currently unable to handle the request";
    return e;
  }
  return stored;
}

kube::Result<json> FakeKube::Delete(const kube::ObjectRef& ref, const kube::DeleteOptions& options) {
  std::lock_guard<std::mutex> g(mu_);
  std::string key = Key(ref.type, ref.ns, ref.name);
  writes_.push_back("DELETE " + key + (options.dry_run ? " dry-run" : ""));
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return Err(kube::ErrorKind::kNotFound, "not found");
  }
  if (!options.precondition_uid.empty() && it->second["metadata"].value("uid", "") != options.precondition_uid) {
    return Err(kube::ErrorKind::kConflict, "precondition failed: uid");
  }
  json gone = it->second;
  if (!options.dry_run) {
    objects_.erase(it);
  }
  return gone;
}

kube::Result<void> FakeKube::Evict(const kube::ObjectRef& pod, const kube::EvictOptions& options) {
  std::lock_guard<std::mutex> g(mu_);
  std::string key = Key(pod.type, pod.ns, pod.name);
  writes_.push_back("EVICT " + key + (options.dry_run ? " dry-run" : ""));
  if (refuse_evictions_ > 0) {
    --refuse_evictions_;
    return Err(kube::ErrorKind::kDisruptionBudget, "Cannot evict pod as it would violate the pod's disruption budget.");
  }
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return Err(kube::ErrorKind::kNotFound, "not found");
  }
  if (!options.dry_run) {
    objects_.erase(it);
  }
  return {};
}

}  // namespace kubemend::executor::testing
