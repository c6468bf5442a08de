#pragma once
// Facts from the live cluster, for every signal about a pod or a workload:
// the owner chain, the container's state, the rollout's images. Kept from
// watches of pods and ReplicaSets (never a GET per alert), so an alert that
// names only {namespace, pod, container} still reaches the analyzer knowing
// which Deployment it is about and why the container died.
//
// Facts written into Signal.facts (docs/signals.md "Facts"):
//   pod target:      ownerKind, ownerName (the controller: ReplicaSet resolved
//                    to its Deployment; StatefulSet, DaemonSet, Job as they
//                    are), node, container, restartCount,
//                    lastTerminationReason, lastExitCode, waitingReason,
//                    image, memoryLimit, memoryRequest
//   Deployment (the pod's owner, or the target itself): revision,
//                    previousImage (the image of the newest older revision
//                    that differs), imageHistory (every distinct older image,
//                    newest first, comma-separated, at most kImageHistoryMax:
//                    the images a RollbackImage may choose), imageChangedAt (RFC 3339: when the
//                    current revision with its new image appeared),
//                    replicas (its spec.replicas: the gate's scale-down and
//                    blast-radius checks need the current count)
//   any namespaced target: namespaceRemediate (the Namespace's
//                    kubemend.io/remediate annotation or label, when set: the
//                    gate refuses an opted-out namespace before the executor's
//                    live check does)
// A pod target without an owner gets target.owner_kind/owner_name filled in
// (the analyzer groups a Deployment's pods into one incident by it).
// Facts the cache does not know are left out, never guessed. A deleted pod's
// facts are kept for kDeletedPodKept (with podDeleted: "true"): Prometheus
// alerts about a pod a rollout just replaced arrive after its deletion, and
// must still resolve to the owner and the diagnosis.
//
// The container: the target's own (an alert's `container` label) or else
// the pod's container with the most restarts.
//
// Thread-safe (one mutex): the pod, ReplicaSet, Deployment and Namespace
// watcher threads feed it,
// the webhook workers and source loops call Enrich.
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kubemend/common/clock.h"
#include "kubemend/common/events.h"

namespace kubemend::collector {

class ClusterFacts {
 public:
  static constexpr Millis kDeletedPodKept{5 * 60 * 1000};
  static constexpr size_t kImageHistoryMax = 10;

  explicit ClusterFacts(const Clock& clock) : clock_(clock) {}

  // A full list replaces what is held for that kind; then watch events.
  void SyncPods(const std::vector<nlohmann::json>& items);
  void OnPod(const nlohmann::json& pod, bool deleted);
  void SyncReplicaSets(const std::vector<nlohmann::json>& items);
  void OnReplicaSet(const nlohmann::json& rs, bool deleted);
  void SyncDeployments(const std::vector<nlohmann::json>& items);
  void OnDeployment(const nlohmann::json& d, bool deleted);
  void SyncNamespaces(const std::vector<nlohmann::json>& items);
  void OnNamespace(const nlohmann::json& ns, bool deleted);

  // Adds what is known about the event's target to its signal's facts (and
  // the owner to the target). True when anything was added.
  bool Enrich(v1::Event* e) const;

  size_t pods() const;  // live pods (deleted ones kept for late alerts not counted)
  size_t replicasets() const;
  size_t deployments() const;

 private:
  struct Container {
    std::string image, memory_limit, memory_request;
    int64_t restarts = 0;
    bool has_status = false;
    std::string last_reason, waiting_reason;
    int64_t last_exit = 0;
    bool has_last = false;
  };
  struct Pod {
    std::string owner_kind, owner_name, node;
    bool deleted = false;
    std::vector<std::pair<std::string, Container>> containers;  // spec order
  };
  struct ReplicaSet {
    std::string deployment;  // controlling Deployment, "" when none
    int64_t revision = 0;
    std::map<std::string, std::string> images;  // container -> image
    std::string since;  // RFC 3339: when this revision became the newest
  };

  static std::string Key(const std::string& ns, const std::string& name) { return ns + "/" + name; }
  Pod ReadPod(const nlohmann::json& pod) const;
  void PutReplicaSet(const nlohmann::json& rs, bool from_watch);
  void AddPodFacts(const Pod& pod, const std::string& want_container,
                   std::map<std::string, std::string>* facts, std::string* container) const;
  void AddRolloutFacts(const std::string& ns, const std::string& deployment,
                       const std::string& container, std::map<std::string, std::string>* facts) const;

  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Pod> pods_;                // "ns/name"
  std::deque<std::pair<TimePoint, std::string>> deleted_pods_;  // oldest first
  std::map<std::string, ReplicaSet> replicasets_;  // "ns/name"
  std::map<std::string, int64_t> deployment_replicas_;  // "ns/name" -> spec.replicas
  std::map<std::string, std::string> namespace_optout_;  // name -> kubemend.io/remediate value, when set
};

}  // namespace kubemend::collector
