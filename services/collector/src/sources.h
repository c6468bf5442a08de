#pragma once
// The running sources: thin adapters that feed the pure cores (kube_state,
// metric_trigger/cost, health_check) from the Kubernetes API, Prometheus and
// probes, and hand the resulting signals to the Publisher.
//
// Signals the bus refused are kept in order in a per-source outbox and
// retried on the next round, so a broker outage delays signals but loses
// none (the cores have already moved on to the new state).
//
// Threading: each source owns one loop thread (and the kube source its
// watcher threads); Details() may be called from any thread.
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "health_check.h"
#include "kube_state.h"
#include "kubemend/kube/client.h"
#include "metric_trigger.h"
#include "kubemend/common/prometheus.h"
#include "publisher.h"

namespace kubemend::collector {

// Events waiting for the bus, in order. Thread-safe.
class Outbox {
 public:
  Outbox(Publisher* publisher, std::string source) : publisher_(publisher), source_(std::move(source)) {}
  // Appends and tries to publish everything pending; false if the bus refused.
  bool Send(std::vector<v1::Event> events);
  size_t pending() const;

 private:
  Publisher* publisher_;
  std::string source_;
  mutable std::mutex mu_;
  std::vector<v1::Event> pending_;
};

// Runs `round` now and then every `interval` until Stop(). Aligned: after
// the first round, rounds start on the wall clock's multiples of `interval`
// (Unix time), so collector replicas poll in the same rounds and derive the
// same event ids from them (TriggerEvaluator's `round`).
class PollLoop {
 public:
  PollLoop(Millis interval, std::function<void()> round, bool aligned = false);
  ~PollLoop();
  void Stop();

 private:
  Millis interval_;
  std::function<void()> round_;
  bool aligned_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

class KubeSource {
 public:
  static constexpr const char* kName = "kubernetes";
  KubeSource(kube::KubeClient* kube, KubeStateOptions options, Publisher* publisher, ProducerIdentity who,
             const Clock& clock, Millis tick);
  void Start();
  void Stop();
  std::map<std::string, std::string> Details() const;
  // For tests: feed the tracker as the watchers would.
  void OnSync(const std::string& kind, const kube::WatchSync& sync);
  void OnEvent(const std::string& kind, const kube::WatchEvent& event);
  void Tick();

 private:
  std::pair<std::string, std::string> Owner(const std::string& ns, const std::string& kind, const std::string& name);
  kube::KubeClient* kube_;
  KubeStateOptions options_;
  Publisher* publisher_;
  Outbox outbox_;
  Millis tick_;
  mutable std::mutex mu_;  // guards tracker_, synced_, owners_
  KubeStateTracker tracker_;
  std::set<std::string> synced_;
  std::map<std::string, std::pair<std::string, std::string>> owners_;
  std::vector<std::unique_ptr<kube::Watcher>> watchers_;
  std::unique_ptr<PollLoop> loop_;
  uint64_t syncs_ = 0;
  uint64_t relists_ = 0;
};

// Prometheus metric triggers, or cost budgets (the same machinery).
class TriggerSource {
 public:
  TriggerSource(std::string name, const PrometheusClient* prom, std::vector<TriggerSpec> specs, std::string cluster,
                Publisher* publisher, ProducerIdentity who, const Clock& clock, Millis interval);
  void Start();
  void Stop();
  // One evaluation round of every trigger (the loop calls this).
  void RunOnce();
  std::map<std::string, std::string> Details() const;

 private:
  std::string name_;
  const PrometheusClient* prom_;
  Publisher* publisher_;
  Outbox outbox_;
  Millis interval_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::vector<TriggerEvaluator> evaluators_;
  std::map<std::string, std::string> last_;
  std::unique_ptr<PollLoop> loop_;
};

class HealthSource {
 public:
  static constexpr const char* kName = "health_check";
  HealthSource(std::unique_ptr<HealthCheckRunner> runner, Publisher* publisher, Millis tick);
  void Start();
  void Stop();
  void RunOnce();
  std::map<std::string, std::string> Details() const;

 private:
  std::unique_ptr<HealthCheckRunner> runner_;
  Publisher* publisher_;
  Outbox outbox_;
  Millis tick_;
  mutable std::mutex mu_;
  std::unique_ptr<PollLoop> loop_;
};

}  // namespace kubemend::collector
