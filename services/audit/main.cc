// kubemend-audit: every event on every kubemend topic, appended once to the
// PostgreSQL trail; offsets are committed only after the database commit.
#include <thread>

#include "kubemend/common/log.h"
#include "kubemend/common/runtime.h"
#include "src/rows.h"
#include "src/store.h"

using namespace kubemend;

int main(int argc, char** argv) {
  CommonConfig common;
  std::string dsn = "postgresql://kubemend@localhost:5432/kubemend";
  std::string migrations_dir = "/usr/share/kubemend/migrations";
  int64_t batch_size = 2000;
  ConfigSchema schema;
  AddCommonKeys(schema, &common, "audit");
  schema.Add("postgres.dsn", &dsn, "libpq connection string or URI of the trail database");
  schema.Add("audit.migrations_dir", &migrations_dir, "folder of numbered SQL migrations");
  schema.Add("audit.batch_size", &batch_size, "largest batch written in one transaction", 1,
             100000);
  std::string path;
  int code = 0;
  if (!ParseArgs(argc, argv, "audit", schema, &path, &code)) {
    return code;
  }
  if (auto st = schema.Load(path, EnvFromProcess()); !st.ok()) {
    fprintf(stderr, "kubemend-audit: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  ServiceRuntime rt("audit", common);
  auto log = Logger("audit");
  audit::PgAuditStore store(dsn);
  std::atomic<bool> db_ready{false};
  rt.AddHealthCheck("postgres", [&]() -> std::string {
    if (!db_ready) {
      std::string h = store.Health();
      return h.empty() ? "connecting" : h;
    }
    return store.Health();
  });
  const std::string dlq = TopicName(common.kafka, Topic::kDeadLetter);
  Counter& rows_written = rt.metrics().GetCounter("kubemend_audit_rows_total", "Rows appended",
                                                  {{"table", "audit_events"}});
  Counter& dl_written = rt.metrics().GetCounter("kubemend_audit_rows_total", "Rows appended",
                                                {{"table", "dead_letters"}});
  std::vector<std::string> topics;
  for (Topic t : AllTopics()) {
    topics.push_back(TopicName(common.kafka, t));
  }
  BatchConsumer::Options opts;
  opts.max_batch = static_cast<size_t>(batch_size);
  auto consumer = BatchConsumer::Create(
      common.kafka, "kubemend-audit-" + rt.config().instance, topics,
      [&](std::span<const InMessage> batch) -> absl::Status {
        google::protobuf::Timestamp now;
        SetTimestamp(&now, rt.clock().Now());
        audit::Rows rows = audit::RowsFromBatch(batch, dlq, audit::Rfc3339(now));
        absl::Status st = store.Append(rows);
        if (!st.ok()) {
          rt.CountError("postgres");
          return st;
        }
        rows_written.Inc(rows.events.size());
        dl_written.Inc(rows.dead_letters.size());
        return absl::OkStatus();
      },
      &rt.metrics(), opts);
  if (!consumer.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(consumer.status().message())));
    return 2;
  }
  rt.AddConsumer(consumer->get());
  if (auto st = rt.Start(); !st.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
    return 1;
  }
  // PostgreSQL may not be up yet: keep trying, NOT_SERVING meanwhile, and
  // consume nothing until the trail can take it. A changed migration is a
  // start-up error, not something to retry.
  std::thread worker([&] {
    while (!rt.stopping()) {
      absl::Status st = store.Open(migrations_dir);
      if (st.ok()) {
        break;
      }
      if (st.code() == absl::StatusCode::kFailedPrecondition) {
        log->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
        rt.RequestShutdown();
        return;
      }
      log->warn("msg=\"postgres not ready, retrying\" error={}", Q(std::string(st.message())));
      for (int i = 0; i < 20 && !rt.stopping(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    if (rt.stopping()) {
      return;
    }
    db_ready = true;
    log->info("msg=\"trail ready\"");
    (*consumer)->Run();
  });
  rt.WaitForShutdown();
  (*consumer)->Stop();
  worker.join();
  return db_ready ? 0 : 1;
}
