// GitOps mode: the choice (pure), the repository bindings, and the writer
// that turns a change into a commit, a branch and a pull request.
#include "gitops.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "kubemend/common/events.h"
#include "yaml_edit.h"

namespace kubemend::executor {

using nlohmann::json;
namespace fs = std::filesystem;

// ---------------------------------------------------------------- config

namespace {

bool SafeRelative(const std::string& p) {
  if (p.empty()) {
    return true;
  }
  fs::path path(p);
  if (path.is_absolute()) {
    return false;
  }
  for (const auto& part : path) {
    if (part == "..") {
      return false;
    }
  }
  return true;
}

bool KnownMode(const std::string& m) { return m == "off" || m == "auto" || m == "always"; }

}  // namespace

absl::StatusOr<std::vector<GitOpsRepo>> ParseGitOpsRepos(const YAML::Node& node) {
  std::vector<GitOpsRepo> out;
  if (!node || node.IsNull()) {
    return out;
  }
  if (!node.IsSequence()) {
    return absl::InvalidArgumentError("executor.gitops.repos: must be a list of {scope, url, forge_repo, ...}");
  }
  static const std::set<std::string> kKeys = {"scope", "namespace", "url", "forge_repo", "base", "path",
                                              "overlay", "values_file", "values_paths"};
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& e = node[i];
    std::string where = "executor.gitops.repos[" + std::to_string(i) + "]";
    if (!e.IsMap()) {
      return absl::InvalidArgumentError(where + ": must be a mapping");
    }
    GitOpsRepo r;
    try {
      for (const auto& kv : e) {
        std::string k = kv.first.as<std::string>();
        if (!kKeys.count(k)) {
          return absl::InvalidArgumentError(where + ": unknown key " + k);
        }
        if (k == "values_paths") {
          if (!kv.second.IsMap()) {
            return absl::InvalidArgumentError(where + ".values_paths: must be a mapping");
          }
          for (const auto& vp : kv.second) {
            r.values_paths[vp.first.as<std::string>()] = vp.second.as<std::string>();
          }
          continue;
        }
        std::string v = kv.second.IsNull() ? "" : kv.second.as<std::string>();
        if (k == "scope" || k == "namespace") {
          r.scope = v;
        } else if (k == "url") {
          r.url = v;
        } else if (k == "forge_repo") {
          r.forge_repo = v;
        } else if (k == "base") {
          r.base = v;
        } else if (k == "path") {
          r.path = v;
        } else if (k == "overlay") {
          r.overlay = v;
        } else if (k == "values_file") {
          r.values_file = v;
        }
      }
    } catch (const YAML::Exception& ex) {
      return absl::InvalidArgumentError(where + ": " + ex.what());
    }
    out.push_back(std::move(r));
  }
  return out;
}

absl::Status ValidateGitOpsConfig(const GitOpsConfig& cfg) {
  if (!KnownMode(cfg.mode)) {
    return absl::InvalidArgumentError("executor.gitops.mode: \"" + cfg.mode + "\" is not off, auto or always");
  }
  for (const auto& [ns, m] : cfg.namespace_modes) {
    if (!KnownMode(m)) {
      return absl::InvalidArgumentError("executor.gitops.namespaces: " + ns + ": \"" + m +
                                        "\" is not off, auto or always");
    }
  }
  if (cfg.forge != "github") {
    return absl::InvalidArgumentError("executor.gitops.forge: \"" + cfg.forge + "\" is not supported (github)");
  }
  std::set<std::string> scopes;
  for (size_t i = 0; i < cfg.repos.size(); ++i) {
    const GitOpsRepo& r = cfg.repos[i];
    std::string where = "executor.gitops.repos[" + std::to_string(i) + "]";
    if (r.url.empty()) {
      return absl::InvalidArgumentError(where + ".url: required");
    }
    if (r.forge_repo.empty() || std::count(r.forge_repo.begin(), r.forge_repo.end(), '/') != 1) {
      return absl::InvalidArgumentError(where + ".forge_repo: \"" + r.forge_repo + "\" is not owner/name");
    }
    if (r.base.empty() || r.base.find("..") != std::string::npos || r.base[0] == '-') {
      return absl::InvalidArgumentError(where + ".base: \"" + r.base + "\" is not a branch name");
    }
    for (const auto& [key, p] : std::vector<std::pair<std::string, std::string>>{
             {"path", r.path}, {"overlay", r.overlay}, {"values_file", r.values_file}}) {
      if (!SafeRelative(p)) {
        return absl::InvalidArgumentError(where + "." + key + ": \"" + p +
                                          "\" must be relative to the repository and stay inside it");
      }
    }
    if (!scopes.insert(r.scope).second) {
      return absl::InvalidArgumentError(where + ".scope: \"" + r.scope + "\" is bound twice");
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- choice

namespace {

std::string Meta(const json& obj, const char* map, const std::string& key) {
  const json* m = GetField(obj, std::string("metadata.") + map);
  if (m == nullptr || !m->is_object()) {
    return "";
  }
  auto it = m->find(key);
  return it != m->end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string ManagedBy(const json& obj) {
  struct Mark {
    const char* map;
    const char* key;
    const char* who;
  };
  static const Mark kMarks[] = {
      {"labels", "argocd.argoproj.io/instance", "Argo CD"},
      {"annotations", "argocd.argoproj.io/tracking-id", "Argo CD"},
      {"labels", "kustomize.toolkit.fluxcd.io/name", "Flux Kustomization"},
      {"labels", "helm.toolkit.fluxcd.io/name", "Flux HelmRelease"},
  };
  for (const auto& m : kMarks) {
    std::string v = Meta(obj, m.map, m.key);
    if (!v.empty()) {
      return fmt::format("{} ({} {}={})", m.who, std::string(m.map).substr(0, std::string(m.map).size() - 1), m.key, v);
    }
  }
  return "";
}

std::string ChartRendered(const json& obj) {
  if (std::string v = Meta(obj, "labels", "helm.sh/chart"); !v.empty()) {
    return "Helm (label helm.sh/chart=" + v + ")";
  }
  if (std::string v = Meta(obj, "annotations", "meta.helm.sh/release-name"); !v.empty()) {
    return "Helm (annotation meta.helm.sh/release-name=" + v + ")";
  }
  if (Meta(obj, "labels", "app.kubernetes.io/managed-by") == "Helm") {
    return "Helm (label app.kubernetes.io/managed-by=Helm)";
  }
  if (std::string v = Meta(obj, "labels", "helm.toolkit.fluxcd.io/name"); !v.empty()) {
    return "Helm via Flux HelmRelease " + v;
  }
  return "";
}

ViaChoice ChooseVia(const GitOpsConfig& cfg, v1::ApplyVia asked, const std::string& ns, const json& obj) {
  if (asked == v1::APPLY_VIA_LIVE) {
    return {false, "the policy asks for a live change (apply: live)"};
  }
  if (asked == v1::APPLY_VIA_GITOPS) {
    return {true, "the policy asks for a pull request (apply: gitops)"};
  }
  std::string mode = cfg.mode;
  std::string where = "the cluster";
  if (auto it = cfg.namespace_modes.find(ns); it != cfg.namespace_modes.end()) {
    mode = it->second;
    where = "namespace " + ns;
  }
  if (mode == "off") {
    return {false, ""};
  }
  if (mode == "always") {
    return {true, "GitOps mode is always for " + where};
  }
  std::string who = ManagedBy(obj);
  if (!who.empty()) {
    return {true, "managed by " + who};
  }
  return {false, ""};
}

const GitOpsRepo* RepoFor(const GitOpsConfig& cfg, const std::string& ns) {
  const GitOpsRepo* fallback = nullptr;
  for (const auto& r : cfg.repos) {
    if (!ns.empty() && r.scope == ns) {
      return &r;
    }
    if (r.scope.empty()) {
      fallback = &r;
    }
  }
  return fallback;
}

bool ExpressibleInGit(v1::ActionType type) {
  switch (type) {
    case v1::ACTION_TYPE_INCREASE_MEMORY:
    case v1::ACTION_TYPE_SCALE_WORKLOAD:
    case v1::ACTION_TYPE_ROLLBACK_IMAGE:
    case v1::ACTION_TYPE_ADJUST_HPA:
    case v1::ACTION_TYPE_EXPAND_PVC:
      return true;
    default:
      return false;
  }
}

std::string BranchFor(const std::string& action_id) { return "kubemend/" + action_id; }

// ---------------------------------------------------------------- the writer

GitOpsWriter::GitOpsWriter(GitOpsConfig cfg, std::unique_ptr<GitRunner> git, std::unique_ptr<Forge> forge)
    : cfg_(std::move(cfg)), git_(std::move(git)), forge_(std::move(forge)) {
  if (cfg_.cache_dir.empty()) {
    const char* c = std::getenv("KUBEMEND_CACHE");
    const char* home = std::getenv("HOME");
    cfg_.cache_dir = c != nullptr ? std::string(c) + "/gitops"
                     : home != nullptr ? std::string(home) + "/.cache/kubemend/gitops"
                                       : "/tmp/kubemend-gitops";
  }
}

namespace {

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A directory name for a clone: readable and unique per URL.
std::string CloneName(const GitOpsRepo& r) {
  std::string name;
  for (char c : r.forge_repo) {
    name.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_');
  }
  return fmt::format("{}-{:016x}", name, std::hash<std::string>{}(r.url));
}

// True when `p` (after resolving symlinks) is inside the clone `dir`: a
// symlink committed to the repository must not lead the editor elsewhere.
bool InsideClone(const std::string& dir, const fs::path& p) {
  std::error_code ec;
  fs::path root = fs::canonical(dir, ec);
  fs::path real = fs::weakly_canonical(p, ec);
  if (ec) {
    return false;
  }
  auto r = root.begin();
  auto q = real.begin();
  for (; r != root.end(); ++r, ++q) {
    if (q == real.end() || *r != *q) {
      return false;
    }
  }
  return true;
}

bool IsYamlFile(const fs::directory_entry& e) {
  if (!e.is_regular_file() || e.is_symlink()) {
    return false;
  }
  auto ext = e.path().extension().string();
  return (ext == ".yaml" || ext == ".yml") && e.file_size() <= (1u << 20);
}

}  // namespace

absl::StatusOr<std::string> GitOpsWriter::Sync(const GitOpsRepo& repo) {
  std::error_code ec;
  fs::create_directories(cfg_.cache_dir, ec);
  if (ec) {
    return absl::UnavailableError("cannot create executor.gitops.cache_dir " + cfg_.cache_dir + ": " + ec.message());
  }
  std::string dir = cfg_.cache_dir + "/" + CloneName(repo);
  if (!fs::exists(dir + "/.git")) {
    fs::remove_all(dir, ec);
    if (auto out = git_->Git(cfg_.cache_dir, {"clone", "--quiet", "--no-tags", "--", repo.url, dir}); !out.ok()) {
      return out.status();
    }
  } else if (auto out = git_->Git(dir, {"fetch", "--quiet", "--prune", "origin"}); !out.ok()) {
    return out.status();
  }
  return dir;
}

absl::StatusOr<GitOpsWriter::Located> GitOpsWriter::Locate(const std::string& dir, const GitOpsRepo& repo,
                                                           const GitOpsRequest& req) {
  Located loc;
  if (!req.chart.empty()) {
    // No manifest of its own: only the chart's values can change it.
    if (repo.values_file.empty()) {
      return absl::UnimplementedError("chart-rendered: " + req.object_key + " is rendered by " + req.chart +
                                      "; no values file is configured (executor.gitops.repos[].values_file), so "
                                      "no pull request was opened and nothing was changed");
    }
    for (const auto& c : req.changes) {
      std::string key;
      for (const auto& [suffix, values_key] : repo.values_paths) {
        if (c.path.size() >= suffix.size() && c.path.compare(c.path.size() - suffix.size(), suffix.size(), suffix) == 0) {
          key = values_key;
        }
      }
      if (key.empty()) {
        return absl::UnimplementedError("chart-rendered: " + req.object_key + " is rendered by " + req.chart +
                                        "; executor.gitops.repos[].values_paths maps no values key to " + c.path +
                                        ", so no pull request was opened and nothing was changed");
      }
      loc.edits.emplace_back(key, c.after);
    }
    loc.file = repo.values_file;
    loc.doc = 0;
    if (!InsideClone(dir, dir + "/" + loc.file) || fs::is_symlink(dir + "/" + loc.file)) {
      return absl::FailedPreconditionError("values file " + loc.file + " leads outside the repository (symlink)");
    }
    if (!fs::exists(dir + "/" + loc.file)) {
      return absl::NotFoundError("values file " + loc.file + " is not in " + repo.url + " (" + repo.base + ")");
    }
    return loc;
  }
  for (const auto& c : req.changes) {
    loc.edits.emplace_back(c.path, c.after);
  }
  struct Candidate {
    std::string file;
    size_t doc;
    bool exact_ns;
  };
  std::vector<std::string> roots;
  if (!repo.overlay.empty()) {
    roots.push_back(repo.overlay);
  }
  roots.push_back(repo.path.empty() ? "." : repo.path);
  for (size_t r = 0; r < roots.size(); ++r) {
    bool overlay = !repo.overlay.empty() && r == 0;
    fs::path root = fs::path(dir) / roots[r];
    if (!fs::is_directory(root)) {
      return absl::NotFoundError("directory " + roots[r] + " is not in " + repo.url + " (" + repo.base + ")");
    }
    if (!InsideClone(dir, root)) {
      return absl::FailedPreconditionError("directory " + roots[r] + " leads outside the repository (symlink)");
    }
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
      if (it->is_directory() && it->path().filename() == ".git") {
        it.disable_recursion_pending();
        continue;
      }
      if (IsYamlFile(*it)) {
        files.push_back(it->path());
      }
    }
    std::sort(files.begin(), files.end());
    std::vector<Candidate> found;
    for (const auto& f : files) {
      std::string text = ReadFile(f);
      auto docs = yamledit::Documents(text);
      for (size_t d = 0; d < docs.size(); ++d) {
        const auto& doc = docs[d];
        if (doc.kind != req.kind || doc.name != req.name || (!doc.ns.empty() && doc.ns != req.ns)) {
          continue;
        }
        // An overlay's patch counts only if it sets the field (else the base does).
        if (overlay && !yamledit::GetScalar(text, doc, loc.edits.front().first).ok()) {
          continue;
        }
        found.push_back({fs::relative(f, dir).string(), d, !doc.ns.empty()});
      }
    }
    if (found.empty()) {
      continue;
    }
    bool any_exact = std::any_of(found.begin(), found.end(), [](const Candidate& c) { return c.exact_ns; });
    std::erase_if(found, [&](const Candidate& c) { return any_exact && !c.exact_ns; });
    if (found.size() > 1) {
      std::string names;
      for (const auto& c : found) {
        names += (names.empty() ? "" : ", ") + c.file;
      }
      return absl::FailedPreconditionError("ambiguous: " + req.object_key + " is defined in " + names +
                                           "; set executor.gitops.repos[].path or overlay to one of them");
    }
    loc.file = found.front().file;
    loc.doc = found.front().doc;
    return loc;
  }
  return absl::NotFoundError("no manifest for " + req.kind + " " + req.ns + "/" + req.name + " under " +
                             (repo.overlay.empty() ? "" : repo.overlay + " or ") + (repo.path.empty() ? "." : repo.path) +
                             " in " + repo.url + " (" + repo.base + ")");
}

namespace {
// A Markdown table cell: a "|" would end it.
std::string Cell(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '|') {
      out += "\\|";
    } else if (c != '\n') {
      out.push_back(c);
    }
  }
  return out;
}
}  // namespace

std::string GitOpsWriter::Body(const GitOpsRequest& req, const GitOpsRepo& repo, const std::string& file,
                               const std::string& diff) const {
  std::string b;
  b += fmt::format("kubemend proposes **{}** on `{}` to fix incident `{}`.\n\n", req.action_name, req.object_key,
                   req.incident_id);
  if (!req.managed_by.empty()) {
    b += fmt::format("The object is managed by {}: a live change would be reverted, so the fix comes as this pull "
                     "request. Merging it lets the GitOps controller apply it; kubemend then watches the live object "
                     "and records whether the incident is fixed.\n\n",
                     req.managed_by);
  }
  b += "### Why\n\n" + (req.why.empty() ? std::string("(no reason given)") : req.why) + "\n\n";
  if (!req.evidence.empty()) {
    b += "### Evidence\n\n| fact | value |\n| --- | --- |\n";
    for (const auto& [k, v] : req.evidence) {
      b += fmt::format("| {} | {} |\n", Cell(k), Cell(v));
    }
    b += "\n";
  }
  b += "### Approved by\n\n" + req.rule + (req.policy.empty() ? "" : " (policy " + req.policy + ")") + "\n\n";
  b += "### Change\n\n| field | before | after |\n| --- | --- | --- |\n";
  for (const auto& c : req.changes) {
    b += fmt::format("| `{}` | {} | {} |\n", Cell(c.path), c.before.empty() ? "(unset)" : Cell(c.before), Cell(c.after));
  }
  b += fmt::format("\nIn `{}` (branch `{}`):\n\n```diff\n{}```\n\n", file, repo.base, diff);
  b += "### Incident\n\n";
  if (!cfg_.console_url.empty()) {
    b += fmt::format("- console: {}/#/incident/{}\n", cfg_.console_url, req.incident_id);
  }
  b += fmt::format("- trail: `kubemendctl audit incident {}`\n", req.incident_id);
  b += fmt::format("- action id: `{}` (one pull request per action id; closing this one unmerged records the action "
                   "as closed)\n",
                   req.action_id);
  return b;
}

GitOpsResult GitOpsWriter::Propose(const GitOpsRequest& req) {
  std::lock_guard<std::mutex> g(mu_);
  GitOpsResult res;
  const GitOpsRepo* repo = RepoFor(cfg_, req.ns);
  if (repo == nullptr) {
    res.error = "GitOps: no repository is configured for namespace " + req.ns +
                " or the cluster (executor.gitops.repos); nothing was changed";
    return res;
  }
  std::string branch = BranchFor(req.action_id);
  auto pull_of = [&](const ForgePull& p, const std::string& file, const std::string& sha) {
    v1::PullRequest pr;
    pr.set_url(p.url);
    pr.set_repository(repo->forge_repo);
    pr.set_number(p.number);
    pr.set_branch(branch);
    pr.set_base(repo->base);
    pr.set_file(file);
    pr.set_commit(sha.empty() ? p.head_sha : sha);
    return pr;
  };
  // The fence's second half: a pull request for this action id may exist
  // from before a crash that lost its outcome. Never open a second one.
  auto existing = forge_->FindByHead(repo->forge_repo, branch);
  if (existing.ok()) {
    res.status = v1::OUTCOME_STATUS_PENDING_MERGE;
    res.pull = pull_of(*existing, "", "");
    res.detail = fmt::format("pull request #{} for action id {} exists already ({}): not opened again", existing->number,
                             req.action_id, existing->url);
    return res;
  }
  if (existing.status().code() != absl::StatusCode::kNotFound) {
    res.error = "forge: " + std::string(existing.status().message());
    return res;
  }
  auto dir = Sync(*repo);
  if (!dir.ok()) {
    res.error = "git: " + std::string(dir.status().message());
    return res;
  }
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"checkout", "--quiet", "--force", "-B", branch, "origin/" + repo->base},
        std::vector<std::string>{"clean", "-fdxq"}}) {
    if (auto out = git_->Git(*dir, args); !out.ok()) {
      res.error = "git: " + std::string(out.status().message());
      return res;
    }
  }
  auto loc = Locate(*dir, *repo, req);
  if (!loc.ok()) {
    if (loc.status().code() == absl::StatusCode::kUnimplemented) {
      res.status = v1::OUTCOME_STATUS_SKIPPED;
      res.error = std::string(loc.status().message());
      res.detail = "not changed: chart-rendered object without a values mapping";
      return res;
    }
    res.error = "GitOps: " + std::string(loc.status().message());
    return res;
  }
  fs::path path = fs::path(*dir) / loc->file;
  std::string before = ReadFile(path);
  std::string text = before;
  for (const auto& [field, value] : loc->edits) {
    auto docs_now = yamledit::Documents(text);
    if (loc->doc >= docs_now.size()) {
      res.error = "GitOps: " + loc->file + " has no document " + std::to_string(loc->doc);
      return res;
    }
    auto edited = yamledit::SetScalar(text, docs_now[loc->doc], field, value);
    if (!edited.ok()) {
      res.error = fmt::format("GitOps: cannot edit {} in {}: {}", field, loc->file, std::string(edited.status().message()));
      return res;
    }
    text = *edited;
  }
  if (text == before) {
    res.error = "GitOps: " + loc->file + " already holds these values; the live object differs from Git (the "
                "GitOps controller has not synced it yet?); no pull request opened";
    return res;
  }
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::string title = fmt::format("kubemend: {} on {} (incident {})", req.action_name, req.object_key,
                                  req.incident_id.substr(0, 8));
  std::string message = title + "\n\nkubemend action id: " + req.action_id + "\nincident: " + req.incident_id +
                        "\napproved by: " + req.rule + "\n";
  std::string sha;
  std::string diff;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"add", "--", loc->file},
        std::vector<std::string>{"-c", "user.name=" + cfg_.author_name, "-c", "user.email=" + cfg_.author_email,
                                 "commit", "--quiet", "--no-verify", "-m", message}}) {
    if (auto out = git_->Git(*dir, args); !out.ok()) {
      res.error = "git: " + std::string(out.status().message());
      return res;
    }
  }
  if (auto out = git_->Git(*dir, {"rev-parse", "HEAD"}); out.ok()) {
    sha = out->substr(0, out->find_first_of(" \n"));
  }
  if (auto out = git_->Git(*dir, {"show", "--format=", "--no-color", "--unified=2", "HEAD"}); out.ok()) {
    size_t at = out->find("@@");
    diff = at == std::string::npos ? *out : out->substr(at);
  }
  // The branch is this action's own: a retry after a crash pushes the same change again.
  if (auto out = git_->Git(*dir, {"push", "--quiet", "--force", "origin", branch}); !out.ok()) {
    res.error = "git push: " + std::string(out.status().message());
    return res;
  }
  auto opened = forge_->Open(repo->forge_repo, branch, repo->base, title, Body(req, *repo, loc->file, diff));
  if (!opened.ok()) {
    res.error = "forge: opening the pull request for branch " + branch + " failed: " +
                std::string(opened.status().message());
    return res;
  }
  res.status = v1::OUTCOME_STATUS_PENDING_MERGE;
  res.pull = pull_of(*opened, loc->file, sha);
  res.detail = fmt::format("pull request #{} opened: {} ({} in {})", opened->number, opened->url, loc->file,
                           repo->forge_repo);
  return res;
}

}  // namespace kubemend::executor
