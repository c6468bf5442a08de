#pragma once
// Cost budgets → BudgetExceeded signals (source COST), the contract the
// safety gate's budget guard uses: firing when the cost is above the budget,
// resolved when back under; target kind Namespace (or the workload);
// value = cost, threshold = budget, both in the budget's unit (per hour or
// per month = 730 h). Labels: budget, period, currency.
//
// Costs are computed in PromQL from the OpenCost metric names
// (container_cpu_allocation × node_cpu_hourly_cost, container_memory_
// allocation_bytes × node_ram_hourly_cost, pv_hourly_cost × PV size);
// workloads are matched through kube-state-metrics' kube_pod_owner (and
// kube_replicaset_owner for Deployments).
#include <absl/status/statusor.h>

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
  double amount = 0;
  bool monthly = false;
  Millis for_duration{0};
  std::string currency = "USD";
};

// Parses `cost.budgets`:
//   - name: shop-monthly
//     namespace: shop
//     workload: Deployment/web     # optional: Deployment, StatefulSet, DaemonSet, Job
//     monthly: 500                 # or hourly: 0.7
//     for: 10m
absl::StatusOr<std::vector<Budget>> ParseBudgets(const YAML::Node& node, const std::string& where);

// PromQL for the hourly cost of a namespace or workload (one sample, no labels).
std::string HourlyCostQuery(const Budget& b);
// The trigger that evaluates one budget.
TriggerSpec BudgetTrigger(const Budget& b);

}  // namespace kubemend::collector
