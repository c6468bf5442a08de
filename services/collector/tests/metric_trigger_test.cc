#include "metric_trigger.h"

#include <gtest/gtest.h>

#include "cost.h"

namespace kubemend::collector {
namespace {

const ProducerIdentity kWho{"collector", "c-1", "0.1.0"};

PromSample Sample(double v, std::map<std::string, std::string> labels) {
  PromSample s;
  s.value = v;
  s.labels = std::move(labels);
  return s;
}

TEST(MetricTriggerTest, FiresAfterForDurationAndResolvesOnce) {
  auto specs = ParseTriggers(YAML::Load(R"(
- name: HighMemory
  query: container_memory_working_set_bytes
  threshold: "> 100"
  for: 2m
  severity: critical
  summary: Memory high
)"),
                             "prometheus.triggers");
  ASSERT_TRUE(specs.ok()) << specs.status();
  FakeClock clock;
  TriggerEvaluator ev((*specs)[0], "prod", kWho, clock);
  const std::map<std::string, std::string> l{
      {"__name__", "container_memory_working_set_bytes"}, {"namespace", "shop"}, {"pod", "web-1"}, {"container", "app"}};
  EXPECT_TRUE(ev.Evaluate({Sample(150, l)}).empty());  // pending
  clock.Advance(Millis(60'000));
  EXPECT_TRUE(ev.Evaluate({Sample(150, l)}).empty());
  clock.Advance(Millis(60'000));
  auto fired = ev.Evaluate({Sample(170, l)});
  ASSERT_EQ(fired.size(), 1u);
  const auto& s = fired[0].signal();
  EXPECT_EQ(s.source(), v1::SIGNAL_SOURCE_PROMETHEUS);
  EXPECT_EQ(s.name(), "HighMemory");
  EXPECT_EQ(s.status(), v1::SIGNAL_STATUS_FIRING);
  EXPECT_EQ(s.severity(), v1::SEVERITY_CRITICAL);
  EXPECT_EQ(s.value(), 170);
  EXPECT_EQ(s.threshold(), 100);
  EXPECT_EQ(fired[0].target().kind(), "Pod");
  EXPECT_EQ(fired[0].target().name(), "web-1");
  EXPECT_EQ(s.labels().count("__name__"), 0u);
  EXPECT_TRUE(ev.Evaluate({Sample(180, l)}).empty());  // still firing, no repeat
  auto resolved = ev.Evaluate({Sample(90, l)});
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
  EXPECT_EQ(resolved[0].signal().fingerprint(), s.fingerprint());
  EXPECT_EQ(resolved[0].incident_id(), fired[0].incident_id());
}

// Two collector replicas evaluate in the same wall-clock rounds (PollLoop is
// aligned), each at its own moment within the round: one occurrence, one id.
TEST(MetricTriggerTest, ReplicasInTheSameRoundsPublishTheSameIds) {
  TriggerSpec t;
  t.name = "HighLatency";
  t.query = "latency";
  t.threshold = 1;
  t.for_duration = Millis(30'000);
  FakeClock clock_a;
  FakeClock clock_b;
  clock_a.Advance(Millis(300));    // A's query came back 0.3 s into the round
  clock_b.Advance(Millis(4'100));  // B's 4.1 s into it
  TriggerEvaluator a(t, "prod", {"collector", "collector-1", "0"}, clock_a, Millis(15'000));
  TriggerEvaluator b(t, "prod", {"collector", "collector-2", "0"}, clock_b, Millis(15'000));
  const std::map<std::string, std::string> l{{"namespace", "shop"}, {"pod", "web-1"}};
  std::vector<v1::Event> ea, eb;
  for (double v : {2.0, 2.0, 2.0, 2.5, 0.5}) {
    for (auto& e : a.Evaluate({Sample(v, l)})) {
      ea.push_back(e);
    }
    for (auto& e : b.Evaluate({Sample(v, l)})) {
      eb.push_back(e);
    }
    clock_a.Advance(Millis(15'000));
    clock_b.Advance(Millis(15'000));
  }
  ASSERT_EQ(ea.size(), 2u);  // firing after 30 s, then resolved
  ASSERT_EQ(eb.size(), 2u);
  for (size_t i = 0; i < ea.size(); ++i) {
    EXPECT_EQ(ea[i].event_id(), eb[i].event_id());
    EXPECT_EQ(ea[i].incident_id(), eb[i].incident_id());
  }
  EXPECT_NE(ea[0].event_id(), ea[1].event_id());
}

TEST(MetricTriggerTest, DroppingBelowDuringPendingRestartsTheClock) {
  TriggerSpec t;
  t.name = "X";
  t.query = "x";
  t.op = CompareOp::kLess;
  t.threshold = 1;
  t.for_duration = Millis(10'000);
  FakeClock clock;
  TriggerEvaluator ev(t, "prod", kWho, clock);
  EXPECT_TRUE(ev.Evaluate({Sample(0, {})}).empty());
  clock.Advance(Millis(6'000));
  EXPECT_TRUE(ev.Evaluate({Sample(5, {})}).empty());  // back to normal: pending dropped
  clock.Advance(Millis(6'000));
  EXPECT_TRUE(ev.Evaluate({Sample(0, {})}).empty());
  clock.Advance(Millis(6'000));
  EXPECT_TRUE(ev.Evaluate({Sample(0, {})}).empty());  // only 6 s since it came back
  clock.Advance(Millis(5'000));
  EXPECT_EQ(ev.Evaluate({Sample(0, {})}).size(), 1u);
}

TEST(MetricTriggerTest, SeriesThatVanishesResolves) {
  TriggerSpec t;
  t.name = "X";
  t.query = "x";
  t.threshold = 1;
  FakeClock clock;
  TriggerEvaluator ev(t, "prod", kWho, clock);
  ASSERT_EQ(ev.Evaluate({Sample(5, {{"node", "n1"}}), Sample(5, {{"node", "n2"}})}).size(), 2u);
  auto r = ev.Evaluate({Sample(5, {{"node", "n2"}})});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
  EXPECT_EQ(r[0].target().name(), "n1");
}

TEST(MetricTriggerTest, ConfigErrorsNameEntryAndKey) {
  auto bad = [](const std::string& yaml) {
    auto r = ParseTriggers(YAML::Load(yaml), "prometheus.triggers");
    return r.ok() ? std::string("ok") : std::string(r.status().message());
  };
  EXPECT_EQ(bad("- {name: a, query: x}"), "prometheus.triggers[0].threshold: required, e.g. \"> 0.9\" or a number with op");
  EXPECT_EQ(bad("- {name: a, query: x, threshold: '>> 3'}"),
            "prometheus.triggers[0].op: must be one of > >= < <= == !=, got \">>\"");
  EXPECT_EQ(bad("- {name: a, query: x, threshold: 1Gi}"), "prometheus.triggers[0].threshold: \"1Gi\" is not a number");
  EXPECT_NE(bad("- {name: a, query: x, threshold: 1, for: soon}").find("prometheus.triggers[0].for"), std::string::npos);
  EXPECT_NE(bad("- {name: a, query: x, threshold: 1, colour: red}").find("[0].colour: unknown key"), std::string::npos);
  EXPECT_EQ(bad("- {query: x, threshold: 1}"), "prometheus.triggers[0].name: required");
  EXPECT_EQ(bad("{a: 1}"), "prometheus.triggers: must be a list of triggers");
  EXPECT_EQ(bad("- {name: a, query: x, threshold: 3, op: '<='}"), "ok");
}

TEST(CostTest, BudgetExceededContract) {
  auto budgets = ParseBudgets(YAML::Load(R"(
- name: shop-monthly
  namespace: shop
  monthly: 100
- namespace: shop
  workload: Deployment/web
  hourly: 0.05
)"),
                              "cost.budgets");
  ASSERT_TRUE(budgets.ok()) << budgets.status();
  ASSERT_EQ(budgets->size(), 2u);
  EXPECT_EQ((*budgets)[1].name, "shop/Deployment/web");

  TriggerSpec ns = BudgetTrigger((*budgets)[0]);
  ASSERT_TRUE(ns.query_at);
  // Month-to-date at 2026-01-03T12:00:00Z: 2.5 days of 5m samples of the
  // hourly cost, summed, each standing for 300/3600 h; never the rate × 730;
  // the range reaches 30 s before the 1st (see cost.cc), and no prices now
  // means no answer (unknown).
  const std::string mtd = ns.query_at(TimePoint(Millis(1767441600000)));
  for (const char* m : {"container_cpu_allocation", "node_cpu_hourly_cost", "container_memory_allocation_bytes",
                        "node_ram_hourly_cost", "pv_hourly_cost", "namespace=\"shop\"", "sum_over_time((",
                        ")[216030s:300s]) * 300 / 3600) and on() count(node_cpu_hourly_cost)"}) {
    EXPECT_NE(mtd.find(m), std::string::npos) << m << " in " << mtd;
  }
  EXPECT_EQ(mtd.find("730"), std::string::npos);
  EXPECT_FALSE(ns.unknown_when_empty.empty());
  TriggerSpec wl = BudgetTrigger((*budgets)[1]);
  EXPECT_NE(wl.query.find("kube_replicaset_owner"), std::string::npos);
  EXPECT_EQ(wl.query.find("pv_hourly_cost"), std::string::npos);

  FakeClock clock;
  TriggerEvaluator ev(ns, "prod", kWho, clock);
  EXPECT_TRUE(ev.Evaluate({Sample(80, {})}).empty());
  auto fired = ev.Evaluate({Sample(120.5, {})});
  ASSERT_EQ(fired.size(), 1u);
  const auto& s = fired[0].signal();
  EXPECT_EQ(s.source(), v1::SIGNAL_SOURCE_COST);
  EXPECT_EQ(s.name(), "BudgetExceeded");
  EXPECT_EQ(s.status(), v1::SIGNAL_STATUS_FIRING);
  EXPECT_EQ(s.value(), 120.5);
  EXPECT_EQ(s.threshold(), 100);
  EXPECT_EQ(s.fingerprint(), "cost/shop-monthly");
  EXPECT_EQ(s.labels().at("budget"), "shop-monthly");
  EXPECT_EQ(s.labels().at("period"), "monthly");
  EXPECT_EQ(fired[0].target().kind(), "Namespace");
  EXPECT_EQ(fired[0].target().name(), "shop");
  EXPECT_EQ(fired[0].target().cluster(), "prod");
  auto resolved = ev.Evaluate({Sample(99, {})});
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
  EXPECT_EQ(resolved[0].signal().value(), 99);

  TriggerEvaluator wev(wl, "prod", kWho, clock);
  auto w = wev.Evaluate({Sample(0.07, {})});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].target().kind(), "Deployment");
  EXPECT_EQ(w[0].target().name(), "web");
  EXPECT_EQ(w[0].target().namespace_(), "shop");
}

// Periods: hourly is the run-rate; daily and monthly the spend since the
// start of the UTC day / month. A label selector scopes the pods.
TEST(CostTest, PeriodsAndLabelSelector) {
  auto budgets = ParseBudgets(YAML::Load(R"(
- {name: h, namespace: shop, hourly: 2, currency: EUR}
- {name: d, namespace: shop, daily: 40, selector: {app.kubernetes.io/team: checkout}}
)"),
                              "cost.budgets");
  ASSERT_TRUE(budgets.ok()) << budgets.status();
  const TimePoint t(Millis(1767441600000));  // 2026-01-03T12:00:00Z
  EXPECT_EQ(PeriodElapsedSeconds("hourly", t), 0);
  EXPECT_EQ(PeriodElapsedSeconds("daily", t), 43200);
  EXPECT_EQ(PeriodElapsedSeconds("monthly", t), 216000);
  TriggerSpec h = BudgetTrigger((*budgets)[0]);
  EXPECT_EQ(h.query_at(t), HourlyCostQuery((*budgets)[0]));
  EXPECT_EQ(h.labels.at("period"), "hourly");
  EXPECT_EQ(h.labels.at("currency"), "EUR");
  TriggerSpec d = BudgetTrigger((*budgets)[1]);
  EXPECT_EQ(d.labels.at("period"), "daily");
  std::string q = d.query_at(t);
  EXPECT_NE(q.find(")[43230s:300s])"), std::string::npos) << q;
  EXPECT_NE(q.find("kube_pod_labels{namespace=\"shop\",label_app_kubernetes_io_team=\"checkout\"}"),
            std::string::npos)
      << q;
  EXPECT_EQ(q.find("pv_hourly_cost"), std::string::npos);
  // 10 s into the period: the range still reaches the mark at its start
  // (checked on the real Prometheus by collector_cost_promql_itest).
  EXPECT_NE(d.query_at(TimePoint(Millis(1767398410000))).find(")[40s:300s])"), std::string::npos);
}

TEST(CostTest, BudgetConfigErrors) {
  auto bad = [](const std::string& yaml) {
    auto r = ParseBudgets(YAML::Load(yaml), "cost.budgets");
    return r.ok() ? std::string("ok") : std::string(r.status().message());
  };
  EXPECT_EQ(bad("- {namespace: shop}"), "cost.budgets[0].monthly: a budget needs one of monthly:, daily: or hourly:");
  EXPECT_EQ(bad("- {monthly: 3}"), "cost.budgets[0].namespace: required");
  EXPECT_EQ(bad("- {namespace: a, monthly: 1, hourly: 1}"),
            "cost.budgets[0].monthly: give one of monthly, daily or hourly, not several");
  EXPECT_EQ(bad("- {namespace: a, daily: 1, workload: Deployment/web, selector: {team: x}}"),
            "cost.budgets[0].selector: give workload or selector, not both");
  EXPECT_EQ(bad("- {namespace: a, daily: 1, selector: team}"),
            "cost.budgets[0].selector: must be a map of pod labels, e.g. {team: checkout}");
  EXPECT_EQ(bad("- {namespace: a, monthly: 0}"), "cost.budgets[0].monthly: must be > 0");
  EXPECT_EQ(bad("- {namespace: a, monthly: 1, workload: web}"),
            "cost.budgets[0].workload: must be Kind/name, e.g. Deployment/web");
  EXPECT_EQ(bad("- {namespace: a, monthly: 1}\n- {namespace: a, hourly: 1}"),
            "cost.budgets[1].name: duplicate budget name \"a\"");
}

}  // namespace
}  // namespace kubemend::collector
