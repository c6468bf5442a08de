#pragma once

// ObjectApi is the storage layer of the API: create / update / patch /
// delete with the semantics of the real API server on top of ObjectStore
// (server-assigned identity, defaulting, validation, status subresource,
// resourceVersion preconditions, dry run, finalizers, graceful pod
// deletion, deletion propagation). The HTTP handler, the /sim/v1 seeding and
// the controllers all write through it. Not thread safe: callers hold the
// Cluster lock. Errors are thrown as ApiError.

#include "clock.h"
#include "store.h"
#include "strategy.h"

#include <optional>
#include <string>

namespace kubesim {

struct WriteOptions {
  bool dry_run = false;
  // Keep a status given on create (seeding, controllers); the API drops it.
  bool keep_status = false;
};

struct DeleteOptions {
  std::string propagation;  // "", "Background", "Foreground", "Orphan"
  std::optional<std::int64_t> grace_period_seconds;
  std::string precondition_uid;
  std::string precondition_rv;
  bool dry_run = false;
};

enum class PatchType { kJson, kMerge, kStrategic, kApply };
// From a Content-Type header; throws ApiError 415 for anything else.
PatchType patch_type_from_content_type(const std::string& content_type);

class ObjectApi {
 public:
  ObjectApi(ObjectStore& store, const Clock& clock, Random& random, StrategyOptions options)
      : store_(store), clock_(clock), random_(random), options_(options) {}

  Json get(const ResourceInfo& r, const std::string& ns, const std::string& name) const;
  // `ns` is the namespace from the URL ("" for cluster-scoped types).
  Json create(const ResourceInfo& r, const std::string& ns, Json object, const WriteOptions& options = {});
  // `subresource` is "" or "status".
  Json update(const ResourceInfo& r, const std::string& ns, const std::string& name, Json object,
              const std::string& subresource, const WriteOptions& options = {});
  Json patch(const ResourceInfo& r, const std::string& ns, const std::string& name, PatchType type,
             const Json& patch, const std::string& subresource, const WriteOptions& options = {});
  // Returns what the API server returns: the object when deletion is
  // pending (finalizers, graceful pod termination) or for pods, otherwise a
  // Success Status.
  Json remove(const ResourceInfo& r, const std::string& ns, const std::string& name, const DeleteOptions& options);

  // The autoscaling/v1 Scale view of deployments, replicasets, statefulsets.
  Json get_scale(const ResourceInfo& r, const std::string& ns, const std::string& name) const;
  Json update_scale(const ResourceInfo& r, const std::string& ns, const std::string& name, const Json& scale,
                    const WriteOptions& options = {});
  Json patch_scale(const ResourceInfo& r, const std::string& ns, const std::string& name, PatchType type,
                   const Json& patch, const WriteOptions& options = {});

  // Removes an object now, bypassing graceful deletion (kubelet finishing
  // a pod, garbage collector). Missing objects are ignored.
  void finalize_delete(const ResourceInfo& r, const std::string& ns, const std::string& name);

  ObjectStore& store() { return store_; }
  const Clock& clock() const { return clock_; }
  Random& random() { return random_; }
  const StrategyOptions& strategy_options() const { return options_; }
  void set_strategy_options(const StrategyOptions& o) { options_ = o; }

 private:
  const Json& must_get(const ResourceInfo& r, const std::string& ns, const std::string& name) const;
  Json write_update(const ResourceInfo& r, Json object, const Json& old, const std::string& subresource,
                    const WriteOptions& options, bool check_rv);
  void admit_pvc_resize(const Json& object, const Json& old) const;
  void orphan_dependents(const std::string& ns, const std::string& owner_uid);

  ObjectStore& store_;
  const Clock& clock_;
  Random& random_;
  StrategyOptions options_;
};

// Applies a patch of the given type to a JSON document.
Json apply_patch(PatchType type, const Json& original, const Json& patch);

}  // namespace kubesim
