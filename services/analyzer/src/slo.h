#pragma once
// SLO and forecast arithmetic. Pure functions over sample series; the
// evaluator (evaluator.h) fetches the samples from Prometheus.
//
// SLO: the series is an error ratio sampled at a regular step (e.g.
// sum(rate(errors[5m])) / sum(rate(requests[5m]))). The ratio over a window is
// the mean of its samples (exact for steady traffic, an approximation when the
// request rate varies a lot). Error budget = 1 - target. Burn rate over a
// window = error ratio / budget (1.0 spends the budget exactly over the
// period). Alerting follows the multi-window, multi-burn-rate scheme of the
// Google SRE workbook (ch. 5): page on 14.4x over 1h and 5m, or 6x over 6h
// and 30m; ticket on 3x over 1d and 2h, or 1x over 3d and 6h.
//
// Forecast: Holt's linear (double exponential smoothing) over the series;
// the forecast h steps ahead is level + h * trend. Chosen over Holt-Winters
// because the histories fetched (hours) are shorter than a daily season.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace kubemend::analyzer {

struct Sample {
  int64_t t_ms;
  double v;
};

struct BurnRule {
  std::chrono::milliseconds long_window;
  std::chrono::milliseconds short_window;
  double factor;
  std::string severity;  // page | ticket
};
const std::vector<BurnRule>& WorkbookBurnRules();

// The mean error ratio of samples with t in (end - window, end]; nullopt when none.
std::optional<double> WindowRatio(const std::vector<Sample>& s, int64_t end_ms,
                                  std::chrono::milliseconds window);

struct BudgetStatus {
  double budget = 0;              // 1 - target
  double error_ratio_period = 0;  // over the whole series
  double consumed = 0;            // share of the budget spent (may exceed 1)
  double remaining = 1;           // 1 - consumed, clamped at 0 from below? no: may go negative
  double burn_short = 0;          // burn rate over the first firing (or fastest) rule's windows
  double burn_long = 0;
  std::optional<std::chrono::milliseconds> time_to_exhaustion;  // at burn_long; none if not burning
  std::string alert;              // "", "page" or "ticket"
  std::string rule;               // e.g. "14.4x over 1h and 5m"
};

// `series` covers the compliance `period` ending at `now_ms` (missing early
// samples count as no data, not as no errors).
BudgetStatus ComputeBudget(const std::vector<Sample>& series, double target,
                           std::chrono::milliseconds period, int64_t now_ms,
                           const std::vector<BurnRule>& rules = WorkbookBurnRules());

struct Forecast {
  double level = 0;
  double trend = 0;                // per step
  double current = 0;              // the last observed value
  double peak = 0;                 // the highest forecast value within the horizon
  std::optional<std::chrono::milliseconds> crosses_in;  // when the forecast first exceeds the threshold
  bool exceeds = false;
};

// Holt's linear method. `step` is the sample spacing; needs >= 4 samples.
std::optional<Forecast> HoltForecast(const std::vector<Sample>& series, double alpha, double beta,
                                     std::chrono::milliseconds step,
                                     std::chrono::milliseconds horizon, double threshold);

}  // namespace kubemend::analyzer
