#pragma once
// A pipeline stage: consume events from one or more topics, turn each into
// zero or more events for other topics, publish them, and only then let the
// consumer commit. The analyzer, safety gate and executor are stages.
//
// The transform is the service's decision logic (no I/O of its own, or I/O
// that it makes idempotent). It returns:
//   - OK with the events to publish;
//   - InvalidArgument / FailedPrecondition: the input can never be processed
//     (poison): it is dead-lettered with the message as the reason;
//   - Unavailable / DeadlineExceeded / ResourceExhausted / Aborted: a
//     dependency is down or busy; the whole batch is retried until it is back;
//   - any other error (or an exception): retried with the batch, but an event
//     that fails this way `max_attempts` times in a row is poison: it is
//     dead-lettered with its last error and the partition moves on.
// Undecodable messages are dead-lettered before the transform sees them.
#include <functional>
#include <map>
#include <tuple>
#include <memory>
#include <string>
#include <vector>

#include "kubemend/common/events.h"
#include "kubemend/common/kafka.h"
#include "kubemend/common/runtime.h"

namespace kubemend {

struct Emit {
  Topic topic;
  v1::Event event;
};

using Transform = std::function<absl::StatusOr<std::vector<Emit>>(const v1::Event& in,
                                                                  const InMessage& raw)>;

class Stage {
 public:
  // `inputs`: topics consumed; the event type is checked against the topic.
  Stage(ServiceRuntime* rt, std::vector<Topic> inputs, Transform transform);
  // Attempts before an event that keeps failing is dead-lettered (default 5).
  void set_max_attempts(int n) { max_attempts_ = n; }
  absl::Status Init();  // creates the producer and the consumer
  void Run();           // consume loop on the calling thread until Stop()
  void Stop();
  BatchConsumer* consumer() { return consumer_.get(); }
  // Publishes events outside the consume loop (gRPC-triggered Control, etc.)
  // and waits for the broker's acknowledgement.
  absl::Status Publish(const std::vector<Emit>& events);

 private:
  absl::Status HandleBatch(std::span<const InMessage> batch);
  absl::Status Send(const Emit& e, const std::shared_ptr<DeliveryTracker>& tracker);
  absl::StatusOr<std::vector<Emit>> SafeTransform(const v1::Event& ev, const InMessage& msg);
  // Per-event counters, looked up once in Init (a registry lookup takes a
  // lock and builds a label map: too dear per event). Read-only afterwards.
  Counter& EventsIn(v1::EventType t);
  Counter& EventsOut(v1::EventType t);

  ServiceRuntime* rt_;
  std::vector<Topic> inputs_;
  Transform transform_;
  Producer* producer_ = nullptr;
  std::unique_ptr<DeadLetterer> dead_letters_;
  std::unique_ptr<BatchConsumer> consumer_;
  std::map<std::string, Topic> topic_by_name_;
  Histogram* latency_ = nullptr;
  std::map<int, Counter*> events_in_, events_out_;
  std::map<Topic, std::string> topic_names_;
  int max_attempts_ = 5;
  // Failures per message (topic, partition, offset) of the batch being
  // retried; consumer thread only, cleared when a batch goes through.
  std::map<std::tuple<std::string, int32_t, int64_t>, int> attempts_;
  std::map<std::tuple<std::string, int32_t, int64_t>, std::string> gave_up_;  // -> reason
};

// True for the errors that mean "a dependency is down or busy" (retry as long
// as it takes), false for those that may be the event's own fault.
bool IsTransient(const absl::Status& st);

}  // namespace kubemend

namespace kubemend {
// The main loop shared by stage services: start the runtime, run the stage's
// consumer on its own thread, wait for SIGTERM/SIGINT, stop consuming
// (committing what was processed), flush the producer. Returns the exit code.
int RunStageService(ServiceRuntime& rt, Stage& stage);
}  // namespace kubemend
