#pragma once
// GitOps mode: where Argo CD or Flux own an object, a live patch is reverted
// within minutes, so the executor changes the manifest in Git instead. An
// approved change becomes one commit on branch kubemend/<action_id> of the
// repository that holds the manifest and a pull request on the forge; the
// outcome is PENDING_MERGE, and a later outcome (same action id) says how it
// ended (Executor::PollPullRequests).
//
// Pieces, each with its own seam:
//  - ChooseVia (pure): live or GitOps, from the action's apply_via (the
//    policy), the namespace's and the cluster's mode, and the tracking
//    labels/annotations Argo CD and Flux put on what they manage.
//  - GitRunner: runs Debian's git in a cache-dir clone (no shell; the token
//    reaches git through the environment, never argv or logs).
//  - Forge: the pull-request API (GitHub's REST API; forge_github.cc).
//  - GitOpsWriter: finds the file and document (yaml_edit.h), edits it,
//    commits, pushes, opens the pull request; never two for one action id.
//
// Threading: GitOpsWriter serialises its git work with one mutex (the clone
// is shared); Forge implementations must be safe to call concurrently.
#include <absl/status/statusor.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kubemend/common/clock.h"
#include "kubemend/v1/events.pb.h"
#include "plan.h"

namespace kubemend::executor {

// One repository binding: the objects of `scope` (a namespace; "" = the
// cluster default) live in `url` under `path`.
struct GitOpsRepo {
  std::string scope;
  std::string url;               // git remote: https://..., ssh, file:///...
  std::string forge_repo;        // owner/name on the forge (pull requests)
  std::string base = "main";     // branch pull requests target
  std::string path = ".";        // directory searched for the manifest
  std::string overlay;           // kustomize overlay directory searched first (its patches win)
  std::string values_file;       // Helm: the values file for chart-rendered objects
  // Helm: the end of a changed field's path -> the values key that sets it,
  // e.g. "containers[app].resources.limits.memory" -> "resources.limits.memory".
  std::map<std::string, std::string> values_paths;
};

struct GitOpsConfig {
  std::string mode = "auto";                        // off | auto | always (cluster-wide)
  std::map<std::string, std::string> namespace_modes;  // namespace -> off | auto | always
  std::vector<GitOpsRepo> repos;
  std::string forge = "github";
  std::string api_url = "https://api.github.com";
  std::string token_file;                           // the forge token; else $KUBEMEND_GITOPS_TOKEN
  std::string cache_dir;                            // clones live here ("" = $KUBEMEND_CACHE/gitops)
  std::string author_name = "kubemend";
  std::string author_email = "kubemend@users.noreply.invalid";
  std::string console_url;                          // incident links in pull requests
  Millis poll_interval{10000};                      // how often open pull requests are looked at
  Millis apply_timeout{1800000};                    // merged, but not live after this long: NOT_FIXED
  Millis git_timeout{120000};                       // one git command
};

// Parses executor.gitops.repos (a YAML sequence of mappings; the
// environment's KUBEMEND_EXECUTOR_GITOPS_REPOS takes the same in flow style);
// InvalidArgument names the entry and key.
absl::StatusOr<std::vector<GitOpsRepo>> ParseGitOpsRepos(const YAML::Node& node);
// Checks modes and bindings; InvalidArgument names the key.
absl::Status ValidateGitOpsConfig(const GitOpsConfig& cfg);

// ---------------------------------------------------------------- choice (pure)

// "Argo CD (label argocd.argoproj.io/instance=shop)" when a GitOps controller
// tracks the object, else "".
std::string ManagedBy(const nlohmann::json& object);
// "Helm (label helm.sh/chart=web-1.2.0)" when the object is chart-rendered.
std::string ChartRendered(const nlohmann::json& object);

struct ViaChoice {
  bool gitops = false;
  std::string reason;  // for the outcome: why this way
};
ViaChoice ChooseVia(const GitOpsConfig& cfg, v1::ApplyVia asked, const std::string& ns, const nlohmann::json& object);

// The actions whose change is declarative (a field of the manifest):
// IncreaseMemory, ScaleWorkload, RollbackImage, AdjustHPA, ExpandPVC. The
// operational ones (restarts, cordon, drain, job cleanup) stay live.
bool ExpressibleInGit(v1::ActionType type);

// The binding for a namespace (its own, else the cluster default); null if none.
const GitOpsRepo* RepoFor(const GitOpsConfig& cfg, const std::string& ns);

// ---------------------------------------------------------------- seams

// Runs git with `args` in `dir`; returns its stdout+stderr or an error
// carrying them. `secret_env` entries are added to git's environment only.
class GitRunner {
 public:
  virtual ~GitRunner() = default;
  virtual absl::StatusOr<std::string> Git(const std::string& dir, const std::vector<std::string>& args) = 0;
};
// Debian's git as a child process; the token (if any) is sent as an HTTP
// Authorization header for https remotes through GIT_CONFIG_* variables.
std::unique_ptr<GitRunner> NewProcessGitRunner(std::string token, Millis timeout);

struct ForgePull {
  uint64_t number = 0;
  std::string url;    // html_url
  std::string state;  // open | closed
  bool merged = false;
  std::string head_sha;
};

class Forge {
 public:
  virtual ~Forge() = default;
  // A pull request (any state) whose head is `branch`; NotFound if none.
  virtual absl::StatusOr<ForgePull> FindByHead(const std::string& repo, const std::string& branch) = 0;
  virtual absl::StatusOr<ForgePull> Open(const std::string& repo, const std::string& head, const std::string& base,
                                         const std::string& title, const std::string& body) = 0;
  virtual absl::StatusOr<ForgePull> Get(const std::string& repo, uint64_t number) = 0;
};
// GitHub's REST API (also what the e2e's fake forge answers). Errors never
// carry the token.
std::unique_ptr<Forge> NewGitHubForge(std::string api_url, std::string token, Millis timeout);

// ---------------------------------------------------------------- the writer

struct GitOpsRequest {
  std::string action_id;
  std::string action_name;  // "IncreaseMemory"
  std::string incident_id;
  std::string object_key;   // Kind/namespace/name of the object the change is for
  std::string kind, ns, name;
  std::vector<Change> changes;
  std::string why;          // the proposal's reason
  std::string rule;         // the rule / approver that approved it
  std::map<std::string, std::string> evidence;  // the proposal's facts
  std::string policy;
  std::string managed_by;   // ManagedBy() of the live object
  std::string chart;        // ChartRendered() of the live object
};

struct GitOpsResult {
  v1::OutcomeStatus status = v1::OUTCOME_STATUS_FAILED;
  v1::PullRequest pull;
  std::string detail;
  std::string error;
};

class GitOpsWriter {
 public:
  GitOpsWriter(GitOpsConfig cfg, std::unique_ptr<GitRunner> git, std::unique_ptr<Forge> forge);

  const GitOpsConfig& config() const { return cfg_; }
  Forge& forge() { return *forge_; }

  // PENDING_MERGE with the pull request; PENDING_MERGE again (detail says
  // so) when a pull request for this action id exists already (a crash
  // between opening and recording it); SKIPPED "chart-rendered: ..." when
  // the object comes from a Helm chart and no values mapping covers the
  // change; FAILED with the reason otherwise.
  GitOpsResult Propose(const GitOpsRequest& req);

 private:
  struct Located {
    std::string file;  // relative to the clone
    size_t doc = 0;
    std::vector<std::pair<std::string, std::string>> edits;  // path in that document -> value
  };
  absl::StatusOr<std::string> Sync(const GitOpsRepo& repo);  // the clone's directory, fetched
  absl::StatusOr<Located> Locate(const std::string& dir, const GitOpsRepo& repo, const GitOpsRequest& req);
  std::string Body(const GitOpsRequest& req, const GitOpsRepo& repo, const std::string& file,
                   const std::string& diff) const;

  GitOpsConfig cfg_;
  std::unique_ptr<GitRunner> git_;
  std::unique_ptr<Forge> forge_;
  std::mutex mu_;
};

// "kubemend/<action_id>"
std::string BranchFor(const std::string& action_id);

}  // namespace kubemend::executor
