#pragma once
// The executor service's wiring: config keys, the Kubernetes connection (or
// record-only mode), three consumers (decisions; control for Pause/Resume
// and RollbackRequest; outcomes to rebuild the rollback index), the
// ExecutorAdmin gRPC service and GetStatus details. main.cc calls these.
#include <map>
#include <string>
#include <vector>

#include "kubemend/common/config.h"
#include "kubemend/common/protection.h"
#include "gitops.h"
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
  int64_t scale_min_replicas = 1;
  int64_t hpa_max_cap = 100;
  std::string pvc_max_size = "1Ti";
  // What is never changed, checked on the live object, its owners and its
  // namespace right before every write (same keys as the gate's).
  std::string own_namespace = "kubemend";
  std::vector<std::string> protected_namespaces;
  std::vector<std::string> protected_kinds;
  std::map<std::string, std::string> protected_labels;
  std::map<std::string, std::string> protected_annotations;
  std::chrono::milliseconds drain_timeout{120000};
  std::chrono::milliseconds eviction_retry{1000};
  // One attempt to read the outcome index and the kill-switch state at start
  // (decisions wait until it is read, however long that takes).
  std::chrono::milliseconds catch_up_timeout{20000};
  // The outcome index (redelivered decisions → DUPLICATE, rollbacks by
  // action id): outcomes older than index_window are not read back at start,
  // and at most index_max_actions action ids are kept (docs/durability.md).
  std::chrono::milliseconds index_window{7LL * 24 * 3600 * 1000};
  int64_t index_max_actions = 100000;
  // GitOps mode (docs/gitops.md): on when executor.gitops.repos binds at
  // least one repository.
  GitOpsConfig gitops;
  YAML::Node gitops_repos;  // executor.gitops.repos, parsed by ParseGitOpsRepos
  // The Kubernetes view (kube_view.h): HealingAction objects and Events.
  bool kube_view = true;
  std::chrono::milliseconds kube_view_retention{7LL * 24 * 3600 * 1000};
  std::chrono::milliseconds kube_view_gc_interval{10 * 60 * 1000};
  ExecutorConfig();
};

void AddExecutorKeys(ConfigSchema& schema, ExecutorConfig* cfg);
// The look-back per topic of the start-up replay (LogFollower::Replay's
// `since`): outcomes from executor.index.window, control whole.
std::map<std::string, TimePoint> StateReplayWindow(const ExecutorConfig& cfg, const KafkaConfig& kafka,
                                                   TimePoint now);
// The protection rules of `cfg` (own namespace included).
ProtectionRules ProtectionOf(const ExecutorConfig& cfg);

// executor.gitops complete: repos parsed (file, or the environment's
// KUBEMEND_EXECUTOR_GITOPS_REPOS in YAML flow style) and validated.
absl::StatusOr<GitOpsConfig> GitOpsOf(const ExecutorConfig& cfg, const Env& env);

// Runs until SIGTERM; returns the exit code.
int RunExecutorService(ServiceRuntime& rt, const ExecutorConfig& cfg);

}  // namespace kubemend::executor
