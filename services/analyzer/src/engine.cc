#include "engine.h"

#include <algorithm>
#include <tuple>

#include "engine_detail.h"
#include "kubemend/common/ids.h"

namespace kubemend::analyzer {
using engine_detail::FactMillis;
using engine_detail::IsWorkloadKind;
using engine_detail::Ms;
using engine_detail::NodeTarget;

namespace {

constexpr size_t kClosedIdsKept = 10000;
constexpr std::chrono::seconds kSweepEvery{10};
constexpr size_t kMaxIds = 1000;  // signal ids kept per incident for IncidentClosed

std::string SignalKey(const v1::Event& e) {
  const std::string& fp = e.signal().fingerprint();
  return TargetKey(e.target()) + "|" + (fp.empty() ? e.signal().name() : fp);
}

// A Kubernetes Warning event (the collector's one-shot signals).
bool IsWarningEvent(const v1::Event& e) {
  auto it = e.signal().labels().find("event_type");
  return it != e.signal().labels().end() && it->second == "Warning";
}

// The kubelet's OOMKilling event, recorded on the Node (its message names
// the process, not the pod).
bool IsNodeOomEvent(const v1::Event& e) {
  return e.target().kind() == "Node" && e.signal().name() == "OOMKilling" && IsWarningEvent(e);
}

// A pod's container was OOM-killed: the collector's OOMKilled condition, the
// KubePodOOMKilled alert, or any signal whose facts say so.
bool IsPodOom(const v1::Event& e) {
  if (e.target().kind() == "Node") {
    return false;
  }
  const auto& f = e.signal().facts();
  auto r = f.find("lastTerminationReason");
  return e.signal().name() == "OOMKilled" || e.signal().name() == "KubePodOOMKilled" ||
         e.signal().reason() == "OOMKilled" || (r != f.end() && r->second == "OOMKilled");
}

// The node a pod ran on, from the cluster facts (not a label: see NodeOf).
std::string FactNode(const v1::Event& e) {
  auto it = e.signal().facts().find("node");
  return it == e.signal().facts().end() ? "" : it->second;
}

}  // namespace

std::string NodeOf(const v1::Event& e) {
  if (e.target().kind() == "Node") {
    return e.target().name();
  }
  for (const auto* m : {&e.signal().labels(), &e.target().labels()}) {
    auto it = m->find("node");
    if (it != m->end() && !it->second.empty()) {
      return it->second;
    }
  }
  return "";
}

v1::Target SubjectOf(const v1::Event& e) {
  const v1::Target& t = e.target();
  v1::Target s;
  s.set_cluster(t.cluster());
  if (t.kind() == "Node") {
    s.set_kind("Node");
    s.set_name(t.name());
    return s;
  }
  s.set_namespace_(t.namespace_());
  *s.mutable_labels() = t.labels();
  if (!t.owner_kind().empty() && !t.owner_name().empty()) {
    s.set_kind(t.owner_kind());
    s.set_name(t.owner_name());
  } else {
    s.set_kind(t.kind());
    s.set_name(t.name());
  }
  return s;
}

std::string SubjectKey(const v1::Target& t) {
  return t.cluster() + "/" + t.namespace_() + "/" + t.kind() + "/" + t.name();
}

Engine::Engine(EngineConfig cfg, ProducerIdentity who, const Clock& clock, Adviser* adviser)
    : cfg_(cfg), who_(std::move(who)), clock_(clock), adviser_(adviser) {}

void Engine::SetPolicies(std::shared_ptr<const PolicySet> policies) {
  std::lock_guard<std::mutex> l(mu_);
  policies_ = std::move(policies);
  NoteWindows();
}

Decision Engine::OnSignal(const v1::Event& signal) {
  std::lock_guard<std::mutex> l(mu_);
  Decision d = HandleSignal(signal, clock_.Now(), false);
  bool proposed = std::any_of(d.out.begin(), d.out.end(),
                              [](const v1::Event& e) { return e.has_proposal(); });
  if (!proposed) {
    if (d.category.empty()) {
      d.category = "ignored";
    }
    d.out.push_back(NoActionEvent(signal, d));
  }
  return d;
}

// Every signal that leads to no proposal says why, in the trail.
v1::Event Engine::NoActionEvent(const v1::Event& signal, const Decision& d) const {
  v1::Event c = NewCausedEvent(v1::EVENT_TYPE_CONTROL, signal, "no-action", who_, clock_);
  c.set_incident_id(d.incident_id.empty() ? signal.incident_id() : d.incident_id);
  *c.mutable_target() = signal.target();
  v1::Control* ctl = c.mutable_control();
  ctl->set_issued_by(who_.service);
  ctl->set_reason(d.category + ": " + d.reason);
  v1::NoAction* na = ctl->mutable_no_action();
  na->set_signal_id(signal.event_id());
  na->set_incident_id(c.incident_id());
  na->set_category(d.category);
  na->set_reason(d.reason);
  if (d.until != TimePoint{}) {
    SetTimestamp(na->mutable_until(), d.until);
  }
  na->set_in_flight_proposal_id(d.in_flight);
  if (d.would_propose) {
    *na->mutable_would_propose() = d.would_propose->proposal();
    *na->mutable_would_target() = d.would_propose->target();
  }
  return c;
}

const v1::Event* Engine::LatestFiring(const Incident& inc) {
  const v1::Event* latest = nullptr;
  for (const auto& [k, s] : inc.signals) {
    if (s.firing &&
        (!latest || FromTimestamp(s.last.recorded_at()) >= FromTimestamp(latest->recorded_at()))) {
      latest = &s.last;
    }
  }
  return latest;
}

Decision Engine::Tick() {
  std::lock_guard<std::mutex> l(mu_);
  TimePoint now = clock_.Now();
  Decision d;
  Sweep(nullptr, now, &d, false, /*force=*/true);
  std::vector<std::string> due;
  for (auto& [id, inc] : incidents_) {
    if (!inc.in_flight.empty() && now - inc.in_flight_since >= cfg_.inflight_timeout) {
      inc.in_flight.clear();  // never answered: try again while it still fires
      inc.retry = true;
      inc.retry_at = now;
    }
    if (inc.in_flight.empty() && inc.retry && now >= inc.retry_at && LatestFiring(inc)) {
      due.push_back(id);
    }
  }
  for (const auto& id : due) {
    Incident& inc = incidents_.at(id);
    v1::Event sig = *LatestFiring(inc);
    Decision one;
    Propose(inc, sig, sig, now, &one);
    for (auto& e : one.out) {
      d.out.push_back(std::move(e));
    }
  }
  d.reason = "tick: " + std::to_string(due.size()) + " incidents re-evaluated";
  return d;
}

Decision Engine::OnOutcome(const v1::Event& outcome) {
  std::lock_guard<std::mutex> l(mu_);
  return HandleOutcome(outcome, clock_.Now(), false);
}

Decision Engine::OnDecision(const v1::Event& decision) {
  std::lock_guard<std::mutex> l(mu_);
  return HandleDecision(decision, clock_.Now(), false);
}

void Engine::Replay(const v1::Event& e) {
  std::lock_guard<std::mutex> l(mu_);
  TimePoint at = FromTimestamp(e.recorded_at());
  switch (e.payload_case()) {
    case v1::Event::kSignal:
      HandleSignal(e, at, true);
      break;
    case v1::Event::kProposal:
      if (e.producer().service() == who_.service && !proposals_.count(e.event_id())) {
        RecordProposal(e, at);
      }
      break;
    case v1::Event::kOutcome:
      HandleOutcome(e, at, true);
      break;
    case v1::Event::kDecision:
      HandleDecision(e, at, true);
      break;
    case v1::Event::kControl:
      if (e.control().has_incident_closed() && e.producer().service() == who_.service) {
        Close(e.control().incident_closed().incident_id(), "", "", nullptr, at, nullptr);
      }
      break;
    default:
      break;
  }
}

Engine::Incident* Engine::IncidentFor(const v1::Event& e, TimePoint now, bool create, Decision* d,
                                      bool replay) {
  auto sit = by_signal_.find(SignalKey(e));
  if (sit != by_signal_.end()) {
    auto it = incidents_.find(sit->second);
    if (it != incidents_.end()) {
      return &it->second;
    }
  }
  if (!create) {
    return nullptr;
  }
  if (IsNodeOomEvent(e)) {
    if (Incident* host = OomIncidentOnNode(e.target().name())) {
      return host;
    }
  }
  v1::Target subject = SubjectOf(e);
  std::string node = NodeOf(e);
  if (subject.kind() != "Node" && !node.empty()) {
    auto nit = by_subject_.find(SubjectKey(NodeTarget(subject.cluster(), node)));
    if (nit != by_subject_.end() && !(IsPodOom(e) && OnlyNodeOomEvents(incidents_.at(nit->second)))) {
      return &incidents_.at(nit->second);
    }
  }
  std::string key = SubjectKey(subject);
  if (auto it = by_subject_.find(key); it != by_subject_.end()) {
    return &incidents_.at(it->second);
  }
  MakeRoom(e, now, replay ? nullptr : d);
  std::string id = e.incident_id();
  if (id.empty() || closed_ids_.count(id) || incidents_.count(id)) {
    id = DerivedUuid(e.event_id(), "incident");
  }
  Incident inc;
  inc.id = id;
  inc.key = key;
  inc.subject = subject;
  inc.opened = now;
  inc.last_activity = now;
  incidents_[id] = inc;
  by_subject_[key] = id;
  Incident& fresh = incidents_.at(id);
  if (subject.kind() == "Node" && !IsNodeOomEvent(e)) {
    TakeOverPodIncidents(fresh, e, now, d, replay);
  }
  return &incidents_.at(id);
}

void Engine::MergeInto(const std::string& from, Incident& into, const std::string& detail,
                       const v1::Event& cause, TimePoint now, Decision* d, bool replay) {
  Incident& other = incidents_.at(from);
  for (auto& [sk, s] : other.signals) {
    into.signals[sk] = s;
    by_signal_[sk] = into.id;
  }
  for (const auto& id : other.signal_ids) {
    NoteSignalId(into, id);
  }
  other.signals.clear();
  LimitSignals(into, "");
  Close(from, "merged", detail, &cause, now, replay ? nullptr : d, into.id);
}

// A node incident takes over the pod incidents already open on that node.
void Engine::TakeOverPodIncidents(Incident& fresh, const v1::Event& e, TimePoint now, Decision* d,
                                  bool replay) {
  std::vector<std::string> absorb;
  for (const auto& [oid, other] : incidents_) {
    if (oid == fresh.id || !other.in_flight.empty()) {
      continue;
    }
    for (const auto& [sk, s] : other.signals) {
      if (NodeOf(s.last) == fresh.subject.name()) {
        absorb.push_back(oid);
        break;
      }
    }
  }
  for (const auto& oid : absorb) {
    MergeInto(oid, fresh, "signals moved to the incident on node " + fresh.subject.name(), e, now, d,
              replay);
  }
}

bool Engine::OnlyNodeOomEvents(const Incident& inc) {
  bool only = inc.in_flight.empty() && !inc.signals.empty();
  for (const auto& [sk, s] : inc.signals) {
    only = only && IsNodeOomEvent(s.last);
  }
  return only;
}

Engine::Incident* Engine::OomIncidentOnNode(const std::string& node) {
  Incident* best = nullptr;
  for (auto& [id, inc] : incidents_) {
    if (inc.subject.kind() == "Node") {
      continue;
    }
    for (const auto& [sk, s] : inc.signals) {
      if (IsPodOom(s.last) && FactNode(s.last) == node &&
          (!best || inc.last_activity > best->last_activity)) {
        best = &inc;
      }
    }
  }
  return best;
}

// The pod's OOM kill arrived after its node's OOMKilling event: the incident
// that event opened (only such events, nothing in flight) joins this one.
void Engine::AbsorbNodeOomEvents(Incident& inc, const v1::Event& e, TimePoint now, Decision* d,
                                 bool replay) {
  const std::string node = FactNode(e).empty() ? NodeOf(e) : FactNode(e);
  if (node.empty() || inc.subject.kind() == "Node" || !IsPodOom(e)) {
    return;
  }
  auto it = by_subject_.find(SubjectKey(NodeTarget(inc.subject.cluster(), node)));
  if (it == by_subject_.end() || it->second == inc.id) {
    return;
  }
  if (OnlyNodeOomEvents(incidents_.at(it->second))) {
    MergeInto(it->second, inc, "the node's OOMKilling events belong to the OOM kill of " +
                                   TargetString(e.target()) + " (incident " + inc.id + ")",
              e, now, d, replay);
  }
}

// The first kMaxIds signal ids of an incident, each once (a redelivery is
// not listed twice). Only listed ids are remembered: once the list is full a
// redelivery could not be listed anyway, so seen_ids stays within kMaxIds
// however long a flapping incident lives.
void Engine::NoteSignalId(Incident& inc, const std::string& id) {
  if (inc.signal_ids.size() < kMaxIds && inc.seen_ids.insert(id).second) {
    inc.signal_ids.push_back(id);
  }
}

size_t Engine::CountAttempts(const std::string& key, Millis window, TimePoint now) {
  auto it = attempts_.find(key);
  if (it == attempts_.end()) {
    return 0;
  }
  size_t n = 0;
  for (const auto& a : it->second) {
    if (a.counts && now - a.at < window) {
      ++n;
    }
  }
  return n;
}

Decision Engine::HandleSignal(const v1::Event& e, TimePoint now, bool replay) {
  Decision d;
  Sweep(&e, now, &d, replay);
  const v1::Signal& s = e.signal();
  if (s.status() == v1::SIGNAL_STATUS_RESOLVED) {
    Incident* inc = IncidentFor(e, now, false, &d, replay);
    d.category = "resolved";
    if (!inc) {
      d.incident_id = e.incident_id();
      d.reason = "resolved signal for no open incident";
      return d;
    }
    d.incident_id = inc->id;
    SignalRef& ref = inc->signals[SignalKey(e)];
    ref.firing = false;
    ref.event_id = e.event_id();
    ref.name = s.name();
    ref.last = e;
    NoteSignalId(*inc, e.event_id());
    inc->last_activity = now;
    bool any = std::any_of(inc->signals.begin(), inc->signals.end(),
                           [](const auto& kv) { return kv.second.firing; });
    if (any) {
      d.reason = "signal resolved; incident " + inc->id + " still has firing signals";
      return d;
    }
    std::string cls = inc->action_succeeded ? "fixed_by_action" : "recovered_on_own";
    std::string id = inc->id;
    Close(id, cls, "every signal resolved", &e, now, replay ? nullptr : &d);
    d.reason = "incident " + id + " closed: " + cls;
    return d;
  }
  if (s.status() != v1::SIGNAL_STATUS_FIRING) {
    d.category = "ignored";
    d.incident_id = e.incident_id();
    d.reason = "signal has no status: ignored";
    return d;
  }
  Incident* inc = IncidentFor(e, now, true, &d, replay);
  AbsorbNodeOomEvents(*inc, e, now, &d, replay);
  d.incident_id = inc->id;
  std::string skey = SignalKey(e);
  SignalRef& ref = inc->signals[skey];
  ref.event_id = e.event_id();
  ref.name = s.name();
  ref.firing = true;
  ref.last = e;
  by_signal_[skey] = inc->id;
  LimitSignals(*inc, skey);
  NoteSignalId(*inc, e.event_id());
  inc->last_activity = now;
  if (replay) {
    return d;
  }
  if (!inc->in_flight.empty()) {
    if (now - inc->in_flight_since < cfg_.inflight_timeout) {
      d.category = "in_flight";
      d.in_flight = inc->in_flight;
      d.reason = "joined incident " + inc->id + " on " + TargetString(inc->subject) +
                 " whose proposal " + inc->in_flight + " is in flight";
      return d;
    }
    inc->in_flight.clear();  // never answered: try again
  }
  Propose(*inc, e, e, now, &d);
  return d;
}

void Engine::RecordProposal(const v1::Event& p, TimePoint at) {
  const v1::RemediationProposal& prop = p.proposal();
  auto facts = prop.facts();
  std::string key = facts["incident_key"];
  std::string akey = facts["attempt_key"];
  if (key.empty()) {
    key = SubjectKey(p.target());
  }
  auto it = incidents_.find(p.incident_id());
  if (it == incidents_.end()) {
    // Replay met a proposal whose signals are gone from the log: keep a stub
    // so its outcome still lands, unless its subject has another incident.
    if (by_subject_.count(key)) {
      it = incidents_.find(by_subject_[key]);
    } else {
      Incident inc;
      inc.id = p.incident_id();
      inc.key = key;
      inc.subject = p.target();
      inc.opened = at;
      inc.last_activity = at;
      it = incidents_.emplace(inc.id, inc).first;
      by_subject_[key] = inc.id;
    }
  }
  Incident& inc = it->second;
  inc.proposal_ids.push_back(p.event_id());
  inc.policy = prop.policy().name();
  inc.last_activity = std::max(inc.last_activity, at);
  if (prop.escalation()) {
    inc.escalated = true;
    ++n_escalations_;
  } else {
    // Over a cap only in replay, from a log written under a larger cap: the
    // proposal was made, so it counts (forgetting a live entry would loosen
    // a limit); the map shrinks back as its entries end.
    if (!attempts_.count(akey) && attempts_.size() >= cfg_.max_attempt_keys) {
      ForgetEndedAttempts(at);
    }
    const std::string ckey = prop.policy().name() + "|" + key;
    if (!last_proposal_.count(ckey) && last_proposal_.size() >= cfg_.max_cooldowns) {
      ForgetEndedCooldowns(at);
    }
    Attempt a{at, p.event_id()};
    a.window = FactMillis(prop, "loop_window_ms");
    auto& list = attempts_[akey];
    list.push_back(a);
    attempts_room_at_ = std::min(attempts_room_at_, AttemptsCountUntil(list));
    Cooldown& c = last_proposal_[ckey];
    c = Cooldown{at, FactMillis(prop, "cooldown_ms")};
    cooldowns_room_at_ = std::min(cooldowns_room_at_, CooldownRunsUntil(ckey, c));
    per_hour_[prop.policy().name()].push_back(at);
    inc.in_flight = p.event_id();
    inc.in_flight_since = at;
  }
  if (proposals_.insert_or_assign(p.event_id(), ProposalInfo{inc.id, akey, at}).second) {
    proposal_order_.push_back(p.event_id());
    while (proposal_order_.size() > cfg_.max_proposals) {
      proposals_.erase(proposal_order_.front());
      proposal_order_.pop_front();
    }
  }
  ++n_proposals_;
}

Decision Engine::HandleOutcome(const v1::Event& e, TimePoint now, bool replay) {
  Decision d;
  Sweep(&e, now, &d, replay);
  const v1::ActionOutcome& o = e.outcome();
  auto pit = proposals_.find(o.proposal_id());
  if (pit == proposals_.end()) {
    d.reason = "outcome for proposal " + o.proposal_id() + " which this analyzer does not track";
    return d;
  }
  ProposalInfo info = pit->second;
  bool counts = !(o.status() == v1::OUTCOME_STATUS_DRY_RUN || o.status() == v1::OUTCOME_STATUS_SKIPPED ||
                  o.status() == v1::OUTCOME_STATUS_DUPLICATE);
  if (auto ait = attempts_.find(info.attempt_key); ait != attempts_.end()) {
    for (auto& a : ait->second) {
      if (a.proposal_id == o.proposal_id()) {
        a.outcome = o.status();
        a.counts = counts;
      }
    }
  }
  auto it = incidents_.find(info.incident_id);
  if (it == incidents_.end()) {
    d.reason = "outcome " + OutcomeStatusName(o.status()) + " for closed incident " + info.incident_id;
    return d;
  }
  Incident& inc = it->second;
  if (inc.in_flight == o.proposal_id()) {
    inc.in_flight.clear();
  }
  inc.last_activity = now;
  switch (o.status()) {
    case v1::OUTCOME_STATUS_SUCCEEDED:
      inc.action_succeeded = true;
      if (o.verification().attempted() && o.verification().healthy()) {
        std::string id = inc.id;
        Close(id, "fixed_by_action",
              ActionTypeName(o.action().type()) + " verified healthy: " + o.verification().detail(),
              &e, now, replay ? nullptr : &d);
        d.reason = "incident " + id + " fixed by the action";
        return d;
      }
      d.reason = "action succeeded without verification; incident stays open until its signals resolve";
      return d;
    case v1::OUTCOME_STATUS_NOT_FIXED:
    case v1::OUTCOME_STATUS_FAILED:
    case v1::OUTCOME_STATUS_ROLLED_BACK: {
      if (replay) {
        return d;
      }
      const v1::Event* latest = nullptr;
      for (const auto& [k, s] : inc.signals) {
        if (s.firing && (!latest || FromTimestamp(s.last.recorded_at()) >= FromTimestamp(latest->recorded_at()))) {
          latest = &s.last;
        }
      }
      if (!latest) {
        d.reason = "outcome " + OutcomeStatusName(o.status()) + "; no firing signal left";
        return d;
      }
      v1::Event sig = *latest;
      Propose(inc, e, sig, now, &d);
      d.reason = "outcome " + OutcomeStatusName(o.status()) + ": " + d.reason;
      return d;
    }
    default:
      d.reason = "outcome " + OutcomeStatusName(o.status()) + " recorded";
      return d;
  }
}

Decision Engine::HandleDecision(const v1::Event& e, TimePoint now, bool replay) {
  Decision d;
  const v1::SafetyDecision& sd = e.decision();
  auto pit = proposals_.find(sd.proposal_id());
  if (pit == proposals_.end()) {
    d.reason = "decision for an untracked proposal";
    return d;
  }
  if (sd.verdict() != v1::VERDICT_REJECTED && sd.verdict() != v1::VERDICT_EXPIRED) {
    d.reason = "decision " + VerdictName(sd.verdict()) + " noted";
    return d;
  }
  if (auto ait = attempts_.find(pit->second.attempt_key); ait != attempts_.end()) {
    for (auto& a : ait->second) {
      if (a.proposal_id == sd.proposal_id()) {
        a.counts = false;  // never ran: not an attempt
      }
    }
  }
  auto it = incidents_.find(pit->second.incident_id);
  if (it != incidents_.end() && it->second.in_flight == sd.proposal_id()) {
    it->second.in_flight.clear();
  }
  d.reason = "proposal " + sd.proposal_id() + " " + VerdictName(sd.verdict()) + " by rule " + sd.rule();
  return d;
}

void Engine::Close(const std::string& id, const std::string& classification,
                   const std::string& detail, const v1::Event* cause, TimePoint now, Decision* d,
                   const std::string& merged_into) {
  auto it = incidents_.find(id);
  if (it == incidents_.end()) {
    return;
  }
  Incident& inc = it->second;
  if (d) {
    v1::Event c = cause ? NewCausedEvent(v1::EVENT_TYPE_CONTROL, *cause, "incident-closed:" + id, who_, clock_)
                        : NewRootEvent(v1::EVENT_TYPE_CONTROL, who_, clock_);
    c.set_incident_id(id);
    *c.mutable_target() = inc.subject;
    v1::Control* ctl = c.mutable_control();
    ctl->set_issued_by(who_.service);
    ctl->set_reason(classification + ": " + detail);
    v1::IncidentClosed* ic = ctl->mutable_incident_closed();
    ic->set_incident_id(id);
    ic->set_classification(classification);
    ic->set_detail(detail);
    for (const auto& s : inc.signal_ids) {
      ic->add_signal_ids(s);
    }
    for (const auto& p : inc.proposal_ids) {
      ic->add_proposal_ids(p);
    }
    SetTimestamp(ic->mutable_opened_at(), inc.opened);
    ic->set_merged_into(merged_into);
    d->out.push_back(std::move(c));
  }
  if (auto s = by_subject_.find(inc.key); s != by_subject_.end() && s->second == id) {
    by_subject_.erase(s);
  }
  for (const auto& [sk, ref] : inc.signals) {
    if (auto s = by_signal_.find(sk); s != by_signal_.end() && s->second == id) {
      by_signal_.erase(s);
    }
  }
  if (closed_ids_.insert(id).second) {
    closed_order_.push_back(id);
    if (closed_order_.size() > kClosedIdsKept) {
      closed_ids_.erase(closed_order_.front());
      closed_order_.pop_front();
    }
  }
  incidents_.erase(it);
  ++n_closed_;
}

void Engine::MakeRoom(const v1::Event& cause, TimePoint now, Decision* d) {
  if (cfg_.max_open_incidents == 0 || incidents_.size() < cfg_.max_open_incidents) {
    return;
  }
  // At the cap, one pass closes a sixteenth of it (so the scan is paid once
  // per many new incidents, not per incident): the least recently active,
  // those with an action in flight last (their outcome would find no
  // incident).
  struct Candidate {
    bool in_flight;
    TimePoint last_activity;
    std::string id;
  };
  std::vector<Candidate> all;
  all.reserve(incidents_.size());
  for (const auto& [id, inc] : incidents_) {
    all.push_back({!inc.in_flight.empty(), inc.last_activity, id});
  }
  size_t n = std::min(all.size(), incidents_.size() - cfg_.max_open_incidents + 1 +
                                      cfg_.max_open_incidents / 16);
  auto older = [](const Candidate& a, const Candidate& b) {
    return std::tie(a.in_flight, a.last_activity) < std::tie(b.in_flight, b.last_activity);
  };
  std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n - 1), all.end(), older);
  for (size_t i = 0; i < n; ++i) {
    const Incident& victim = incidents_.at(all[i].id);
    bool firing = std::any_of(victim.signals.begin(), victim.signals.end(),
                              [](const auto& kv) { return kv.second.firing; });
    Close(all[i].id, firing ? "not_fixed" : "recovered_on_own",
          "more than analyzer.max_open_incidents=" + std::to_string(cfg_.max_open_incidents) +
              " open incidents: the least recently active are closed",
          &cause, now, d);
  }
}

void Engine::Sweep(const v1::Event* cause, TimePoint now, Decision* d, bool replay, bool force) {
  // A full pass costs O(state); once every few seconds of event time is enough.
  if (!force && now - last_sweep_ < kSweepEvery) {
    return;
  }
  last_sweep_ = now;
  std::vector<std::pair<std::string, std::string>> stale;
  std::vector<std::pair<std::string, std::string>> quiet;
  for (const auto& [id, inc] : incidents_) {
    bool firing = false, only_events = true;
    for (const auto& [k, s] : inc.signals) {
      firing = firing || s.firing;
      only_events = only_events && (!s.firing || IsWarningEvent(s.last));
    }
    if (now - inc.last_activity > cfg_.incident_ttl) {
      stale.emplace_back(id, firing ? "not_fixed" : "recovered_on_own");
    } else if (firing && only_events && inc.in_flight.empty() &&
               now - inc.last_activity > cfg_.event_quiet) {
      // Warning events never resolve: quiet for event_quiet is their "cleared".
      quiet.emplace_back(id, inc.action_succeeded ? "fixed_by_action"
                             : inc.proposal_ids.empty() ? "recovered_on_own" : "not_fixed");
    }
  }
  for (const auto& [id, cls] : stale) {
    const v1::Event* why = cause ? cause : LatestFiring(incidents_.at(id));
    Close(id, cls, "no news for " + Ms(cfg_.incident_ttl), why, now, replay ? nullptr : d);
  }
  for (const auto& [id, cls] : quiet) {
    const v1::Event* why = cause ? cause : LatestFiring(incidents_.at(id));
    Close(id, cls, "only Kubernetes Warning events (they never resolve), none for " + Ms(cfg_.event_quiet),
          why, now, replay ? nullptr : d);
  }
  TimePoint horizon = now - cfg_.state_horizon;
  for (auto it = attempts_.begin(); it != attempts_.end();) {
    while (!it->second.empty() && it->second.front().at < horizon) {
      it->second.pop_front();
    }
    it = it->second.empty() ? attempts_.erase(it) : std::next(it);
  }
  for (auto it = last_proposal_.begin(); it != last_proposal_.end();) {
    it = it->second.at < horizon ? last_proposal_.erase(it) : std::next(it);
  }
  for (auto it = per_hour_.begin(); it != per_hour_.end();) {
    while (!it->second.empty() && now - it->second.front() >= std::chrono::hours(1)) {
      it->second.pop_front();
    }
    it = it->second.empty() ? per_hour_.erase(it) : std::next(it);
  }
  for (auto it = proposals_.begin(); it != proposals_.end();) {
    it = it->second.at < horizon ? proposals_.erase(it) : std::next(it);
  }
  // Order entries of proposals gone by age: dropped here so that the
  // order stays about as long as the map.
  while (!proposal_order_.empty() && !proposals_.count(proposal_order_.front())) {
    proposal_order_.pop_front();
  }
}

std::vector<IncidentView> Engine::Incidents() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<IncidentView> out;
  for (const auto& [id, inc] : incidents_) {
    IncidentView v;
    v.id = id;
    v.subject = TargetString(inc.subject);
    v.firing = static_cast<size_t>(std::count_if(inc.signals.begin(), inc.signals.end(),
                                                 [](const auto& kv) { return kv.second.firing; }));
    v.in_flight = inc.in_flight;
    v.escalated = inc.escalated;
    v.policy = inc.policy;
    out.push_back(v);
  }
  return out;
}

std::map<std::string, TimePoint> Engine::Cooldowns() const {
  std::lock_guard<std::mutex> l(mu_);
  std::map<std::string, TimePoint> out;
  TimePoint now = clock_.Now();
  std::map<std::string, Millis> cooldown_of;
  for (const auto& p : policies_->policies) {
    cooldown_of[p.ref.name()] = p.cooldown;
  }
  for (const auto& [k, last] : last_proposal_) {
    std::string policy = k.substr(0, k.find('|'));
    auto c = cooldown_of.find(policy);
    if (c != cooldown_of.end() && last.at + c->second > now) {
      out[k] = last.at + c->second;
    }
  }
  return out;
}

EngineStats Engine::Stats() const {
  std::lock_guard<std::mutex> l(mu_);
  EngineStats s;
  s.open_incidents = incidents_.size();
  s.cooldowns = last_proposal_.size();
  s.attempt_keys = attempts_.size();
  s.remembered_proposals = proposals_.size();
  for (const auto& [id, inc] : incidents_) {
    s.incident_signal_ids += inc.seen_ids.size();
    s.incident_signals += inc.signals.size();
  }
  s.proposals = n_proposals_;
  s.escalations = n_escalations_;
  s.closed = n_closed_;
  s.attempt_keys_forgotten = n_attempt_keys_forgotten_;
  s.cooldowns_forgotten = n_cooldowns_forgotten_;
  s.attempt_keys_full = n_attempt_keys_full_;
  s.cooldowns_full = n_cooldowns_full_;
  return s;
}

}  // namespace kubemend::analyzer
