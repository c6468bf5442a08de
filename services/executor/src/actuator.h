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
#include <string>
#include <vector>

#include "kubemend/common/clock.h"
#include "kubemend/kube/client.h"
#include "kubemend/v1/events.pb.h"
#include "plan.h"

namespace kubemend::executor {

// Waits; tests pass a fake that advances a FakeClock instead.
using Sleeper = std::function<void(Millis)>;

// Posts a JSON body to a webhook (Notify). Implemented with libcurl in
// notifier.cc; tests record the calls.
class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual absl::Status Post(const std::string& url, const std::string& json_body) = 0;
};
std::unique_ptr<Notifier> NewCurlNotifier(Millis timeout);

struct ActuatorOptions {
  uint32_t memory_percent = 25;        // IncreaseMemory without a percent
  std::string memory_max = "8Gi";      // IncreaseMemory without max_limit
  uint32_t scale_percent = 25;         // ScaleWorkload / AdjustHPA defaults
  uint32_t scale_min_step = 1;
  uint32_t scale_max_replicas = 50;    // ScaleWorkload without max_replicas
  uint32_t hpa_max_cap = 100;          // AdjustHPA without max_replicas_cap
  uint32_t pvc_percent = 50;
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

  kube::KubeClient& client_;
  Notifier* notifier_;
  Sleeper sleep_;
  const Clock& clock_;
  ActuatorOptions options_;
};

std::string Rfc3339(TimePoint t);

}  // namespace kubemend::executor
