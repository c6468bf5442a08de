#pragma once
// Child processes and loopback helpers for e2e tests that run third-party servers
// (Prometheus, Alertmanager, kube-state-metrics, ...) beside a stack.
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace kubemend::e2e {

// One child process (its own process group), stdout+stderr appended to a log file.
class Child {
 public:
  // Empty string on success, else why not (argv[0] must be a path to an executable).
  std::string Start(const std::vector<std::string>& argv, const std::string& log);
  void Stop();  // SIGTERM, up to 10 s, then SIGKILL
  bool Running() const;
  ~Child() { Stop(); }

 private:
  pid_t pid_ = -1;
};

// A free loopback port below the kernel's ephemeral range, for servers that cannot be told to
// take port 0 and report it (Prometheus, Alertmanager). 0 when none was found.
int FreeLoopbackPort();

// GET base+path; {status, body}; status 0 when the connection failed.
std::pair<int, std::string> HttpGet(const std::string& base, const std::string& path);

}  // namespace kubemend::e2e
