#pragma once
// An in-memory KubeClient for the executor's unit tests: objects stored as
// JSON by (plural, namespace, name), resourceVersion conflicts, server-side
// dry run (validated, not stored), uid delete preconditions, the scale
// subresource, label/field selectors of the k=v form, merge patches, and
// evictions that a test can make a PodDisruptionBudget refuse. Watches are
// not supported (the executor polls). Thread-safe.
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kubemend/kube/client.h"

namespace kubemend::executor::testing {

class FakeKube final : public kube::KubeClient {
 public:
  // Stores an object (kind/apiVersion/metadata.name/namespace taken from it);
  // fills uid and resourceVersion when missing.
  void Put(const kube::ResourceType& type, nlohmann::json obj);
  nlohmann::json Object(const kube::ObjectRef& ref) const;  // null if absent
  bool Exists(const kube::ObjectRef& ref) const;

  kube::Result<nlohmann::json> Get(const kube::ObjectRef& ref, const kube::GetOptions& = {}) override;
  kube::Result<kube::ObjectList> List(const kube::ResourceType& type, std::string_view ns,
                                      const kube::ListOptions& options = {}) override;
  kube::Result<nlohmann::json> Create(const kube::ResourceType& type, std::string_view ns, const nlohmann::json& object,
                                      const kube::WriteOptions& options = {}) override;
  kube::Result<nlohmann::json> Update(const kube::ObjectRef& ref, const nlohmann::json& object,
                                      const kube::WriteOptions& options = {}) override;
  kube::Result<nlohmann::json> Patch(const kube::ObjectRef& ref, kube::PatchType type, const nlohmann::json& patch,
                                     const kube::PatchOptions& options = {}) override;
  kube::Result<nlohmann::json> Delete(const kube::ObjectRef& ref, const kube::DeleteOptions& options = {}) override;
  kube::Result<void> Evict(const kube::ObjectRef& pod, const kube::EvictOptions& options = {}) override;
  std::unique_ptr<kube::Watcher> Watch(const kube::ResourceType&, std::string_view, const kube::WatchOptions&,
                                       kube::WatchCallbacks) override {
    return nullptr;
  }

  // The next `n` evictions of any pod answer kDisruptionBudget.
  void RefuseEvictions(int n) {
    std::lock_guard<std::mutex> g(mu_);
    refuse_evictions_ = n;
  }
  // The next `n` PATCHes answer kUnavailable (HTTP 503), as an overloaded
  // API server does: applied first when `applied` (the answer was lost on
  // the way back), else refused untouched.
  void FailPatches(int n, bool applied) {
    std::lock_guard<std::mutex> g(mu_);
    fail_patches_ = n;
    failed_patches_apply_ = applied;
  }
  // Every write (PUT/PATCH/DELETE/eviction) as "VERB path[ dry-run]".
  std::vector<std::string> writes() const {
    std::lock_guard<std::mutex> g(mu_);
    return writes_;
  }
  int updates() const;  // non-dry-run PUTs and PATCHes

 private:
  static std::string Key(const kube::ResourceType& t, std::string_view ns, std::string_view name);
  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json> objects_;
  std::map<std::string, kube::ResourceType> types_;
  int64_t rv_ = 100;
  int uid_ = 0;
  int refuse_evictions_ = 0;
  int fail_patches_ = 0;
  bool failed_patches_apply_ = false;
  std::vector<std::string> writes_;
};

}  // namespace kubemend::executor::testing
