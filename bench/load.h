#pragma once
// Webhook load for the pipeline benchmark, and what the benchmark measures
// around it: the stack's RSS (CPU and perf profiles: proc.h).
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "proc.h"

namespace kubemend::bench {

struct Sent {
  std::string signal_id;
  double origin_ms;  // the scheduled send time (paced) or the actual one (unpaced)
};

struct LoadResult {
  std::vector<Sent> accepted;  // answered 200 with an event id
  int failed = 0;              // no answer, or not 200: never counted as accepted
  std::string first_failure;
  double seconds = 0;  // first send to last answer
};

// Sends `n` alerts (each a new pod) over `conns` keep-alive connections.
// With `rate` > 0 the sends are paced at `rate`/s in total and each latency
// starts at its scheduled time, so a stalled server cannot slow the clock
// that measures it (no coordinated omission); `conns` must cover the
// concurrency (rate x latency). With `rate` 0: as fast as the answers come.
LoadResult SendAlerts(const std::string& url, int n, int conns, double rate, const std::string& run);

double Percentile(std::vector<double> v, double p);

// Peak RSS of a set of processes, sampled every 200 ms on its own thread.
class RssSampler {
 public:
  explicit RssSampler(std::vector<int> pids);
  ~RssSampler();
  void Stop();
  double PeakTotalMiB() const { return peak_total_ / 1024.0; }
  double PeakMiB(size_t i) const { return peak_[i] / 1024.0; }

 private:
  std::vector<int> pids_;
  std::vector<std::atomic<long>> peak_;
  std::atomic<long> peak_total_{0};
  std::atomic<bool> run_{true};
  std::thread thread_;
};

}  // namespace kubemend::bench
