#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "engine.h"
#include "engine_detail.h"
#include "kubemend/common/ids.h"

// The engine's proposal steps: match the best policy, choose the step, check
// the budget, build the remedy (or the escalation), take the adviser's
// advice, and fill in the facts the gate decides on. Incidents, outcomes and
// the timer are in engine.cc.
namespace kubemend::analyzer {
using engine_detail::IsWorkloadKind;
using engine_detail::Ms;
using engine_detail::NodeTarget;

namespace {

bool ResolveTarget(const PolicyAction& a, v1::ActionType type, const Policy& pol,
                   const v1::Target& subject, const v1::Event& signal, v1::Target* out,
                   std::string* why) {
  const ActionSpec* spec = FindAction(type);
  ActOn on = a.on ? *a.on : (spec ? spec->default_on : ActOn::kSelf);
  if (pol.fixed_target && (on == ActOn::kSelf || on == ActOn::kOwner || on == ActOn::kHpa)) {
    *out = *pol.fixed_target;
    if (out->cluster().empty()) {
      out->set_cluster(subject.cluster());
    }
    return true;
  }
  const v1::Target& st = signal.target();
  switch (on) {
    case ActOn::kSelf:
      *out = subject;
      return true;
    case ActOn::kPod:
      if (st.kind() == "Pod") {
        *out = st;
        return true;
      }
      *why = ActionTypeName(type) + " needs a pod, and the signal is about " + TargetString(st);
      return false;
    case ActOn::kOwner:
      if (IsWorkloadKind(subject.kind())) {
        *out = subject;
        return true;
      }
      if (!st.owner_kind().empty()) {
        *out = SubjectOf(signal);
        return true;
      }
      *why = ActionTypeName(type) + " needs a workload, and " + TargetString(subject) +
             " has no known owner";
      return false;
    case ActOn::kNode: {
      if (subject.kind() == "Node") {
        *out = subject;
        return true;
      }
      std::string node = NodeOf(signal);
      if (node.empty()) {
        *why = ActionTypeName(type) + " needs a node, and the signal names none";
        return false;
      }
      *out = NodeTarget(subject.cluster(), node);
      return true;
    }
    case ActOn::kHpa: {
      v1::Target w = IsWorkloadKind(subject.kind()) ? subject : SubjectOf(signal);
      if (!IsWorkloadKind(w.kind())) {
        *why = "AdjustHPA needs a workload (its HPA is assumed to share its name)";
        return false;
      }
      *out = w;
      out->set_kind("HorizontalPodAutoscaler");
      out->clear_labels();
      return true;
    }
  }
  return false;
}

// The container a per-container action (IncreaseMemory, RollbackImage) on a
// workload is about: the signal's own container, else the facts' (the one
// that was OOM-killed or restarts most), when the signal is about that
// workload or one of its pods. Empty lets the executor take the first.
std::string ContainerFor(const v1::Event& signal, const v1::Target& target) {
  const v1::Target& st = signal.target();
  const auto& facts = signal.signal().facts();
  bool same = (st.kind() == target.kind() && st.name() == target.name()) ||
              (st.owner_kind() == target.kind() && st.owner_name() == target.name());
  if (!same || st.namespace_() != target.namespace_()) {
    return "";
  }
  if (!st.container().empty()) {
    return st.container();
  }
  auto it = facts.find("container");
  return it == facts.end() ? "" : it->second;
}

// PredictiveScale: the replicas needed for the forecast peak at today's load
// per replica are replicas × peak / current.
// - With the workload's current replicas on the signal (fact `replicas`,
//   Evaluator::AddReplicaFacts), the step is counted in replicas: at least
//   current + 1, at most the policy's maxReplicas; at maxReplicas already,
//   there is nothing to propose (`at_limit`).
// - Without it, the step is the percent ceil((peak / current − 1) × 100),
//   within the catalogue's 1..300 (the executor rounds up, adds at least
//   one and caps at maxReplicas).
// "" when the signal lacks the forecast numbers (thresholdPercent stands).
struct ForecastSizing {
  std::string text;
  bool at_limit = false;
};

ForecastSizing SizeFromForecast(const v1::Event& signal, v1::Action* action) {
  ForecastSizing out;
  const auto& ann = signal.signal().annotations();
  auto peak_it = ann.find("forecast_peak");
  auto cur_it = ann.find("current");
  if (peak_it == ann.end() || cur_it == ann.end()) {
    return out;
  }
  char* end = nullptr;
  double peak = std::strtod(peak_it->second.c_str(), &end);
  double current = std::strtod(cur_it->second.c_str(), &end);
  if (!(current > 0) || !(peak > current) || !std::isfinite(peak)) {
    return out;
  }
  auto* sw = action->mutable_scale_workload();
  char buf[400];
  const auto& facts = signal.signal().facts();
  int64_t replicas = 0;
  if (auto r = facts.find("replicas"); r != facts.end()) {
    replicas = std::strtoll(r->second.c_str(), &end, 10);
    replicas = *end == '\0' && replicas > 0 && replicas < 100000 ? replicas : 0;
  }
  if (replicas > 0) {
    const double exact = static_cast<double>(replicas) * peak / current;
    const int64_t needed = static_cast<int64_t>(std::ceil(exact - 1e-9));
    int64_t want = std::max(needed, replicas + 1);
    const int64_t cap = sw->max_replicas();
    std::string bound = want > needed ? ", at least current+1" : "";
    if (cap > 0 && replicas >= cap) {
      std::snprintf(buf, sizeof buf, "the forecast peak %.6g vs %.6g now needs %lld replicas, but %s already runs %lld of its maxReplicas %lld",
                    peak, current, static_cast<long long>(std::max(needed, replicas)),
                    TargetString(signal.target()).c_str(), static_cast<long long>(replicas), static_cast<long long>(cap));
      out.text = buf;
      out.at_limit = true;
      return out;
    }
    if (cap > 0 && want > cap) {
      want = cap;
      bound = ", capped at maxReplicas " + std::to_string(cap);
    }
    sw->set_delta(static_cast<int32_t>(want - replicas));
    sw->set_percent(0);
    std::snprintf(buf, sizeof buf,
                  "sized from the forecast: peak %.6g vs %.6g now needs %.4gx today's %lld replicas = %.4g: %lld -> %lld replicas (%+lld%s)",
                  peak, current, peak / current, static_cast<long long>(replicas), exact,
                  static_cast<long long>(replicas), static_cast<long long>(want),
                  static_cast<long long>(want - replicas), bound.c_str());
    out.text = buf;
    return out;
  }
  double exact = (peak / current - 1) * 100;
  uint32_t percent = static_cast<uint32_t>(std::clamp(std::ceil(exact - 1e-9), 1.0, 300.0));
  sw->set_percent(percent);
  sw->set_delta(0);
  std::snprintf(buf, sizeof buf,
                "sized from the forecast: peak %.6g vs %.6g now needs %.4gx today's replicas: +%u%%%s (current replica count unknown)",
                peak, current, peak / current, percent, exact > 300 ? " (clamped to the catalogue's 300%)" : "");
  out.text = buf;
  return out;
}

}  // namespace

// Step 1: diagnosis before remedy. Of the policies whose selector and a
// trigger match, the one with the most fact conditions (the most specific
// diagnosis) wins; among equals, the first in priority order.
const Policy* Engine::MatchBest(const v1::Event& signal, TimePoint now, MatchResult* m) const {
  int64_t now_ms = ToUnixMillis(now);
  const Policy* best = nullptr;
  std::vector<std::pair<std::string, size_t>> others;
  for (const auto& p : policies_->policies) {
    MatchResult r = MatchPolicy(p, signal, now_ms, /*explain=*/false);
    if (!r.matched) {
      continue;
    }
    if (!best || r.specificity > m->specificity) {
      if (best) {
        others.emplace_back(best->ref.name(), m->specificity);
      }
      best = &p;
      *m = r;
    } else {
      others.emplace_back(p.ref.name(), r.specificity);
    }
  }
  for (const auto& [name, specificity] : others) {
    if (specificity < m->specificity) {
      m->outranked.push_back(name);
    }
  }
  return best;
}

// Step 2, loop breaking: the first action not yet exhausted on this subject.
Engine::StepChoice Engine::ChooseStep(const Incident& inc, const Policy& pol, TimePoint now) {
  StepChoice c;
  for (const auto& a : pol.actions) {
    std::string key = inc.key + "|" + ActionTypeName(a.action.type());
    size_t n = CountAttempts(key, pol.loop_window, now);
    if (n >= pol.loop_max_attempts) {
      c.exhausted += (c.exhausted.empty() ? "" : ", ") + ActionTypeName(a.action.type()) +
                     " tried " + std::to_string(n) + "x";
      continue;
    }
    if (!c.step) {
      c.step = &a;
      c.attempts = n;
      c.attempt_key = key;
    }
    c.still_allowed.push_back(a.action.type());
  }
  return c;
}

// Step 3a: every action exhausted: one escalation to a human (never twice).
bool Engine::BuildEscalation(const Incident& inc, const Policy& pol, const v1::Event& cause,
                             StepChoice* c, v1::Event* p, Decision* d) {
  if (inc.escalated) {
    d->category = "loop_breaker";
    d->reason = "loop breaker: every action of " + pol.ref.name() + " exhausted (" + c->exhausted +
                "); already escalated to a human";
    return false;
  }
  *p = NewCausedEvent(v1::EVENT_TYPE_PROPOSAL, cause, "escalation", who_, clock_);
  v1::RemediationProposal* prop = p->mutable_proposal();
  *p->mutable_target() = inc.subject;
  std::string msg = "kubemend stopped remediating " + TargetString(inc.subject) + " (incident " +
                    inc.id + "): " + c->exhausted + " within " + Ms(pol.loop_window) +
                    " without a lasting fix; a human must look";
  FillAction(v1::ACTION_TYPE_NOTIFY, {{"channel", pol.escalation_channel}, {"message", msg}},
             prop->mutable_action())
      .IgnoreError();
  prop->set_escalation(true);
  prop->set_requires_approval(true);
  prop->set_reason("loop breaker: " + msg);
  c->attempt_key = inc.key + "|escalation";
  return true;
}

// Step 3b: cooldown and hourly budget (remediations only, not escalation).
bool Engine::WithinBudget(const Incident& inc, const Policy& pol, TimePoint now, Decision* d) {
  std::string ck = pol.ref.name() + "|" + inc.key;
  if (auto it = last_proposal_.find(ck);
      it != last_proposal_.end() && now - it->second.at < pol.cooldown) {
    auto left = std::chrono::duration_cast<Millis>(pol.cooldown - (now - it->second.at));
    d->category = "cooldown";
    d->until = it->second.at + pol.cooldown;
    d->reason = "policy " + pol.ref.name() + " cooling down on " + TargetString(inc.subject) +
                " for " + Ms(left) + " more (until " + FormatRfc3339(d->until) + ")";
    return false;
  }
  auto& hour = per_hour_[pol.ref.name()];
  while (!hour.empty() && now - hour.front() >= std::chrono::hours(1)) {
    hour.pop_front();
  }
  if (hour.size() >= pol.max_actions_per_hour) {
    d->category = "budget";
    d->reason = "policy " + pol.ref.name() + " reached maxActionsPerHour " +
                std::to_string(pol.max_actions_per_hour);
    return false;
  }
  return true;
}

// Step 3c: the remedy: the chosen action on its resolved target.
bool Engine::BuildRemedy(const Incident& inc, const Policy& pol, const MatchResult& m,
                         const v1::Event& cause, const v1::Event& signal, TimePoint now,
                         StepChoice* c, v1::Event* p, Decision* d) {
  v1::Action action = c->step->action;
  v1::Target target;
  std::string why;
  if (!ResolveTarget(*c->step, action.type(), pol, inc.subject, signal, &target, &why)) {
    d->category = "no_target";
    d->reason = "policy " + pol.ref.name() + ": " + why;
    return false;
  }
  const auto& facts = signal.signal().facts();
  if ((action.type() == v1::ACTION_TYPE_INCREASE_MEMORY || action.type() == v1::ACTION_TYPE_ROLLBACK_IMAGE) &&
      IsWorkloadKind(target.kind()) && target.container().empty()) {
    target.set_container(ContainerFor(signal, target));
  }
  if (action.type() == v1::ACTION_TYPE_ROLLBACK_IMAGE && action.rollback_image().to_image().empty()) {
    // Back to the image the rollout replaced, from the cluster's facts.
    if (auto prev = facts.find("previousImage"); prev != facts.end()) {
      action.mutable_rollback_image()->set_to_image(prev->second);
    }
  }
  std::string sizing;
  if (pol.forecast_sizing && action.type() == v1::ACTION_TYPE_SCALE_WORKLOAD) {
    ForecastSizing fs = SizeFromForecast(signal, &action);
    if (fs.at_limit) {
      d->category = "at_limit";
      d->reason = "policy " + pol.ref.name() + ": " + fs.text;
      return false;
    }
    sizing = fs.text;
  }
  *p = NewCausedEvent(v1::EVENT_TYPE_PROPOSAL, cause, "proposal", who_, clock_);
  v1::RemediationProposal* prop = p->mutable_proposal();
  std::string diagnosis;
  if (!m.diagnosis.empty()) {
    diagnosis = " (diagnosis: " + m.diagnosis + ")";
  }
  for (size_t i = 0; i < m.outranked.size(); ++i) {
    diagnosis += (i == 0 ? "; more specific than " : ", ") + m.outranked[i];
  }
  std::string reason = "policy " + pol.ref.name() + " " + m.reason + " on " +
                       signal.signal().name() + diagnosis + ": " + ActionTypeName(action.type()) +
                       " on " + TargetString(target) + " (attempt " +
                       std::to_string(c->attempts + 1) + " of " +
                       std::to_string(pol.loop_max_attempts) + ")";
  if (!sizing.empty()) {
    reason += "; " + sizing;
  }
  // Monitor mode proposes nothing, so there is nothing to advise on: no
  // adviser call (an LLM round trip per signal for a proposal never made).
  if (pol.advice && adviser_ && pol.mode != v1::MODE_MONITOR) {
    ApplyAdvice(inc, pol, signal, now, c, &action, &target, &reason, prop);
  }
  *prop->mutable_action() = action;
  *p->mutable_target() = target;
  prop->set_reason(reason);
  prop->set_attempt(static_cast<uint32_t>(c->attempts + 1));
  prop->set_requires_approval(pol.require_approval || pol.mode == v1::MODE_MANUAL);
  return true;
}

// Step 3c': the LLM adviser may pick another of the policy's actions, bounded
// by what ResolveTarget allows; its advice is recorded either way.
void Engine::ApplyAdvice(const Incident& inc, const Policy& pol, const v1::Event& signal,
                         TimePoint now, StepChoice* c, v1::Action* action, v1::Target* target,
                         std::string* reason, v1::RemediationProposal* prop) {
  AdviceRequest req;
  req.incident_id = inc.id;
  req.target = *target;
  req.policy = pol.ref.name();
  req.allowed = c->still_allowed;
  for (const auto& [k, v] : signal.signal().facts()) {
    req.facts[k] = v;
  }
  for (const auto& a : pol.actions) {
    req.policy_actions.push_back(a.action);
  }
  std::vector<std::string> names;
  for (const auto& [k, s] : inc.signals) {
    if (s.firing) {
      req.signals.push_back(s.last.signal());
      names.push_back(s.name);
    }
  }
  std::sort(names.begin(), names.end());
  req.fingerprint = inc.key;
  for (const auto& n : names) {
    req.fingerprint += "|" + n;
  }
  for (const auto& a : pol.actions) {
    std::string k = inc.key + "|" + ActionTypeName(a.action.type());
    size_t n = CountAttempts(k, pol.loop_window, now);
    if (n > 0) {
      req.history.push_back(ActionTypeName(a.action.type()) + " tried " + std::to_string(n) +
                            " times in the last " + Ms(pol.loop_window) + " without a lasting fix");
    }
  }
  AdviceResult r = adviser_->Advise(req);
  *prop->mutable_advice() = r.advice;
  if (!r.action) {
    if (!r.advice.chosen_action().empty() && r.advice.chosen_action() != "none") {
      *reason += "; adviser's " + r.advice.chosen_action() + " refused (" +
                 r.advice.rejection_reason() + "), the policy's action stands";
    }
    return;
  }
  const std::string adjusted =
      r.advice.adjusted().empty() ? "" : " (" + r.advice.adjusted() + ")";
  auto keep_verification = [&](const PolicyAction& from) {
    action->set_verify(from.action.verify());
    action->set_verify_timeout_seconds(from.action.verify_timeout_seconds());
    action->set_rollback_on_failed_verification(from.action.rollback_on_failed_verification());
    action->set_apply_via(from.action.apply_via());
  };
  if (r.action->type() == action->type()) {
    *action = *r.action;  // same type, the adviser's bounded parameters
    keep_verification(*c->step);
    *reason += "; adviser agreed" + adjusted;
    return;
  }
  const PolicyAction* chosen = nullptr;
  for (const auto& a : pol.actions) {
    if (a.action.type() == r.action->type()) {
      chosen = &a;
    }
  }
  v1::Target t2;
  std::string why2;
  if (chosen && ResolveTarget(*chosen, r.action->type(), pol, inc.subject, signal, &t2, &why2)) {
    if ((r.action->type() == v1::ACTION_TYPE_INCREASE_MEMORY ||
         r.action->type() == v1::ACTION_TYPE_ROLLBACK_IMAGE) &&
        IsWorkloadKind(t2.kind()) && t2.container().empty()) {
      t2.set_container(ContainerFor(signal, t2));
    }
    *action = *r.action;
    keep_verification(*chosen);
    *target = t2;
    c->attempt_key = inc.key + "|" + ActionTypeName(action->type());
    c->attempts = CountAttempts(c->attempt_key, pol.loop_window, now);
    *reason += "; adviser chose " + ActionTypeName(action->type()) + " on " + TargetString(t2) + adjusted;
  } else {
    prop->mutable_advice()->set_accepted(false);
    prop->mutable_advice()->set_rejection_reason(why2.empty() ? "choice not applicable" : why2);
  }
}

// Step 4: what the decision was based on, for the trail.
void Engine::FillFacts(const Incident& inc, const Policy& pol, const MatchResult& m,
                       const v1::Event& signal, const StepChoice& c, v1::RemediationProposal* prop) {
  for (const auto& [k, s] : inc.signals) {
    if (s.firing) {
      prop->add_signal_ids(s.event_id);
    }
  }
  auto& facts = *prop->mutable_facts();
  facts["incident_key"] = inc.key;
  facts["attempt_key"] = c.attempt_key;
  // The windows this proposal is counted in, so that a replay can tell when
  // its attempt and cooldown stop counting (engine_capacity.cc).
  facts["loop_window_ms"] = std::to_string(pol.loop_window.count());
  facts["cooldown_ms"] = std::to_string(pol.cooldown.count());
  facts["signal"] = signal.signal().name();
  facts["policy_shape"] = pol.shape;
  if (m.trigger) {
    facts["trigger"] = m.trigger->name;
  }
  if (signal.signal().has_value()) {
    facts["value"] = std::to_string(signal.signal().value());
    if (m.trigger && m.trigger->type == Trigger::Type::kMetric) {
      facts["condition"] = std::string(CompareOpString(m.trigger->op)) + " " + std::to_string(m.trigger->threshold);
    }
  }
  if (!c.exhausted.empty()) {
    facts["exhausted"] = c.exhausted;
  }
  if (!m.diagnosis.empty()) {
    facts["diagnosis"] = m.diagnosis;
  }
  for (const auto& [k, v] : signal.signal().facts()) {
    facts["cluster." + k] = v;  // what the cluster said when the signal was published
  }
}

// The facts the gate checks about the proposal's own target, taken from the
// signal's cluster facts only when they describe that target: `replicas` (the
// Deployment's current count: scale-downs and the blast radius need it) and
// `namespaceRemediate` (the namespace's opt-out).
void Engine::FillTargetFacts(const v1::Event& signal, const v1::Target& target,
                             v1::RemediationProposal* prop) {
  const auto& cf = signal.signal().facts();
  const v1::Target& st = signal.target();
  auto& facts = *prop->mutable_facts();
  if (target.namespace_().empty() || target.namespace_() != st.namespace_()) {
    return;
  }
  if (auto it = cf.find("namespaceRemediate"); it != cf.end()) {
    facts["namespaceRemediate"] = it->second;
  }
  auto replicas = cf.find("replicas");
  if (replicas == cf.end() || target.kind() != "Deployment") {
    return;
  }
  auto owner_kind = cf.find("ownerKind");
  auto owner_name = cf.find("ownerName");
  const bool is_target = st.kind() == "Deployment" ? st.name() == target.name()
                                                   : owner_kind != cf.end() && owner_kind->second == "Deployment" &&
                                                         owner_name != cf.end() && owner_name->second == target.name();
  if (is_target) {
    facts["replicas"] = replicas->second;
  }
}

void Engine::Propose(Incident& inc, const v1::Event& cause, const v1::Event& signal,
                     TimePoint now, Decision* d) {
  MatchResult m;
  const Policy* pol = MatchBest(signal, now, &m);
  d->incident_id = inc.id;
  if (!pol) {
    d->category = "no_policy";
    d->reason = "no policy matches signal " + signal.signal().name() + " on " +
                TargetString(signal.target());
    if (auto c = signal.signal().labels().find("cost");
        signal.signal().source() == v1::SIGNAL_SOURCE_COST && c != signal.signal().labels().end() &&
        c->second == "unknown") {
      // The collector could not price the budget: unknown, never $0.
      d->category = "unknown_cost";
      d->reason = signal.signal().summary();
    }
    inc.retry = true;  // a trigger's `for` may hold later
    inc.retry_at = now;
    return;
  }
  StepChoice c = ChooseStep(inc, *pol, now);
  v1::Event p;
  // Room is checked before the remedy is built (no adviser call for a
  // proposal that cannot be remembered) and again after it, for an action
  // the adviser chose instead.
  bool built = c.step ? WithinBudget(inc, *pol, now, d) &&
                            RoomToRemember(inc, *pol, c.attempt_key, now, d) &&
                            BuildRemedy(inc, *pol, m, cause, signal, now, &c, &p, d) &&
                            RoomToRemember(inc, *pol, c.attempt_key, now, d)
                      : BuildEscalation(inc, *pol, cause, &c, &p, d);
  if (!built) {
    bool timed = d->category == "cooldown" || d->category == "at_capacity";
    inc.retry = timed || d->category == "budget";
    inc.retry_at = timed ? d->until : now + std::chrono::minutes(1);
    return;
  }
  inc.retry = false;
  d->category.clear();
  v1::RemediationProposal* prop = p.mutable_proposal();
  p.set_incident_id(inc.id);
  *prop->mutable_policy() = pol->ref;
  prop->set_mode(pol->mode);
  FillFacts(inc, *pol, m, signal, c, prop);
  FillTargetFacts(signal, p.target(), prop);
  if (pol->mode == v1::MODE_MONITOR) {
    // Observed and recorded only: the would-be proposal rides on the
    // signal's no_action; nothing is in flight, nothing counts as an attempt.
    d->category = "monitor";
    d->reason = "monitor mode, nothing proposed; it would have been: " + prop->reason();
    d->would_propose = std::move(p);
    return;
  }
  RecordProposal(p, now);
  d->reason = prop->reason();
  d->out.push_back(std::move(p));
}

}  // namespace kubemend::analyzer
