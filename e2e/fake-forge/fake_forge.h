#pragma once
// A scripted stand-in for GitHub's pull request API, backed by real bare Git
// repositories on disk, for the executor's GitOps tests.
//
// Answers like GitHub (REST v3, the fields the executor reads):
//   GET  /repos/{owner}/{name}/pulls?state=all&head={owner}:{branch}
//   POST /repos/{owner}/{name}/pulls   {title, head, base, body}
//        422 when head or base is not a branch of the bare repository, or a
//        pull request for head is open already (GitHub's own rule)
//   GET  /repos/{owner}/{name}/pulls/{number}
// With a token set, every call without "Authorization: Bearer <token>" is 401.
//
// What a test does to it (and what a human does on GitHub):
//   Merge(repo, n)  merges head into base in the bare repository (git merge
//                   --no-ff in a temporary worktree), state closed, merged true
//   Close(repo, n)  closes it unmerged
// and the same over HTTP: POST /_admin/{owner}/{name}/pulls/{n}/merge|close.
// Calls() / GET /_admin/calls: every API call with method, path, body and
// whether it was authorised. FailNext(status) answers the next API call with
// that status (GitHub outage).
#include <memory>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace kubemend::fake {

struct ForgeCall {
  std::string method;
  std::string path;  // with query
  std::string body;
  bool authorized = false;
  int status = 0;
};

struct FakePull {
  uint64_t number = 0;
  std::string title, body, head, base, state = "open";
  bool merged = false;
  std::string head_sha;
  std::string merge_sha;
};

class FakeForge {
 public:
  // `repos`: "owner/name" -> path of a bare repository.
  explicit FakeForge(std::map<std::string, std::string> repos, std::string token = "");
  ~FakeForge();
  int Start(const std::string& host = "127.0.0.1", int port = 0);  // the bound port, or -1
  void Stop();
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // "" on success, else what went wrong.
  std::string Merge(const std::string& repo, uint64_t number);
  std::string Close(const std::string& repo, uint64_t number);
  void FailNext(int status);
  std::vector<ForgeCall> Calls() const;
  std::vector<FakePull> Pulls(const std::string& repo) const;

 private:
  std::string Json(const std::string& repo, const FakePull& p) const;
  std::map<std::string, std::string> repos_;
  std::string token_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = -1;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<FakePull>> pulls_;
  std::vector<ForgeCall> calls_;
  int fail_next_ = 0;
};

// Runs `git args...` (no shell); returns stdout+stderr, or "" and sets *ok=false.
std::string RunGit(const std::vector<std::string>& args, bool* ok);

}  // namespace kubemend::fake
