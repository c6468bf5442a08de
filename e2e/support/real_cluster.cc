#include "real_cluster.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace kubemend::e2e {
namespace {

std::string EnvOr(const char* key) {
  const char* v = std::getenv(key);
  return v == nullptr ? "" : v;
}

}  // namespace

bool RealClusterWanted() { return EnvOr("KUBEMEND_E2E_CLUSTER") == "real"; }

std::string RealClusterMissing() {
  std::string missing;
  for (const char* k : {"KUBEMEND_TEST_KUBECONFIG", "KUBEMEND_TEST_KUBECTL", "KUBEMEND_TEST_K8S_FAULTS_URL",
                        "KUBEMEND_TEST_K8S_DIR", "KUBEMEND_ROOT"}) {
    if (EnvOr(k).empty()) {
      missing += (missing.empty() ? "" : ", ") + std::string(k);
    }
  }
  return missing.empty() ? ""
                         : "KUBEMEND_E2E_CLUSTER=real needs the control plane ./kubemend test starts; missing " +
                               missing;
}

std::string AdminKubectl() {
  return EnvOr("KUBEMEND_TEST_KUBECTL") + " --kubeconfig " + EnvOr("KUBEMEND_TEST_KUBECONFIG");
}

std::string RealClusterFaultsUrl() { return EnvOr("KUBEMEND_TEST_K8S_FAULTS_URL"); }

std::optional<std::string> RunShell(const std::string& cmd) {
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) {
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    out.append(buf, n);
  }
  return pclose(f) == 0 ? std::optional<std::string>(out) : std::nullopt;
}

std::string ApplyKubemendIdentities(const std::string& work_dir) {
  const std::string k = AdminKubectl();
  const std::string base = work_dir + "/base.yaml";
  if (!RunShell(k + " kustomize " + EnvOr("KUBEMEND_ROOT") + "/deploy/k8s/base > " + base + " && " + k +
                " apply --server-side --force-conflicts --field-manager kubemend-test -f " + base + " >/dev/null")) {
    return "applying deploy/k8s/base to the real cluster failed";
  }
  return "";
}

std::string ServiceAccountKubeconfig(const std::string& work_dir, const std::string& sa) {
  const std::string k = AdminKubectl();
  auto token = RunShell(k + " -n kubemend create token kubemend-" + sa + " --duration 1h");
  auto server = RunShell(k + " config view --minify -o jsonpath='{.clusters[0].cluster.server}'");
  auto ca = RunShell(k + " config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}'");
  if (!token || !server || !ca || token->empty()) {
    return "";
  }
  std::string t = *token;
  t.erase(t.find_last_not_of(" \n") + 1);
  const std::string path = work_dir + "/kubeconfig." + sa;
  std::ofstream(path) << "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"" << *server
                      << "\", certificate-authority: \"" << *ca << "\"}\nusers:\n- name: " << sa
                      << "\n  user: {token: \"" << t << "\"}\ncontexts:\n- name: c\n  context: {cluster: c, user: "
                      << sa << "}\ncurrent-context: c\n";
  return path;
}

double RestartApiServer() {
  const auto t0 = std::chrono::steady_clock::now();
  if (!RunShell("bash " + EnvOr("KUBEMEND_ROOT") + "/e2e/cluster/cluster.sh restart-apiserver " +
                EnvOr("KUBEMEND_TEST_K8S_DIR") + " >&2")) {
    return -1;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace kubemend::e2e
