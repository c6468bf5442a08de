#include "guard.h"

#include "actuator.h"

namespace kubemend::executor {

using nlohmann::json;

namespace {

constexpr int kMaxOwnerDepth = 4;

std::map<std::string, std::string> StringMap(const json& m) {
  std::map<std::string, std::string> out;
  if (m.is_object()) {
    for (const auto& [k, v] : m.items()) {
      out[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
  }
  return out;
}

Refusal Unverifiable(const std::string& what, const kube::Error& e) {
  return {"protection-unverifiable",
          "cannot read " + what + " to check its protection (" + e.ToString() + "); refusing rather than guessing"};
}

}  // namespace

ObjectMeta MetaOf(const std::string& kind, const json& obj) {
  ObjectMeta m;
  m.kind = kind;
  const json& md = obj.contains("metadata") ? obj["metadata"] : json::object();
  m.ns = md.value("namespace", "");
  m.name = md.value("name", "");
  if (md.contains("labels")) {
    m.labels = StringMap(md["labels"]);
  }
  if (md.contains("annotations")) {
    m.annotations = StringMap(md["annotations"]);
  }
  return m;
}

std::string RefusalText(const Refusal& r) { return "refused (rule " + r.rule + "): " + r.reason; }

LiveGuard::LiveGuard(kube::KubeClient& client, ProtectionRules rules) : client_(client), rules_(std::move(rules)) {}

std::optional<Refusal> LiveGuard::CheckRef(const kube::ObjectRef& ref) {
  auto obj = client_.Get(ref);
  if (!obj.ok()) {
    if (obj.error().kind == kube::ErrorKind::kNotFound) {
      return CheckProtection(ObjectMeta{ref.type.kind, ref.ns, ref.name, {}, {}}, rules_);  // by name only
    }
    return Unverifiable(KeyOf(ref), obj.error());
  }
  return Check(ref.type.kind, *obj);
}

std::optional<Refusal> LiveGuard::Check(const std::string& kind, const json& obj) {
  ObjectMeta m = MetaOf(kind, obj);
  if (auto r = CheckProtection(m, rules_)) {
    return r;
  }
  if (auto r = CheckOwners(m.ns, obj, 0)) {
    return r;
  }
  return m.ns.empty() ? std::nullopt : CheckNamespace(m.ns);
}

std::optional<Refusal> LiveGuard::CheckOwners(const std::string& ns, const json& obj, int depth) {
  const json* refs = GetField(obj, "metadata.ownerReferences");
  if (refs == nullptr || !refs->is_array()) {
    return std::nullopt;
  }
  for (const auto& owner : *refs) {
    std::string kind = owner.value("kind", "");
    std::string name = owner.value("name", "");
    ObjectMeta by_name{kind, ns, name, {}, {}};
    if (auto r = CheckProtection(by_name, rules_)) {
      r->reason = "owner " + MetaString(by_name) + ": " + r->reason;
      return r;
    }
    auto type = TypeForKind(kind);
    if (!type || depth >= kMaxOwnerDepth) {
      continue;  // a custom resource: checked by kind only (above)
    }
    kube::ObjectRef ref{*type, type->namespaced ? ns : "", name, {}};
    auto live = client_.Get(ref);
    if (!live.ok()) {
      if (live.error().kind == kube::ErrorKind::kNotFound) {
        continue;  // an orphan being garbage-collected
      }
      return Unverifiable("owner " + KeyOf(ref), live.error());
    }
    if (auto r = CheckProtection(MetaOf(kind, *live), rules_)) {
      r->reason = "owner " + KeyOf(ref) + ": " + r->reason;
      return r;
    }
    if (auto r = CheckOwners(ns, *live, depth + 1)) {
      return r;
    }
  }
  return std::nullopt;
}

std::optional<Refusal> LiveGuard::CheckNamespace(const std::string& ns) {
  auto live = client_.Get(kube::ObjectRef{kube::resources::kNamespaces, "", ns, {}});
  if (!live.ok()) {
    if (live.error().kind == kube::ErrorKind::kNotFound) {
      return std::nullopt;
    }
    return Unverifiable("namespace " + ns, live.error());
  }
  return CheckProtection(MetaOf("Namespace", *live), rules_);
}

}  // namespace kubemend::executor
