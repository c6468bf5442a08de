// pipeline_bench: the whole stack under load, as processes.
//
// Two phases against one `./kubemend up` stack (its own database and topics):
//  1. latency: alerts at a fixed rate (default 1,000/s); for each, the time
//     from sending the webhook to its outcome row landing in the trail
//     (outcome.ingested_at, the audit transaction's start), p50/p99/max.
//  2. throughput: as many alerts as the stack takes, from several keep-alive
//     connections; signals per second from the first send to the last
//     outcome row.
// Ceilings printed beside the figures, measured in the same run:
//  - plain COPY into a table shaped like audit_events (rows/s), and the
//    audit-bound ceiling = COPY rate / 4 events per signal;
//  - the floor of four broker hops is in TOOLCHAIN.md (~1.2 ms per hop).
// Also the peak RSS of the stack (five services + broker) during load.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "kubemend/common/ids.h"
#include "stack.h"

using namespace kubemend;
using namespace kubemend::e2e;
using Clock = std::chrono::system_clock;

namespace {

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

struct Sent {
  std::string signal_id;
  double sent_epoch_ms;
};

// Every alert is a new pod, so each is its own incident.
std::string Body(int i, const std::string& run) {
  return AlertBody("KubePodCrashLooping",
                   {{"namespace", "bench"}, {"pod", run + "-api-" + std::to_string(i)}},
                   run + "-" + std::to_string(i));
}

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

// Sends `n` alerts over `conns` keep-alive connections, paced at `rate`/s in
// total (0 = as fast as possible).
std::vector<Sent> Send(const std::string& url, int n, int conns, double rate, const std::string& run,
                       std::atomic<bool>* failed) {
  std::vector<std::vector<Sent>> per(conns);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int c = 0; c < conns; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client cl(url);
      cl.set_keep_alive(true);
      cl.set_tcp_nodelay(true);  // no Nagle stalls on small POSTs
      cl.set_read_timeout(30);
      for (int i = c; i < n; i += conns) {
        if (rate > 0) {
          auto due = start + std::chrono::microseconds(static_cast<int64_t>(i * 1e6 / rate));
          std::this_thread::sleep_until(due);
        }
        auto t = Clock::now();
        auto res = cl.Post("/api/v1/alerts", Body(i, run), "application/json");
        if (!res || res->status != 200) {
          *failed = true;
          continue;
        }
        per[c].push_back({IdFromReply(res->body), EpochMs(t)});
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  std::vector<Sent> all;
  for (auto& v : per) {
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

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

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return NAN;
  }
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(std::ceil(p / 100.0 * v.size())) - 1);
  return v[i];
}

double CopyCeiling(const std::string& dsn, int rows) {
  pqxx::connection c(dsn);
  {
    pqxx::work w(c);
    w.exec("CREATE TABLE copy_ceiling AS SELECT event_id, event_type, occurred_at, recorded_at, "
           "producer_service, producer_instance, incident_id, causation_id, trace_id, target_cluster, "
           "target_namespace, target_kind, target_name, target_container, signal_name, action_type, "
           "verdict, rule, outcome_status, policy_name, kafka_topic, kafka_partition, kafka_offset, "
           "payload, payload_json FROM audit_events WITH NO DATA");
    w.exec("ALTER TABLE copy_ceiling ADD PRIMARY KEY (event_id)");
    w.commit();
  }
  std::string payload = "\\x" + std::string(600, 'a');
  std::string json = R"({"event_id":"x","signal":{"name":"KubePodCrashLooping","labels":{"namespace":"bench"}}})";
  auto t0 = std::chrono::steady_clock::now();
  constexpr int kBatch = 2000;
  for (int done = 0; done < rows; done += kBatch) {
    pqxx::work w(c);
    pqxx::stream_to s(w, "copy_ceiling",
                      std::vector<std::string>{"event_id", "event_type", "occurred_at", "recorded_at",
                                               "producer_service", "producer_instance", "incident_id",
                                               "causation_id", "trace_id", "target_cluster",
                                               "target_namespace", "target_kind", "target_name",
                                               "target_container", "signal_name", "action_type",
                                               "verdict", "rule", "outcome_status", "policy_name",
                                               "kafka_topic", "kafka_partition", "kafka_offset",
                                               "payload", "payload_json"});
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

}  // namespace

int main(int argc, char** argv) {
  int latency_n = 5000;
  double latency_rate = 1000;
  int throughput_n = 30000;
  int conns = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--latency-n") latency_n = std::atoi(argv[i + 1]);
    else if (a == "--rate") latency_rate = std::atof(argv[i + 1]);
    else if (a == "--throughput-n") throughput_n = std::atoi(argv[i + 1]);
    else if (a == "--connections") conns = std::atoi(argv[i + 1]);
  }
  // The safety gate's rate limits and the policy's hourly cap would rightly
  // stop a burst of thousands of restarts; the benchmark measures the pipeline.
  for (const char* k : {"KUBEMEND_RATE_LIMITS_PER_TARGET_MAX", "KUBEMEND_RATE_LIMITS_PER_NAMESPACE_MAX",
                        "KUBEMEND_RATE_LIMITS_CLUSTER_MAX", "KUBEMEND_RATE_LIMITS_WORKLOAD_BUDGET_MAX",
                        "KUBEMEND_BLAST_RADIUS_MAX_IN_FLIGHT"}) {
    setenv(k, "0", 0);
  }
  setenv("KUBEMEND_ANALYZER_POLICY_PATHS",
         (std::string(std::getenv("KUBEMEND_ROOT") ? std::getenv("KUBEMEND_ROOT") : ".") +
          "/bench/policies/bench.yaml").c_str(), 0);
  Stack stack;
  std::string err = stack.Up();
  if (!err.empty()) {
    std::cerr << err << "\n";
    return 1;
  }
  std::vector<int> pids;
  for (const char* s : {"collector", "analyzer", "safety-gate", "executor", "audit"}) {
    pids.push_back(stack.Pid(s));
  }
  std::ifstream broker_pid(std::string(std::getenv("KUBEMEND_BENCH_BROKER_PID_FILE") ? std::getenv("KUBEMEND_BENCH_BROKER_PID_FILE") : ""));
  int bpid = 0;
  broker_pid >> bpid;
  std::atomic<long> peak_rss{0};
  std::vector<std::atomic<long>> peak_each(pids.size() + 1);
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling) {
      long total = 0;
      for (size_t i = 0; i < pids.size(); ++i) {
        long r = RssKiB(pids[i]);
        total += r;
        peak_each[i] = std::max(peak_each[i].load(), r);
      }
      if (bpid > 0) {
        long r = RssKiB(bpid);
        total += r;
        peak_each[pids.size()] = std::max(peak_each[pids.size()].load(), r);
      }
      peak_rss = std::max(peak_rss.load(), total);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });

  // Warm-up: group joins, connections, first partition assignments.
  std::atomic<bool> failed{false};
  Send(stack.CollectorUrl(), 200, 2, 0, "warm", &failed);
  WaitForCount(stack.dsn(), "SELECT count(*) FROM audit_events WHERE event_type='outcome'",
               [](long v) { return v >= 200; }, std::chrono::seconds(60));

  // 1. latency at a fixed rate.
  auto sent = Send(stack.CollectorUrl(), latency_n, 4, latency_rate, "lat", &failed);
  WaitForCount(stack.dsn(), "SELECT count(*) FROM audit_events WHERE event_type='outcome'",
               [&](long v) { return v >= 200 + latency_n; }, std::chrono::seconds(120));
  auto landed = OutcomeTimes(stack.dsn());
  std::vector<double> lat;
  for (const auto& s : sent) {
    auto it = landed.find(s.signal_id);
    if (it != landed.end()) lat.push_back(it->second - s.sent_epoch_ms);
  }

  // 2. throughput.
  long before = QueryLong(stack.dsn(), "SELECT count(*) FROM audit_events WHERE event_type='outcome'");
  auto t0 = std::chrono::steady_clock::now();
  auto sent2 = Send(stack.CollectorUrl(), throughput_n, conns, 0, "tp", &failed);
  double send_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  long n = 0;
  WaitForCount(stack.dsn(), "SELECT count(*) FROM audit_events WHERE event_type='outcome'",
               [&](long v) { return v >= before + static_cast<long>(sent2.size()); },
               std::chrono::seconds(300), &n);
  double e2e_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sampling = false;
  sampler.join();

  // Each service's metrics, for finding the slow stage.
  for (const char* svc : {"COLLECTOR", "ANALYZER", "SAFETY_GATE", "EXECUTOR", "AUDIT"}) {
    httplib::Client mc("http://" + stack.Env(std::string("KUBEMEND_") + svc + "_HTTP"));
    if (auto res = mc.Get("/metrics")) {
      std::ofstream(std::string("/tmp/kubemend-bench-metrics-") + svc + ".txt") << res->body;
    }
  }
  double copy_rate = CopyCeiling(stack.dsn(), 100000);
  double ceiling = copy_rate / 4;
  double tp = sent2.size() / e2e_secs;
  std::printf("\n== kubemend pipeline benchmark ==\n");
  std::printf("latency phase: %zu alerts at %.0f/s, %zu outcome rows matched%s\n", sent.size(),
              latency_rate, lat.size(), failed ? " (some webhooks failed!)" : "");
  std::printf("  webhook -> outcome row: p50 %.2f ms  p99 %.2f ms  max %.2f ms   (target p99 <= 11 ms; floor ~4 hops x 1.2 ms = 4.8 ms)\n",
              Percentile(lat, 50), Percentile(lat, 99), Percentile(lat, 100));
  std::printf("throughput phase: %zu alerts over %d connections\n", sent2.size(), conns);
  std::printf("  accepted by the collector: %.0f signals/s\n", sent2.size() / send_secs);
  std::printf("  end to end (last outcome row): %.0f signals/s = %.0f events/s into the trail\n", tp, tp * 4);
  std::printf("  ceiling: plain COPY %.0f rows/s / 4 events per signal = %.0f signals/s -> %.0f %% of ceiling (target >= 50 %%)\n",
              copy_rate, ceiling, 100.0 * tp / ceiling);
  std::printf("peak RSS of the stack (5 services + broker): %.1f MiB (target < 256 MiB)\n",
              peak_rss.load() / 1024.0);
  const char* names[] = {"collector", "analyzer", "safety-gate", "executor", "audit", "broker"};
  std::printf("  peak per process (MiB):");
  for (size_t i = 0; i < 6; ++i) {
    std::printf(" %s %.1f", names[i], peak_each[i].load() / 1024.0);
  }
  std::printf("\n");
  return 0;
}
