#include "collector_config.h"

namespace kubemend::collector {

void AddCollectorKeys(ConfigSchema& s, CollectorConfig* c) {
  AddCommonKeys(s, &c->common, "collector");
  s.Add("cluster", &c->cluster, "cluster name put on every target");
  s.Add("webhook.enabled", &c->webhook.enabled, "accept Alertmanager webhooks");
  s.Add("webhook.path", &c->webhook.path, "path Alertmanager posts to");
  s.Add("webhook.max_body_bytes", &c->webhook.max_body_bytes, "largest accepted body", 1024, 64 << 20);
  s.Add("webhook.http_threads", &c->webhook.http_threads,
        "I/O threads of the HTTP port (they parse, deduplicate and produce; a request waiting for the broker "
        "holds none)", 1, 64);
  s.Add("webhook.max_in_flight_bytes", &c->webhook.max_in_flight_bytes,
        "request bodies waiting for the broker's acknowledgement; beyond this a webhook gets 503 + Retry-After",
        1 << 20, int64_t{1} << 34);
  s.Add("webhook.max_connections", &c->webhook.max_connections,
        "open HTTP connections; one more gets 503 + Retry-After and is closed", 1, 1 << 20);
  s.Add("webhook.read_timeout", &c->webhook.read_timeout,
        "a request's headers and body must arrive within this, else the connection is dropped (slow clients)");
  s.AddEnum("webhook.auth.type", &c->webhook.auth.type, {"none", "bearer", "basic"},
            "Authorization Alertmanager must send (http_config.authorization / basic_auth)");
  s.Add("webhook.auth.token_env", &c->webhook.auth.token_env, "environment variable holding the bearer token");
  s.Add("webhook.auth.token_file", &c->webhook.auth.token_file, "file holding the bearer token (wins over env)");
  s.Add("webhook.auth.username", &c->webhook.auth.username, "basic auth user name");
  s.Add("webhook.auth.password_env", &c->webhook.auth.password_env, "environment variable holding the password");
  s.Add("webhook.auth.password_file", &c->webhook.auth.password_file, "file holding the password (wins over env)");
  s.Add("dedup.enabled", &c->dedup.enabled, "drop repeats of the last published status per fingerprint");
  s.Add("dedup.state_file", &c->dedup.state_file,
        "where the dedup state survives restarts (default: collector.dedup in runtime.state_dir)");
  s.Add("dedup.forget_after", &c->dedup.forget_after,
        "resolved fingerprints (and Warning-event ones, whatever their status) are forgotten after this long");
  s.Add("dedup.forget_firing_after", &c->dedup.forget_firing_after,
        "firing fingerprints are forgotten after this long (a still-firing alert is then published once more)");
  s.Add("dedup.max_entries", &c->dedup.max_entries, "at most this many fingerprints are kept; the oldest go first", 1);
  s.AddEnum("kubernetes.enabled", &c->kubernetes.enabled, {"auto", "true", "false"},
            "watch pods, nodes and events (auto: when a kubeconfig or in-cluster config exists)");
  s.AddEnum("kubernetes.facts", &c->kubernetes.facts, {"auto", "true", "false"},
            "keep a cache of pods and ReplicaSets (watches) and add their facts (owner, container state, "
            "images, memory) to every signal about a pod or workload; independent of kubernetes.enabled "
            "(auto: when a kubeconfig or in-cluster config exists)");
  s.Add("kubernetes.kubeconfig", &c->kubernetes.kubeconfig, "kubeconfig path (default: in-cluster, $KUBECONFIG)");
  s.Add("kubernetes.pods", &c->kubernetes.pods, "watch pods");
  s.Add("kubernetes.nodes", &c->kubernetes.nodes, "watch nodes");
  s.Add("kubernetes.events", &c->kubernetes.events, "watch Warning events");
  s.Add("kubernetes.restart_burst_count", &c->kubernetes.restart_burst_count,
        "restarts within restart_burst_window that make a RestartBurst", 1, 1000);
  s.Add("kubernetes.restart_burst_window", &c->kubernetes.restart_burst_window, "window for restart bursts");
  s.Add("kubernetes.pending_timeout", &c->kubernetes.pending_timeout, "Pending longer than this is PodStuckPending");
  s.Add("kubernetes.recovery_stable", &c->kubernetes.recovery_stable,
        "a crash loop or image pull back-off resolves once the container has been ready this long");
  s.Add("kubernetes.tick", &c->kubernetes.tick, "re-evaluation of time-based pod conditions");
  s.Add("prometheus.enabled", &c->prometheus.enabled, "evaluate prometheus.triggers");
  s.Add("prometheus.url", &c->prometheus.url, "Prometheus base URL (also used by cost)");
  s.Add("prometheus.timeout", &c->prometheus.timeout, "per query");
  s.Add("prometheus.interval", &c->prometheus.interval, "evaluation interval of the triggers");
  s.AddNode("prometheus.triggers", &c->prometheus.triggers,
            "list of {name, query, threshold ('> 0.9' or number with op), for, severity, summary}");
  s.Add("health_checks.enabled", &c->health.enabled, "run health_checks.checks");
  s.Add("health_checks.tick", &c->health.tick, "how often due probes are looked for");
  s.AddNode("health_checks.checks", &c->health.checks,
            "list of {name, namespace, target: Kind/name, type: http|tcp|custom, http|tcp|custom: {...}, interval, "
            "timeout, failure_threshold, success_threshold, address, severity}");
  s.Add("cost.enabled", &c->cost.enabled, "evaluate cost.budgets against OpenCost metrics in Prometheus");
  s.Add("cost.interval", &c->cost.interval, "evaluation interval of the budgets");
  s.AddNode("cost.budgets", &c->cost.budgets,
            "list of {name, namespace, workload: Kind/name, monthly|hourly, for, currency}");
}

absl::Status FinishCollectorConfig(CollectorConfig* c, const Env& env) {
  auto triggers = ParseTriggers(c->prometheus.triggers, "prometheus.triggers");
  if (!triggers.ok()) {
    return triggers.status();
  }
  c->triggers = std::move(*triggers);
  auto checks = ParseHealthChecks(c->health.checks, "health_checks.checks");
  if (!checks.ok()) {
    return checks.status();
  }
  c->checks = std::move(*checks);
  auto budgets = ParseBudgets(c->cost.budgets, "cost.budgets");
  if (!budgets.ok()) {
    return budgets.status();
  }
  c->budgets = std::move(*budgets);
  if (c->prometheus.enabled && c->triggers.empty()) {
    return absl::InvalidArgumentError("prometheus.triggers: prometheus.enabled is true but no trigger is configured");
  }
  if (c->cost.enabled && c->budgets.empty()) {
    return absl::InvalidArgumentError("cost.budgets: cost.enabled is true but no budget is configured");
  }
  if (c->health.enabled && c->checks.empty()) {
    return absl::InvalidArgumentError("health_checks.checks: health_checks.enabled is true but no check is configured");
  }
  for (const auto& h : c->checks) {
    if (h.type == "custom" || h.target_kind != "Pod" || h.address.empty()) {
      c->health_needs_kube = true;
    }
  }
  const bool have_config = !c->kubernetes.kubeconfig.empty() || env.count("KUBECONFIG") != 0 ||
                           env.count("KUBERNETES_SERVICE_HOST") != 0;
  c->kube_enabled = c->kubernetes.enabled == "auto" ? have_config : c->kubernetes.enabled == "true";
  c->facts_enabled = c->kubernetes.facts == "auto" ? have_config : c->kubernetes.facts == "true";
  c->kube_state.cluster = c->cluster;
  c->kube_state.pods = c->kubernetes.pods;
  c->kube_state.nodes = c->kubernetes.nodes;
  c->kube_state.events = c->kubernetes.events;
  c->kube_state.restart_burst_count = c->kubernetes.restart_burst_count;
  c->kube_state.restart_burst_window = c->kubernetes.restart_burst_window;
  c->kube_state.pending_timeout = c->kubernetes.pending_timeout;
  c->kube_state.recovery_stable = c->kubernetes.recovery_stable;
  c->webhook.cluster = c->cluster;
  if (c->dedup.enabled && c->dedup.state_file.empty()) {
    // Never the working directory: it is / in the image, read-only.
    c->dedup.state_file = StateDir(c->common, env) + "/collector.dedup";
  }
  return absl::OkStatus();
}

}  // namespace kubemend::collector
