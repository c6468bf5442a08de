#include "verifier.h"

#include <gtest/gtest.h>

#include "fixtures.h"

namespace kubemend::executor {
namespace {

using namespace testing;
using nlohmann::json;

class VerifierTest : public ::testing::Test {
 protected:
  VerifierTest() : verifier_(kube_, [this](Millis d) { clock_.Advance(d); }, clock_, {Millis(500), Millis(2000)}) {}
  FakeKube kube_;
  FakeClock clock_;
  Verifier verifier_;
};

TEST_F(VerifierTest, HealthyWorkloadMustStayHealthyForTheStableWindow) {
  SeedWeb(kube_);
  VerifyPlan p{VerifyKind::kWorkload, kube::Deployment("shop", "web"), {}, 0, ""};
  v1::Verification v = verifier_.Verify(p, Millis(10000));
  EXPECT_TRUE(v.healthy()) << v.detail();
  EXPECT_EQ(v.waited_ms(), 2000u);
}

TEST_F(VerifierTest, RestartSinceTheBaselineIsUnhealthy) {
  SeedWeb(kube_);
  std::string uid = kube_.Object(kube::Pod("shop", "web-1"))["metadata"]["uid"];
  json p = kube_.Object(kube::Pod("shop", "web-1"));
  p["status"]["containerStatuses"][0]["restartCount"] = 3;
  kube_.Put(rs::kPods, p);
  VerifyPlan plan{VerifyKind::kWorkload, kube::Deployment("shop", "web"), {{uid, 2}}, 0, ""};
  EXPECT_NE(verifier_.Check(plan).find("restarted 1 time"), std::string::npos) << verifier_.Check(plan);
  plan.restarts[uid] = 3;
  EXPECT_EQ(verifier_.Check(plan), "");
}

TEST_F(VerifierTest, RolloutNotObservedIsUnhealthyUntilTheDeadline) {
  SeedWeb(kube_);
  json d = kube_.Object(kube::Deployment("shop", "web"));
  d["metadata"]["generation"] = 2;
  kube_.Put(rs::kDeployments, d);
  VerifyPlan p{VerifyKind::kWorkload, kube::Deployment("shop", "web"), {}, 0, ""};
  v1::Verification v = verifier_.Verify(p, Millis(3000));
  EXPECT_FALSE(v.healthy());
  EXPECT_NE(v.detail().find("not observed"), std::string::npos) << v.detail();
  EXPECT_EQ(v.waited_ms(), 3000u);
}

TEST_F(VerifierTest, HpaStillCappedAndPvcCapacity) {
  kube_.Put(rs::kHorizontalPodAutoscalers, {{"metadata", {{"name", "h"}, {"namespace", "shop"}}},
                                            {"spec", {{"maxReplicas", 5}}},
                                            {"status", {{"desiredReplicas", 5}}}});
  VerifyPlan h{VerifyKind::kHpa, {rs::kHorizontalPodAutoscalers, "shop", "h", {}}, {}, 5, ""};
  EXPECT_NE(verifier_.Check(h).find("still capped"), std::string::npos);
  kube_.Put(rs::kPersistentVolumeClaims, {{"metadata", {{"name", "c"}, {"namespace", "shop"}}},
                                          {"status", {{"capacity", {{"storage", "10Gi"}}}}}});
  VerifyPlan c{VerifyKind::kPvc, {rs::kPersistentVolumeClaims, "shop", "c", {}}, {}, 0, "15Gi"};
  EXPECT_NE(verifier_.Check(c).find("< requested"), std::string::npos);
  c.expect_size = "10Gi";
  EXPECT_EQ(verifier_.Check(c), "");
}

TEST_F(VerifierTest, DrainedNodeKeepsOnlyDaemonSetPods) {
  kube_.Put(rs::kPods, PodJson("agent", "DaemonSet", "agent"));
  VerifyPlan p{VerifyKind::kNodeDrained, kube::Node("n1"), {}, 0, ""};
  EXPECT_EQ(verifier_.Check(p), "");
  kube_.Put(rs::kPods, PodJson("web-1", "ReplicaSet", "web-v2"));
  EXPECT_EQ(verifier_.Check(p), "1 pod(s) still on the node");
}

}  // namespace
}  // namespace kubemend::executor
