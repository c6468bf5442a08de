#pragma once

// The simulated control plane and kubelets. step() runs one reconcile pass
// of every controller at the clock's current time: node lifecycle,
// namespace and garbage collection, HPA, Deployment, ReplicaSet,
// StatefulSet, Job, PVC binding/resize, scheduler, kubelet (container state
// machine with crash-loop back-off and OOM kills), PDB status, event TTL.
//
// Plain C++ over the ObjectApi: no threads, no I/O, no clock reads except
// through the injected Clock. The Cluster calls step() under its lock from
// the tick thread (or from /sim/v1/tick); unit tests call it directly after
// advancing a ManualClock.

#include "events.h"
#include "faults.h"
#include "object_api.h"
#include "sim_config.h"

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace kubesim {

// Kubelet bookkeeping for one container that is not visible in its status.
struct ContainerRuntime {
  enum class Phase { kCreating, kRunning, kTerminated, kBackOff, kPullBackOff, kDone };
  Phase phase = Phase::kCreating;
  std::string image;
  std::string container_id;
  TimePoint since{};        // when the current phase began
  TimePoint started_at{};   // start of the current (or last) run
  TimePoint backoff_until{};
  int backoff_step = 0;     // 0: the next restart is immediate
  int restart_count = 0;
  std::optional<TimePoint> die_at;
  int exit_code = 0;
  std::string exit_reason;
  Json last_terminated;     // lastState.terminated of the previous run
  Json terminated;          // state.terminated of the run that just ended
};

struct PodRuntime {
  std::map<std::string, ContainerRuntime> containers;
  std::string pod_ip;
  TimePoint start_time{};
  bool init_done = false;
};

class Controllers {
 public:
  Controllers(ObjectApi& api, FaultState& faults, SimConfig& config, EventRecorder& events)
      : api_(api), faults_(faults), config_(config), events_(events) {}

  void step();
  // Drops all kubelet and controller memory (used by /sim/v1/reset).
  void reset();

  // Exposed for PDB-aware eviction (pods/eviction) and metrics.
  void sync_pdbs();

  // Individual passes, public so unit tests can run one in isolation.
  void sync_nodes();
  void sync_namespaces();
  void collect_garbage();
  void sync_hpas();
  void sync_deployments();
  void sync_replicasets();
  void sync_statefulsets();
  void sync_jobs();
  void sync_pvcs();
  void schedule_pods();
  void run_kubelets();
  void expire_events();

 private:
  TimePoint now() const { return api_.clock().now(); }
  std::string now_text() const { return format_time(now()); }
  // Writes status/spec changes made by a controller (no validation).
  void write(const ResourceInfo& r, const Json& object);
  Json create_pod_from_template(const Json& owner, const ResourceInfo& owner_type, const Json& tmpl,
                                const std::string& name, const Json& extra_labels);
  void sync_deployment(const Json& deployment);
  void sync_kubelet_pod(const Json& pod, const Json& node);
  void finish_pod_termination(const Json& pod);
  bool node_ready(const Json& node) const;

  ObjectApi& api_;
  FaultState& faults_;
  SimConfig& config_;
  EventRecorder& events_;

  std::map<std::string, PodRuntime> pods_;  // by pod uid
  std::map<std::string, int> next_ip_;      // node → last host octet used
  std::map<std::string, TimePoint> last_sched_event_;  // pod uid → time
  std::map<std::string, std::deque<std::pair<TimePoint, std::int64_t>>> hpa_recommendations_;  // hpa uid
  std::map<std::string, TimePoint> node_not_ready_since_;
};

// Helpers shared by the controllers and the request handlers.
const Json* controller_ref_of(const Json& object);
bool is_controlled_by(const Json& object, const std::string& owner_uid);
bool pod_is_terminating(const Json& pod);
bool pod_is_finished(const Json& pod);
bool pod_is_active(const Json& pod);
bool pod_is_ready(const Json& pod);
Json owner_reference(const Json& owner, bool controller);
// The pod-template-hash a Deployment gives its ReplicaSet for `tmpl`.
std::string template_hash(const Json& tmpl);

// POST pods/{name}/eviction: deletes the pod unless a PodDisruptionBudget
// forbids it (429 TooManyRequests, as the API server answers). Returns the
// 201 Success Status. Caller holds the Cluster lock.
Json evict_pod(ObjectApi& api, Controllers& controllers, const std::string& ns, const std::string& name,
               const Json& eviction, bool dry_run);

}  // namespace kubesim
