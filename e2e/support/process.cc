#include "process.h"

#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

namespace kubemend::e2e {

using Clock = std::chrono::steady_clock;

int FreeLoopbackPort() {
  int low = 10000, high = 32000;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int eph = 0;
  if (range >> eph && eph > low + 1000) {
    high = eph - 1;
  }
  std::mt19937 rng(std::random_device{}());
  for (int i = 0; i < 200; ++i) {
    int p = std::uniform_int_distribution<int>(low, high)(rng);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(p));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (ok) {
      return p;
    }
  }
  return 0;
}

std::pair<int, std::string> HttpGet(const std::string& base, const std::string& path) {
  httplib::Client c(base);
  c.set_connection_timeout(2);
  c.set_read_timeout(10);
  auto r = c.Get(path.c_str());
  return r ? std::make_pair(r->status, r->body) : std::make_pair(0, std::string("connection failed"));
}

std::string Child::Start(const std::vector<std::string>& argv, const std::string& log) {
  if (argv.empty() || !std::filesystem::exists(argv[0])) {
    return "not found: " + (argv.empty() ? std::string("(no command)") : argv[0]);
  }
  pid_ = fork();
  if (pid_ < 0) {
    return "fork failed";
  }
  if (pid_ == 0) {
    setpgid(0, 0);
    FILE* out = freopen(log.c_str(), "a", stdout);
    (void)out;
    dup2(fileno(stdout), fileno(stderr));
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return "";
}

bool Child::Running() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

void Child::Stop() {
  if (pid_ <= 0) {
    return;
  }
  kill(pid_, SIGTERM);
  int st = 0;
  auto end = Clock::now() + std::chrono::seconds(10);
  while (waitpid(pid_, &st, WNOHANG) == 0) {
    if (Clock::now() > end) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  pid_ = -1;
}

}  // namespace kubemend::e2e
