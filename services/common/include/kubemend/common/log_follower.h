#pragma once
// Reads the topics a service's state is derived from on EVERY partition,
// without a consumer group and without ever committing (nothing is created
// on the broker): each process sees the whole log, whichever partitions its
// group gave it. The safety gate follows decisions, outcomes, control and
// signals; the executor follows outcomes (its redelivery index) and control
// (pause). Replay() rebuilds state at start-up (from a look-back per topic up
// to the high watermarks seen at the call); Follow() then keeps the state
// current with what other replicas, services and operators publish.
//
// Threading: Create/Replay on the main thread before Follow; Follow runs on
// its own thread until Stop() (callable from any thread).
#include <absl/status/statusor.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kubemend/common/clock.h"
#include "kubemend/common/kafka.h"
#include "kubemend/v1/events.pb.h"

namespace RdKafka {
class KafkaConsumer;
class Message;
}

namespace kubemend {

class LogFollower {
 public:
  // Errors: InvalidArgument for bad client config; Unavailable when a topic's
  // partitions cannot be learned from the broker within `timeout`.
  static absl::StatusOr<std::unique_ptr<LogFollower>> Create(const KafkaConfig& cfg,
                                                             const std::vector<std::string>& topics,
                                                             const std::string& client_id,
                                                             std::chrono::milliseconds timeout);
  ~LogFollower();

  // Every event from `since[topic]` (absent or epoch = the beginning) up to
  // the high watermark at the call, sorted by occurred_at. Undecodable
  // messages are skipped and counted (the stage that consumes them
  // dead-letters them). DeadlineExceeded when the log cannot be read in time.
  // `keep` (when set) drops the events the caller's state has no use for as
  // they are read, so that the replay holds only what it returns (a day of
  // signals would otherwise be held in full before being thrown away).
  using Keep = std::function<bool(const v1::Event&)>;
  absl::StatusOr<std::vector<v1::Event>> Replay(const std::map<std::string, TimePoint>& since,
                                                std::chrono::milliseconds timeout,
                                                const Keep& keep = nullptr);
  // Delivers each new event to `apply` until Stop(). The event lives only for
  // the call (it is decoded onto an arena that is reused): `apply` copies
  // what it keeps.
  void Follow(const std::function<void(const v1::Event&)>& apply);
  // Skips, undecoded, every message that carries header `name` with a value
  // not in `values` (a message without the header is decoded as before).
  // The safety gate follows signals only for cost budgets: the collector
  // marks each signal's source (kSignalSourceHeader), and the others are
  // not decoded at all. Call before Replay/Follow.
  void OnlyWithHeader(std::string name, std::set<std::string> values) {
    only_header_ = std::move(name);
    only_values_ = std::move(values);
  }
  void Stop() { stop_ = true; }
  uint64_t skipped() const { return skipped_.load(); }
  uint64_t followed() const { return followed_.load(); }

 private:
  LogFollower() = default;
  bool Unwanted(RdKafka::Message& m) const;  // see OnlyWithHeader
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::string only_header_;
  std::set<std::string> only_values_;
  std::map<std::string, int32_t> partitions_;  // topic → partition count
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> skipped_{0};
  std::atomic<uint64_t> followed_{0};
};

}  // namespace kubemend
