// GitOps mode's I/O: Debian's git as a child process, and GitHub's pull
// request API over libcurl. Neither ever puts the token into argv, a log line
// or an error message.
#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "gitops.h"

extern char** environ;

namespace kubemend::executor {

using nlohmann::json;

namespace {

std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {k[(n >> 18) & 63], k[(n >> 12) & 63], k[(n >> 6) & 63], k[n & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += {k[(n >> 18) & 63], k[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {k[(n >> 18) & 63], k[(n >> 12) & 63], k[(n >> 6) & 63], '='};
  }
  return out;
}

class ProcessGitRunner final : public GitRunner {
 public:
  ProcessGitRunner(std::string token, Millis timeout) : token_(std::move(token)), timeout_(timeout) {}

  absl::StatusOr<std::string> Git(const std::string& dir, const std::vector<std::string>& args) override {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "GIT_", 4) != 0) {
        env.emplace_back(*e);
      }
    }
    env.emplace_back("GIT_TERMINAL_PROMPT=0");
    env.emplace_back("GIT_ASKPASS=/bin/true");
    if (!token_.empty()) {
      // Sent only to https remotes; file:// and ssh ignore it.
      env.emplace_back("GIT_CONFIG_COUNT=1");
      env.emplace_back("GIT_CONFIG_KEY_0=http.extraHeader");
      env.emplace_back("GIT_CONFIG_VALUE_0=Authorization: Basic " + Base64("x-access-token:" + token_));
    }
    std::vector<char*> envp;
    for (auto& e : env) {
      envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    std::vector<std::string> argv_s = {"git"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      return absl::InternalError(std::string("pipe: ") + std::strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
      close(fds[0]);
      close(fds[1]);
      return absl::InternalError(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
      setpgid(0, 0);
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      int devnull = open("/dev/null", O_RDONLY);
      if (devnull >= 0) {
        dup2(devnull, 0);
      }
      if (chdir(dir.c_str()) != 0) {
        _exit(126);
      }
      execvpe("git", argv.data(), envp.data());
      _exit(127);
    }
    close(fds[1]);
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    bool timed_out = false;
    char buf[4096];
    while (true) {
      auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      pollfd p{fds[0], POLLIN, 0};
      int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
      if (r < 0 && errno == EINTR) {
        continue;
      }
      if (r <= 0) {
        continue;
      }
      ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      if (out.size() < (1u << 20)) {
        out.append(buf, static_cast<size_t>(n));
      }
    }
    close(fds[0]);
    if (timed_out) {
      kill(-pid, SIGKILL);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    std::string what = "git " + (args.empty() ? std::string() : args[0]);
    if (timed_out) {
      return absl::DeadlineExceededError(what + ": no answer within " + std::to_string(timeout_.count()) + " ms");
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        return absl::FailedPreconditionError(what + ": git is not installed (Debian: apt-get install git)");
      }
      while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
        out.pop_back();
      }
      return absl::UnavailableError(what + " failed (exit " + std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : -1) +
                                    "): " + out.substr(0, 2000));
    }
    return out;
  }

 private:
  std::string token_;
  Millis timeout_;
};

size_t Collect(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

class GitHubForge final : public Forge {
 public:
  GitHubForge(std::string api_url, std::string token, Millis timeout)
      : api_(std::move(api_url)), token_(std::move(token)), timeout_(timeout) {
    while (!api_.empty() && api_.back() == '/') {
      api_.pop_back();
    }
  }

  absl::StatusOr<ForgePull> FindByHead(const std::string& repo, const std::string& branch) override {
    std::string owner = repo.substr(0, repo.find('/'));
    auto r = Call("GET", "/repos/" + repo + "/pulls?state=all&head=" + Escape(owner + ":" + branch), "");
    if (!r.ok()) {
      return r.status();
    }
    if (!r->is_array()) {
      return absl::UnavailableError("GET pulls: the answer is not a list");
    }
    for (const auto& p : *r) {
      // The filter is GitHub's; check it anyway (a forge that ignores it must not fake a match).
      if (p.contains("head") && p["head"].value("ref", "") == branch) {
        return PullOf(p);
      }
    }
    return absl::NotFoundError("no pull request for " + branch);
  }

  absl::StatusOr<ForgePull> Open(const std::string& repo, const std::string& head, const std::string& base,
                                 const std::string& title, const std::string& body) override {
    json req = {{"title", title}, {"head", head}, {"base", base}, {"body", body}, {"maintainer_can_modify", false}};
    auto r = Call("POST", "/repos/" + repo + "/pulls", req.dump());
    if (!r.ok()) {
      return r.status();
    }
    return PullOf(*r);
  }

  absl::StatusOr<ForgePull> Get(const std::string& repo, uint64_t number) override {
    auto r = Call("GET", "/repos/" + repo + "/pulls/" + std::to_string(number), "");
    if (!r.ok()) {
      return r.status();
    }
    return PullOf(*r);
  }

 private:
  static std::string Escape(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
        out.push_back(static_cast<char>(c));
      } else {
        char b[4];
        std::snprintf(b, sizeof b, "%%%02X", c);
        out += b;
      }
    }
    return out;
  }

  static absl::StatusOr<ForgePull> PullOf(const json& p) {
    if (!p.is_object() || !p.contains("number")) {
      return absl::UnavailableError("the forge's answer is not a pull request");
    }
    ForgePull out;
    out.number = p.value("number", uint64_t{0});
    out.url = p.value("html_url", "");
    out.state = p.value("state", "");
    out.merged = p.value("merged", false) || (p.contains("merged_at") && p["merged_at"].is_string());
    if (p.contains("head") && p["head"].is_object()) {
      out.head_sha = p["head"].value("sha", "");
    }
    return out;
  }

  absl::StatusOr<json> Call(const std::string& method, const std::string& path, const std::string& body) {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) {
      return absl::InternalError("curl_easy_init failed");
    }
    std::string url = api_ + path;
    curl_slist* h = nullptr;
    h = curl_slist_append(h, "Accept: application/vnd.github+json");
    h = curl_slist_append(h, "X-GitHub-Api-Version: 2022-11-28");
    h = curl_slist_append(h, "User-Agent: kubemend-executor");
    h = curl_slist_append(h, "Content-Type: application/json");
    std::string auth = "Authorization: Bearer " + token_;
    if (!token_.empty()) {
      h = curl_slist_append(h, auth.c_str());
    }
    std::string answer;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "POST") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(curl);
    std::string what = method + " " + path.substr(0, path.find('?'));
    if (rc != CURLE_OK) {
      return absl::UnavailableError(what + ": " + curl_easy_strerror(rc));
    }
    json j = json::parse(answer, nullptr, false);
    if (status == 401 || status == 403) {
      return absl::PermissionDeniedError(what + ": HTTP " + std::to_string(status) +
                                         " (check the token: executor.gitops.token_file or KUBEMEND_GITOPS_TOKEN)");
    }
    if (status == 404) {
      return absl::NotFoundError(what + ": HTTP 404");
    }
    if (status < 200 || status >= 300) {
      std::string msg = j.is_object() ? j.value("message", "") : "";
      return absl::UnavailableError(what + ": HTTP " + std::to_string(status) + (msg.empty() ? "" : ": " + msg));
    }
    if (j.is_discarded()) {
      return absl::UnavailableError(what + ": the answer is not JSON");
    }
    return j;
  }

  std::string api_;
  std::string token_;
  Millis timeout_;
};

}  // namespace

std::unique_ptr<GitRunner> NewProcessGitRunner(std::string token, Millis timeout) {
  return std::make_unique<ProcessGitRunner>(std::move(token), timeout);
}

std::unique_ptr<Forge> NewGitHubForge(std::string api_url, std::string token, Millis timeout) {
  return std::make_unique<GitHubForge>(std::move(api_url), std::move(token), timeout);
}

}  // namespace kubemend::executor
