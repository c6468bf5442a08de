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

// The shipped policy and binding, as the API server returns them.
nlohmann::json ShippedPolicy() {
  return nlohmann::json::parse(R"({
    "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": "kubemend-healingaction-approval"},
    "spec": {"failurePolicy": "Fail",
             "matchConstraints": {"resourceRules": [{"apiGroups": ["kubemend.io"], "apiVersions": ["*"],
                                                     "operations": ["CREATE", "UPDATE"], "resources": ["healingactions"]}]},
             "validations": [{"expression": "!has(object.spec.approval) || object.spec.approval.user == request.userInfo.username"}]}})");
}
nlohmann::json Binding(const std::string& policy, const std::string& action) {
  return {{"metadata", {{"name", "b"}}}, {"spec", {{"policyName", policy}, {"validationActions", {action}}}}};
}

TEST(AdmissionGuardTest, TheShippedPolicyWithADenyingBindingIsInForce) {
  const std::string name = "kubemend-healingaction-approval";
  auto policy = ShippedPolicy();
  EXPECT_EQ(AdmissionGuardProblem(name, &policy, {Binding("other", "Audit"), Binding(name, "Deny")}), "");
}

TEST(AdmissionGuardTest, AnyGapMeansApprovalsFromKubernetesAreRefusedWithTheReason) {
  const std::string name = "kubemend-healingaction-approval";
  auto policy = ShippedPolicy();
  EXPECT_EQ(AdmissionGuardProblem(name, nullptr, {Binding(name, "Deny")}),
            "ValidatingAdmissionPolicy kubemend-healingaction-approval is not installed");
  EXPECT_NE(AdmissionGuardProblem(name, &policy, {}).find("no ValidatingAdmissionPolicyBinding"), std::string::npos);
  EXPECT_NE(AdmissionGuardProblem(name, &policy, {Binding(name, "Warn"), Binding("other", "Deny")})
                .find("no ValidatingAdmissionPolicyBinding"),
            std::string::npos)
      << "a binding that only warns, or denies for another policy, does not count";
  auto ignore = policy;
  ignore["spec"]["failurePolicy"] = "Ignore";
  EXPECT_NE(AdmissionGuardProblem(name, &ignore, {Binding(name, "Deny")}).find("failurePolicy Ignore"),
            std::string::npos);
  auto elsewhere = policy;
  elsewhere["spec"]["matchConstraints"]["resourceRules"][0]["resources"] = {"configmaps"};
  EXPECT_NE(AdmissionGuardProblem(name, &elsewhere, {Binding(name, "Deny")}).find("does not match healingactions"),
            std::string::npos);
  auto toothless = policy;
  toothless["spec"]["validations"][0]["expression"] = "true";
  EXPECT_NE(AdmissionGuardProblem(name, &toothless, {Binding(name, "Deny")}).find("does not check spec.approval.user"),
            std::string::npos);
}

}  // namespace
}  // namespace kubemend::gate
