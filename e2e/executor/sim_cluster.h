#pragma once
// The cluster an e2e suite heals: kube-sim as a child process (port 0, ready
// file), or with KUBEMEND_E2E_CLUSTER=real the control plane ./kubemend test
// started, reached through `kubectl proxy`. Shared by the executor suite and
// the alerts suite (upstream alert bodies, collector watches off).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "real_cluster.h"  // RunShell

namespace kubemend::e2e {

using nlohmann::json;
using std::chrono::seconds;

inline std::string SimBinary() {
  if (const char* b = std::getenv("KUBEMEND_BUILD_DIR")) {
    std::string p = std::string(b) + "/e2e/kube-sim/kube-sim";
    if (std::filesystem::exists(p)) {
      return p;
    }
  }
  return KUBEMEND_KUBE_SIM_BIN;
}

inline bool RealCluster() {
  const char* c = std::getenv("KUBEMEND_E2E_CLUSTER");
  return c != nullptr && std::string(c) == "real";
}

// The cluster under test: kube-sim as a child process, or the real control plane reached
// through `kubectl proxy` (admin identity, plain HTTP on loopback) so both answer the same
// requests the same way. /sim/v1 requests go to the fault API (kube-sim's own, or
// kubemend-kubelet's on the real cluster, which takes the same bodies).
class Sim {
 public:
  // `seed`: the manifests applied at start (kube-sim) or with kubectl (real).
  std::string Start(const std::string& dir, const std::string& seed) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/seed.yaml") << seed;
    if (RealCluster()) {
      return StartReal(dir);
    }
    std::string ready = dir + "/ready.json";
    std::string bin = SimBinary();
    if (!std::filesystem::exists(bin)) {
      return "kube-sim binary not found at " + bin;
    }
    pid_ = fork();
    if (pid_ == 0) {
      std::string log = dir + "/kube-sim.log";
      FILE* f = freopen(log.c_str(), "w", stderr);
      (void)f;
      execl(bin.c_str(), bin.c_str(), "--state-dir", (dir + "/state").c_str(), "--ready-file", ready.c_str(),
            "--seed", (dir + "/seed.yaml").c_str(), "--crash-after-ms", "300", "--backoff-base-ms", "200",
            "--backoff-max-ms", "1000", "--node-monitor-grace-ms", "300", "--random-seed", "7",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200 && !std::filesystem::exists(ready); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::ifstream in(ready);
    json r = json::parse(in, nullptr, false);
    if (r.is_discarded() || !r.contains("kubeconfig") || !r.contains("http_url")) {
      return "kube-sim did not write its ready file; see " + dir + "/kube-sim.log";
    }
    kubeconfig_ = r["kubeconfig"];
    http_url_ = r["http_url"];
    faults_url_ = http_url_;
    return "";
  }

  // kubectl with the admin kubeconfig of the real cluster.
  static std::string Kubectl() {
    return std::string(std::getenv("KUBEMEND_TEST_KUBECTL")) + " --kubeconfig " +
           std::getenv("KUBEMEND_TEST_KUBECONFIG");
  }

  // A kubeconfig for ServiceAccount kubemend/kubemend-SA with a freshly minted token (TokenRequest).
  static std::string TokenKubeconfig(const std::string& dir, const std::string& sa) {
    auto token = RunShell(Kubectl() + " -n kubemend create token kubemend-" + sa + " --duration 1h");
    auto server = RunShell(Kubectl() + " config view --minify -o jsonpath='{.clusters[0].cluster.server}'");
    auto ca = RunShell(Kubectl() + " config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}'");
    if (!token || !server || !ca || token->empty()) {
      return "";
    }
    std::string t = *token;
    t.erase(t.find_last_not_of(" \n") + 1);
    std::string path = dir + "/kubeconfig." + sa;
    std::ofstream(path) << "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"" << *server
                        << "\", certificate-authority: \"" << *ca << "\"}\nusers:\n- name: " << sa
                        << "\n  user: {token: \"" << t << "\"}\ncontexts:\n- name: c\n  context: {cluster: c, user: "
                        << sa << "}\ncurrent-context: c\n";
    return path;
  }

 private:
  std::string StartReal(const std::string& dir) {
    if (std::getenv("KUBEMEND_TEST_KUBECTL") == nullptr || std::getenv("KUBEMEND_TEST_KUBECONFIG") == nullptr ||
        std::getenv("KUBEMEND_TEST_K8S_FAULTS_URL") == nullptr) {
      return "KUBEMEND_E2E_CLUSTER=real needs the control plane ./kubemend test starts (KUBEMEND_TEST_KUBECONFIG, "
             "KUBEMEND_TEST_KUBECTL, KUBEMEND_TEST_K8S_FAULTS_URL)";
    }
    faults_url_ = std::getenv("KUBEMEND_TEST_K8S_FAULTS_URL");
    const char* root = std::getenv("KUBEMEND_ROOT");
    // deploy/k8s's ServiceAccounts and RBAC, as shipped: the services use their tokens.
    if (!RunShell(Kubectl() + " kustomize " + std::string(root ? root : ".") + "/deploy/k8s/base > " + dir +
             "/base.yaml && " + Kubectl() + " apply --server-side --force-conflicts --field-manager kubemend-test -f " +
             dir + "/base.yaml >/dev/null && " + Kubectl() + " apply -f " + dir + "/seed.yaml >/dev/null")) {
      return "applying deploy/k8s/base and the seed to the real cluster failed";
    }
    std::string proxy_out = dir + "/proxy.out";
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = freopen(proxy_out.c_str(), "w", stdout);
      (void)f;
      std::string cmd = "exec " + Kubectl() + " proxy --port=0 --address=127.0.0.1";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200 && http_url_.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::ifstream in(proxy_out);
      std::string line;
      std::getline(in, line);  // "Starting to serve on 127.0.0.1:PORT"
      if (auto at = line.find("serve on "); at != std::string::npos) {
        http_url_ = "http://" + line.substr(at + 9);
      }
    }
    return http_url_.empty() ? "kubectl proxy did not start; see " + proxy_out : "";
  }

 public:
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st = 0;
      waitpid(pid_, &st, 0);
      pid_ = -1;
    }
  }
  ~Sim() { Stop(); }

  json Get(const std::string& path) const {
    httplib::Client c(http_url_);
    auto r = c.Get(path.c_str());
    if (!r || r->status != 200) {
      return nullptr;
    }
    return json::parse(r->body, nullptr, false);
  }
  int Post(const std::string& path, const json& body) const {
    httplib::Client c(path.rfind("/sim/v1/", 0) == 0 ? faults_url_ : http_url_);
    auto r = c.Post(path.c_str(), body.dump(), "application/json");
    return r ? r->status : 0;
  }
  int MergePatch(const std::string& path, const json& body) const {
    httplib::Client c(http_url_);
    auto r = c.Patch(path.c_str(), body.dump(), "application/merge-patch+json");
    return r ? r->status : 0;
  }
  json Deployment(const std::string& name) const {
    return Get("/apis/apps/v1/namespaces/" + ns_ + "/deployments/" + name);
  }
  std::vector<json> Pods(const std::string& app) const {
    json l = Get("/api/v1/namespaces/" + ns_ + "/pods?labelSelector=app%3D" + app);
    std::vector<json> out;
    if (l.is_object() && l.contains("items")) {
      for (const auto& p : l["items"]) {
        out.push_back(p);
      }
    }
    return out;
  }
  const std::string& kubeconfig() const { return kubeconfig_; }

 private:
  pid_t pid_ = -1;
  std::string kubeconfig_;
  std::string http_url_;
  std::string faults_url_;

 public:
  std::string ns_;
};

inline int64_t Restarts(const json& pod) {
  int64_t n = 0;
  if (pod.contains("status") && pod["status"].contains("containerStatuses")) {
    for (const auto& c : pod["status"]["containerStatuses"]) {
      n += c.value("restartCount", int64_t{0});
    }
  }
  return n;
}

inline bool Eventually(const std::function<bool()>& pred, seconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return pred();
}

}  // namespace kubemend::e2e
