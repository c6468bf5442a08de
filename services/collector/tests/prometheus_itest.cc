// The trigger source (through the common Prometheus client, whose own tests
// are services/common/tests/prometheus_test.cc) against a local HTTP server
// that answers like the Prometheus API.
#include <httplib.h>

#include <gtest/gtest.h>

#include <thread>

#include "cost.h"
#include "fake_prometheus.h"
#include "kubemend/common/prometheus.h"
#include "sources.h"

namespace kubemend::collector {
namespace {

using testing::FakePrometheus;

TEST(TriggerSourceTest, CostBudgetRoundTripThroughPrometheusApi) {
  FakePrometheus p;
  PrometheusClient c(p.url(), Millis(2000));
  MetricsRegistry metrics;
  MemorySignalSink sink;
  Publisher pub(&sink, nullptr, &metrics);
  Budget b;
  b.name = "shop";
  b.ns = "shop";
  b.amount = 10;
  b.period = "hourly";
  FakeClock clock;
  TriggerSource src("cost", &c, {BudgetTrigger(b)}, "prod", &pub, {"collector", "t", "0"}, clock, Millis(1000));
  p.Answer(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"12.5"]}]}})");
  src.RunOnce();
  auto ev = sink.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].signal().name(), "BudgetExceeded");
  EXPECT_EQ(ev[0].signal().value(), 12.5);
  EXPECT_NE(p.queries().back().find("node_ram_hourly_cost"), std::string::npos);
  // Prometheus down: no change, an error counted, state kept.
  p.Answer(503, "down");
  src.RunOnce();
  EXPECT_TRUE(sink.Take().empty());
  EXPECT_EQ(pub.Details()["source.cost.errors"], "1");
  // The bus refuses the resolved signal: kept and sent on the next round.
  p.Answer(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"3"]}]}})");
  sink.set_fail(true);
  src.RunOnce();
  EXPECT_TRUE(sink.Take().empty());
  sink.set_fail(false);
  src.RunOnce();
  ev = sink.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
}

// OpenCost's price metrics missing: Prometheus answers an empty vector. The
// budget is "unknown" (one BudgetExceededUnknown signal, no value), never a
// spend of 0 that would resolve a firing budget; data again resolves it.
TEST(TriggerSourceTest, MissingOpenCostMetricsAreUnknownNotZero) {
  FakePrometheus p;
  PrometheusClient c(p.url(), Millis(2000));
  MetricsRegistry metrics;
  MemorySignalSink sink;
  Publisher pub(&sink, nullptr, &metrics);
  Budget b;
  b.name = "shop";
  b.ns = "shop";
  b.amount = 10;
  b.period = "monthly";
  FakeClock clock;
  TriggerSource src("cost", &c, {BudgetTrigger(b)}, "prod", &pub, {"collector", "t", "0"}, clock, Millis(1000));
  p.Answer(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"12.5"]}]}})");
  src.RunOnce();
  auto ev = sink.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].signal().status(), v1::SIGNAL_STATUS_FIRING);
  EXPECT_EQ(ev[0].signal().labels().at("period"), "monthly");
  EXPECT_NE(p.queries().back().find("sum_over_time(("), std::string::npos) << p.queries().back();
  EXPECT_NE(p.queries().back().find("and on() count(node_cpu_hourly_cost)"), std::string::npos);
  // OpenCost gone: unknown, once; the budget's firing state is kept.
  p.Answer(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  src.RunOnce();
  src.RunOnce();
  ev = sink.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].signal().name(), "BudgetExceededUnknown");
  EXPECT_EQ(ev[0].signal().status(), v1::SIGNAL_STATUS_FIRING);
  EXPECT_FALSE(ev[0].signal().has_value());
  EXPECT_EQ(ev[0].signal().labels().at("cost"), "unknown");
  EXPECT_NE(ev[0].signal().summary().find("unknown, not 0"), std::string::npos) << ev[0].signal().summary();
  EXPECT_NE(src.Details()["cost.BudgetExceeded.shop"].find("unknown"), std::string::npos);
  // Prices back, still above budget: the unknown resolves, nothing else.
  p.Answer(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"13"]}]}})");
  src.RunOnce();
  ev = sink.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].signal().name(), "BudgetExceededUnknown");
  EXPECT_EQ(ev[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
}

}  // namespace
}  // namespace kubemend::collector
