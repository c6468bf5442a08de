#include "catalogue.h"

#include <gtest/gtest.h>

namespace kubemend::analyzer {
namespace {

TEST(CatalogueTest, FillsTypedParamsWithDefaults) {
  v1::Action a;
  ASSERT_TRUE(FillAction(v1::ACTION_TYPE_INCREASE_MEMORY, {{"percent", "25"}}, &a).ok());
  EXPECT_EQ(a.type(), v1::ACTION_TYPE_INCREASE_MEMORY);
  EXPECT_EQ(a.increase_memory().percent(), 25u);
  EXPECT_EQ(a.increase_memory().round_to(), "64Mi");
  EXPECT_EQ(a.increase_memory().max_limit(), "4Gi");
}

TEST(CatalogueTest, RejectsOutOfBoundsAndUnknownParams) {
  v1::Action a;
  auto st = FillAction(v1::ACTION_TYPE_SCALE_WORKLOAD, {{"percent", "900"}}, &a);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("param percent: 900 is above the maximum 300"), std::string::npos);
  st = FillAction(v1::ACTION_TYPE_RESTART_POD, {{"force", "true"}}, &a);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("RestartPod has no such parameter"), std::string::npos);
  st = FillAction(v1::ACTION_TYPE_INCREASE_MEMORY, {{"maxLimit", "lots"}}, &a);
  EXPECT_FALSE(st.ok());
  st = FillAction(v1::ACTION_TYPE_SCALE_WORKLOAD, {{"delta", "-3"}}, &a);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(a.scale_workload().delta(), -3);
  EXPECT_EQ(a.scale_workload().percent(), 0u);
}

TEST(CatalogueTest, AliasesFromTheSeeds) {
  v1::ActionType t;
  ASSERT_TRUE(ParseActionName("restart", &t));
  EXPECT_EQ(t, v1::ACTION_TYPE_RESTART_POD);
  ASSERT_TRUE(ParseActionName("alert", &t));
  EXPECT_EQ(t, v1::ACTION_TYPE_NOTIFY);
  ASSERT_TRUE(ParseActionName("RolloutRestart", &t));
  EXPECT_EQ(t, v1::ACTION_TYPE_ROLLOUT_RESTART);
  EXPECT_FALSE(ParseActionName("reboot-the-world", &t));
}

TEST(CatalogueTest, Quantities) {
  double q = 0;
  ASSERT_TRUE(ParseQuantity("64Mi", &q));
  EXPECT_DOUBLE_EQ(q, 64.0 * 1024 * 1024);
  ASSERT_TRUE(ParseQuantity("500m", &q));
  EXPECT_DOUBLE_EQ(q, 0.5);
  ASSERT_TRUE(ParseQuantity("0.9", &q));
  EXPECT_FALSE(ParseQuantity("1Zi", &q));
  EXPECT_FALSE(ParseQuantity("", &q));
}

}  // namespace
}  // namespace kubemend::analyzer
