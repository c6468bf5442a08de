#include "actuator.h"

#include <gtest/gtest.h>

#include "fixtures.h"

namespace kubemend::executor {
namespace {

using namespace testing;
using nlohmann::json;

class RecordingNotifier final : public Notifier {
 public:
  absl::Status Post(const std::string& url, const std::string& body) override {
    posts.emplace_back(url, body);
    return absl::OkStatus();
  }
  std::vector<std::pair<std::string, std::string>> posts;
};

class ActuatorTest : public ::testing::Test {
 protected:
  ActuatorTest() {
    options_.notify_channels["ops"] = "http://hooks.example/ops";
    actuator_ = std::make_unique<Actuator>(kube_, &notifier_, [this](Millis d) { clock_.Advance(d); }, clock_, options_);
  }
  ActionRequest Request(v1::ActionType type, v1::Target target, const std::string& id = "act-1") {
    ActionRequest r;
    r.action_id = id;
    r.action.set_type(type);
    r.target = std::move(target);
    r.incident_id = "inc-1";
    r.summary = "kubemend incident inc-1";
    return r;
  }
  json Dep() { return kube_.Object(kube::Deployment("shop", "web")); }
  json AppContainer() { return Dep()["spec"]["template"]["spec"]["containers"][0]; }

  FakeKube kube_;
  FakeClock clock_;
  RecordingNotifier notifier_;
  ActuatorOptions options_;
  std::unique_ptr<Actuator> actuator_;
};

TEST_F(ActuatorTest, IncreaseMemoryOnAPodRaisesItsDeploymentKeepingTheRatio) {
  SeedWeb(kube_);
  auto req = Request(v1::ACTION_TYPE_INCREASE_MEMORY, PodTarget());
  req.action.mutable_increase_memory()->set_percent(25);
  req.action.mutable_increase_memory()->set_max_limit("4Gi");
  ActionResult r = actuator_->Apply(req);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(AppContainer()["resources"]["limits"]["memory"], "320Mi");
  EXPECT_EQ(AppContainer()["resources"]["requests"]["memory"], "192Mi");
  ASSERT_EQ(r.changes.size(), 2u);
  EXPECT_EQ(r.changes[0].object, "Deployment/shop/web");
  EXPECT_EQ(r.changes[0].path, "spec.template.spec.containers[app].resources.limits.memory");
  EXPECT_EQ(r.changes[0].before, "256Mi");
  EXPECT_EQ(r.changes[0].after, "320Mi");
  EXPECT_EQ(Dep()["metadata"]["annotations"][kLastActionAnnotation], "act-1");
  EXPECT_EQ(r.verify.kind, VerifyKind::kWorkload);
  EXPECT_EQ(r.verify.restarts.size(), 2u);
}

TEST_F(ActuatorTest, ReplayedActionIdIsDuplicateAndNotAppliedTwice) {
  SeedWeb(kube_);
  auto req = Request(v1::ACTION_TYPE_INCREASE_MEMORY, PodTarget());
  ASSERT_EQ(actuator_->Apply(req).status, v1::OUTCOME_STATUS_SUCCEEDED);
  int puts = kube_.updates();
  ActionResult again = actuator_->Apply(req);
  EXPECT_EQ(again.status, v1::OUTCOME_STATUS_DUPLICATE);
  EXPECT_EQ(kube_.updates(), puts);
  EXPECT_EQ(AppContainer()["resources"]["limits"]["memory"], "320Mi");
  ASSERT_EQ(again.changes.size(), 2u);  // recovered from the history annotation
  EXPECT_EQ(again.changes[0].before, "256Mi");
}

TEST_F(ActuatorTest, OneConditionalMergePatchCarriesChangeAndMarker) {
  SeedWeb(kube_);
  auto req = Request(v1::ACTION_TYPE_SCALE_WORKLOAD, PodTarget());
  ASSERT_EQ(actuator_->Apply(req).status, v1::OUTCOME_STATUS_SUCCEEDED);
  EXPECT_EQ(kube_.updates(), 1);
  auto w = kube_.writes();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0], "PATCH deployments/shop/web");
}

// A 503 may hide a write that landed (the answer was lost): the action id on
// the live object tells, so the outcome is SUCCEEDED, and a replay is DUPLICATE.
TEST_F(ActuatorTest, PatchWhoseAnswerWasLostIsReadBackAndReportedApplied) {
  SeedWeb(kube_);
  kube_.FailPatches(1, /*applied=*/true);
  auto req = Request(v1::ACTION_TYPE_SCALE_WORKLOAD, PodTarget());
  ActionResult r = actuator_->Apply(req);
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_NE(r.detail.find("503"), std::string::npos) << r.detail;
  EXPECT_EQ(Dep()["spec"]["replicas"], 3);
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].after, "3");
  EXPECT_EQ(actuator_->Apply(req).status, v1::OUTCOME_STATUS_DUPLICATE);
  EXPECT_EQ(Dep()["spec"]["replicas"], 3);
}

TEST_F(ActuatorTest, PatchRefusedWith503FailsWithTheServersMessageAndChangesNothing) {
  SeedWeb(kube_);
  kube_.FailPatches(1, /*applied=*/false);
  ActionResult r = actuator_->Apply(Request(v1::ACTION_TYPE_SCALE_WORKLOAD, PodTarget()));
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_FAILED);
  EXPECT_NE(r.error.find("unable to handle the request"), std::string::npos) << r.error;
  EXPECT_EQ(Dep()["spec"]["replicas"], 2);
}

TEST(MergePatchTest, DiffSetsChangedRemovesMissingAndReplacesArrays) {
  json a = json::parse(R"({"a":1,"b":{"c":2,"d":3},"l":[1,2],"gone":true})");
  json b = json::parse(R"({"a":1,"b":{"c":5,"d":3},"l":[1],"new":"x"})");
  json p = MergePatchFor(a, b);
  EXPECT_EQ(p, json::parse(R"({"b":{"c":5},"l":[1],"new":"x","gone":null})"));
  json applied = a;
  applied.merge_patch(p);
  EXPECT_EQ(applied, b);
}

TEST_F(ActuatorTest, IncreaseMemoryAtTheCapFailsWithTheReason) {
  SeedWeb(kube_, "4Gi", "");
  auto req = Request(v1::ACTION_TYPE_INCREASE_MEMORY, PodTarget());
  req.action.mutable_increase_memory()->set_max_limit("4Gi");
  ActionResult r = actuator_->Apply(req);
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_FAILED);
  EXPECT_NE(r.error.find("cap"), std::string::npos) << r.error;
  EXPECT_EQ(AppContainer()["resources"]["limits"]["memory"], "4Gi");
}

TEST_F(ActuatorTest, DryRunGoesThroughTheServerDryRunAndChangesNothing) {
  SeedWeb(kube_);
  auto req = Request(v1::ACTION_TYPE_INCREASE_MEMORY, PodTarget());
  req.dry_run = true;
  ActionResult r = actuator_->Apply(req);
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_DRY_RUN);
  ASSERT_EQ(r.changes.size(), 2u);
  EXPECT_EQ(r.changes[0].after, "320Mi");
  EXPECT_EQ(AppContainer()["resources"]["limits"]["memory"], "256Mi");
  auto w = kube_.writes();
  ASSERT_FALSE(w.empty());
  EXPECT_NE(w.back().find("dry-run"), std::string::npos);
}

TEST_F(ActuatorTest, RestartPodRefusesBarePods) {
  kube_.Put(rs::kPods, PodJson("lonely", "", ""));
  ActionResult r = actuator_->Apply(Request(v1::ACTION_TYPE_RESTART_POD, PodTarget("lonely")));
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_FAILED);
  EXPECT_NE(r.error.find("bare pod"), std::string::npos);
  EXPECT_TRUE(kube_.Exists(kube::Pod("shop", "lonely")));
}

TEST_F(ActuatorTest, RestartPodMarksTheWorkloadThenDeletesAndNeverDeletesTheReplacement) {
  SeedWeb(kube_);
  std::string uid = kube_.Object(kube::Pod("shop", "web-1"))["metadata"]["uid"];
  auto req = Request(v1::ACTION_TYPE_RESTART_POD, PodTarget());
  ActionResult r = actuator_->Apply(req);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_FALSE(kube_.Exists(kube::Pod("shop", "web-1")));
  EXPECT_EQ(Dep()["metadata"]["annotations"][kLastActionAnnotation], "act-1");
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].before, "uid=" + uid);
  // The ReplicaSet recreates a pod with the same name (a StatefulSet would).
  kube_.Put(rs::kPods, PodJson("web-1", "ReplicaSet", "web-v2"));
  ActionResult again = actuator_->Apply(req);
  EXPECT_EQ(again.status, v1::OUTCOME_STATUS_DUPLICATE);
  EXPECT_TRUE(kube_.Exists(kube::Pod("shop", "web-1")));
}

TEST_F(ActuatorTest, RestartPodReplayFinishesAnInterruptedDelete) {
  SeedWeb(kube_);
  std::string uid = kube_.Object(kube::Pod("shop", "web-1"))["metadata"]["uid"];
  // The marker landed, the delete did not (crash in between).
  json dep = Dep();
  RecordAction(dep, {"act-1", "RestartPod", "t", {{"Pod/shop/web-1", kObjectPath, "uid=" + uid, ""}}});
  kube_.Put(rs::kDeployments, dep);
  ActionResult r = actuator_->Apply(Request(v1::ACTION_TYPE_RESTART_POD, PodTarget()));
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED);
  EXPECT_FALSE(kube_.Exists(kube::Pod("shop", "web-1")));
}

TEST_F(ActuatorTest, RolloutRestartStampsThePodTemplate) {
  SeedWeb(kube_);
  v1::Target t;
  t.set_namespace_("shop");
  t.set_kind("Deployment");
  t.set_name("web");
  ActionResult r = actuator_->Apply(Request(v1::ACTION_TYPE_ROLLOUT_RESTART, t));
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(Dep()["spec"]["template"]["metadata"]["annotations"][kRestartedAtAnnotation], "2026-01-01T00:00:00Z");
  EXPECT_EQ(r.changes[0].before, "");
}

TEST_F(ActuatorTest, ScaleWorkloadByPercentWithinTheCap) {
  SeedWeb(kube_);
  auto req = Request(v1::ACTION_TYPE_SCALE_WORKLOAD, PodTarget());
  req.action.mutable_scale_workload()->set_percent(50);
  req.action.mutable_scale_workload()->set_min_step(2);
  req.action.mutable_scale_workload()->set_max_replicas(3);
  ActionResult r = actuator_->Apply(req);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(Dep()["spec"]["replicas"], 3);  // 2 + max(1, 2) = 4, capped at 3
  EXPECT_EQ(r.changes[0].before, "2");
  EXPECT_EQ(r.changes[0].after, "3");
  auto more = Request(v1::ACTION_TYPE_SCALE_WORKLOAD, PodTarget(), "act-2");
  more.action.mutable_scale_workload()->set_max_replicas(3);
  EXPECT_EQ(actuator_->Apply(more).status, v1::OUTCOME_STATUS_FAILED);
}

TEST_F(ActuatorTest, RollbackImageFallsBackToThePreviousRevision) {
  SeedWeb(kube_);
  ActionResult r = actuator_->Apply(Request(v1::ACTION_TYPE_ROLLBACK_IMAGE, PodTarget()));
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(AppContainer()["image"], "shop/web:v1");
  EXPECT_NE(r.detail.find("ReplicaSet revision 1"), std::string::npos) << r.detail;
}

TEST_F(ActuatorTest, RollbackImagePrefersTheLastStableAnnotation) {
  SeedWeb(kube_);
  json d = Dep();
  d["metadata"]["annotations"][std::string(kStableImagePrefix) + "app"] = "shop/web:v0";
  kube_.Put(rs::kDeployments, d);
  ActionResult r = actuator_->Apply(Request(v1::ACTION_TYPE_ROLLBACK_IMAGE, PodTarget()));
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(AppContainer()["image"], "shop/web:v0");
}

TEST_F(ActuatorTest, RollbackImageWithNothingEarlierFails) {
  kube_.Put(rs::kDeployments, DeploymentJson("shop/web:v2", "", ""));
  ActionResult r = actuator_->Apply(Request(v1::ACTION_TYPE_ROLLBACK_IMAGE, PodTarget()));
  // The pod is unknown here, so resolution fails; with a Deployment target
  // there is no earlier image.
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_FAILED);
  v1::Target t;
  t.set_namespace_("shop");
  t.set_kind("Deployment");
  t.set_name("web");
  r = actuator_->Apply(Request(v1::ACTION_TYPE_ROLLBACK_IMAGE, t));
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_FAILED);
  EXPECT_NE(r.error.find("no earlier image"), std::string::npos) << r.error;
}

TEST_F(ActuatorTest, RecordStableImagesAnnotatesEachContainer) {
  SeedWeb(kube_);
  actuator_->RecordStableImages(kube::Deployment("shop", "web"));
  EXPECT_EQ(Dep()["metadata"]["annotations"][std::string(kStableImagePrefix) + "app"], "shop/web:v2");
}

TEST_F(ActuatorTest, CordonAndUncordon) {
  kube_.Put(rs::kNodes, {{"metadata", {{"name", "n1"}}}, {"spec", json::object()}});
  ActionResult r = actuator_->Apply(Request(v1::ACTION_TYPE_CORDON_NODE, NodeTarget("n1")));
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(kube_.Object(kube::Node("n1"))["spec"]["unschedulable"], true);
  EXPECT_EQ(r.changes[0].object, "Node//n1");
  EXPECT_EQ(actuator_->Apply(Request(v1::ACTION_TYPE_CORDON_NODE, NodeTarget("n1"), "act-2")).status,
            v1::OUTCOME_STATUS_FAILED);  // already cordoned
  r = actuator_->Apply(Request(v1::ACTION_TYPE_UNCORDON_NODE, NodeTarget("n1"), "act-3"));
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(kube_.Object(kube::Node("n1"))["spec"]["unschedulable"], false);
}

TEST_F(ActuatorTest, DrainEvictsRetriesBudgetRefusalsAndSkipsDaemonAndMirrorPods) {
  kube_.Put(rs::kNodes, {{"metadata", {{"name", "n1"}}}, {"spec", json::object()}});
  SeedWeb(kube_);
  kube_.Put(rs::kPods, PodJson("agent", "DaemonSet", "agent"));
  json mirror = PodJson("etcd", "Node", "n1");
  mirror["metadata"]["annotations"]["kubernetes.io/config.mirror"] = "x";
  kube_.Put(rs::kPods, mirror);
  kube_.Put(rs::kPods, PodJson("elsewhere", "ReplicaSet", "web-v2", "n2"));
  kube_.RefuseEvictions(3);
  auto req = Request(v1::ACTION_TYPE_DRAIN_NODE, NodeTarget("n1"));
  req.action.mutable_drain_node()->set_timeout_seconds(60);
  TimePoint start = clock_.Now();
  ActionResult r = actuator_->Apply(req);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_FALSE(kube_.Exists(kube::Pod("shop", "web-1")));
  EXPECT_FALSE(kube_.Exists(kube::Pod("shop", "web-2")));
  EXPECT_TRUE(kube_.Exists(kube::Pod("shop", "agent")));
  EXPECT_TRUE(kube_.Exists(kube::Pod("shop", "etcd")));
  EXPECT_TRUE(kube_.Exists(kube::Pod("shop", "elsewhere")));
  EXPECT_EQ(clock_.Now() - start, Millis(3000));  // three refusals, one wait each
  EXPECT_EQ(kube_.Object(kube::Node("n1"))["spec"]["unschedulable"], true);
  EXPECT_EQ(actuator_->Apply(req).status, v1::OUTCOME_STATUS_DUPLICATE);
}

TEST_F(ActuatorTest, DrainGivesUpAtTheTimeoutWhenABudgetKeepsRefusing) {
  kube_.Put(rs::kNodes, {{"metadata", {{"name", "n1"}}}, {"spec", json::object()}});
  kube_.Put(rs::kPods, PodJson("web-1", "ReplicaSet", "web-v2"));
  kube_.RefuseEvictions(1000);
  auto req = Request(v1::ACTION_TYPE_DRAIN_NODE, NodeTarget("n1"));
  req.action.mutable_drain_node()->set_timeout_seconds(10);
  ActionResult r = actuator_->Apply(req);
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_FAILED);
  EXPECT_NE(r.error.find("not evicted before the timeout"), std::string::npos) << r.error;
  EXPECT_TRUE(kube_.Exists(kube::Pod("shop", "web-1")));
}

TEST_F(ActuatorTest, ExpandPvcOnlyWhereTheStorageClassAllowsIt) {
  kube_.Put(rs::kStorageClasses, {{"metadata", {{"name", "fixed"}}}});
  kube_.Put(rs::kStorageClasses, {{"metadata", {{"name", "elastic"}}}, {"allowVolumeExpansion", true}});
  auto pvc = [](const std::string& name, const std::string& sc) {
    return json{{"metadata", {{"name", name}, {"namespace", "shop"}}},
                {"spec", {{"storageClassName", sc}, {"resources", {{"requests", {{"storage", "10Gi"}}}}}}}};
  };
  kube_.Put(rs::kPersistentVolumeClaims, pvc("a", "fixed"));
  kube_.Put(rs::kPersistentVolumeClaims, pvc("b", "elastic"));
  v1::Target t;
  t.set_namespace_("shop");
  t.set_kind("PersistentVolumeClaim");
  t.set_name("a");
  auto req = Request(v1::ACTION_TYPE_EXPAND_PVC, t);
  req.action.mutable_expand_pvc()->set_percent(50);
  ActionResult r = actuator_->Apply(req);
  EXPECT_EQ(r.status, v1::OUTCOME_STATUS_FAILED);
  EXPECT_NE(r.error.find("allowVolumeExpansion"), std::string::npos);
  req.target.set_name("b");
  r = actuator_->Apply(req);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(kube_.Object({rs::kPersistentVolumeClaims, "shop", "b", {}})["spec"]["resources"]["requests"]["storage"],
            "15Gi");
  EXPECT_EQ(r.verify.expect_size, "15Gi");
}

TEST_F(ActuatorTest, AdjustHpaRaisesMaxReplicasWithinTheCap) {
  kube_.Put(rs::kHorizontalPodAutoscalers,
            {{"metadata", {{"name", "web"}, {"namespace", "shop"}}}, {"spec", {{"minReplicas", 1}, {"maxReplicas", 4}}}});
  v1::Target t;
  t.set_namespace_("shop");
  t.set_kind("HorizontalPodAutoscaler");
  t.set_name("web");
  auto req = Request(v1::ACTION_TYPE_ADJUST_HPA, t);
  req.action.mutable_adjust_hpa()->set_percent(50);
  req.action.mutable_adjust_hpa()->set_max_replicas_cap(5);
  ActionResult r = actuator_->Apply(req);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_EQ(kube_.Object({rs::kHorizontalPodAutoscalers, "shop", "web", {}})["spec"]["maxReplicas"], 5);
  EXPECT_EQ(r.changes[0].after, "5");
}

TEST_F(ActuatorTest, DeleteCompletedJobsOnlyOlderCompletedOnes) {
  auto job = [](const std::string& name, bool complete, const std::string& when) {
    json j = {{"metadata", {{"name", name}, {"namespace", "shop"}}}, {"status", json::object()}};
    if (complete) {
      j["status"]["conditions"] = json::array({{{"type", "Complete"}, {"status", "True"}}});
      j["status"]["completionTime"] = when;
    }
    return j;
  };
  kube_.Put(rs::kJobs, job("old", true, "2025-12-30T00:00:00Z"));
  kube_.Put(rs::kJobs, job("fresh", true, "2025-12-31T23:00:00Z"));
  kube_.Put(rs::kJobs, job("running", false, ""));
  v1::Target t;
  t.set_namespace_("shop");
  t.set_kind("Namespace");
  t.set_name("shop");
  auto req = Request(v1::ACTION_TYPE_DELETE_COMPLETED_JOBS, t);
  req.action.mutable_delete_completed_jobs()->set_older_than_seconds(86400);
  ActionResult r = actuator_->Apply(req);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  EXPECT_FALSE(kube_.Exists({rs::kJobs, "shop", "old", {}}));
  EXPECT_TRUE(kube_.Exists({rs::kJobs, "shop", "fresh", {}}));
  EXPECT_TRUE(kube_.Exists({rs::kJobs, "shop", "running", {}}));
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].object, "Job/shop/old");
}

TEST_F(ActuatorTest, NotifyPostsSlackTextToTheNamedChannel) {
  auto req = Request(v1::ACTION_TYPE_NOTIFY, PodTarget());
  req.action.mutable_notify()->set_channel("ops");
  req.action.mutable_notify()->set_message("web is crash looping");
  ActionResult r = actuator_->Apply(req);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED) << r.error;
  ASSERT_EQ(notifier_.posts.size(), 1u);
  EXPECT_EQ(notifier_.posts[0].first, "http://hooks.example/ops");
  json body = json::parse(notifier_.posts[0].second);
  EXPECT_EQ(body["text"], "web is crash looping\nkubemend incident inc-1");
  EXPECT_TRUE(kube_.writes().empty());
  req.action.mutable_notify()->set_channel("nope");
  EXPECT_EQ(actuator_->Apply(req).status, v1::OUTCOME_STATUS_FAILED);
}

TEST_F(ActuatorTest, UndoRestoresBeforeValuesOnceAndRefusesDeletions) {
  SeedWeb(kube_);
  auto req = Request(v1::ACTION_TYPE_INCREASE_MEMORY, PodTarget());
  ActionResult r = actuator_->Apply(req);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED);
  ActionResult u = actuator_->Undo("rb-1", r.changes, false);
  ASSERT_EQ(u.status, v1::OUTCOME_STATUS_ROLLED_BACK) << u.error;
  EXPECT_EQ(AppContainer()["resources"]["limits"]["memory"], "256Mi");
  EXPECT_EQ(AppContainer()["resources"]["requests"]["memory"], "128Mi");
  EXPECT_EQ(u.changes.back().before, "320Mi");
  EXPECT_EQ(actuator_->Undo("rb-1", r.changes, false).status, v1::OUTCOME_STATUS_DUPLICATE);
  EXPECT_EQ(actuator_->Undo("rb-2", {{"Pod/shop/web-1", kObjectPath, "uid=1", ""}}, false).status,
            v1::OUTCOME_STATUS_FAILED);
}

TEST_F(ActuatorTest, UndoOfAScaleRestoresTheNumber) {
  SeedWeb(kube_);
  auto req = Request(v1::ACTION_TYPE_SCALE_WORKLOAD, PodTarget());
  ActionResult r = actuator_->Apply(req);
  ASSERT_EQ(r.status, v1::OUTCOME_STATUS_SUCCEEDED);
  ASSERT_EQ(actuator_->Undo("rb", r.changes, false).status, v1::OUTCOME_STATUS_ROLLED_BACK);
  EXPECT_EQ(Dep()["spec"]["replicas"], 2);
}

}  // namespace
}  // namespace kubemend::executor
