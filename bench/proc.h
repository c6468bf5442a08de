#pragma once
// What a benchmark measures about processes it did not start itself: CPU
// time from /proc, and perf profiles. Shared by pipeline_bench and the
// audit's audit_bench (linked as bench_proc).
#include <map>
#include <string>

namespace kubemend::bench {

// CPU time (user + system) a process has used so far, in seconds; 0 when gone.
double CpuSeconds(int pid);

// `perf record` attached to each named process while it lives; Stop() ends
// the recordings; Report() prints each process's top symbols (self time).
class Profiler {
 public:
  Profiler(std::string dir, std::map<std::string, int> pids);
  void Stop();
  void Report(int top) const;

 private:
  std::string dir_;
  std::map<std::string, int> perf_pids_;
};

}  // namespace kubemend::bench
