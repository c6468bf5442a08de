#include "store.h"

#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <unordered_set>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "kubemend/common/ids.h"
#include "kubemend/common/log.h"
#include "chain.h"
#include "binary_copy.h"
#include "pg_copy.h"

namespace kubemend::audit {
namespace {

std::string Bytea(const std::string& raw) { return "\\x" + HexEncode(raw); }

}  // namespace

absl::Status Migrate(pqxx::connection_base& conn, const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::pair<int, fs::path>> files;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::FailedPreconditionError("audit.migrations_dir " + dir + " is not a directory");
  }
  static const std::regex kName(R"(^(\d+)_[A-Za-z0-9_\-]+\.sql$)");
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::smatch m;
    std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, kName)) {
      files.emplace_back(std::stoi(m[1]), entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (size_t i = 1; i < files.size(); ++i) {
    if (files[i].first == files[i - 1].first) {
      return absl::FailedPreconditionError("two migrations numbered " +
                                           std::to_string(files[i].first) + " in " + dir);
    }
  }
  pqxx::work w(conn);
  // One migrator at a time across replicas.
  w.exec("SELECT pg_advisory_xact_lock(727274)");
  w.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT "
      "NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
  std::map<int, std::pair<std::string, std::string>> applied;
  for (const auto& row : w.exec("SELECT version, name, checksum FROM schema_migrations")) {
    applied[row[0].as<int>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
  }
  auto log = Logger("migrate");
  for (const auto& [version, path] : files) {
    std::ifstream in(path);
    std::stringstream sql;
    sql << in.rdbuf();
    std::string checksum = Sha256Hex(sql.str());
    auto it = applied.find(version);
    if (it != applied.end()) {
      if (it->second.second != checksum) {
        return absl::FailedPreconditionError(
            "migration " + path.filename().string() +
            " was changed after it was applied (checksum " + checksum.substr(0, 12) +
            " != recorded " + it->second.second.substr(0, 12) +
            "); restore the original file and add a new migration instead");
      }
      continue;
    }
    try {
      w.exec(sql.str());
    } catch (const std::exception& e) {
      return absl::FailedPreconditionError("migration " + path.filename().string() +
                                           " failed: " + e.what());
    }
    w.exec("INSERT INTO schema_migrations (version, name, checksum) VALUES (" +
           std::to_string(version) + ", " + w.quote(path.filename().string()) + ", " +
           w.quote(checksum) + ")");
    log->info("msg=\"migration applied\" version={} file={}", version, path.filename().string());
  }
  w.commit();
  return absl::OkStatus();
}

PgAuditStore::~PgAuditStore() {
  if (conn_) {
    conn_->disconnect();
  }
}

absl::Status PgAuditStore::Connect() {
  if (conn_ && conn_->is_open()) {
    return absl::OkStatus();
  }
  try {
    conn_ = std::make_unique<PgConnection>(dsn_);
    pqxx::work w(*conn_);
    if (!options_.writer_role.empty()) {
      // From here on this session may only INSERT and SELECT the trail.
      w.exec("SET ROLE " + w.quote_name(options_.writer_role));
    }
    w.exec(
        "CREATE TEMP TABLE IF NOT EXISTS staging_dead_letters AS SELECT source_topic, "
        "source_partition, source_offset, consumer, reason, message_key, payload, "
        "dead_lettered_at FROM dead_letters WITH NO DATA");
    w.commit();
    conn_->prepare("audit_head",
                   "SELECT seq, row_hash, (extract(epoch FROM ingested_at) * 1000000)::bigint "
                   "FROM audit_events ORDER BY seq DESC LIMIT 1");
    conn_->prepare("audit_anchor",
                   "SELECT seq, row_hash FROM audit_chain_anchors ORDER BY seq DESC LIMIT 1");
    conn_->prepare("audit_known_ids",
                   "SELECT event_id::text FROM audit_event_ids WHERE event_id = ANY($1::uuid[])");
    conn_->prepare("audit_ensure", "SELECT audit_ensure_partitions($1::timestamptz, $2)");
    return absl::OkStatus();
  } catch (const std::exception& e) {
    conn_.reset();
    return absl::UnavailableError(std::string("postgres: ") + e.what() +
                                  " Hint: check postgres.dsn (KUBEMEND_POSTGRES_DSN) and that "
                                  "the login role may SET ROLE " + options_.writer_role + ".");
  }
}

absl::Status PgAuditStore::Open(const std::string& migrations_dir) {
  std::lock_guard lock(mu_);
  try {
    if (!conn_ || !conn_->is_open()) {
      conn_ = std::make_unique<PgConnection>(dsn_);
    }
    absl::Status st = Migrate(*conn_, migrations_dir);
    if (!st.ok()) {
      last_error_ = std::string(st.message());
      return st;
    }
    conn_.reset();
    st = Connect();
    last_error_ = st.ok() ? "" : std::string(st.message());
    return st;
  } catch (const std::exception& e) {
    conn_.reset();
    last_error_ = std::string("postgres unreachable: ") + e.what();
    return absl::UnavailableError(last_error_);
  }
}

namespace {

int64_t MonthIndex(int64_t us) {
  std::time_t t = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

std::string FirstLine(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::string UuidArray(const std::vector<AuditRow>& rows) {
  std::string out = "{";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i) {
      out += ',';
    }
    out += rows[i].event_id;
  }
  out += '}';
  return out;
}

using Steady = std::chrono::steady_clock;

double Since(Steady::time_point& t) {
  auto now = Steady::now();
  double s = std::chrono::duration<double>(now - t).count();
  t = now;
  return s;
}

// Where the chain ends now: the last row, or the anchor left by pruning.
ChainHead ReadHead(pqxx::work& w) {
  ChainHead head;
  if (auto r = w.exec_prepared("audit_head"); !r.empty()) {
    head.seq = r[0][0].as<int64_t>();
    head.hash = pqxx::binarystring(r[0][1]).str();
    head.ingested_us = r[0][2].as<int64_t>();
  } else if (auto a = w.exec_prepared("audit_anchor"); !a.empty()) {
    head.seq = a[0][0].as<int64_t>();
    head.hash = pqxx::binarystring(a[0][1]).str();
  }
  return head;
}

// The rows whose event ids are new to the trail, in batch order, each once,
// and records their ids (same transaction as the rows). Under the writers'
// advisory lock nobody else adds ids meanwhile, so a lookup and a binary COPY
// do what INSERT ... ON CONFLICT DO NOTHING RETURNING did, at less cost; a
// writer that skipped the lock would make the COPY fail (unique key), not
// double a row.
std::vector<const AuditRow*> NewRows(pqxx::work& w, PgConnection& conn,
                                     const std::vector<AuditRow>& events, std::string& buffer) {
  std::unordered_set<std::string> seen;
  seen.reserve(events.size());
  for (const auto& row : w.exec_prepared("audit_known_ids", UuidArray(events))) {
    seen.insert(row[0].as<std::string>());
  }
  std::vector<const AuditRow*> out;
  out.reserve(events.size());
  for (const auto& r : events) {
    if (seen.insert(r.event_id).second) {
      out.push_back(&r);
    }
  }
  if (!out.empty()) {
    BinaryCopy ids(w, conn, BinaryCopy::EventIds(), buffer);
    for (const AuditRow* r : out) {
      AppendBinaryIdTuple(ids.out(), r->event_id);
      ids.RowDone();
    }
    ids.Finish();
  }
  return out;
}

// Dead letters are not chained; idempotent on their Kafka coordinates.
void CopyDeadLetters(pqxx::work& w, const std::vector<DeadLetterRow>& dead_letters) {
  w.exec("TRUNCATE staging_dead_letters");
  pqxx::stream_to s(w, "staging_dead_letters",
                    std::vector<std::string>{"source_topic", "source_partition", "source_offset",
                                             "consumer", "reason", "message_key", "payload",
                                             "dead_lettered_at"});
  for (const auto& d : dead_letters) {
    s << std::make_tuple(d.source_topic, d.source_partition, d.source_offset, d.consumer,
                         d.reason, Bytea(d.key), Bytea(d.payload), d.dead_lettered_at);
  }
  s.complete();
  w.exec(
      "INSERT INTO dead_letters (source_topic, source_partition, source_offset, consumer, "
      "reason, message_key, payload, dead_lettered_at) SELECT * FROM staging_dead_letters "
      "ON CONFLICT DO NOTHING");
}

}  // namespace

absl::Status PgAuditStore::WriteEvents(pqxx::work& w, const std::vector<AuditRow>& events,
                                       int64_t& ensured_month) {
  auto t = Steady::now();
  // One writer per chain at a time; everything below happens under it.
  w.exec("SELECT pg_advisory_xact_lock(727275)");
  ChainHead head = ReadHead(w);
  timings_.lock_head_s += Since(t);
  // Dedup before chaining: only ids new to the trail get a seq.
  std::vector<const AuditRow*> fresh = NewRows(w, *conn_, events, copy_buffer_);
  timings_.dedup_s += Since(t);
  if (fresh.empty()) {
    return absl::OkStatus();
  }
  // Never backwards, so partitions hold contiguous stretches (chain.h).
  head.ingested_us = std::max(ToUnixMillis(clock_.Now()) * 1000, head.ingested_us);
  if (MonthIndex(head.ingested_us) != partitions_ready_month_) {
    w.exec_prepared("audit_ensure", TimestampFromMicros(head.ingested_us), options_.months_ahead);
    ensured_month = MonthIndex(head.ingested_us);
  }
  // Chain each row and hand it to a binary COPY (pg_copy.h) that streams
  // while the next rows are hashed. One scratch row, its strings' capacity
  // reused, instead of a copy of the batch.
  BinaryCopy copy(w, *conn_, BinaryCopy::Events(), copy_buffer_);
  for (const AuditRow* r : fresh) {
    chain_row_ = *r;
    ChainRow(chain_row_, head);
    AppendBinaryEventTuple(copy.out(), chain_row_);
    copy.RowDone();
  }
  copy.Finish();
  timings_.copy_s += Since(t);
  return absl::OkStatus();
}

absl::Status PgAuditStore::Append(const Rows& rows) {
  std::lock_guard lock(mu_);
  if (auto st = Connect(); !st.ok()) {
    last_error_ = std::string(st.message());
    return st;
  }
  try {
    pqxx::work w(*conn_);
    int64_t ensured_month = partitions_ready_month_;
    if (!rows.events.empty()) {
      if (auto st = WriteEvents(w, rows.events, ensured_month); !st.ok()) {
        return st;
      }
    }
    if (!rows.dead_letters.empty()) {
      CopyDeadLetters(w, rows.dead_letters);
    }
    auto t = Steady::now();
    w.commit();
    timings_.commit_s += Since(t);
    timings_.batches++;
    partitions_ready_month_ = ensured_month;
    last_error_.clear();
    return absl::OkStatus();
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    last_error_ = std::string("postgres connection lost: ") + e.what();
    return absl::UnavailableError(last_error_);
  } catch (const pqxx::in_doubt_error& e) {
    // The commit may or may not have landed; the retry is idempotent.
    conn_.reset();
    last_error_ = std::string("postgres commit in doubt: ") + e.what();
    return absl::UnavailableError(last_error_);
  } catch (const pqxx::sql_error& e) {
    // Class 22 (data exception: a NUL, bad encoding, a value out of range)
    // and 23 (integrity): this data will never go in, retrying won't help.
    const std::string state = e.sqlstate();
    if (state.rfind("22", 0) == 0 || state.rfind("23", 0) == 0) {
      return absl::InvalidArgumentError("SQLSTATE " + state + ": " + FirstLine(e.what()));
    }
    last_error_ = std::string("postgres write failed: ") + e.what();
    return absl::UnavailableError(last_error_);
  } catch (const std::exception& e) {
    if (conn_ && !conn_->is_open()) {
      conn_.reset();
    }
    last_error_ = std::string("postgres write failed: ") + e.what();
    return absl::UnavailableError(last_error_);
  }
}

AppendTimings PgAuditStore::Timings() {
  std::lock_guard lock(mu_);
  return timings_;
}

int PgAuditStore::BackendPid() {
  std::lock_guard lock(mu_);
  return conn_ && conn_->is_open() ? conn_->backendpid() : 0;
}

std::string PgAuditStore::Health() {
  std::lock_guard lock(mu_);
  return last_error_;
}

}  // namespace kubemend::audit
