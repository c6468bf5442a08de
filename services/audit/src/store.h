#pragma once
// Where audit rows go. PgAuditStore is the real one (libpqxx 6.4);
// tests of the consume path can use an in-memory store.
//
// Append is atomic per call: all rows of a batch are committed in one
// transaction or none are. It is idempotent: rows whose event_id (or, for
// dead letters, Kafka coordinates) are already stored are skipped, so a
// redelivered batch changes nothing. New rows are hash-chained (chain.h)
// under a transaction-scoped advisory lock, so several writers on one
// database still produce one gapless chain. Errors: Unavailable when
// PostgreSQL cannot be reached or the write failed (retry later).
#include <absl/status/status.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kubemend/common/clock.h"
#include "pg_copy.h"
#include "rows.h"

#include <pqxx/connection>
#include <pqxx/transaction>

namespace kubemend::audit {

class AuditStore {
 public:
  virtual ~AuditStore() = default;
  virtual absl::Status Append(const Rows& rows) = 0;
};

// Applies migrations/NNN_name.sql in order, each once, recording a SHA-256
// checksum; refuses to start when an applied migration's file changed.
absl::Status Migrate(pqxx::connection_base& conn, const std::string& dir);

// Where PgAuditStore::Append's wall time went, summed over calls: the
// benchmark prints it to tell the store's own CPU from the server's work.
struct AppendTimings {
  double lock_head_s = 0;  // advisory lock and the chain's head
  double dedup_s = 0;      // audit_event_ids: which event ids are new
  double copy_s = 0;       // hashing and COPY of the rows, overlapped
  double commit_s = 0;
  int64_t batches = 0;
};

struct StoreOptions {
  // The role the writing connection switches to (SET ROLE) after migrating:
  // INSERT and SELECT only. Empty: write as the login role.
  std::string writer_role = "kubemend_writer";
  // Monthly partitions kept ready beyond the current month.
  int months_ahead = 2;
};

class PgAuditStore final : public AuditStore {
 public:
  explicit PgAuditStore(std::string dsn, StoreOptions options = {},
                        const Clock& clock = SystemClock::Instance())
      : dsn_(std::move(dsn)), options_(std::move(options)), clock_(clock) {}
  ~PgAuditStore() override;
  // Connects (if needed) and applies migrations.
  absl::Status Open(const std::string& migrations_dir);
  absl::Status Append(const Rows& rows) override;
  // "" when the last operation succeeded, else why not.
  std::string Health();
  AppendTimings Timings();
  // The PostgreSQL backend serving the writes (0 when not connected).
  int BackendPid();

 private:
  absl::Status Connect();
  // The chained part of Append: lock, head, dedup, hashes, COPY.
  absl::Status WriteEvents(pqxx::work& w, const std::vector<AuditRow>& events,
                           int64_t& ensured_month);
  std::string dsn_;
  StoreOptions options_;
  const Clock& clock_;
  int64_t partitions_ready_month_ = -1;  // year*12+month last ensured
  std::unique_ptr<PgConnection> conn_;
  std::string copy_buffer_;  // the COPY stream of a batch, reused
  AuditRow chain_row_;       // the row being chained and copied, reused
  std::mutex mu_;
  std::string last_error_;
  AppendTimings timings_;
};

}  // namespace kubemend::audit
