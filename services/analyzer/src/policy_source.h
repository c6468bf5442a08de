#pragma once
// Where policy documents come from. A PolicySource hands out the complete
// current set of units (origin + YAML text); PolicyStore (policy.h) parses,
// validates and diffs them. Two sources:
//   - FilePolicySource: files and folders (*.yaml, *.yml, *.json, not
//     recursive), re-read when a file's mtime or size changes; removed files
//     remove their policies.
//   - MapPolicySource: a thread-safe map that a watcher fills. The custom
//     resource watcher (policy_kube.h) Upserts a unit per object
//     ("kube:<Kind>/<ns>/<name>", its JSON) on ADDED/MODIFIED, Removes it on
//     DELETED, and Replaces a kind's whole set after a (re)list. JSON is
//     YAML, so the CR's JSON goes through the same parser and validation as
//     files.
// Snapshot() is called from the policy reload thread.
#include <absl/status/statusor.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "policy.h"

namespace kubemend::analyzer {

class PolicySource {
 public:
  virtual ~PolicySource() = default;
  virtual std::string Describe() const = 0;
  // Fails (Unavailable) when the source cannot be read at all; the caller
  // then keeps the last good set.
  virtual absl::StatusOr<std::vector<PolicyUnit>> Snapshot() = 0;
};

class FilePolicySource final : public PolicySource {
 public:
  explicit FilePolicySource(std::vector<std::string> paths) : paths_(std::move(paths)) {}
  std::string Describe() const override;
  absl::StatusOr<std::vector<PolicyUnit>> Snapshot() override;

 private:
  struct Cached {
    int64_t mtime_ns = -1;
    uintmax_t size = 0;
    std::string text;
  };
  std::vector<std::string> paths_;
  std::map<std::string, Cached> cache_;
};

class MapPolicySource final : public PolicySource {
 public:
  explicit MapPolicySource(std::string name) : name_(std::move(name)) {}
  void Upsert(const std::string& origin, std::string text);
  void Upsert(PolicyUnit unit);
  void Remove(const std::string& origin);
  // Every unit whose origin starts with `prefix` is replaced by `units`.
  void Replace(const std::string& prefix, std::vector<PolicyUnit> units);
  std::string Describe() const override { return name_; }
  absl::StatusOr<std::vector<PolicyUnit>> Snapshot() override;

 private:
  std::string name_;
  std::mutex mu_;
  std::map<std::string, PolicyUnit> units_;
};

// Polls every source and applies the union to a store. Not thread-safe; one
// reload thread owns it.
class PolicyReloader {
 public:
  PolicyReloader(std::vector<PolicySource*> sources, PolicyDefaults defaults)
      : sources_(std::move(sources)), store_(std::move(defaults)) {}
  // The changes since the last call (empty when nothing changed). A source
  // that fails keeps its previous units; `errors` says which and why.
  std::vector<PolicyChangeRecord> Poll(std::vector<std::string>* errors);
  std::shared_ptr<const PolicySet> Current() const { return store_.Current(); }
  std::map<std::string, OriginVerdict> Verdicts() const { return store_.Verdicts(); }

 private:
  std::vector<PolicySource*> sources_;
  std::map<PolicySource*, std::vector<PolicyUnit>> last_;
  PolicyStore store_;
};

// The policy versions a previous run announced, from the Control
// PolicyChange events in the log (added/updated set, removed clears).
std::map<std::string, std::string> KnownPolicyVersions(const std::vector<v1::Event>& log,
                                                       const std::string& service);

// For the first load after a restart: drops "added" records for policies the
// log already shows at the same version, turns those at another version into
// "updated", and reports known policies that are gone as "removed", so the
// audit trail shows real changes only.
std::vector<PolicyChangeRecord> AgainstKnown(const std::vector<PolicyChangeRecord>& changes,
                                             const PolicySet& current,
                                             const std::map<std::string, std::string>& known);

}  // namespace kubemend::analyzer
