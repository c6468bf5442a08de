#pragma once
// Approvals from Kubernetes: the gate watches HealingAction objects (written
// by the executor, deploy/k8s/base/crd-healingaction.yaml) for a human's
// answer in spec.approval {decision: approve|deny, user, reason} and turns a
// valid one into its normal Resolve path, so it is checked, published and
// audited exactly like an answer over gRPC. The approver recorded is
// "kubernetes:<user>": the API server has checked that user (RBAC decides who
// may update healingactions; the ValidatingAdmissionPolicy in
// deploy/k8s/base/admission-healingaction-approval.yaml refuses a user field
// that is not the requester's own name).
//
// What the gate did is written back to status.approval (Accepted, or Refused
// with the reason: nothing waits under that proposal any more, paused, ...),
// which also marks the answer as handled: a re-list or a restart does not
// apply it twice (and Resolve would find nothing pending anyway).
//
// The user name is only trustworthy while that admission policy is in force,
// so before acting on an answer the gate reads the policy and its binding
// (gate.kube.approval_policy) and refuses the answer, saying why, when either
// is missing, not failing closed, not denying, or not the check it should be.
//
// Threading: the watch callbacks run on the watcher's thread; Resolve takes
// the gate's own locks.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include "kubemend/common/config.h"
#include "kubemend/kube/client.h"
#include "kubemend/v1/safety_gate_admin.pb.h"

namespace kubemend::gate {

struct KubeApprovalConfig {
  bool enabled = true;
  // The ValidatingAdmissionPolicy that makes spec.approval.user the requester's own name.
  std::string admission_policy = "kubemend-healingaction-approval";
  std::string kubeconfig;  // empty: $KUBECONFIG, in-cluster, ~/.kube/config; none = off
  std::string context;
  void Register(ConfigSchema& schema);
};

// A human's answer found on a HealingAction, not handled yet.
struct KubeApproval {
  std::string ns;
  std::string name;
  std::string proposal_id;
  bool approve = false;
  std::string user;  // the Kubernetes user name (checked by the admission policy)
  std::string reason;
};

// The answer on `object`, or nullopt when there is none, it was handled
// already (status.approval set), or the object does not wait for one.
std::optional<KubeApproval> ParseApproval(const nlohmann::json& object);
// The approver recorded in the trail for a Kubernetes user.
std::string KubernetesSubject(const std::string& user);

// Why approvals from Kubernetes cannot be trusted with this policy and these
// bindings (all ValidatingAdmissionPolicyBindings), or "" when they can: the
// policy exists, fails closed, matches healingactions, checks
// spec.approval.user against request.userInfo.username, and a binding to it
// denies. `policy` null: not found.
std::string AdmissionGuardProblem(const std::string& name, const nlohmann::json* policy,
                                  const std::vector<nlohmann::json>& bindings);

class ApprovalWatch {
 public:
  // Resolve: GateService::Resolve (approve, the subject recorded as approver).
  using ResolveFn = std::function<absl::StatusOr<v1::ResolveResponse>(const v1::ResolveRequest&, bool approve,
                                                                       const std::string& who)>;
  ApprovalWatch(kube::KubeClient& client, ResolveFn resolve,
                std::string admission_policy = "kubemend-healingaction-approval");
  ~ApprovalWatch();
  void Start();
  void Stop();
  // One object (the watch calls this; tests too).
  void Handle(const nlohmann::json& object);

 private:
  void Report(const KubeApproval& a, bool accepted, const std::string& message);
  // AdmissionGuardProblem on the live objects ("" = in force), or why they cannot be read.
  std::string GuardProblem();

  kube::KubeClient& client_;
  ResolveFn resolve_;
  std::string admission_policy_;
  std::unique_ptr<kube::Watcher> watcher_;
  std::string last_error_;
  std::atomic<bool> stopping_{false};
};

// The Kubernetes client for the watch from `cfg`; nullptr (and *why) when
// approvals from Kubernetes are off or no cluster is configured.
std::unique_ptr<kube::KubeClient> ApprovalClient(const KubeApprovalConfig& cfg, std::string* why);

}  // namespace kubemend::gate
