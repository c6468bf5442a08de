#include "fake_forge.h"

#include <httplib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>

namespace kubemend::fake {

using nlohmann::json;

std::string RunGit(const std::vector<std::string>& args, bool* ok) {
  int fds[2];
  *ok = false;
  if (pipe(fds) != 0) {
    return "pipe failed";
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    std::vector<std::string> a = {"git"};
    a.insert(a.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : a) {
      argv.push_back(s.data());
    }
    argv.push_back(nullptr);
    execvp("git", argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  *ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  return out;
}

namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

// The sha of refs/heads/<branch> in a bare repository, or "".
std::string BranchSha(const std::string& bare, const std::string& branch) {
  bool ok = false;
  std::string out = RunGit({"--git-dir=" + bare, "rev-parse", "--verify", "--quiet", "refs/heads/" + branch}, &ok);
  return ok ? Trim(out) : "";
}

}  // namespace

FakeForge::FakeForge(std::map<std::string, std::string> repos, std::string token)
    : repos_(std::move(repos)), token_(std::move(token)), server_(std::make_unique<httplib::Server>()) {}

FakeForge::~FakeForge() { Stop(); }

std::string FakeForge::Json(const std::string& repo, const FakePull& p) const {
  json j = {{"number", p.number},
            {"html_url", base_url() + "/" + repo + "/pull/" + std::to_string(p.number)},
            {"url", base_url() + "/repos/" + repo + "/pulls/" + std::to_string(p.number)},
            {"state", p.state},
            {"merged", p.merged},
            {"merged_at", p.merged ? json("2026-01-01T00:00:00Z") : json(nullptr)},
            {"title", p.title},
            {"body", p.body},
            {"head", {{"ref", p.head}, {"sha", p.head_sha}}},
            {"base", {{"ref", p.base}}}};
  if (p.merged) {
    j["merge_commit_sha"] = p.merge_sha;
  }
  return j.dump();
}

int FakeForge::Start(const std::string& host, int port) {
  // Every API call is recorded; an admin call is not.
  auto api = [this](const httplib::Request& req, httplib::Response& res, auto&& handle) {
    ForgeCall c;
    c.method = req.method;
    c.path = req.path + (req.params.empty() ? "" : "?");
    bool first = true;
    for (const auto& [k, v] : req.params) {
      c.path += (first ? "" : "&") + k + "=" + v;
      first = false;
    }
    c.body = req.body;
    c.authorized = token_.empty() || req.get_header_value("Authorization") == "Bearer " + token_;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (fail_next_ != 0) {
        res.status = fail_next_;
        fail_next_ = 0;
        res.set_content(R"({"message":"Server Error"})", "application/json");
        c.status = res.status;
        calls_.push_back(c);
        return;
      }
    }
    if (!c.authorized) {
      res.status = 401;
      res.set_content(R"({"message":"Bad credentials"})", "application/json");
    } else {
      handle(req, res);
    }
    std::lock_guard<std::mutex> l(mu_);
    c.status = res.status;
    calls_.push_back(c);
  };
  auto repo_of = [](const httplib::Request& req) { return req.matches[1].str() + "/" + req.matches[2].str(); };

  server_->Get(R"(/repos/([^/]+)/([^/]+)/pulls)", [=, this](const httplib::Request& req, httplib::Response& res) {
    api(req, res, [&](const httplib::Request& rq, httplib::Response& rs) {
      std::string repo = repo_of(rq);
      std::string head = rq.get_param_value("head");
      std::string state = rq.has_param("state") ? rq.get_param_value("state") : "open";
      std::string branch = head.substr(head.find(':') == std::string::npos ? 0 : head.find(':') + 1);
      json out = json::array();
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& p : pulls_[repo]) {
        if ((head.empty() || p.head == branch) && (state == "all" || p.state == state)) {
          out.push_back(json::parse(Json(repo, p)));
        }
      }
      rs.set_content(out.dump(), "application/json");
    });
  });
  server_->Get(R"(/repos/([^/]+)/([^/]+)/pulls/(\d+))", [=, this](const httplib::Request& req,
                                                                 httplib::Response& res) {
    api(req, res, [&](const httplib::Request& rq, httplib::Response& rs) {
      std::string repo = repo_of(rq);
      uint64_t n = std::stoull(rq.matches[3].str());
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& p : pulls_[repo]) {
        if (p.number == n) {
          rs.set_content(Json(repo, p), "application/json");
          return;
        }
      }
      rs.status = 404;
      rs.set_content(R"({"message":"Not Found"})", "application/json");
    });
  });
  server_->Post(R"(/repos/([^/]+)/([^/]+)/pulls)", [=, this](const httplib::Request& req, httplib::Response& res) {
    api(req, res, [&](const httplib::Request& rq, httplib::Response& rs) {
      std::string repo = repo_of(rq);
      auto bare = repos_.find(repo);
      json in = json::parse(rq.body, nullptr, false);
      auto unprocessable = [&](const std::string& msg) {
        rs.status = 422;
        rs.set_content(json{{"message", "Validation Failed"}, {"errors", {{{"message", msg}}}}}.dump(),
                       "application/json");
      };
      if (bare == repos_.end()) {
        rs.status = 404;
        rs.set_content(R"({"message":"Not Found"})", "application/json");
        return;
      }
      if (in.is_discarded() || !in.is_object() || !in.contains("head") || !in.contains("base") ||
          !in.contains("title")) {
        return unprocessable("title, head and base are required");
      }
      FakePull p;
      p.title = in.value("title", "");
      p.body = in.value("body", "");
      p.head = in.value("head", "");
      p.base = in.value("base", "");
      p.head_sha = BranchSha(bare->second, p.head);
      if (p.head_sha.empty()) {
        return unprocessable("head " + p.head + " is not a branch");
      }
      if (BranchSha(bare->second, p.base).empty()) {
        return unprocessable("base " + p.base + " is not a branch");
      }
      std::lock_guard<std::mutex> l(mu_);
      auto& list = pulls_[repo];
      for (const auto& q : list) {
        if (q.head == p.head && q.state == "open") {
          return unprocessable("A pull request already exists for " + p.head + ".");
        }
      }
      p.number = list.size() + 1;
      list.push_back(p);
      rs.status = 201;
      rs.set_content(Json(repo, p), "application/json");
    });
  });
  server_->Post(R"(/_admin/([^/]+)/([^/]+)/pulls/(\d+)/(merge|close))",
                [=, this](const httplib::Request& req, httplib::Response& res) {
                  std::string repo = repo_of(req);
                  uint64_t n = std::stoull(req.matches[3].str());
                  std::string err = req.matches[4].str() == "merge" ? Merge(repo, n) : Close(repo, n);
                  res.status = err.empty() ? 200 : 409;
                  res.set_content(err, "text/plain");
                });
  server_->Get("/_admin/calls", [this](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const auto& c : Calls()) {
      out.push_back({{"method", c.method}, {"path", c.path}, {"body", c.body}, {"authorized", c.authorized},
                     {"status", c.status}});
    }
    res.set_content(out.dump(), "application/json");
  });
  port_ = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (port_ < 0) {
    return -1;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return port_;
}

void FakeForge::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

std::string FakeForge::Merge(const std::string& repo, uint64_t number) {
  auto bare = repos_.find(repo);
  if (bare == repos_.end()) {
    return "unknown repository " + repo;
  }
  FakePull p;
  {
    std::lock_guard<std::mutex> l(mu_);
    bool found = false;
    for (const auto& q : pulls_[repo]) {
      if (q.number == number) {
        p = q;
        found = true;
      }
    }
    if (!found || p.state != "open") {
      return "pull request #" + std::to_string(number) + " is not open";
    }
  }
  // A worktree of the bare repository on base: the merge moves base itself.
  std::string wt = std::filesystem::temp_directory_path() /
                   ("fake-forge-merge-" + std::to_string(std::random_device{}()));
  bool ok = false;
  std::string out = RunGit({"--git-dir=" + bare->second, "worktree", "add", "--quiet", wt, p.base}, &ok);
  if (!ok) {
    return "worktree: " + out;
  }
  out = RunGit({"-C", wt, "-c", "user.name=fake-forge", "-c", "user.email=forge@localhost", "merge", "--no-ff",
                "--quiet", "-m", "Merge pull request #" + std::to_string(number) + " from " + p.head, p.head},
               &ok);
  std::string sha = ok ? Trim(RunGit({"-C", wt, "rev-parse", "HEAD"}, &ok)) : "";
  bool removed = false;
  RunGit({"--git-dir=" + bare->second, "worktree", "remove", "--force", wt}, &removed);
  if (sha.empty()) {
    return "merge: " + out;
  }
  std::lock_guard<std::mutex> l(mu_);
  for (auto& q : pulls_[repo]) {
    if (q.number == number) {
      q.state = "closed";
      q.merged = true;
      q.merge_sha = sha;
    }
  }
  return "";
}

std::string FakeForge::Close(const std::string& repo, uint64_t number) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& q : pulls_[repo]) {
    if (q.number == number && q.state == "open") {
      q.state = "closed";
      return "";
    }
  }
  return "pull request #" + std::to_string(number) + " is not open";
}

void FakeForge::FailNext(int status) {
  std::lock_guard<std::mutex> l(mu_);
  fail_next_ = status;
}

std::vector<ForgeCall> FakeForge::Calls() const {
  std::lock_guard<std::mutex> l(mu_);
  return calls_;
}

std::vector<FakePull> FakeForge::Pulls(const std::string& repo) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = pulls_.find(repo);
  return it == pulls_.end() ? std::vector<FakePull>{} : it->second;
}

}  // namespace kubemend::fake
