#pragma once
// The analyzer's decision engine: signals in, proposals out.
//
// - Groups signals into incidents on one subject: a pod with an owner joins
//   its owner's incident (Deployment/api), a pod carrying a `node` label joins
//   an open incident on that node, and a node incident absorbs the pod
//   incidents already open on it; but the node's OOMKilling Warning events
//   are evidence of a pod's OOM kill, not a node problem: they join the
//   incident of the OOM-killed pod on that node (either order).
// - An incident held open only by Warning events (they never resolve)
//   closes after event_quiet without news.
// - Runs the policies (highest priority first) on each firing signal; at most
//   one proposal per incident is in flight until its outcome (or a rejecting
//   decision) arrives.
// - Enforces cooldowns, max actions per hour, and loop breaking: a remediation
//   tried loop_max_attempts times on one target within loop_window moves on to
//   the policy's next action, and when every action is exhausted the engine
//   escalates (Notify, escalation=true, requires_approval=true) once.
// - Diagnosis before remedy: among the policies that match a signal, the one
//   whose trigger has the most fact conditions wins (ties: priority); the
//   proposal names the facts and the policies it outranked.
// - Every signal that leads to no proposal gets a Control NoAction event
//   saying why (no_policy, in_flight, cooldown, budget, loop_breaker,
//   no_target, resolved, ignored, monitor, at_limit, at_capacity).
// - Tick() advances time without new events: incident TTLs, in-flight
//   timeouts, cooldowns and budgets that have passed, trigger `for`
//   durations that now hold.
// - Classifies every closed incident (fixed_by_action, recovered_on_own,
//   not_fixed, merged) in a Control IncidentClosed event.
// - Replay() rebuilds all of that from the event log after a restart.
//
// Pure decision logic: time from the injected Clock, the adviser behind an
// interface. Thread-safe (one mutex); normally driven by the consumer thread.
#include <deque>
#include <map>
#include <unordered_map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "adviser.h"
#include "kubemend/common/clock.h"
#include "kubemend/common/events.h"
#include "policy.h"

namespace kubemend::analyzer {

struct EngineConfig {
  Millis incident_ttl{6LL * 3600 * 1000};      // close (not_fixed) after this long without news
  Millis inflight_timeout{30LL * 60 * 1000};   // forget a proposal that never got an outcome
  Millis state_horizon{24LL * 3600 * 1000};    // how far back replay and counters look
  // An incident whose only firing signals are Kubernetes Warning events (one
  // shot: they never resolve) closes after this long without a new signal.
  Millis event_quiet{10LL * 60 * 1000};
  // Open incidents kept at most: opening one more closes the least recently
  // active first (not_fixed / recovered_on_own, as the TTL would), so that a
  // storm of distinct subjects cannot grow the state without bound.
  size_t max_open_incidents = 5000;
  // Proposals remembered (for their outcomes and decisions) at most; the
  // oldest are forgotten first (their late outcome then counts no attempt).
  size_t max_proposals = 20000;
  // Attempt counters ("subject|Action" -> attempts: the loop breaker) and
  // cooldowns ("policy|subject" -> last proposal) remembered at most. Only
  // an entry no limit reads any more (past the longest loop window, past its
  // policy's cooldown) is forgotten to make room; while every entry still
  // counts, a proposal that needs one more is refused (NoAction
  // at_capacity), never a retry budget or a cooldown loosened.
  size_t max_attempt_keys = 20000;
  size_t max_cooldowns = 20000;
};

struct Decision {
  std::vector<v1::Event> out;  // proposals and controls, in order
  std::string reason;          // one sentence for the log
  // Why nothing was proposed (NoAction.category); empty after a proposal.
  std::string category;
  std::string incident_id;     // the incident the signal joined
  TimePoint until{};           // cooldown: when the policy may act again
  std::string in_flight;       // in_flight: the proposal the incident waits for
  // monitor: the proposal the policy would have made (never published as one).
  std::optional<v1::Event> would_propose;
};

struct IncidentView {
  std::string id;
  std::string subject;
  size_t firing = 0;
  std::string in_flight;  // proposal id
  bool escalated = false;
  std::string policy;
};

struct EngineStats {
  size_t open_incidents = 0;
  size_t cooldowns = 0;
  size_t attempt_keys = 0;
  size_t remembered_proposals = 0;
  size_t incident_signal_ids = 0;  // summed over open incidents; at most 1000 each
  size_t incident_signals = 0;     // distinct signals, summed; at most 1000 each
  uint64_t proposals = 0;
  uint64_t escalations = 0;
  uint64_t closed = 0;
  // Entries forgotten to make room under a cap (ended ones only), and
  // proposals refused because every entry still counted (at_capacity).
  uint64_t attempt_keys_forgotten = 0;
  uint64_t cooldowns_forgotten = 0;
  uint64_t attempt_keys_full = 0;
  uint64_t cooldowns_full = 0;
};

class Engine {
 public:
  Engine(EngineConfig cfg, ProducerIdentity who, const Clock& clock, Adviser* adviser = nullptr);
  void SetPolicies(std::shared_ptr<const PolicySet> policies);

  Decision OnSignal(const v1::Event& signal);
  Decision OnOutcome(const v1::Event& outcome);
  Decision OnDecision(const v1::Event& decision);
  // Called on a timer: see the header comment. Emits proposals and
  // IncidentClosed controls only (no NoAction repeats).
  Decision Tick();
  // Applies an event from the log to the state without deciding or emitting.
  // Feed signals, proposals, decisions, outcomes and controls in recorded order.
  void Replay(const v1::Event& event);

  std::vector<IncidentView> Incidents() const;
  // Cooldown end per "policy|subject", still running at now.
  std::map<std::string, TimePoint> Cooldowns() const;
  EngineStats Stats() const;

 private:
  struct SignalRef {
    std::string event_id;
    std::string name;
    bool firing = true;
    v1::Event last;  // the latest event of this signal
  };
  struct Incident {
    std::string id;
    std::string key;  // subject key
    v1::Target subject;
    std::map<std::string, SignalRef> signals;  // by signal key
    std::vector<std::string> signal_ids;       // signal events in order (first kMaxIds)
    std::set<std::string> seen_ids;            // the ids in signal_ids, for redelivery
    std::vector<std::string> proposal_ids;
    TimePoint opened;
    TimePoint last_activity;
    std::string in_flight;
    TimePoint in_flight_since;
    std::string policy;
    bool action_succeeded = false;
    bool escalated = false;
    // Tick retries a signal that got no proposal for a reason time clears
    // (no_policy: a trigger's `for`; cooldown; budget) from retry_at on.
    bool retry = false;
    TimePoint retry_at{};
  };
  struct Attempt {
    TimePoint at;
    std::string proposal_id;
    v1::OutcomeStatus outcome = v1::OUTCOME_STATUS_UNSPECIFIED;
    bool counts = true;
    // The loop window of the policy that proposed it (fact loop_window_ms);
    // negative when unknown (a proposal logged before the fact existed).
    Millis window{-1};
  };
  // When a policy last proposed on a subject, and its cooldown then
  // (fact cooldown_ms; negative when unknown).
  struct Cooldown {
    TimePoint at;
    Millis length{-1};
  };
  struct ProposalInfo {
    std::string incident_id;
    std::string attempt_key;
    TimePoint at;
  };

  Decision HandleSignal(const v1::Event& e, TimePoint now, bool replay);
  Decision HandleOutcome(const v1::Event& e, TimePoint now, bool replay);
  Decision HandleDecision(const v1::Event& e, TimePoint now, bool replay);
  void RecordProposal(const v1::Event& p, TimePoint at);
  // Propose and its steps: match, choose the step (loop breaker), then an
  // escalation or a remedy within cooldown/budget (with the adviser), facts.
  struct StepChoice {
    const PolicyAction* step = nullptr;  // null: every action exhausted
    size_t attempts = 0;
    std::string attempt_key;
    std::string exhausted;
    std::vector<v1::ActionType> still_allowed;
  };
  void Propose(Incident& inc, const v1::Event& cause, const v1::Event& signal, TimePoint now,
               Decision* d);
  const Policy* MatchBest(const v1::Event& signal, TimePoint now, MatchResult* m) const;
  v1::Event NoActionEvent(const v1::Event& signal, const Decision& d) const;
  static const v1::Event* LatestFiring(const Incident& inc);
  StepChoice ChooseStep(const Incident& inc, const Policy& pol, TimePoint now);
  bool BuildEscalation(const Incident& inc, const Policy& pol, const v1::Event& cause,
                       StepChoice* c, v1::Event* p, Decision* d);
  bool WithinBudget(const Incident& inc, const Policy& pol, TimePoint now, Decision* d);
  bool BuildRemedy(const Incident& inc, const Policy& pol, const MatchResult& m,
                   const v1::Event& cause, const v1::Event& signal, TimePoint now, StepChoice* c,
                   v1::Event* p, Decision* d);
  void ApplyAdvice(const Incident& inc, const Policy& pol, const v1::Event& signal, TimePoint now,
                   StepChoice* c, v1::Action* action, v1::Target* target, std::string* reason,
                   v1::RemediationProposal* prop);
  static void FillTargetFacts(const v1::Event& signal, const v1::Target& target,
                              v1::RemediationProposal* prop);
  static void FillFacts(const Incident& inc, const Policy& pol, const MatchResult& m,
                        const v1::Event& signal, const StepChoice& c,
                        v1::RemediationProposal* prop);
  void Close(const std::string& id, const std::string& classification, const std::string& detail,
             const v1::Event* cause, TimePoint now, Decision* d, const std::string& merged_into = "");
  void Sweep(const v1::Event* cause, TimePoint now, Decision* d, bool replay, bool force = false);
  Incident* IncidentFor(const v1::Event& signal, TimePoint now, bool create, Decision* d,
                        bool replay);
  // Moves `from`'s signals into `into` and closes `from` as merged.
  void MergeInto(const std::string& from, Incident& into, const std::string& detail,
                 const v1::Event& cause, TimePoint now, Decision* d, bool replay);
  void TakeOverPodIncidents(Incident& node_inc, const v1::Event& e, TimePoint now, Decision* d,
                            bool replay);
  // A node's OOMKilling event and the OOM kill of a pod on that node are one
  // incident: the pod's (see the header comment).
  Incident* OomIncidentOnNode(const std::string& node);
  static bool OnlyNodeOomEvents(const Incident& inc);
  void AbsorbNodeOomEvents(Incident& inc, const v1::Event& e, TimePoint now, Decision* d,
                           bool replay);
  size_t CountAttempts(const std::string& key, Millis window, TimePoint now);
  static void NoteSignalId(Incident& inc, const std::string& id);
  // An incident follows at most kMaxSignals distinct signals (engine_capacity.cc).
  static constexpr size_t kMaxSignals = 1000;
  void LimitSignals(Incident& inc, const std::string& keep);
  // Closes the least recently active incidents while the cap is reached.
  void MakeRoom(const v1::Event& cause, TimePoint now, Decision* d);
  // The caps on attempts_ and last_proposal_ (engine_capacity.cc): true when
  // the proposal's attempt key and cooldown key are remembered already or
  // fit (after forgetting ended entries); else d says at_capacity and until.
  bool RoomToRemember(const Incident& inc, const Policy& pol, const std::string& attempt_key,
                      TimePoint now, Decision* d);
  // Forget the entries no limit reads any more at `now`; true when there is
  // room for one more afterwards.
  bool ForgetEndedAttempts(TimePoint now);
  bool ForgetEndedCooldowns(TimePoint now);
  // Until when an entry still counts for some limit.
  TimePoint AttemptsCountUntil(const std::deque<Attempt>& attempts) const;
  TimePoint CooldownRunsUntil(const std::string& key, const Cooldown& c) const;
  // Reads the longest loop window and each policy's cooldown from policies_.
  void NoteWindows();

  EngineConfig cfg_;
  ProducerIdentity who_;
  const Clock& clock_;
  Adviser* adviser_;
  mutable std::mutex mu_;
  std::shared_ptr<const PolicySet> policies_ = std::make_shared<PolicySet>();
  std::map<std::string, Incident> incidents_;        // by id
  // Lookup only, never walked: hashed (the keys share long prefixes, and a
  // tree walk of them was the analyzer's largest memcmp in the profiles).
  std::unordered_map<std::string, std::string> by_subject_;  // subject key -> incident id
  std::unordered_map<std::string, std::string> by_signal_;   // signal key -> incident id
  std::map<std::string, std::deque<Attempt>> attempts_;  // "subject|Action" -> attempts
  std::map<std::string, Cooldown> last_proposal_;    // "policy|subject" -> when
  std::map<std::string, std::deque<TimePoint>> per_hour_;  // policy -> proposal times
  std::map<std::string, ProposalInfo> proposals_;    // proposal id -> info
  std::deque<std::string> proposal_order_;            // for cfg_.max_proposals
  std::set<std::string> closed_ids_;
  std::deque<std::string> closed_order_;
  uint64_t n_proposals_ = 0, n_escalations_ = 0, n_closed_ = 0;
  // For the caps (engine_capacity.cc): the longest loop window and each
  // policy's cooldown (from SetPolicies), and when the earliest remembered
  // entry ends (no scan for room before then).
  Millis max_loop_window_{0};
  Millis max_cooldown_{0};
  std::map<std::string, Millis> cooldown_of_;
  TimePoint attempts_room_at_{};
  TimePoint cooldowns_room_at_{};
  uint64_t n_attempt_keys_forgotten_ = 0, n_cooldowns_forgotten_ = 0;
  uint64_t n_attempt_keys_full_ = 0, n_cooldowns_full_ = 0;
  TimePoint last_sweep_{};
};

// The subject an incident is about, and its key ("ns/Kind/name").
v1::Target SubjectOf(const v1::Event& signal);
std::string SubjectKey(const v1::Target& t);
std::string NodeOf(const v1::Event& signal);  // "" when unknown

}  // namespace kubemend::analyzer
