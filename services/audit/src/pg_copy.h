#pragma once
// Writing audit rows with COPY inside a libpqxx transaction.
//
// libpqxx 6.4 has no binary COPY and keeps its libpq handle private, so
// PgConnection is a pqxx connection that also hands out that handle (through
// libpqxx's public connection-policy hook), and CopyEventsBinary drives
// libpq's COPY calls on it between two statements of the transaction.
// CopyEventsText is libpqxx's own text COPY (pqxx::stream_to) of the same
// columns: the reference the binary path is tested against and the
// benchmark's ceiling.
//
// Errors are libpqxx's exceptions, as if libpqxx had run the COPY: a row the
// server refuses throws pqxx::sql_error with its SQLSTATE (class 22 for bad
// data), a lost connection pqxx::broken_connection or pqxx::failure. One
// thread per connection, like libpqxx itself.
#include <span>
#include <string>
#include <vector>

#include <pqxx/connection_base>
#include <pqxx/connection>
#include <pqxx/transaction_base>

#include "rows.h"

namespace kubemend::audit {

class PgConnection final : public pqxx::connection_base {
 public:
  // Connects now (like pqxx::connection); throws pqxx::broken_connection.
  explicit PgConnection(const std::string& dsn);
  ~PgConnection() noexcept;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // libpq's handle, for COPY; null when not connected.
  pqxx::internal::pq::PGconn* raw() const { return policy_.raw(); }

 private:
  // connect_direct that remembers every handle it gives the connection.
  class Policy final : public pqxx::connect_direct {
   public:
    using connect_direct::connect_direct;
    handle do_startconnect(handle orig) override;
    handle do_completeconnect(handle orig) override;
    handle do_dropconnect(handle orig) noexcept override;
    handle do_disconnect(handle orig) noexcept override;
    handle raw() const { return raw_; }

   private:
    handle raw_ = nullptr;
  };
  std::string dsn_;  // before policy_: the policy keeps a reference to it
  Policy policy_;
};

// One binary COPY ... FROM STDIN in `w` on `conn`, fed tuple by tuple (the
// encoders of binary_copy.h append to out(); RowDone() after each): the
// encoded rows go to the server every 256 KiB, so the server parses while the
// caller prepares the next rows. Finish() ends it and throws what the server
// said; destroyed unfinished, it aborts the COPY (the transaction then
// fails). `buffer` is the caller's scratch space, kept between batches so
// that a batch allocates nothing per row.
class BinaryCopy {
 public:
  // The statements this writes with.
  static const std::string& Events();  // COPY audit_events (kEventColumns) ...
  static const std::string& EventIds();  // COPY audit_event_ids (event_id) ...

  BinaryCopy(pqxx::transaction_base& w, PgConnection& conn, const std::string& statement,
             std::string& buffer);
  ~BinaryCopy();
  BinaryCopy(const BinaryCopy&) = delete;
  BinaryCopy& operator=(const BinaryCopy&) = delete;
  std::string& out() { return buffer_; }
  void RowDone();
  void Finish();

 private:
  void Flush();
  pqxx::internal::pq::PGconn* conn_;
  const std::string& statement_;
  std::string& buffer_;
  bool sent_all_ = true;
  bool finished_ = false;
};

// COPY audit_events (kEventColumns) FROM STDIN (FORMAT binary) of `rows`
// (chained), in `w` on `conn`. `buffer` is scratch space the caller may keep
// between calls so that a batch allocates nothing per row.
void CopyEventsBinary(pqxx::transaction_base& w, PgConnection& conn,
                      std::span<const AuditRow> rows, std::string& buffer);
// The same rows through libpqxx's text COPY.
void CopyEventsText(pqxx::transaction_base& w, std::span<const AuditRow> rows);

}  // namespace kubemend::audit
