#pragma once
// The safety gate's rules as configuration: what is protected, what is never
// allowed, which actions need a human, the rate limits, the circuit breaker,
// the blast-radius caps and the time windows. Every field has a safe default
// (DefaultGateConfig); services/safety-gate/config.yaml and docs/safety.md
// show them. GateConfigKeys binds the YAML keys to ConfigSchema and turns the
// raw values into a validated GateConfig.
#include <absl/status/statusor.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kubemend/common/clock.h"
#include "kubemend/common/config.h"
#include "kubemend/v1/events.pb.h"

namespace kubemend::gate {

// How much human involvement an action needs.
enum class Level { kAuto, kConfirm, kNever };
std::string LevelName(Level l);
bool ParseLevel(const std::string& name, Level* out);

// N actions per window. max == 0 switches the limit off.
struct Limit {
  int64_t max = 0;
  Millis window{0};
};

// A UTC time window: either weekly ("Mon-Fri 09:00-17:00", "Sat,Sun 00:00-24:00",
// "* 22:00-06:00" wraps midnight; the day names the day the range starts) or
// absolute ("2026-11-27T00:00Z/2026-11-30T00:00Z").
struct TimeWindow {
  std::string text;
  bool absolute = false;
  uint8_t days = 0;  // bit d = weekday d (0 = Sunday)
  int start_min = 0;
  int end_min = 0;   // exclusive; may be < start_min (wraps midnight)
  TimePoint from;
  TimePoint to;
  bool Contains(TimePoint t) const;
};
absl::StatusOr<TimeWindow> ParseWindow(const std::string& text);

struct BreakerConfig {
  double failure_ratio = 0.5;   // trip at or above this share of failed outcomes
  int64_t min_samples = 5;      // ... once this many outcomes are in the window
  Millis window{15 * 60 * 1000};
  Millis cooloff{10 * 60 * 1000};
  int64_t half_open_probes = 2;  // automatic approvals let through after the cool-off
};

struct GateConfig {
  std::string own_namespace = "kubemend";
  v1::Mode mode = v1::MODE_AUTOMATIC;  // global mode until a Control SetMode changes it

  std::set<std::string> protected_namespaces;
  std::set<std::string> protected_kinds;
  std::map<std::string, std::string> protected_labels;  // value "*" = any value
  std::set<v1::ActionType> never_actions;

  std::map<v1::ActionType, Level> levels;
  Level default_level = Level::kConfirm;  // actions not listed in `levels`
  std::map<std::string, std::map<v1::ActionType, Level>> namespace_levels;
  int64_t auto_max_scale_percent = 100;  // ScaleWorkload/AdjustHPA above this → confirm
  int64_t auto_max_scale_delta = 10;     // ScaleWorkload.delta above this → confirm

  Limit per_target{3, Millis(10 * 60 * 1000)};
  Limit per_namespace{10, Millis(10 * 60 * 1000)};
  Limit cluster{30, Millis(10 * 60 * 1000)};
  Limit workload_budget{5, Millis(60 * 60 * 1000)};

  BreakerConfig breaker;

  int64_t max_in_flight = 10;                 // approved, no outcome yet, cluster-wide
  Millis in_flight_timeout{30 * 60 * 1000};   // an approval without outcome stops counting
  double max_disrupted_share = 0.25;          // of a workload's replicas

  std::vector<TimeWindow> freeze_windows;     // no automatic actions inside
  std::vector<TimeWindow> risky_windows;      // confirm-level actions only inside (empty = any time)

  Millis approval_timeout{30 * 60 * 1000};
  bool escalate_on_timeout = false;           // first timeout escalates, the second expires
  std::string escalate_to = "on-call";

  // How far back the event log is replayed at start-up (0 = from the beginning).
  Millis replay_lookback{24 * 60 * 60 * 1000};
  // The first replay attempt's deadline; each retry gets twice the last
  // (capped at an hour). The gate is NOT_SERVING until a replay completes.
  Millis replay_timeout{5 * 60 * 1000};

  // Size bounds of the gate's memory (besides its time horizon). Decisions
  // remembered so that a redelivered proposal gets its first decision back:
  // beyond the bound the oldest are forgotten, and a proposal recorded
  // before the newest forgotten decision is answered decision-stale
  // (REJECTED), never decided a second time.
  int64_t max_remembered_decisions = 100000;
  // Event ids of decisions, outcomes and controls already applied (dedup of
  // replay and follower). Beyond the bound the oldest are forgotten: such an
  // event seen again is counted again, which only makes the limits stricter.
  int64_t max_seen_events = 200000;
  // Proposals waiting for a human at most. Forgetting one would lose a
  // human's question, so at the bound a new proposal that needs a human is
  // answered EXPIRED (rule approval-queue-full, the reason names the bound)
  // instead of queued; a queue found over the bound after a replay (the
  // bound lowered, or two replicas admitting at once) has its newest
  // entries expired the same way by DueTimeouts().
  int64_t max_pending = 1000;
};

// The deadline of replay attempt `attempt` (1-based): `first`, doubled per
// retry, capped at an hour, so a log too long for the first still gets read.
Millis ReplayAttemptTimeout(Millis first, int attempt);

// The defaults documented in docs/safety.md.
GateConfig DefaultGateConfig();

// Binds the gate's keys to a schema; Build() validates and returns the config.
class GateConfigKeys {
 public:
  GateConfigKeys();
  void Register(ConfigSchema& schema);
  // Errors name the key: "key approval.levels.Foo: unknown action type".
  absl::StatusOr<GateConfig> Build() const;

 private:
  GateConfig base_;
  std::string mode_;
  std::vector<std::string> namespaces_;
  std::vector<std::string> kinds_;
  std::map<std::string, std::string> labels_;
  std::vector<std::string> never_;
  std::map<std::string, std::string> levels_;
  std::string default_level_;
  YAML::Node namespace_levels_;
  std::vector<std::string> freeze_;
  std::vector<std::string> risky_;
  std::string on_timeout_;
};

std::string FormatDuration(Millis d);  // "10m", "1h30m", "45s"

}  // namespace kubemend::gate
