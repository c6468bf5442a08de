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
  size_t indexed = 0;
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
  std::vector<std::vector<v1::Event>> RunBatch(const std::vector<v1::Event>& decisions);
  // Pause/Resume change state; RollbackRequest runs a rollback.
  std::vector<v1::Event> HandleControl(const v1::Event& control);
  // Undo a recorded action; NotFound if it is not in the index,
  // FailedPrecondition if it cannot be undone (the outcome is FAILED then).
  absl::StatusOr<v1::Event> Rollback(const std::string& action_id, const std::string& why);
  // Feeds the index from the outcomes topic (own outcomes included).
  void IndexOutcome(const v1::Event& outcome);

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
  std::shared_ptr<std::mutex> LockFor(const std::string& key);

  Actuator* actuator_;
  Verifier* verifier_;
  const Clock& clock_;
  ProducerIdentity who_;
  ExecutorOptions options_;

  mutable std::mutex mu_;
  std::map<std::string, std::string> paused_;  // scope -> "by: reason"
  std::map<std::string, v1::Event> index_;     // action id -> last outcome that changed something
  std::set<std::string> rolled_back_;          // action ids undone
  std::map<std::string, std::weak_ptr<std::mutex>> locks_;
  // Bounded: the index forgets its oldest entries beyond kMaxIndexed (the
  // marker the actuator writes on each object stays the durable fence).
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
