#include "gate.h"

#include <absl/strings/numbers.h>

#include <algorithm>
#include <cmath>

#include "kubemend/common/ids.h"
#include "kubemend/common/protection.h"

namespace kubemend::gate {
namespace {

// Higher = more restrictive; UNSPECIFIED has no say.
int ModeRank(v1::Mode m) {
  switch (m) {
    case v1::MODE_AUTOMATIC:
      return 0;
    case v1::MODE_LIMITED:
      return 1;
    case v1::MODE_MANUAL:
      return 2;
    case v1::MODE_DRY_RUN:
      return 3;
    case v1::MODE_MONITOR:
      return 4;
    default:
      return -1;
  }
}

bool IsScaleDown(const v1::Action& a) {
  return a.type() == v1::ACTION_TYPE_SCALE_WORKLOAD && a.scale_workload().delta() < 0;
}

// Capacity reductions count as disruptive: a scale-down removes pods, a
// throttle lowers an HPA's ceiling, evictions move pods.
bool IsDisruptive(const v1::Action& a) {
  if (IsScaleDown(a)) {
    return true;
  }
  switch (a.type()) {
    case v1::ACTION_TYPE_THROTTLE_SCALING:
    case v1::ACTION_TYPE_RESTART_POD:
    case v1::ACTION_TYPE_ROLLOUT_RESTART:
    case v1::ACTION_TYPE_INCREASE_MEMORY:
    case v1::ACTION_TYPE_ROLLBACK_IMAGE:
    case v1::ACTION_TYPE_EVICT_LOW_PRIORITY_PODS:
      return true;
    default:
      return false;
  }
}

bool IsScaleUp(const v1::Action& a) {
  if (a.type() == v1::ACTION_TYPE_ADJUST_HPA) {
    return true;
  }
  if (a.type() != v1::ACTION_TYPE_SCALE_WORKLOAD) {
    return false;
  }
  const auto& s = a.scale_workload();
  if (s.delta() != 0) {
    return s.delta() > 0;
  }
  return true;  // percent / min_step only ever grow
}

std::optional<int64_t> Fact(const v1::RemediationProposal& p, const std::string& key) {
  auto it = p.facts().find(key);
  int64_t v = 0;
  if (it == p.facts().end() || !absl::SimpleAtoi(it->second, &v)) {
    return std::nullopt;
  }
  return v;
}

int64_t PodsAffected(const v1::RemediationProposal& p) {
  if (!IsDisruptive(p.action())) {
    return 0;
  }
  if (IsScaleDown(p.action())) {
    return -int64_t{p.action().scale_workload().delta()};  // every removed pod
  }
  auto v = Fact(p, "pods_affected");
  return v && *v > 0 ? *v : 1;
}

std::string NsOrCluster(const std::string& ns) { return ns.empty() ? "(cluster-scoped)" : ns; }

}  // namespace

std::string BreakerStateName(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half-open";
  }
  return "closed";
}

std::string WorkloadKey(const v1::Target& t) {
  if (!t.owner_kind().empty() && !t.owner_name().empty()) {
    return t.namespace_() + "/" + t.owner_kind() + "/" + t.owner_name();
  }
  return t.namespace_() + "/" + t.kind() + "/" + t.name();
}

Gate::Gate(GateConfig cfg, ProducerIdentity who, const Clock& clock)
    : cfg_(std::move(cfg)), who_(std::move(who)), clock_(clock), global_mode_(cfg_.mode) {
  retention_ = std::max({Millis(60 * 60 * 1000), cfg_.per_target.window, cfg_.per_namespace.window,
                         cfg_.cluster.window, cfg_.workload_budget.window, cfg_.in_flight_timeout,
                         2 * cfg_.approval_timeout, cfg_.breaker.window + cfg_.breaker.cooloff});
}

// ------------------------------------------------------------ deciding

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
  auto over = [&](const Limit& l, Times& times, const std::string& what, const std::string& rule,
                  bool hold) -> std::optional<Verdict> {
    if (l.max <= 0) {
      return std::nullopt;
    }
    int64_t n = CountSince(times, now - l.window);
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
  if (auto r = over(cfg_.per_target, by_target_[TargetKey(t)], target, "rate-limit-target", false)) {
    return *r;
  }
  if (!ns.empty()) {
    if (auto r = over(cfg_.per_namespace, by_namespace_[ns], "namespace " + ns,
                      "rate-limit-namespace", false)) {
      return *r;
    }
  }
  if (auto r = over(cfg_.cluster, cluster_, "the cluster", "rate-limit-cluster", false)) {
    return *r;
  }
  if (auto r = over(cfg_.workload_budget, by_workload_[workload], "workload " + workload,
                    "workload-budget", true)) {
    return *r;
  }
  return decide(v1::VERDICT_APPROVED, "all-rules-passed",
                action + " on " + target + " passed every rule (" + ModeName(mode) + " mode)");
}

v1::Event Gate::BuildDecision(const v1::Event& cause, const std::string& purpose,
                              const v1::RemediationProposal& proposal, const Verdict& v,
                              const std::string& approver, TimePoint now) const {
  v1::Event d = NewCausedEvent(v1::EVENT_TYPE_DECISION, cause, purpose, who_, clock_);
  SetTimestamp(d.mutable_occurred_at(), now);
  SetTimestamp(d.mutable_recorded_at(), now);
  v1::SafetyDecision* dec = d.mutable_decision();
  dec->set_proposal_id(cause.event_id());
  *dec->mutable_proposal() = proposal;
  dec->set_verdict(v.verdict);
  dec->set_rule(v.rule);
  dec->set_reason(v.reason);
  for (const auto& [k, val] : v.compared) {
    (*dec->mutable_compared())[k] = val;
  }
  (*dec->mutable_compared())["policy"] = proposal.policy().name();
  dec->set_dry_run(v.verdict == v1::VERDICT_APPROVED && v.dry_run);
  dec->set_approver(approver);
  dec->set_action_id(DerivedUuid(cause.event_id(), "action"));
  if (v.verdict == v1::VERDICT_AWAITING_APPROVAL) {
    SetTimestamp(dec->mutable_expires_at(), now + cfg_.approval_timeout);
  }
  return d;
}

v1::Event Gate::Decide(const v1::Event& proposal) {
  TimePoint now = clock_.Now();
  Prune(now);
  auto p = pending_.find(proposal.event_id());
  if (p != pending_.end()) {
    return p->second.decision;
  }
  auto d = decided_.find(proposal.event_id());
  if (d != decided_.end()) {
    return d->second;
  }
  if (auto stale = StaleProposal(proposal, now)) {
    return *stale;
  }
  Verdict v = Evaluate(proposal, now);
  v1::Event out = BuildDecision(proposal, "decision", proposal.proposal(), v, kGateApprover, now);
  Observe(out);
  return out;
}

Millis Gate::MemoryHorizon() const {
  Millis h = retention_;
  if (cfg_.replay_lookback.count() > 0) {
    h = std::min(h, cfg_.replay_lookback);
  }
  return h;
}

// A proposal older than what the gate remembers may have been decided
// already (before a restart, or by another replica): deciding it again under
// the same event id could give another verdict, and the executor acts on any
// APPROVED copy. So it is never decided again: it gets a REJECTED decision of
// its own id ("decision-stale"), which no executor acts on, and the analyzer
// proposes afresh if the trouble persists.
std::optional<v1::Event> Gate::StaleProposal(const v1::Event& proposal, TimePoint now) const {
  const Millis margin(60 * 1000);  // clocks of the analyzer and the gate may differ a little
  TimePoint recorded = FromTimestamp(proposal.recorded_at());
  if (!proposal.has_recorded_at() || recorded >= now - MemoryHorizon() + margin) {
    return std::nullopt;
  }
  Verdict v;
  v.verdict = v1::VERDICT_REJECTED;
  v.rule = "stale_proposal";
  v.reason = "proposal recorded " +
             std::to_string(std::chrono::duration_cast<std::chrono::minutes>(now - recorded).count()) +
             " min ago is older than the gate's memory (" +
             std::to_string(std::chrono::duration_cast<std::chrono::minutes>(MemoryHorizon()).count()) +
             " min): it may have been decided before, so it is not decided again; a new proposal "
             "follows if the condition persists";
  v.compared["proposal_age_s"] =
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - recorded).count());
  v.compared["memory_s"] =
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(MemoryHorizon()).count());
  return BuildDecision(proposal, "decision-stale", proposal.proposal(), v,
                       kGateApprover, now);
}

// ------------------------------------------------------------ human answers and timeouts

namespace {
// The proposal event as far as NewCausedEvent needs it, from a decision on it.
v1::Event ProposalCause(const v1::Event& decision) {
  v1::Event cause;
  cause.set_event_id(decision.decision().proposal_id());
  cause.set_incident_id(decision.incident_id());
  *cause.mutable_target() = decision.target();
  *cause.mutable_trace() = decision.trace();
  return cause;
}
}  // namespace

absl::StatusOr<std::vector<v1::Event>> Gate::Resolve(const std::string& proposal_id, bool approve,
                                                     const std::string& who,
                                                     const std::string& reason,
                                                     const std::string& client_note) const {
  if (who.empty()) {
    return absl::InvalidArgumentError("who approves or denies must be named (issued_by)");
  }
  auto it = pending_.find(proposal_id);
  if (it == pending_.end()) {
    return absl::NotFoundError("no proposal " + proposal_id + " is waiting for approval");
  }
  TimePoint now = clock_.Now();
  const v1::Event& waiting = it->second.decision;
  const v1::RemediationProposal& p = waiting.decision().proposal();
  Verdict v;
  v.compared = {waiting.decision().compared().begin(), waiting.decision().compared().end()};
  v.compared["waited_for"] = waiting.decision().rule();
  if (approve) {
    v1::Event as_proposed = ProposalCause(waiting);
    *as_proposed.mutable_proposal() = p;
    Verdict hard;
    if (HardRefusal(as_proposed, &hard)) {
      return absl::FailedPreconditionError("cannot approve: " + hard.rule + ": " + hard.reason);
    }
    if (paused_) {
      return absl::FailedPreconditionError(
          "kubemend is paused: approvals are withheld until Resume (deny is still possible)");
    }
    v1::Mode mode = EffectiveMode(p);
    if (mode == v1::MODE_MONITOR) {
      return absl::FailedPreconditionError(
          "monitor mode: nothing executes; deny the proposal or change the mode first");
    }
    if (!cfg_.risky_windows.empty() && waiting.decision().compared().count("level") &&
        waiting.decision().compared().at("level") == "confirm" &&
        std::none_of(cfg_.risky_windows.begin(), cfg_.risky_windows.end(),
                     [&](const TimeWindow& w) { return w.Contains(now); })) {
      return absl::FailedPreconditionError(
          "outside every allowed window for risky actions (windows.risky_allowed)");
    }
    v.verdict = v1::VERDICT_APPROVED;
    v.rule = "human-approval";
    v.dry_run = mode == v1::MODE_DRY_RUN;
    v.compared["mode"] = ModeName(mode);
    v.reason = "approved by " + who + (reason.empty() ? "" : ": " + reason) + " (was waiting: " +
               waiting.decision().reason() + ")";
  } else {
    v.verdict = v1::VERDICT_REJECTED;
    v.rule = "human-denial";
    v.reason = "denied by " + who + (reason.empty() ? "" : ": " + reason);
  }
  v1::Event cause = ProposalCause(waiting);
  v1::Event control = NewCausedEvent(v1::EVENT_TYPE_CONTROL, cause, "approval-control", who_, clock_);
  v1::Control* c = control.mutable_control();
  c->set_issued_by(who);
  c->set_reason(reason);
  c->set_client_note(client_note);
  c->mutable_approval()->set_proposal_id(proposal_id);
  c->mutable_approval()->set_approve(approve);
  v1::Event decision = BuildDecision(cause, "resolution", p, v, who, now);
  return std::vector<v1::Event>{control, decision};
}

std::vector<v1::Event> Gate::DueTimeouts() const {
  std::vector<v1::Event> out;
  TimePoint now = clock_.Now();
  for (const auto& [deadline, id] : deadlines_) {
    if (deadline > now) {
      break;
    }
    const Pending& pend = pending_.at(id);
    const v1::Event& waiting = pend.decision;
    Verdict v;
    v.compared = {waiting.decision().compared().begin(), waiting.decision().compared().end()};
    v.compared["waited_for"] = waiting.decision().rule();
    v.compared["timeout"] = FormatDuration(cfg_.approval_timeout);
    v1::Event cause = ProposalCause(waiting);
    if (cfg_.escalate_on_timeout && !pend.escalated) {
      v.verdict = v1::VERDICT_AWAITING_APPROVAL;
      v.rule = "approval-timeout-escalated";
      v.compared["escalated"] = "true";
      v.compared["escalated_to"] = cfg_.escalate_to;
      v.reason = "no human answered within " + FormatDuration(cfg_.approval_timeout) +
                 "; escalated to " + cfg_.escalate_to + " (was waiting: " +
                 waiting.decision().reason() + ")";
      out.push_back(BuildDecision(cause, "escalation", waiting.decision().proposal(), v,
                                  kGateApprover, now));
    } else {
      v.verdict = v1::VERDICT_EXPIRED;
      v.rule = "approval-timeout";
      v.reason = "no human answered within " + FormatDuration(cfg_.approval_timeout) +
                 " (was waiting: " + waiting.decision().reason() + ")";
      out.push_back(BuildDecision(cause, "expiry", waiting.decision().proposal(), v, kGateApprover, now));
    }
  }
  return out;
}

absl::StatusOr<v1::Event> Gate::MakeControl(v1::Control control) const {
  if (control.issued_by().empty()) {
    return absl::InvalidArgumentError("who issues the command must be named (issued_by)");
  }
  if ((control.has_pause() && !control.pause().scope().empty()) ||
      (control.has_resume() && !control.resume().scope().empty())) {
    return absl::InvalidArgumentError("only cluster-wide pause/resume is supported (scope \"\")");
  }
  if (!control.has_pause() && !control.has_resume() && !control.has_set_mode()) {
    return absl::InvalidArgumentError("expected pause, resume or set_mode");
  }
  if (control.has_set_mode() && control.set_mode().scope().empty() &&
      control.set_mode().mode() == v1::MODE_UNSPECIFIED) {
    return absl::InvalidArgumentError("the global mode must be a mode (monitor, dryrun, limited, automatic, manual)");
  }
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_CONTROL, who_, clock_);
  *e.mutable_control() = std::move(control);
  return e;
}

std::vector<Pending> Gate::ListPending() const {
  std::vector<Pending> out;
  for (const auto& [id, p] : pending_) {
    out.push_back(p);
  }
  std::sort(out.begin(), out.end(),
            [](const Pending& a, const Pending& b) { return a.queued_at < b.queued_at; });
  return out;
}

// ------------------------------------------------------------ state from events

bool Gate::SeenBefore(const std::string& event_id, TimePoint at) {
  if (!seen_.emplace(event_id, at).second) {
    return true;
  }
  seen_order_.emplace_back(at, event_id);
  return false;
}

void Gate::Observe(const v1::Event& e) {
  if (e.payload_case() == v1::Event::kSignal) {
    // Every signal passes by; only BudgetExceeded matters and applying it
    // twice is harmless, so signals are not remembered for deduplication.
    ApplySignal(e);
    return;
  }
  if (e.payload_case() != v1::Event::kDecision && e.payload_case() != v1::Event::kOutcome &&
      e.payload_case() != v1::Event::kControl) {
    return;
  }
  Prune(clock_.Now());
  TimePoint at = FromTimestamp(e.occurred_at());
  if (SeenBefore(e.event_id(), at)) {
    return;
  }
  switch (e.payload_case()) {
    case v1::Event::kDecision:
      ApplyDecision(e);
      break;
    case v1::Event::kOutcome:
      ApplyOutcome(e);
      break;
    case v1::Event::kControl:
      ApplyControl(e);
      break;
    default:
      break;
  }
}

void Gate::ApplyDecision(const v1::Event& e) {
  const v1::SafetyDecision& d = e.decision();
  TimePoint at = FromTimestamp(e.occurred_at());
  const std::string& pid = d.proposal_id();
  auto prev = decided_.find(pid);
  bool latest = prev == decided_.end() || FromTimestamp(prev->second.occurred_at()) <= at;
  if (latest) {
    decided_[pid] = e;
    decided_order_.emplace_back(at, pid);
  }
  switch (d.verdict()) {
    case v1::VERDICT_AWAITING_APPROVAL: {
      if (!latest) {
        break;  // already answered
      }
      Pending& p = pending_[pid];
      if (p.decision.event_id().empty()) {
        p.queued_at = at;
      } else {
        deadlines_.erase({p.expires_at, pid});
      }
      p.decision = e;
      p.expires_at = FromTimestamp(d.expires_at());
      deadlines_.emplace(p.expires_at, pid);
      auto esc = d.compared().find("escalated");
      p.escalated = esc != d.compared().end() && esc->second == "true";
      break;
    }
    case v1::VERDICT_APPROVED: {
      if (latest) {
        ErasePending(pid);
      }
      if (d.dry_run()) {
        break;
      }
      auto insert = [at](Times& t) { t.insert(std::upper_bound(t.begin(), t.end(), at), at); };
      const v1::Target& t = e.target();
      insert(by_target_[TargetKey(t)]);
      if (!t.namespace_().empty()) {
        insert(by_namespace_[t.namespace_()]);
      }
      insert(by_workload_[WorkloadKey(t)]);
      insert(cluster_);
      if (!finished_actions_.count(d.action_id())) {
        in_flight_[d.action_id()] = InFlight{at, WorkloadKey(t), PodsAffected(d.proposal())};
        if (d.approver() == kGateApprover && BreakerAt(at) == BreakerState::kHalfOpen) {
          probes_.insert(d.action_id());
        }
      }
      break;
    }
    default:
      if (latest) {
        ErasePending(pid);
      }
      break;
  }
}

void Gate::ErasePending(const std::string& proposal_id) {
  auto it = pending_.find(proposal_id);
  if (it != pending_.end()) {
    deadlines_.erase({it->second.expires_at, proposal_id});
    pending_.erase(it);
  }
}

void Gate::ApplyOutcome(const v1::Event& e) {
  const v1::ActionOutcome& o = e.outcome();
  TimePoint at = FromTimestamp(e.occurred_at());
  in_flight_.erase(o.action_id());
  finished_actions_[o.action_id()] = at;
  bool failed = o.status() == v1::OUTCOME_STATUS_FAILED || o.status() == v1::OUTCOME_STATUS_NOT_FIXED;
  if (!failed && o.status() != v1::OUTCOME_STATUS_SUCCEEDED) {
    return;  // dry runs, duplicates, skips say nothing about automation health
  }
  switch (BreakerAt(at)) {
    case BreakerState::kOpen:
      return;
    case BreakerState::kHalfOpen:
      if (!probes_.count(o.action_id())) {
        return;
      }
      if (failed) {
        open_until_ = at + cfg_.breaker.cooloff;
        probes_.clear();
        probe_successes_ = 0;
      } else if (++probe_successes_ >= cfg_.breaker.half_open_probes) {
        open_until_.reset();
        probes_.clear();
        probe_successes_ = 0;
        samples_.clear();
      }
      return;
    case BreakerState::kClosed:
      break;
  }
  samples_.emplace_back(at, failed);
  while (!samples_.empty() && samples_.front().first <= at - cfg_.breaker.window) {
    samples_.pop_front();
  }
  int64_t n = static_cast<int64_t>(samples_.size());
  int64_t f = std::count_if(samples_.begin(), samples_.end(), [](const auto& s) { return s.second; });
  if (n >= cfg_.breaker.min_samples &&
      static_cast<double>(f) >= cfg_.breaker.failure_ratio * static_cast<double>(n)) {
    open_until_ = at + cfg_.breaker.cooloff;
    samples_.clear();
    probes_.clear();
    probe_successes_ = 0;
  }
}

void Gate::ApplyControl(const v1::Event& e) {
  const v1::Control& c = e.control();
  if (c.has_pause() && c.pause().scope().empty()) {
    paused_ = true;
  } else if (c.has_resume() && c.resume().scope().empty()) {
    paused_ = false;
  } else if (c.has_set_mode()) {
    const auto& sm = c.set_mode();
    if (sm.scope().empty()) {
      global_mode_ = sm.mode() == v1::MODE_UNSPECIFIED ? cfg_.mode : sm.mode();
    } else if (sm.mode() == v1::MODE_UNSPECIFIED) {
      policy_modes_.erase(sm.scope());
    } else {
      policy_modes_[sm.scope()] = sm.mode();
    }
  }
}

void Gate::ApplySignal(const v1::Event& e) {
  const v1::Signal& s = e.signal();
  if (s.source() != v1::SIGNAL_SOURCE_COST || s.name() != "BudgetExceeded") {
    return;
  }
  std::string ns = e.target().namespace_();
  if (ns.empty()) {
    auto it = s.labels().find("namespace");
    ns = it == s.labels().end() ? "" : it->second;
  }
  if (ns.empty()) {
    return;
  }
  if (s.status() == v1::SIGNAL_STATUS_FIRING) {
    over_budget_[ns] = FromTimestamp(e.occurred_at());
  } else if (s.status() == v1::SIGNAL_STATUS_RESOLVED) {
    over_budget_.erase(ns);
  }
}

void Gate::Prune(TimePoint now) {
  TimePoint horizon = now - retention_;
  while (!seen_order_.empty() && seen_order_.front().first <= horizon) {
    seen_.erase(seen_order_.front().second);
    seen_order_.pop_front();
  }
  while (!decided_order_.empty() && decided_order_.front().first <= horizon) {
    auto it = decided_.find(decided_order_.front().second);
    if (it != decided_.end() && FromTimestamp(it->second.occurred_at()) <= horizon &&
        !pending_.count(it->first)) {
      decided_.erase(it);
    }
    decided_order_.pop_front();
  }
  if (++ops_ % 1024 != 0) {
    return;
  }
  auto sweep = [&](std::unordered_map<std::string, Times>& m, Millis window) {
    for (auto it = m.begin(); it != m.end();) {
      CountSince(it->second, now - window);
      it = it->second.empty() ? m.erase(it) : std::next(it);
    }
  };
  sweep(by_target_, cfg_.per_target.window);
  sweep(by_namespace_, cfg_.per_namespace.window);
  sweep(by_workload_, cfg_.workload_budget.window);
  CountSince(cluster_, now - cfg_.cluster.window);
  PruneInFlight(now);
  for (auto it = finished_actions_.begin(); it != finished_actions_.end();) {
    it = it->second <= now - cfg_.in_flight_timeout ? finished_actions_.erase(it) : std::next(it);
  }
}

}  // namespace kubemend::gate
