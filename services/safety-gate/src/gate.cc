#include "gate.h"

#include <absl/strings/numbers.h>

#include <algorithm>
#include <cmath>

#include "gate_detail.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/protection.h"

namespace kubemend::gate {
using detail::PodsAffected;

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
    v1::Event earlier;
    earlier.ParseFromString(d->second.decision);  // serialized by ApplyDecision: cannot fail
    return earlier;
  }
  if (auto stale = StaleProposal(proposal, now)) {
    return *stale;
  }
  Verdict v = Evaluate(proposal, now);
  if (v.verdict == v1::VERDICT_AWAITING_APPROVAL && pending_.size() >= static_cast<size_t>(cfg_.max_pending)) {
    RefuseForFullQueue(pending_.size(), &v);
  }
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
  // A decision is made after its proposal was recorded: a proposal recorded
  // after the newest decision forgotten for size (plus the margin) cannot
  // have lost its decision.
  bool forgotten = proposal.has_recorded_at() && forgotten_until_ && recorded < *forgotten_until_ + margin;
  if (!proposal.has_recorded_at() || (recorded >= now - MemoryHorizon() + margin && !forgotten)) {
    return std::nullopt;
  }
  Verdict v;
  v.verdict = v1::VERDICT_REJECTED;
  v.rule = "stale_proposal";
  v.reason = "proposal recorded " +
             std::to_string(std::chrono::duration_cast<std::chrono::minutes>(now - recorded).count()) +
             " min ago is older than the gate's memory (" +
             (forgotten ? "the last gate.state.max_decisions=" + std::to_string(cfg_.max_remembered_decisions) +
                              " decisions"
                        : std::to_string(std::chrono::duration_cast<std::chrono::minutes>(MemoryHorizon()).count()) +
                              " min") +
             "): it may have been decided before, so it is not decided again; a new proposal "
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

// The approval queue is bounded, and a human's question is never dropped
// silently: what does not fit is answered EXPIRED with the bound in the
// reason, which the trail keeps and the notifier sends on.
void Gate::RefuseForFullQueue(size_t waiting, Verdict* v) const {
  v->compared["waited_for"] = v->rule;
  v->compared["pending"] = std::to_string(waiting);
  v->compared["max_pending"] = std::to_string(cfg_.max_pending);
  v->reason = "needs a human (" + v->rule + ": " + v->reason + "), but " + std::to_string(waiting) +
              " proposals already wait for one and gate.state.max_pending=" +
              std::to_string(cfg_.max_pending) +
              ": not queued, it will not run; answer the waiting ones (kubemendctl pending list), "
              "and a new proposal follows if the condition persists";
  v->verdict = v1::VERDICT_EXPIRED;
  v->rule = "approval-queue-full";
}

// A queue over its bound (read back from a log written under a larger
// bound, or filled by two replicas at once): its newest entries, those the
// bound would have refused, are expired; none whose deadline already passed
// (DueTimeouts answers those).
void Gate::ExpireQueueOverflow(TimePoint now, std::vector<v1::Event>* out) const {
  const auto cap = static_cast<size_t>(cfg_.max_pending);
  if (pending_.size() <= cap) {
    return;
  }
  std::vector<const Pending*> newest;
  for (const auto& [id, p] : pending_) {
    newest.push_back(&p);
  }
  std::sort(newest.begin(), newest.end(),
            [](const Pending* a, const Pending* b) { return a->queued_at > b->queued_at; });
  for (size_t i = 0; i < pending_.size() - cap; ++i) {
    const v1::Event& waiting = newest[i]->decision;
    if (newest[i]->expires_at <= now) {
      continue;
    }
    Verdict v;
    v.compared = {waiting.decision().compared().begin(), waiting.decision().compared().end()};
    v.rule = waiting.decision().rule();
    v.reason = waiting.decision().reason();
    RefuseForFullQueue(pending_.size(), &v);
    out->push_back(BuildDecision(ProposalCause(waiting), "queue-full", waiting.decision().proposal(), v,
                                 kGateApprover, now));
  }
}

std::vector<v1::Event> Gate::DueTimeouts() const {
  std::vector<v1::Event> out;
  TimePoint now = clock_.Now();
  ExpireQueueOverflow(now, &out);
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
  while (seen_order_.size() > static_cast<size_t>(cfg_.max_seen_events)) {
    seen_.erase(seen_order_.front().second);
    seen_order_.pop_front();
  }
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
  bool latest = prev == decided_.end() || prev->second.at <= at;
  if (latest) {
    Remembered& r = decided_[pid];
    r.at = at;
    e.SerializeToString(&r.decision);
    decided_order_.emplace_back(at, pid);
    ForgetOverflow();
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
      // Counted only for the limits that are on: a window of a limit that is
      // off would grow with every approval and never be read. With a limit
      // on, its window holds at most about `max` approvals per key.
      auto insert = [at](Times& t) { t.insert(std::upper_bound(t.begin(), t.end(), at), at); };
      const v1::Target& t = e.target();
      if (cfg_.per_target.max > 0) {
        insert(by_target_[TargetKey(t)]);
      }
      if (cfg_.per_namespace.max > 0 && !t.namespace_().empty()) {
        insert(by_namespace_[t.namespace_()]);
      }
      if (cfg_.workload_budget.max > 0) {
        insert(by_workload_[WorkloadKey(t)]);
      }
      if (cfg_.cluster.max > 0) {
        insert(cluster_);
      }
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
  // Bounded by time (in_flight_timeout) and by gate.state.max_seen_events,
  // the same dedup purpose: an APPROVED decision applied after its outcome
  // was forgotten counts as in flight again until in_flight_timeout, which
  // only makes the blast-radius limits stricter.
  if (finished_actions_.insert_or_assign(o.action_id(), at).second) {
    finished_order_.push_back(o.action_id());
    if (finished_order_.size() > static_cast<size_t>(cfg_.max_seen_events)) {
      finished_actions_.erase(finished_order_.front());
      finished_order_.pop_front();
    }
  }
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
        RecordOpening(e, at, 0, 0);
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
    RecordOpening(e, at, f, n);
    open_until_ = at + cfg_.breaker.cooloff;
    samples_.clear();
    probes_.clear();
    probe_successes_ = 0;
  }
}

void Gate::RecordOpening(const v1::Event& outcome, TimePoint at, int64_t failures,
                         int64_t samples) {
  opening_ = Opening{outcome, at, failures, samples};
}

std::optional<v1::Event> Gate::DueBreakerAnnouncement() const {
  if (!opening_ || BreakerAt(clock_.Now()) != BreakerState::kOpen ||
      std::find(announced_.begin(), announced_.end(), opening_->outcome.event_id()) !=
          announced_.end()) {
    return std::nullopt;
  }
  const Opening& o = *opening_;
  v1::Event e = NewCausedEvent(v1::EVENT_TYPE_CONTROL, o.outcome, "breaker-opened", who_, clock_);
  e.clear_target();  // cluster-wide: the breaker holds every automatic approval
  SetTimestamp(e.mutable_occurred_at(), o.at);
  v1::Control* c = e.mutable_control();
  c->set_issued_by(kGateApprover);
  v1::BreakerOpened* b = c->mutable_breaker_opened();
  b->set_tripped_by_outcome_id(o.outcome.event_id());
  b->set_failures(static_cast<uint32_t>(o.failures));
  b->set_samples(static_cast<uint32_t>(o.samples));
  SetTimestamp(b->mutable_until(), o.at + cfg_.breaker.cooloff);
  std::string why =
      o.samples > 0
          ? std::to_string(o.failures) + " of the last " + std::to_string(o.samples) +
                " outcomes in " + FormatDuration(cfg_.breaker.window) + " failed (trips at " +
                std::to_string(static_cast<int>(cfg_.breaker.failure_ratio * 100 + 0.5)) + "% of at least " +
                std::to_string(cfg_.breaker.min_samples) + ")"
          : "a half-open probe failed (" + ActionTypeName(o.outcome.outcome().action().type()) + " on " +
                TargetString(o.outcome.target()) + ")";
  std::string text = "circuit breaker opened: " + why + "; automatic approvals are held for " +
                     FormatDuration(cfg_.breaker.cooloff) + ", a human can still approve";
  b->set_reason(text);
  c->set_reason(text);
  return e;
}

void Gate::ApplyControl(const v1::Event& e) {
  const v1::Control& c = e.control();
  if (c.has_breaker_opened()) {
    announced_.push_back(c.breaker_opened().tripped_by_outcome_id());
    if (announced_.size() > 64) {  // only the latest opening matters; openings are minutes apart
      announced_.pop_front();
    }
    return;
  }
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

bool Gate::Observes(const v1::Event& e) {
  switch (e.payload_case()) {
    case v1::Event::kSignal:
      return e.signal().source() == v1::SIGNAL_SOURCE_COST && e.signal().name() == "BudgetExceeded";
    case v1::Event::kDecision:
    case v1::Event::kOutcome:
    case v1::Event::kControl:
      return true;
    default:
      return false;
  }
}

void Gate::ApplySignal(const v1::Event& e) {
  if (!Observes(e)) {
    return;
  }
  const v1::Signal& s = e.signal();
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

// Beyond max_remembered_decisions the oldest decisions are forgotten (a
// pending one stays: it is bounded by the humans' queue, and Resolve needs
// it). An order entry whose decision was re-recorded later is just dropped.
void Gate::ForgetOverflow() {
  while (decided_.size() > static_cast<size_t>(cfg_.max_remembered_decisions) &&
         !decided_order_.empty()) {
    auto [at, pid] = decided_order_.front();
    decided_order_.pop_front();
    auto it = decided_.find(pid);
    if (it == decided_.end() || it->second.at != at || pending_.count(pid)) {
      continue;
    }
    decided_.erase(it);
    if (!forgotten_until_ || *forgotten_until_ < at) {
      forgotten_until_ = at;
    }
  }
}

std::map<std::string, size_t> Gate::StateSizes() const {
  return {{"decisions", decided_.size()},
          {"decision_order", decided_order_.size()},
          {"seen_events", seen_.size()},
          {"pending", pending_.size()},
          {"pending_deadlines", deadlines_.size()},
          {"in_flight", in_flight_.size()},
          {"finished_actions", finished_actions_.size()},
          {"rate_targets", by_target_.size()},
          {"rate_namespaces", by_namespace_.size()},
          {"rate_workloads", by_workload_.size()},
          {"breaker_samples", samples_.size()}};
}

void Gate::Prune(TimePoint now) {
  TimePoint horizon = now - retention_;
  while (!seen_order_.empty() && seen_order_.front().first <= horizon) {
    seen_.erase(seen_order_.front().second);
    seen_order_.pop_front();
  }
  while (!decided_order_.empty() && decided_order_.front().first <= horizon) {
    auto it = decided_.find(decided_order_.front().second);
    if (it != decided_.end() && it->second.at <= horizon &&
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
