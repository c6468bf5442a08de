#include "admin_service.h"

#include "policy_source.h"

#include <gtest/gtest.h>

namespace kubemend::analyzer {
namespace {

constexpr const char* kGood = R"(apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata:
  name: crashloop-restart
spec:
  triggers:
    - name: crash-looping
      alert: {name: KubePodCrashLooping}
  actions:
    - type: RestartPod
)";

TEST(AnalyzerAdminTest, ValidateNamesTheDocumentAndFieldOfEachProblem) {
  std::string bad = std::string(kGood) +
                    "---\napiVersion: kubemend.io/v1alpha1\nkind: HealingPolicy\n"
                    "metadata: {name: second}\nspec:\n  nonsense: 1\n";
  auto r = ValidatePolicyText(bad, "mine.yaml", PolicyDefaults{});
  EXPECT_FALSE(r.valid());
  ASSERT_GE(r.errors_size(), 1);
  EXPECT_EQ(r.errors(0).document(), 1);
  EXPECT_EQ(r.errors(0).path(), "spec.nonsense");
  EXPECT_EQ(r.policies_size(), 0) << "an invalid text defines nothing";
}

TEST(AnalyzerAdminTest, ValidateListsWhatAValidTextDefines) {
  auto r = ValidatePolicyText(kGood, "mine.yaml", PolicyDefaults{});
  ASSERT_TRUE(r.valid()) << r.DebugString();
  ASSERT_EQ(r.policies_size(), 1);
  EXPECT_EQ(r.policies(0).ref().name(), "crashloop-restart");
  ASSERT_EQ(r.policies(0).actions_size(), 1);
  EXPECT_EQ(r.policies(0).actions(0), "RestartPod");
}

TEST(AnalyzerAdminTest, ReloadReportsTheChangesAndWhatIsInForce) {
  MapPolicySource src("test");
  PolicyReloader reloader({&src}, PolicyDefaults{});
  AdminHooks hooks;
  hooks.policies = [&] { return reloader.Current(); };
  hooks.policy_errors = [] { return std::vector<std::string>{}; };
  hooks.reload = [&] {
    ReloadResult r;
    r.changes = reloader.Poll(&r.errors);
    return r;
  };
  AdminService svc(nullptr, std::move(hooks));
  src.Upsert("a.yaml", kGood);
  v1::ReloadPoliciesRequest req;
  v1::ReloadPoliciesResponse resp;
  ASSERT_TRUE(svc.ReloadPolicies(nullptr, &req, &resp).ok());
  EXPECT_EQ(resp.loaded(), 1u);
  ASSERT_EQ(resp.changes_size(), 1);
  EXPECT_EQ(resp.changes(0).change(), "added");
  v1::ReloadPoliciesResponse again;
  ASSERT_TRUE(svc.ReloadPolicies(nullptr, &req, &again).ok());
  EXPECT_EQ(again.changes_size(), 0) << "nothing changed since";
  v1::ValidatePoliciesRequest empty;
  v1::ValidatePoliciesResponse vr;
  EXPECT_EQ(svc.ValidatePolicies(nullptr, &empty, &vr).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace kubemend::analyzer
