#include "gate_config.h"

#include <absl/strings/ascii.h>
#include <absl/strings/numbers.h>
#include <absl/strings/str_split.h>

#include <algorithm>
#include <ctime>

#include "kubemend/common/events.h"
#include "kubemend/common/protection.h"

namespace kubemend::gate {
namespace {

constexpr const char* kDayNames[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

int DayIndex(const std::string& s) {
  for (int i = 0; i < 7; ++i) {
    if (absl::AsciiStrToLower(s) == absl::AsciiStrToLower(kDayNames[i])) {
      return i;
    }
  }
  return -1;
}

bool ParseClock(const std::string& s, int* minutes) {
  std::vector<std::string> parts = absl::StrSplit(s, ':');
  int h = 0;
  int m = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &h) || !absl::SimpleAtoi(parts[1], &m) ||
      h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0)) {
    return false;
  }
  *minutes = h * 60 + m;
  return true;
}

// "2026-11-27T00:00Z" (minutes precision, UTC).
bool ParseInstant(const std::string& s, TimePoint* out) {
  std::tm tm{};
  int y = 0;
  int mo = 0;
  int d = 0;
  int h = 0;
  int mi = 0;
  char z = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d%c", &y, &mo, &d, &h, &mi, &z) != 6 || z != 'Z') {
    return false;
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  time_t t = timegm(&tm);
  *out = std::chrono::system_clock::from_time_t(t);
  return true;
}

absl::Status Bad(const std::string& key, const std::string& why) {
  return absl::InvalidArgumentError("key " + key + ": " + why);
}

absl::StatusOr<v1::ActionType> Action(const std::string& key, const std::string& name) {
  v1::ActionType t{};
  if (!ParseActionType(name, &t)) {
    return Bad(key, "unknown action type \"" + name +
                        "\" (use RestartPod, ScaleWorkload, DrainNode, ... as in events.proto)");
  }
  return t;
}

absl::StatusOr<v1::Mode> GateMode(const std::string& key, const std::string& name) {
  v1::Mode m{};
  if (name == "full") {
    return v1::MODE_AUTOMATIC;
  }
  if (!ParseMode(name, &m)) {
    return Bad(key, "unknown mode \"" + name + "\" (monitor, dryrun, limited, automatic, manual)");
  }
  return m;
}

}  // namespace

std::string LevelName(Level l) {
  switch (l) {
    case Level::kAuto:
      return "auto";
    case Level::kConfirm:
      return "confirm";
    case Level::kNever:
      return "never";
  }
  return "never";
}

bool ParseLevel(const std::string& name, Level* out) {
  if (name == "auto") {
    *out = Level::kAuto;
  } else if (name == "confirm") {
    *out = Level::kConfirm;
  } else if (name == "never") {
    *out = Level::kNever;
  } else {
    return false;
  }
  return true;
}

bool TimeWindow::Contains(TimePoint t) const {
  if (absolute) {
    return t >= from && t < to;
  }
  int64_t secs = ToUnixMillis(t) / 1000;
  int64_t day = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int minute = static_cast<int>((secs - day * 86400) / 60);
  int weekday = static_cast<int>(((day % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
  auto on = [&](int wd) { return (days >> wd) & 1; };
  if (start_min <= end_min) {
    return on(weekday) && minute >= start_min && minute < end_min;
  }
  // Wraps midnight: the evening part belongs to the day it starts on, the
  // morning part to the day before.
  if (minute >= start_min) {
    return on(weekday);
  }
  return minute < end_min && on((weekday + 6) % 7);
}

absl::StatusOr<TimeWindow> ParseWindow(const std::string& text) {
  TimeWindow w;
  w.text = text;
  std::string t(absl::StripAsciiWhitespace(text));
  auto slash = t.find('/');
  if (slash != std::string::npos) {
    w.absolute = true;
    if (!ParseInstant(t.substr(0, slash), &w.from) || !ParseInstant(t.substr(slash + 1), &w.to)) {
      return absl::InvalidArgumentError("\"" + text +
                                        "\" is not FROM/TO in UTC (2026-11-27T00:00Z/2026-11-30T00:00Z)");
    }
    if (w.to <= w.from) {
      return absl::InvalidArgumentError("\"" + text + "\" ends before it starts");
    }
    return w;
  }
  std::vector<std::string> parts = absl::StrSplit(t, ' ', absl::SkipWhitespace());
  auto bad = [&] {
    return absl::InvalidArgumentError(
        "\"" + text + "\" is not \"DAYS HH:MM-HH:MM\" in UTC (e.g. \"Mon-Fri 09:00-17:00\", "
                      "\"Sat,Sun 00:00-24:00\", \"* 22:00-06:00\")");
  };
  if (parts.size() != 2) {
    return bad();
  }
  if (parts[0] == "*") {
    w.days = 0x7f;
  } else {
    for (const auto& item : absl::StrSplit(parts[0], ',')) {
      std::vector<std::string> range = absl::StrSplit(item, '-');
      int a = DayIndex(range[0]);
      int b = range.size() == 2 ? DayIndex(range[1]) : a;
      if (range.size() > 2 || a < 0 || b < 0) {
        return bad();
      }
      for (int d = a;; d = (d + 1) % 7) {
        w.days |= static_cast<uint8_t>(1 << d);
        if (d == b) {
          break;
        }
      }
    }
  }
  std::vector<std::string> times = absl::StrSplit(parts[1], '-');
  if (times.size() != 2 || !ParseClock(times[0], &w.start_min) || !ParseClock(times[1], &w.end_min) ||
      w.start_min == w.end_min) {
    return bad();
  }
  return w;
}

std::string FormatDuration(Millis d) {
  int64_t ms = d.count();
  if (ms % 1000 != 0 || ms == 0) {
    return std::to_string(ms) + "ms";
  }
  int64_t s = ms / 1000;
  std::string out;
  if (s >= 86400 && s % 86400 == 0) {
    return std::to_string(s / 86400) + "d";
  }
  if (s >= 3600) {
    out += std::to_string(s / 3600) + "h";
    s %= 3600;
  }
  if (s >= 60) {
    out += std::to_string(s / 60) + "m";
    s %= 60;
  }
  if (s > 0) {
    out += std::to_string(s) + "s";
  }
  return out;
}

GateConfig DefaultGateConfig() {
  GateConfig c;
  ProtectionRules shipped = DefaultProtectionRules();  // the executor's defaults too
  c.protected_namespaces = shipped.namespaces;
  c.protected_kinds = shipped.kinds;
  c.protected_labels = shipped.labels;
  c.never_actions = {v1::ACTION_TYPE_DELETE_WORKLOAD, v1::ACTION_TYPE_CHANGE_RBAC,
                     v1::ACTION_TYPE_DELETE_PERSISTENT_VOLUME};
  for (auto t : {v1::ACTION_TYPE_RESTART_POD, v1::ACTION_TYPE_ROLLOUT_RESTART,
                 v1::ACTION_TYPE_SCALE_WORKLOAD, v1::ACTION_TYPE_INCREASE_MEMORY,
                 v1::ACTION_TYPE_ADJUST_HPA, v1::ACTION_TYPE_DELETE_COMPLETED_JOBS,
                 v1::ACTION_TYPE_NOTIFY, v1::ACTION_TYPE_THROTTLE_SCALING}) {
    c.levels[t] = Level::kAuto;
  }
  for (auto t : {v1::ACTION_TYPE_ROLLBACK_IMAGE, v1::ACTION_TYPE_CORDON_NODE,
                 v1::ACTION_TYPE_UNCORDON_NODE, v1::ACTION_TYPE_DRAIN_NODE,
                 v1::ACTION_TYPE_EXPAND_PVC, v1::ACTION_TYPE_EVICT_LOW_PRIORITY_PODS}) {
    c.levels[t] = Level::kConfirm;
  }
  for (auto t : c.never_actions) {
    c.levels[t] = Level::kNever;
  }
  return c;
}

GateConfigKeys::GateConfigKeys() : base_(DefaultGateConfig()) {
  mode_ = ModeName(base_.mode);
  namespaces_.assign(base_.protected_namespaces.begin(), base_.protected_namespaces.end());
  kinds_.assign(base_.protected_kinds.begin(), base_.protected_kinds.end());
  labels_ = base_.protected_labels;
  for (auto t : base_.never_actions) {
    never_.push_back(ActionTypeName(t));
  }
  for (const auto& [t, l] : base_.levels) {
    levels_[ActionTypeName(t)] = LevelName(l);
  }
  default_level_ = LevelName(base_.default_level);
  on_timeout_ = base_.escalate_on_timeout ? "escalate" : "expire";
}

Millis ReplayAttemptTimeout(Millis first, int attempt) {
  constexpr Millis kCap{60 * 60 * 1000};
  Millis t = std::max(first, Millis(1));
  for (int i = 1; i < attempt && t < kCap; ++i) {
    t *= 2;
  }
  return std::min(t, kCap);
}

void GateConfigKeys::Register(ConfigSchema& s) {
  GateConfig& b = base_;
  s.Add("gate.own_namespace", &b.own_namespace, "kubemend's own namespace (always protected)");
  s.AddEnum("gate.mode", &mode_, {"monitor", "dryrun", "limited", "automatic", "full", "manual"},
            "global mode at start, until a Control SetMode changes it");
  s.Add("gate.replay_lookback", &b.replay_lookback,
        "how far back the event log is replayed at start (0 = from the beginning)");
  s.Add("gate.replay_timeout", &b.replay_timeout,
        "deadline of the first start-up replay; NOT_SERVING until one completes, each retry "
        "gets twice as long");
  s.Add("gate.state.max_decisions", &b.max_remembered_decisions,
        "decisions remembered for redelivered proposals; beyond it the oldest are forgotten and "
        "a proposal older than them is answered decision-stale (REJECTED)",
        1, 100000000);
  s.Add("gate.state.max_seen_events", &b.max_seen_events,
        "ids of applied decisions/outcomes/controls remembered for deduplication; an older "
        "redelivery beyond it is counted again (stricter limits, never looser)",
        1, 100000000);
  s.Add("gate.state.max_pending", &b.max_pending,
        "proposals waiting for a human at most; beyond it a proposal that needs a human is "
        "answered EXPIRED (rule approval-queue-full) instead of queued",
        1, 1000000);
  s.Add("protected.namespaces", &namespaces_, "namespaces kubemend never touches");
  s.Add("protected.kinds", &kinds_, "target kinds kubemend never touches");
  s.Add("protected.labels", &labels_,
        "target labels that protect it (value * = any), e.g. app.kubernetes.io/managed-by=Helm");
  s.Add("never_allow", &never_, "action types refused whatever the policy or adviser says");
  s.Add("approval.levels", &levels_, "ActionType: auto | confirm | never");
  s.AddEnum("approval.default_level", &default_level_, {"auto", "confirm", "never"},
            "level of action types not in approval.levels");
  s.AddNode("approval.namespace_levels", &namespace_levels_,
            "per namespace: {namespace: {ActionType: level}}");
  s.Add("approval.auto_max_scale_percent", &b.auto_max_scale_percent,
        "ScaleWorkload/AdjustHPA percent above this needs a human", 0, 100000);
  s.Add("approval.auto_max_scale_delta", &b.auto_max_scale_delta,
        "ScaleWorkload.delta above this needs a human", 0, 100000);
  s.Add("approval.timeout", &b.approval_timeout, "how long a proposal waits for a human");
  s.AddEnum("approval.on_timeout", &on_timeout_, {"expire", "escalate"},
            "expire, or escalate once (then expire)");
  s.Add("approval.escalate_to", &b.escalate_to, "who an escalation names");
  auto limit = [&](const std::string& name, Limit* l, const std::string& what) {
    s.Add("rate_limits." + name + ".max", &l->max, "max approvals " + what + " per window (0 = off)",
          0, 1000000);
    s.Add("rate_limits." + name + ".window", &l->window, "window of rate_limits." + name);
  };
  limit("per_target", &b.per_target, "per target");
  limit("per_namespace", &b.per_namespace, "per namespace");
  limit("cluster", &b.cluster, "cluster-wide");
  limit("workload_budget", &b.workload_budget,
        "per workload before a human must approve (remediation budget)");
  s.Add("breaker.failure_ratio", &b.breaker.failure_ratio, "trip at this failed-outcome share");
  s.Add("breaker.min_samples", &b.breaker.min_samples, "outcomes needed before tripping", 1,
        1000000);
  s.Add("breaker.window", &b.breaker.window, "outcomes considered");
  s.Add("breaker.cooloff", &b.breaker.cooloff, "how long the breaker stays open");
  s.Add("breaker.half_open_probes", &b.breaker.half_open_probes,
        "automatic approvals let through after the cool-off", 1, 1000);
  s.Add("blast_radius.max_in_flight", &b.max_in_flight,
        "approved actions without outcome, cluster-wide (0 = off)", 0, 1000000);
  s.Add("blast_radius.in_flight_timeout", &b.in_flight_timeout,
        "an approval without outcome stops counting after this");
  s.Add("blast_radius.max_disrupted_share", &b.max_disrupted_share,
        "share of a workload's replicas disrupted at once (at least one pod)");
  s.Add("windows.freeze", &freeze_, "UTC windows with no automatic actions");
  s.Add("windows.risky_allowed", &risky_,
        "UTC windows in which confirm-level actions may be queued (empty = any time)");
}

absl::StatusOr<GateConfig> GateConfigKeys::Build() const {
  GateConfig c = base_;
  auto mode = GateMode("gate.mode", mode_);
  if (!mode.ok()) {
    return mode.status();
  }
  c.mode = *mode;
  if (c.own_namespace.empty()) {
    return Bad("gate.own_namespace", "must not be empty");
  }
  c.protected_namespaces = {namespaces_.begin(), namespaces_.end()};
  c.protected_namespaces.insert(c.own_namespace);
  c.protected_kinds = {kinds_.begin(), kinds_.end()};
  c.protected_labels = labels_;
  c.never_actions.clear();
  for (const auto& n : never_) {
    auto t = Action("never_allow", n);
    if (!t.ok()) {
      return t.status();
    }
    c.never_actions.insert(*t);
  }
  c.levels.clear();
  for (const auto& [name, level] : levels_) {
    auto t = Action("approval.levels." + name, name);
    if (!t.ok()) {
      return t.status();
    }
    Level l{};
    if (!ParseLevel(level, &l)) {
      return Bad("approval.levels." + name, "level \"" + level + "\" is not auto, confirm or never");
    }
    c.levels[*t] = l;
  }
  ParseLevel(default_level_, &c.default_level);
  if (namespace_levels_ && !namespace_levels_.IsNull()) {
    if (!namespace_levels_.IsMap()) {
      return Bad("approval.namespace_levels", "expected {namespace: {ActionType: level}}");
    }
    for (const auto& ns : namespace_levels_) {
      std::string nsname = ns.first.as<std::string>();
      std::string key = "approval.namespace_levels." + nsname;
      if (!ns.second.IsMap()) {
        return Bad(key, "expected {ActionType: level}");
      }
      for (const auto& kv : ns.second) {
        std::string an = kv.first.as<std::string>();
        auto t = Action(key + "." + an, an);
        if (!t.ok()) {
          return t.status();
        }
        Level l{};
        if (!kv.second.IsScalar() || !ParseLevel(kv.second.as<std::string>(), &l)) {
          return Bad(key + "." + an, "level must be auto, confirm or never");
        }
        c.namespace_levels[nsname][*t] = l;
      }
    }
  }
  if (c.breaker.failure_ratio <= 0 || c.breaker.failure_ratio > 1) {
    return Bad("breaker.failure_ratio", "must be in (0, 1]");
  }
  if (c.max_disrupted_share <= 0 || c.max_disrupted_share > 1) {
    return Bad("blast_radius.max_disrupted_share", "must be in (0, 1]");
  }
  for (const auto* l : {&c.per_target, &c.per_namespace, &c.cluster, &c.workload_budget}) {
    if (l->max > 0 && l->window.count() <= 0) {
      return Bad("rate_limits", "a limit with max > 0 needs a window > 0");
    }
  }
  if (c.breaker.window.count() <= 0 || c.breaker.cooloff.count() <= 0) {
    return Bad("breaker", "window and cooloff must be > 0");
  }
  if (c.approval_timeout.count() <= 0) {
    return Bad("approval.timeout", "must be > 0");
  }
  c.escalate_on_timeout = on_timeout_ == "escalate";
  auto windows = [](const std::string& key, const std::vector<std::string>& in,
                    std::vector<TimeWindow>* out) -> absl::Status {
    for (const auto& w : in) {
      auto p = ParseWindow(w);
      if (!p.ok()) {
        return Bad(key, std::string(p.status().message()));
      }
      out->push_back(*p);
    }
    return absl::OkStatus();
  };
  if (auto st = windows("windows.freeze", freeze_, &c.freeze_windows); !st.ok()) {
    return st;
  }
  if (auto st = windows("windows.risky_allowed", risky_, &c.risky_windows); !st.ok()) {
    return st;
  }
  return c;
}

}  // namespace kubemend::gate
