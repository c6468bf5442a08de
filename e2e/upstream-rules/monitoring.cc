#include "monitoring.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <thread>

namespace kubemend::e2e {
namespace {

using Clock = std::chrono::steady_clock;

bool Until(const std::function<bool()>& pred, std::chrono::seconds deadline) {
  auto end = Clock::now() + deadline;
  while (Clock::now() < end) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return pred();
}

std::string Url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

}  // namespace

std::string Monitoring::StartKsm(const MonitoringConfig& c) {
  int port = FreeLoopbackPort(), telemetry = FreeLoopbackPort();
  ksm_url_ = Url(port);
  std::string log = c.dir + "/kube-state-metrics.log";
  std::string err = ksm_.Start({c.ksm_binary, "--kubeconfig", c.kubeconfig, "--host", "127.0.0.1", "--port",
                                std::to_string(port), "--telemetry-host", "127.0.0.1", "--telemetry-port",
                                std::to_string(telemetry), "--namespaces", c.namespaces},
                               log);
  if (!err.empty()) {
    return "kube-state-metrics: " + err;
  }
  // Serving, and its informers have listed the nodes.
  bool up = Until([&] { return HttpGet(ksm_url_, "/metrics").second.find("kube_node_info{") != std::string::npos; },
                  std::chrono::seconds(30));
  return up ? "" : "kube-state-metrics did not serve node metrics within 30 s; see " + log;
}

std::string Monitoring::StartAlertmanager(const MonitoringConfig& c) {
  int port = FreeLoopbackPort();
  am_url_ = Url(port);
  std::ofstream(c.dir + "/webhook.token") << c.webhook_token;
  // kube-prometheus groups by namespace; only the waits are shortened.
  std::ofstream(c.dir + "/alertmanager.yml")
      << "route:\n  receiver: kubemend\n  group_by: [namespace]\n  group_wait: 1s\n  group_interval: 1s\n"
      << "  repeat_interval: 1h\nreceivers:\n- name: kubemend\n  webhook_configs:\n  - url: " << c.webhook_url
      << "\n    send_resolved: true\n    http_config:\n      authorization:\n        type: Bearer\n"
      << "        credentials_file: " << c.dir << "/webhook.token\n";
  std::filesystem::create_directories(c.dir + "/alertmanager-data");
  std::string log = c.dir + "/alertmanager.log";
  std::string err = am_.Start({"/usr/bin/prometheus-alertmanager", "--config.file=" + c.dir + "/alertmanager.yml",
                               "--storage.path=" + c.dir + "/alertmanager-data",
                               "--web.listen-address=127.0.0.1:" + std::to_string(port), "--cluster.listen-address="},
                              log);
  if (!err.empty()) {
    return "alertmanager (Debian package prometheus-alertmanager): " + err;
  }
  bool up = Until([&] { return HttpGet(am_url_, "/-/ready").first == 200; }, std::chrono::seconds(30));
  return up ? "" : "alertmanager did not become ready; see " + log;
}

std::string Monitoring::StartPrometheus(const MonitoringConfig& c) {
  int port = FreeLoopbackPort();
  prom_url_ = Url(port);
  std::string ksm_hostport = ksm_url_.substr(std::string("http://").size());
  std::string am_hostport = am_url_.substr(std::string("http://").size());
  std::ofstream(c.dir + "/prometheus.yml")
      << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
      << "rule_files: ['" << c.rules_dir << "/*.rules.yaml']\n"
      << "alerting:\n  alertmanagers:\n  - static_configs: [{targets: ['" << am_hostport << "']}]\n"
      << "scrape_configs:\n- job_name: kube-state-metrics\n  honor_labels: true\n  static_configs:\n"
      << "  - targets: ['" << ksm_hostport << "']\n"
      << "    labels: {namespace: " << c.exporter_namespace << ", pod: " << c.exporter_pod
      << ", service: kube-state-metrics, endpoint: http-metrics}\n";
  if (!c.kubelet_hostport.empty()) {
    std::ofstream(c.dir + "/prometheus.yml", std::ios::app)
        << "- job_name: kubelet\n  honor_labels: true\n  static_configs:\n"
        << "  - targets: ['" << c.kubelet_hostport << "']\n"
        << "    labels: {metrics_path: /metrics, namespace: kube-system, service: kubelet, endpoint: https-metrics}\n";
  }
  std::string log = c.dir + "/prometheus.log";
  std::string err = prom_.Start({"/usr/bin/prometheus", "--config.file=" + c.dir + "/prometheus.yml",
                                 "--storage.tsdb.path=" + c.dir + "/prometheus-data",
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                                log);
  if (!err.empty()) {
    return "prometheus (Debian package prometheus): " + err;
  }
  bool scraping = Until(
      [&] {
        nlohmann::json r = Prometheus("/api/v1/query?query=up%7Bjob%3D%22kube-state-metrics%22%7D");
        return r.is_object() && r["data"]["result"].size() == 1 && r["data"]["result"][0]["value"][1] == "1";
      },
      std::chrono::seconds(30));
  if (!scraping) {
    return "prometheus does not scrape kube-state-metrics; see " + log;
  }
  nlohmann::json rules = Prometheus("/api/v1/rules?type=alert");
  size_t groups = rules.is_object() ? rules["data"]["groups"].size() : 0;
  return groups > 0 ? "" : "prometheus loaded no alerting rules from " + c.rules_dir + "; see " + log;
}

std::string Monitoring::Start(const MonitoringConfig& c) {
  std::filesystem::create_directories(c.dir);
  for (auto step : {&Monitoring::StartKsm, &Monitoring::StartAlertmanager, &Monitoring::StartPrometheus}) {
    std::string err = (this->*step)(c);
    if (!err.empty()) {
      return err;
    }
  }
  return "";
}

void Monitoring::Stop() {
  prom_.Stop();
  am_.Stop();
  ksm_.Stop();
}

nlohmann::json Monitoring::Prometheus(const std::string& path) const {
  auto [status, body] = HttpGet(prom_url_, path);
  if (status != 200) {
    return nullptr;
  }
  return nlohmann::json::parse(body, nullptr, false);
}

}  // namespace kubemend::e2e
