#pragma once

// Prometheus text exposition of the simulated cluster, using the exact
// metric names and labels of the exporters a real cluster runs, so the
// upstream kubernetes-mixin alert rules and OpenCost queries work unchanged:
// kube-state-metrics (kube_*), kubelet volume stats (kubelet_volume_stats_*),
// cAdvisor (container_*) and OpenCost (node_*_hourly_cost, container_*_allocation*,
// pv_hourly_cost). Pure function of the store and fault state.

#include "clock.h"
#include "faults.h"
#include "store.h"

#include <string>

namespace kubesim {

enum class MetricsSet { kAll, kKubeStateMetrics, kKubelet, kCadvisor, kOpenCost };

// Parses "kube-state-metrics", "kubelet", "cadvisor", "opencost"; nullopt
// for anything else.
std::optional<MetricsSet> metrics_set_from(const std::string& name);

std::string render_metrics(const ObjectStore& store, const FaultState& faults, TimePoint now, MetricsSet which);

}  // namespace kubesim
