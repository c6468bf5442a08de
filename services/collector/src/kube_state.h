#pragma once
// Kubernetes state → Signal events, from watched pods, nodes and events.
// Pure: no I/O; the watch adapter (kube_source.h) feeds objects in, the
// clock and the owner lookup are injected.
//
// Conditions (fingerprint "k8s/<Kind>/<ns>/<name>[/<container>]/<Condition>"):
//   pods:   OOMKilled, CrashLoopBackOff, ImagePullBackOff, RestartBurst, PodStuckPending
//   nodes:  NodeNotReady, NodeMemoryPressure, NodeDiskPressure, NodePIDPressure
//   events: one signal per Warning event (firing only), named after its reason
// Each condition fires once when it appears and resolves once when it clears
// or its object is deleted; relists are diffed against what is active.
//
// Event ids come from the observation, not from this process: the firing and
// the resolved signal of one occurrence get DerivedUuid(fingerprint,
// "signal/<status>/<observation>"), where the observation is read from the
// object itself (pod uid + the container's termination time or restart
// count, node uid + the condition's lastTransitionTime, the Event's uid). Two
// collector replicas watching one cluster therefore publish the same ids and
// the trail stores each occurrence once. Only the stale resolves after a
// restart (ResolveStale) carry a per-process id: they have no object to read.
//
// Not thread-safe: one watcher thread per object kind calls it, so the
// adapter serialises calls with a mutex.
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kubemend/common/clock.h"
#include "kubemend/common/events.h"

namespace kubemend::collector {

struct KubeStateOptions {
  std::string cluster = "default";
  int64_t restart_burst_count = 3;        // restarts of one container ...
  Millis restart_burst_window{600'000};   // ... within this window
  Millis pending_timeout{300'000};        // Pending longer than this is stuck
  // CrashLoopBackOff / ImagePullBackOff resolve only after the container has
  // been ready this long: a crashing container is briefly running (and, with
  // no readiness probe, ready) between back-offs.
  Millis recovery_stable{60'000};
  bool pods = true;
  bool nodes = true;
  bool events = true;
};

// (kind, name) of the workload that owns a pod, from its controller
// ownerReference (ReplicaSet → Deployment resolved by the lookup). Empty
// kind when there is none.
using OwnerLookup =
    std::function<std::pair<std::string, std::string>(const std::string& ns, const std::string& kind,
                                                      const std::string& name)>;

struct KubeCondition {
  std::string fingerprint;
  std::string name;
  std::string reason;
  std::string container;
  v1::Severity severity = v1::SEVERITY_WARNING;
  std::string summary;
  bool has_value = false;
  double value = 0;
  double threshold = 0;
  bool sticky_until_ready = false;  // stays firing until the container is ready
  // What identifies this occurrence in the object's own data (see above); it
  // is taken when the condition starts firing and kept until it resolves.
  std::string observation;
};

class KubeStateTracker {
 public:
  KubeStateTracker(KubeStateOptions options, ProducerIdentity who, const Clock& clock, OwnerLookup owners);

  // A full list (start or relist after 410): conditions of objects no longer
  // present resolve; everything else is diffed like an update.
  std::vector<v1::Event> SyncPods(const std::vector<nlohmann::json>& items);
  std::vector<v1::Event> SyncNodes(const std::vector<nlohmann::json>& items);
  std::vector<v1::Event> SyncEvents(const std::vector<nlohmann::json>& items);
  // ADDED / MODIFIED (deleted=false) or DELETED (deleted=true).
  std::vector<v1::Event> OnPod(const nlohmann::json& pod, bool deleted);
  std::vector<v1::Event> OnNode(const nlohmann::json& node, bool deleted);
  std::vector<v1::Event> OnEvent(const nlohmann::json& event, bool deleted);
  // Re-evaluates time-based conditions (stuck Pending, restart bursts).
  std::vector<v1::Event> Tick();

  // Resolves conditions that were published before a restart (from the
  // dedup state) but are absent after the first full sync of `kind`.
  std::vector<v1::Event> ResolveStale(const std::string& kind, const std::vector<std::string>& firing_fingerprints);

  size_t active() const;

 private:
  struct Active {
    KubeCondition condition;
    v1::Target target;
    std::string incident_id;
    std::string observation;  // of the firing that opened this occurrence
  };
  struct PodMemo {
    nlohmann::json pod;
    // container → (time, restartCount) samples within the burst window
    std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> restarts;
    // container → since when it has been ready without interruption
    std::map<std::string, int64_t> ready_since;
  };

  std::vector<KubeCondition> PodConditions(const std::string& key, PodMemo& memo);
  std::vector<KubeCondition> NodeConditions(const nlohmann::json& node) const;
  v1::Target PodTarget(const nlohmann::json& pod);
  std::vector<v1::Event> Diff(const std::string& key, const v1::Target& target,
                              const std::vector<KubeCondition>& now);
  std::vector<v1::Event> ResolveAll(const std::string& key);
  v1::Event Build(const KubeCondition& c, const v1::Target& target, v1::SignalStatus status,
                  const std::string& incident_id, const std::string& observation) const;

  KubeStateOptions opt_;
  ProducerIdentity who_;
  const Clock& clock_;
  OwnerLookup owners_;
  // object key ("Pod/ns/name") → fingerprint → active condition
  std::map<std::string, std::map<std::string, Active>> active_;
  std::map<std::string, PodMemo> pods_;
  std::set<std::string> seen_events_;  // uids of Warning events already signalled
};

std::string PodKey(const nlohmann::json& obj);

}  // namespace kubemend::collector
