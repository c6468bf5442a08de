#pragma once

// Where the API server is and how to authenticate to it.
//
// Two sources, as in client-go:
//  - a kubeconfig file (explicit path, else $KUBECONFIG, a ':'-separated list
//    merged with the first file winning, else ~/.kube/config), using the
//    current context or a named one;
//  - in-cluster: the pod's service account under
//    /var/run/secrets/kubernetes.io/serviceaccount and the
//    KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT environment.
// Errors have kind kConfig and name the file and the field, e.g.
//   kubeconfig /root/.kube/config: users["admin"]: client-certificate-data is not valid base64
//
// Loading reads files once; nothing here keeps state. Safe to call from any
// thread.

#include <functional>
#include <optional>
#include <string>

#include "kubemend/kube/result.h"

namespace kubemend::kube {

// Everything the client needs to reach one API server.
struct ClientConfig {
  // "https://10.0.0.1:6443", no trailing slash.
  std::string server;
  // PEM bundle to verify the server with; empty means the system store.
  std::string ca_pem;
  // Never verify the server's certificate (kubeconfig insecure-skip-tls-verify).
  bool insecure_skip_tls_verify = false;
  // Bearer token. If bearer_token_file is set too, the client re-reads that
  // file every minute: projected service-account tokens rotate.
  std::string bearer_token;
  std::string bearer_token_file;
  // Client certificate and key (PEM).
  std::string client_cert_pem;
  std::string client_key_pem;
  // HTTP basic auth.
  std::string username;
  std::string password;
  // The context's namespace, or the pod's own namespace in-cluster.
  std::string default_namespace = "default";
  // Where this came from, for logs: "kubeconfig /path context=kind-dev",
  // "in-cluster". Never contains a secret.
  std::string source;
};

// Looks up an environment variable; tests substitute their own.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment.
EnvLookup ProcessEnv();

struct KubeconfigOptions {
  // Empty: $KUBECONFIG, else $HOME/.kube/config.
  std::string path;
  // Empty: the file's current-context.
  std::string context;
  EnvLookup env = ProcessEnv();
};

Result<ClientConfig> LoadKubeconfig(const KubeconfigOptions& options = {});

struct InClusterOptions {
  // Holds token, ca.crt and namespace.
  std::string root = "/var/run/secrets/kubernetes.io/serviceaccount";
  EnvLookup env = ProcessEnv();
};

Result<ClientConfig> LoadInClusterConfig(const InClusterOptions& options = {});

// In-cluster when KUBERNETES_SERVICE_HOST is set, else the default kubeconfig.
Result<ClientConfig> LoadDefaultConfig(const EnvLookup& env = ProcessEnv());

}  // namespace kubemend::kube
