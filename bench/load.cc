#include "load.h"

#include <httplib.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>

#include "stack.h"

namespace kubemend::bench {
namespace {

using Clock = std::chrono::system_clock;

double EpochMs(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(t.time_since_epoch()).count();
}

std::string IdFromReply(const std::string& body) {
  auto p = body.find("\"event_ids\":[\"");
  if (p == std::string::npos) {
    return "";
  }
  p += 14;
  return body.substr(p, body.find('"', p) - p);
}

// Every alert is a new pod, so each is its own incident.
std::string Body(int i, const std::string& run) {
  return e2e::AlertBody("KubePodCrashLooping",
                        {{"namespace", "bench"}, {"pod", run + "-api-" + std::to_string(i)}},
                        run + "-" + std::to_string(i));
}

long RssKiB(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stol(line.substr(6));
    }
  }
  return 0;
}

}  // namespace

LoadResult SendAlerts(const std::string& url, int n, int conns, double rate, const std::string& run) {
  LoadResult out;
  std::mutex mu;
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int c = 0; c < conns; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client cl(url);
      cl.set_keep_alive(true);
      cl.set_tcp_nodelay(true);  // no Nagle stalls on small POSTs
      cl.set_read_timeout(30);
      std::vector<Sent> mine;
      int failed = 0;
      std::string why;
      for (int i = c; i < n; i += conns) {
        auto origin = Clock::now();
        if (rate > 0) {
          origin = start + std::chrono::microseconds(static_cast<int64_t>(i * 1e6 / rate));
          std::this_thread::sleep_until(origin);
        }
        auto res = cl.Post("/api/v1/alerts", Body(i, run), "application/json");
        std::string id = res && res->status == 200 ? IdFromReply(res->body) : "";
        if (id.empty()) {
          ++failed;
          if (why.empty()) {
            why = res ? "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200)
                      : "no answer: " + httplib::to_string(res.error());
          }
          continue;
        }
        mine.push_back({id, EpochMs(origin)});
      }
      std::lock_guard lock(mu);
      out.accepted.insert(out.accepted.end(), mine.begin(), mine.end());
      out.failed += failed;
      if (out.first_failure.empty()) {
        out.first_failure = why;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return NAN;
  }
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(std::ceil(p / 100.0 * v.size())) - 1);
  return v[i];
}

double CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto p = all.rfind(')');  // the command name may hold spaces
  if (p == std::string::npos) {
    return 0;
  }
  std::istringstream f(all.substr(p + 2));
  std::string field;
  double utime = 0;
  double stime = 0;
  // After ")": state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && f >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

RssSampler::RssSampler(std::vector<int> pids) : pids_(std::move(pids)), peak_(pids_.size()) {
  thread_ = std::thread([this] {
    while (run_) {
      long total = 0;
      for (size_t i = 0; i < pids_.size(); ++i) {
        long r = pids_[i] > 0 ? RssKiB(pids_[i]) : 0;
        total += r;
        peak_[i] = std::max(peak_[i].load(), r);
      }
      peak_total_ = std::max(peak_total_.load(), total);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
}

RssSampler::~RssSampler() { Stop(); }

void RssSampler::Stop() {
  run_ = false;
  if (thread_.joinable()) {
    thread_.join();
  }
}

Profiler::Profiler(std::string dir, std::map<std::string, int> pids) : dir_(std::move(dir)) {
  // perf record cannot create the directory: without this a --profile to a
  // new path printed empty profiles.
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  for (const auto& [name, pid] : pids) {
    std::string out = dir_ + "/" + name + ".perf.data";
    std::string p = std::to_string(pid);
    pid_t child = fork();
    if (child == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      // KUBEMEND_BENCH_PERF_CALLGRAPH=dwarf records call chains too (the
      // services have no frame pointers): read them with
      // `perf report --children -i DIR/<service>.perf.data`.
      std::vector<const char*> args = {"perf", "record", "-F", "499", "-o", out.c_str(), "-p", p.c_str()};
      const char* cg = std::getenv("KUBEMEND_BENCH_PERF_CALLGRAPH");
      if (cg && *cg) {
        args.push_back("--call-graph");
        args.push_back(cg);
      }
      args.push_back(nullptr);
      execvp("perf", const_cast<char* const*>(args.data()));
      _exit(127);
    }
    if (child > 0) {
      perf_pids_[name] = child;
    }
  }
}

void Profiler::Stop() {
  for (const auto& [name, pid] : perf_pids_) {
    kill(pid, SIGINT);
  }
  for (const auto& [name, pid] : perf_pids_) {
    int status = 0;
    waitpid(pid, &status, 0);
  }
}

void Profiler::Report(int top) const {
  std::printf("\nprofile (perf record -F 499 -p PID during the throughput phase; self time, top %d):\n", top);
  for (const auto& [name, pid] : perf_pids_) {
    std::string cmd = "perf report --stdio --no-children --sort dso,symbol -i " + dir_ + "/" + name +
                      ".perf.data 2>/dev/null | grep -v '^#' | grep -v '^$' | head -" +
                      std::to_string(top) + " | sed 's/  *- *- *$//; s/   */  /g' | cut -c1-150";
    std::printf("  -- %s\n", name.c_str());
    std::fflush(stdout);
    if (std::system(cmd.c_str()) != 0) {
      std::printf("  (perf report failed)\n");
    }
  }
}

}  // namespace kubemend::bench
