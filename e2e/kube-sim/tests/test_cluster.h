#pragma once

// A simulated cluster on a manual clock for unit tests: nothing sleeps;
// tests advance the clock and run controller passes explicitly.

#include "api_handler.h"
#include "cluster.h"
#include "yaml_json.h"

#include <gtest/gtest.h>

namespace kubesim::testing {

class TestCluster {
 public:
  explicit TestCluster(int nodes = 2, std::size_t watch_history = 1000)
      : clock_(std::chrono::system_clock::from_time_t(1700000000)),
        random_(42),
        cluster_(clock_, random_, options(nodes, watch_history)) {
    cluster_.bootstrap();
  }

  static ClusterOptions options(int nodes, std::size_t watch_history) {
    ClusterOptions o;
    o.default_nodes = nodes;
    o.watch_history = watch_history;
    o.sim.backoff_base = Millis(1000);
    o.sim.backoff_max = Millis(8000);
    o.sim.crash_after = Millis(500);
    o.sim.node_monitor_grace = Millis(1000);
    o.strategy.default_toleration_seconds = 30;
    return o;
  }

  // Advances the clock by `step` and runs a controller pass, `n` times.
  void run(int n = 1, Millis step = Millis(100)) {
    for (int i = 0; i < n; ++i) {
      clock_.advance(step);
      cluster_.tick();
    }
  }

  Json apply(const std::string& yaml) {
    Json last;
    cluster_.locked([&] {
      for (const auto& o : cluster_.apply_manifests(parse_manifests(yaml))) {
        last = o;
      }
    });
    return last;
  }

  Json get(const std::string& plural, const std::string& ns, const std::string& name) {
    return cluster_.locked([&] { return cluster_.api().get(resource_by_plural(plural), ns, name); });
  }

  std::vector<Json> list(const std::string& plural, const std::string& ns = "default") {
    return cluster_.locked([&] {
      std::vector<Json> out;
      for (const Json* o : cluster_.store().list(resource_by_plural(plural), ns)) {
        out.push_back(*o);
      }
      return out;
    });
  }

  std::vector<Json> events(const std::string& reason) {
    std::vector<Json> out;
    for (const auto& e : list("events", "")) {
      if (e.value("reason", "") == reason) {
        out.push_back(e);
      }
    }
    return out;
  }

  ManualClock& clock() { return clock_; }
  Cluster& cluster() { return cluster_; }

 private:
  ManualClock clock_;
  SeededRandom random_;
  Cluster cluster_;
};

inline const char* kWebDeployment = R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        resources:
          requests: {cpu: 100m, memory: 64Mi}
          limits: {memory: 128Mi}
)";

}  // namespace kubesim::testing
