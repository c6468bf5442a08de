#pragma once
// The collector's configuration: every key, its default, and the checks on
// the structured lists (prometheus.triggers, health_checks.checks,
// cost.budgets). `--help-config` prints them all.
#include <absl/status/status.h>

#include "cost.h"
#include "health_check.h"
#include "kube_state.h"
#include "kubemend/common/config.h"
#include "kubemend/common/runtime.h"
#include "metric_trigger.h"
#include "webhook.h"

namespace kubemend::collector {

struct CollectorConfig {
  CommonConfig common;
  std::string cluster = "default";
  WebhookConfig webhook;
  struct {
    bool enabled = true;
    std::string state_file;  // default: collector.dedup next to the ready file
    Millis forget_after{86'400'000};
    Millis forget_firing_after{7 * 86'400'000LL};
    int64_t max_entries = 200'000;
  } dedup;
  struct {
    std::string enabled = "auto";  // auto: on when a kubeconfig or in-cluster config is present
    std::string kubeconfig;
    std::string facts = "auto";  // auto: on when a kubeconfig or in-cluster config is present
    bool pods = true;
    bool nodes = true;
    bool events = true;
    int64_t restart_burst_count = 3;
    Millis restart_burst_window{600'000};
    Millis pending_timeout{300'000};
    Millis recovery_stable{60'000};
    Millis tick{10'000};
  } kubernetes;
  struct {
    bool enabled = false;
    std::string url = "http://localhost:9090";
    Millis timeout{5'000};
    Millis interval{30'000};
    YAML::Node triggers;
  } prometheus;
  struct {
    bool enabled = false;
    Millis tick{1'000};
    YAML::Node checks;
  } health;
  struct {
    bool enabled = false;
    Millis interval{60'000};
    YAML::Node budgets;
  } cost;

  // Filled by FinishCollectorConfig.
  bool kube_enabled = false;
  bool facts_enabled = false;
  bool health_needs_kube = false;
  KubeStateOptions kube_state;
  std::vector<TriggerSpec> triggers;
  std::vector<HealthCheckSpec> checks;
  std::vector<Budget> budgets;
};

void AddCollectorKeys(ConfigSchema& schema, CollectorConfig* cfg);
// Parses the lists, resolves defaults; the error names the key.
absl::Status FinishCollectorConfig(CollectorConfig* cfg, const Env& env);

}  // namespace kubemend::collector
