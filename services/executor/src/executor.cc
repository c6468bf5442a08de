#include "executor.h"

#include "kubemend/common/ids.h"

#include <fmt/format.h>

#include <deque>
#include <thread>

namespace kubemend::executor {

namespace {

bool ChangedSomething(v1::OutcomeStatus s) {
  return s == v1::OUTCOME_STATUS_SUCCEEDED || s == v1::OUTCOME_STATUS_NOT_FIXED ||
         s == v1::OUTCOME_STATUS_ROLLED_BACK || s == v1::OUTCOME_STATUS_PENDING_MERGE;
}

void SetChanges(v1::ActionOutcome* out, const std::vector<Change>& changes) {
  out->clear_changes();
  for (const auto& c : changes) {
    v1::FieldChange* f = out->add_changes();
    f->set_object(c.object);
    f->set_path(c.path);
    f->set_before(c.before);
    f->set_after(c.after);
  }
}

std::vector<Change> ChangesOf(const v1::ActionOutcome& o) {
  std::vector<Change> out;
  for (const auto& f : o.changes()) {
    out.push_back({f.object(), f.path(), f.before(), f.after()});
  }
  return out;
}

std::string Summary(const v1::Event& decision) {
  const auto& d = decision.decision();
  return fmt::format("kubemend incident {}: {} on {} ({})", decision.incident_id(),
                     ActionTypeName(d.proposal().action().type()), TargetString(decision.target()),
                     d.proposal().reason().empty() ? d.reason() : d.proposal().reason());
}

}  // namespace

Executor::Executor(Actuator* actuator, Verifier* verifier, const Clock& clock, ProducerIdentity who,
                   ExecutorOptions options)
    : actuator_(actuator), verifier_(verifier), clock_(clock), who_(std::move(who)), options_(std::move(options)) {}

std::shared_ptr<std::mutex> Executor::LockFor(const std::string& key) {
  std::lock_guard<std::mutex> g(mu_);
  if (locks_.size() > 1024) {  // drop the locks nobody holds any more
    std::erase_if(locks_, [](const auto& kv) { return kv.second.expired(); });
  }
  auto& w = locks_[key];
  auto m = w.lock();
  if (!m) {
    m = std::make_shared<std::mutex>();
    w = m;
  }
  return m;
}

bool Executor::PausedFor(const v1::Target& t, std::string* why) const {
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& scope : {std::string(), t.namespace_()}) {
    auto it = paused_.find(scope);
    if (it != paused_.end() && (scope.empty() || !t.namespace_().empty())) {
      *why = it->second;
      return true;
    }
  }
  return false;
}

void Executor::Count(v1::OutcomeStatus s) {
  std::lock_guard<std::mutex> g(mu_);
  switch (s) {
    case v1::OUTCOME_STATUS_SUCCEEDED:
      ++stats_.applied;
      break;
    case v1::OUTCOME_STATUS_DUPLICATE:
      ++stats_.duplicates;
      break;
    case v1::OUTCOME_STATUS_SKIPPED:
      ++stats_.skipped;
      break;
    case v1::OUTCOME_STATUS_FAILED:
      ++stats_.failed;
      break;
    case v1::OUTCOME_STATUS_NOT_FIXED:
      ++stats_.not_fixed;
      break;
    case v1::OUTCOME_STATUS_ROLLED_BACK:
      ++stats_.rolled_back;
      break;
    case v1::OUTCOME_STATUS_REFUSED:
      ++stats_.refused;
      break;
    case v1::OUTCOME_STATUS_PENDING_MERGE:
      ++stats_.pending_merge;
      break;
    case v1::OUTCOME_STATUS_CLOSED:
      ++stats_.closed;
      break;
    default:
      break;
  }
}

bool Executor::Indexes(const v1::Event& e) {
  if (!e.has_outcome()) {
    return false;
  }
  const v1::ActionOutcome& o = e.outcome();
  return o.pull_request().number() != 0 || !o.rolls_back_action_id().empty() ||
         ChangedSomething(o.status()) ||
         (o.status() == v1::OUTCOME_STATUS_DUPLICATE && o.changes_size() > 0);
}

void Executor::IndexOutcome(const v1::Event& e) {
  if (!e.has_outcome()) {
    return;
  }
  const v1::ActionOutcome& o = e.outcome();
  std::lock_guard<std::mutex> g(mu_);
  if (o.pull_request().number() != 0 && !o.action_id().empty()) {
    if (o.status() == v1::OUTCOME_STATUS_PENDING_MERGE) {
      if (!ended_pulls_.count(o.action_id()) && !open_pulls_.count(o.action_id())) {
        open_pulls_[o.action_id()] = OpenPull{e, std::nullopt};
      }
    } else if (o.status() != v1::OUTCOME_STATUS_DUPLICATE) {
      open_pulls_.erase(o.action_id());
      // Bounded like the index: a PENDING_MERGE read again for a forgotten
      // one only makes the poller ask the forge once more, which answers
      // that the pull request is closed.
      if (ended_pulls_.insert(o.action_id()).second) {
        ended_pulls_order_.push_back(o.action_id());
        if (ended_pulls_order_.size() > options_.max_indexed) {
          ended_pulls_.erase(ended_pulls_order_.front());
          ended_pulls_order_.pop_front();
        }
      }
    }
  }
  if (!o.rolls_back_action_id().empty() &&
      (o.status() == v1::OUTCOME_STATUS_ROLLED_BACK || o.status() == v1::OUTCOME_STATUS_DUPLICATE)) {
    if (rolled_back_.insert(o.rolls_back_action_id()).second) {
      rolled_back_order_.push_back(o.rolls_back_action_id());
      if (rolled_back_order_.size() > options_.max_indexed) {
        rolled_back_.erase(rolled_back_order_.front());
        rolled_back_order_.pop_front();
      }
    }
  }
  bool recovered = o.status() == v1::OUTCOME_STATUS_DUPLICATE && o.changes_size() > 0 &&
                   o.rolls_back_action_id().empty() && !index_.count(o.action_id());
  if ((ChangedSomething(o.status()) || recovered) && !o.action_id().empty()) {
    auto [it, fresh] = index_.insert_or_assign(o.action_id(), e);
    (void)it;
    if (fresh) {
      index_order_.push_back(o.action_id());
      if (index_order_.size() > options_.max_indexed) {
        index_.erase(index_order_.front());
        index_order_.pop_front();
      }
    }
  }
  stats_.indexed = index_.size();
}

std::vector<v1::Event> Executor::HandleDecision(const v1::Event& decision) {
  const v1::SafetyDecision& d = decision.decision();
  const std::string action_id =
      d.action_id().empty() ? DerivedUuid(decision.event_id(), "action") : d.action_id();
  {
    std::lock_guard<std::mutex> g(mu_);
    if (auto it = unacked_.find(action_id); it != unacked_.end()) {
      return it->second;  // published before but not acknowledged: the same events again
    }
  }
  auto out = Execute(decision);
  for (const auto& e : out) {
    Count(e.outcome().status());
  }
  if (!out.empty()) {
    std::lock_guard<std::mutex> g(mu_);
    if (unacked_.emplace(action_id, out).second) {
      unacked_order_.push_back(action_id);
    }
    while (unacked_order_.size() > kMaxUnacked) {  // decisions never retried here (rebalanced away)
      unacked_.erase(unacked_order_.front());
      unacked_order_.pop_front();
    }
  }
  return out;
}

v1::Event Executor::NewOutcome(const v1::Event& cause, const std::string& purpose, const OutcomeIds& ids,
                               const v1::Action& action, v1::OutcomeStatus status) const {
  v1::Event o = NewCausedEvent(v1::EVENT_TYPE_OUTCOME, cause, purpose, who_, clock_);
  v1::ActionOutcome* out = o.mutable_outcome();
  out->set_decision_id(ids.decision_id);
  out->set_proposal_id(ids.proposal_id);
  out->set_action_id(ids.action_id);
  out->set_rolls_back_action_id(ids.rolls_back_action_id);
  *out->mutable_action() = action;
  out->set_status(status);
  SetTimestamp(out->mutable_started_at(), clock_.Now());
  out->mutable_verification()->set_attempted(false);
  return o;
}

void Executor::Finish(v1::Event& o) const { SetTimestamp(o.mutable_outcome()->mutable_finished_at(), clock_.Now()); }

void Executor::Acknowledge(const std::vector<v1::Event>& outcomes) {
  for (const auto& e : outcomes) {
    IndexOutcome(e);
  }
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& e : outcomes) {
    unacked_.erase(e.outcome().action_id());
  }
}

std::vector<v1::Event> Executor::Execute(const v1::Event& decision) {
  const v1::SafetyDecision& d = decision.decision();
  if (d.verdict() != v1::VERDICT_APPROVED) {
    return {};
  }
  OutcomeIds ids{decision.event_id(), d.proposal_id(),
                 d.action_id().empty() ? DerivedUuid(decision.event_id(), "action") : d.action_id(), ""};
  if (auto early = NotRun(decision, ids)) {
    return {*early};
  }
  ActionRequest req = RequestFor(decision, ids.action_id);
  if (options_.on_start) {
    options_.on_start(decision);
  }
  ActionResult r;
  v1::Event o = ApplyLocked(decision, ids, req, &r);
  const v1::Action& action = d.proposal().action();
  bool want_verify = action.verify() || options_.verify_by_default;
  if (r.status != v1::OUTCOME_STATUS_SUCCEEDED || !want_verify || r.verify.kind == VerifyKind::kNone ||
      verifier_ == nullptr) {
    return {o};
  }
  return VerifyAndRollBack(ids, req, r, std::move(o));
}

// Paused, already applied, or record-only: the outcome that says so.
std::optional<v1::Event> Executor::NotRun(const v1::Event& decision, const OutcomeIds& ids) {
  const v1::Action& action = decision.decision().proposal().action();
  std::string why;
  if (PausedFor(decision.target(), &why)) {
    v1::Event o = NewOutcome(decision, "outcome-skipped", ids, action, v1::OUTCOME_STATUS_SKIPPED);
    o.mutable_outcome()->set_error("paused: " + why);
    o.mutable_outcome()->mutable_verification()->set_detail("not run: the executor is paused");
    Finish(o);
    return o;
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = index_.find(ids.action_id);
    if (it != index_.end()) {
      v1::Event o = NewOutcome(decision, "outcome-duplicate", ids, action, v1::OUTCOME_STATUS_DUPLICATE);
      *o.mutable_outcome()->mutable_changes() = it->second.outcome().changes();
      o.mutable_outcome()->mutable_verification()->set_detail(
          "action id " + ids.action_id + " already has outcome " + it->second.event_id() + " (" +
          OutcomeStatusName(it->second.outcome().status()) + "); not applied again");
      Finish(o);
      return o;
    }
  }
  if (actuator_ == nullptr) {
    v1::Event o = NewOutcome(decision, "outcome", ids, action, v1::OUTCOME_STATUS_DRY_RUN);
    o.mutable_outcome()->mutable_verification()->set_detail("record-only: " + options_.record_only_reason);
    Finish(o);
    return o;
  }
  return std::nullopt;
}

ActionRequest Executor::RequestFor(const v1::Event& decision, const std::string& action_id) const {
  const v1::SafetyDecision& d = decision.decision();
  ActionRequest req;
  req.action_id = action_id;
  req.action = d.proposal().action();
  req.target = decision.target();
  req.incident_id = decision.incident_id();
  req.summary = Summary(decision);
  req.dry_run = options_.dry_run || d.dry_run() || d.proposal().mode() == v1::MODE_DRY_RUN ||
                d.proposal().mode() == v1::MODE_MONITOR;
  req.why = d.proposal().reason();
  req.rule = "rule " + (d.rule().empty() ? std::string("(none)") : d.rule()) +
             (d.approver().empty() ? "" : " by " + d.approver()) + (d.reason().empty() ? "" : ": " + d.reason());
  req.policy = d.proposal().policy().name();
  req.evidence = {d.proposal().facts().begin(), d.proposal().facts().end()};
  return req;
}

// Under the object's lock: the actuator's write (which re-checks protection
// on the live objects). The outcome, finished.
v1::Event Executor::ApplyLocked(const v1::Event& decision, const OutcomeIds& ids, const ActionRequest& req,
                                ActionResult* r) {
  auto key = actuator_->LockKey(req);
  if (!key.ok()) {
    v1::Event o = NewOutcome(decision, "outcome", ids, req.action, v1::OUTCOME_STATUS_FAILED);
    o.mutable_outcome()->set_error(std::string(key.status().message()));
    Finish(o);
    return o;
  }
  auto lock = LockFor(*key);
  std::lock_guard<std::mutex> object_lock(*lock);
  if (auto open = OpenPullFor(*key)) {
    // A second pull request (or a live change Git would revert) for an
    // object whose fix waits for review would only compete with it.
    v1::Event o = NewOutcome(decision, "outcome", ids, req.action, v1::OUTCOME_STATUS_SKIPPED);
    o.mutable_outcome()->set_error("a kubemend pull request for " + *key + " is open: " + open->url() +
                                   "; merge or close it first");
    o.mutable_outcome()->mutable_verification()->set_detail("not run: waiting for pull request #" +
                                                            std::to_string(open->number()));
    Finish(o);
    r->status = v1::OUTCOME_STATUS_SKIPPED;
    return o;
  }
  *r = actuator_->Apply(req);
  // A duplicate keeps the id a first outcome would have had: purpose tells them apart.
  v1::Event o = NewOutcome(decision, r->status == v1::OUTCOME_STATUS_DUPLICATE ? "outcome-duplicate" : "outcome",
                           ids, req.action, r->status);
  v1::ActionOutcome* out = o.mutable_outcome();
  out->set_error(r->error);
  SetChanges(out, r->changes);
  out->mutable_verification()->set_detail(r->detail);
  if (r->pull.number() != 0) {
    *out->mutable_pull_request() = r->pull;
  }
  Finish(o);
  return o;
}

std::vector<v1::Event> Executor::VerifyAndRollBack(const OutcomeIds& ids, const ActionRequest& req,
                                                   const ActionResult& r, v1::Event o) {
  const v1::Action& action = req.action;
  Millis timeout = action.verify_timeout_seconds() ? Millis(int64_t{action.verify_timeout_seconds()} * 1000)
                                                   : options_.verify_timeout;
  v1::Verification v = verifier_->Verify(r.verify, timeout);
  if (!r.detail.empty()) {
    v.set_detail(r.detail + "; " + v.detail());
  }
  v1::ActionOutcome* out = o.mutable_outcome();
  *out->mutable_verification() = v;
  if (v.healthy()) {
    if (r.verify.kind == VerifyKind::kWorkload) {
      actuator_->RecordStableImages(r.verify.ref);
    }
    Finish(o);
    return {o};
  }
  out->set_status(v1::OUTCOME_STATUS_NOT_FIXED);
  Finish(o);
  if (!action.rollback_on_failed_verification()) {
    return {o};
  }
  OutcomeIds rb_ids{ids.decision_id, ids.proposal_id, DerivedUuid(ids.action_id, "rollback"), ids.action_id};
  v1::Event rb = NewOutcome(o, "rollback", rb_ids, action, v1::OUTCOME_STATUS_UNSPECIFIED);
  ActionResult u = actuator_->Undo(rb_ids.action_id, r.changes, req.dry_run);
  v1::ActionOutcome* ro = rb.mutable_outcome();
  ro->set_status(u.status == v1::OUTCOME_STATUS_SUCCEEDED ? v1::OUTCOME_STATUS_ROLLED_BACK : u.status);
  ro->set_error(u.error);
  SetChanges(ro, u.changes);
  ro->mutable_verification()->set_detail("automatic rollback after failed verification (" + v.detail() + ")" +
                                         (u.detail.empty() ? "" : "; " + u.detail));
  Finish(rb);
  return {o, rb};
}

std::vector<std::vector<v1::Event>> Executor::RunBatch(const std::vector<v1::Event>& decisions) {
  std::vector<const v1::Event*> ptrs;
  ptrs.reserve(decisions.size());
  for (const auto& d : decisions) {
    ptrs.push_back(&d);
  }
  return RunBatch(std::span<const v1::Event* const>(ptrs));
}

std::vector<std::vector<v1::Event>> Executor::RunBatch(std::span<const v1::Event* const> decisions) {
  std::vector<std::vector<v1::Event>> results(decisions.size());
  // Same target: in order on one worker. Different targets: in parallel.
  std::map<std::string, std::vector<size_t>> groups;
  std::vector<std::string> order;
  for (size_t i = 0; i < decisions.size(); ++i) {
    std::string key = TargetKey(decisions[i]->target());
    if (!groups.count(key)) {
      order.push_back(key);
    }
    groups[key].push_back(i);
  }
  std::mutex qmu;
  std::deque<std::string> queue(order.begin(), order.end());
  auto worker = [&] {
    while (true) {
      std::string key;
      {
        std::lock_guard<std::mutex> g(qmu);
        if (queue.empty()) {
          return;
        }
        key = queue.front();
        queue.pop_front();
      }
      for (size_t i : groups[key]) {
        results[i] = HandleDecision(*decisions[i]);
      }
    }
  };
  size_t n = std::min<size_t>(std::max(1, options_.max_concurrent), order.size());
  if (n <= 1) {
    worker();
    return results;
  }
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n; ++i) {
    threads.emplace_back(worker);
  }
  for (auto& t : threads) {
    t.join();
  }
  return results;
}

std::vector<v1::Event> Executor::HandleControl(const v1::Event& control) {
  const v1::Control& c = control.control();
  std::string who = c.issued_by().empty() ? "unknown" : c.issued_by();
  if (c.has_pause()) {
    std::lock_guard<std::mutex> g(mu_);
    paused_[c.pause().scope()] = who + (c.reason().empty() ? "" : ": " + c.reason());
    return {};
  }
  if (c.has_resume()) {
    std::lock_guard<std::mutex> g(mu_);
    paused_.erase(c.resume().scope());
    return {};
  }
  if (c.has_rollback()) {
    auto e = Rollback(c.rollback().action_id(), "control " + control.event_id() + " by " + who);
    if (e.ok()) {
      return {*e};
    }
  }
  return {};
}

absl::StatusOr<v1::Event> Executor::Rollback(const std::string& action_id, const std::string& why) {
  v1::Event original;
  bool done_before = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = index_.find(action_id);
    if (it == index_.end()) {
      return absl::NotFoundError("action " + action_id + " is not in the outcome index (no applied outcome seen)");
    }
    original = it->second;
    done_before = rolled_back_.count(action_id) > 0;
  }
  if (original.outcome().pull_request().number() != 0) {
    const v1::PullRequest& pr = original.outcome().pull_request();
    return absl::FailedPreconditionError("action " + action_id + " was made in Git by pull request " + pr.url() +
                                         ": revert its commit " + pr.commit() + " in " + pr.repository() +
                                         " (a live rollback would be undone by the GitOps controller)");
  }
  OutcomeIds ids{original.outcome().decision_id(), original.outcome().proposal_id(),
                 DerivedUuid(action_id, "rollback"), action_id};
  std::vector<Change> changes = ChangesOf(original.outcome());
  v1::Event rb;
  auto make = [&](v1::OutcomeStatus s) {
    rb = NewOutcome(original, "rollback/" + OutcomeStatusName(s), ids, original.outcome().action(), s);
    return rb.mutable_outcome();
  };
  if (done_before) {
    v1::ActionOutcome* ro = make(v1::OUTCOME_STATUS_DUPLICATE);
    ro->mutable_verification()->set_detail("action " + action_id + " was already rolled back; " + why);
    Finish(rb);
    Count(ro->status());
    IndexOutcome(rb);
    return rb;
  }
  if (actuator_ == nullptr) {
    return absl::FailedPreconditionError("record-only mode: no Kubernetes connection to roll back with");
  }
  ActionResult u;
  {
    std::string key = changes.empty() ? action_id : changes.front().object;
    auto lock = LockFor(key);
    std::lock_guard<std::mutex> object_lock(*lock);
    u = actuator_->Undo(ids.action_id, changes, options_.dry_run);
  }
  v1::OutcomeStatus s = u.status;
  if (s == v1::OUTCOME_STATUS_SUCCEEDED) {
    s = v1::OUTCOME_STATUS_ROLLED_BACK;
  }
  v1::ActionOutcome* ro = make(s);
  ro->set_error(u.error);
  SetChanges(ro, u.changes);
  ro->mutable_verification()->set_detail("rollback requested (" + why + ")" + (u.detail.empty() ? "" : "; " + u.detail));
  Finish(rb);
  Count(s);
  IndexOutcome(rb);
  return rb;  // FAILED ones are audited too: the caller publishes every outcome
}

ExecutorStats Executor::Stats() const {
  std::lock_guard<std::mutex> g(mu_);
  ExecutorStats s = stats_;
  s.open_pull_requests = open_pulls_.size();
  s.ended_pull_requests = ended_pulls_.size();
  s.paused = !paused_.empty();
  for (const auto& [scope, who] : paused_) {
    s.paused_detail += (s.paused_detail.empty() ? "" : "; ") + (scope.empty() ? std::string("cluster") : scope) +
                       " by " + who;
  }
  return s;
}

// ---------------------------------------------------------------- GitOps

std::optional<v1::PullRequest> Executor::OpenPullFor(const std::string& key) const {
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& [id, p] : open_pulls_) {
    for (const auto& c : p.pending.outcome().changes()) {
      if (c.object() == key) {
        return p.pending.outcome().pull_request();
      }
    }
  }
  return std::nullopt;
}

std::optional<v1::Event> Executor::PullRequestEnded(const v1::Event& pending) {
  const v1::ActionOutcome& o = pending.outcome();
  const v1::PullRequest& pr = o.pull_request();
  auto pull = gitops_->forge().Get(pr.repository(), pr.number());
  if (!pull.ok()) {
    return std::nullopt;  // asked again at the next poll
  }
  OutcomeIds ids{o.decision_id(), o.proposal_id(), o.action_id(), ""};
  std::string which = "pull request #" + std::to_string(pr.number());
  if (!pull->merged && pull->state == "closed") {
    v1::Event e = NewOutcome(pending, "pull-request-closed", ids, o.action(), v1::OUTCOME_STATUS_CLOSED);
    e.mutable_outcome()->mutable_verification()->set_detail(which + " (" + pr.url() +
                                                            ") was closed without merging: nothing was changed");
    return e;
  }
  if (!pull->merged) {
    return std::nullopt;
  }
  TimePoint now = clock_.Now();
  TimePoint merged_seen = now;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = open_pulls_.find(o.action_id());
    if (it != open_pulls_.end()) {
      if (!it->second.merged_seen) {
        it->second.merged_seen = now;
      }
      merged_seen = *it->second.merged_seen;
    }
  }
  std::string detail;
  auto live = actuator_->LiveMatches(ChangesOf(o), &detail);
  if (!live.ok() || !*live) {
    if (now - merged_seen < gitops_->config().apply_timeout) {
      return std::nullopt;  // the GitOps controller has not synced yet
    }
    v1::Event e = NewOutcome(pending, "pull-request-merged", ids, o.action(), v1::OUTCOME_STATUS_NOT_FIXED);
    e.mutable_outcome()->set_error(which + " was merged, but " +
                                   (live.ok() ? detail : std::string(live.status().message())) + " after " +
                                   std::to_string(gitops_->config().apply_timeout.count() / 1000) +
                                   " s: is the GitOps controller syncing this object?");
    return e;
  }
  Millis timeout = o.action().verify_timeout_seconds()
                       ? Millis(int64_t{o.action().verify_timeout_seconds()} * 1000)
                       : options_.verify_timeout;
  v1::Verification v = verifier_->Verify(actuator_->PlanAfterMerge(o), timeout);
  v.set_detail(which + " merged and live (" + detail + "); " + v.detail());
  v1::Event e = NewOutcome(pending, "pull-request-merged", ids, o.action(),
                           v.healthy() ? v1::OUTCOME_STATUS_SUCCEEDED : v1::OUTCOME_STATUS_NOT_FIXED);
  *e.mutable_outcome()->mutable_verification() = v;
  return e;
}

size_t Executor::PollPullRequests(const std::function<absl::Status(const v1::Event&)>& publish) {
  if (gitops_ == nullptr || actuator_ == nullptr || verifier_ == nullptr) {
    return 0;
  }
  std::vector<v1::Event> open;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (const auto& [id, p] : open_pulls_) {
      open.push_back(p.pending);
    }
  }
  size_t published = 0;
  for (const auto& pending : open) {
    auto ended = PullRequestEnded(pending);
    if (!ended) {
      continue;
    }
    v1::ActionOutcome* out = ended->mutable_outcome();
    *out->mutable_changes() = pending.outcome().changes();
    *out->mutable_pull_request() = pending.outcome().pull_request();
    Finish(*ended);
    if (publish(*ended).ok()) {
      Count(out->status());
      IndexOutcome(*ended);
      ++published;
    }
  }
  return published;
}

}  // namespace kubemend::executor
