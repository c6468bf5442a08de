#pragma once
// The safety gate's decision logic: a pure core over kubemend.v1 events and
// an injected Clock. No Kafka, gRPC or logging here; adapters (main.cc,
// admin_service, log_follower) call it.
//
// Gate holds the state the rules need (rate-limit windows, in-flight actions,
// the circuit breaker, pause, modes, cost budgets, pending approvals). All of
// it is derived from events on the log, so it is rebuilt by feeding the same
// events to Observe() after a restart:
//   decisions → counters, in-flight actions, pending approvals, decided proposals
//   outcomes  → in-flight actions end, circuit breaker samples
//   control   → pause/resume, global and per-policy modes
//   signals   → BudgetExceeded firing/resolved per namespace
// Decide() records its own decision through the same Observe() path, so a
// decision made live and the same decision replayed have the same effect.
//
// Not thread-safe: the owner serialises calls (one mutex in the adapter).
#include <absl/status/statusor.h>

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "gate_config.h"
#include "kubemend/common/clock.h"
#include "kubemend/common/events.h"

namespace kubemend::gate {

constexpr char kGateApprover[] = "safety-gate";

// A proposal waiting for a human.
struct Pending {
  v1::Event decision;  // the AWAITING_APPROVAL decision (carries the proposal)
  TimePoint queued_at;
  TimePoint expires_at;
  bool escalated = false;
};

enum class BreakerState { kClosed, kOpen, kHalfOpen };
std::string BreakerStateName(BreakerState s);

class Gate {
 public:
  Gate(GateConfig cfg, ProducerIdentity who, const Clock& clock);

  // Decides on a proposal event and records the decision. A proposal decided
  // before (redelivery) gets its earlier decision back, unchanged, so the
  // same decision id is republished and nothing is counted twice.
  v1::Event Decide(const v1::Event& proposal);

  // Applies an event read from the log (or just published by the adapter).
  // Idempotent by event id; events of other types are ignored.
  void Observe(const v1::Event& e);

  // A human's answer to a pending proposal: the Control(Approval) event and
  // the resulting decision, not yet applied. The caller publishes both, then
  // Observe()s them. NotFound when nothing waits under that id;
  // FailedPrecondition while paused or outside the risky-action windows;
  // InvalidArgument without `who`. `who` is the authenticated subject (the
  // approver recorded); `client_note` is a name the client sent, recorded
  // beside it as Control.client_note and never as the approver.
  absl::StatusOr<std::vector<v1::Event>> Resolve(const std::string& proposal_id, bool approve,
                                                 const std::string& who,
                                                 const std::string& reason,
                                                 const std::string& client_note = "") const;

  // Pending proposals past their deadline: an EXPIRED decision each (or,
  // with escalate_on_timeout, a first re-queued escalation). Not applied.
  std::vector<v1::Event> DueTimeouts() const;

  // The Control(BreakerOpened) event for the breaker's current opening when
  // it is open and that event is not on the log yet (published by no replica
  // before a restart); not applied. Its id is derived from the outcome that
  // tripped the breaker, so every replica proposes the same event.
  std::optional<v1::Event> DueBreakerAnnouncement() const;

  // Control events for Pause/Resume/SetMode, not applied. scope "" = global,
  // else a policy name (SetMode only). InvalidArgument without `who`.
  absl::StatusOr<v1::Event> MakeControl(v1::Control control) const;

  std::vector<Pending> ListPending() const;
  v1::Mode global_mode() const { return global_mode_; }
  bool paused() const { return paused_; }
  const std::map<std::string, v1::Mode>& policy_modes() const { return policy_modes_; }
  BreakerState breaker_state() const { return BreakerAt(clock_.Now()); }
  size_t in_flight() const { return in_flight_.size(); }
  bool over_budget(const std::string& ns) const { return over_budget_.count(ns) > 0; }
  const GateConfig& config() const { return cfg_; }
  // False for events Observe() ignores (every signal but BudgetExceeded):
  // the start-up replay drops them as it reads.
  static bool Observes(const v1::Event& e);
  // Entries of each state map, for the kubemend_gate_state_entries gauge and
  // the tests that hold them to their bounds.
  std::map<std::string, size_t> StateSizes() const;

 private:
  struct Verdict {
    v1::Verdict verdict = v1::VERDICT_APPROVED;
    std::string rule;
    std::string reason;
    std::map<std::string, std::string> compared;
    bool dry_run = false;
  };
  struct InFlight {
    TimePoint at;
    std::string workload;
    int64_t pods = 1;
  };
  // Sorted timestamps of approvals for one key.
  using Times = std::deque<TimePoint>;

  Verdict Evaluate(const v1::Event& proposal, TimePoint now);
  // Protected targets and never-allowed actions: true (and *out filled) when
  // the proposal may never run, whoever asks.
  bool HardRefusal(const v1::Event& proposal, Verdict* out) const;
  v1::Mode EffectiveMode(const v1::RemediationProposal& p) const;
  Level LevelFor(const v1::Event& proposal) const;
  BreakerState BreakerAt(TimePoint t) const;
  void ApplyDecision(const v1::Event& e);
  void ApplyOutcome(const v1::Event& e);
  void ApplyControl(const v1::Event& e);
  void ApplySignal(const v1::Event& e);
  void Prune(TimePoint now);
  int64_t CountSince(Times& t, TimePoint since) const;
  void PruneInFlight(TimePoint now);
  Millis MemoryHorizon() const;
  std::optional<v1::Event> StaleProposal(const v1::Event& proposal, TimePoint now) const;
  v1::Event BuildDecision(const v1::Event& cause, const std::string& purpose,
                          const v1::RemediationProposal& proposal, const Verdict& v,
                          const std::string& approver, TimePoint now) const;
  bool SeenBefore(const std::string& event_id, TimePoint at);

  GateConfig cfg_;
  ProducerIdentity who_;
  const Clock& clock_;
  Millis retention_;

  // Counters (approvals that run for real: not dry runs).
  std::unordered_map<std::string, Times> by_target_;
  std::unordered_map<std::string, Times> by_namespace_;
  std::unordered_map<std::string, Times> by_workload_;
  Times cluster_;
  std::map<std::string, InFlight> in_flight_;  // by action id
  std::unordered_map<std::string, TimePoint> finished_actions_;
  std::deque<std::string> finished_order_;  // oldest first; at most cfg_.max_seen_events

  // Circuit breaker.
  std::deque<std::pair<TimePoint, bool>> samples_;  // (time, failed)
  std::optional<TimePoint> open_until_;             // set while open or half-open
  std::set<std::string> probes_;                    // action ids let through half-open
  int64_t probe_successes_ = 0;
  struct Opening {
    v1::Event outcome;  // the outcome that tripped it
    TimePoint at;
    int64_t failures = 0;
    int64_t samples = 0;
  };
  std::optional<Opening> opening_;     // the latest opening
  std::deque<std::string> announced_;  // outcome ids whose opening is on the log (latest 64)
  void RecordOpening(const v1::Event& outcome, TimePoint at, int64_t failures, int64_t samples);

  bool paused_ = false;
  v1::Mode global_mode_;
  std::map<std::string, v1::Mode> policy_modes_;
  std::map<std::string, TimePoint> over_budget_;  // namespace → since

  std::map<std::string, Pending> pending_;  // by proposal id; at most cfg_.max_pending
  std::set<std::pair<TimePoint, std::string>> deadlines_;  // (expires_at, proposal id) of pending_
  void ErasePending(const std::string& proposal_id);
  // cfg_.max_pending (gate.cc): turns a wait into EXPIRED approval-queue-full.
  void RefuseForFullQueue(size_t waiting, Verdict* v) const;
  void ExpireQueueOverflow(TimePoint now, std::vector<v1::Event>* out) const;
  // Proposal id → its last decision, serialized (a parsed v1::Event takes
  // several times its wire size). Bounded by retention_ and by
  // cfg_.max_remembered_decisions; forgotten_until_ is the newest decision
  // forgotten for size, before which proposals are stale (StaleProposal).
  struct Remembered {
    TimePoint at;
    std::string decision;
  };
  std::unordered_map<std::string, Remembered> decided_;
  std::deque<std::pair<TimePoint, std::string>> decided_order_;
  std::optional<TimePoint> forgotten_until_;
  void ForgetOverflow();
  std::unordered_map<std::string, TimePoint> seen_;     // event ids applied
  std::deque<std::pair<TimePoint, std::string>> seen_order_;
  uint64_t ops_ = 0;
};

// Workload key of a target: namespace/owner (or the target itself).
std::string WorkloadKey(const v1::Target& t);

}  // namespace kubemend::gate
