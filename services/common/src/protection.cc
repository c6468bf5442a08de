#include "kubemend/common/protection.h"

#include <algorithm>
#include <cctype>

namespace kubemend {

std::string MetaString(const ObjectMeta& m) {
  return m.kind + "/" + (m.ns.empty() ? "" : m.ns + "/") + m.name;
}

bool IsOptOutValue(const std::string& v) {
  std::string lower(v);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower == "false";
}

namespace {

std::optional<std::string> Matching(const std::map<std::string, std::string>& have,
                                    const std::map<std::string, std::string>& want) {
  for (const auto& [key, value] : want) {
    auto it = have.find(key);
    if (it != have.end() && (value == "*" || it->second == value)) {
      return key + "=" + it->second;
    }
  }
  return std::nullopt;
}

std::optional<std::string> OptOut(const ObjectMeta& m) {
  for (const auto* map : {&m.annotations, &m.labels}) {
    auto it = map->find(kRemediateKey);
    if (it != map->end() && IsOptOutValue(it->second)) {
      return std::string(map == &m.annotations ? "annotation " : "label ") + kRemediateKey + "=\"" + it->second +
             "\"";
    }
  }
  return std::nullopt;
}

}  // namespace

ProtectionRules DefaultProtectionRules() {
  ProtectionRules r;
  r.namespaces = {"kube-system", "kube-public", "kube-node-lease", "cert-manager", "ingress-nginx", "monitoring"};
  r.kinds = {"CustomResourceDefinition", "PersistentVolume", "Role", "ClusterRole",
             "RoleBinding", "ClusterRoleBinding", "ServiceAccount", "Secret",
             "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
             "APIService", "PriorityClass", "StorageClass"};
  r.labels = {{"kubemend.io/protected", "true"}};
  return r;
}

std::optional<Refusal> CheckProtection(const ObjectMeta& m, const ProtectionRules& rules) {
  const bool is_ns = m.kind == "Namespace";
  const std::string& ns = is_ns ? m.name : m.ns;
  const std::string what = is_ns ? "namespace " + m.name : MetaString(m);
  if (!ns.empty() && rules.namespaces.count(ns)) {
    return Refusal{"protected-namespace", "namespace " + ns + " is protected; kubemend never touches it"};
  }
  if (!is_ns && rules.kinds.count(m.kind)) {
    return Refusal{"protected-kind", "kind " + m.kind + " is protected; kubemend never touches it"};
  }
  if (auto l = Matching(m.labels, rules.labels)) {
    return Refusal{"protected-label", what + " carries the protecting label " + *l + "; kubemend never touches it"};
  }
  if (auto a = Matching(m.annotations, rules.annotations)) {
    return Refusal{"protected-annotation",
                   what + " carries the protecting annotation " + *a + "; kubemend never touches it"};
  }
  if (auto o = OptOut(m)) {
    return Refusal{is_ns ? "namespace-opted-out" : "opted-out", what + " opted out of remediation (" + *o + ")"};
  }
  return std::nullopt;
}

}  // namespace kubemend
