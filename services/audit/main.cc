// kubemend-audit: every event on every kubemend topic, appended once to the
// PostgreSQL trail; offsets are committed only after the database commit.
//
//   kubemend-audit [--config FILE]           run the service
//   kubemend-audit migrate [--config FILE]   apply pending migrations and exit
#include <pqxx/pqxx>

#include <cstring>
#include <thread>

#include "kubemend/common/log.h"
#include "kubemend/common/runtime.h"
#include "src/admin_service.h"
#include "src/console.h"
#include "src/rows.h"
#include "src/ingest.h"
#include "src/store.h"

using namespace kubemend;

int main(int argc, char** argv) {
  bool migrate_only = false;
  if (argc > 1 && std::strcmp(argv[1], "migrate") == 0) {
    migrate_only = true;
    argv[1] = argv[0];
    ++argv;
    --argc;
  }
  CommonConfig common;
  std::string dsn = "postgresql://kubemend@localhost:5432/kubemend";
  std::string migrations_dir = "/usr/share/kubemend/migrations";
  int64_t batch_size = 2000;
  int64_t partitions_ahead = 2;
  std::string writer_role = "kubemend_writer";
  std::string reader_role = "kubemend_reader";
  ConfigSchema schema;
  AddCommonKeys(schema, &common, "audit");
  schema.Add("postgres.dsn", &dsn, "libpq connection string or URI of the trail database");
  schema.Add("audit.migrations_dir", &migrations_dir, "folder of numbered SQL migrations");
  schema.Add("audit.batch_size", &batch_size, "largest batch written in one transaction", 1,
             100000);
  schema.Add("audit.partitions_ahead", &partitions_ahead,
             "monthly partitions kept ready beyond the current month", 1, 24);
  schema.Add("audit.writer_role", &writer_role,
             "role the writer switches to (INSERT+SELECT only); empty = the login role");
  schema.Add("audit.reader_role", &reader_role,
             "role the admin API reads as (SELECT only); empty = the login role");
  audit::ConsoleOptions console_opts;
  audit::AddConsoleKeys(schema, &console_opts);
  std::string path;
  int code = 0;
  if (!ParseArgs(argc, argv, "audit", schema, &path, &code)) {
    return code;
  }
  if (auto st = schema.Load(path, EnvFromProcess()); !st.ok()) {
    fprintf(stderr, "kubemend-audit: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  if (migrate_only) {
    InitLogging("audit", common.log_level, common.log_format);
    try {
      pqxx::connection conn(dsn);
      absl::Status st = audit::Migrate(conn, migrations_dir);
      conn.disconnect();
      if (!st.ok()) {
        fprintf(stderr, "kubemend-audit migrate: %s\n", std::string(st.message()).c_str());
        return 1;
      }
    } catch (const std::exception& e) {
      fprintf(stderr, "kubemend-audit migrate: postgres: %s\n", e.what());
      return 1;
    }
    printf("kubemend-audit migrate: schema up to date\n");
    return 0;
  }
  ServiceRuntime rt("audit", common);
  auto log = Logger("audit");
  audit::StoreOptions store_opts;
  store_opts.writer_role = writer_role;
  store_opts.months_ahead = static_cast<int>(partitions_ahead);
  audit::PgAuditStore store(dsn, store_opts);
  audit::AuditAdminService admin(dsn, reader_role);
  rt.AddGrpcService(&admin);
  // The console checks logins against the admin API's tokens (same config keys).
  auto console_auth = TokenAuthenticator::Create(common.admin);
  if (!console_auth.ok()) {
    fprintf(stderr, "kubemend-audit: %s\n", std::string(console_auth.status().message()).c_str());
    return 2;
  }
  audit::Console console(console_opts, dsn, reader_role, *console_auth);
  if (console_opts.enabled) {
    rt.ConfigureHttp([&](httplib::Server& http) {
      // Live streams hold a thread each: keep room for /metrics and the API.
      int threads = 8 + static_cast<int>(console_opts.max_streams);
      http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
      console.Register(http);
    });
  }
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
  // Pipelined: decoding and JSON rendering of the next batch run while the
  // previous one is chained and copied into PostgreSQL. One writer, batches
  // in order (the hash chain's order), offsets committed after each commit.
  struct Prepared {
    std::string now_text;
    audit::Rows rows;
  };
  auto consumer = BatchConsumer::CreatePipelined(
      common.kafka, "kubemend-audit-" + rt.config().instance, topics,
      [&](std::span<const InMessage> batch) -> BatchConsumer::Prepared {
        auto p = std::make_shared<Prepared>();
        google::protobuf::Timestamp now;
        SetTimestamp(&now, rt.clock().Now());
        p->now_text = audit::Rfc3339(now);
        p->rows = audit::RowsFromBatch(batch, dlq, p->now_text);
        return p;
      },
      [&](std::span<const InMessage>, const BatchConsumer::Prepared& prepared) -> absl::Status {
        // A failed batch is polled and prepared again, so its rows can move.
        auto* p = static_cast<Prepared*>(prepared.get());
        auto res = audit::AppendOrDeadLetter(store, std::move(p->rows), p->now_text);
        if (!res.ok()) {
          rt.CountError("postgres");
          return res.status();
        }
        if (res->refused > 0) {
          rt.CountError("row_refused");
        }
        rows_written.Inc(res->events);
        dl_written.Inc(res->dead_letters);
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
  console.SetSelfEndpoint(audit::LocalAddress(common.grpc_listen, rt.grpc_port()));
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
  admin.Stop();
  console.Stop();
  (*consumer)->Stop();
  worker.join();
  return db_ready ? 0 : 1;
}
