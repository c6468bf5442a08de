#pragma once
// The executor's core: approved decisions in, outcome events out.
//
//  - Exactly once in effect: the outcome index (every outcome on the
//    outcomes topic, rebuilt from it at start) answers "was this action id
//    applied?"; the action-id annotation written in the same update as the
//    change answers it for the window in which the outcome was not yet
//    published. Either way a replay is recorded as DUPLICATE.
//  - One action at a time per object (lock table keyed by the object the
//    action changes), at most `max_concurrent` actions at once (RunBatch).
//  - Kill switch: Control Pause/Resume; while paused (globally, or for the
//    target's namespace) approved decisions are recorded as SKIPPED.
//  - Verification after acting (SUCCEEDED vs NOT_FIXED) and rollback: on a
//    failed verification when the action asks for it, and on request
//    (Control RollbackRequest, gRPC ExecutorAdmin/Rollback).
//  - GitOps mode (SetGitOps): a change the actuator turned into a pull
//    request is PENDING_MERGE; PollPullRequests follows each open one and
//    records how it ended (SUCCEEDED / NOT_FIXED once merged and live,
//    CLOSED when closed unmerged). While a pull request for an object is
//    open, other actions on that object are SKIPPED.
//  - Without a Kubernetes client the executor is record-only: every approved
//    decision becomes a DRY_RUN outcome that says so.
//
// Threading: HandleDecision/RunBatch/HandleControl/Rollback may be called
// from any thread (the consume loop, the control consumer, gRPC); shared
// state is behind mutexes.
#include <absl/status/statusor.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "actuator.h"
#include "kubemend/common/events.h"
#include "verifier.h"

namespace kubemend::executor {

struct ExecutorOptions {
  bool dry_run = false;         // executor.dry_run: every action through dryRun=All
  int max_concurrent = 4;       // actions running at once
  bool verify_by_default = true;  // verify even when the action does not ask
  Millis verify_timeout{120000};  // when the action gives none
  std::string record_only_reason;  // set when there is no Kubernetes client
  // Called (on the worker thread) right before an approved action is applied:
  // the HealingAction view shows it InProgress. Must not block for long.
  std::function<void(const v1::Event& decision)> on_start;
  // executor.index.max_actions: action ids the redelivery/rollback index
  // keeps (the newest); the annotation on each object stays the durable fence.
  size_t max_indexed = 100000;
};

struct ExecutorStats {
  bool paused = false;
  std::string paused_detail;
  uint64_t applied = 0;
  uint64_t duplicates = 0;
  uint64_t skipped = 0;
  uint64_t failed = 0;
  uint64_t not_fixed = 0;
  uint64_t rolled_back = 0;
  uint64_t refused = 0;  // protected or opted out on the live object
  uint64_t pending_merge = 0;  // pull requests opened
  uint64_t closed = 0;         // pull requests closed unmerged
  size_t indexed = 0;
  size_t open_pull_requests = 0;
  size_t ended_pull_requests = 0;  // remembered (bound: executor.index.max_actions)
};

class Executor {
 public:
  // `actuator`/`verifier` null = record-only mode.
  Executor(Actuator* actuator, Verifier* verifier, const Clock& clock, ProducerIdentity who,
           ExecutorOptions options);

  // Outcomes for one decision event (none for non-approvals; two when a
  // failed verification was rolled back). They are held as unacknowledged
  // until Acknowledge(): a retry of the same decision before that (the
  // publish failed) gets the very same outcome events back, so the real
  // outcome, its verification and any rollback still reach the trail
  // instead of a DUPLICATE.
  std::vector<v1::Event> HandleDecision(const v1::Event& decision);
  // The broker acknowledged these outcomes: they enter the index (a later
  // redelivery of their decision is DUPLICATE).
  void Acknowledge(const std::vector<v1::Event>& outcomes);
  // Decisions of one batch, grouped by target and run in parallel (bounded);
  // the result keeps the input order.
  // (The service passes pointers to events decoded onto its batch's arena.)
  std::vector<std::vector<v1::Event>> RunBatch(std::span<const v1::Event* const> decisions);
  std::vector<std::vector<v1::Event>> RunBatch(const std::vector<v1::Event>& decisions);
  // Pause/Resume change state; RollbackRequest runs a rollback.
  std::vector<v1::Event> HandleControl(const v1::Event& control);
  // Undo a recorded action; NotFound if it is not in the index,
  // FailedPrecondition if it cannot be undone (the outcome is FAILED then).
  absl::StatusOr<v1::Event> Rollback(const std::string& action_id, const std::string& why);
  // Feeds the index from the outcomes topic (own outcomes included).
  void IndexOutcome(const v1::Event& outcome);
  // True for the outcomes IndexOutcome keeps something of: the start-up
  // replay holds only these (an outcome that changed nothing is dropped as
  // it is read).
  static bool Indexes(const v1::Event& outcome);

  // GitOps mode: the writer whose forge PollPullRequests asks (null = off).
  void SetGitOps(GitOpsWriter* gitops) { gitops_ = gitops; }
  // Looks at every open pull request once: merged and live -> verified
  // outcome; merged but not live after executor.gitops.apply_timeout ->
  // NOT_FIXED; closed unmerged -> CLOSED. Each outcome goes through
  // `publish` and leaves the open list only once published. Returns how
  // many were published. Called from one thread (the service's poller).
  size_t PollPullRequests(const std::function<absl::Status(const v1::Event&)>& publish);

  ExecutorStats Stats() const;
  bool record_only() const { return actuator_ == nullptr; }
  const ExecutorOptions& options() const { return options_; }

 private:
  // The ids every outcome of one action carries.
  struct OutcomeIds {
    std::string decision_id;
    std::string proposal_id;
    std::string action_id;
    std::string rolls_back_action_id;
  };
  bool PausedFor(const v1::Target& t, std::string* why) const;
  // The one outcome builder: caused by `cause`, started now, not verified.
  v1::Event NewOutcome(const v1::Event& cause, const std::string& purpose, const OutcomeIds& ids,
                       const v1::Action& action, v1::OutcomeStatus status) const;
  void Finish(v1::Event& outcome) const;  // sets finished_at
  // Execute's steps: not run at all (paused, duplicate, record-only); the
  // request; the write under the object's lock; verification and rollback.
  std::vector<v1::Event> Execute(const v1::Event& decision);
  std::optional<v1::Event> NotRun(const v1::Event& decision, const OutcomeIds& ids);
  ActionRequest RequestFor(const v1::Event& decision, const std::string& action_id) const;
  v1::Event ApplyLocked(const v1::Event& decision, const OutcomeIds& ids, const ActionRequest& req, ActionResult* r);
  std::vector<v1::Event> VerifyAndRollBack(const OutcomeIds& ids, const ActionRequest& req, const ActionResult& r,
                                           v1::Event outcome);
  void Count(v1::OutcomeStatus s);
  // The outcome that ends pull request `pending`, if it has ended.
  std::optional<v1::Event> PullRequestEnded(const v1::Event& pending);
  // An open pull request for the object `key` ("Kind/ns/name"), if any.
  std::optional<v1::PullRequest> OpenPullFor(const std::string& key) const;
  std::shared_ptr<std::mutex> LockFor(const std::string& key);

  Actuator* actuator_;
  Verifier* verifier_;
  const Clock& clock_;
  ProducerIdentity who_;
  ExecutorOptions options_;

  mutable std::mutex mu_;
  std::map<std::string, std::string> paused_;  // scope -> "by: reason"
  std::map<std::string, v1::Event> index_;     // action id -> last outcome that changed something
  // GitOps: action id -> its PENDING_MERGE outcome, while the pull request is open.
  struct OpenPull {
    v1::Event pending;
    std::optional<TimePoint> merged_seen;
  };
  std::map<std::string, OpenPull> open_pulls_;
  std::set<std::string> ended_pulls_;  // action ids whose pull request has its final outcome
  std::deque<std::string> ended_pulls_order_;  // the newest options_.max_indexed are kept
  GitOpsWriter* gitops_ = nullptr;
  std::set<std::string> rolled_back_;          // action ids undone
  std::map<std::string, std::weak_ptr<std::mutex>> locks_;
  // Bounded: the index forgets its oldest entries beyond
  // options_.max_indexed (the marker the actuator writes on each object
  // stays the durable fence).
  std::deque<std::string> index_order_;
  std::deque<std::string> rolled_back_order_;
  // Decision action id -> outcomes not yet acknowledged by the broker.
  std::map<std::string, std::vector<v1::Event>> unacked_;
  std::deque<std::string> unacked_order_;
  ExecutorStats stats_;

 public:
  static constexpr size_t kMaxIndexed = 100000;
  static constexpr size_t kMaxUnacked = 4096;
};

}  // namespace kubemend::executor
