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
class SignalSink {
 public:
  virtual ~SignalSink() = default;
  virtual absl::Status Publish(const std::vector<v1::Event>& events) = 0;
};

class KafkaSignalSink final : public SignalSink {
 public:
  KafkaSignalSink(Producer* producer, std::string topic, Millis timeout)
      : producer_(producer), topic_(std::move(topic)), timeout_(timeout) {}
  absl::Status Publish(const std::vector<v1::Event>& events) override;

 private:
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
  // `dedup` may be null (no deduplication). Not owned.
  Publisher(SignalSink* sink, DedupStore* dedup, MetricsRegistry* metrics);

  // Registers a source so it shows in metrics and status even before its
  // first signal. `enabled` is reported in GetStatus.
  void AddSource(const std::string& source, bool enabled);
  // Publishes the events that are not duplicates. Unavailable when the bus
  // did not acknowledge them (the caller retries or answers 503).
  absl::StatusOr<PublishResult> Publish(const std::string& source, const std::vector<v1::Event>& events);
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
