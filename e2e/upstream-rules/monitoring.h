#pragma once
// The monitoring half of the upstream-rules e2e, as a cluster operator runs it: the real
// kube-state-metrics (scripts/build-ksm.sh) watching the real API server, Debian's Prometheus
// scraping it and evaluating the upstream kubernetes-mixin rules (derive_rules.py: upstream's
// rule files, only `for:` shortened), and Debian's Alertmanager routing every alert to
// kubemend's collector webhook with a bearer token. Each runs as a child process with its own
// loopback port and log file under the given directory; the destructor stops them.
#include <nlohmann/json.hpp>
#include <string>

#include "process.h"

namespace kubemend::e2e {

struct MonitoringConfig {
  std::string dir;             // configs, data and logs go here
  std::string ksm_binary;      // kube-state-metrics
  std::string kubeconfig;      // for kube-state-metrics (cluster-wide reads)
  std::string namespaces;      // kube-state-metrics --namespaces (comma list)
  std::string rules_dir;       // derived rule files (*.rules.yaml)
  std::string webhook_url;     // http://collector/api/v1/alerts
  std::string webhook_token;   // bearer token Alertmanager sends
  // The labels the scrape target carries (what Kubernetes service discovery gives the exporter's
  // endpoint in kube-prometheus): honor_labels keeps a series' own, so only series without them
  // (node series) get the exporter's namespace/pod, the common relabelling slip.
  std::string exporter_namespace = "monitoring";
  std::string exporter_pod = "kube-state-metrics-6d4c7b9f5-x7k2p";
  // host:port of the kubelets' /metrics (kubemend-kubelet's listener; "" = not scraped): job
  // "kubelet" with kube-prometheus' kubelet target labels (metrics_path, honor_labels).
  std::string kubelet_hostport;
};

class Monitoring {
 public:
  // Starts all three and waits until Prometheus scrapes kube-state-metrics (up == 1) and
  // has loaded the rules. Empty string on success, else what failed (with the log to read).
  std::string Start(const MonitoringConfig& c);
  void Stop();
  ~Monitoring() { Stop(); }

  // GET on Prometheus' HTTP API (path with query); nullptr on failure.
  nlohmann::json Prometheus(const std::string& path) const;
  std::string prometheus_url() const { return prom_url_; }
  std::string alertmanager_url() const { return am_url_; }
  std::string ksm_url() const { return ksm_url_; }

 private:
  std::string StartKsm(const MonitoringConfig& c);
  std::string StartAlertmanager(const MonitoringConfig& c);
  std::string StartPrometheus(const MonitoringConfig& c);

  Child ksm_, prom_, am_;
  std::string ksm_url_, prom_url_, am_url_;
};

}  // namespace kubemend::e2e
