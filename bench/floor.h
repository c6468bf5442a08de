#pragma once
// The floor of four broker hops, measured on the broker the benchmark runs
// on: messages paced at a fixed rate through signals -> proposals ->
// decisions -> outcomes -> a last consumer, each hop a kubemend
// BatchConsumer relaying with the common Producer (the services' own
// settings), doing nothing else. Latency of each message from its scheduled
// send time to its arrival after the fourth hop.
#include <string>
#include <vector>

namespace kubemend::bench {

struct FloorResult {
  std::vector<double> latencies_ms;  // one per message that arrived
  int sent = 0;
  std::string error;  // non-empty: the measurement did not complete
};

FloorResult MeasureFourHopFloor(const std::string& brokers, int n, double rate);

}  // namespace kubemend::bench
