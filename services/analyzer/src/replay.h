#pragma once
// Reads the event log back at start-up so the engine remembers open
// incidents, in-flight proposals, cooldowns and attempt counters across a
// restart. Reads through the common LogFollower (no group membership, no
// commits; every partition up to the high watermark seen at the start) and
// keeps the events recorded at or after `since_ms`.
// Errors: Unavailable when the broker cannot be asked; InvalidArgument for bad
// client properties. Undecodable messages are skipped (the live consumer
// dead-letters them).
#include <absl/status/statusor.h>

#include <chrono>
#include <string>
#include <vector>

#include "kubemend/common/kafka.h"
#include "kubemend/v1/events.pb.h"

namespace kubemend::analyzer {

struct ReplayStats {
  size_t read = 0;
  size_t skipped = 0;
};

// Events sorted by recorded_at (ties: topic order given, then offset).
absl::StatusOr<std::vector<v1::Event>> ReadLog(const KafkaConfig& cfg, const std::vector<Topic>& topics,
                                               int64_t since_ms, std::chrono::milliseconds timeout,
                                               ReplayStats* stats);

}  // namespace kubemend::analyzer
