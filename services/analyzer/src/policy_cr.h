#pragma once
// Policies as Kubernetes custom resources (kubemend.io/v1alpha1), the pure
// part: which kinds there are, the policy unit the store parses for one
// object, and PolicyStatusBook, which works out the `status` each object
// should have from the store's verdicts, the proposals the engine made and
// the decisions and outcomes that came back. The watches and the PATCHes
// live in policy_kube.h.
//
// Status fields (deploy/k8s/base/crd-*.yaml, docs/kubernetes.md):
//   observedGeneration, version, conditions[Accepted, Ready] (status, reason,
//   message, observedGeneration, lastTransitionTime), remediationCount,
//   lastTriggered, lastOutcome, lastProposal.
// The book starts counting from what the object's status already says, so a
// restarted analyzer carries on.
//
// Thread-safety: every method locks; the watch thread, the reload thread,
// the consumer thread and the status writer call it at once.
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "kubemend/common/clock.h"
#include "policy.h"

namespace kubemend::analyzer {

inline constexpr const char kPolicyGroup[] = "kubemend.io";
inline constexpr const char kPolicyVersion[] = "v1alpha1";

struct PolicyKind {
  std::string kind;    // HealingPolicy
  std::string plural;  // healingpolicies
};
// HealingPolicy and the seed kinds (AnomalyAction, HealthCheck, SLOViolation,
// BudgetGuard, CostAlert, PredictiveScale), each a CRD of its own.
const std::vector<PolicyKind>& PolicyKinds();

// One custom resource. Its origin in the policy store is
// "kube:<Kind>/<namespace>/<name>".
struct CrKey {
  std::string kind, ns, name;
  std::string Origin() const;
  // From an origin, or a PolicyRef.source ("<origin>#<document>"); nullopt
  // for anything that is not a custom resource.
  static std::optional<CrKey> FromSource(const std::string& source);
  bool operator<(const CrKey& o) const {
    return std::tie(kind, ns, name) < std::tie(o.kind, o.ns, o.name);
  }
  bool operator==(const CrKey& o) const { return kind == o.kind && ns == o.ns && name == o.name; }
};

// The unit the store parses for one object: apiVersion, kind,
// metadata{name, namespace} and spec only, so a status write or a label
// change never changes the policy's version. Objects outside
// `cluster_namespaces` are confined to their own namespace.
PolicyUnit UnitFromObject(const nlohmann::json& object, const std::set<std::string>& cluster_namespaces);

// status.lastOutcome: the trail's names (OutcomeStatusName, VerdictName) in
// CamelCase: "Succeeded", "DryRun", "RolledBack", ...; "Approved",
// "Rejected", "AwaitingApproval", "Expired".
std::string LastOutcomeOf(v1::OutcomeStatus s);
std::string LastOutcomeOf(v1::Verdict v);

class PolicyStatusBook {
 public:
  explicit PolicyStatusBook(size_t max_proposals = 10000) : max_proposals_(max_proposals) {}

  // The watch saw the object (ADDED, MODIFIED, or in a list). The first time
  // a key is seen, its status seeds the counters and transition times.
  void Observe(const CrKey& key, const nlohmann::json& object, const std::string& unit_hash);
  void Forget(const CrKey& key);
  // After a (re)list of one kind: keys of that kind not in `present` go.
  void Retain(const std::string& kind, const std::set<CrKey>& present);

  // After a reload: the store's verdict per origin. Only verdicts on the text
  // last observed count (observedGeneration is that object's generation).
  void OnVerdicts(const std::map<std::string, OriginVerdict>& verdicts, TimePoint now);
  void OnProposal(const v1::Event& proposal, TimePoint now);
  void OnDecision(const v1::Event& decision);
  void OnOutcome(const v1::Event& outcome);

  struct Write {
    CrKey key;
    nlohmann::json status;  // the whole status object, for a merge patch
  };
  // The statuses that differ from what was last written (or seen).
  std::vector<Write> Pending() const;
  // The write landed: `status` is what the object now holds.
  void Written(const CrKey& key, const nlohmann::json& status);

  size_t size() const;

 private:
  struct Condition {
    std::string status = "Unknown", reason, message, since;
    int64_t generation = 0;
  };
  struct Entry {
    int64_t generation = 0;       // of the object last observed
    std::string unit_hash;        // of its unit
    int64_t observed_generation = 0;
    bool judged = false;          // a verdict on some generation arrived
    std::string version;
    Condition accepted, ready;
    int64_t remediation_count = 0;
    std::string last_triggered, last_outcome, last_proposal;
    nlohmann::json written;       // what the object holds (last write or first sight)
  };
  static void SetCondition(Condition* c, const std::string& status, const std::string& reason,
                           const std::string& message, int64_t generation, const std::string& now);
  static nlohmann::json ToJson(const Entry& e);
  void Remember(const std::string& proposal_id, const CrKey& key);

  mutable std::mutex mu_;
  std::map<CrKey, Entry> entries_;
  size_t max_proposals_;
  std::map<std::string, CrKey> proposals_;  // proposal id -> policy object
  std::deque<std::string> proposal_order_;
};

}  // namespace kubemend::analyzer
