#include "plan.h"

#include <gtest/gtest.h>

namespace kubemend::executor {
namespace {

using nlohmann::json;

TEST(PlanCountTest, PercentRoundsUpWithMinimumStep) {
  auto p = PlanCountIncrease(4, 25, 1, 50, 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->to, 5);
  p = PlanCountIncrease(10, 25, 1, 50, 0);  // 2.5 -> 3
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->to, 13);
  p = PlanCountIncrease(2, 10, 3, 50, 0);  // 0.2 -> 1, min step 3
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->to, 5);
  EXPECT_FALSE(p->capped);
}

TEST(PlanCountTest, CapLimitsAndAtCapRefuses) {
  auto p = PlanCountIncrease(9, 50, 1, 10, 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->to, 10);
  EXPECT_TRUE(p->capped);
  EXPECT_NE(p->reason.find("capped at 10"), std::string::npos);
  auto at = PlanCountIncrease(10, 50, 1, 10, 0);
  EXPECT_EQ(at.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(PlanCountIncrease(12, 50, 1, 10, 0).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(PlanCountTest, ExplicitDeltaScalesDownButNotBelowZero) {
  auto p = PlanCountIncrease(3, 0, 0, 10, -5);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->to, 0);
  p = PlanCountIncrease(3, 0, 0, 10, 2);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->to, 5);
  EXPECT_EQ(PlanCountIncrease(0, 0, 0, 10, -1).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(PlanCountIncrease(3, 2000, 0, 10, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PlanCountTest, ZeroReplicasGrowByTheMinimumStep) {
  auto p = PlanCountIncrease(0, 50, 0, 10, 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->to, 1);
}

TEST(PlanStorageTest, GrowsToWholeGibAndCaps) {
  auto p = PlanStorageIncrease(*kube::Quantity::Parse("10Gi"), 50, std::nullopt);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->to.ToString(), "15Gi");
  p = PlanStorageIncrease(*kube::Quantity::Parse("10Gi"), 15, std::nullopt);  // 11.5 -> 12
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->to.ToString(), "12Gi");
  p = PlanStorageIncrease(*kube::Quantity::Parse("10Gi"), 50, *kube::Quantity::Parse("12Gi"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->to.ToString(), "12Gi");
  EXPECT_TRUE(p->capped);
  EXPECT_EQ(PlanStorageIncrease(*kube::Quantity::Parse("12Gi"), 50, *kube::Quantity::Parse("12Gi")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  p = PlanStorageIncrease(*kube::Quantity::Parse("100Mi"), 50, std::nullopt);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->to.ToString(), "150Mi");
  EXPECT_EQ(PlanStorageIncrease(*kube::Quantity::Parse("1Gi"), 0, std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FieldPathTest, GetAndSetThroughNamedContainersAndQuotedKeys) {
  json d = json::parse(R"({"spec":{"template":{"spec":{"containers":[{"name":"side"},{"name":"app","image":"a:1"}]}}}})");
  const std::string img = "spec.template.spec.containers[app].image";
  ASSERT_NE(GetField(d, img), nullptr);
  EXPECT_EQ(FieldText(GetField(d, img)), "a:1");
  ASSERT_TRUE(SetField(d, "spec.template.spec.containers[app].resources.limits.memory", "1Gi").ok());
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][1]["resources"]["limits"]["memory"], "1Gi");
  const std::string ann = "spec.template.metadata.annotations[\"kubectl.kubernetes.io/restartedAt\"]";
  ASSERT_TRUE(SetField(d, ann, "now").ok());
  EXPECT_EQ(d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"], "now");
  EXPECT_EQ(FieldText(GetField(d, ann)), "now");
  ASSERT_TRUE(SetField(d, ann, nullptr).ok());
  EXPECT_EQ(GetField(d, ann), nullptr);
  EXPECT_FALSE(SetField(d, "spec.template.spec.containers[nope].image", "x").ok());
}

TEST(FieldPathTest, TextRoundTripKeepsTypes) {
  json n = 3;
  EXPECT_EQ(FieldText(&n), "3");
  EXPECT_EQ(*FieldFromText("5", &n), json(5));
  json b = true;
  EXPECT_EQ(*FieldFromText("false", &b), json(false));
  EXPECT_TRUE(FieldFromText("", &n)->is_null());
  json s = "a";
  EXPECT_EQ(*FieldFromText("512Mi", &s), json("512Mi"));
  EXPECT_FALSE(FieldFromText("abc", &n).ok());
}

TEST(HistoryTest, RecordsIdsAndKeepsABoundedNewestFirstHistory) {
  json obj = {{"metadata", {{"name", "x"}}}};
  for (size_t i = 0; i < kHistoryLimit + 3; ++i) {
    RecordAction(obj, {"id-" + std::to_string(i), "ScaleWorkload", "t", {{"Deployment/a/x", "spec.replicas", "1", "2"}}});
  }
  EXPECT_EQ(obj["metadata"]["annotations"][kLastActionAnnotation], "id-" + std::to_string(kHistoryLimit + 2));
  EXPECT_TRUE(HasAction(obj, "id-" + std::to_string(kHistoryLimit + 2)));
  EXPECT_TRUE(HasAction(obj, "id-3"));
  EXPECT_FALSE(HasAction(obj, "id-2"));  // fell off the bounded history
  auto e = FindAction(obj, "id-5");
  ASSERT_TRUE(e);
  ASSERT_EQ(e->changes.size(), 1u);
  EXPECT_EQ(e->changes[0].after, "2");
}

TEST(SelectorTest, MatchLabelsAndSingleValueIn) {
  json s = json::parse(R"({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["fe"]}]})");
  EXPECT_EQ(*SelectorString(s), "app=web,tier=fe");
  EXPECT_FALSE(SelectorString(json::parse(R"({"matchExpressions":[{"key":"a","operator":"Exists"}]})")).ok());
}

}  // namespace
}  // namespace kubemend::executor
