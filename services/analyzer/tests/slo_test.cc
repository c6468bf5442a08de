#include "slo.h"

#include <gtest/gtest.h>

#include <httplib.h>

#include <thread>

#include "engine.h"
#include "evaluator.h"
#include "test_util.h"

namespace kubemend::analyzer {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;

constexpr int64_t kNow = 1767225600000;  // 2026-01-01
constexpr int64_t kMin = 60000;

// `minutes_back` samples one minute apart ending at kNow, value f(age in minutes).
template <typename F>
std::vector<Sample> MakeSeries(int64_t minutes_back, F f) {
  std::vector<Sample> s;
  for (int64_t m = minutes_back - 1; m >= 0; --m) {
    s.push_back({kNow - m * kMin, f(m)});
  }
  return s;
}

TEST(SloTest, BudgetRemainingAndBurnRate) {
  // 99.9% target, budget 0.001. A steady 0.0005 error ratio over the whole
  // 30-day period spends half the budget at burn rate 0.5.
  auto s = MakeSeries(30 * 24 * 60, [](int64_t) { return 0.0005; });
  BudgetStatus b = ComputeBudget(s, 0.999, hours(24 * 30), kNow);
  EXPECT_NEAR(b.budget, 0.001, 1e-12);
  EXPECT_NEAR(b.consumed, 0.5, 1e-3);
  EXPECT_NEAR(b.remaining, 0.5, 1e-3);
  EXPECT_NEAR(b.burn_long, 0.5, 1e-9);
  EXPECT_EQ(b.alert, "");
  // Half the budget left at 0.5x lasts a whole period again: 30 days.
  ASSERT_TRUE(b.time_to_exhaustion);
  EXPECT_NEAR(static_cast<double>(b.time_to_exhaustion->count()), 30.0 * 24 * 3600 * 1000, 3.0 * 3600 * 1000);
}

TEST(SloTest, FastBurnPagesOnlyWhenBothWindowsBurn) {
  // Quiet month, then the last hour at 2% errors: 20x burn over 1h and 5m.
  auto s = MakeSeries(30 * 24 * 60, [](int64_t age) { return age < 60 ? 0.02 : 0.0; });
  BudgetStatus b = ComputeBudget(s, 0.999, hours(24 * 30), kNow);
  EXPECT_EQ(b.alert, "page");
  EXPECT_EQ(b.rule, "14.4x over 1h and 5m");
  EXPECT_NEAR(b.burn_long, 20.0, 0.5);
  EXPECT_NEAR(b.burn_short, 20.0, 1e-9);
  // One hour at 2% spent 0.02*60/43200/0.001 = 2.8% of the budget.
  EXPECT_NEAR(b.consumed, 0.02 * 60 / 43200 / 0.001, 1e-3);
  // Remaining 97.2% at 20x: 0.972 * 30d / 20 = ~1.46 days.
  ASSERT_TRUE(b.time_to_exhaustion);
  EXPECT_NEAR(b.time_to_exhaustion->count() / 3600000.0, 0.972 * 720 / 20, 0.5);
  // The burst is over (last 5 minutes clean): the short window vetoes the page.
  auto over = MakeSeries(30 * 24 * 60, [](int64_t age) { return age >= 5 && age < 60 ? 0.02 : 0.0; });
  BudgetStatus b2 = ComputeBudget(over, 0.999, hours(24 * 30), kNow);
  EXPECT_NE(b2.alert, "page");
}

TEST(SloTest, SlowBurnTickets) {
  // 0.4% errors for the last day: 4x over 1d and 2h, below the 6x page.
  auto s = MakeSeries(30 * 24 * 60, [](int64_t age) { return age < 24 * 60 ? 0.004 : 0.0; });
  BudgetStatus b = ComputeBudget(s, 0.999, hours(24 * 30), kNow);
  EXPECT_EQ(b.alert, "ticket");
  EXPECT_EQ(b.rule, "3x over 24h and 2h");
}

TEST(SloTest, PartialHistoryDoesNotCountAsClean) {
  // Only one day observed at 0.001 = burn 1: consumed 1/30 of the budget.
  auto s = MakeSeries(24 * 60, [](int64_t) { return 0.001; });
  BudgetStatus b = ComputeBudget(s, 0.999, hours(24 * 30), kNow);
  EXPECT_NEAR(b.consumed, 1.0 / 30, 1e-3);
}

TEST(ForecastTest, HoltFollowsALinearTrend) {
  // 100 + 2/step: level ~ last value, trend ~ 2; 30 steps ahead ~ +60.
  auto s = MakeSeries(60, [](int64_t age) { return 100.0 + 2.0 * static_cast<double>(59 - age); });
  auto f = HoltForecast(s, 0.5, 0.3, minutes(1), minutes(30), 200.0);
  ASSERT_TRUE(f);
  EXPECT_NEAR(f->trend, 2.0, 1e-6);
  EXPECT_NEAR(f->level, 218.0, 1e-6);
  EXPECT_NEAR(f->peak, 218.0 + 60.0, 1e-6);
  ASSERT_TRUE(f->crosses_in);
  EXPECT_EQ(f->crosses_in->count(), kMin);  // already above 200 at the next step
  auto g = HoltForecast(s, 0.5, 0.3, minutes(1), minutes(30), 250.0);
  ASSERT_TRUE(g && g->crosses_in);
  EXPECT_EQ(g->crosses_in->count(), 17 * kMin);  // 218 + 2*17 = 252 > 250
  auto h = HoltForecast(s, 0.5, 0.3, minutes(1), minutes(30), 300.0);
  EXPECT_FALSE(h->exceeds);
}

TEST(ForecastTest, FlatSeriesDoesNotExceedAndShortSeriesIsRefused) {
  auto s = MakeSeries(60, [](int64_t) { return 50.0; });
  auto f = HoltForecast(s, 0.5, 0.3, minutes(1), hours(1), 60.0);
  ASSERT_TRUE(f);
  EXPECT_NEAR(f->trend, 0, 1e-9);
  EXPECT_FALSE(f->exceeds);
  EXPECT_FALSE(HoltForecast(MakeSeries(3, [](int64_t) { return 1.0; }), 0.5, 0.3, minutes(1), hours(1), 0));
}

// The evaluator's source is the common client (tested in services/common);
// this checks the adapter's conversion and that errors pass through.
TEST(PrometheusTest, MetricSourceAsksQueryRangeOverHttp) {
  httplib::Server srv;
  std::string got_query, got_step;
  srv.Post("/api/v1/query_range", [&](const httplib::Request& req, httplib::Response& res) {
    got_query = req.get_param_value("query");
    got_step = req.get_param_value("step");
    res.set_content(R"({"status":"success","data":{"resultType":"matrix","result":[
      {"metric":{"pod":"api-1"},"values":[[1767225600,"1"],[1767225660.5,"NaN"]]}]}})", "application/json");
  });
  int port = srv.bind_to_any_port("127.0.0.1");
  std::thread t([&] { srv.listen_after_bind(); });
  PrometheusClient client("http://127.0.0.1:" + std::to_string(port), Millis(5000));
  PrometheusMetricSource c(&client);
  auto r = c.QueryRange("up{job=\"x\"}", kNow - 60000, kNow, Millis(60000));
  srv.stop();
  t.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(got_query, "up{job=\"x\"}");
  EXPECT_EQ(got_step, "60.000");
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].labels.at("pod"), "api-1");
  ASSERT_EQ((*r)[0].samples.size(), 2u);
  EXPECT_EQ((*r)[0].samples[0].v, 1.0);
  EXPECT_EQ((*r)[0].samples[1].t_ms, 1767225660500);
  EXPECT_TRUE(std::isnan((*r)[0].samples[1].v));
  PrometheusClient down_client("http://127.0.0.1:1", Millis(1000));
  PrometheusMetricSource down(&down_client);
  EXPECT_EQ(down.QueryRange("up", 0, 1000, Millis(1000)).status().code(), absl::StatusCode::kUnavailable);
}

class FakeMetrics : public MetricSource {
 public:
  absl::StatusOr<std::vector<Series>> QueryRange(const std::string& q, int64_t, int64_t,
                                                 Millis) override {
    queries.push_back(q);
    if (q.rfind("max(kube_", 0) == 0) {  // the workload's replicas (Evaluator::AddReplicaFacts)
      return replicas;
    }
    return data;
  }
  std::vector<Series> data;
  std::vector<Series> replicas;  // none: the count is unknown
  std::vector<std::string> queries;
};

TEST(EvaluatorTest, SloPolicyEmitsFiringThenResolvedSignals) {
  auto r = ParsePolicies(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: SLOViolation
metadata: {name: backend-slo, namespace: default}
spec:
  sloName: backend-availability
  sloTarget: "99.9%"
  errorBudgetThreshold: 0.5
  errorRatioQuery: errors_ratio
  period: 1d
  actions: [{type: scale}]
  hpaRef: {name: backend-hpa}
)", "s.yaml", PolicyDefaults());
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  PolicySet set;
  set.policies = r.policies;
  FakeClock clock{TimePoint(Millis(kNow))};
  FakeMetrics m;
  Series s;
  s.samples = [] {
    std::vector<Sample> v;
    for (int64_t i = 0; i < 24 * 60; ++i) {
      v.push_back({kNow - i * kMin, 0.0008});  // 80% of the budget spent
    }
    return v;
  }();
  m.data = {s};
  Evaluator ev(&m, testing::kAnalyzer, clock, Millis(300000));
  std::vector<std::string> errors;
  auto out = ev.Evaluate(set, &errors);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(m.queries[0], "errors_ratio");
  const auto& sig = out[0].signal();
  EXPECT_EQ(sig.source(), v1::SIGNAL_SOURCE_SLO);
  EXPECT_EQ(sig.name(), "backend-availability");
  EXPECT_EQ(sig.status(), v1::SIGNAL_STATUS_FIRING);
  EXPECT_NEAR(sig.value(), 0.2, 0.01);
  EXPECT_EQ(out[0].target().kind(), "HorizontalPodAutoscaler");
  EXPECT_TRUE(MatchPolicy(set.policies[0], out[0], kNow).matched);
  // The engine turns the crossing into a scale proposal on the HPA.
  Engine engine(EngineConfig(), testing::kAnalyzer, clock);
  engine.SetPolicies(std::make_shared<PolicySet>(set));
  auto d = engine.OnSignal(out[0]);
  ASSERT_EQ(d.out.size(), 1u) << d.reason;
  EXPECT_EQ(d.out[0].proposal().action().type(), v1::ACTION_TYPE_ADJUST_HPA);
  EXPECT_EQ(d.out[0].target().name(), "backend-hpa");
  EXPECT_EQ(d.out[0].proposal().policy().name(), "default/backend-slo");
  // Same state within the repeat interval: nothing new.
  EXPECT_TRUE(ev.Evaluate(set, &errors).empty());
  // Errors stop and the budget recovers above the threshold: resolved.
  for (auto& x : m.data[0].samples) {
    x.v = 0.0001;
  }
  auto res = ev.Evaluate(set, &errors);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
  EXPECT_EQ(res[0].signal().fingerprint(), sig.fingerprint());
}

TEST(EvaluatorTest, ForecastPolicyEmitsScaleAheadSignal) {
  auto r = ParsePolicies(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: PredictiveScale
metadata: {name: api-ahead, namespace: shop}
spec:
  forecastQuery: rps
  targetRef: {kind: Deployment, name: api}
  horizon: 30m
  lookback: 1h
  step: 1m
  thresholdPercent: 20
)", "f.yaml", PolicyDefaults());
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  PolicySet set;
  set.policies = r.policies;
  FakeClock clock{TimePoint(Millis(kNow))};
  FakeMetrics m;
  Series s;
  s.samples = MakeSeries(60, [](int64_t age) { return 100.0 + 2.0 * static_cast<double>(59 - age); });
  m.data = {s};
  Evaluator ev(&m, testing::kAnalyzer, clock, Millis(300000));
  std::vector<std::string> errors;
  auto out = ev.Evaluate(set, &errors);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].signal().source(), v1::SIGNAL_SOURCE_FORECAST);
  EXPECT_EQ(out[0].signal().status(), v1::SIGNAL_STATUS_FIRING);
  EXPECT_NEAR(out[0].signal().threshold(), 218 * 1.2, 1e-6);
  EXPECT_EQ(out[0].signal().annotations().at("crosses_in_seconds"), "1320");  // 218 + 2*22 > 261.6
  EXPECT_EQ(out[0].target().name(), "api");
  EXPECT_TRUE(MatchPolicy(set.policies[0], out[0], kNow).matched);
}

// PredictiveScale sizes its step from the forecast: replicas for the forecast
// peak at today's load per replica (replicas × peak / now), not the fixed
// thresholdPercent; within maxReplicas.
TEST(EvaluatorTest, PredictiveScaleStepIsSizedFromTheForecastPeak) {
  auto r = ParsePolicies(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: PredictiveScale
metadata: {name: api-ahead, namespace: shop}
spec:
  forecastQuery: rps
  targetRef: {kind: Deployment, name: api}
  horizon: 30m
  lookback: 1h
  step: 1m
  thresholdPercent: 20
  maxReplicas: 12
)", "f.yaml", PolicyDefaults());
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  auto set = std::make_shared<PolicySet>();
  set->policies = r.policies;
  FakeClock clock{TimePoint(Millis(kNow))};
  FakeMetrics m;
  Series s;
  s.samples = MakeSeries(60, [](int64_t age) { return 100.0 + 2.0 * static_cast<double>(59 - age); });
  m.data = {s};
  Evaluator ev(&m, testing::kAnalyzer, clock, Millis(300000));
  std::vector<std::string> errors;
  auto out = ev.Evaluate(*set, &errors);
  ASSERT_EQ(out.size(), 1u);
  double peak = std::stod(out[0].signal().annotations().at("forecast_peak"));
  double now = std::stod(out[0].signal().annotations().at("current"));
  EXPECT_NEAR(now, 218, 1e-9);
  EXPECT_GT(peak, 260);
  Engine engine(EngineConfig(), testing::kAnalyzer, clock, nullptr);
  engine.SetPolicies(set);
  auto d = engine.OnSignal(out[0]);
  ASSERT_EQ(d.out.size(), 1u) << d.reason;
  ASSERT_TRUE(d.out[0].has_proposal()) << d.reason;
  const auto& sw = d.out[0].proposal().action().scale_workload();
  EXPECT_EQ(sw.percent(), static_cast<uint32_t>(std::ceil((peak / now - 1) * 100)));
  EXPECT_NE(sw.percent(), 20u);
  EXPECT_EQ(sw.max_replicas(), 12u);
  EXPECT_NE(d.out[0].proposal().reason().find("sized from the forecast"), std::string::npos)
      << d.out[0].proposal().reason();
  // 10 replicas at 218 serve 21.8 each; the peak needs ceil(10 × peak / 218).
  int64_t needed = static_cast<int64_t>(std::ceil(10 * peak / now));
  int64_t planned = 10 + (10 * static_cast<int64_t>(sw.percent()) + 99) / 100;
  EXPECT_GE(planned, needed);
  EXPECT_LE(planned, needed + 1);
}

// With the workload's replica count (kube-state-metrics' spec count, carried
// as the signal's fact `replicas`), the proposal is counted in replicas: the
// peak's need, at least current+1, at most maxReplicas, the numbers in the
// reason; at maxReplicas already nothing is proposed (at_limit).
TEST(EvaluatorTest, PredictiveScaleCountsReplicasFromTheWorkloadsCurrentCount) {
  auto r = ParsePolicies(R"(
apiVersion: aiops.prophet.io/v1alpha1
kind: PredictiveScale
metadata: {name: api-ahead, namespace: shop}
spec:
  forecastQuery: rps
  targetRef: {kind: Deployment, name: api}
  horizon: 30m
  lookback: 1h
  step: 1m
  thresholdPercent: 20
  maxReplicas: 12
)", "f.yaml", PolicyDefaults());
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  auto set = std::make_shared<PolicySet>();
  set->policies = r.policies;
  struct Case {
    double replicas;
    std::string want;  // "" : at_limit, no proposal
    int32_t delta;
  };
  // 218 now, peak ~262: 1.2x. 10 -> 12.02 -> 13, capped at 12. 2 -> 2.4 -> 3.
  // 1 -> 1.2 -> 2. 12: at the cap already.
  for (const Case& c : {Case{10, "10 -> 12 replicas (+2, capped at maxReplicas 12)", 2},
                        Case{2, "2 -> 3 replicas (+1)", 1}, Case{1, "1 -> 2 replicas (+1", 1},
                        Case{12, "", 0}}) {
    FakeClock clock{TimePoint(Millis(kNow))};
    FakeMetrics m;
    Series s;
    s.samples = MakeSeries(60, [](int64_t age) { return 100.0 + 2.0 * static_cast<double>(59 - age); });
    m.data = {s};
    Series reps;
    reps.samples = MakeSeries(5, [&](int64_t) { return c.replicas; });
    m.replicas = {reps};
    Evaluator ev(&m, testing::kAnalyzer, clock, Millis(300000));
    std::vector<std::string> errors;
    auto out = ev.Evaluate(*set, &errors);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(m.queries.size(), 2u);
    EXPECT_EQ(m.queries[1], "max(kube_deployment_spec_replicas{namespace=\"shop\",deployment=\"api\"})");
    EXPECT_EQ(out[0].signal().facts().at("replicas"), std::to_string(static_cast<int>(c.replicas)));
    Engine engine(EngineConfig(), testing::kAnalyzer, clock, nullptr);
    engine.SetPolicies(set);
    auto d = engine.OnSignal(out[0]);
    ASSERT_EQ(d.out.size(), 1u) << d.reason;
    if (c.want.empty()) {
      EXPECT_EQ(d.category, "at_limit");
      EXPECT_NE(d.reason.find("already runs 12 of its maxReplicas 12"), std::string::npos) << d.reason;
      EXPECT_FALSE(d.out[0].has_proposal());
      continue;
    }
    ASSERT_TRUE(d.out[0].has_proposal()) << d.reason;
    const auto& prop = d.out[0].proposal();
    EXPECT_EQ(prop.action().scale_workload().delta(), c.delta) << prop.reason();
    EXPECT_EQ(prop.action().scale_workload().percent(), 0u);
    EXPECT_EQ(prop.action().scale_workload().max_replicas(), 12u);
    EXPECT_NE(prop.reason().find(c.want), std::string::npos) << prop.reason();
    EXPECT_EQ(prop.facts().at("replicas"), std::to_string(static_cast<int>(c.replicas)));
  }
}

}  // namespace
}  // namespace kubemend::analyzer
