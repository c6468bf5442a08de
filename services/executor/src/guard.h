#pragma once
// The executor's last line of defence: right before a write, the live object,
// every owner up its ownerReferences chain and its Namespace are read and
// checked against the protection rules (kubemend/common/protection.h) and the
// kubemend.io/remediate: "false" opt-out. The gate checked the labels the
// event carried; this checks what the API server holds now.
//
// Fails closed: an owner or namespace that cannot be read (other than 404)
// refuses the write (rule protection-unverifiable). Owners of a kind the
// executor has no resource type for (custom resources) are checked by kind
// only. Threading: as the client (safe to share).
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "kubemend/common/protection.h"
#include "kubemend/kube/client.h"

namespace kubemend::executor {

// kind, namespace, name, labels and annotations of a JSON object.
ObjectMeta MetaOf(const std::string& kind, const nlohmann::json& obj);

class LiveGuard {
 public:
  LiveGuard(kube::KubeClient& client, ProtectionRules rules);

  // `obj` is the live object of `kind` just read; its owners and namespace
  // are read here. The first refusal, if any.
  std::optional<Refusal> Check(const std::string& kind, const nlohmann::json& obj);
  // Reads `ref` first (404: checked by kind, namespace and name only).
  std::optional<Refusal> CheckRef(const kube::ObjectRef& ref);

  const ProtectionRules& rules() const { return rules_; }

 private:
  std::optional<Refusal> CheckOwners(const std::string& ns, const nlohmann::json& obj, int depth);
  std::optional<Refusal> CheckNamespace(const std::string& ns);

  kube::KubeClient& client_;
  ProtectionRules rules_;
};

// The text an outcome carries for a refusal: "refused (rule R): reason".
std::string RefusalText(const Refusal& r);

}  // namespace kubemend::executor
