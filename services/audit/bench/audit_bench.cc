// Audit ingest benchmark: rows per second from Kafka into the PostgreSQL
// trail (dedup, hash chain, COPY, commit, offset commit: the service's own
// path), next to plain COPY of the same rows into the same table.
//
//   audit_bench --pg-dsn 'host=... user=postgres dbname=postgres'
//               --brokers HOST:PORT [--events 100000] [--batch 2000] [--topic-prefix P]
//               [--profile DIR]
//
// Each phase also prints where its time went: the CPU of this process (the
// audit's side: Kafka client, decode, store thread), of the store thread
// alone, and of the PostgreSQL backend that served it, beside the wall time.
// With --profile DIR, perf records this process and that backend during the
// pipelined phase and prints their top symbols.
//
// audit_bench.sh starts Apache Kafka (scripts/kafka.sh) and creates the
// outcomes topic with 16 partitions, so the audit's consumer gets batches
// from several partitions as in production.
//
// Each phase gets its own fresh database (the trail is append-only). The
// ingest phase pre-fills a topic, then times from the first batch handed to
// the store until the last row is committed.
#include <pqxx/pqxx>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "chain.h"
#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/kafka.h"
#include "kubemend/common/log.h"
#include "proc.h"
#include "store.h"

using namespace kubemend;
using Steady = std::chrono::steady_clock;

namespace {

std::string EnvOr(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string Flag(int argc, char** argv, const std::string& name, const std::string& dflt) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) {
      return argv[i + 1];
    }
  }
  return dflt;
}

v1::Event Sample(int i, const FakeClock& clock) {
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_OUTCOME, {"executor", "executor-1", "0.1.0"}, clock);
  e.set_incident_id(NewUuid());
  e.set_causation_id(NewUuid());
  e.mutable_target()->set_namespace_("ns" + std::to_string(i % 50));
  e.mutable_target()->set_kind("Deployment");
  e.mutable_target()->set_name("workload-" + std::to_string(i % 5000));
  e.mutable_outcome()->set_status(v1::OUTCOME_STATUS_SUCCEEDED);
  e.mutable_outcome()->mutable_action()->set_type(v1::ACTION_TYPE_INCREASE_MEMORY);
  auto* c = e.mutable_outcome()->add_changes();
  c->set_path("spec.template.spec.containers[app].resources.limits.memory");
  c->set_before("256Mi");
  c->set_after("320Mi");
  return e;
}

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// CPU seconds spent by a phase, on each side of the connection.
struct PhaseCpu {
  double process = 0;  // this process: Kafka client, decode + JSON, the store thread
  double writer = 0;   // the thread that wrote to PostgreSQL (store or COPY loop)
  double backend = 0;  // the PostgreSQL backend serving the writes
};

void PrintCpu(const char* phase, double wall, const PhaseCpu& c) {
  std::printf("  %s CPU: audit process %.2fs (writer thread %.2fs), PostgreSQL backend %.2fs, in %.2fs wall\n",
              phase, c.process, c.writer, c.backend, wall);
}

void PrintTimings(const audit::AppendTimings& t) {
  std::printf("  store steps (wall, %lld batches): lock+head %.2fs, dedup %.2fs, hash chain + COPY %.2fs, "
              "commit %.2fs\n",
              static_cast<long long>(t.batches), t.lock_head_s, t.dedup_s, t.copy_s, t.commit_s);
}

std::string FreshDb(const std::string& server, const std::string& tag) {
  std::string db = "bench_" + tag + "_" + NewUuid().substr(0, 8);
  pqxx::connection admin(server);
  pqxx::nontransaction(admin).exec("CREATE DATABASE " + db);
  return server + " dbname=" + db;
}

struct IngestSetup {
  std::string server, brokers, migrations, prefix;
  const std::vector<std::string>* payloads;
  int n = 0;
  int batch = 0;
  std::string profile_dir;  // pipelined phase only
};

// Pre-fills the outcomes topic with every payload.
bool Fill(const KafkaConfig& kc, const std::string& topic, const std::vector<std::string>& payloads) {
  auto producer = Producer::Create(kc, "bench", nullptr);
  if (!producer.ok()) {
    std::cerr << producer.status() << "\n";
    return false;
  }
  auto tracker = std::make_shared<DeliveryTracker>();
  for (size_t i = 0; i < payloads.size(); ++i) {
    (void)(*producer)->Produce(topic, "k" + std::to_string(i % 64), payloads[i], tracker);
  }
  if (auto st = tracker->Wait(std::chrono::seconds(60)); !st.ok()) {
    std::cerr << "publish: " << st << "\n";
    return false;
  }
  return true;
}

// The service's path: Kafka -> BatchConsumer -> RowsFromBatch (decode, JSON)
// -> PgAuditStore::Append (dedup, advisory lock, chain, COPY, commit) ->
// offset commit. `pipelined`: the service's arrangement (main.cc), the next
// batch decoded while this one is written; else both in one handler call
// (the arrangement before issue 17), for comparison in the same run.
double Ingest(const IngestSetup& in, bool pipelined) {
  std::string dsn = FreshDb(in.server, pipelined ? "pipelined" : "serial");
  KafkaConfig kc;
  kc.brokers = in.brokers;
  kc.topic_prefix = in.prefix + (pipelined ? "p." : "s.");
  kc.group_id = kc.topic_prefix + "audit";
  kc.properties = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "1000"},
                   {"fetch.wait.max.ms", "10"}, {"fetch.error.backoff.ms", "10"}};
  std::string topic = TopicName(kc, Topic::kOutcomes);
  if (!Fill(kc, topic, *in.payloads)) {
    return 0;
  }
  audit::PgAuditStore store(dsn);
  if (auto st = store.Open(in.migrations); !st.ok()) {
    std::cerr << st << "\n";
    return 0;
  }
  std::atomic<int64_t> stored{0};
  double writer_cpu = 0;
  double decode_s = 0;
  double append_s = 0;
  Steady::time_point first{}, last{};
  std::mutex time_mu;
  const std::string dlq = TopicName(kc, Topic::kDeadLetter);
  BatchConsumer* cptr = nullptr;
  auto prepare = [&](std::span<const InMessage> msgs) -> BatchConsumer::Prepared {
    auto t_decode = Steady::now();
    auto rows = std::make_shared<audit::Rows>(audit::RowsFromBatch(msgs, dlq, "2026-01-01 00:00:00+00"));
    std::lock_guard lock(time_mu);
    if (first == Steady::time_point{}) {
      first = t_decode;
    }
    decode_s += std::chrono::duration<double>(Steady::now() - t_decode).count();
    return rows;
  };
  auto write = [&](std::span<const InMessage>, const BatchConsumer::Prepared& p) -> absl::Status {
    const auto& rows = *static_cast<audit::Rows*>(p.get());
    auto t_append = Steady::now();
    double cpu0 = ThreadCpuSeconds();
    if (auto st = store.Append(rows); !st.ok()) {
      return st;
    }
    std::lock_guard lock(time_mu);
    writer_cpu += ThreadCpuSeconds() - cpu0;
    last = Steady::now();
    append_s += std::chrono::duration<double>(last - t_append).count();
    if ((stored += static_cast<int64_t>(rows.events.size())) >= in.n) {
      cptr->Stop();
    }
    return absl::OkStatus();
  };
  BatchConsumer::Options opts;
  opts.max_batch = static_cast<size_t>(in.batch);
  opts.poll_timeout = std::chrono::milliseconds(10);
  auto consumer =
      pipelined ? BatchConsumer::CreatePipelined(kc, "bench-audit", {topic}, prepare, write, nullptr, opts)
                : BatchConsumer::Create(
                      kc, "bench-audit", {topic},
                      [&](std::span<const InMessage> msgs) { return write(msgs, prepare(msgs)); }, nullptr,
                      opts);
  if (!consumer.ok()) {
    std::cerr << consumer.status() << "\n";
    return 0;
  }
  cptr = consumer->get();
  const int backend = store.BackendPid();
  std::unique_ptr<bench::Profiler> prof;
  if (pipelined && !in.profile_dir.empty()) {
    prof = std::make_unique<bench::Profiler>(
        in.profile_dir, std::map<std::string, int>{{"audit_bench", getpid()}, {"postgres_backend", backend}});
  }
  const double proc0 = ProcessCpuSeconds();
  const double backend0 = bench::CpuSeconds(backend);
  (*consumer)->Run();
  PhaseCpu cpu{ProcessCpuSeconds() - proc0, writer_cpu, bench::CpuSeconds(backend) - backend0};
  if (prof) {
    prof->Stop();
  }
  double secs = std::chrono::duration<double>(last - first).count();
  pqxx::connection c(dsn);
  pqxx::work w(c);
  auto v = w.exec1("SELECT ok, checked FROM audit_verify_chain()");
  std::printf("%s: stored %lld rows, chain ok=%s checked=%lld; in %.2fs: decode+json %.2fs, store %.2fs%s\n",
              pipelined ? "pipelined" : "serial", static_cast<long long>(stored.load()),
              v[0].as<std::string>().c_str(), static_cast<long long>(v[1].as<int64_t>()), secs, decode_s,
              append_s, pipelined ? " (overlapped)" : "");
  PrintCpu(pipelined ? "pipelined" : "serial", secs, cpu);
  PrintTimings(store.Timings());
  if (prof) {
    prof->Report(15);
  }
  return stored / secs;
}

// Plain COPY of already chained rows into a fresh trail, `batch` rows per
// transaction, with the store's own encoders (pg_copy.h) and nothing else.
// Returns rows/s, or 0 when it failed.
double PlainCopy(const std::string& server, const std::string& migrations,
                 const std::vector<audit::AuditRow>& rows, int batch, bool binary) {
  const char* name = binary ? "binary" : "text";
  try {
    audit::PgConnection conn(FreshDb(server, std::string("copy_") + name));
    if (auto st = audit::Migrate(conn, migrations); !st.ok()) {
      std::cerr << st << "\n";
      return 0;
    }
    const int backend = conn.backendpid();
    const double backend0 = bench::CpuSeconds(backend);
    const double proc0 = ProcessCpuSeconds();
    const double thread0 = ThreadCpuSeconds();
    std::string buffer;
    auto t0 = Steady::now();
    for (size_t start = 0; start < rows.size(); start += static_cast<size_t>(batch)) {
      auto part = std::span<const audit::AuditRow>(rows).subspan(
          start, std::min(rows.size() - start, static_cast<size_t>(batch)));
      pqxx::work w(conn);
      if (binary) {
        audit::CopyEventsBinary(w, conn, part, buffer);
      } else {
        audit::CopyEventsText(w, part);
      }
      w.commit();
    }
    double secs = std::chrono::duration<double>(Steady::now() - t0).count();
    std::printf("plain COPY (%s): %zu rows in %.2fs\n", name, rows.size(), secs);
    PrintCpu((std::string("plain COPY (") + name + ")").c_str(), secs,
             {ProcessCpuSeconds() - proc0, ThreadCpuSeconds() - thread0, bench::CpuSeconds(backend) - backend0});
    conn.disconnect();
    return static_cast<double>(rows.size()) / secs;
  } catch (const std::exception& e) {
    std::cerr << "plain COPY (" << name << "): " << e.what() << "\n";
    return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string server = Flag(argc, argv, "pg-dsn", EnvOr("KUBEMEND_TEST_PG_DSN"));
  std::string brokers =
      Flag(argc, argv, "brokers", EnvOr("KUBEMEND_TEST_KAFKA_BROKERS"));
  std::string migrations = Flag(argc, argv, "migrations", KUBEMEND_MIGRATIONS_DIR);
  int n = std::stoi(Flag(argc, argv, "events", "100000"));
  int batch = std::stoi(Flag(argc, argv, "batch", "2000"));
  if (server.empty() || brokers.empty()) {
    std::cerr << "usage: audit_bench --pg-dsn DSN --brokers HOST:PORT [--events N] [--batch N]\n";
    return 2;
  }
  InitLogging("audit-bench", "warn", "logfmt");
  FakeClock clock;
  std::vector<std::string> payloads;
  payloads.reserve(n);
  for (int i = 0; i < n; ++i) {
    payloads.push_back(Sample(i, clock).SerializeAsString());
  }

  // 1. Plain COPY of the very rows the service would write (hashes computed
  //    beforehand, no dedup, no lock), in both formats: the ceiling is the
  //    faster one, so the service's binary COPY is not compared with a
  //    slower text ceiling.
  std::vector<InMessage> msgs;
  for (int i = 0; i < n; ++i) {
    msgs.push_back({"bench.outcomes", 0, i, "k", payloads[i], 0});
  }
  audit::Rows rows = audit::RowsFromBatch(msgs, "bench.deadletter", "2026-01-01 00:00:00+00");
  std::vector<audit::AuditRow*> ptrs;
  for (auto& r : rows.events) {
    ptrs.push_back(&r);
  }
  int64_t now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  audit::ChainRows(ptrs, audit::ChainHead{}, now_us);
  double text_rate = PlainCopy(server, migrations, rows.events, batch, false);
  double binary_rate = PlainCopy(server, migrations, rows.events, batch, true);
  if (text_rate <= 0 || binary_rate <= 0) {
    return 1;
  }
  const double copy_rate = std::max(text_rate, binary_rate);

  IngestSetup setup{server, brokers, migrations,
                    Flag(argc, argv, "topic-prefix", "bench" + NewUuid().substr(0, 8) + "."), &payloads, n,
                    batch, Flag(argc, argv, "profile", "")};
  double serial_rate = Ingest(setup, false);
  double ingest_rate = Ingest(setup, true);
  std::printf("in the loop: Apache Kafka (outcomes topic, 16 partitions) -> the audit's BatchConsumer -> "
              "PgAuditStore (decode, JSON, dedup, hash chain, COPY, commit) -> offset commit; PostgreSQL 15 "
              "fsync=off; the ceiling is plain COPY of the same rows into the same table, in this run\n");
  std::printf("events=%d batch=%d\n", n, batch);
  std::printf("plain COPY into audit_events, text:    %9.0f rows/s\n", text_rate);
  std::printf("plain COPY into audit_events, binary:  %9.0f rows/s  (the ceiling: the faster of the two)\n",
              binary_rate);
  std::printf("kafka -> audit, serial (no pipelining): %7.0f rows/s  (%.0f%% of COPY)\n", serial_rate,
              100.0 * serial_rate / copy_rate);
  std::printf("kafka -> audit, pipelined (service): %9.0f rows/s  (%.0f%% of COPY; %.0f%% of text COPY)\n",
              ingest_rate, 100.0 * ingest_rate / copy_rate, 100.0 * ingest_rate / text_rate);
  std::printf("RESULT audit_text_copy_rows_per_s %.0f\nRESULT audit_binary_copy_rows_per_s %.0f\n", text_rate,
              binary_rate);
  std::printf("RESULT audit_copy_rows_per_s %.0f\nRESULT audit_ingest_rows_per_s %.0f\n"
              "RESULT audit_share_of_copy %.4f\nRESULT audit_serial_share_of_copy %.4f\n", copy_rate, ingest_rate,
              ingest_rate / copy_rate, serial_rate / copy_rate);
  return 0;
}
