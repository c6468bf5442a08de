#include "pg_copy.h"

#include <libpq-fe.h>

#include <pqxx/except>
#include <pqxx/stream_to>
#include <sstream>
#include <tuple>

#include "binary_copy.h"
#include "chain.h"
#include "kubemend/common/ids.h"

namespace kubemend::audit {

PgConnection::Policy::handle PgConnection::Policy::do_startconnect(handle orig) {
  raw_ = connect_direct::do_startconnect(orig);
  return raw_;
}

PgConnection::Policy::handle PgConnection::Policy::do_completeconnect(handle orig) {
  raw_ = connect_direct::do_completeconnect(orig);
  return raw_;
}

PgConnection::Policy::handle PgConnection::Policy::do_dropconnect(handle orig) noexcept {
  raw_ = connect_direct::do_dropconnect(orig);
  return raw_;
}

PgConnection::Policy::handle PgConnection::Policy::do_disconnect(handle orig) noexcept {
  raw_ = connect_direct::do_disconnect(orig);
  return raw_;
}

PgConnection::PgConnection(const std::string& dsn)
    : connection_base(policy_), dsn_(dsn), policy_(dsn_) {
  init();
}

PgConnection::~PgConnection() noexcept { close(); }

namespace {

constexpr size_t kFlushBytes = 256 * 1024;

// After the data (or a failed send): the COPY's own result. A refusal
// carries the server's SQLSTATE so callers can tell bad data from an outage.
void FinishCopy(PGconn* c, bool sent_all, const std::string& statement) {
  std::string send_error;
  if (sent_all && PQputCopyEnd(c, nullptr) != 1) {
    send_error = PQerrorMessage(c);
  } else if (!sent_all) {
    send_error = PQerrorMessage(c);
  }
  std::string error;
  std::string sqlstate;
  while (PGresult* res = PQgetResult(c)) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK && error.empty()) {
      error = PQresultErrorMessage(res);
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      sqlstate = state ? state : "";
    }
    PQclear(res);
  }
  if (!sqlstate.empty()) {
    throw pqxx::sql_error(error, statement, sqlstate.c_str());
  }
  if (PQstatus(c) != CONNECTION_OK) {
    throw pqxx::broken_connection("COPY: " + (error.empty() ? send_error : error));
  }
  if (!error.empty() || !send_error.empty()) {
    throw pqxx::failure("COPY: " + (error.empty() ? send_error : error));
  }
}

std::string Hex(const std::string& raw) { return "\\x" + HexEncode(raw); }

std::vector<std::string> ColumnList() {
  std::vector<std::string> out;
  std::stringstream ss(kEventColumns);
  std::string c;
  while (std::getline(ss, c, ',')) {
    c.erase(0, c.find_first_not_of(' '));
    out.push_back(c);
  }
  return out;
}

}  // namespace

const std::string& BinaryCopy::Events() {
  static const std::string statement =
      std::string("COPY audit_events (") + kEventColumns + ") FROM STDIN (FORMAT binary)";
  return statement;
}

const std::string& BinaryCopy::EventIds() {
  static const std::string statement = "COPY audit_event_ids (event_id) FROM STDIN (FORMAT binary)";
  return statement;
}

BinaryCopy::BinaryCopy(pqxx::transaction_base& w, PgConnection& conn, const std::string& statement,
                       std::string& buffer)
    : conn_(conn.raw()), statement_(statement), buffer_(buffer) {
  w.exec(statement_);  // the server now waits for COPY data on this connection
  if (conn_ == nullptr) {
    throw pqxx::broken_connection("COPY: not connected");
  }
  buffer_.clear();
  AppendBinaryCopyHeader(buffer_);
}

BinaryCopy::~BinaryCopy() {
  if (!finished_ && conn_ != nullptr) {
    // An exception left the COPY open: end it so the connection can roll back.
    PQputCopyEnd(conn_, "aborted by the audit writer");
    while (PGresult* res = PQgetResult(conn_)) {
      PQclear(res);
    }
  }
}

void BinaryCopy::Flush() {
  if (sent_all_ && !buffer_.empty() &&
      PQputCopyData(conn_, buffer_.data(), static_cast<int>(buffer_.size())) != 1) {
    sent_all_ = false;  // the server refused or the connection broke: Finish says which
  }
  buffer_.clear();
}

void BinaryCopy::RowDone() {
  if (buffer_.size() >= kFlushBytes) {
    Flush();
  }
}

void BinaryCopy::Finish() {
  AppendBinaryCopyTrailer(buffer_);
  Flush();
  finished_ = true;
  FinishCopy(conn_, sent_all_, statement_);
}

void CopyEventsBinary(pqxx::transaction_base& w, PgConnection& conn,
                      std::span<const AuditRow> rows, std::string& buffer) {
  BinaryCopy copy(w, conn, BinaryCopy::Events(), buffer);
  for (const auto& r : rows) {
    AppendBinaryEventTuple(copy.out(), r);
    copy.RowDone();
  }
  copy.Finish();
}

void CopyEventsText(pqxx::transaction_base& w, std::span<const AuditRow> rows) {
  pqxx::stream_to s(w, "audit_events", ColumnList());
  for (const auto& r : rows) {
    s << std::make_tuple(r.seq, r.event_id, r.event_type, TimestampFromMicros(r.occurred_us),
                         TimestampFromMicros(r.recorded_us), TimestampFromMicros(r.ingested_us),
                         r.producer_service, r.producer_instance, r.incident_id, r.causation_id,
                         r.trace_id, r.target_cluster, r.target_namespace, r.target_kind,
                         r.target_name, r.target_container, r.signal_name, r.action_type,
                         r.verdict, r.rule, r.outcome_status, r.policy_name, r.kafka_topic,
                         r.kafka_partition, r.kafka_offset, Hex(r.payload), r.payload_json,
                         Hex(r.prev_hash), Hex(r.row_hash));
  }
  s.complete();
}

}  // namespace kubemend::audit
