#pragma once

// Cluster owns the whole simulated cluster: the store and its watch
// history, the object API, the fault state, the controllers and their
// configuration. One mutex guards all of it; request handlers and the tick
// loop take it through locked(). The watch hub has its own lock, so watch
// streams run without it.

#include "controllers.h"
#include "events.h"
#include "faults.h"
#include "object_api.h"
#include "sim_config.h"
#include "store.h"

#include <mutex>
#include <string>
#include <vector>

namespace kubesim {

struct ClusterOptions {
  SimConfig sim;
  StrategyOptions strategy;
  std::size_t watch_history = 1000;
  // Nodes created at start when the seed has none.
  int default_nodes = 3;
  // Seed manifests (YAML or JSON), applied at start and on every reset.
  std::string seed;
};

class Cluster {
 public:
  Cluster(Clock& clock, Random& random, ClusterOptions options);

  template <class F>
  auto locked(F&& f) {
    std::lock_guard lock(mutex_);
    return f();
  }

  // Creates the built-in namespaces, default nodes and storage class, then
  // applies the seed. Call once, before serving.
  void bootstrap();
  // Deletes every object (watchers see DELETED), clears faults and
  // controller memory, then bootstraps again. Takes the lock.
  void reset();
  // One controller pass. Takes the lock.
  void tick();

  // Creates each object, or replaces it if it exists, keeping any status it
  // carries (nodes with capacity, PVCs with capacity...). Missing
  // namespaces are created. Caller holds the lock. Returns stored objects.
  std::vector<Json> apply_manifests(const std::vector<Json>& documents);

  ObjectStore& store() { return store_; }
  WatchHub& hub() { return hub_; }
  ObjectApi& api() { return api_; }
  Controllers& controllers() { return controllers_; }
  FaultState& faults() { return faults_; }
  SimConfig& config() { return options_.sim; }
  const Clock& clock() const { return clock_; }
  Random& random() { return random_; }

 private:
  Json default_node(int index) const;

  Clock& clock_;
  Random& random_;
  ClusterOptions options_;
  std::mutex mutex_;
  WatchHub hub_;
  ObjectStore store_;
  ObjectApi api_;
  FaultState faults_;
  EventRecorder events_;
  Controllers controllers_;
};

}  // namespace kubesim
