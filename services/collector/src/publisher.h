#pragma once
// Where every source's signals go: dedup by (fingerprint, status), publish to
// the signals topic, wait for the broker's acknowledgement, then remember
// what was published. Per-source counters (received, deduplicated,
// published, errors) feed /metrics and GetStatus details.
//
// Thread-safe: the webhook workers and each source loop call Publish
// concurrently. Two concurrent calls with the same new signal may both
// publish it (at-least-once; consumers drop duplicates by content), never
// neither.
#include <absl/status/statusor.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cluster_facts.h"
#include "dedup.h"
#include "kubemend/common/kafka.h"
#include "kubemend/common/metrics.h"
#include "kubemend/v1/events.pb.h"

namespace kubemend::collector {

// The seam to the bus. Publish returns OK only when every event was
// acknowledged; Unavailable otherwise (nothing is then recorded as sent).
// PublishAsync does the same without blocking the caller: `done` runs once
// with that status, possibly on another thread (the delivery-report thread
// for Kafka). The default calls Publish and then `done`.
class SignalSink {
 public:
  using Done = std::function<void(absl::Status)>;
  virtual ~SignalSink() = default;
  virtual absl::Status Publish(const std::vector<v1::Event>& events) = 0;
  virtual void PublishAsync(const std::vector<v1::Event>& events, Done done) { done(Publish(events)); }
};

class KafkaSignalSink final : public SignalSink {
 public:
  KafkaSignalSink(Producer* producer, std::string topic, Millis timeout)
      : producer_(producer), topic_(std::move(topic)), timeout_(timeout) {}
  absl::Status Publish(const std::vector<v1::Event>& events) override;
  // Every request's messages join librdkafka's batches (linger.ms) with
  // everyone else's: concurrent requests share one produce request and one
  // acknowledgement, and no thread waits for it.
  void PublishAsync(const std::vector<v1::Event>& events, Done done) override;

 private:
  // Enqueues every event on `tracker`; the first refusal of the local queue.
  absl::Status ProduceAll(const std::vector<v1::Event>& events, const std::shared_ptr<DeliveryTracker>& tracker);
  Producer* producer_;
  std::string topic_;
  Millis timeout_;
};

// Records into a vector; for tests. `fail` makes every call Unavailable.
class MemorySignalSink final : public SignalSink {
 public:
  absl::Status Publish(const std::vector<v1::Event>& events) override;
  std::vector<v1::Event> Take();
  void set_fail(bool fail);

 private:
  std::mutex mu_;
  bool fail_ = false;
  std::vector<v1::Event> events_;
};

struct SourceCounters {
  Counter* received = nullptr;
  Counter* deduplicated = nullptr;
  Counter* published = nullptr;
  Counter* errors = nullptr;
  std::string last_error;  // guarded by Publisher::mu_
};

struct PublishResult {
  size_t published = 0;
  size_t deduplicated = 0;
  std::vector<std::string> event_ids;  // of the published events
};

class Publisher {
 public:
  using Done = std::function<void(absl::StatusOr<PublishResult>)>;
  // `dedup` may be null (no deduplication). Not owned.
  Publisher(SignalSink* sink, DedupStore* dedup, MetricsRegistry* metrics);

  // Registers a source so it shows in metrics and status even before its
  // first signal. `enabled` is reported in GetStatus.
  void AddSource(const std::string& source, bool enabled);
  // Publishes the events that are not duplicates. Unavailable when the bus
  // did not acknowledge them (the caller retries or answers 503).
  absl::StatusOr<PublishResult> Publish(const std::string& source, const std::vector<v1::Event>& events);
  // The same without blocking: dedup and produce here, then `done` once the
  // bus acknowledged (or refused) the fresh events, on the sink's completion
  // thread; dedup records are written there, after the acknowledgement.
  void PublishAsync(const std::string& source, const std::vector<v1::Event>& events, Done done);
  // Counts a source-side failure (a query or probe that could not run).
  void CountError(const std::string& source, const std::string& why);
  // "source.<name>.<counter>" = value, for GetStatus details.
  std::map<std::string, std::string> Details() const;
  DedupStore* dedup() { return dedup_; }
  // Every published signal about a pod or workload gets the cluster's facts
  // (and a pod its owner) from here. Not owned; null: none. Set before the
  // first Publish.
  void SetFacts(const ClusterFacts* facts) { facts_ = facts; }

 private:
  // One Publish: what dedup let through and what it dropped.
  struct Batch {
    std::string source;
    SourceCounters* counters = nullptr;
    PublishResult result;
    std::vector<v1::Event> fresh;
  };
  Batch Prepare(const std::string& source, const std::vector<v1::Event>& events);
  // After the sink answered: counters, dedup records, the result.
  absl::StatusOr<PublishResult> Complete(Batch& batch, const absl::Status& sent);
  SourceCounters& Counters(const std::string& source);
  SignalSink* sink_;
  DedupStore* dedup_;
  const ClusterFacts* facts_ = nullptr;
  MetricsRegistry* metrics_;
  mutable std::mutex mu_;
  std::map<std::string, SourceCounters> sources_;
  std::map<std::string, bool> enabled_;
};

}  // namespace kubemend::collector
