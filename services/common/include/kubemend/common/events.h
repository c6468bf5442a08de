#pragma once
// Building, keying, decoding and dead-lettering kubemend.v1.Event messages.
// Every service goes through these so that the envelope is filled the same
// way everywhere (ids, times, producer, trace context, causation).
#include <absl/status/statusor.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "kubemend/common/clock.h"
#include "kubemend/common/kafka.h"
#include "kubemend/v1/events.pb.h"

namespace kubemend {

struct ProducerIdentity {
  std::string service;
  std::string instance;
  std::string version;
};

// A fresh event with a random id, no cause (signals).
v1::Event NewRootEvent(v1::EventType type, const ProducerIdentity& who, const Clock& clock);

// An event caused by `cause`: same incident and trace, causation_id =
// cause.event_id, target copied, and an id derived from the cause's id and
// `purpose` so that reprocessing the same cause yields the same event id.
v1::Event NewCausedEvent(v1::EventType type, const v1::Event& cause, const std::string& purpose,
                         const ProducerIdentity& who, const Clock& clock);

// The Kafka key: everything about one target stays on one partition.
std::string TargetKey(const v1::Target& t);
// The key an event is published under on `topic`: TargetKey, except
// proposals, keyed by namespace so that one gate replica decides a whole
// namespace (its limits stay exact with several replicas).
std::string PartitionKey(Topic topic, const v1::Target& t);
std::string TargetString(const v1::Target& t);  // ns/Kind/name for humans and logs

// Kafka headers kubemend's producers set (consumers never need them: they
// let a reader skip what it has no use for without decoding it).
inline constexpr char kEventTypeHeader[] = "kubemend-event-type";      // EventTypeName
inline constexpr char kSignalSourceHeader[] = "kubemend-signal-source";  // SignalSource enum name

// Decodes and checks an event: parses, has an id, schema_version 1, the
// payload matches `type`. The error says what is wrong (for the dead letter).
absl::StatusOr<v1::Event> DecodeEvent(const std::string& bytes);
// Also checks that the payload is what `topic` carries.
absl::StatusOr<v1::Event> DecodeEventFor(const std::string& bytes, Topic topic);
// The same checks, parsing `bytes` into `*out` (cleared first), which may
// live on a protobuf Arena: the hot paths decode a whole batch onto one
// arena and free it at once (no allocation or destructor per field).
// `topic` nullopt: any event type.
absl::Status DecodeEventInto(std::string_view bytes, std::optional<Topic> topic, v1::Event* out);

std::string EventTypeName(v1::EventType t);   // "signal", "proposal", ...
std::string ActionTypeName(v1::ActionType t);  // "RestartPod", ...
std::string VerdictName(v1::Verdict v);        // "approved", ...
std::string OutcomeStatusName(v1::OutcomeStatus s);
std::string ModeName(v1::Mode m);              // "automatic", ...
bool ParseMode(const std::string& name, v1::Mode* out);
bool ParseActionType(const std::string& name, v1::ActionType* out);

// Publishes a message that cannot be processed to the dead-letter topic with
// the reason, original bytes and coordinates. The caller waits on `tracker`
// before committing the original offset, so nothing is lost.
class DeadLetterer {
 public:
  DeadLetterer(Producer* producer, std::string topic, std::string consumer,
               MetricsRegistry* metrics, const Clock& clock);
  absl::Status Send(const InMessage& msg, const std::string& reason,
                    const std::shared_ptr<DeliveryTracker>& tracker);
  uint64_t count() const { return count_.load(); }

 private:
  Producer* producer_;
  std::string topic_;
  std::string consumer_;
  Counter* metric_ = nullptr;
  const Clock& clock_;
  std::atomic<uint64_t> count_{0};
};

void SetTimestamp(google::protobuf::Timestamp* ts, TimePoint t);
TimePoint FromTimestamp(const google::protobuf::Timestamp& ts);
// RFC 3339 as Alertmanager and the API server write it
// ("2026-01-01T10:00:00.123Z", or with an offset). False if malformed.
// Alertmanager's zero time "0001-01-01T00:00:00Z" parses to before the epoch.
bool ParseRfc3339(const std::string& s, TimePoint* out);
// "2026-01-01T10:00:00Z" (UTC, whole seconds), as the API server writes it.
std::string FormatRfc3339(TimePoint t);

}  // namespace kubemend
