#include <absl/strings/numbers.h>

#include <algorithm>
#include <tuple>

#include "engine.h"
#include "engine_detail.h"

// The size caps of the two maps that hold limits: attempt counters (the loop
// breaker reads them) and cooldowns. Both fail closed. An entry is forgotten
// for room only once no limit reads it any more: attempts past the longest
// loop window of any policy (or the one their policy had, if longer),
// a cooldown past its policy's (or, for a policy no longer loaded, the
// longest). While every entry still counts, a proposal that needs a new one
// gets NoAction at_capacity with the time the first entry ends, and is
// retried then. Entries whose window is unknown (replayed from a log written
// before the engine recorded it) count for the whole state horizon.
namespace kubemend::analyzer {
using engine_detail::Ms;

namespace engine_detail {

Millis FactMillis(const v1::RemediationProposal& p, const std::string& key) {
  auto it = p.facts().find(key);
  int64_t ms = 0;
  if (it == p.facts().end() || !absl::SimpleAtoi(it->second, &ms) || ms < 0) {
    return Millis(-1);
  }
  return Millis(ms);
}

}  // namespace engine_detail

void Engine::NoteWindows() {
  max_loop_window_ = Millis(0);
  max_cooldown_ = Millis(0);
  cooldown_of_.clear();
  for (const auto& p : policies_->policies) {
    max_loop_window_ = std::max(max_loop_window_, p.loop_window);
    max_cooldown_ = std::max(max_cooldown_, p.cooldown);
    cooldown_of_[p.ref.name()] = p.cooldown;
  }
  // Windows may have grown or shrunk: the next full map is scanned again.
  attempts_room_at_ = TimePoint{};
  cooldowns_room_at_ = TimePoint{};
}

TimePoint Engine::AttemptsCountUntil(const std::deque<Attempt>& attempts) const {
  TimePoint until{};
  for (const auto& a : attempts) {
    Millis window = a.window.count() < 0 ? cfg_.state_horizon : std::max(a.window, max_loop_window_);
    until = std::max(until, a.at + window);
  }
  return until;
}

TimePoint Engine::CooldownRunsUntil(const std::string& key, const Cooldown& c) const {
  auto policy = cooldown_of_.find(key.substr(0, key.find('|')));
  Millis now_len = policy == cooldown_of_.end() ? max_cooldown_ : policy->second;
  Millis len = c.length.count() < 0 ? cfg_.state_horizon : std::max(c.length, now_len);
  return c.at + len;
}

namespace {

// Erases the entries of `m` that ended by `now` (until(entry) <= now), counts
// them in *forgotten, and sets *room_at to when the earliest one left ends.
template <typename Map, typename Until>
void ForgetEnded(Map& m, TimePoint now, Until until, TimePoint* room_at, uint64_t* forgotten) {
  TimePoint next = TimePoint::max();
  for (auto it = m.begin(); it != m.end();) {
    TimePoint u = until(it->first, it->second);
    if (u <= now) {
      it = m.erase(it);
      ++*forgotten;
    } else {
      next = std::min(next, u);
      ++it;
    }
  }
  *room_at = next;
}

}  // namespace

bool Engine::ForgetEndedAttempts(TimePoint now) {
  if (attempts_.size() < cfg_.max_attempt_keys) {
    return true;
  }
  if (now >= attempts_room_at_) {
    ForgetEnded(
        attempts_, now, [this](const std::string&, const std::deque<Attempt>& a) { return AttemptsCountUntil(a); },
        &attempts_room_at_, &n_attempt_keys_forgotten_);
  }
  return attempts_.size() < cfg_.max_attempt_keys;
}

bool Engine::ForgetEndedCooldowns(TimePoint now) {
  if (last_proposal_.size() < cfg_.max_cooldowns) {
    return true;
  }
  if (now >= cooldowns_room_at_) {
    ForgetEnded(
        last_proposal_, now,
        [this](const std::string& k, const Cooldown& c) { return CooldownRunsUntil(k, c); },
        &cooldowns_room_at_, &n_cooldowns_forgotten_);
  }
  return last_proposal_.size() < cfg_.max_cooldowns;
}

// An incident follows at most kMaxSignals distinct signals (each keeps its
// latest event): a subject whose alerts carry a label that changes with
// every firing would otherwise grow one incident without bound. Beyond it the
// least recently updated resolved signal is dropped first, then the least
// recently updated firing one (never `keep`, the one just received). That
// loosens no limit: cooldowns and attempts are kept per subject, and a
// dropped signal that fires again joins the subject's incident again.
void Engine::LimitSignals(Incident& inc, const std::string& keep) {
  while (inc.signals.size() > kMaxSignals) {
    auto victim = inc.signals.end();
    auto older = [](const SignalRef& a, const SignalRef& b) {
      return std::make_tuple(a.firing, FromTimestamp(a.last.recorded_at())) <
             std::make_tuple(b.firing, FromTimestamp(b.last.recorded_at()));
    };
    for (auto it = inc.signals.begin(); it != inc.signals.end(); ++it) {
      if (it->first != keep && (victim == inc.signals.end() || older(it->second, victim->second))) {
        victim = it;
      }
    }
    if (auto s = by_signal_.find(victim->first); s != by_signal_.end() && s->second == inc.id) {
      by_signal_.erase(s);
    }
    inc.signals.erase(victim);
  }
}

bool Engine::RoomToRemember(const Incident& inc, const Policy& pol, const std::string& attempt_key,
                            TimePoint now, Decision* d) {
  if (pol.mode == v1::MODE_MONITOR) {
    return true;  // proposes nothing, remembers nothing
  }
  auto refuse = [&](const std::string& key, size_t cap, TimePoint until, const std::string& what,
                    const std::string& loosened) {
    d->category = "at_capacity";
    d->until = until;
    d->reason = "policy " + pol.ref.name() + " on " + TargetString(inc.subject) + ": " + key + "=" +
                std::to_string(cap) + " " + what + " are remembered and every one still counts (the first ends in " +
                Ms(std::chrono::duration_cast<Millis>(until - now)) + ", at " + FormatRfc3339(until) +
                "); forgetting one could " + loosened + ", so nothing is proposed until then";
    return false;
  };
  if (!attempts_.count(attempt_key) && !ForgetEndedAttempts(now)) {
    ++n_attempt_keys_full_;
    return refuse("analyzer.max_attempt_keys", cfg_.max_attempt_keys, attempts_room_at_,
                  "attempt counters", "let a remediation be retried past its loop breaker");
  }
  if (!last_proposal_.count(pol.ref.name() + "|" + inc.key) && !ForgetEndedCooldowns(now)) {
    ++n_cooldowns_full_;
    return refuse("analyzer.max_cooldowns", cfg_.max_cooldowns, cooldowns_room_at_, "cooldowns",
                  "let a policy act again inside its cooldown");
  }
  return true;
}

}  // namespace kubemend::analyzer
