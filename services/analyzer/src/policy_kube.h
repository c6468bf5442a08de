#pragma once
// The adapter between the cluster and the policy store: one watch (list +
// watch, resumed and relisted by kubemend_kube; never a GET loop) per policy
// kind (policy_cr.h), feeding a MapPolicySource, and the status writer that
// PATCHes each object's status subresource from PolicyStatusBook.
//
// Status writes are coalesced: FlushStatus() is called on a timer
// (analyzer.kubernetes.status_interval) and writes at most one merge patch
// per object whose status changed since the last write, however many
// signals, proposals and outcomes arrived in between.
//
// Threads: the watch callbacks run on the watchers' threads; FlushStatus on
// the caller's. Stop() returns once no callback runs any more.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kubemend/kube/client.h"
#include "policy_cr.h"
#include "policy_source.h"

namespace kubemend::analyzer {

struct KubePolicyOptions {
  // Policies here may act anywhere; elsewhere only in their own namespace.
  std::set<std::string> cluster_namespaces{"kubemend"};
  std::string field_manager = "kubemend-analyzer";
  // Called (from a watcher thread) on every watch failure; the watcher retries by itself.
  // A kind whose CRD is not installed (404) is not a failure: see on_info.
  std::function<void(const std::string&)> on_error;
  // A kind whose CRD is not installed is said once through on_info (with what
  // to install), its watch stops, and RecheckAbsent() looks for the CRD again
  // every absent_recheck; on_info says so again when it appears.
  std::function<void(const std::string&)> on_info;
  std::chrono::milliseconds absent_recheck{std::chrono::minutes(10)};
};

class KubePolicySync {
 public:
  KubePolicySync(kube::KubeClient* client, MapPolicySource* source, PolicyStatusBook* book, KubePolicyOptions options)
      : client_(client), source_(source), book_(book), options_(std::move(options)) {}
  ~KubePolicySync() { Stop(); }
  void Start();
  // Waits until every kind was listed once (or its first list failed, e.g.
  // a CRD that is not installed), so the first policy load sees the cluster's
  // policies. False on timeout.
  bool WaitForFirstList(std::chrono::milliseconds timeout);
  void Stop();
  // One round of status writes. Returns how many objects were written;
  // failures (kept pending for the next round) are appended to `errors`.
  int FlushStatus(std::vector<std::string>* errors);
  // Restarts the watch of each kind found without a CRD at least
  // absent_recheck ago (call it on a timer). Returns how many it restarted.
  int RecheckAbsent(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  // The kinds whose CRD was not installed at the last look, sorted.
  std::vector<std::string> AbsentKinds() const;
  uint64_t watch_errors() const { return watch_errors_.load(); }

  static kube::ResourceType TypeOf(const PolicyKind& k);

 private:
  void Watch(const PolicyKind& kind);

  kube::KubeClient* client_;
  MapPolicySource* source_;
  PolicyStatusBook* book_;
  KubePolicyOptions options_;
  void Absent(const PolicyKind& kind, const kube::Error& e);
  void Present(const PolicyKind& kind);

  // watch_mu_ is never held while a watcher is stopped and waited for (its
  // callbacks take it).
  mutable std::mutex watch_mu_;
  std::map<std::string, std::unique_ptr<kube::Watcher>> watchers_;  // by kind
  std::map<std::string, std::chrono::steady_clock::time_point> absent_;  // kind -> found absent at
  std::atomic<uint64_t> watch_errors_{0};
  std::mutex first_mu_;
  std::condition_variable first_cv_;
  std::set<std::string> first_done_;  // kinds listed (or failed) once
  void FirstDone(const std::string& kind);
};

}  // namespace kubemend::analyzer
