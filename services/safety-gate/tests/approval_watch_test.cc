// Which HealingActions carry an answer the gate must act on, and who is
// recorded as the approver.
#include "approval_watch.h"

#include <gtest/gtest.h>

namespace kubemend::gate {
namespace {

nlohmann::json Waiting(const nlohmann::json& approval) {
  nlohmann::json o = {{"metadata", {{"name", "a1"}, {"namespace", "shop"}}},
                      {"spec", {{"proposalId", "p-1"}, {"actionId", "a1"}, {"action", "RolloutRestart"}}},
                      {"status", {{"phase", "Pending"}}}};
  if (!approval.is_null()) {
    o["spec"]["approval"] = approval;
  }
  return o;
}

TEST(ApprovalWatchTest, AnApprovalOnAPendingActionIsParsed) {
  auto a = ParseApproval(Waiting({{"decision", "approve"}, {"user", "alice"}, {"reason", "looks right"}}));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->ns, "shop");
  EXPECT_EQ(a->name, "a1");
  EXPECT_EQ(a->proposal_id, "p-1");
  EXPECT_TRUE(a->approve);
  EXPECT_EQ(a->user, "alice");
  EXPECT_EQ(a->reason, "looks right");
  EXPECT_EQ(KubernetesSubject(a->user), "kubernetes:alice");
  auto d = ParseApproval(Waiting({{"decision", "deny"}, {"user", "bob"}}));
  ASSERT_TRUE(d.has_value());
  EXPECT_FALSE(d->approve);
}

TEST(ApprovalWatchTest, NothingToDoWithoutAnUnhandledAnswerOnAPendingAction) {
  EXPECT_FALSE(ParseApproval(Waiting(nullptr)).has_value()) << "no answer";
  auto handled = Waiting({{"decision", "approve"}, {"user", "alice"}});
  handled["status"]["approval"] = {{"state", "Accepted"}};
  EXPECT_FALSE(ParseApproval(handled).has_value()) << "handled already (status.approval)";
  auto running = Waiting({{"decision", "approve"}, {"user", "alice"}});
  running["status"]["phase"] = "InProgress";
  EXPECT_FALSE(ParseApproval(running).has_value()) << "not waiting for anyone";
  EXPECT_FALSE(ParseApproval(Waiting({{"decision", "approve"}})).has_value()) << "no user";
  EXPECT_FALSE(ParseApproval(Waiting({{"decision", "maybe"}, {"user", "alice"}})).has_value()) << "no decision";
  EXPECT_FALSE(ParseApproval(nlohmann::json::array()).has_value());
}

}  // namespace
}  // namespace kubemend::gate
