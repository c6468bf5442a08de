#pragma once
// The real control plane that `./kubemend test` starts when a test labelled
// k8s is selected (e2e/cluster/cluster.sh): what a test needs to run one of
// its scenarios there instead of on kube-sim. Selected per ctest entry with
// KUBEMEND_E2E_CLUSTER=real; the cluster's coordinates come from
// KUBEMEND_TEST_KUBECONFIG, KUBEMEND_TEST_KUBECTL, KUBEMEND_TEST_K8S_FAULTS_URL
// and KUBEMEND_TEST_K8S_DIR.
#include <optional>
#include <string>

namespace kubemend::e2e {

bool RealClusterWanted();
// Empty when the cluster's environment is complete, else what is missing.
std::string RealClusterMissing();
// "<kubectl> --kubeconfig <admin>": the kubectl built from the cluster's release.
std::string AdminKubectl();
// kubemend-kubelet's fault API (takes kube-sim's /sim/v1/faults bodies).
std::string RealClusterFaultsUrl();

// Runs a shell command; its stdout, or nullopt when it failed.
std::optional<std::string> RunShell(const std::string& cmd);

// deploy/k8s/base (namespace kubemend, the ServiceAccounts, ClusterRoles and
// bindings) applied as shipped. Empty string on success, else why not.
std::string ApplyKubemendIdentities(const std::string& work_dir);
// A kubeconfig (written under work_dir) for ServiceAccount kubemend/kubemend-<sa>
// with a token minted by TokenRequest; empty when minting failed.
std::string ServiceAccountKubeconfig(const std::string& work_dir, const std::string& sa);

// Restarts kube-apiserver with the same flags (cluster.sh restart-apiserver):
// every watch breaks and every client reconnects. Returns the seconds until
// /readyz answered again, or a negative number when it did not come back.
double RestartApiServer();

}  // namespace kubemend::e2e
