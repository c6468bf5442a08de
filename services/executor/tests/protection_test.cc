// The executor's last line of defence (guard.h) and the operator's caps:
// every write re-checks the live object, its owners and its namespace.
#include <gtest/gtest.h>

#include "actuator.h"
#include "executor.h"
#include "fixtures.h"

namespace kubemend::executor {
namespace {

using namespace testing;
using nlohmann::json;

const ProducerIdentity kWho{"executor", "e-1", "0.1.0"};

ActuatorOptions Shipped() {
  ActuatorOptions o;
  o.protection = DefaultProtectionRules();
  o.protection.namespaces.insert("kubemend");
  return o;
}

class ProtectionTest : public ::testing::Test {
 protected:
  void Make(ActuatorOptions o = Shipped()) {
    actuator_ = std::make_unique<Actuator>(kube_, nullptr, [this](Millis d) { clock_.Advance(d); }, clock_, o);
  }
  ActionRequest Request(v1::ActionType type, v1::Target target, const std::string& id = "act-1") {
    ActionRequest r;
    r.action_id = id;
    r.action.set_type(type);
    r.target = std::move(target);
    return r;
  }
  json Dep() { return kube_.Object(kube::Deployment("shop", "web")); }
  void Annotate(const kube::ResourceType& type, const kube::ObjectRef& ref, const std::string& k, const std::string& v) {
    json o = kube_.Object(ref);
    o["metadata"]["annotations"][k] = v;
    kube_.Put(type, o);
  }
  void Label(const kube::ResourceType& type, const kube::ObjectRef& ref, const std::string& k, const std::string& v) {
    json o = kube_.Object(ref);
    o["metadata"]["labels"][k] = v;
    kube_.Put(type, o);
  }

  FakeKube kube_;
  FakeClock clock_;
  std::unique_ptr<Actuator> actuator_;
};

TEST_F(ProtectionTest, ProtectingLabelOnTheOwningDeploymentRefusesAnActionOnItsPod) {
  SeedWeb(kube_);
  Label(rs::kDeployments, kube::Deployment("shop", "web"), "kubemend.io/protected", "true");
  Make();
  for (auto type : {v1::ACTION_TYPE_INCREASE_MEMORY, v1::ACTION_TYPE_ROLLOUT_RESTART, v1::ACTION_TYPE_SCALE_WORKLOAD,
                    v1::ACTION_TYPE_RESTART_POD}) {
    ActionResult r = actuator_->Apply(Request(type, PodTarget()));
    EXPECT_EQ(r.status, v1::OUTCOME_STATUS_REFUSED) << ActionTypeName(type) << ": " << r.error;
    EXPECT_NE(r.error.find("refused (rule protected-label)"), std::string::npos) << r.error;
  }
  EXPECT_TRUE(kube_.writes().empty());
  EXPECT_TRUE(kube_.Exists(kube::Pod("shop", "web-1")));
}

TEST_F(ProtectionTest, OptOutAnnotationOnTheObjectAnOwnerOrTheNamespaceRefuses) {
  SeedWeb(kube_);
  Make();
  // On the pod only: RestartPod refused; the Deployment itself may change.
  Annotate(rs::kPods, kube::Pod("shop", "web-1"), kRemediateKey, "false");
  ActionResult r = actuator_->Apply(Request(v1::ACTION_TYPE_RESTART_POD, PodTarget()));
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_REFUSED);
  EXPECT_NE(r.error.find("rule opted-out"), std::string::npos) << r.error;
  // On the ReplicaSet between pod and Deployment.
  Annotate(rs::kReplicaSets, kube::ObjectRef{rs::kReplicaSets, "shop", "web-v2", {}}, kRemediateKey, "false");
  r = actuator_->Apply(Request(v1::ACTION_TYPE_RESTART_POD, PodTarget("web-2")));
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_REFUSED);
  EXPECT_NE(r.error.find("owner ReplicaSet/shop/web-v2"), std::string::npos) << r.error;
  EXPECT_EQ(actuator_->Apply(Request(v1::ACTION_TYPE_ROLLOUT_RESTART, PodTarget(), "act-2")).status,
            v1::OUTCOME_STATUS_SUCCEEDED);
  // On the namespace: nothing in it changes.
  kube_.Put(rs::kNamespaces, {{"metadata", {{"name", "shop"}, {"annotations", {{kRemediateKey, "false"}}}}}});
  r = actuator_->Apply(Request(v1::ACTION_TYPE_ROLLOUT_RESTART, PodTarget(), "act-3"));
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_REFUSED);
  EXPECT_NE(r.error.find("rule namespace-opted-out"), std::string::npos) << r.error;
}

TEST_F(ProtectionTest, ProtectedNamespaceAndProtectedNodeAreRefused) {
  SeedWeb(kube_);
  json sys = DeploymentJson("coredns:1", "128Mi", "64Mi");
  sys["metadata"]["namespace"] = "kube-system";
  sys["metadata"]["name"] = "coredns";
  kube_.Put(rs::kDeployments, sys);
  kube_.Put(rs::kNodes, {{"metadata", {{"name", "n9"}, {"labels", {{"kubemend.io/protected", "true"}}}}},
                         {"spec", json::object()}});
  Make();
  v1::Target t;
  t.set_namespace_("kube-system");
  t.set_kind("Deployment");
  t.set_name("coredns");
  ActionResult r = actuator_->Apply(Request(v1::ACTION_TYPE_INCREASE_MEMORY, t));
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_REFUSED);
  EXPECT_NE(r.error.find("protected-namespace"), std::string::npos);
  EXPECT_EQ(actuator_->Apply(Request(v1::ACTION_TYPE_CORDON_NODE, NodeTarget("n9"))).status,
            v1::OUTCOME_STATUS_REFUSED);
  EXPECT_EQ(actuator_->Apply(Request(v1::ACTION_TYPE_DRAIN_NODE, NodeTarget("n9"))).status,
            v1::OUTCOME_STATUS_REFUSED);
  EXPECT_TRUE(kube_.writes().empty());
}

TEST_F(ProtectionTest, DrainLeavesProtectedAndOptedOutPodsAndReportsThem) {
  kube_.Put(rs::kNodes, {{"metadata", {{"name", "n1"}}}, {"spec", json::object()}});
  SeedWeb(kube_);
  Annotate(rs::kPods, kube::Pod("shop", "web-2"), kRemediateKey, "false");
  json dns = PodJson("coredns-1", "ReplicaSet", "coredns-x");
  dns["metadata"]["namespace"] = "kube-system";
  kube_.Put(rs::kPods, dns);
  json own = PodJson("kubemend-executor-1", "ReplicaSet", "kubemend-executor-x");
  own["metadata"]["namespace"] = "kubemend";
  kube_.Put(rs::kPods, own);
  Make();
  ActionResult r = actuator_->Apply(Request(v1::ACTION_TYPE_DRAIN_NODE, NodeTarget("n1")));
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_FALSE(kube_.Exists(kube::Pod("shop", "web-1")));
  EXPECT_TRUE(kube_.Exists(kube::Pod("shop", "web-2")));
  EXPECT_TRUE(kube_.Exists(kube::Pod("kube-system", "coredns-1")));
  EXPECT_TRUE(kube_.Exists(kube::Pod("kubemend", "kubemend-executor-1")));
  EXPECT_NE(r.detail.find("evicted 1 pod(s); left in place (protected): "), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("Pod/kube-system/coredns-1 (protected-namespace"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("Pod/shop/web-2 (opted-out"), std::string::npos) << r.detail;
  EXPECT_EQ(r.verify.left_in_place.size(), 3u);
}

TEST_F(ProtectionTest, DeleteCompletedJobsHonoursTheSelectorAndProtection) {
  auto job = [](const std::string& name, json labels) {
    return json{{"metadata", {{"name", name}, {"namespace", "shop"}, {"labels", labels}}},
                {"status",
                 {{"conditions", json::array({{{"type", "Complete"}, {"status", "True"}}})},
                  {"completionTime", "2025-12-01T00:00:00Z"}}}};
  };
  kube_.Put(rs::kJobs, job("report-1", {{"app", "report"}}));
  kube_.Put(rs::kJobs, job("report-keep", {{"app", "report"}, {"kubemend.io/protected", "true"}}));
  kube_.Put(rs::kJobs, job("backup-1", {{"app", "backup"}}));
  Make();
  v1::Target t;
  t.set_namespace_("shop");
  t.set_kind("Namespace");
  t.set_name("shop");
  auto req = Request(v1::ACTION_TYPE_DELETE_COMPLETED_JOBS, t);
  req.action.mutable_delete_completed_jobs()->set_label_selector("app=report");
  ActionResult r = actuator_->Apply(req);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_FALSE(kube_.Exists({rs::kJobs, "shop", "report-1", {}}));
  EXPECT_TRUE(kube_.Exists({rs::kJobs, "shop", "report-keep", {}}));
  EXPECT_TRUE(kube_.Exists({rs::kJobs, "shop", "backup-1", {}}));
  EXPECT_NE(r.detail.find("matching app=report; left in place (protected): report-keep (protected-label)"),
            std::string::npos)
      << r.detail;
  // A protected namespace: nothing is listed, let alone deleted.
  t.set_namespace_("kube-system");
  t.set_name("kube-system");
  EXPECT_EQ(actuator_->Apply(Request(v1::ACTION_TYPE_DELETE_COMPLETED_JOBS, t, "act-2")).status,
            v1::OUTCOME_STATUS_REFUSED);
}

TEST_F(ProtectionTest, OperatorCapsBindEveryProposalAndTheOutcomeSaysSo) {
  SeedWeb(kube_);
  kube_.Put(rs::kHorizontalPodAutoscalers,
            {{"metadata", {{"name", "web"}, {"namespace", "shop"}}}, {"spec", {{"maxReplicas", 8}}}});
  ActuatorOptions o = Shipped();
  o.scale_max_replicas = 3;
  o.memory_max = "300Mi";
  o.hpa_max_cap = 10;
  Make(o);
  auto scale = Request(v1::ACTION_TYPE_SCALE_WORKLOAD, PodTarget(), "s-1");
  scale.action.mutable_scale_workload()->set_delta(40);
  scale.action.mutable_scale_workload()->set_max_replicas(80);
  ActionResult r = actuator_->Apply(scale);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(Dep()["spec"]["replicas"], 3);
  EXPECT_NE(r.detail.find("the proposal's max_replicas 80 clamped to the operator's 3"), std::string::npos) << r.detail;

  auto mem = Request(v1::ACTION_TYPE_INCREASE_MEMORY, PodTarget(), "m-1");
  mem.action.mutable_increase_memory()->set_percent(100);
  mem.action.mutable_increase_memory()->set_max_limit("64Gi");
  r = actuator_->Apply(mem);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(Dep()["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"], "300Mi");
  EXPECT_NE(r.detail.find("max_limit 64Gi clamped to the operator's executor.memory.max 300Mi"), std::string::npos)
      << r.detail;

  v1::Target h;
  h.set_namespace_("shop");
  h.set_kind("HorizontalPodAutoscaler");
  h.set_name("web");
  auto hpa = Request(v1::ACTION_TYPE_ADJUST_HPA, h, "h-1");
  hpa.action.mutable_adjust_hpa()->set_percent(500);
  hpa.action.mutable_adjust_hpa()->set_max_replicas_cap(1000);
  r = actuator_->Apply(hpa);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(kube_.Object({rs::kHorizontalPodAutoscalers, "shop", "web", {}})["spec"]["maxReplicas"], 10);
  EXPECT_NE(r.detail.find("max_replicas_cap 1000 clamped to the operator's 10"), std::string::npos) << r.detail;
}

TEST_F(ProtectionTest, ScaleDownStopsAtTheOperatorMinimum) {
  SeedWeb(kube_);  // 2 replicas
  ActuatorOptions o = Shipped();
  o.scale_min_replicas = 1;
  Make(o);
  auto down = Request(v1::ACTION_TYPE_SCALE_WORKLOAD, PodTarget(), "d-1");
  down.action.mutable_scale_workload()->set_delta(-20);
  ActionResult r = actuator_->Apply(down);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(Dep()["spec"]["replicas"], 1);
  EXPECT_NE(r.detail.find("clamped to the operator's minimum of 1 replicas"), std::string::npos) << r.detail;
  down.action_id = "d-2";
  r = actuator_->Apply(down);
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_FAILED);
  EXPECT_NE(r.error.find("refusing to scale below the operator's minimum of 1"), std::string::npos) << r.error;
}

TEST_F(ProtectionTest, PvcSizeIsBoundByTheOperatorMaximum) {
  kube_.Put(rs::kStorageClasses, {{"metadata", {{"name", "elastic"}}}, {"allowVolumeExpansion", true}});
  kube_.Put(rs::kPersistentVolumeClaims,
            {{"metadata", {{"name", "data"}, {"namespace", "shop"}}},
             {"spec", {{"storageClassName", "elastic"}, {"resources", {{"requests", {{"storage", "10Gi"}}}}}}}});
  ActuatorOptions o = Shipped();
  o.pvc_max_size = "12Gi";
  Make(o);
  v1::Target t;
  t.set_namespace_("shop");
  t.set_kind("PersistentVolumeClaim");
  t.set_name("data");
  auto req = Request(v1::ACTION_TYPE_EXPAND_PVC, t);
  req.action.mutable_expand_pvc()->set_percent(100);
  req.action.mutable_expand_pvc()->set_max_size("1Ti");
  ActionResult r = actuator_->Apply(req);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(r.changes[0].after, "12Gi");
  EXPECT_NE(r.detail.find("max_size 1Ti clamped to the operator's executor.pvc.max_size 12Gi"), std::string::npos)
      << r.detail;
}

TEST_F(ProtectionTest, ExecutorPublishesRefusedWithTheRuleAndCountsIt) {
  SeedWeb(kube_);
  Label(rs::kDeployments, kube::Deployment("shop", "web"), "kubemend.io/protected", "true");
  Make();
  Executor ex(actuator_.get(), nullptr, clock_, kWho, ExecutorOptions{});
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_DECISION, {"safety-gate", "g", "0"}, clock_);
  *e.mutable_target() = PodTarget();
  e.mutable_decision()->set_verdict(v1::VERDICT_APPROVED);
  e.mutable_decision()->set_action_id("act-9");
  e.mutable_decision()->mutable_proposal()->mutable_action()->set_type(v1::ACTION_TYPE_ROLLOUT_RESTART);
  auto out = ex.HandleDecision(e);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].outcome().status(), v1::OUTCOME_STATUS_REFUSED);
  EXPECT_EQ(OutcomeStatusName(out[0].outcome().status()), "refused");
  EXPECT_NE(out[0].outcome().error().find("refused (rule protected-label): Deployment/shop/web carries"),
            std::string::npos)
      << out[0].outcome().error();
  EXPECT_EQ(ex.Stats().refused, 1u);
  EXPECT_TRUE(kube_.writes().empty());
}

}  // namespace
}  // namespace kubemend::executor

