// One test (at least) per safety rule, over the pure core with a FakeClock.
#include "gate.h"
#include "notify_config.h"

#include <gtest/gtest.h>

#include "kubemend/common/ids.h"
#include "kubemend/common/runtime.h"

namespace kubemend::gate {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const ProducerIdentity kWho{"safety-gate", "g-1", "0.1.0"};

v1::Event Proposal(const FakeClock& clock, const std::string& ns, const std::string& kind,
                   const std::string& name, v1::ActionType action = v1::ACTION_TYPE_RESTART_POD) {
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_PROPOSAL, {"analyzer", "a", "0"}, clock);
  e.set_incident_id("inc-1");
  e.mutable_target()->set_namespace_(ns);
  e.mutable_target()->set_kind(kind);
  e.mutable_target()->set_name(name);
  e.mutable_proposal()->mutable_action()->set_type(action);
  e.mutable_proposal()->mutable_policy()->set_name("crashloop");
  return e;
}

v1::Event Pod(const FakeClock& clock, const std::string& ns = "shop", const std::string& name = "api-1",
              v1::ActionType action = v1::ACTION_TYPE_RESTART_POD) {
  v1::Event e = Proposal(clock, ns, "Pod", name, action);
  e.mutable_target()->set_owner_kind("Deployment");
  e.mutable_target()->set_owner_name("api");
  (*e.mutable_proposal()->mutable_facts())["replicas"] = "8";
  return e;
}

v1::Event Outcome(const FakeClock& clock, const v1::Event& decision, v1::OutcomeStatus status) {
  v1::Event o = NewCausedEvent(v1::EVENT_TYPE_OUTCOME, decision, "outcome", {"executor", "e", "0"}, clock);
  o.mutable_outcome()->set_decision_id(decision.event_id());
  o.mutable_outcome()->set_action_id(decision.decision().action_id());
  o.mutable_outcome()->set_status(status);
  return o;
}

v1::Event Budget(const FakeClock& clock, const std::string& ns, v1::SignalStatus status) {
  v1::Event s = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c", "0"}, clock);
  s.mutable_target()->set_namespace_(ns);
  s.mutable_target()->set_kind("Namespace");
  s.mutable_target()->set_name(ns);
  s.mutable_signal()->set_source(v1::SIGNAL_SOURCE_COST);
  s.mutable_signal()->set_name("BudgetExceeded");
  s.mutable_signal()->set_status(status);
  return s;
}

// A config with every limit out of the way unless a test sets it.
GateConfig Loose() {
  GateConfig c = DefaultGateConfig();
  c.protected_namespaces.insert(c.own_namespace);
  c.per_target = {1000, minutes(10)};
  c.per_namespace = {1000, minutes(10)};
  c.cluster = {1000, minutes(10)};
  c.workload_budget = {1000, hours(1)};
  c.max_in_flight = 0;
  c.max_disrupted_share = 1.0;
  return c;
}

class GateTest : public ::testing::Test {
 protected:
  FakeClock clock;
  v1::SafetyDecision D(Gate& g, const v1::Event& p) { return g.Decide(p).decision(); }
};

TEST_F(GateTest, ApprovesOrdinaryRestartAndLinksTheProposal) {
  Gate g(Loose(), kWho, clock);
  v1::Event p = Pod(clock);
  v1::Event d = g.Decide(p);
  EXPECT_EQ(d.decision().verdict(), v1::VERDICT_APPROVED);
  EXPECT_EQ(d.decision().rule(), "all-rules-passed");
  EXPECT_EQ(d.decision().proposal_id(), p.event_id());
  EXPECT_EQ(d.event_id(), DerivedUuid(p.event_id(), "decision"));
  EXPECT_EQ(d.causation_id(), p.event_id());
  EXPECT_EQ(d.decision().approver(), "safety-gate");
  EXPECT_EQ(d.decision().compared().at("policy"), "crashloop");
  EXPECT_FALSE(d.decision().dry_run());
}

// Issue 12: the gate forgot its decisions after about an hour; a proposal
// redelivered later (or decided by a lagging replica) was decided again
// under the same event id, possibly with another verdict. Beyond its memory
// it now never decides again under that id.
TEST_F(GateTest, ProposalOlderThanTheGatesMemoryIsNeverDecidedAgain) {
  Gate g(Loose(), kWho, clock);
  v1::Event p = Pod(clock);
  v1::Event first = g.Decide(p);
  ASSERT_EQ(first.decision().verdict(), v1::VERDICT_APPROVED);
  clock.Advance(std::chrono::hours(3));  // decided_ has forgotten it by now
  v1::Event later = g.Decide(p);
  EXPECT_NE(later.event_id(), first.event_id()) << "never a second verdict under the first id";
  EXPECT_EQ(later.event_id(), DerivedUuid(p.event_id(), "decision-stale"));
  EXPECT_EQ(later.decision().verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(later.decision().rule(), "stale_proposal");
  EXPECT_NE(later.decision().reason().find("older than the gate's memory"), std::string::npos);
  // A fresh proposal is decided as usual.
  EXPECT_EQ(D(g, Pod(clock, "shop", "api-2")).verdict(), v1::VERDICT_APPROVED);
}

TEST_F(GateTest, RejectsProtectedNamespacesIncludingOwn) {
  Gate g(Loose(), kWho, clock);
  for (const char* ns : {"kube-system", "cert-manager", "monitoring", "kubemend"}) {
    auto d = D(g, Pod(clock, ns));
    EXPECT_EQ(d.verdict(), v1::VERDICT_REJECTED) << ns;
    EXPECT_EQ(d.rule(), "protected-namespace") << ns;
    EXPECT_NE(d.reason().find(ns), std::string::npos);
  }
}

TEST_F(GateTest, RejectsProtectedKindsEvenWhenThePolicyInsists) {
  Gate g(Loose(), kWho, clock);
  v1::Event p = Proposal(clock, "shop", "ServiceAccount", "builder", v1::ACTION_TYPE_NOTIFY);
  p.mutable_proposal()->set_mode(v1::MODE_AUTOMATIC);
  p.mutable_proposal()->mutable_advice()->set_accepted(true);
  auto d = D(g, p);
  EXPECT_EQ(d.verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d.rule(), "protected-kind");
  EXPECT_EQ(d.compared().at("kind"), "ServiceAccount");
}

TEST_F(GateTest, RejectsProtectedLabelsAndConfiguredHelmLabel) {
  GateConfig c = Loose();
  c.protected_labels["app.kubernetes.io/managed-by"] = "Helm";
  Gate g(c, kWho, clock);
  v1::Event p = Pod(clock);
  (*p.mutable_target()->mutable_labels())["kubemend.io/protected"] = "true";
  EXPECT_EQ(D(g, p).rule(), "protected-label");
  v1::Event h = Pod(clock);
  (*h.mutable_target()->mutable_labels())["app.kubernetes.io/managed-by"] = "Helm";
  auto d = D(g, h);
  EXPECT_EQ(d.verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d.compared().at("label"), "app.kubernetes.io/managed-by=Helm");
  v1::Event other = Pod(clock);
  (*other.mutable_target()->mutable_labels())["kubemend.io/protected"] = "false";
  EXPECT_EQ(D(g, other).verdict(), v1::VERDICT_APPROVED);
}

TEST_F(GateTest, OptOutOnTheTargetIsRefused) {
  Gate g(Loose(), kWho, clock);
  v1::Event p = Pod(clock);
  (*p.mutable_target()->mutable_labels())["kubemend.io/remediate"] = "false";
  auto d = D(g, p);
  EXPECT_EQ(d.verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d.rule(), "opted-out");
  EXPECT_EQ(d.compared().at("label"), "kubemend.io/remediate=false");
  v1::Event in = Pod(clock, "shop", "api-2");
  (*in.mutable_target()->mutable_labels())["kubemend.io/remediate"] = "true";
  EXPECT_EQ(D(g, in).verdict(), v1::VERDICT_APPROVED);
}

TEST_F(GateTest, NamespaceOptOutFromTheClusterFactsIsRefused) {
  Gate g(Loose(), kWho, clock);
  v1::Event p = Pod(clock);
  (*p.mutable_proposal()->mutable_facts())["namespaceRemediate"] = "false";
  auto d = D(g, p);
  EXPECT_EQ(d.verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d.rule(), "opted-out");
  EXPECT_EQ(d.compared().at("namespace"), "kubemend.io/remediate=false");
  v1::Event in = Pod(clock, "shop", "api-2");
  (*in.mutable_proposal()->mutable_facts())["namespaceRemediate"] = "true";
  EXPECT_EQ(D(g, in).verdict(), v1::VERDICT_APPROVED);
}

TEST_F(GateTest, ScaleDownGoesThroughApprovalLevelsAndTheBlastRadius) {
  GateConfig c = Loose();
  c.max_disrupted_share = 0.25;
  Gate g(c, kWho, clock);
  auto down = [&](const std::string& name, int32_t delta, const char* replicas) {
    v1::Event e = Proposal(clock, "shop", "Deployment", name, v1::ACTION_TYPE_SCALE_WORKLOAD);
    e.mutable_proposal()->mutable_action()->mutable_scale_workload()->set_delta(delta);
    if (replicas != nullptr) {
      (*e.mutable_proposal()->mutable_facts())["replicas"] = replicas;
    }
    return D(g, e);
  };
  // A 20-replica Deployment is never scaled to 0 automatically.
  auto zero = down("big", -20, "20");
  EXPECT_EQ(zero.verdict(), v1::VERDICT_AWAITING_APPROVAL);
  EXPECT_EQ(zero.rule(), "approval-level");
  // Unknown size, or a step above auto_max_scale_delta: a human.
  EXPECT_EQ(down("unknown", -1, nullptr).verdict(), v1::VERDICT_AWAITING_APPROVAL);
  EXPECT_EQ(down("big2", -11, "100").verdict(), v1::VERDICT_AWAITING_APPROVAL);
  // Within the blast radius (25% of 20 = 5 pods): automatic.
  EXPECT_EQ(down("mid", -5, "20").verdict(), v1::VERDICT_APPROVED);
  // More than the share at once: refused by the blast radius.
  auto wide = down("mid2", -6, "20");
  EXPECT_EQ(wide.rule(), "blast-radius-disruption");
  EXPECT_EQ(wide.compared().at("pods_affected"), "6");
  // Scale-up is untouched.
  EXPECT_EQ(down("up", 3, "20").verdict(), v1::VERDICT_APPROVED);
}

TEST_F(GateTest, LoweringAnHpaCeilingAsksAHuman) {
  Gate g(Loose(), kWho, clock);
  v1::Event e = Proposal(clock, "shop", "HorizontalPodAutoscaler", "web", v1::ACTION_TYPE_THROTTLE_SCALING);
  auto d = D(g, e);
  EXPECT_EQ(d.verdict(), v1::VERDICT_AWAITING_APPROVAL);
  EXPECT_EQ(d.rule(), "approval-level");
}

TEST_F(GateTest, RefusesNeverAllowedActionsWhateverTheModeSays) {
  Gate g(Loose(), kWho, clock);
  for (auto a : {v1::ACTION_TYPE_DELETE_WORKLOAD, v1::ACTION_TYPE_CHANGE_RBAC,
                 v1::ACTION_TYPE_DELETE_PERSISTENT_VOLUME}) {
    v1::Event p = Proposal(clock, "shop", "StatefulSet", "db", a);
    p.mutable_proposal()->set_requires_approval(true);
    auto d = D(g, p);
    EXPECT_EQ(d.verdict(), v1::VERDICT_REJECTED);
    EXPECT_EQ(d.rule(), "never-allowed-action");
  }
}

TEST_F(GateTest, ApprovalLevelsPerActionAndPerNamespace) {
  GateConfig c = Loose();
  c.namespace_levels["payments"][v1::ACTION_TYPE_RESTART_POD] = Level::kConfirm;
  c.namespace_levels["batch"][v1::ACTION_TYPE_DELETE_COMPLETED_JOBS] = Level::kNever;
  Gate g(c, kWho, clock);
  auto drain = D(g, Proposal(clock, "", "Node", "n1", v1::ACTION_TYPE_DRAIN_NODE));
  EXPECT_EQ(drain.verdict(), v1::VERDICT_AWAITING_APPROVAL);
  EXPECT_EQ(drain.rule(), "approval-level");
  EXPECT_TRUE(drain.has_expires_at());
  EXPECT_EQ(D(g, Pod(clock, "payments")).rule(), "approval-level");
  auto jobs = D(g, Proposal(clock, "batch", "Job", "j", v1::ACTION_TYPE_DELETE_COMPLETED_JOBS));
  EXPECT_EQ(jobs.verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(jobs.rule(), "approval-level");
  // Auto within limits: a big scaling step needs a human.
  v1::Event big = Proposal(clock, "shop", "Deployment", "api", v1::ACTION_TYPE_SCALE_WORKLOAD);
  big.mutable_proposal()->mutable_action()->mutable_scale_workload()->set_percent(300);
  EXPECT_EQ(D(g, big).rule(), "approval-level");
  EXPECT_EQ(D(g, Proposal(clock, "shop", "Namespace", "shop", v1::ACTION_TYPE_NOTIFY)).rule(),
            "approval-level");
}

TEST_F(GateTest, MonitorModeObservesOnlyAndDryRunApprovesAsDryRun) {
  Gate g(Loose(), kWho, clock);
  v1::Event p = Pod(clock);
  p.mutable_proposal()->set_mode(v1::MODE_MONITOR);
  auto d = D(g, p);
  EXPECT_EQ(d.verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d.rule(), "mode-monitor");
  v1::Event q = Pod(clock);
  q.mutable_proposal()->set_mode(v1::MODE_DRY_RUN);
  auto dr = D(g, q);
  EXPECT_EQ(dr.verdict(), v1::VERDICT_APPROVED);
  EXPECT_TRUE(dr.dry_run());
  EXPECT_EQ(g.in_flight(), 0u) << "a dry run changes nothing and holds no slot";
}

TEST_F(GateTest, GlobalModeFromControlIsTheFloorForEveryPolicy) {
  Gate g(Loose(), kWho, clock);
  v1::Control c;
  c.set_issued_by("alice");
  c.mutable_set_mode()->set_mode(v1::MODE_LIMITED);
  auto ev = g.MakeControl(c);
  ASSERT_TRUE(ev.ok());
  g.Observe(*ev);
  EXPECT_EQ(g.global_mode(), v1::MODE_LIMITED);
  v1::Event p = Proposal(clock, "", "Node", "n1", v1::ACTION_TYPE_CORDON_NODE);
  p.mutable_proposal()->set_mode(v1::MODE_AUTOMATIC);
  auto d = D(g, p);
  EXPECT_EQ(d.verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d.rule(), "mode-limited");
  EXPECT_EQ(D(g, Pod(clock)).verdict(), v1::VERDICT_APPROVED) << "auto actions still run";
  // Per-policy mode.
  v1::Control pm;
  pm.set_issued_by("alice");
  pm.mutable_set_mode()->set_mode(v1::MODE_MONITOR);
  pm.mutable_set_mode()->set_scope("crashloop");
  g.Observe(*g.MakeControl(pm));
  EXPECT_EQ(D(g, Pod(clock, "shop", "api-2")).rule(), "mode-monitor");
}

TEST_F(GateTest, RequiresApprovalAndEscalationAlwaysWaitForAHuman) {
  Gate g(Loose(), kWho, clock);
  v1::Event p = Pod(clock);
  p.mutable_proposal()->set_requires_approval(true);
  EXPECT_EQ(D(g, p).rule(), "requires-approval");
  v1::Event e = Pod(clock, "shop", "api-2");
  e.mutable_proposal()->set_escalation(true);
  e.mutable_proposal()->set_mode(v1::MODE_AUTOMATIC);
  auto d = D(g, e);
  EXPECT_EQ(d.verdict(), v1::VERDICT_AWAITING_APPROVAL);
  EXPECT_EQ(d.rule(), "escalation");
  EXPECT_EQ(g.ListPending().size(), 2u);
}

TEST_F(GateTest, RateLimitPerTargetExplainsTheCount) {
  GateConfig c = Loose();
  c.per_target = {3, minutes(10)};
  Gate g(c, kWho, clock);
  for (int i = 0; i < 3; ++i) {
    v1::Event d = g.Decide(Pod(clock));
    EXPECT_EQ(d.decision().verdict(), v1::VERDICT_APPROVED);
    g.Observe(Outcome(clock, d, v1::OUTCOME_STATUS_SUCCEEDED));
    clock.Advance(minutes(1));
  }
  auto d = D(g, Pod(clock));
  EXPECT_EQ(d.verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d.rule(), "rate-limit-target");
  EXPECT_EQ(d.reason(), "3 actions on shop/Pod/api-1 in the last 10m, limit 3");
  EXPECT_EQ(d.compared().at("count"), "3");
  EXPECT_EQ(d.compared().at("limit"), "3");
  clock.Advance(minutes(8));  // the first approval leaves the window
  EXPECT_EQ(D(g, Pod(clock)).verdict(), v1::VERDICT_APPROVED);
}

TEST_F(GateTest, RateLimitPerNamespaceAndCluster) {
  GateConfig c = Loose();
  c.per_namespace = {2, minutes(10)};
  c.cluster = {3, minutes(10)};
  Gate g(c, kWho, clock);
  EXPECT_EQ(D(g, Pod(clock, "shop", "a")).verdict(), v1::VERDICT_APPROVED);
  EXPECT_EQ(D(g, Pod(clock, "shop", "b")).verdict(), v1::VERDICT_APPROVED);
  EXPECT_EQ(D(g, Pod(clock, "shop", "c")).rule(), "rate-limit-namespace");
  EXPECT_EQ(D(g, Pod(clock, "blog", "a")).verdict(), v1::VERDICT_APPROVED);
  auto d = D(g, Pod(clock, "wiki", "a"));
  EXPECT_EQ(d.rule(), "rate-limit-cluster");
  EXPECT_EQ(d.reason(), "3 actions on the cluster in the last 10m, limit 3");
}

TEST_F(GateTest, WorkloadBudgetHoldsForAHumanWhoCanApprove) {
  GateConfig c = Loose();
  c.workload_budget = {2, hours(1)};
  Gate g(c, kWho, clock);
  EXPECT_EQ(D(g, Pod(clock, "shop", "api-1")).verdict(), v1::VERDICT_APPROVED);
  EXPECT_EQ(D(g, Pod(clock, "shop", "api-2")).verdict(), v1::VERDICT_APPROVED);
  v1::Event third = Pod(clock, "shop", "api-3");
  auto d = D(g, third);
  EXPECT_EQ(d.verdict(), v1::VERDICT_AWAITING_APPROVAL);
  EXPECT_EQ(d.rule(), "workload-budget");
  EXPECT_NE(d.reason().find("workload shop/Deployment/api"), std::string::npos);
  auto r = g.Resolve(third.event_id(), true, "alice", "known flake");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].control().approval().proposal_id(), third.event_id());
  EXPECT_EQ((*r)[0].control().issued_by(), "alice");
  const v1::Event& human = (*r)[1];
  EXPECT_EQ(human.decision().verdict(), v1::VERDICT_APPROVED);
  EXPECT_EQ(human.decision().approver(), "alice");
  EXPECT_EQ(human.decision().rule(), "human-approval");
  EXPECT_EQ(human.decision().action_id(), d.action_id());
  for (const auto& e : *r) {
    g.Observe(e);
  }
  EXPECT_TRUE(g.ListPending().empty());
  EXPECT_EQ(g.Decide(third).event_id(), human.event_id()) << "a redelivery gets the latest answer";
  EXPECT_EQ(g.Resolve(third.event_id(), true, "bob", "").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(GateTest, DenyRejectsAndTimeoutExpiresOrEscalates) {
  GateConfig c = Loose();
  c.approval_timeout = minutes(30);
  Gate g(c, kWho, clock);
  v1::Event a = Proposal(clock, "", "Node", "n1", v1::ACTION_TYPE_CORDON_NODE);
  v1::Event b = Proposal(clock, "", "Node", "n2", v1::ACTION_TYPE_CORDON_NODE);
  g.Decide(a);
  g.Decide(b);
  EXPECT_EQ(g.Resolve(a.event_id(), false, "", "x").status().code(), absl::StatusCode::kInvalidArgument);
  auto deny = g.Resolve(a.event_id(), false, "bob", "not now");
  ASSERT_TRUE(deny.ok());
  EXPECT_EQ((*deny)[1].decision().verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ((*deny)[1].decision().reason(), "denied by bob: not now");
  for (const auto& e : *deny) {
    g.Observe(e);
  }
  EXPECT_TRUE(g.DueTimeouts().empty());
  clock.Advance(minutes(31));
  auto due = g.DueTimeouts();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].decision().verdict(), v1::VERDICT_EXPIRED);
  EXPECT_EQ(due[0].decision().proposal_id(), b.event_id());
  EXPECT_EQ(due[0].decision().rule(), "approval-timeout");
  g.Observe(due[0]);
  EXPECT_TRUE(g.ListPending().empty());

  c.escalate_on_timeout = true;
  c.escalate_to = "team-lead";
  Gate e(c, kWho, clock);
  v1::Event p = Proposal(clock, "", "Node", "n3", v1::ACTION_TYPE_CORDON_NODE);
  e.Decide(p);
  clock.Advance(minutes(31));
  auto esc = e.DueTimeouts();
  ASSERT_EQ(esc.size(), 1u);
  EXPECT_EQ(esc[0].decision().verdict(), v1::VERDICT_AWAITING_APPROVAL);
  EXPECT_EQ(esc[0].decision().compared().at("escalated_to"), "team-lead");
  e.Observe(esc[0]);
  EXPECT_TRUE(e.ListPending()[0].escalated);
  clock.Advance(minutes(31));
  auto exp = e.DueTimeouts();
  ASSERT_EQ(exp.size(), 1u);
  EXPECT_EQ(exp[0].decision().verdict(), v1::VERDICT_EXPIRED);
}

TEST_F(GateTest, CircuitBreakerOpensCoolsOffAndHalfOpensWithProbes) {
  GateConfig c = Loose();
  c.breaker = {0.5, 4, minutes(15), minutes(10), 2};
  Gate g(c, kWho, clock);
  // 2 failed + 2 succeeded = 50% of 4 samples: trips.
  std::vector<v1::OutcomeStatus> results = {v1::OUTCOME_STATUS_SUCCEEDED, v1::OUTCOME_STATUS_FAILED,
                                            v1::OUTCOME_STATUS_SUCCEEDED, v1::OUTCOME_STATUS_NOT_FIXED};
  for (size_t i = 0; i < results.size(); ++i) {
    v1::Event d = g.Decide(Pod(clock, "shop", "p" + std::to_string(i)));
    ASSERT_EQ(d.decision().verdict(), v1::VERDICT_APPROVED);
    EXPECT_EQ(g.breaker_state(), BreakerState::kClosed);
    g.Observe(Outcome(clock, d, results[i]));
  }
  EXPECT_EQ(g.breaker_state(), BreakerState::kOpen);
  auto held = D(g, Pod(clock, "shop", "x"));
  EXPECT_EQ(held.verdict(), v1::VERDICT_AWAITING_APPROVAL);
  EXPECT_EQ(held.rule(), "circuit-breaker");
  EXPECT_EQ(D(g, Pod(clock, "kube-system")).rule(), "protected-namespace");
  clock.Advance(minutes(11));
  EXPECT_EQ(g.breaker_state(), BreakerState::kHalfOpen);
  v1::Event probe1 = g.Decide(Pod(clock, "shop", "y1"));
  v1::Event probe2 = g.Decide(Pod(clock, "shop", "y2"));
  EXPECT_EQ(probe1.decision().verdict(), v1::VERDICT_APPROVED);
  EXPECT_EQ(probe2.decision().verdict(), v1::VERDICT_APPROVED);
  EXPECT_EQ(D(g, Pod(clock, "shop", "y3")).rule(), "circuit-breaker") << "only 2 probes";
  g.Observe(Outcome(clock, probe1, v1::OUTCOME_STATUS_SUCCEEDED));
  g.Observe(Outcome(clock, probe2, v1::OUTCOME_STATUS_SUCCEEDED));
  EXPECT_EQ(g.breaker_state(), BreakerState::kClosed);
  EXPECT_EQ(D(g, Pod(clock, "shop", "z")).verdict(), v1::VERDICT_APPROVED);
}

TEST_F(GateTest, FailedProbeReopensTheBreaker) {
  GateConfig c = Loose();
  c.breaker = {0.5, 2, minutes(15), minutes(10), 1};
  Gate g(c, kWho, clock);
  for (int i = 0; i < 2; ++i) {
    v1::Event d = g.Decide(Pod(clock, "shop", "p" + std::to_string(i)));
    g.Observe(Outcome(clock, d, v1::OUTCOME_STATUS_FAILED));
  }
  ASSERT_EQ(g.breaker_state(), BreakerState::kOpen);
  clock.Advance(minutes(10));
  v1::Event probe = g.Decide(Pod(clock, "shop", "q"));
  ASSERT_EQ(probe.decision().verdict(), v1::VERDICT_APPROVED);
  g.Observe(Outcome(clock, probe, v1::OUTCOME_STATUS_NOT_FIXED));
  EXPECT_EQ(g.breaker_state(), BreakerState::kOpen);
}

// The breaker's opening is published once (Control BreakerOpened) so that
// notifications can tell people; every replica and a restarted gate propose
// the same event id, and an opening already on the log is not proposed again.
TEST_F(GateTest, BreakerOpeningIsAnnouncedOncePerOpening) {
  GateConfig c = Loose();
  c.breaker = {0.5, 2, minutes(15), minutes(10), 1};
  Gate g(c, kWho, clock);
  Gate replica(c, kWho, clock);
  EXPECT_FALSE(g.DueBreakerAnnouncement().has_value()) << "closed: nothing to say";
  std::vector<v1::Event> log;
  for (int i = 0; i < 2; ++i) {
    v1::Event d = g.Decide(Pod(clock, "shop", "p" + std::to_string(i)));
    v1::Event o = Outcome(clock, d, v1::OUTCOME_STATUS_FAILED);
    g.Observe(o);
    log.push_back(d);
    log.push_back(o);
  }
  for (const auto& e : log) {
    replica.Observe(e);
  }
  auto a = g.DueBreakerAnnouncement();
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(a->control().has_breaker_opened());
  EXPECT_EQ(a->control().breaker_opened().tripped_by_outcome_id(), log.back().event_id());
  EXPECT_EQ(a->control().breaker_opened().failures(), 2u);
  EXPECT_EQ(a->control().breaker_opened().samples(), 2u);
  EXPECT_EQ(a->control().issued_by(), "safety-gate");
  EXPECT_TRUE(a->target().name().empty()) << "cluster-wide";
  EXPECT_NE(a->control().reason().find("2 of the last 2 outcomes"), std::string::npos) << a->control().reason();
  EXPECT_EQ(a->event_id(), DerivedUuid(log.back().event_id(), "breaker-opened"));
  auto b = replica.DueBreakerAnnouncement();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->event_id(), a->event_id()) << "replicas publish the same id";
  g.Observe(*a);
  replica.Observe(*a);
  EXPECT_FALSE(g.DueBreakerAnnouncement().has_value()) << "on the log already";
  EXPECT_FALSE(replica.DueBreakerAnnouncement().has_value());
  // A failed half-open probe reopens it: a new opening, a new announcement.
  clock.Advance(minutes(10));
  v1::Event probe = g.Decide(Pod(clock, "shop", "q"));
  ASSERT_EQ(probe.decision().verdict(), v1::VERDICT_APPROVED);
  v1::Event failed = Outcome(clock, probe, v1::OUTCOME_STATUS_FAILED);
  g.Observe(failed);
  auto again = g.DueBreakerAnnouncement();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->control().breaker_opened().tripped_by_outcome_id(), failed.event_id());
  EXPECT_NE(again->control().reason().find("half-open probe failed"), std::string::npos);
  // Once the cool-off is over nothing is due, announced or not.
  clock.Advance(minutes(11));
  EXPECT_FALSE(g.DueBreakerAnnouncement().has_value());
}

TEST_F(GateTest, BlastRadiusCapsActionsInFlight) {
  GateConfig c = Loose();
  c.max_in_flight = 2;
  Gate g(c, kWho, clock);
  v1::Event a = g.Decide(Pod(clock, "shop", "a"));
  g.Decide(Pod(clock, "blog", "b"));
  auto d = D(g, Pod(clock, "wiki", "c"));
  EXPECT_EQ(d.rule(), "blast-radius-in-flight");
  EXPECT_EQ(d.compared().at("in_flight"), "2");
  g.Observe(Outcome(clock, a, v1::OUTCOME_STATUS_SUCCEEDED));
  EXPECT_EQ(D(g, Pod(clock, "wiki", "d")).verdict(), v1::VERDICT_APPROVED);
  clock.Advance(c.in_flight_timeout + seconds(1));
  EXPECT_EQ(g.in_flight(), 2u);
  EXPECT_EQ(D(g, Pod(clock, "wiki", "e")).verdict(), v1::VERDICT_APPROVED)
      << "approvals without an outcome stop counting after the timeout";
}

TEST_F(GateTest, BlastRadiusLimitsTheShareOfAWorkloadDisrupted) {
  GateConfig c = Loose();
  c.max_disrupted_share = 0.25;
  Gate g(c, kWho, clock);
  // 8 replicas at 25%: 2 pods at once.
  EXPECT_EQ(D(g, Pod(clock, "shop", "api-1")).verdict(), v1::VERDICT_APPROVED);
  EXPECT_EQ(D(g, Pod(clock, "shop", "api-2")).verdict(), v1::VERDICT_APPROVED);
  auto d = D(g, Pod(clock, "shop", "api-3"));
  EXPECT_EQ(d.rule(), "blast-radius-disruption");
  EXPECT_EQ(d.compared().at("limit"), "2");
  EXPECT_EQ(d.compared().at("disrupted"), "2");
  // Unknown replica count: one pod at a time.
  v1::Event u = Proposal(clock, "shop", "Deployment", "web", v1::ACTION_TYPE_ROLLOUT_RESTART);
  EXPECT_EQ(D(g, u).verdict(), v1::VERDICT_APPROVED);
  v1::Event u2 = Proposal(clock, "shop", "Deployment", "web", v1::ACTION_TYPE_ROLLOUT_RESTART);
  EXPECT_EQ(D(g, u2).rule(), "blast-radius-disruption");
}

TEST_F(GateTest, RefusesDrainsThatWouldViolateAPdb) {
  GateConfig c = Loose();
  c.levels[v1::ACTION_TYPE_DRAIN_NODE] = Level::kAuto;
  Gate g(c, kWho, clock);
  v1::Event p = Proposal(clock, "", "Node", "n1", v1::ACTION_TYPE_DRAIN_NODE);
  (*p.mutable_proposal()->mutable_facts())["disruptionsAllowed"] = "0";
  p.mutable_proposal()->set_requires_approval(true);
  auto d = D(g, p);
  EXPECT_EQ(d.verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d.rule(), "pdb");
  v1::Event ok = Proposal(clock, "", "Node", "n2", v1::ACTION_TYPE_DRAIN_NODE);
  (*ok.mutable_proposal()->mutable_facts())["disruptionsAllowed"] = "1";
  EXPECT_EQ(D(g, ok).verdict(), v1::VERDICT_APPROVED);
}

TEST_F(GateTest, FreezeWindowHoldsAutomaticActions) {
  GateConfig c = Loose();
  c.freeze_windows.push_back(*ParseWindow("Thu 00:00-12:00"));  // 2026-01-01 is a Thursday
  Gate g(c, kWho, clock);
  auto d = D(g, Pod(clock));
  EXPECT_EQ(d.verdict(), v1::VERDICT_AWAITING_APPROVAL);
  EXPECT_EQ(d.rule(), "freeze-window");
  clock.Advance(hours(12));
  EXPECT_EQ(D(g, Pod(clock, "shop", "api-2")).verdict(), v1::VERDICT_APPROVED);
}

TEST_F(GateTest, RiskyActionsOnlyInsideAllowedWindows) {
  GateConfig c = Loose();
  c.risky_windows.push_back(*ParseWindow("Mon-Fri 09:00-17:00"));
  Gate g(c, kWho, clock);  // Thu 00:00 UTC: outside
  auto d = D(g, Proposal(clock, "", "Node", "n1", v1::ACTION_TYPE_DRAIN_NODE));
  EXPECT_EQ(d.verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d.rule(), "change-window");
  clock.Advance(hours(10));
  EXPECT_EQ(D(g, Proposal(clock, "", "Node", "n2", v1::ACTION_TYPE_DRAIN_NODE)).rule(),
            "approval-level");
}

TEST_F(GateTest, WindowsParseWeeklyWrappingAndAbsoluteRanges) {
  FakeClock c;  // Thu 2026-01-01 00:00
  auto night = ParseWindow("Wed 22:00-06:00");
  ASSERT_TRUE(night.ok());
  EXPECT_TRUE(night->Contains(c.Now())) << "Thursday 00:00 is the morning part of Wednesday's night";
  auto abs = ParseWindow("2025-12-31T00:00Z/2026-01-02T00:00Z");
  ASSERT_TRUE(abs.ok());
  EXPECT_TRUE(abs->Contains(c.Now()));
  EXPECT_FALSE(ParseWindow("Thu 00:00-24:00")->Contains(c.Now() - seconds(1)));
  EXPECT_FALSE(ParseWindow("Funday 09:00-10:00").ok());
  EXPECT_FALSE(ParseWindow("Mon 25:00-26:00").ok());
  EXPECT_FALSE(ParseWindow("2026-01-02T00:00Z/2026-01-01T00:00Z").ok());
}

TEST_F(GateTest, BudgetGuardRefusesScaleUpWhileOverBudget) {
  Gate g(Loose(), kWho, clock);
  g.Observe(Budget(clock, "shop", v1::SIGNAL_STATUS_FIRING));
  v1::Event up = Proposal(clock, "shop", "Deployment", "api", v1::ACTION_TYPE_SCALE_WORKLOAD);
  up.mutable_proposal()->mutable_action()->mutable_scale_workload()->set_percent(50);
  auto d = D(g, up);
  EXPECT_EQ(d.verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d.rule(), "budget-guard");
  v1::Event down = Proposal(clock, "shop", "Deployment", "api", v1::ACTION_TYPE_SCALE_WORKLOAD);
  down.mutable_proposal()->mutable_action()->mutable_scale_workload()->set_delta(-1);
  (*down.mutable_proposal()->mutable_facts())["replicas"] = "4";  // a known size: a small step is automatic
  EXPECT_EQ(D(g, down).verdict(), v1::VERDICT_APPROVED);
  EXPECT_EQ(D(g, Proposal(clock, "shop", "HorizontalPodAutoscaler", "api", v1::ACTION_TYPE_ADJUST_HPA)).rule(),
            "budget-guard");
  g.Observe(Budget(clock, "shop", v1::SIGNAL_STATUS_RESOLVED));
  v1::Event again = Proposal(clock, "shop", "Deployment", "api2", v1::ACTION_TYPE_SCALE_WORKLOAD);
  again.mutable_proposal()->mutable_action()->mutable_scale_workload()->set_percent(50);
  EXPECT_EQ(D(g, again).verdict(), v1::VERDICT_APPROVED);
}

TEST_F(GateTest, PauseWithholdsEveryApprovalAndHumanApprovalsToo) {
  Gate g(Loose(), kWho, clock);
  v1::Event waiting = Proposal(clock, "", "Node", "n1", v1::ACTION_TYPE_CORDON_NODE);
  g.Decide(waiting);
  v1::Control pause;
  pause.set_issued_by("alice");
  pause.set_reason("incident 42");
  pause.mutable_pause();
  auto ev = g.MakeControl(pause);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->type(), v1::EVENT_TYPE_CONTROL);
  g.Observe(*ev);
  EXPECT_TRUE(g.paused());
  auto d = D(g, Pod(clock));
  EXPECT_EQ(d.verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d.rule(), "paused");
  EXPECT_EQ(g.Resolve(waiting.event_id(), true, "bob", "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(g.Resolve(waiting.event_id(), false, "bob", "").ok()) << "denying is still possible";
  v1::Control resume;
  resume.set_issued_by("alice");
  resume.mutable_resume();
  g.Observe(*g.MakeControl(resume));
  EXPECT_EQ(D(g, Pod(clock, "shop", "api-2")).verdict(), v1::VERDICT_APPROVED);
}

TEST_F(GateTest, HumanCannotApproveWhatTheCurrentConfigProtects) {
  v1::Event p = Proposal(clock, "shop", "Deployment", "api", v1::ACTION_TYPE_ROLLBACK_IMAGE);
  Gate before(Loose(), kWho, clock);
  v1::Event waiting = before.Decide(p);
  ASSERT_EQ(waiting.decision().verdict(), v1::VERDICT_AWAITING_APPROVAL);
  // Restart with "shop" protected: the queue is rebuilt from the log, but
  // the hard rules are checked again at approval time.
  GateConfig c = Loose();
  c.protected_namespaces.insert("shop");
  Gate after(c, kWho, clock);
  after.Observe(waiting);
  ASSERT_EQ(after.ListPending().size(), 1u);
  auto r = after.Resolve(p.event_id(), true, "alice", "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("protected-namespace"), std::string::npos) << r.status();
  EXPECT_TRUE(after.Resolve(p.event_id(), false, "alice", "").ok());
}

TEST_F(GateTest, RedeliveredProposalGetsTheSameDecisionAndIsNotCountedTwice) {
  GateConfig c = Loose();
  c.per_target = {1, minutes(10)};
  Gate g(c, kWho, clock);
  v1::Event p = Pod(clock);
  v1::Event first = g.Decide(p);
  clock.Advance(seconds(5));
  v1::Event again = g.Decide(p);
  EXPECT_EQ(again.event_id(), first.event_id());
  EXPECT_EQ(again.decision().verdict(), v1::VERDICT_APPROVED);
  EXPECT_EQ(again.occurred_at().seconds(), first.occurred_at().seconds());
  EXPECT_EQ(g.in_flight(), 1u);
}

TEST_F(GateTest, StateRebuiltFromTheLogMatchesTheLiveState) {
  GateConfig c = Loose();
  c.per_target = {2, minutes(30)};
  c.breaker = {0.5, 2, minutes(15), minutes(10), 1};
  Gate live(c, kWho, clock);
  std::vector<v1::Event> log;
  v1::Control pm;
  pm.set_issued_by("alice");
  pm.mutable_set_mode()->set_mode(v1::MODE_MANUAL);
  pm.mutable_set_mode()->set_scope("noisy");
  log.push_back(*live.MakeControl(pm));
  live.Observe(log.back());
  for (int i = 0; i < 2; ++i) {
    log.push_back(live.Decide(Pod(clock)));
    clock.Advance(seconds(30));
  }
  log.push_back(live.Decide(Proposal(clock, "", "Node", "n1", v1::ACTION_TYPE_CORDON_NODE)));
  log.push_back(Budget(clock, "shop", v1::SIGNAL_STATUS_FIRING));
  live.Observe(log.back());
  log.push_back(Outcome(clock, log[1], v1::OUTCOME_STATUS_FAILED));
  live.Observe(log.back());
  log.push_back(Outcome(clock, log[2], v1::OUTCOME_STATUS_FAILED));
  live.Observe(log.back());
  ASSERT_EQ(live.breaker_state(), BreakerState::kOpen);

  Gate rebuilt(c, kWho, clock);
  for (const auto& e : log) {
    rebuilt.Observe(e);
  }
  EXPECT_EQ(rebuilt.breaker_state(), BreakerState::kOpen);
  EXPECT_TRUE(rebuilt.over_budget("shop"));
  EXPECT_EQ(rebuilt.policy_modes().at("noisy"), v1::MODE_MANUAL);
  ASSERT_EQ(rebuilt.ListPending().size(), 1u);
  EXPECT_EQ(rebuilt.ListPending()[0].decision.event_id(), log[3].event_id());
  clock.Advance(minutes(11));  // breaker half-open; the target's 2 approvals still in the window
  auto d = rebuilt.Decide(Pod(clock)).decision();
  EXPECT_EQ(d.rule(), "rate-limit-target");
  EXPECT_EQ(d.compared().at("count"), "2");
}

TEST_F(GateTest, ConfigKeysValidateWithClearErrors) {
  auto load = [](const std::string& yaml) {
    ConfigSchema s;
    GateConfigKeys k;
    k.Register(s);
    absl::Status st = s.LoadYaml(YAML::Load(yaml), "test.yaml", {});
    if (!st.ok()) {
      return absl::StatusOr<GateConfig>(st);
    }
    return k.Build();
  };
  auto ok = load(
      "gate: {own_namespace: ops}\n"
      "approval:\n  levels: {DrainNode: never}\n  namespace_levels: {shop: {RestartPod: confirm}}\n"
      "windows: {freeze: ['Sat,Sun 00:00-24:00']}\n");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->protected_namespaces.count("ops"));
  EXPECT_TRUE(ok->protected_namespaces.count("kube-system"));
  EXPECT_EQ(ok->levels.at(v1::ACTION_TYPE_DRAIN_NODE), Level::kNever);
  EXPECT_EQ(ok->levels.at(v1::ACTION_TYPE_RESTART_POD), Level::kAuto) << "defaults kept";
  EXPECT_EQ(ok->namespace_levels.at("shop").at(v1::ACTION_TYPE_RESTART_POD), Level::kConfirm);
  EXPECT_EQ(ok->freeze_windows.size(), 1u);
  auto bad_action = load("never_allow: [DeleteEverything]\n");
  EXPECT_NE(bad_action.status().message().find("never_allow: unknown action type \"DeleteEverything\""),
            std::string::npos)
      << bad_action.status();
  auto bad_level = load("approval: {namespace_levels: {shop: {RestartPod: sometimes}}}\n");
  EXPECT_NE(bad_level.status().message().find("approval.namespace_levels.shop.RestartPod"),
            std::string::npos)
      << bad_level.status();
  auto bad_window = load("windows: {freeze: ['weekends']}\n");
  EXPECT_NE(bad_window.status().message().find("windows.freeze"), std::string::npos);
  auto bad_ratio = load("breaker: {failure_ratio: 1.5}\n");
  EXPECT_NE(bad_ratio.status().message().find("breaker.failure_ratio"), std::string::npos);
}

TEST_F(GateTest, ShippedConfigFileLoads) {
  ConfigSchema s;
  CommonConfig common;
  AddCommonKeys(s, &common, "safety-gate");
  GateConfigKeys k;
  k.Register(s);
  notify::NotifyConfigKeys n;
  n.Register(s);
  std::string path = std::string(KUBEMEND_SOURCE_DIR) + "/services/safety-gate/config.yaml";
  absl::Status st = s.Load(path, {});
  ASSERT_TRUE(st.ok()) << st;
  auto cfg = k.Build();
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto notify_cfg = n.Build({});
  ASSERT_TRUE(notify_cfg.ok()) << notify_cfg.status();
  EXPECT_TRUE(notify_cfg->routes.empty()) << "shipped with notifications off";
  EXPECT_TRUE(cfg->protected_namespaces.count("kubemend"));
  EXPECT_TRUE(cfg->never_actions.count(v1::ACTION_TYPE_DELETE_WORKLOAD));
}

// Each replay retry gets twice the last deadline, up to an hour: a log too
// long for the first deadline is still read (the gate never gives up).
TEST(ReplayRetryTest, DeadlineDoublesPerAttemptUpToAnHour) {
  EXPECT_EQ(ReplayAttemptTimeout(Millis(300000), 1), Millis(300000));
  EXPECT_EQ(ReplayAttemptTimeout(Millis(300000), 2), Millis(600000));
  EXPECT_EQ(ReplayAttemptTimeout(Millis(300000), 4), Millis(2400000));
  EXPECT_EQ(ReplayAttemptTimeout(Millis(300000), 5), Millis(3600000));
  EXPECT_EQ(ReplayAttemptTimeout(Millis(300000), 1000), Millis(3600000));
  EXPECT_EQ(ReplayAttemptTimeout(Millis(0), 1), Millis(1));
}

}  // namespace
}  // namespace kubemend::gate
