// The gate's state stays within its documented bounds (gate.state.*, the
// rate windows) however many proposals pass, and forgetting for size never
// lets a proposal be decided twice.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "gate.h"
#include "kubemend/common/ids.h"
#include "notify.h"

namespace kubemend::gate {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const ProducerIdentity kWho{"safety-gate", "g-1", "0.1.0"};

v1::Event Proposal(const FakeClock& clock, const std::string& name) {
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_PROPOSAL, {"analyzer", "a", "0"}, clock);
  e.set_incident_id("inc-" + name);
  e.mutable_target()->set_namespace_("shop");
  e.mutable_target()->set_kind("Pod");
  e.mutable_target()->set_name(name);
  e.mutable_target()->set_owner_kind("Deployment");
  e.mutable_target()->set_owner_name("api");
  e.mutable_proposal()->mutable_action()->set_type(v1::ACTION_TYPE_RESTART_POD);
  e.mutable_proposal()->mutable_policy()->set_name("crashloop");
  (*e.mutable_proposal()->mutable_facts())["replicas"] = "8";
  return e;
}

// Every limit off, as the pipeline benchmark runs it: nothing but the
// state's own bounds keeps it small.
GateConfig Unlimited() {
  GateConfig c = DefaultGateConfig();
  c.per_target = {0, minutes(10)};
  c.per_namespace = {0, minutes(10)};
  c.cluster = {0, minutes(10)};
  c.workload_budget = {0, hours(1)};
  c.max_in_flight = 0;
  c.max_disrupted_share = 1.0;
  c.max_remembered_decisions = 100;
  c.max_seen_events = 150;
  return c;
}

v1::Event Outcome(const FakeClock& clock, const v1::Event& decision) {
  v1::Event o = NewCausedEvent(v1::EVENT_TYPE_OUTCOME, decision, "outcome", {"executor", "e", "0"}, clock);
  o.mutable_outcome()->set_decision_id(decision.event_id());
  o.mutable_outcome()->set_action_id(decision.decision().action_id());
  o.mutable_outcome()->set_status(v1::OUTCOME_STATUS_SUCCEEDED);
  return o;
}

TEST(GateBoundsTest, StateMapsStayWithinTheirBoundsUnderAFlood) {
  FakeClock clock;
  Gate g(Unlimited(), kWho, clock);
  for (int i = 0; i < 2000; ++i) {
    v1::Event d = g.Decide(Proposal(clock, "p" + std::to_string(i)));
    ASSERT_EQ(d.decision().verdict(), v1::VERDICT_APPROVED) << d.decision().reason();
    g.Observe(Outcome(clock, d));
    // 100 decisions span more than the one-minute clock margin of the
    // stale fence (gate.state.max_decisions must cover over a minute).
    clock.Advance(seconds(1));
  }
  auto sizes = g.StateSizes();
  EXPECT_LE(sizes["decisions"], 100u);
  EXPECT_LE(sizes["seen_events"], 150u);
  EXPECT_LE(sizes["finished_actions"], 150u);
  // Limits that are off count nothing.
  EXPECT_EQ(sizes["rate_targets"] + sizes["rate_namespaces"] + sizes["rate_workloads"], 0u);
  // Outcomes arrived: nothing is left in flight.
  EXPECT_EQ(sizes["in_flight"], 0u);
}

TEST(GateBoundsTest, RateWindowHoldsAtMostTheLimitPerKey) {
  FakeClock clock;
  GateConfig c = Unlimited();
  c.per_target = {3, minutes(10)};
  Gate g(c, kWho, clock);
  for (int i = 0; i < 500; ++i) {
    g.Decide(Proposal(clock, "same-pod"));
    clock.Advance(seconds(1));
  }
  EXPECT_EQ(g.StateSizes()["rate_targets"], 1u);
}

TEST(GateBoundsTest, ProposalWhoseDecisionWasForgottenForSizeIsStaleNotDecidedAgain) {
  FakeClock clock;
  Gate g(Unlimited(), kWho, clock);
  v1::Event first_proposal = Proposal(clock, "first");
  v1::Event first = g.Decide(first_proposal);
  ASSERT_EQ(first.decision().verdict(), v1::VERDICT_APPROVED);
  // Two minutes later (beyond the one-minute clock margin), 100 more
  // decisions push the first out of memory.
  clock.Advance(minutes(2));
  for (int i = 0; i < 100; ++i) {
    g.Decide(Proposal(clock, "p" + std::to_string(i)));
    clock.Advance(seconds(1));
  }
  ASSERT_LE(g.StateSizes()["decisions"], 100u);
  v1::Event again = g.Decide(first_proposal);
  EXPECT_NE(again.event_id(), first.event_id()) << "never a second verdict under the first id";
  EXPECT_EQ(again.event_id(), DerivedUuid(first_proposal.event_id(), "decision-stale"));
  EXPECT_EQ(again.decision().verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(again.decision().rule(), "stale_proposal");
  EXPECT_NE(again.decision().reason().find("gate.state.max_decisions=100"), std::string::npos)
      << again.decision().reason();
  // A proposal recorded after everything forgotten is decided as usual, and
  // one still remembered gets its own decision back.
  clock.Advance(minutes(2));
  v1::Event fresh = g.Decide(Proposal(clock, "fresh"));
  EXPECT_NE(fresh.decision().rule(), "stale_proposal") << fresh.decision().reason();
}

TEST(GateBoundsTest, RememberedDecisionComesBackUnchanged) {
  FakeClock clock;
  Gate g(Unlimited(), kWho, clock);
  v1::Event p = Proposal(clock, "api-1");
  v1::Event first = g.Decide(p);
  clock.Advance(seconds(30));
  v1::Event again = g.Decide(p);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(again, first))
      << again.DebugString() << "\nvs\n" << first.DebugString();
}

TEST(GateBoundsTest, ReplayKeepsOnlyTheEventsTheGateObserves) {
  FakeClock clock;
  v1::Event alert = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c", "0"}, clock);
  alert.mutable_signal()->set_source(v1::SIGNAL_SOURCE_ALERTMANAGER);
  alert.mutable_signal()->set_name("KubePodCrashLooping");
  EXPECT_FALSE(Gate::Observes(alert));
  v1::Event budget = alert;
  budget.mutable_signal()->set_source(v1::SIGNAL_SOURCE_COST);
  budget.mutable_signal()->set_name("BudgetExceeded");
  EXPECT_TRUE(Gate::Observes(budget));
  Gate g(Unlimited(), kWho, clock);
  EXPECT_TRUE(Gate::Observes(g.Decide(Proposal(clock, "api-1"))));
}

// A proposal that needs a human: the policy asks for one.
v1::Event NeedsHuman(const FakeClock& clock, const std::string& name) {
  v1::Event e = Proposal(clock, name);
  e.mutable_proposal()->set_requires_approval(true);
  e.mutable_proposal()->set_reason("policy crashloop matched KubePodCrashLooping");
  return e;
}

TEST(GateBoundsTest, FullApprovalQueueAnswersNewProposalsExpiredWithTheBound) {
  FakeClock clock;
  GateConfig c = Unlimited();
  c.max_pending = 3;
  Gate g(c, kWho, clock);
  std::vector<v1::Event> log;
  std::vector<v1::Event> refused;
  for (int i = 0; i < 10; ++i) {
    v1::Event p = NeedsHuman(clock, "p" + std::to_string(i));
    v1::Event d = g.Decide(p);
    log.push_back(d);
    if (i < 3) {
      ASSERT_EQ(d.decision().verdict(), v1::VERDICT_AWAITING_APPROVAL) << d.decision().reason();
    } else {
      ASSERT_EQ(d.decision().verdict(), v1::VERDICT_EXPIRED) << d.decision().reason();
      EXPECT_EQ(d.decision().rule(), "approval-queue-full");
      EXPECT_NE(d.decision().reason().find("gate.state.max_pending=3"), std::string::npos)
          << d.decision().reason();
      EXPECT_NE(d.decision().reason().find("requires-approval"), std::string::npos)
          << "says what it waited for: " << d.decision().reason();
      EXPECT_EQ(d.decision().compared().at("waited_for"), "requires-approval");
      // Redelivered, it gets the same answer back, still not queued.
      EXPECT_EQ(g.Decide(p).event_id(), d.event_id());
      refused.push_back(d);
    }
    ASSERT_LE(g.StateSizes()["pending"], 3u);
    ASSERT_LE(g.StateSizes()["pending_deadlines"], 3u);
    clock.Advance(seconds(1));
  }
  ASSERT_EQ(g.ListPending().size(), 3u);

  // The notification tells a human what was not asked, and why.
  auto n = notify::Classify(refused[0]);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->kind, notify::Kind::kApprovalExpired);
  EXPECT_NE(n->title.find("approval queue is full"), std::string::npos) << n->title;
  EXPECT_NE(notify::PlainText(*n).find("gate.state.max_pending=3"), std::string::npos)
      << notify::PlainText(*n);

  // An answer frees a place: the next proposal is queued again.
  auto answered = g.Resolve(g.ListPending()[0].decision.decision().proposal_id(), false, "alice", "no");
  ASSERT_TRUE(answered.ok()) << answered.status();
  for (const auto& e : *answered) {
    g.Observe(e);
  }
  v1::Event next = g.Decide(NeedsHuman(clock, "after-answer"));
  EXPECT_EQ(next.decision().verdict(), v1::VERDICT_AWAITING_APPROVAL) << next.decision().reason();

  // Replayed by a restarted gate, the same log never queues more than the bound.
  Gate restarted(c, kWho, clock);
  for (const auto& e : log) {
    restarted.Observe(e);
    ASSERT_LE(restarted.StateSizes()["pending"], 3u);
  }
  EXPECT_TRUE(restarted.DueTimeouts().empty());
}

TEST(GateBoundsTest, QueueOverItsBoundAfterReplayHasItsNewestExpiredWithTheBound) {
  FakeClock clock;
  GateConfig big = Unlimited();
  big.max_pending = 10;
  Gate before(big, kWho, clock);
  std::vector<v1::Event> log;
  for (int i = 0; i < 6; ++i) {
    log.push_back(before.Decide(NeedsHuman(clock, "p" + std::to_string(i))));
    clock.Advance(seconds(1));
  }
  // Restarted with a lower bound: the queue read back is over it, and the
  // newest three are expired at the next timeout check, each saying why.
  GateConfig small = big;
  small.max_pending = 3;
  Gate g(small, kWho, clock);
  for (const auto& e : log) {
    g.Observe(e);
  }
  std::vector<v1::Event> due = g.DueTimeouts();
  ASSERT_EQ(due.size(), 3u);
  std::set<std::string> expired;
  for (const auto& e : due) {
    EXPECT_EQ(e.decision().verdict(), v1::VERDICT_EXPIRED);
    EXPECT_EQ(e.decision().rule(), "approval-queue-full");
    EXPECT_NE(e.decision().reason().find("gate.state.max_pending=3"), std::string::npos);
    expired.insert(e.decision().proposal_id());
    g.Observe(e);
  }
  EXPECT_EQ(expired, (std::set<std::string>{log[3].decision().proposal_id(), log[4].decision().proposal_id(),
                                             log[5].decision().proposal_id()}));
  EXPECT_EQ(g.StateSizes()["pending"], 3u);
  EXPECT_TRUE(g.DueTimeouts().empty());
}

}  // namespace
}  // namespace kubemend::gate
