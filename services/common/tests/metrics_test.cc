#include "kubemend/common/metrics.h"

#include <gtest/gtest.h>

namespace kubemend {
namespace {

TEST(MetricsTest, RendersCountersGaugesAndCumulativeHistograms) {
  MetricsRegistry r;
  r.GetCounter("x_total", "x", {{"type", "signal"}}).Inc(3);
  r.GetGauge("g", "g").Set(1.5);
  auto& h = r.GetHistogram("lat_seconds", "lat", {}, {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  std::string text = r.Render();
  EXPECT_NE(text.find("x_total{type=\"signal\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("g 1.5"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.10000000000000001\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"1\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_count 3"), std::string::npos) << text;
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameMetric) {
  MetricsRegistry r;
  r.GetCounter("c", "c", {{"a", "1"}}).Inc();
  r.GetCounter("c", "c", {{"a", "1"}}).Inc();
  EXPECT_EQ(r.GetCounter("c", "c", {{"a", "1"}}).Value(), 2u);
  EXPECT_EQ(r.GetCounter("c", "c", {{"a", "2"}}).Value(), 0u);
}

}  // namespace
}  // namespace kubemend
