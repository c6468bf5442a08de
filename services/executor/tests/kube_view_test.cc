// The Kubernetes view: HealingAction objects through their lifecycle, the
// Events recorded on the workload (aggregated), the phase never moving
// backwards, and garbage collection after the retention period.
#include <gtest/gtest.h>

#include "kube_view_writer.h"
// after: fixtures.h uses the v1 types
#include "fixtures.h"
#include "kubemend/common/clock.h"
#include "kubemend/kube/event_recorder.h"

namespace kubemend::executor {
namespace {

using testing::FakeKube;
using nlohmann::json;
namespace rs = kube::resources;

const char kActionId[] = "0a1b2c3d-0000-4000-8000-000000000001";

v1::Event Decision(v1::Verdict verdict, const std::string& rule, const std::string& approver = "safety-gate") {
  v1::Event e;
  e.set_event_id("decision-" + rule);
  e.set_incident_id("inc-1");
  e.mutable_target()->set_namespace_("shop");
  e.mutable_target()->set_kind("Pod");
  e.mutable_target()->set_name("web-abc");
  e.mutable_target()->set_owner_kind("Deployment");
  e.mutable_target()->set_owner_name("web");
  SetTimestamp(e.mutable_recorded_at(), TimePoint(Millis(1767225600000)));
  auto* d = e.mutable_decision();
  d->set_proposal_id("proposal-1");
  d->set_action_id(kActionId);
  d->set_verdict(verdict);
  d->set_rule(rule);
  d->set_reason("because " + rule);
  d->set_approver(approver);
  d->mutable_proposal()->mutable_action()->set_type(v1::ACTION_TYPE_ROLLOUT_RESTART);
  d->mutable_proposal()->mutable_policy()->set_name("crashloop");
  d->mutable_proposal()->set_reason("pod web-abc restarted 5 times");
  return e;
}

v1::Event Outcome(v1::OutcomeStatus status) {
  v1::Event e = Decision(v1::VERDICT_APPROVED, "x");
  e.clear_decision();
  e.set_event_id("outcome-1");
  auto* o = e.mutable_outcome();
  o->set_action_id(kActionId);
  o->set_proposal_id("proposal-1");
  o->mutable_action()->set_type(v1::ACTION_TYPE_ROLLOUT_RESTART);
  o->set_status(status);
  auto* c = o->add_changes();
  c->set_path("spec.template.metadata.annotations.kubectl.kubernetes.io/restartedAt");
  c->set_after("2026-01-01T00:00:00Z");
  o->mutable_verification()->set_attempted(true);
  o->mutable_verification()->set_healthy(true);
  o->mutable_verification()->set_detail("3/3 replicas ready for 10s");
  SetTimestamp(o->mutable_finished_at(), TimePoint(Millis(1767225600000)));
  return e;
}

class KubeViewTest : public ::testing::Test {
 protected:
  KubeViewTest() : view_(kube_, clock_, KubeViewOptions{"kubemend", "test", Millis(3600 * 1000), Millis(60000), 100}) {
    kube_.Put(rs::kDeployments, testing::DeploymentJson("web:1", "", ""));
  }
  json Action() { return kube_.Object({rs::kHealingActions, "shop", kActionId, {}}); }
  std::vector<json> Events() {
    auto l = kube_.List(rs::kEvents, "");
    return l.ok() ? l->items : std::vector<json>{};
  }
  std::vector<std::string> Reasons() {
    std::vector<std::string> out;
    for (const auto& e : Events()) {
      out.push_back(e.value("reason", ""));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  FakeKube kube_;
  FakeClock clock_;
  KubeView view_;
};

TEST_F(KubeViewTest, FollowsTheLifecycleFromPendingToSucceeded) {
  view_.Apply(ViewOfDecision(Decision(v1::VERDICT_AWAITING_APPROVAL, "approval-level"), "kubemend"));
  json a = Action();
  ASSERT_FALSE(a.is_null());
  EXPECT_EQ(a["status"]["phase"], "Pending");
  EXPECT_EQ(a["spec"]["action"], "RolloutRestart");
  EXPECT_EQ(a["spec"]["policy"], "crashloop");
  EXPECT_EQ(a["spec"]["proposalId"], "proposal-1");
  EXPECT_EQ(a["spec"]["target"]["ownerName"], "web");
  EXPECT_EQ(a["status"]["targetRef"], "Pod/shop/web-abc");
  EXPECT_EQ(a["metadata"]["labels"]["app.kubernetes.io/managed-by"], "kubemend");
  ASSERT_EQ(Events().size(), 1u);
  json ev = Events()[0];
  EXPECT_EQ(ev["reason"], "RemediationProposed");
  EXPECT_EQ(ev["involvedObject"]["kind"], "Deployment");  // the workload, not the pod
  EXPECT_EQ(ev["involvedObject"]["name"], "web");
  EXPECT_EQ(ev["involvedObject"]["uid"], "dep-uid");
  EXPECT_NE(ev["message"].get<std::string>().find("kubectl kubemend approve " + std::string(kActionId) + " -n shop"),
            std::string::npos);

  view_.Apply(ViewOfDecision(Decision(v1::VERDICT_APPROVED, "human-approval", "kubernetes:alice"), "kubemend"));
  EXPECT_EQ(Action()["status"]["phase"], "Approved");
  EXPECT_EQ(Action()["status"]["approver"], "kubernetes:alice");
  view_.Apply(ViewOfStart(Decision(v1::VERDICT_APPROVED, "human-approval", "kubernetes:alice"), clock_.Now(),
                          "kubemend"));
  EXPECT_EQ(Action()["status"]["phase"], "InProgress");
  view_.Apply(*ViewOfOutcome(Outcome(v1::OUTCOME_STATUS_SUCCEEDED), "kubemend"));
  EXPECT_EQ(Action()["status"]["phase"], "Succeeded");
  EXPECT_EQ(Action()["status"]["changes"].size(), 1u);
  EXPECT_EQ(Reasons(), (std::vector<std::string>{"RemediationApplied", "RemediationApproved", "RemediationProposed",
                                                 "RemediationVerified"}));
}

TEST_F(KubeViewTest, APhaseNeverMovesBackwards) {
  view_.Apply(*ViewOfOutcome(Outcome(v1::OUTCOME_STATUS_SUCCEEDED), "kubemend"));
  // The decision arrives late (another replica, a redelivery): nothing changes, no Event.
  view_.Apply(ViewOfDecision(Decision(v1::VERDICT_APPROVED, "approval-level"), "kubemend"));
  EXPECT_EQ(Action()["status"]["phase"], "Succeeded");
  EXPECT_EQ(Reasons(), (std::vector<std::string>{"RemediationApplied", "RemediationVerified"}));
  // ... but a rollback of it does finish it as RolledBack.
  v1::Event rb = Outcome(v1::OUTCOME_STATUS_ROLLED_BACK);
  rb.mutable_outcome()->set_action_id("rollback-id");
  rb.mutable_outcome()->set_rolls_back_action_id(kActionId);
  view_.Apply(*ViewOfOutcome(rb, "kubemend"));
  EXPECT_EQ(Action()["status"]["phase"], "RolledBack");
  EXPECT_FALSE(ViewOfOutcome(Outcome(v1::OUTCOME_STATUS_DUPLICATE), "kubemend").has_value());
}

TEST_F(KubeViewTest, RefusalsAndSkipsNameTheirRule) {
  auto refused = ViewOfDecision(Decision(v1::VERDICT_REJECTED, "protected-label"), "kubemend");
  EXPECT_EQ(refused.status["phase"], "Refused");
  EXPECT_EQ(refused.status["rule"], "protected-label");
  ASSERT_EQ(refused.events.size(), 1u);
  EXPECT_EQ(refused.events[0].reason, "RemediationRefused");
  EXPECT_EQ(refused.events[0].type, kube::EventType::kWarning);
  EXPECT_NE(refused.events[0].message.find("rule protected-label"), std::string::npos);
  auto skipped = ViewOfDecision(Decision(v1::VERDICT_REJECTED, "paused"), "kubemend");
  EXPECT_EQ(skipped.status["phase"], "Skipped");
  EXPECT_EQ(skipped.events[0].reason, "RemediationSkipped");
  auto denied = ViewOfDecision(Decision(v1::VERDICT_REJECTED, "human-denial", "kubernetes:bob"), "kubemend");
  EXPECT_EQ(denied.status["phase"], "Denied");
  EXPECT_EQ(denied.status["approver"], "kubernetes:bob");
}

TEST_F(KubeViewTest, ClusterScopedTargetsLiveInKubemendsNamespace) {
  v1::Event d = Decision(v1::VERDICT_APPROVED, "approval-level");
  d.mutable_target()->Clear();
  d.mutable_target()->set_kind("Node");
  d.mutable_target()->set_name("node-1");
  d.mutable_decision()->mutable_proposal()->mutable_action()->set_type(v1::ACTION_TYPE_CORDON_NODE);
  kube_.Put(rs::kNodes, {{"metadata", {{"name", "node-1"}, {"uid", "node-uid"}}}});
  view_.Apply(ViewOfDecision(d, "kubemend"));
  EXPECT_FALSE(kube_.Object({rs::kHealingActions, "kubemend", kActionId, {}}).is_null());
  ASSERT_EQ(Events().size(), 2u);
  EXPECT_EQ(Events()[0]["metadata"]["namespace"], "default");  // as client-go does for cluster-scoped objects
  EXPECT_EQ(Events()[0]["involvedObject"]["uid"], "node-uid");
}

TEST_F(KubeViewTest, GarbageCollectsFinishedActionsPastRetention) {
  view_.Apply(*ViewOfOutcome(Outcome(v1::OUTCOME_STATUS_SUCCEEDED), "kubemend"));
  v1::Event other = Decision(v1::VERDICT_AWAITING_APPROVAL, "approval-level");
  other.mutable_decision()->set_action_id("0a1b2c3d-0000-4000-8000-000000000002");
  view_.Apply(ViewOfDecision(other, "kubemend"));
  clock_.Set(TimePoint(Millis(1767225600000)) + Millis(30 * 60 * 1000));
  view_.CollectGarbage();
  EXPECT_FALSE(Action().is_null()) << "inside the retention period";
  clock_.Advance(Millis(2 * 3600 * 1000));
  view_.CollectGarbage();
  EXPECT_TRUE(Action().is_null()) << "finished and past retention";
  EXPECT_FALSE(kube_.Object({rs::kHealingActions, "shop", "0a1b2c3d-0000-4000-8000-000000000002", {}}).is_null())
      << "a Pending one waits for its human";
}

TEST(EventRecorderTest, ARepeatCountsUpOnTheSameEvent) {
  FakeKube kube;
  int n = 0;
  kube::EventRecorder rec(kube, {"kubemend-executor", "i1"}, {}, [&n] { return "name" + std::to_string(++n); });
  kube::InvolvedObject obj{"apps/v1", "Deployment", "shop", "web", "dep-uid"};
  ASSERT_TRUE(rec.Record(obj, kube::EventType::kNormal, "RemediationApplied", "same").ok());
  ASSERT_TRUE(rec.Record(obj, kube::EventType::kNormal, "RemediationApplied", "same").ok());
  ASSERT_TRUE(rec.Record(obj, kube::EventType::kNormal, "RemediationApplied", "same").ok());
  ASSERT_TRUE(rec.Record(obj, kube::EventType::kNormal, "RemediationApplied", "other").ok());
  auto l = kube.List(rs::kEvents, "shop");
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->items.size(), 2u);
  json same = kube.Object({rs::kEvents, "shop", "web.name1", {}});
  EXPECT_EQ(same["count"], 3);
  EXPECT_EQ(same["type"], "Normal");
  EXPECT_EQ(same["source"]["component"], "kubemend-executor");
  // The Event expired on the server: the next repeat creates it again.
  ASSERT_TRUE(kube.Delete({rs::kEvents, "shop", "web.name1", {}}).ok());
  ASSERT_TRUE(rec.Record(obj, kube::EventType::kNormal, "RemediationApplied", "same").ok());
  EXPECT_EQ(kube.Object({rs::kEvents, "shop", "web.name3", {}})["count"], 1);
}

}  // namespace
}  // namespace kubemend::executor
