#pragma once
// What kubemend never touches, checked against an object's own metadata.
// One copy of the rules for the safety gate (on the labels an event carries)
// and the executor (on the live object, its owners and its namespace, read
// right before the write).
//
// An object is protected when
//   - its namespace is in `namespaces` (rule protected-namespace),
//   - its kind is in `kinds` (protected-kind),
//   - it carries a label or annotation of `labels`/`annotations`
//     (protected-label / protected-annotation; value "*" = any value),
//   - it opted out: label or annotation kubemend.io/remediate: "false"
//     (rule opted-out). On a Namespace object the opt-out covers everything
//     in it (rule namespace-opted-out), as do its protecting labels.
// Pure: no I/O, no clock.
#include <map>
#include <optional>
#include <set>
#include <string>

namespace kubemend {

// The per-object and per-namespace opt-out: kubemend.io/remediate: "false"
// as an annotation or a label.
inline constexpr char kRemediateKey[] = "kubemend.io/remediate";

struct ProtectionRules {
  std::set<std::string> namespaces;
  std::set<std::string> kinds;
  std::map<std::string, std::string> labels;       // key -> value, "*" = any
  std::map<std::string, std::string> annotations;  // key -> value, "*" = any
};

// The metadata the rules look at.
struct ObjectMeta {
  std::string kind;
  std::string ns;  // "" for cluster-scoped objects
  std::string name;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

struct Refusal {
  std::string rule;    // protected-namespace, protected-kind, protected-label, ...
  std::string reason;  // one sentence naming the object and what protects it
};

// "Kind/namespace/name" (cluster-scoped: "Kind/name").
std::string MetaString(const ObjectMeta& m);

// The first rule that protects `m`, if any. A Namespace object is checked as
// the namespace of everything in it.
std::optional<Refusal> CheckProtection(const ObjectMeta& m, const ProtectionRules& rules);

// The shipped defaults (the gate's and the executor's protected.* keys):
// kube-system, kube-public, kube-node-lease, cert-manager, ingress-nginx,
// monitoring; RBAC, CRDs, volumes, secrets and other cluster plumbing kinds;
// the label kubemend.io/protected=true. Callers add kubemend's own namespace.
ProtectionRules DefaultProtectionRules();

// True when the value of kubemend.io/remediate opts out ("false", any case).
bool IsOptOutValue(const std::string& v);

}  // namespace kubemend
