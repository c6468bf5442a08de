#include "slo.h"

#include <algorithm>
#include <cmath>

namespace kubemend::analyzer {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;

const std::vector<BurnRule>& WorkbookBurnRules() {
  static const std::vector<BurnRule> k = {
      {hours(1), minutes(5), 14.4, "page"},
      {hours(6), minutes(30), 6.0, "page"},
      {hours(24), hours(2), 3.0, "ticket"},
      {hours(72), hours(6), 1.0, "ticket"},
  };
  return k;
}

std::optional<double> WindowRatio(const std::vector<Sample>& s, int64_t end_ms, milliseconds window) {
  double sum = 0;
  size_t n = 0;
  for (const auto& x : s) {
    if (x.t_ms > end_ms - window.count() && x.t_ms <= end_ms && std::isfinite(x.v)) {
      sum += x.v;
      ++n;
    }
  }
  if (n == 0) {
    return std::nullopt;
  }
  return sum / static_cast<double>(n);
}

namespace {
std::string Hum(milliseconds d) {
  int64_t m = d.count() / 60000;
  if (m % 60 == 0) {
    return std::to_string(m / 60) + "h";
  }
  return std::to_string(m) + "m";
}
}  // namespace

BudgetStatus ComputeBudget(const std::vector<Sample>& series, double target, milliseconds period,
                           int64_t now_ms, const std::vector<BurnRule>& rules) {
  BudgetStatus b;
  b.budget = 1.0 - target;
  auto whole = WindowRatio(series, now_ms, period);
  b.error_ratio_period = whole.value_or(0);
  // The budget spent so far in the period: the observed error ratio times the
  // share of the period observed, over the budget.
  double observed_share = 1.0;
  if (!series.empty()) {
    int64_t first = now_ms;
    for (const auto& s : series) {
      if (s.t_ms > now_ms - period.count()) {
        first = std::min(first, s.t_ms);
      }
    }
    observed_share = std::clamp(static_cast<double>(now_ms - first) / static_cast<double>(period.count()), 0.0, 1.0);
  }
  b.consumed = b.budget > 0 ? b.error_ratio_period * observed_share / b.budget : 0;
  b.remaining = 1.0 - b.consumed;
  bool first_rule = true;
  for (const auto& r : rules) {
    double lr = WindowRatio(series, now_ms, r.long_window).value_or(0) / b.budget;
    double sr = WindowRatio(series, now_ms, r.short_window).value_or(0) / b.budget;
    if (first_rule) {
      b.burn_long = lr;
      b.burn_short = sr;
      first_rule = false;
    }
    if (lr >= r.factor && sr >= r.factor) {
      b.alert = r.severity;
      b.burn_long = lr;
      b.burn_short = sr;
      char buf[96];
      std::snprintf(buf, sizeof buf, "%gx over %s and %s", r.factor, Hum(r.long_window).c_str(),
                    Hum(r.short_window).c_str());
      b.rule = buf;
      break;
    }
  }
  if (b.burn_long > 0 && b.remaining > 0) {
    // At burn rate r the whole budget lasts period / r; what remains lasts remaining * that.
    double ms = b.remaining * static_cast<double>(period.count()) / b.burn_long;
    b.time_to_exhaustion = milliseconds(static_cast<int64_t>(ms));
  } else if (b.remaining <= 0) {
    b.time_to_exhaustion = milliseconds(0);
  }
  return b;
}

std::optional<Forecast> HoltForecast(const std::vector<Sample>& series, double alpha, double beta,
                                     milliseconds step, milliseconds horizon, double threshold) {
  std::vector<double> v;
  for (const auto& s : series) {
    if (std::isfinite(s.v)) {
      v.push_back(s.v);
    }
  }
  if (v.size() < 4 || step.count() <= 0) {
    return std::nullopt;
  }
  Forecast f;
  double level = v[0];
  double trend = v[1] - v[0];
  for (size_t i = 1; i < v.size(); ++i) {
    double prev_level = level;
    level = alpha * v[i] + (1 - alpha) * (level + trend);
    trend = beta * (level - prev_level) + (1 - beta) * trend;
  }
  f.level = level;
  f.trend = trend;
  f.current = v.back();
  int64_t steps = std::max<int64_t>(1, horizon.count() / step.count());
  f.peak = level;
  for (int64_t h = 1; h <= steps; ++h) {
    double y = level + static_cast<double>(h) * trend;
    f.peak = std::max(f.peak, y);
    if (!f.crosses_in && y > threshold) {
      f.crosses_in = milliseconds(h * step.count());
    }
  }
  f.exceeds = f.crosses_in.has_value();
  return f;
}

}  // namespace kubemend::analyzer
