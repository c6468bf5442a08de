#pragma once
// The executor service's wiring: config keys, the Kubernetes connection (or
// record-only mode), three consumers (decisions; control for Pause/Resume
// and RollbackRequest; outcomes to rebuild the rollback index), the
// ExecutorAdmin gRPC service and GetStatus details. main.cc calls these.
#include <map>
#include <string>

#include "kubemend/common/config.h"
#include "kubemend/common/runtime.h"

namespace kubemend::executor {

struct ExecutorConfig {
  bool dry_run = false;
  int64_t max_concurrent = 4;
  std::string kubeconfig;    // empty: $KUBECONFIG, in-cluster, ~/.kube/config
  std::string kube_context;  // empty: the kubeconfig's current context
  bool verify_default = true;
  std::chrono::milliseconds verify_timeout{120000};
  std::chrono::milliseconds verify_poll{1000};
  std::chrono::milliseconds verify_stable{10000};
  std::map<std::string, std::string> notify_channels;  // name -> URL (env: name=url,...)
  std::chrono::milliseconds notify_timeout{5000};
  int64_t memory_percent = 25;
  std::string memory_max = "8Gi";
  int64_t scale_max_replicas = 50;
  int64_t hpa_max_cap = 100;
  std::chrono::milliseconds drain_timeout{120000};
  std::chrono::milliseconds eviction_retry{1000};
  // How long the decision consumer waits at start for the outcome index and
  // the kill-switch state to be read from their topics.
  std::chrono::milliseconds catch_up_timeout{20000};
};

void AddExecutorKeys(ConfigSchema& schema, ExecutorConfig* cfg);

// Runs until SIGTERM; returns the exit code.
int RunExecutorService(ServiceRuntime& rt, const ExecutorConfig& cfg);

}  // namespace kubemend::executor
