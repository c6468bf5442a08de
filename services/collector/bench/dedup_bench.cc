// What the dedup state costs per published signal (bench/README.md):
// DedupStore::Record with its state file (one appended line + fflush, i.e.
// one write(2) per signal) against the same store in memory only, and
// ShouldPublish. Not a test; run by hand: build/services/collector/dedup_bench [N]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "dedup.h"

using namespace kubemend;
using namespace kubemend::collector;

namespace {

double NsPer(const std::function<void(int)>& fn, int n) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    fn(i);
  }
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / n;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 100'000;
  const std::string path = "/tmp/kubemend-dedup-bench-" + std::to_string(getpid());
  std::printf("in the loop: DedupStore alone (no broker, no HTTP); %d fresh fingerprints, state file %s\n", n,
              path.c_str());
  for (const bool with_file : {false, true}) {
    auto store = DedupStore::Open(with_file ? path : "", DedupStore::Limits{}, SystemClock::Instance());
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
      return 1;
    }
    auto& s = **store;
    const double should = NsPer(
        [&](int i) { (void)s.ShouldPublish("bench-fp-" + std::to_string(i), v1::SIGNAL_STATUS_FIRING, 1); }, n);
    const double record = NsPer(
        [&](int i) { (void)s.Record("bench-fp-" + std::to_string(i), v1::SIGNAL_STATUS_FIRING, 1); }, n);
    const char* what = with_file ? "file" : "memory";
    std::printf("%-6s ShouldPublish %7.0f ns  Record %7.0f ns per signal\n", what, should, record);
    std::printf("RESULT dedup_record_ns_%s %.0f\n", what, record);
  }
  unlink(path.c_str());
  unlink((path + ".tmp").c_str());
  return 0;
}
