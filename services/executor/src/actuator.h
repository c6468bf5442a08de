#pragma once
// The Actuator turns one approved action into Kubernetes API calls: it finds
// the object the action changes (a Pod target resolves to its Deployment or
// StatefulSet), plans the change with plan.h, and writes it together with the
// action id annotation in one merge PATCH carrying metadata.resourceVersion
// (applied only to the version read), so that a
// replayed action finds its id and is reported DUPLICATE instead of being
// applied twice. Undo() writes recorded before-values back.
//
// Threading: one Actuator is shared by the executor's workers; every method
// is safe to call concurrently (the client is). The caller serialises
// actions per object (see Executor's lock table).
// Errors: never thrown; an API failure becomes status FAILED with the
// error's text, an action that cannot apply (bare pod, no expansion, already
// at cap) FAILED with the reason.
#include <absl/status/statusor.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "guard.h"
#include "kubemend/common/clock.h"
#include "kubemend/common/protection.h"
#include "kubemend/kube/client.h"
#include "kubemend/v1/events.pb.h"
#include "plan.h"

namespace kubemend::executor {

// Waits; tests pass a fake that advances a FakeClock instead.
using Sleeper = std::function<void(Millis)>;

// Posts a JSON body to a webhook (Notify). Implemented in
// notifier.cc over the shared sender (kubemend/common/webhook.h); tests
// record the calls.
class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual absl::Status Post(const std::string& url, const std::string& json_body) = 0;
};
std::unique_ptr<Notifier> NewCurlNotifier(Millis timeout);

// The operator's maxima bind every proposal: a proposal may ask for less
// (its own max_limit / max_replicas / max_replicas_cap / max_size), never
// for more; a larger value is clamped to the operator's and the outcome's
// detail says so.
struct ActuatorOptions {
  uint32_t memory_percent = 25;        // IncreaseMemory without a percent
  std::string memory_max = "8Gi";      // IncreaseMemory: the highest limit ever set
  uint32_t scale_percent = 25;         // ScaleWorkload / AdjustHPA defaults
  uint32_t scale_min_step = 1;
  uint32_t scale_max_replicas = 50;    // ScaleWorkload: the most replicas ever set
  uint32_t scale_min_replicas = 1;     // ScaleWorkload: the fewest replicas a scale-down leaves
  uint32_t hpa_max_cap = 100;          // AdjustHPA: the highest maxReplicas ever set
  uint32_t pvc_percent = 50;
  std::string pvc_max_size = "1Ti";    // ExpandPVC: the largest size ever requested
  ProtectionRules protection;          // checked on the live objects before every write
  Millis drain_timeout{120000};        // DrainNode without timeout_seconds
  Millis eviction_retry{1000};         // wait after a PDB refusal
  uint32_t jobs_older_than_seconds = 86400;
  std::map<std::string, std::string> notify_channels;  // name -> webhook URL
};

struct ActionRequest {
  std::string action_id;
  v1::Action action;
  v1::Target target;
  std::string incident_id;
  std::string summary;  // one line about the incident, for Notify
  bool dry_run = false;
};

enum class VerifyKind { kNone, kWorkload, kNodeCordoned, kNodeUncordoned, kNodeDrained, kHpa, kPvc };

// What to watch after the action, with the baseline taken before it.
struct VerifyPlan {
  VerifyKind kind = VerifyKind::kNone;
  kube::ObjectRef ref;
  std::map<std::string, int64_t> restarts;  // pod uid -> total restarts at action time
  int64_t expect_count = 0;                 // HPA maxReplicas
  std::string expect_size;                  // PVC size
  std::set<std::string> left_in_place;      // pod keys a drain left on purpose (protected)
};

struct ActionResult {
  v1::OutcomeStatus status = v1::OUTCOME_STATUS_FAILED;
  std::vector<Change> changes;
  std::string error;
  std::string detail;
  VerifyPlan verify;
};

// "Deployment" -> apps/v1 deployments; nullopt for kinds the executor does not touch.
std::optional<kube::ResourceType> TypeForKind(const std::string& kind);
// "Deployment/shop/web" -> ref.
absl::StatusOr<kube::ObjectRef> RefFromKey(const std::string& key);
std::string KeyOf(const kube::ObjectRef& ref);

class Actuator {
 public:
  Actuator(kube::KubeClient& client, Notifier* notifier, Sleeper sleep, const Clock& clock,
           ActuatorOptions options);

  // The object the action will change, as a lock key; resolving a Pod
  // target to its workload reads the API server.
  absl::StatusOr<std::string> LockKey(const ActionRequest& req);
  ActionResult Apply(const ActionRequest& req);
  // Restores `changes` (newest last) under a new action id; the rollback is
  // itself recorded on each object, so replaying it is DUPLICATE.
  ActionResult Undo(const std::string& rollback_id, const std::vector<Change>& changes, bool dry_run);
  // After a healthy verification: remembers the workload's images as stable.
  void RecordStableImages(const kube::ObjectRef& workload);
  // The change history recorded on an object for `action_id` (rollback when
  // the outcome index does not have it).
  std::optional<HistoryEntry> HistoryOn(const kube::ObjectRef& ref, const std::string& action_id);

 private:
  absl::StatusOr<kube::ObjectRef> ResolveWorkload(const v1::Target& t);
  // One update: fails with DUPLICATE when the id is there, else mutate + record.
  using FieldMutate = std::function<absl::StatusOr<std::vector<Change>>(nlohmann::json& obj)>;
  ActionResult MutateOnce(const kube::ObjectRef& ref, const ActionRequest& req, const FieldMutate& mutate);
  std::map<std::string, int64_t> RestartBaseline(const kube::ObjectRef& workload);

  ActionResult RestartPod(const ActionRequest& req);
  ActionResult RolloutRestart(const ActionRequest& req);
  ActionResult Scale(const ActionRequest& req);
  ActionResult IncreaseMemory(const ActionRequest& req);
  ActionResult RollbackImage(const ActionRequest& req);
  ActionResult Cordon(const ActionRequest& req, bool cordon);
  ActionResult Drain(const ActionRequest& req);
  ActionResult ExpandPvc(const ActionRequest& req);
  ActionResult AdjustHpa(const ActionRequest& req);
  ActionResult DeleteCompletedJobs(const ActionRequest& req);
  ActionResult Notify(const ActionRequest& req);

  // DrainNode's steps (actuator_cluster.cc).
  struct DrainReport {
    int evicted = 0;
    std::vector<std::string> protected_pods;  // left in place: protected or opted out
    std::vector<std::string> skipped;         // could not be evicted safely
    std::vector<std::string> blocked;         // eviction refused until the deadline
  };
  enum class DrainChoice { kEvict, kIgnore, kProtected, kSkip };
  // What to do with one pod on the node, and why (for kProtected/kSkip).
  DrainChoice ChooseForDrain(const nlohmann::json& pod, const v1::DrainNode& p, std::string* why);
  // Evicts one pod, retrying PDB refusals until `deadline`; "" or the error.
  std::string EvictWithRetry(const kube::ObjectRef& pod, bool dry_run, TimePoint deadline);
  void FinishDrain(ActionResult& r, const DrainReport& report, bool replay);

  kube::KubeClient& client_;
  Notifier* notifier_;
  Sleeper sleep_;
  const Clock& clock_;
  ActuatorOptions options_;
  LiveGuard guard_;
};

std::string Rfc3339(TimePoint t);

}  // namespace kubemend::executor
