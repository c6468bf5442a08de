// pipeline_bench: the whole stack under load, as processes, next to its
// ceilings measured in the same run.
//
//   bench/run.sh pipeline [--latency-n 5000] [--rate 1000] [--latency-connections 32]
//                         [--throughput-n 30000] [--connections 64] [--profile DIR]
//
// Against one `./kubemend up` stack (its own database and topics on the
// benchmark's Apache Kafka and PostgreSQL):
//  0. the floor of four broker hops on the same broker (floor.h), paced at
//     the latency phase's rate;
//  1. latency: alerts paced at a fixed rate (default 1,000/s); for each, the
//     time from its scheduled send time to its outcome row committed in the
//     trail (outcome.ingested_at), p50/p99/max, beside the floor;
//  2. throughput: as many alerts as the stack takes from several keep-alive
//     connections; signals per second from the first send to the last
//     outcome row, reported only when every accepted alert's row arrived.
//     Each connection waits for its answer (the broker's acknowledgement),
//     so too few connections measure the webhook's round trip, not the
//     pipeline: with 8 the stack was fed ~350/s and its CPU per signal
//     doubled on tiny batches. The run says which of the two set the pace;
//  3. ceiling: plain COPY of trail-shaped rows into a copy of the trail's
//     table, divided by the four trail rows each signal makes.
// The peak RSS of each process (five services + broker) is sampled through
// both load phases. With --profile DIR, `perf record` samples each service
// during the throughput phase and the top symbols are printed.
// Lines starting with "RESULT " are for bench/compare.sh.
#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>
#include <unistd.h>

#include "floor.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/log.h"
#include "load.h"
#include "stack.h"

using namespace kubemend;
using namespace kubemend::bench;
using namespace kubemend::e2e;

namespace {

struct Options {
  int latency_n = 5000;
  double rate = 1000;
  int latency_conns = 32;
  int throughput_n = 30000;
  int conns = 64;
  std::string profile_dir;
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--latency-n") o.latency_n = std::atoi(argv[i + 1]);
    else if (a == "--rate") o.rate = std::atof(argv[i + 1]);
    else if (a == "--latency-connections") o.latency_conns = std::atoi(argv[i + 1]);
    else if (a == "--throughput-n") o.throughput_n = std::atoi(argv[i + 1]);
    else if (a == "--connections") o.conns = std::atoi(argv[i + 1]);
    else if (a == "--profile") o.profile_dir = argv[i + 1];
    else {
      std::cerr << "unknown option " << a << "\n";
      std::exit(2);
    }
  }
  return o;
}

const char* kOutcomes = "SELECT count(*) FROM audit_events WHERE event_type='outcome'";

// outcome.ingested_at per signal id, via the causation chain.
std::map<std::string, double> OutcomeTimes(const std::string& dsn) {
  pqxx::connection c(dsn);
  pqxx::work w(c);
  auto rows = w.exec(
      "SELECT s.event_id::text, extract(epoch from o.ingested_at) * 1000 FROM audit_events o "
      "JOIN audit_events d ON o.causation_id = d.event_id::text "
      "JOIN audit_events p ON d.causation_id = p.event_id::text "
      "JOIN audit_events s ON p.causation_id = s.event_id::text "
      "WHERE o.event_type = 'outcome'");
  std::map<std::string, double> out;
  for (const auto& r : rows) {
    out[r[0].as<std::string>()] = r[1].as<double>();
  }
  return out;
}

const std::vector<std::string> kCopyColumns = {
    "event_id",         "event_type",     "occurred_at",   "recorded_at",     "producer_service",
    "producer_instance", "incident_id",   "causation_id",  "trace_id",        "target_cluster",
    "target_namespace", "target_kind",    "target_name",   "target_container", "signal_name",
    "action_type",      "verdict",        "rule",          "outcome_status",  "policy_name",
    "kafka_topic",      "kafka_partition", "kafka_offset", "payload",         "payload_json"};

double CopyCeiling(const std::string& dsn, int rows) {
  pqxx::connection c(dsn);
  {
    pqxx::work w(c);
    std::string cols;
    for (const auto& k : kCopyColumns) {
      cols += (cols.empty() ? "" : ", ") + k;
    }
    w.exec("CREATE TABLE copy_ceiling AS SELECT " + cols + " FROM audit_events WITH NO DATA");
    w.exec("ALTER TABLE copy_ceiling ADD PRIMARY KEY (event_id)");
    w.commit();
  }
  std::string payload = "\\x" + std::string(600, 'a');
  std::string json = R"({"event_id":"x","signal":{"name":"KubePodCrashLooping","labels":{"namespace":"bench"}}})";
  auto t0 = std::chrono::steady_clock::now();
  constexpr int kBatch = 2000;
  for (int done = 0; done < rows; done += kBatch) {
    pqxx::work w(c);
    pqxx::stream_to s(w, "copy_ceiling", kCopyColumns);
    for (int i = 0; i < kBatch; ++i) {
      s << std::make_tuple(NewUuid(), std::string("signal"), std::string("2026-11-22 10:00:00+00"),
                           std::string("2026-11-22 10:00:00+00"), std::string("collector"),
                           std::string("c-1"), NewUuid(), std::string(""), std::string("abc"),
                           std::string("default"), std::string("bench"), std::string("Pod"),
                           std::string("api-1"), std::string("app"), std::string("KubePodCrashLooping"),
                           std::string(""), std::string(""), std::string(""), std::string(""),
                           std::string(""), std::string("kubemend.signals"), 1, i, payload, json);
    }
    s.complete();
    w.commit();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rows / secs;
}

void PrintLoop(const Stack& stack) {
  std::string kubeconfig = stack.Env("KUBEMEND_KUBECONFIG");
  std::printf("in the loop: broker Apache Kafka (scripts/kafka.sh, KRaft, one node) at %s; "
              "PostgreSQL 15 (fsync=off, synchronous_commit=off); cluster: %s; verification: off "
              "(bench policy verify: false); safety limits: rate limits and blast radius off, "
              "policy cap 1,000,000/h, cooldown 0, analyzer.max_attempt_keys 1,000,000 (the default "
              "20,000 refuses new subjects, fail-closed, once that many were acted on within the loop "
              "window); every signal a new incident\n",
              stack.brokers().c_str(),
              kubeconfig.empty() ? "none (executor record-only: the action is decided and recorded, "
                                   "not applied)"
                                 : kubeconfig.c_str());
}

// The rows of the accepted alerts, each from its origin; the alerts whose
// row did not come are counted by the caller.
std::vector<double> Latencies(const std::string& dsn, const LoadResult& load) {
  auto landed = OutcomeTimes(dsn);
  std::vector<double> lat;
  for (const auto& s : load.accepted) {
    auto it = landed.find(s.signal_id);
    if (it != landed.end()) {
      lat.push_back(it->second - s.origin_ms);
    }
  }
  return lat;
}

void ReportFailures(const char* phase, const LoadResult& r) {
  if (r.failed > 0) {
    std::printf("  %s: %d webhooks FAILED (not counted as accepted); first: %s\n", phase, r.failed,
                r.first_failure.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = ParseArgs(argc, argv);
  InitLogging("bench", "warn", "logfmt");
  // The safety gate's rate limits and the policy's hourly cap would rightly
  // stop a burst of thousands of restarts; the benchmark measures the pipeline.
  for (const char* k : {"KUBEMEND_RATE_LIMITS_PER_TARGET_MAX", "KUBEMEND_RATE_LIMITS_PER_NAMESPACE_MAX",
                        "KUBEMEND_RATE_LIMITS_CLUSTER_MAX", "KUBEMEND_RATE_LIMITS_WORKLOAD_BUDGET_MAX",
                        "KUBEMEND_BLAST_RADIUS_MAX_IN_FLIGHT"}) {
    setenv(k, "0", 0);
  }
  // Every signal is a new subject: past 20,000 of them within the loop
  // window the analyzer's attempt counters are full and it refuses new
  // subjects (at_capacity, fail-closed), which a run of 20,000 met.
  setenv("KUBEMEND_ANALYZER_MAX_ATTEMPT_KEYS", "1000000", 0);
  setenv("KUBEMEND_ANALYZER_POLICY_PATHS",
         (std::string(std::getenv("KUBEMEND_ROOT") ? std::getenv("KUBEMEND_ROOT") : ".") +
          "/bench/policies/bench.yaml").c_str(), 0);
  Stack stack;
  std::string err = stack.Up();
  if (!err.empty()) {
    std::cerr << err << "\n";
    return 1;
  }
  const std::vector<std::string> names = {"collector", "analyzer", "safety-gate", "executor", "audit"};
  std::vector<int> pids;
  for (const auto& s : names) {
    pids.push_back(stack.Pid(s));
  }
  const char* bpf = std::getenv("KUBEMEND_BENCH_BROKER_PID_FILE");
  std::ifstream broker_pid(bpf ? bpf : "");
  int bpid = 0;
  broker_pid >> bpid;
  pids.push_back(bpid);
  int rc = 0;

  // 0. the floor, on the same broker, at the same pace.
  // Its CPU too: the relays' (this process, which does nothing else meanwhile)
  // and the broker's, per message per hop: the client library's and the
  // broker's own floor for a hop at this rate, next to each stage's cost.
  double floor_cpu0 = CpuSeconds(getpid());
  double floor_broker0 = bpid > 0 ? CpuSeconds(bpid) : 0;
  FloorResult floor = MeasureFourHopFloor(stack.brokers(), std::min(opt.latency_n, 3000), opt.rate);
  double floor_relay_cpu = CpuSeconds(getpid()) - floor_cpu0;
  double floor_broker_cpu = bpid > 0 ? CpuSeconds(bpid) - floor_broker0 : 0;

  RssSampler rss(pids);
  // Warm-up: group joins, connections, first partition assignments.
  SendAlerts(stack.CollectorUrl(), 200, 2, 0, "warm");
  WaitForCount(stack.dsn(), kOutcomes, [](long v) { return v >= 200; }, std::chrono::seconds(60));

  // 1. latency at a fixed rate.
  long before = QueryLong(stack.dsn(), kOutcomes);
  std::vector<double> lat_cpu0;
  for (int pid : pids) {
    lat_cpu0.push_back(CpuSeconds(pid));
  }
  LoadResult lat_load = SendAlerts(stack.CollectorUrl(), opt.latency_n, opt.latency_conns, opt.rate, "lat");
  long lat_rows = 0;
  bool lat_done = WaitForCount(stack.dsn(), kOutcomes,
                               [&](long v) { return v >= before + static_cast<long>(lat_load.accepted.size()); },
                               std::chrono::seconds(120), &lat_rows);
  std::vector<double> lat_cpu;
  for (size_t i = 0; i < pids.size(); ++i) {
    lat_cpu.push_back(CpuSeconds(pids[i]) - lat_cpu0[i]);
  }
  auto lat = Latencies(stack.dsn(), lat_load);

  // 2. throughput.
  before = QueryLong(stack.dsn(), kOutcomes);
  std::unique_ptr<Profiler> prof;
  if (!opt.profile_dir.empty()) {
    std::map<std::string, int> named;
    for (size_t i = 0; i < names.size(); ++i) {
      named[names[i]] = pids[i];
    }
    prof = std::make_unique<Profiler>(opt.profile_dir, named);
  }
  std::vector<double> cpu0;
  for (int pid : pids) {
    cpu0.push_back(CpuSeconds(pid));
  }
  auto t0 = std::chrono::steady_clock::now();
  LoadResult tp_load = SendAlerts(stack.CollectorUrl(), opt.throughput_n, opt.conns, 0, "tp");
  long tp_rows = 0;
  bool tp_done = WaitForCount(stack.dsn(), kOutcomes,
                              [&](long v) { return v >= before + static_cast<long>(tp_load.accepted.size()); },
                              std::chrono::seconds(300), &tp_rows);
  double e2e_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> cpu_used;
  for (size_t i = 0; i < pids.size(); ++i) {
    cpu_used.push_back(CpuSeconds(pids[i]) - cpu0[i]);
  }
  rss.Stop();
  if (prof) {
    prof->Stop();  // reported after the figures
  }

  // Each service's metrics, for finding the slow stage.
  for (const char* svc : {"COLLECTOR", "ANALYZER", "SAFETY_GATE", "EXECUTOR", "AUDIT"}) {
    httplib::Client mc("http://" + stack.Env(std::string("KUBEMEND_") + svc + "_HTTP"));
    if (auto res = mc.Get("/metrics")) {
      std::ofstream(std::string("/tmp/kubemend-bench-metrics-") + svc + ".txt") << res->body;
    }
  }
  // 3. the ceiling, on the same PostgreSQL.
  double copy_rate = CopyCeiling(stack.dsn(), 100000);
  double ceiling = copy_rate / 4;

  std::printf("\n== kubemend pipeline benchmark ==\n");
  PrintLoop(stack);
  std::printf("machine: %u cores, load average %s", std::thread::hardware_concurrency(),
              [] { std::ifstream f("/proc/loadavg"); std::string s; std::getline(f, s); return s + "\n"; }().c_str());
  std::printf("floor: %d messages at %.0f/s through four relays on the same broker: ", floor.sent, opt.rate);
  if (!floor.error.empty()) {
    std::printf("NOT MEASURED (%s)\n", floor.error.c_str());
  } else {
    std::printf("p50 %.2f ms  p99 %.2f ms\n", Percentile(floor.latencies_ms, 50),
                Percentile(floor.latencies_ms, 99));
    std::printf("RESULT floor_p50_ms %.3f\nRESULT floor_p99_ms %.3f\n", Percentile(floor.latencies_ms, 50),
                Percentile(floor.latencies_ms, 99));
  }
  double floor99 = floor.error.empty() ? Percentile(floor.latencies_ms, 99) : NAN;
  if (floor.sent > 0) {
    // Per message per hop; the relay figure includes the feeding producer's
    // and the last consumer's share, so it is a little above one hop's.
    double per = 1e6 / (4.0 * floor.sent);
    std::printf("  floor CPU per message per hop (user+system, us): relay %.0f  broker %.0f\n",
                floor_relay_cpu * per, floor_broker_cpu * per);
    std::printf("RESULT floor_cpu_us_per_hop_relay %.1f\nRESULT floor_cpu_us_per_hop_broker %.1f\n",
                floor_relay_cpu * per, floor_broker_cpu * per);
  }

  std::printf("latency phase: %d alerts paced at %.0f/s over %d connections; %zu accepted, %zu outcome rows matched\n",
              opt.latency_n, opt.rate, opt.latency_conns, lat_load.accepted.size(), lat.size());
  ReportFailures("latency", lat_load);
  if (!lat_done) {
    std::printf("  TIMED OUT: %ld of %zu outcome rows after 120 s; the percentiles below cover the rows that came\n",
                lat_rows - before, lat_load.accepted.size());
    rc = 3;
  }
  double p99 = Percentile(lat, 99);
  std::printf("  scheduled send -> outcome row committed: p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
              Percentile(lat, 50), p99, Percentile(lat, 100));
  std::printf("  ceiling: four-hop floor p99 %.2f ms -> p99 = %.1f x floor (target <= 2 x)\n", floor99, p99 / floor99);
  {
    // At the floor's pace, beside its per-hop cost: what each stage spends
    // above a relay that does nothing.
    double n = std::max<size_t>(1, lat_load.accepted.size());
    std::printf("  CPU per signal at this pace (user+system, us):");
    for (size_t i = 0; i < pids.size(); ++i) {
      std::printf(" %s %.0f", i < names.size() ? names[i].c_str() : "broker", 1e6 * lat_cpu[i] / n);
    }
    std::printf("\n");
    for (size_t i = 0; i < pids.size(); ++i) {
      std::printf("RESULT paced_cpu_us_per_signal_%s %.1f\n", i < names.size() ? names[i].c_str() : "broker",
                  1e6 * lat_cpu[i] / n);
    }
  }
  std::printf("RESULT latency_p50_ms %.3f\nRESULT latency_p99_ms %.3f\nRESULT latency_p99_over_floor %.3f\n",
              Percentile(lat, 50), p99, p99 / floor99);

  std::printf("throughput phase: %d alerts over %d connections, %zu accepted\n", opt.throughput_n, opt.conns,
              tp_load.accepted.size());
  ReportFailures("throughput", tp_load);
  std::printf("  accepted by the collector: %.0f signals/s\n", tp_load.accepted.size() / tp_load.seconds);
  std::printf("  ceiling: plain COPY %.0f rows/s / 4 events per signal = %.0f signals/s\n", copy_rate, ceiling);
  std::printf("RESULT copy_rows_per_s %.0f\n", copy_rate);
  if (tp_done) {
    double tp = tp_load.accepted.size() / e2e_secs;
    std::printf("  end to end (last outcome row): %.0f signals/s = %.0f events/s into the trail -> %.1f %% of ceiling "
                "(target >= 50 %%)\n", tp, tp * 4, 100.0 * tp / ceiling);
    std::printf("RESULT e2e_signals_per_s %.0f\nRESULT e2e_share_of_ceiling %.4f\n", tp, tp / ceiling);
    double fed = tp_load.accepted.size() / tp_load.seconds;
    if (fed < 1.1 * tp) {
      std::printf("  NOT SATURATED: the webhook fed %.0f signals/s, within 10 %% of what came out: the figure is the "
                  "webhook's round trip over %d connections, not the pipeline's capacity; raise --connections\n",
                  fed, opt.conns);
    } else {
      std::printf("  saturated: the webhook fed %.0f signals/s, %.1f x what came out: the pipeline set the pace\n",
                  fed, fed / tp);
    }
  } else {
    std::printf("  TIMED OUT: %ld of %zu outcome rows after 300 s: no throughput figure\n", tp_rows - before,
                tp_load.accepted.size());
    // A refusal is not a slow pipeline: say when a state cap refused signals.
    std::ifstream m("/tmp/kubemend-bench-metrics-ANALYZER.txt");
    for (std::string line; std::getline(m, line);) {
      if (line.rfind("kubemend_analyzer_state_full_total{", 0) == 0 && line.substr(line.rfind(' ') + 1) != "0") {
        std::printf("  (the analyzer refused signals at a state cap: %s)\n", line.c_str());
      }
    }
    rc = 3;
  }
  // CPU per signal holds still on a machine that others load: it is what a
  // change to a hot path moves first.
  double signals = std::max<size_t>(1, tp_load.accepted.size());
  std::printf("CPU per signal in the throughput phase (user+system, us):");
  for (size_t i = 0; i < pids.size(); ++i) {
    std::printf(" %s %.0f", i < names.size() ? names[i].c_str() : "broker", 1e6 * cpu_used[i] / signals);
  }
  std::printf("\n");
  for (size_t i = 0; i < pids.size(); ++i) {
    std::printf("RESULT cpu_us_per_signal_%s %.1f\n", i < names.size() ? names[i].c_str() : "broker",
                1e6 * cpu_used[i] / signals);
  }
  std::printf("peak RSS of the stack (5 services + broker): %.1f MiB (target < 256 MiB; services alone %.1f MiB)\n",
              rss.PeakTotalMiB(), rss.PeakTotalMiB() - rss.PeakMiB(5));
  std::printf("  peak per process (MiB):");
  for (size_t i = 0; i < names.size(); ++i) {
    std::printf(" %s %.1f", names[i].c_str(), rss.PeakMiB(i));
  }
  std::printf(" broker %.1f\n", rss.PeakMiB(5));
  std::printf("RESULT rss_stack_mib %.1f\nRESULT rss_services_mib %.1f\n", rss.PeakTotalMiB(),
              rss.PeakTotalMiB() - rss.PeakMiB(5));
  if (prof) {
    prof->Report(15);
  }
  return rc;
}
