#include <absl/strings/numbers.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "gate.h"
#include "gate_detail.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/protection.h"

// The rules a proposal is decided by: its mode, its approval level, the hard
// refusals (protection, opt-outs, never-allowed actions) and the limits
// (rate, blast radius, budgets, circuit breaker). Decisions, approvals and the
// gate's state are in gate.cc.
namespace kubemend::gate {
using detail::Fact;
using detail::IsScaleDown;
using detail::IsScaleUp;
using detail::ModeRank;
using detail::NsOrCluster;
using detail::PodsAffected;

v1::Mode Gate::EffectiveMode(const v1::RemediationProposal& p) const {
  v1::Mode m = global_mode_;
  auto consider = [&](v1::Mode other) {
    if (ModeRank(other) > ModeRank(m)) {
      m = other;
    }
  };
  auto it = policy_modes_.find(p.policy().name());
  if (it != policy_modes_.end()) {
    consider(it->second);
  }
  consider(p.mode());
  return ModeRank(m) < 0 ? v1::MODE_AUTOMATIC : m;
}

Level Gate::LevelFor(const v1::Event& proposal) const {
  const v1::Action& a = proposal.proposal().action();
  auto it = cfg_.levels.find(a.type());
  Level l = it == cfg_.levels.end() ? cfg_.default_level : it->second;
  auto ns = cfg_.namespace_levels.find(proposal.target().namespace_());
  if (ns != cfg_.namespace_levels.end()) {
    auto o = ns->second.find(a.type());
    if (o != ns->second.end()) {
      l = o->second;
    }
  }
  if (l != Level::kAuto) {
    return l;
  }
  // "Auto within limits": large scaling steps and namespace-wide targets
  // need a human.
  if (proposal.target().kind() == "Namespace") {
    return Level::kConfirm;
  }
  if (a.type() == v1::ACTION_TYPE_SCALE_WORKLOAD &&
      (a.scale_workload().percent() > cfg_.auto_max_scale_percent ||
       a.scale_workload().delta() > cfg_.auto_max_scale_delta)) {
    return Level::kConfirm;
  }
  if (a.type() == v1::ACTION_TYPE_ADJUST_HPA &&
      a.adjust_hpa().percent() > cfg_.auto_max_scale_percent) {
    return Level::kConfirm;
  }
  // Capacity reductions: automatic only with a known replica count, at
  // least one replica left and a step within auto_max_scale_delta (the blast
  // radius then bounds the share removed). Lowering an HPA's ceiling always
  // asks a human.
  if (IsScaleDown(a)) {
    auto replicas = Fact(proposal.proposal(), "replicas");
    int64_t removed = -int64_t{a.scale_workload().delta()};
    if (!replicas || *replicas - removed < 1 || removed > cfg_.auto_max_scale_delta) {
      return Level::kConfirm;
    }
  }
  if (a.type() == v1::ACTION_TYPE_THROTTLE_SCALING) {
    return Level::kConfirm;
  }
  return l;
}

BreakerState Gate::BreakerAt(TimePoint t) const {
  if (!open_until_) {
    return BreakerState::kClosed;
  }
  return t < *open_until_ ? BreakerState::kOpen : BreakerState::kHalfOpen;
}

int64_t Gate::CountSince(Times& t, TimePoint since) const {
  while (!t.empty() && t.front() <= since) {
    t.pop_front();
  }
  return static_cast<int64_t>(t.size());
}

void Gate::PruneInFlight(TimePoint now) {
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.at <= now - cfg_.in_flight_timeout) {
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
}

bool Gate::HardRefusal(const v1::Event& proposal, Verdict* out) const {
  const v1::RemediationProposal& p = proposal.proposal();
  const v1::Target& t = proposal.target();
  const std::string& ns = t.namespace_();
  const std::string action = ActionTypeName(p.action().type());
  const std::string target = TargetString(t);
  Verdict& v = *out;
  auto reject = [&](std::string rule, std::string reason) {
    v.verdict = v1::VERDICT_REJECTED;
    v.rule = std::move(rule);
    v.reason = std::move(reason);
    return true;
  };
  // Protected targets: nothing overrides these.
  if (!ns.empty() && cfg_.protected_namespaces.count(ns)) {
    v.compared["namespace"] = ns;
    return reject("protected-namespace", "namespace " + ns + " is protected; kubemend never touches it");
  }
  if (t.kind() == "Namespace" && cfg_.protected_namespaces.count(t.name())) {
    v.compared["namespace"] = t.name();
    return reject("protected-namespace", "namespace " + t.name() + " is protected; kubemend never touches it");
  }
  for (const std::string* kind : {&t.kind(), &t.owner_kind()}) {
    if (!kind->empty() && cfg_.protected_kinds.count(*kind)) {
      v.compared["kind"] = *kind;
      return reject("protected-kind", "kind " + *kind + " is protected; kubemend never touches it");
    }
  }
  for (const auto& [key, want] : cfg_.protected_labels) {
    auto it = t.labels().find(key);
    if (it != t.labels().end() && (want == "*" || it->second == want)) {
      v.compared["label"] = key + "=" + it->second;
      return reject("protected-label", target + " carries the protecting label " + key + "=" +
                                           it->second + "; kubemend never touches it");
    }
  }
  // The opt-out, as the event carries it (the collector copies a pod's
  // kubemend.io/remediate annotation into the target's labels). The
  // executor checks it again on the live objects and their namespace.
  if (auto it = t.labels().find(kRemediateKey); it != t.labels().end() && IsOptOutValue(it->second)) {
    v.compared["label"] = std::string(kRemediateKey) + "=" + it->second;
    return reject("opted-out", target + " opted out of remediation (" + kRemediateKey + "=\"" + it->second + "\")");
  }
  // The namespace's opt-out, as the collector's facts cache saw the Namespace
  // (the analyzer passes it on as the proposal's `namespaceRemediate` fact).
  if (auto it = p.facts().find("namespaceRemediate"); it != p.facts().end() && IsOptOutValue(it->second)) {
    v.compared["namespace"] = std::string(kRemediateKey) + "=" + it->second;
    return reject("opted-out", "namespace " + ns + " opted out of remediation (" + kRemediateKey + "=\"" +
                                   it->second + "\")");
  }

  // Never-allowed actions.
  if (cfg_.never_actions.count(p.action().type())) {
    return reject("never-allowed-action",
                  action + " is never allowed; kubemend refuses it whatever the policy or adviser says");
  }
  Level level = LevelFor(proposal);
  v.compared["level"] = LevelName(level);
  if (level == Level::kNever) {
    return reject("approval-level", action + " is set to never in namespace " + NsOrCluster(ns));
  }

  return false;
}

Gate::Verdict Gate::Evaluate(const v1::Event& proposal, TimePoint now) {
  const v1::RemediationProposal& p = proposal.proposal();
  const v1::Target& t = proposal.target();
  const std::string& ns = t.namespace_();
  const std::string action = ActionTypeName(p.action().type());
  const std::string target = TargetString(t);
  Verdict v;
  v.compared["action"] = action;
  v.compared["target"] = target;
  auto decide = [&](v1::Verdict verdict, std::string rule, std::string reason) {
    v.verdict = verdict;
    v.rule = std::move(rule);
    v.reason = std::move(reason);
    return v;
  };
  auto reject = [&](std::string rule, std::string reason) {
    return decide(v1::VERDICT_REJECTED, std::move(rule), std::move(reason));
  };
  auto wait = [&](std::string rule, std::string reason) {
    return decide(v1::VERDICT_AWAITING_APPROVAL, std::move(rule), std::move(reason));
  };

  if (p.action().type() == v1::ACTION_TYPE_UNSPECIFIED) {
    return reject("invalid-proposal", "the proposal names no action type");
  }

  if (HardRefusal(proposal, &v)) {
    return v;
  }
  Level level = LevelFor(proposal);

  // Kill switch and modes.
  if (paused_) {
    v.compared["paused"] = "true";
    return reject("paused", "kubemend is paused (kill switch): every approval is withheld until Resume");
  }
  v1::Mode mode = EffectiveMode(p);
  v.compared["mode"] = ModeName(mode);
  if (mode == v1::MODE_MONITOR) {
    return reject("mode-monitor", "monitor mode: observed and recorded only, nothing executes");
  }

  // Cost and disruption facts.
  if (IsScaleUp(p.action()) && over_budget_.count(ns)) {
    v.compared["namespace"] = ns;
    v.compared["over_budget"] = "true";
    return reject("budget-guard", action + " scales up while namespace " + ns +
                                      " is over its cost budget (BudgetExceeded firing)");
  }
  if (p.action().type() == v1::ACTION_TYPE_DRAIN_NODE ||
      p.action().type() == v1::ACTION_TYPE_EVICT_LOW_PRIORITY_PODS) {
    auto allowed = Fact(p, "disruptionsAllowed");
    if (allowed && *allowed <= 0) {
      v.compared["disruptionsAllowed"] = std::to_string(*allowed);
      return reject("pdb", action + " on " + target +
                               " would violate a PodDisruptionBudget (disruptionsAllowed=" +
                               std::to_string(*allowed) + ")");
    }
  }

  // A human must look.
  if (p.requires_approval()) {
    return wait("requires-approval", "the policy " + p.policy().name() + " asks for a human");
  }
  if (p.escalation()) {
    return wait("escalation", "the proposal is an escalation (attempt " +
                                  std::to_string(p.attempt()) + "): a human must look");
  }
  if (mode == v1::MODE_MANUAL) {
    return wait("mode-manual", "manual mode: every action waits for a human");
  }
  if (level == Level::kConfirm) {
    if (mode == v1::MODE_LIMITED) {
      return reject("mode-limited", "limited mode: only auto-approvable actions run; " + action +
                                        " needs confirmation");
    }
    if (!cfg_.risky_windows.empty()) {
      bool inside = std::any_of(cfg_.risky_windows.begin(), cfg_.risky_windows.end(),
                                [&](const TimeWindow& w) { return w.Contains(now); });
      if (!inside) {
        v.compared["windows"] = std::to_string(cfg_.risky_windows.size());
        return reject("change-window", action + " is a risky action and now is outside every "
                                                "allowed window (windows.risky_allowed)");
      }
    }
    return wait("approval-level", action + " needs a human's confirmation" +
                                      (ns.empty() ? std::string() : " in namespace " + ns));
  }
  for (const auto& w : cfg_.freeze_windows) {
    if (w.Contains(now)) {
      v.compared["freeze"] = w.text;
      return wait("freeze-window", "freeze window \"" + w.text + "\" is active: no automatic actions");
    }
  }
  if (mode == v1::MODE_DRY_RUN) {
    v.dry_run = true;
    return decide(v1::VERDICT_APPROVED, "mode-dryrun", "dry-run mode: approved to run as a dry run only");
  }

  // Automation health and blast radius.
  BreakerState bs = BreakerAt(now);
  if (bs != BreakerState::kClosed) {
    PruneInFlight(now);
    int64_t outstanding = 0;
    for (const auto& id : probes_) {
      outstanding += in_flight_.count(id);
    }
    v.compared["breaker"] = BreakerStateName(bs);
    if (bs == BreakerState::kOpen) {
      return wait("circuit-breaker", "circuit breaker open after failed outcomes; automatic "
                                     "approvals resume after the cool-off (" +
                                         FormatDuration(cfg_.breaker.cooloff) + ")");
    }
    if (outstanding + probe_successes_ >= cfg_.breaker.half_open_probes) {
      v.compared["probes"] = std::to_string(outstanding + probe_successes_);
      return wait("circuit-breaker", "circuit breaker half-open: " +
                                         std::to_string(outstanding) + " probe(s) in flight, " +
                                         std::to_string(probe_successes_) + " succeeded, limit " +
                                         std::to_string(cfg_.breaker.half_open_probes));
    }
  }
  PruneInFlight(now);
  if (cfg_.max_in_flight > 0 && static_cast<int64_t>(in_flight_.size()) >= cfg_.max_in_flight) {
    v.compared["in_flight"] = std::to_string(in_flight_.size());
    v.compared["limit"] = std::to_string(cfg_.max_in_flight);
    return reject("blast-radius-in-flight",
                  std::to_string(in_flight_.size()) +
                      " actions in flight cluster-wide (approved, no outcome yet), limit " +
                      std::to_string(cfg_.max_in_flight));
  }
  std::string workload = WorkloadKey(t);
  if (int64_t pods = PodsAffected(p); pods > 0) {
    int64_t disrupted = 0;
    for (const auto& [id, f] : in_flight_) {
      if (f.workload == workload) {
        disrupted += f.pods;
      }
    }
    auto replicas = Fact(p, "replicas");
    int64_t limit = 1;
    if (replicas && *replicas > 0) {
      limit = std::max<int64_t>(
          1, static_cast<int64_t>(std::floor(cfg_.max_disrupted_share * static_cast<double>(*replicas))));
    }
    if (disrupted + pods > limit) {
      v.compared["disrupted"] = std::to_string(disrupted);
      v.compared["pods_affected"] = std::to_string(pods);
      v.compared["replicas"] = replicas ? std::to_string(*replicas) : "unknown";
      v.compared["limit"] = std::to_string(limit);
      return reject("blast-radius-disruption",
                    std::to_string(disrupted) + " pod(s) of " + workload + " already disrupted + " +
                        std::to_string(pods) + " > limit " + std::to_string(limit) + " (" +
                        std::to_string(static_cast<int>(cfg_.max_disrupted_share * 100)) +
                        "% of " + (replicas ? std::to_string(*replicas) : "unknown") + " replicas)");
    }
  }

  // Rate limits.
  // `times` is looked up only for a limit that is on, so that a limit that
  // is off creates no window entry per key.
  auto over = [&](const Limit& l, const std::function<Times&()>& times, const std::string& what,
                  const std::string& rule, bool hold) -> std::optional<Verdict> {
    if (l.max <= 0) {
      return std::nullopt;
    }
    int64_t n = CountSince(times(), now - l.window);
    if (n < l.max) {
      return std::nullopt;
    }
    v.compared["count"] = std::to_string(n);
    v.compared["limit"] = std::to_string(l.max);
    v.compared["window"] = FormatDuration(l.window);
    v.compared["key"] = what;
    std::string reason = std::to_string(n) + " actions on " + what + " in the last " +
                         FormatDuration(l.window) + ", limit " + std::to_string(l.max);
    return hold ? wait(rule, reason + ": held for a human") : reject(rule, reason);
  };
  if (auto r = over(cfg_.per_target, [&]() -> Times& { return by_target_[TargetKey(t)]; }, target, "rate-limit-target", false)) {
    return *r;
  }
  if (!ns.empty()) {
    if (auto r = over(cfg_.per_namespace, [&]() -> Times& { return by_namespace_[ns]; }, "namespace " + ns,
                      "rate-limit-namespace", false)) {
      return *r;
    }
  }
  if (auto r = over(cfg_.cluster, [&]() -> Times& { return cluster_; }, "the cluster", "rate-limit-cluster", false)) {
    return *r;
  }
  if (auto r = over(cfg_.workload_budget, [&]() -> Times& { return by_workload_[workload]; }, "workload " + workload,
                    "workload-budget", true)) {
    return *r;
  }
  return decide(v1::VERDICT_APPROVED, "all-rules-passed",
                action + " on " + target + " passed every rule (" + ModeName(mode) + " mode)");
}

}  // namespace kubemend::gate
