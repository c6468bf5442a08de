#include "policy.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_util.h"

namespace kubemend::analyzer {
namespace {

using testing::PodSignal;

const char* kTwoPolicies = R"(
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: crashloop}
spec:
  mode: automatic
  priority: 5
  cooldown: 2m
  maxActionsPerHour: 4
  loopBreaker: {maxAttempts: 2, window: 30m}
  selector:
    namespaces: ["shop", "team-*"]
    kinds: [Deployment]
    labelSelector:
      matchLabels: {tier: web}
      matchExpressions: [{key: env, operator: NotIn, values: [dev]}]
  triggers:
    - alert: {name: "KubePod*"}
  actions:
    - type: RestartPod
    - type: RollbackImage
      verify: true
      verifyTimeout: 2m
---
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: mem, namespace: shop}
spec:
  triggers:
    - name: high-memory
      metric: {name: container_memory_ratio, operator: ">=", threshold: 0.9, for: 5m}
    - event: {reason: "/^OOM(Killed|Killing)$/"}
  actions:
    - {type: IncreaseMemory, params: {percent: 30, maxLimit: 2Gi}}
)";

PolicyDefaults Defaults() { return PolicyDefaults(); }

TEST(PolicyParseTest, ParsesAHealingPolicyIntoTheModel) {
  auto r = ParsePolicies(kTwoPolicies, "p.yaml", Defaults());
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  ASSERT_EQ(r.policies.size(), 2u);
  const Policy& p = r.policies[0];
  EXPECT_EQ(p.ref.name(), "crashloop");
  EXPECT_EQ(p.ref.source(), "p.yaml#0");
  EXPECT_EQ(p.ref.version().size(), 16u);
  EXPECT_EQ(p.priority, 5);
  EXPECT_EQ(p.cooldown, Millis(120000));
  EXPECT_EQ(p.max_actions_per_hour, 4u);
  EXPECT_EQ(p.loop_max_attempts, 2u);
  EXPECT_EQ(p.loop_window, Millis(1800000));
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_EQ(p.actions[1].action.type(), v1::ACTION_TYPE_ROLLBACK_IMAGE);
  EXPECT_TRUE(p.actions[1].action.verify());
  EXPECT_EQ(p.actions[1].action.verify_timeout_seconds(), 120u);
  const Policy& m = r.policies[1];
  EXPECT_EQ(m.ref.name(), "shop/mem");
  EXPECT_EQ(m.actions[0].action.increase_memory().percent(), 30u);
  EXPECT_EQ(m.actions[0].action.increase_memory().max_limit(), "2Gi");
}

TEST(PolicyParseTest, ApplyChoosesGitOpsOrLivePerAction) {
  std::string doc = R"(
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: mem}
spec:
  triggers:
    - alert: {name: KubePodOOMKilled}
  actions:
    - {type: IncreaseMemory, apply: gitops}
    - {type: RolloutRestart, apply: live}
    - {type: ScaleWorkload, apply: auto}
)";
  auto r = ParsePolicies(doc, "p.yaml", Defaults());
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  ASSERT_EQ(r.policies[0].actions.size(), 3u);
  EXPECT_EQ(r.policies[0].actions[0].action.apply_via(), v1::APPLY_VIA_GITOPS);
  EXPECT_EQ(r.policies[0].actions[1].action.apply_via(), v1::APPLY_VIA_LIVE);
  EXPECT_EQ(r.policies[0].actions[2].action.apply_via(), v1::APPLY_VIA_UNSPECIFIED);
  doc.replace(doc.find("apply: gitops"), 13, "apply: github");
  auto bad = ParsePolicies(doc, "p.yaml", Defaults());
  ASSERT_FALSE(bad.errors.empty());
  EXPECT_NE(bad.errors[0].ToString().find("must be auto, gitops or live"), std::string::npos) << bad.errors[0].ToString();
}

TEST(PolicyParseTest, VersionChangesWithContent) {
  auto a = ParsePolicies(kTwoPolicies, "p.yaml", Defaults());
  std::string edited = kTwoPolicies;
  edited.replace(edited.find("priority: 5"), 11, "priority: 6");
  auto b = ParsePolicies(edited, "p.yaml", Defaults());
  ASSERT_TRUE(a.errors.empty() && b.errors.empty());
  EXPECT_NE(a.policies[0].ref.version(), b.policies[0].ref.version());
  EXPECT_EQ(a.policies[1].ref.version(), b.policies[1].ref.version());
}

TEST(PolicyParseTest, ErrorsNameFileDocumentAndFieldAndRejectTheWholeFile) {
  std::string bad = std::string(kTwoPolicies) + R"(
---
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: broken}
spec:
  triggers: [{alert: {name: X}}]
  actions:
    - {type: ScaleWorkload, params: {percent: 900}}
    - {type: Teleport}
  cooldwn: 5m
)";
  auto r = ParsePolicies(bad, "team.yaml", Defaults());
  EXPECT_TRUE(r.policies.empty()) << "a bad document must reject the whole file";
  ASSERT_GE(r.errors.size(), 3u);
  std::string all;
  for (const auto& e : r.errors) {
    all += e.ToString() + "\n";
  }
  EXPECT_NE(all.find("team.yaml: document 2: spec.cooldwn: unknown field"), std::string::npos) << all;
  EXPECT_NE(all.find("team.yaml: document 2: spec.actions[0].params.percent: 900 is above the maximum 300"),
            std::string::npos) << all;
  EXPECT_NE(all.find("team.yaml: document 2: spec.actions[1].type: unknown action Teleport"),
            std::string::npos) << all;
}

// The operator is parsed by the one comparison (kubemend/common/compare.h);
// a bad one is still refused with the file, document and field.
TEST(PolicyParseTest, BadComparisonOperatorNamesFileAndField) {
  auto r = ParsePolicies(R"(apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: m}
spec:
  triggers: [{metric: {name: latency, operator: "=>", threshold: 2}}]
  actions: [{type: RestartPod}]
)", "ops.yaml", Defaults());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(),
            "ops.yaml: document 0: spec.triggers[0].metric.operator: must be one of > >= < <= == !=, got \"=>\"");
  r = ParsePolicies(R"(apiVersion: kubemend.io/v1alpha1
kind: AnomalyAction
metadata: {name: a}
spec:
  metric: m
  threshold: "=< 1Gi"
  remediation: {type: alert}
)", "seed.yaml", Defaults());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].ToString().find("seed.yaml: document 0: spec.threshold: \"=< 1Gi\" is not a condition"),
            std::string::npos)
      << r.errors[0].ToString();
  // Every operator parses into the same enum the matcher compares with.
  r = ParsePolicies(R"(apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: m}
spec:
  triggers: [{metric: {name: latency, operator: "!=", threshold: 2}}]
  actions: [{type: RestartPod}]
)", "ops.yaml", Defaults());
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  EXPECT_EQ(r.policies[0].triggers[0].op, CompareOp::kNotEqual);
}

TEST(PolicyParseTest, RejectsMalformedYamlAndUnknownKinds) {
  auto r = ParsePolicies("a: [1, 2", "x.yaml", Defaults());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("not valid YAML"), std::string::npos);
  r = ParsePolicies("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nspec: {}\n", "x.yaml", Defaults());
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].path, "kind");
  r = ParsePolicies(R"(
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: a}
spec:
  triggers: [{alert: {name: "/([/"}}]
  actions: [{type: RestartPod}]
)", "x.yaml", Defaults());
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].path, "spec.triggers[0].alert.name");
}

TEST(PolicyParseTest, DefaultPolicyFileLoads) {
  std::ifstream in(std::string(KUBEMEND_SOURCE_DIR) + "/policies/default.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = ParsePolicies(ss.str(), "default.yaml", Defaults());
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  EXPECT_EQ(r.policies.size(), 4u);
}

class MatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = ParsePolicies(kTwoPolicies, "p.yaml", Defaults());
    ASSERT_TRUE(r.errors.empty());
    policies_ = r.policies;
  }
  v1::Event Web(const std::string& alert, const std::string& ns = "shop") {
    v1::Event e = PodSignal(clock_, alert, "api-1", "api", ns);
    (*e.mutable_target()->mutable_labels())["tier"] = "web";
    return e;
  }
  int64_t now() const { return ToUnixMillis(clock_.Now()); }
  FakeClock clock_;
  std::vector<Policy> policies_;
};

TEST_F(MatchTest, GlobAlertNameAndSelector) {
  EXPECT_TRUE(MatchPolicy(policies_[0], Web("KubePodCrashLooping"), now()).matched);
  EXPECT_TRUE(MatchPolicy(policies_[0], Web("KubePodCrashLooping", "team-a"), now()).matched);
  auto r = MatchPolicy(policies_[0], Web("KubePodCrashLooping", "other"), now());
  EXPECT_FALSE(r.matched);
  EXPECT_NE(r.reason.find("namespace other not selected"), std::string::npos);
  EXPECT_FALSE(MatchPolicy(policies_[0], Web("NodeDown"), now()).matched);
  v1::Event no_label = PodSignal(clock_, "KubePodCrashLooping", "api-1");
  r = MatchPolicy(policies_[0], no_label, now());
  EXPECT_FALSE(r.matched);
  EXPECT_NE(r.reason.find("label tier=web"), std::string::npos);
  v1::Event dev = Web("KubePodCrashLooping");
  (*dev.mutable_signal()->mutable_labels())["env"] = "dev";
  EXPECT_FALSE(MatchPolicy(policies_[0], dev, now()).matched);
}

TEST_F(MatchTest, MetricConditionNeedsValueThresholdAndDuration) {
  v1::Event e = PodSignal(clock_, "container_memory_ratio", "api-1");
  e.mutable_signal()->set_source(v1::SIGNAL_SOURCE_PROMETHEUS);
  EXPECT_FALSE(MatchPolicy(policies_[1], e, now()).matched);  // no value
  e.mutable_signal()->set_has_value(true);
  e.mutable_signal()->set_value(0.95);
  auto r = MatchPolicy(policies_[1], e, now());
  EXPECT_FALSE(r.matched);  // held 0s of 5m
  EXPECT_NE(r.reason.find("needs 300s"), std::string::npos) << r.reason;
  EXPECT_TRUE(MatchPolicy(policies_[1], e, now() + 300000).matched);
  e.mutable_signal()->set_value(0.5);
  EXPECT_FALSE(MatchPolicy(policies_[1], e, now() + 300000).matched);
}

TEST_F(MatchTest, EventReasonRegex) {
  v1::Event e = PodSignal(clock_, "PodEvent", "api-1");
  e.mutable_signal()->set_source(v1::SIGNAL_SOURCE_KUBERNETES);
  e.mutable_signal()->set_reason("OOMKilling");
  EXPECT_TRUE(MatchPolicy(policies_[1], e, now()).matched);
  e.mutable_signal()->set_reason("OOMKilledAgain");
  EXPECT_FALSE(MatchPolicy(policies_[1], e, now()).matched);
}

TEST(PolicyStoreTest, ReportsChangesAndKeepsTheLastGoodSetOnRejection) {
  PolicyStore store{PolicyDefaults()};
  auto c = store.Apply({{"a.yaml", kTwoPolicies}});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].change, "added");
  EXPECT_EQ(store.size(), 2u);
  // Unchanged text: nothing to report.
  EXPECT_TRUE(store.Apply({{"a.yaml", kTwoPolicies}}).empty());
  // A broken edit is rejected whole; the previous two stay.
  c = store.Apply({{"a.yaml", std::string(kTwoPolicies) + "\n---\nkind: Nope\n"}});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].change, "rejected");
  EXPECT_NE(c[0].detail.find("keeping the last good version"), std::string::npos);
  EXPECT_EQ(store.size(), 2u);
  // An edit of one policy: updated; the other untouched.
  std::string edited = kTwoPolicies;
  edited.replace(edited.find("priority: 5"), 11, "priority: 7");
  c = store.Apply({{"a.yaml", edited}});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].change, "updated");
  EXPECT_EQ(store.Current()->policies[0].priority, 7);
  // A second file redefining a name is rejected.
  c = store.Apply({{"a.yaml", edited}, {"b.yaml", edited}});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].change, "rejected");
  EXPECT_NE(c[0].detail.find("already defined in a.yaml"), std::string::npos);
  // The file disappears: removed.
  c = store.Apply({});
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].change, "removed");
  EXPECT_EQ(store.size(), 0u);
}

TEST(PolicyStoreTest, OrdersByPriorityThenName) {
  PolicyStore store{PolicyDefaults()};
  store.Apply({{"a.yaml", kTwoPolicies}});
  const auto& ps = store.Current()->policies;
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[0].ref.name(), "crashloop");  // priority 5 before 0
}

}  // namespace
}  // namespace kubemend::analyzer
