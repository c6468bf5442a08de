#pragma once

// The Kubernetes API client used by the collector (watches) and the executor
// (actions). Objects are nlohmann::json exactly as the API server sends them.
//
// KubeClient is the seam: services depend on the interface, tests of their
// cores use a fake, and NewClient() gives the real libcurl implementation.
//
// Real client behaviour:
//  - TLS is verified against the configured CA (or the system store) unless
//    the kubeconfig says insecure-skip-tls-verify. Auth: bearer token (file
//    re-read every minute), client certificate, or basic.
//  - Each call is retried with exponential backoff and jitter, up to
//    RetryPolicy::max_attempts, when the server throttles (429) or is
//    unavailable (5xx) or cannot be reached; a Retry-After header sets the
//    wait. Requests that may already have taken effect are not repeated:
//    POST and PATCH are retried after a 5xx only when the server sent
//    Retry-After, and after a connection error only when the request was
//    never sent. A 429 from the eviction subresource (a PodDisruptionBudget
//    says no) is never retried here: it comes back as kDisruptionBudget.
//  - Failures come back as Error (see result.h); for API errors the kind
//    follows the HTTP status and Status.reason, and the message is the
//    server's Status.message.
//
// Thread-safety: a client may be used from any number of threads at once.
// Each call borrows its own curl handle from a pool (connections are kept
// alive between calls); there is no shared mutable state besides the pool
// and the cached token. Calls block the calling thread. Watch callbacks run
// on the watcher's own thread (see watch.h).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kubemend/kube/config.h"
#include "kubemend/kube/resources.h"
#include "kubemend/kube/result.h"
#include "kubemend/kube/watch.h"

namespace kubemend::kube {

// Every mutating call can be a server-side dry run: the server validates and
// admits the request, runs no side effects, and persists nothing.
struct WriteOptions {
  bool dry_run = false;
  // Recorded in managedFields; empty leaves the server's default.
  std::string field_manager;
};

struct GetOptions {
  // "" = most recent; "0" = any cached version.
  std::string resource_version;
};

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;           // page size; 0 = everything in one response
  std::string continue_token;  // from the previous page's metadata.continue
  std::string resource_version;
};

enum class PatchType {
  kJsonPatch,            // RFC 6902, application/json-patch+json
  kMergePatch,           // RFC 7386, application/merge-patch+json
  kStrategicMergePatch,  // built-in types only, application/strategic-merge-patch+json
  kApply,                // server-side apply; needs field_manager
};

struct PatchOptions : WriteOptions {
  bool force = false;  // server-side apply only: take over conflicting fields
};

enum class PropagationPolicy { kOrphan, kBackground, kForeground };

struct DeleteOptions {
  bool dry_run = false;
  std::optional<int64_t> grace_period_seconds;
  std::optional<PropagationPolicy> propagation_policy;
  // The delete only happens if the object still has this uid / version.
  std::string precondition_uid;
  std::string precondition_resource_version;
};

struct EvictOptions {
  bool dry_run = false;
  std::optional<int64_t> grace_period_seconds;
};

// The autoscaling/v1 Scale subresource, as the executor needs it.
struct Scale {
  int32_t spec_replicas = 0;
  int32_t status_replicas = 0;
  std::string selector;  // status.selector, a label selector string
  std::string resource_version;
  nlohmann::json raw;  // the full object
};

// One page of a list, or all pages joined by ListAll.
struct ObjectList {
  std::vector<nlohmann::json> items;
  std::string resource_version;  // of the list (the whole snapshot)
  std::string continue_token;    // empty on the last page
};

struct RetryPolicy {
  int max_attempts = 5;  // including the first
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{10'000};
  double jitter = 0.2;  // each wait is scaled by a random factor in [1-j, 1+j]
  // A Retry-After longer than this is clamped to it.
  std::chrono::milliseconds max_retry_after{60'000};
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  // Whole request, per attempt (not used for watch streams).
  std::chrono::milliseconds request_timeout{30'000};
  RetryPolicy retry;
  std::string user_agent = "kubemend";
  // Time and randomness seams: tests record the waits instead of sleeping.
  // Both are called from whichever thread makes the call (or runs a
  // watcher), so they must be thread-safe.
  std::function<void(std::chrono::milliseconds)> sleep;  // default: sleep_for
  std::function<double()> random;                        // default: uniform [0, 1)
};

class KubeClient {
 public:
  virtual ~KubeClient() = default;

  // GET one object or subresource (ref.subresource). kNotFound if absent.
  virtual Result<nlohmann::json> Get(const ObjectRef& ref, const GetOptions& options = {}) = 0;
  // One page. ns empty = all namespaces (or a cluster-scoped type).
  virtual Result<ObjectList> List(const ResourceType& type, std::string_view ns, const ListOptions& options = {}) = 0;
  // POST. kAlreadyExists if the name is taken, kInvalid if rejected.
  virtual Result<nlohmann::json> Create(const ResourceType& type, std::string_view ns, const nlohmann::json& object,
                                        const WriteOptions& options = {}) = 0;
  // PUT to ref (or ref.subresource). If object carries
  // metadata.resourceVersion and the stored object has moved on: kConflict.
  virtual Result<nlohmann::json> Update(const ObjectRef& ref, const nlohmann::json& object,
                                        const WriteOptions& options = {}) = 0;
  // PATCH. kUnsupported for a strategic merge patch on a custom resource.
  virtual Result<nlohmann::json> Patch(const ObjectRef& ref, PatchType type, const nlohmann::json& patch,
                                       const PatchOptions& options = {}) = 0;
  // DELETE. Returns the server's answer: the object (when finalizers or a
  // grace period keep it around) or a Status. kConflict if a precondition
  // failed, kNotFound if already gone.
  virtual Result<nlohmann::json> Delete(const ObjectRef& ref, const DeleteOptions& options = {}) = 0;
  // POST a policy/v1 Eviction for the pod. kDisruptionBudget when a PDB
  // forbids it right now (try again later), kNotFound if the pod is gone.
  virtual Result<void> Evict(const ObjectRef& pod, const EvictOptions& options = {}) = 0;
  // Starts a watch (see watch.h). Never fails up front: problems reach
  // callbacks.on_error while the watcher keeps trying. on_sync and on_event
  // must be set (a missing one aborts: it is a programming error).
  virtual std::unique_ptr<Watcher> Watch(const ResourceType& type, std::string_view ns,
                                         const WatchOptions& options, WatchCallbacks callbacks) = 0;
};

// The libcurl client. Fails (kConfig) only if the config is unusable, e.g.
// no server or a token file that cannot be read.
Result<std::unique_ptr<KubeClient>> NewClient(ClientConfig config, ClientOptions options = {});

// Follows metadata.continue until the last page.
Result<ObjectList> ListAll(KubeClient& client, const ResourceType& type, std::string_view ns,
                           ListOptions options = {});

enum class Mutation { kChanged, kUnchanged };
// Edits the object in place; an Error aborts the update and is returned.
using MutateFn = std::function<Result<Mutation>(nlohmann::json& object)>;

// Optimistic concurrency: GET, mutate, PUT with the fetched resourceVersion;
// on kConflict start over, up to max_attempts. Returns the stored object
// (the fetched one when mutate said kUnchanged). After the last conflict the
// kConflict error is returned.
Result<nlohmann::json> UpdateWithRetry(KubeClient& client, const ObjectRef& ref, const MutateFn& mutate,
                                       const WriteOptions& options = {}, int max_attempts = 5);

// The scale subresource of a Deployment, StatefulSet or ReplicaSet.
Result<Scale> GetScale(KubeClient& client, const ObjectRef& workload);
// PUT a Scale with the given replicas; resource_version (if set) makes it
// conditional (kConflict when the workload changed in between).
Result<Scale> UpdateScale(KubeClient& client, const ObjectRef& workload, int32_t replicas,
                          const std::string& resource_version = "", const WriteOptions& options = {});
// Merge-patch spec.replicas; unconditional.
Result<Scale> PatchScale(KubeClient& client, const ObjectRef& workload, int32_t replicas,
                         const WriteOptions& options = {});

}  // namespace kubemend::kube
