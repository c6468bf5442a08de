// Each seed shape is translated into the HealingPolicy model; these tests pin
// the mapping documented in docs/policies.md.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "policy.h"
#include "test_util.h"

namespace kubemend::analyzer {
namespace {

Policy One(const std::string& yaml) {
  auto r = ParsePolicies(yaml, "seed.yaml", PolicyDefaults());
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].ToString());
  EXPECT_EQ(r.policies.size(), 1u);
  return r.policies.empty() ? Policy() : r.policies[0];
}

std::string FirstError(const std::string& yaml) {
  auto r = ParsePolicies(yaml, "seed.yaml", PolicyDefaults());
  return r.errors.empty() ? "" : r.errors[0].ToString();
}

TEST(SeedShapesTest, AnomalyAction) {
  Policy p = One(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: AnomalyAction
metadata: {name: backend-memory-anomaly, namespace: default}
spec:
  source: prometheus
  metric: container_memory_working_set_bytes
  threshold: "> 1Gi"
  remediation: {type: restart, podSelector: {app: backend}, requireApproval: true, cooldownSeconds: 300}
  target: {namespace: default, labels: {app: backend}, resourceType: Pod}
  k8sgpt: {enabled: true, endpoint: http://k8sgpt:8080}
)");
  EXPECT_EQ(p.shape, "AnomalyAction");
  ASSERT_EQ(p.triggers.size(), 1u);
  EXPECT_EQ(p.triggers[0].type, Trigger::Type::kMetric);
  EXPECT_EQ(p.triggers[0].op, CompareOp::kGreater);
  EXPECT_DOUBLE_EQ(p.triggers[0].threshold, 1024.0 * 1024 * 1024);
  EXPECT_EQ(p.triggers[0].source, v1::SIGNAL_SOURCE_PROMETHEUS);
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].action.type(), v1::ACTION_TYPE_RESTART_POD);
  EXPECT_EQ(p.mode, v1::MODE_MANUAL);
  EXPECT_TRUE(p.require_approval);
  EXPECT_EQ(p.cooldown, Millis(300000));
  EXPECT_TRUE(p.advice);
  EXPECT_EQ(p.selector.match_labels.at("app"), "backend");
  // Matching: a 2Gi working set on a backend pod in default.
  FakeClock clock;
  v1::Event e = testing::PodSignal(clock, "container_memory_working_set_bytes", "backend-1", "backend", "default");
  e.mutable_signal()->set_source(v1::SIGNAL_SOURCE_PROMETHEUS);
  e.mutable_signal()->set_has_value(true);
  e.mutable_signal()->set_value(2.0 * 1024 * 1024 * 1024);
  (*e.mutable_target()->mutable_labels())["app"] = "backend";
  EXPECT_TRUE(MatchPolicy(p, e, ToUnixMillis(clock.Now())).matched);
}

TEST(SeedShapesTest, AnomalyActionRefusesWebhookUrls) {
  EXPECT_NE(FirstError(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: AnomalyAction
metadata: {name: a}
spec:
  metric: m
  threshold: "> 1"
  remediation: {type: alert}
  webhookUrl: https://hooks.example/secret
)").find("spec.webhookUrl: URLs are not accepted"), std::string::npos);
}

TEST(SeedShapesTest, HealthCheck) {
  Policy p = One(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: HealthCheck
metadata: {name: api-health, namespace: shop}
spec:
  targetRef: {kind: Deployment, name: api}
  probe: {type: http}
  failureThreshold: 4
  remediation: {action: restart}
)");
  ASSERT_EQ(p.triggers.size(), 1u);
  EXPECT_EQ(p.triggers[0].type, Trigger::Type::kHealthCheck);
  EXPECT_EQ(p.triggers[0].failure_threshold, 4u);
  EXPECT_TRUE(p.triggers[0].match.Matches("api-health"));
  ASSERT_TRUE(p.fixed_target);
  EXPECT_EQ(p.fixed_target->kind(), "Deployment");
  EXPECT_EQ(p.fixed_target->namespace_(), "shop");
  EXPECT_EQ(p.actions[0].action.type(), v1::ACTION_TYPE_ROLLOUT_RESTART);
  // The collector's signal, as health_check.cc emits it: named HealthCheckFailed,
  // the check in label health_check, the consecutive failures as the value.
  FakeClock clock;
  v1::Event sig = testing::PodSignal(clock, "HealthCheckFailed", "api-7d9f-abcde", "api", "shop");
  sig.mutable_signal()->set_source(v1::SIGNAL_SOURCE_HEALTH_CHECK);
  (*sig.mutable_signal()->mutable_labels())["health_check"] = "api-health";
  sig.mutable_signal()->set_has_value(true);
  sig.mutable_signal()->set_value(4);
  EXPECT_TRUE(MatchPolicy(p, sig, ToUnixMillis(clock.Now())).matched)
      << MatchPolicy(p, sig, ToUnixMillis(clock.Now())).reason;
  sig.mutable_signal()->set_value(3);
  EXPECT_FALSE(MatchPolicy(p, sig, ToUnixMillis(clock.Now())).matched) << "below failureThreshold";
  sig.mutable_signal()->set_value(4);
  (*sig.mutable_signal()->mutable_labels())["health_check"] = "other-check";
  EXPECT_FALSE(MatchPolicy(p, sig, ToUnixMillis(clock.Now())).matched) << "another check's failures";
  EXPECT_NE(FirstError(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: HealthCheck
metadata: {name: api-health}
spec:
  targetRef: {kind: Deployment, name: api}
  remediation: {action: trigger-recovery-plan, recoveryPlanRef: plan}
)").find("trigger-recovery-plan is not supported"), std::string::npos);
}

TEST(SeedShapesTest, SloViolationAndSloEnforcer) {
  for (const char* kind : {"SLOViolation", "SLOEnforcer"}) {
    Policy p = One(std::string(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: )") + kind + R"(
metadata: {name: backend-availability-slo, namespace: default}
spec:
  sloName: backend-availability
  sloTarget: "99.9%"
  errorBudgetThreshold: 0.1
  errorRatioQuery: sum(rate(errors[5m])) / sum(rate(requests[5m]))
  actions: [{type: scale, value: increase}, {type: alert}]
  hpaRef: {name: backend-hpa, namespace: default}
  enableChaos: false
)");
    ASSERT_EQ(p.triggers.size(), 1u);
    EXPECT_EQ(p.triggers[0].type, Trigger::Type::kSlo);
    EXPECT_NEAR(p.triggers[0].slo.target, 0.999, 1e-12);
    EXPECT_DOUBLE_EQ(p.triggers[0].slo.budget_threshold, 0.1);
    ASSERT_EQ(p.actions.size(), 2u);
    EXPECT_EQ(p.actions[0].action.type(), v1::ACTION_TYPE_ADJUST_HPA);
    EXPECT_EQ(p.actions[1].action.type(), v1::ACTION_TYPE_NOTIFY);
    ASSERT_TRUE(p.fixed_target);
    EXPECT_EQ(p.fixed_target->kind(), "HorizontalPodAutoscaler");
    EXPECT_EQ(p.fixed_target->name(), "backend-hpa");
  }
  EXPECT_NE(FirstError(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: SLOViolation
metadata: {name: s}
spec:
  sloTarget: "99.9%"
  errorRatioQuery: errors_ratio
  actions: [{type: alert}]
  enableChaos: true
)").find("spec.enableChaos"), std::string::npos);
}

TEST(SeedShapesTest, BudgetGuard) {
  Policy p = One(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: BudgetGuard
metadata: {name: team-a-budget}
spec:
  budget: {limit: 1000, currency: USD}
  scope: {namespace: team-a}
  actions: [notify, throttle-scaling, evict-low-priority]
)");
  EXPECT_EQ(p.triggers[0].source, v1::SIGNAL_SOURCE_COST);
  EXPECT_DOUBLE_EQ(p.triggers[0].threshold, 1000);
  ASSERT_EQ(p.actions.size(), 3u);
  EXPECT_EQ(p.actions[0].action.type(), v1::ACTION_TYPE_NOTIFY);
  EXPECT_EQ(p.actions[1].action.type(), v1::ACTION_TYPE_THROTTLE_SCALING);
  EXPECT_EQ(p.actions[2].action.type(), v1::ACTION_TYPE_EVICT_LOW_PRIORITY_PODS);
  EXPECT_EQ(p.mode, v1::MODE_MANUAL);
  ASSERT_TRUE(p.fixed_target);
  EXPECT_EQ(p.fixed_target->kind(), "Namespace");
}

// A BudgetGuard limit is compared only with cost signals of its own period
// and currency: a monthly 1000 USD limit never fires on an hourly run-rate of
// 1500 or on 1500 EUR month-to-date; an unknown period is refused at load.
TEST(SeedShapesTest, BudgetGuardMatchesOnlyItsPeriodAndCurrency) {
  Policy p = One(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: BudgetGuard
metadata: {name: team-a-budget}
spec:
  budget: {limit: 1000, currency: USD, period: monthly}
  scope: {namespace: team-a}
)");
  auto cost = [](const std::string& period, const std::string& currency, double value) {
    v1::Event e;
    e.mutable_target()->set_namespace_("team-a");
    e.mutable_target()->set_kind("Namespace");
    e.mutable_target()->set_name("team-a");
    e.mutable_signal()->set_source(v1::SIGNAL_SOURCE_COST);
    e.mutable_signal()->set_name("BudgetExceeded");
    e.mutable_signal()->set_status(v1::SIGNAL_STATUS_FIRING);
    e.mutable_signal()->set_has_value(true);
    e.mutable_signal()->set_value(value);
    (*e.mutable_signal()->mutable_labels())["period"] = period;
    (*e.mutable_signal()->mutable_labels())["currency"] = currency;
    return e;
  };
  EXPECT_TRUE(MatchPolicy(p, cost("monthly", "USD", 1500), 0).matched);
  EXPECT_FALSE(MatchPolicy(p, cost("monthly", "USD", 900), 0).matched);
  EXPECT_FALSE(MatchPolicy(p, cost("hourly", "USD", 1500), 0).matched);
  EXPECT_FALSE(MatchPolicy(p, cost("monthly", "EUR", 1500), 0).matched);
  Policy daily = One(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: BudgetGuard
metadata: {name: daily}
spec:
  budget: {limit: 40, currency: EUR, period: daily}
)");
  EXPECT_TRUE(MatchPolicy(daily, cost("daily", "EUR", 41), 0).matched);
  auto bad = ParsePolicies(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: BudgetGuard
metadata: {name: weekly}
spec:
  budget: {limit: 40, period: weekly}
)", "b.yaml", PolicyDefaults());
  ASSERT_FALSE(bad.errors.empty());
  EXPECT_NE(bad.errors[0].ToString().find("spec.budget.period"), std::string::npos) << bad.errors[0].ToString();
}

TEST(SeedShapesTest, CostAlert) {
  Policy p = One(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: CostAlert
metadata: {name: spike}
spec:
  threshold: {absolute: 500}
  scope: {kind: namespace, namespace: team-a}
  channel: finops
)");
  EXPECT_EQ(p.triggers[0].source, v1::SIGNAL_SOURCE_COST);
  EXPECT_DOUBLE_EQ(p.triggers[0].threshold, 500);
  EXPECT_TRUE(p.triggers[0].match.Matches("BudgetExceeded"));
  // percentIncrease could never fire (nothing measures an increase): refused.
  EXPECT_NE(FirstError(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: CostAlert
metadata: {name: spike}
spec:
  threshold: {percentIncrease: 20}
)").find("spec.threshold.percentIncrease: not supported"), std::string::npos);
  EXPECT_EQ(p.actions[0].action.notify().channel(), "finops");
  EXPECT_NE(FirstError(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: CostAlert
metadata: {name: spike}
spec:
  threshold: {percentIncrease: 20, absolute: 5}
)").find("not both"), std::string::npos);
}

TEST(SeedShapesTest, PredictiveScale) {
  Policy p = One(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: PredictiveScale
metadata: {name: cpu-forecast-scaling}
spec:
  forecastQuery: ml_forecast(sum(rate(container_cpu_usage_seconds_total[5m])), 1h)
  nodePoolRef: {name: default}
  horizon: 1h
  thresholdPercent: 20.0
  action: provision
)");
  ASSERT_EQ(p.triggers[0].type, Trigger::Type::kForecast);
  EXPECT_EQ(p.triggers[0].forecast.query, "sum(rate(container_cpu_usage_seconds_total[5m]))");
  EXPECT_EQ(p.triggers[0].forecast.horizon, Millis(3600000));
  EXPECT_DOUBLE_EQ(p.triggers[0].forecast.threshold_percent, 20);
  EXPECT_EQ(p.actions[0].action.type(), v1::ACTION_TYPE_NOTIFY);
  EXPECT_NE(p.actions[0].action.notify().message().find("node pool default"), std::string::npos);
  Policy w = One(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: PredictiveScale
metadata: {name: api-ahead, namespace: shop}
spec:
  forecastQuery: sum(rate(http_requests_total{deployment="api"}[5m]))
  targetRef: {kind: Deployment, name: api}
  thresholdPercent: 30
)");
  EXPECT_EQ(w.actions[0].action.type(), v1::ACTION_TYPE_SCALE_WORKLOAD);
  EXPECT_EQ(w.actions[0].action.scale_workload().percent(), 30u);
  EXPECT_EQ(w.fixed_target->name(), "api");
}

TEST(SeedShapesTest, KubeSkippyHealingPolicy) {
  Policy p = One(R"(
apiVersion: kubeskippy.io/v1alpha1
kind: HealingPolicy
metadata: {name: pod-restart-policy, namespace: default}
spec:
  mode: automatic
  selector:
    namespaces: ["default"]
    resources: [{apiVersion: v1, kind: Pod}]
    labelSelector: {matchLabels: {app: myapp}}
  triggers:
  - name: high-restarts
    type: metric
    metricTrigger:
      query: 'rate(kube_pod_container_status_restarts_total[5m]) > 0.1'
      threshold: 0.1
      operator: ">"
  actions:
  - name: restart-pod
    type: restart
    restartAction: {strategy: rolling, maxConcurrent: 1}
)");
  EXPECT_EQ(p.triggers[0].query, "rate(kube_pod_container_status_restarts_total[5m]) > 0.1");
  EXPECT_EQ(p.actions[0].action.type(), v1::ACTION_TYPE_ROLLOUT_RESTART);
  EXPECT_EQ(p.selector.kinds, std::vector<std::string>{"Pod"});
}

TEST(SeedShapesTest, ExamplesFileParses) {
  std::ifstream in(std::string(KUBEMEND_SOURCE_DIR) + "/policies/examples/seed-shapes.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = ParsePolicies(ss.str(), "seed-shapes.yaml", PolicyDefaults());
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  EXPECT_EQ(r.policies.size(), 6u);
}

}  // namespace
}  // namespace kubemend::analyzer
