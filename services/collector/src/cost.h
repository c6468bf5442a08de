#pragma once
// Cost budgets → BudgetExceeded signals (source COST), the contract the
// safety gate's budget guard uses: firing when the cost is above the budget,
// resolved when back under; target kind Namespace (or the workload);
// value = cost, threshold = budget, both in the budget's period:
//   hourly   the current run-rate per hour;
//   daily    the spend so far today (UTC), integrated from the run-rate;
//   monthly  the spend so far this calendar month (UTC): month-to-date, not
//            the run-rate × 730.
// Labels: budget, period, currency (a BudgetGuard policy matches only its own
// period and currency). When Prometheus has no OpenCost price metrics
// (node_cpu_hourly_cost) the cost is unknown, never 0: one firing
// BudgetExceededUnknown signal (label cost=unknown, no value) says so.
//
// Costs are computed in PromQL from the OpenCost metric names
// (container_cpu_allocation × node_cpu_hourly_cost, container_memory_
// allocation_bytes × node_ram_hourly_cost, pv_hourly_cost × PV size);
// workloads are matched through kube-state-metrics' kube_pod_owner (and
// kube_replicaset_owner for Deployments).
#include <absl/status/statusor.h>

#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "metric_trigger.h"

namespace kubemend::collector {

struct Budget {
  std::string name;
  std::string ns;
  std::string workload_kind;  // "" = the whole namespace
  std::string workload_name;
  // A label selector (kube-state-metrics kube_pod_labels): only the pods of
  // the namespace carrying all of these labels.
  std::map<std::string, std::string> selector;
  double amount = 0;
  std::string period = "hourly";  // hourly | daily | monthly
  Millis for_duration{0};
  std::string currency = "USD";
};

// Parses `cost.budgets`:
//   - name: shop-monthly
//     namespace: shop
//     workload: Deployment/web     # optional: Deployment, StatefulSet, DaemonSet, Job
//     selector: {team: checkout}   # optional, instead of workload: pods with these labels
//     monthly: 500                 # or daily: 20, or hourly: 0.7
//     for: 10m
absl::StatusOr<std::vector<Budget>> ParseBudgets(const YAML::Node& node, const std::string& where);

// PromQL for the hourly cost of a namespace or workload (one sample, no
// labels; no sample at all when OpenCost's price metrics are missing).
std::string HourlyCostQuery(const Budget& b);
// The budget's query at `now`: the hourly run-rate, or the spend from the
// start of the UTC day/month to now (a 5m subquery of the run-rate, summed).
std::string CostQuery(const Budget& b, TimePoint now);
// Seconds from the start of the budget's period (UTC) to now; 0 for hourly.
int64_t PeriodElapsedSeconds(const std::string& period, TimePoint now);
// The trigger that evaluates one budget.
TriggerSpec BudgetTrigger(const Budget& b);

}  // namespace kubemend::collector
