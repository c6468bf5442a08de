#pragma once
// KubeView: writes the HealingAction objects and Events that kube_view.h
// describes, on a thread of its own, so that a slow or refusing API server
// never holds up an action: OnDecision/OnStart/OnOutcome only queue (bounded;
// when full the oldest update is dropped and counted), and a failed write is
// logged and counted, never retried into the pipeline. Updates are applied
// in the order they were queued (decision, start, outcome of one action).
//
// Each update: GET the HealingAction (create it when missing), skip it when
// the object already shows the same or a later phase (redeliveries, replicas
// racing), else merge-PATCH its status and record the Events on the target's
// workload (kube::EventRecorder: repeats count up on one Event).
// Every gc_interval it deletes finished HealingActions older than retention.
// A missing CRD (404 on the collection) pauses writing for a minute with one
// warning, so a cluster without it (kube-sim, an old install) is not spammed.
//
// Thread-safety: the On* calls may come from any thread.
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "kube_view.h"
#include "kubemend/common/metrics.h"
#include "kubemend/kube/client.h"
#include "kubemend/kube/event_recorder.h"

namespace kubemend::executor {

struct KubeViewOptions {
  std::string own_ns = "kubemend";
  std::string instance;              // reportingInstance of the Events
  Millis retention{7LL * 24 * 3600 * 1000};
  Millis gc_interval{10 * 60 * 1000};
  size_t max_queue = 10000;
};

class KubeView {
 public:
  KubeView(kube::KubeClient& client, const Clock& clock, KubeViewOptions options, MetricsRegistry* metrics = nullptr);
  ~KubeView();
  void Start();
  // Drains what is queued (up to `drain` long), then stops the thread.
  void Stop(Millis drain = Millis(2000));

  void OnDecision(const v1::Event& decision);
  void OnStart(const v1::Event& decision);
  void OnOutcome(const v1::Event& outcome);

  // Synchronous, for tests and the worker: one update, one GC pass.
  void Apply(const ViewUpdate& u);
  void CollectGarbage();

 private:
  void Enqueue(ViewUpdate u);
  void Run();
  void Count(const std::string& what);
  void RecordEvents(const ViewUpdate& u);

  kube::KubeClient& client_;
  const Clock& clock_;
  KubeViewOptions options_;
  MetricsRegistry* metrics_;
  kube::EventRecorder recorder_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ViewUpdate> queue_;
  bool stop_ = false;
  bool busy_ = false;
  TimePoint crd_missing_until_{};
  TimePoint next_gc_{};
  std::thread thread_;
};

}  // namespace kubemend::executor
