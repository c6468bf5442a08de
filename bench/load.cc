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

}  // namespace kubemend::bench
