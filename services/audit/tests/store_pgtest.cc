// Integration tests against a real PostgreSQL. The server comes from
// KUBEMEND_TEST_PG_DSN (set by ./kubemend test); each test gets a fresh
// database.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <regex>
#include <sstream>

#include "admin_service.h"
#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "chain.h"
#include "ingest.h"
#include "pg_copy.h"
#include "store.h"
#include "trail.h"

namespace kubemend::audit {
namespace {

class AuditStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("KUBEMEND_TEST_PG_DSN");
    if (!base) {
      FAIL() << "KUBEMEND_TEST_PG_DSN is not set; run the tests through ./kubemend test";
    }
    db_ = "t_" + NewUuid().substr(0, 8);
    pqxx::connection admin(base);
    pqxx::nontransaction(admin).exec("CREATE DATABASE " + db_);
    dsn_ = std::string(base) + " dbname=" + db_;
  }
  // Runs `sql` as `role` (empty: the login role, a superuser here) and
  // returns the error, or "" when it worked.
  std::string TryAs(const std::string& role, const std::string& sql) {
    try {
      pqxx::connection c(dsn_);
      pqxx::work w(c);
      if (!role.empty()) {
        w.exec("SET ROLE " + role);
      }
      w.exec(sql);
      w.commit();
      return "";
    } catch (const std::exception& e) {
      return e.what();
    }
  }
  int64_t Count(const std::string& sql) {
    pqxx::connection c(dsn_);
    pqxx::work w(c);
    return w.exec1(sql)[0].as<int64_t>();
  }
  std::string db_;
  std::string dsn_;
};

Rows SampleRows(int n, int offset_base = 0) {
  FakeClock clock;
  std::vector<InMessage> batch;
  for (int i = 0; i < n; ++i) {
    v1::Event s = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c", "0"}, clock);
    s.mutable_signal()->set_name("Alert\t\"quoted\"\\ and newline\n" + std::to_string(i));
    s.mutable_target()->set_namespace_("shop");
    batch.push_back({"kubemend.signals", 0, offset_base + i, "k", s.SerializeAsString(), 0});
  }
  batch.push_back({"kubemend.signals", 0, offset_base + n, "k", std::string("\x00\x01\\junk", 7), 0});
  return RowsFromBatch(batch, "kubemend.deadletter", "2026-01-01 00:00:00+00");
}

TEST_F(AuditStoreTest, AppendIsIdempotentAcrossRedelivery) {
  PgAuditStore store(dsn_);
  ASSERT_TRUE(store.Open(KUBEMEND_MIGRATIONS_DIR).ok());
  Rows rows = SampleRows(50);
  ASSERT_TRUE(store.Append(rows).ok());
  ASSERT_TRUE(store.Append(rows).ok()) << "a redelivered batch must be accepted";
  // A batch that overlaps the first one in part, with a duplicate inside.
  Rows more = SampleRows(10, 100);
  more.events.push_back(more.events[0]);
  more.events.push_back(rows.events[3]);
  ASSERT_TRUE(store.Append(more).ok());
  pqxx::connection c(dsn_);
  pqxx::work w(c);
  EXPECT_EQ(w.exec1("SELECT count(*) FROM audit_events")[0].as<int>(), 60);
  EXPECT_EQ(w.exec1("SELECT max(seq) FROM audit_events")[0].as<int>(), 60) << "no gaps in seq";
  EXPECT_EQ(w.exec1("SELECT count(*) FROM dead_letters")[0].as<int>(), 2);
  // The original bytes survive COPY escaping exactly.
  auto r = w.exec1(
      "SELECT payload, payload_json->'signal'->>'name' FROM audit_events WHERE kafka_offset = 7");
  v1::Event back;
  ASSERT_TRUE(back.ParseFromString(pqxx::binarystring(r[0]).str()));
  EXPECT_EQ(back.signal().name(), "Alert\t\"quoted\"\\ and newline\n7");
  EXPECT_EQ(r[1].as<std::string>(), "Alert\t\"quoted\"\\ and newline\n7");
  auto d = w.exec1("SELECT payload FROM dead_letters WHERE source_offset = 50");
  EXPECT_EQ(pqxx::binarystring(d[0]).str(), std::string("\x00\x01\\junk", 7));
  auto v = w.exec1("SELECT ok, checked FROM audit_verify_chain()");
  EXPECT_TRUE(v[0].as<bool>());
  EXPECT_EQ(v[1].as<int>(), 60);
}

// Issue 12: one row PostgreSQL refuses used to fail the batch forever. Now
// the batch goes in row by row, the refused row becomes a dead letter with
// PostgreSQL's reason, and a NUL in an alert label is stored (as U+FFFD in
// the text and JSON columns; the Protobuf payload keeps the NUL).
TEST_F(AuditStoreTest, RefusedRowIsDeadLetteredAndNulIsStored) {
  PgAuditStore store(dsn_);
  ASSERT_TRUE(store.Open(KUBEMEND_MIGRATIONS_DIR).ok());
  FakeClock clock;
  std::vector<InMessage> batch;
  const std::string nul_name("KubePodCrashLooping\0evil", 24);
  for (int i = 0; i < 4; ++i) {
    v1::Event s = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c", "0"}, clock);
    s.mutable_signal()->set_name(i == 1 ? nul_name : "ok-" + std::to_string(i));
    (*s.mutable_signal()->mutable_labels())["pod"] = i == 1 ? std::string("web\0", 4) : "web";
    s.mutable_target()->set_namespace_("shop");
    s.mutable_target()->set_name(i == 1 ? std::string("web\0x", 5) : "web");
    batch.push_back({"kubemend.signals", 0, i, "k", s.SerializeAsString(), 0});
  }
  Rows rows = RowsFromBatch(batch, "kubemend.deadletter", "2026-01-01 00:00:00+00");
  ASSERT_EQ(rows.events.size(), 4u);
  // Before 4714 BC, the first instant timestamptz holds: 22008.
  rows.events[2].occurred_us = -300000000000000000;
  absl::Status whole = store.Append(rows);
  EXPECT_EQ(whole.code(), absl::StatusCode::kInvalidArgument) << whole;

  auto res = AppendOrDeadLetter(store, rows, "2026-01-01 00:00:00+00");
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->refused, 1u);
  EXPECT_EQ(res->events, 3u);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events"), 3);
  EXPECT_EQ(Count("SELECT max(seq) FROM audit_events"), 3) << "no gap in seq";
  EXPECT_EQ(Count("SELECT count(*) FROM dead_letters WHERE source_offset = 2 AND consumer = 'audit' "
                  "AND reason LIKE 'postgres refused the row: SQLSTATE 22%'"),
            1);
  pqxx::connection c(dsn_);
  pqxx::work w(c);
  auto r = w.exec1("SELECT payload, payload_json->'signal'->>'name', target_name FROM audit_events "
                   "WHERE kafka_offset = 1");
  v1::Event back;
  ASSERT_TRUE(back.ParseFromString(pqxx::binarystring(r[0]).str()));
  EXPECT_EQ(back.signal().name(), nul_name) << "the payload keeps the original bytes";
  EXPECT_EQ(r[1].as<std::string>(), "KubePodCrashLooping\xEF\xBF\xBD" "evil");
  EXPECT_EQ(r[2].as<std::string>(), "web\xEF\xBF\xBDx");
  EXPECT_TRUE(w.exec1("SELECT ok FROM audit_verify_chain()")[0].as<bool>());
  // A redelivery of the same batch changes nothing.
  w.commit();
  ASSERT_TRUE(AppendOrDeadLetter(store, rows, "2026-01-01 00:00:00+00").ok());
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM dead_letters"), 1);
}

// Issue 17: the store writes with binary COPY. Every column must read back
// exactly as libpqxx's text COPY of the same rows wrote it (bytea, jsonb,
// timestamps before 1970 and 2000 and with microseconds, empty strings that
// must not become NULL, escapes, multi-byte text, a payload larger than the
// encoder's flush size), and the chain must verify over the binary rows.
TEST_F(AuditStoreTest, BinaryCopyRowsReadBackAsTheTextCopyWroteThem) {
  FakeClock clock;
  std::vector<InMessage> batch;
  const std::vector<std::pair<int64_t, int32_t>> times = {
      {1767225600, 123456789},  // 2026, sub-microsecond nanos are dropped
      {-1, 500000000},          // before 1970
      {946684799, 999999000},   // the last microsecond before 2000 (PostgreSQL's epoch)
      {946684800, 0},           // PostgreSQL's epoch itself
      {253402300799, 999999000}};  // 9999-12-31, the largest RFC 3339 time
  for (int i = 0; i < 12; ++i) {
    v1::Event s = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c\t1", "0"}, clock);
    const auto& [secs, nanos] = times[static_cast<size_t>(i) % times.size()];
    s.mutable_occurred_at()->set_seconds(secs);
    s.mutable_occurred_at()->set_nanos(nanos);
    s.set_incident_id(i % 2 ? "" : "inc-" + std::to_string(i));  // '' must stay '', not NULL
    s.mutable_signal()->set_name("tab\t quote\" backslash\\ newline\n cr\r é ✓ 𝄞 \\N " +
                                 std::to_string(i));
    (*s.mutable_signal()->mutable_labels())["nul"] = std::string("a\0b", 3);  // \u0000 in JSON
    (*s.mutable_signal()->mutable_labels())["bytes"] = "\x7f\xc3\xa9";
    if (i == 5) {
      // One payload bigger than the binary encoder's 256 KiB flush.
      (*s.mutable_signal()->mutable_labels())["big"] = std::string(300 * 1024, 'x');
    }
    s.mutable_target()->set_namespace_(i % 3 ? "shop" : "");
    batch.push_back({"kubemend.signals", i % 4, 1000 + i, "k", s.SerializeAsString(), 0});
  }
  Rows rows = RowsFromBatch(batch, "kubemend.deadletter", "2026-01-01 00:00:00+00");
  ASSERT_EQ(rows.events.size(), batch.size());
  std::vector<AuditRow*> ptrs;
  for (auto& r : rows.events) {
    ptrs.push_back(&r);
  }
  ChainRows(ptrs, ChainHead{}, 1767225600000001);

  const std::string text_dsn = dsn_;
  const std::string binary_dsn = [&] {
    const std::string db = db_ + "_bin";
    pqxx::connection admin(std::getenv("KUBEMEND_TEST_PG_DSN"));
    pqxx::nontransaction(admin).exec("CREATE DATABASE " + db);
    return std::string(std::getenv("KUBEMEND_TEST_PG_DSN")) + " dbname=" + db;
  }();
  for (bool binary : {false, true}) {
    PgConnection c(binary ? binary_dsn : text_dsn);
    ASSERT_TRUE(Migrate(c, KUBEMEND_MIGRATIONS_DIR).ok());
    pqxx::work w(c);
    w.exec("SELECT audit_ensure_partitions('2026-01-01 00:00:00+00', 0)");
    std::string buffer;
    if (binary) {
      CopyEventsBinary(w, c, rows.events, buffer);
    } else {
      CopyEventsText(w, rows.events);
    }
    w.commit();
  }
  // Each row as text: every column, bytea in hex, NULL distinct from ''.
  auto dump = [](const std::string& dsn) {
    pqxx::connection c(dsn);
    pqxx::work w(c);
    w.exec("SET TimeZone = 'UTC'");
    std::vector<std::string> out;
    for (const auto& row : w.exec("SELECT e::text, num_nulls(e.*) FROM audit_events e ORDER BY seq")) {
      EXPECT_EQ(row[1].as<int>(), 0) << "no column may be NULL: " << row[0].as<std::string>();
      out.push_back(row[0].as<std::string>());
    }
    return out;
  };
  std::vector<std::string> text_rows = dump(text_dsn);
  std::vector<std::string> binary_rows = dump(binary_dsn);
  ASSERT_EQ(text_rows.size(), rows.events.size());
  ASSERT_EQ(binary_rows.size(), text_rows.size());
  for (size_t i = 0; i < text_rows.size(); ++i) {
    EXPECT_EQ(binary_rows[i], text_rows[i]) << "row " << i;
  }
  // The stored values are the ones hashed, byte for byte.
  pqxx::connection c(binary_dsn);
  pqxx::work w(c);
  for (const auto& r : rows.events) {
    auto got = w.exec1("SELECT payload, row_hash, prev_hash, (extract(epoch FROM occurred_at) * 1000000)::bigint, "
                       "event_id::text FROM audit_events WHERE seq = " + std::to_string(r.seq));
    EXPECT_EQ(pqxx::binarystring(got[0]).str(), r.payload);
    EXPECT_EQ(pqxx::binarystring(got[1]).str(), r.row_hash);
    EXPECT_EQ(pqxx::binarystring(got[2]).str(), r.prev_hash);
    EXPECT_EQ(got[3].as<int64_t>(), r.occurred_us);
    EXPECT_EQ(got[4].as<std::string>(), r.event_id);
  }
  w.commit();
  // The chain check behind `kubemendctl audit verify`, over the binary rows.
  TrailReader reader(binary_dsn, "kubemend_reader");
  auto v = reader.Verify();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->ok()) << v->problem();
  EXPECT_EQ(v->checked(), static_cast<int64_t>(rows.events.size()));
}

// The store itself (binary COPY, dedup, lock, chain) over several batches.
TEST_F(AuditStoreTest, StoreWritesAVerifiableChainAcrossBatches) {
  PgAuditStore store(dsn_);
  ASSERT_TRUE(store.Open(KUBEMEND_MIGRATIONS_DIR).ok());
  for (int b = 0; b < 4; ++b) {
    ASSERT_TRUE(store.Append(SampleRows(700, b * 1000)).ok());
  }
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events"), 2800);
  EXPECT_EQ(Count("SELECT count(DISTINCT seq) FROM audit_events WHERE seq BETWEEN 1 AND 2800"), 2800);
  TrailReader reader(dsn_, "kubemend_reader");
  auto v = reader.Verify();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->ok()) << v->problem();
  EXPECT_EQ(v->checked(), 2800);
  EXPECT_EQ(v->head_seq(), 2800);
}

TEST_F(AuditStoreTest, TrailIsAppendOnlyForOwnerAndWriterAndReadOnlyForReader) {
  PgAuditStore store(dsn_);
  ASSERT_TRUE(store.Open(KUBEMEND_MIGRATIONS_DIR).ok());
  ASSERT_TRUE(store.Append(SampleRows(5)).ok());
  for (std::string role : {"", "kubemend_writer"}) {
    SCOPED_TRACE("role " + (role.empty() ? std::string("owner") : role));
    EXPECT_NE(TryAs(role, "UPDATE audit_events SET target_name = 'x' WHERE seq = 1"), "");
    EXPECT_NE(TryAs(role, "DELETE FROM audit_events WHERE seq = 2"), "");
    EXPECT_NE(TryAs(role, "TRUNCATE audit_events"), "");
    EXPECT_NE(TryAs(role, "DELETE FROM audit_event_ids"), "");
    EXPECT_NE(TryAs(role, "DELETE FROM dead_letters"), "");
  }
  // A partition addressed directly is no way around it.
  EXPECT_NE(TryAs("", "TRUNCATE " + [&] {
              pqxx::connection c(dsn_);
              pqxx::work w(c);
              return w.exec1("SELECT inhrelid::regclass::text FROM pg_inherits WHERE "
                             "inhparent = 'audit_events'::regclass LIMIT 1")[0]
                  .as<std::string>();
            }()),
            "");
  std::string owner_err = TryAs("", "DELETE FROM audit_events WHERE seq = 2");
  EXPECT_NE(owner_err.find("append-only"), std::string::npos) << owner_err;
  std::string writer_err = TryAs("kubemend_writer", "UPDATE audit_events SET rule = 'x'");
  EXPECT_NE(writer_err.find("permission denied"), std::string::npos) << writer_err;
  EXPECT_EQ(TryAs("kubemend_reader", "SELECT count(*) FROM audit_events"), "");
  EXPECT_EQ(TryAs("kubemend_reader", "SELECT count(*) FROM incidents"), "");
  EXPECT_EQ(TryAs("kubemend_reader", "SELECT * FROM audit_verify_chain()"), "");
  std::string reader_err = TryAs(
      "kubemend_reader",
      "INSERT INTO audit_event_ids VALUES ('00000000-0000-0000-0000-000000000001')");
  EXPECT_NE(reader_err.find("permission denied"), std::string::npos) << reader_err;
  EXPECT_NE(TryAs("kubemend_reader", "DELETE FROM audit_events"), "");
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events"), 5);
}

TEST_F(AuditStoreTest, VerificationNamesTheRowThatWasAltered) {
  PgAuditStore store(dsn_);
  ASSERT_TRUE(store.Open(KUBEMEND_MIGRATIONS_DIR).ok());
  ASSERT_TRUE(store.Append(SampleRows(20)).ok());
  ASSERT_TRUE(store.Append(SampleRows(20, 100)).ok());
  TrailReader reader(dsn_, "kubemend_reader");
  auto before = reader.Verify();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_TRUE(before->ok()) << before->problem();
  EXPECT_EQ(before->checked(), 40);
  EXPECT_EQ(before->head_seq(), 40);
  std::string bad_id;
  {
    // A superuser sidesteps the triggers and rewrites one row.
    pqxx::connection c(dsn_);
    pqxx::work w(c);
    w.exec("SET session_replication_role = replica");
    bad_id = w.exec1("UPDATE audit_events SET target_namespace = 'elsewhere' WHERE seq = 17 "
                     "RETURNING event_id::text")[0]
                 .as<std::string>();
    w.commit();
  }
  auto after = reader.Verify();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_FALSE(after->ok());
  EXPECT_EQ(after->bad_seq(), 17);
  EXPECT_EQ(after->bad_event_id(), bad_id);
  EXPECT_EQ(after->checked(), 16);
  EXPECT_NE(after->problem().find("altered"), std::string::npos) << after->problem();

  // Deleting a row (again behind the triggers' back) is a gap, named too.
  {
    pqxx::connection c(dsn_);
    pqxx::work w(c);
    w.exec("SET session_replication_role = replica");
    w.exec("UPDATE audit_events SET target_namespace = 'shop' WHERE seq = 17");
    w.exec("DELETE FROM audit_events WHERE seq = 30");
    w.commit();
  }
  auto gap = reader.Verify();
  ASSERT_TRUE(gap.ok());
  EXPECT_FALSE(gap->ok());
  EXPECT_EQ(gap->bad_seq(), 31);
  EXPECT_NE(gap->problem().find("missing"), std::string::npos) << gap->problem();
}

TEST_F(AuditStoreTest, RowsLandInMonthlyPartitionsCreatedAheadAndPruningKeepsTheChain) {
  FakeClock clock;  // 2026-01-01: months before the migration's own partitions
  StoreOptions opts;
  PgAuditStore store(dsn_, opts, clock);
  ASSERT_TRUE(store.Open(KUBEMEND_MIGRATIONS_DIR).ok());
  ASSERT_TRUE(store.Append(SampleRows(5)).ok());
  clock.Advance(std::chrono::hours(24 * 40));  // February
  ASSERT_TRUE(store.Append(SampleRows(5, 100)).ok());
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events_2026_01"), 5);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events_2026_02"), 5);
  EXPECT_EQ(Count("SELECT count(*) FROM pg_class WHERE relname = 'audit_events_2026_04'"), 1)
      << "partitions are created ahead";
  // Retention: the oldest month goes, its last hash stays as the anchor.
  EXPECT_NE(TryAs("", "SELECT audit_detach_partition('audit_events_2026_02')"), "")
      << "only the oldest partition may go";
  ASSERT_EQ(TryAs("", "SELECT audit_detach_partition('audit_events_2026_01')"), "");
  TrailReader reader(dsn_, "kubemend_reader");
  auto v = reader.Verify();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->ok()) << v->problem();
  EXPECT_EQ(v->checked(), 5);
  EXPECT_EQ(v->head_seq(), 10);
  ASSERT_TRUE(store.Append(SampleRows(3, 200)).ok());
  v = reader.Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << v->problem();
  EXPECT_EQ(v->head_seq(), 13);
}

TEST_F(AuditStoreTest, MigrationsApplyOnceAndChangedOnesStopStartUp) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("mig_" + db_);
  fs::create_directories(dir);
  fs::copy(fs::path(KUBEMEND_MIGRATIONS_DIR) / "001_audit_trail.sql", dir / "001_audit_trail.sql",
           fs::copy_options::overwrite_existing);
  {
    PgAuditStore store(dsn_);
    absl::Status first = store.Open(dir.string());
    ASSERT_TRUE(first.ok()) << first;
  }
  {
    PgAuditStore store(dsn_);
    ASSERT_TRUE(store.Open(dir.string()).ok()) << "a second start applies nothing";
  }
  EXPECT_EQ(Count("SELECT count(*) FROM schema_migrations"), 1);
  std::ofstream(dir / "002_extra.sql") << "CREATE TABLE extra_thing (x int);\n";
  {
    PgAuditStore store(dsn_);
    ASSERT_TRUE(store.Open(dir.string()).ok());
  }
  EXPECT_EQ(Count("SELECT count(*) FROM schema_migrations"), 2);
  std::ofstream(dir / "001_audit_trail.sql", std::ios::app) << "\n-- edited\n";
  PgAuditStore store(dsn_);
  absl::Status st = store.Open(dir.string());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("001_audit_trail.sql was changed"), std::string::npos) << st;
  fs::remove_all(dir);
}

// A small but complete trail: an incident that was fixed, one that was
// refused, a human approval, a policy change, a refused admin call.
Rows StoryRows() {
  FakeClock clock(std::chrono::system_clock::now() - std::chrono::hours(1));
  ProducerIdentity who{"collector", "c-1", "0.1.0"};
  std::vector<v1::Event> ev;
  for (int k = 0; k < 2; ++k) {
    v1::Event s = NewRootEvent(v1::EVENT_TYPE_SIGNAL, who, clock);
    s.set_incident_id(k == 0 ? "inc-42" : "inc-43");
    s.mutable_target()->set_namespace_(k == 0 ? "shop" : "kube-system");
    s.mutable_target()->set_kind("Deployment");
    s.mutable_target()->set_name(k == 0 ? "api" : "coredns");
    s.mutable_signal()->set_name("KubePodCrashLooping");
    s.mutable_signal()->set_status(v1::SIGNAL_STATUS_FIRING);
    clock.Advance(std::chrono::seconds(5));
    v1::Event p = NewCausedEvent(v1::EVENT_TYPE_PROPOSAL, s, "p", who, clock);
    p.mutable_proposal()->mutable_action()->set_type(v1::ACTION_TYPE_INCREASE_MEMORY);
    p.mutable_proposal()->mutable_policy()->set_name("oom-memory");
    clock.Advance(std::chrono::seconds(5));
    v1::Event d = NewCausedEvent(v1::EVENT_TYPE_DECISION, p, "d", who, clock);
    d.mutable_decision()->set_proposal_id(p.event_id());
    d.mutable_decision()->set_verdict(k == 0 ? v1::VERDICT_APPROVED : v1::VERDICT_REJECTED);
    d.mutable_decision()->set_rule(k == 0 ? "manual-approval" : "protected-namespace");
    d.mutable_decision()->set_approver(k == 0 ? "alice" : "safety-gate");
    d.mutable_decision()->set_reason(k == 0 ? "approved by alice" : "kube-system is protected");
    *d.mutable_decision()->mutable_proposal() = p.proposal();
    ev.insert(ev.end(), {s, p, d});
    if (k == 0) {
      v1::Event a = NewCausedEvent(v1::EVENT_TYPE_CONTROL, p, "approve", who, clock);
      a.mutable_control()->set_issued_by("alice");
      a.mutable_control()->set_reason("memory graph says so");
      a.mutable_control()->mutable_approval()->set_proposal_id(p.event_id());
      a.mutable_control()->mutable_approval()->set_approve(true);
      clock.Advance(std::chrono::seconds(30));
      v1::Event o = NewCausedEvent(v1::EVENT_TYPE_OUTCOME, d, "o", who, clock);
      o.mutable_outcome()->set_decision_id(d.event_id());
      o.mutable_outcome()->set_action_id("act-1");
      o.mutable_outcome()->set_status(v1::OUTCOME_STATUS_SUCCEEDED);
      *o.mutable_outcome()->mutable_action() = p.proposal().action();
      auto* ch = o.mutable_outcome()->add_changes();
      ch->set_path("spec.template.spec.containers[app].resources.limits.memory");
      ch->set_before("256Mi");
      ch->set_after("320Mi");
      o.mutable_outcome()->mutable_verification()->set_healthy(true);
      ev.insert(ev.end(), {a, o});
    }
  }
  v1::Event pc = NewRootEvent(v1::EVENT_TYPE_CONTROL, {"analyzer", "a-1", "0"}, clock);
  pc.mutable_control()->set_issued_by("analyzer");
  pc.mutable_control()->mutable_policy_change()->mutable_policy()->set_name("oom-memory");
  pc.mutable_control()->mutable_policy_change()->set_change("updated");
  v1::Event denied = NewRootEvent(v1::EVENT_TYPE_CONTROL, {"safety-gate", "g-1", "0"}, clock);
  denied.mutable_control()->set_issued_by("anonymous");
  denied.mutable_control()->set_reason("admin-auth unauthenticated: /x/Approve");
  ev.insert(ev.end(), {pc, denied});
  std::vector<InMessage> batch;
  int off = 0;
  for (const auto& e : ev) {
    batch.push_back({"kubemend.x", 0, off++, "k", e.SerializeAsString(), 0});
  }
  batch.push_back({"kubemend.x", 0, off++, "k", "junk", 0});
  return RowsFromBatch(batch, "kubemend.deadletter", "2026-01-01 00:00:00+00");
}

// Issue 12: the incidents view mapped the redelivery fence's DUPLICATE to
// 'resolved', hiding a NOT_FIXED outcome (or a lost one) behind it.
TEST_F(AuditStoreTest, DuplicateOutcomeNeverMakesAnIncidentResolved) {
  PgAuditStore store(dsn_);
  ASSERT_TRUE(store.Open(KUBEMEND_MIGRATIONS_DIR).ok());
  FakeClock clock;
  auto decision = [&](const std::string& incident) {
    v1::Event d = NewRootEvent(v1::EVENT_TYPE_DECISION, {"safety-gate", "g", "0"}, clock);
    d.set_incident_id(incident);
    d.mutable_decision()->set_verdict(v1::VERDICT_APPROVED);
    return d;
  };
  auto outcome = [&](const std::string& incident, v1::OutcomeStatus st) {
    clock.Advance(std::chrono::seconds(1));
    v1::Event o = NewRootEvent(v1::EVENT_TYPE_OUTCOME, {"executor", "e", "0"}, clock);
    o.set_incident_id(incident);
    o.mutable_outcome()->set_status(st);
    return o;
  };
  std::vector<v1::Event> ev = {decision("inc-a"), outcome("inc-a", v1::OUTCOME_STATUS_NOT_FIXED),
                               outcome("inc-a", v1::OUTCOME_STATUS_DUPLICATE),
                               decision("inc-b"), outcome("inc-b", v1::OUTCOME_STATUS_DUPLICATE)};
  std::vector<InMessage> batch;
  int off = 0;
  for (const auto& e : ev) {
    batch.push_back({"kubemend.x", 0, off++, "k", e.SerializeAsString(), 0});
  }
  ASSERT_TRUE(store.Append(RowsFromBatch(batch, "kubemend.deadletter", "2026-01-01 00:00:00+00")).ok());
  pqxx::connection c(dsn_);
  pqxx::work w(c);
  auto inc = w.exec("SELECT incident_id, status, outcome FROM incidents ORDER BY incident_id");
  ASSERT_EQ(inc.size(), 2u);
  EXPECT_EQ(inc[0][1].as<std::string>(), "failed") << "not_fixed, then the fence said duplicate";
  EXPECT_EQ(inc[0][2].as<std::string>(), "not_fixed");
  EXPECT_EQ(inc[1][1].as<std::string>(), "in_progress") << "only the fence answered: no result known";
}

// Issue 13: the incidents view shows the analyzer's incidents. Three pods'
// alerts (three provisional incident ids from the collector) grouped by the
// analyzer into one: a proposal answering the first, NoActions naming the
// incident for the other two, then IncidentClosed.
TEST_F(AuditStoreTest, IncidentsAreTheAnalyzersWithTheSignalsTheyAbsorbed) {
  PgAuditStore store(dsn_);
  ASSERT_TRUE(store.Open(KUBEMEND_MIGRATIONS_DIR).ok());
  FakeClock clock;
  std::vector<v1::Event> ev;
  for (const char* pod : {"api-a", "api-b", "api-c"}) {
    clock.Advance(std::chrono::seconds(1));
    v1::Event s = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c", "0"}, clock);
    s.set_incident_id(std::string("prov-") + pod);
    s.mutable_target()->set_namespace_("shop");
    s.mutable_target()->set_kind("Pod");
    s.mutable_target()->set_name(pod);
    s.mutable_signal()->set_name("KubePodCrashLooping");
    s.mutable_signal()->set_status(v1::SIGNAL_STATUS_FIRING);
    ev.push_back(s);
  }
  const ProducerIdentity analyzer{"analyzer", "a", "0"};
  v1::Event p = NewCausedEvent(v1::EVENT_TYPE_PROPOSAL, ev[0], "proposal", analyzer, clock);
  p.set_incident_id("prov-api-a");
  p.mutable_proposal()->add_signal_ids(ev[0].event_id());
  p.mutable_proposal()->mutable_action()->set_type(v1::ACTION_TYPE_INCREASE_MEMORY);
  ev.push_back(p);
  for (int i : {1, 2}) {
    v1::Event n = NewCausedEvent(v1::EVENT_TYPE_CONTROL, ev[i], "no-action", analyzer, clock);
    n.set_incident_id("prov-api-a");
    n.mutable_control()->set_reason("in_flight: joined incident prov-api-a");
    n.mutable_control()->mutable_no_action()->set_signal_id(ev[i].event_id());
    n.mutable_control()->mutable_no_action()->set_incident_id("prov-api-a");
    n.mutable_control()->mutable_no_action()->set_category("in_flight");
    ev.push_back(n);
  }
  std::vector<InMessage> batch;
  int off = 0;
  for (const auto& e : ev) {
    batch.push_back({"kubemend.x", 0, off++, "k", e.SerializeAsString(), 0});
  }
  ASSERT_TRUE(store.Append(RowsFromBatch(batch, "kubemend.deadletter", "2026-01-01 00:00:00+00")).ok());
  {
    pqxx::connection c(dsn_);
    pqxx::work w(c);
    auto inc = w.exec("SELECT incident_id, status, absorbed, why_not, closed_as FROM incidents");
    ASSERT_EQ(inc.size(), 1u) << "one incident, not one per signal";
    EXPECT_EQ(inc[0][0].as<std::string>(), "prov-api-a");
    EXPECT_EQ(inc[0][1].as<std::string>(), "proposed");
    EXPECT_EQ(inc[0][2].as<int>(), 3);
    EXPECT_EQ(inc[0][3].as<std::string>(), "in_flight: joined incident prov-api-a");
    EXPECT_EQ(inc[0][4].as<std::string>(), "");
    EXPECT_EQ(w.exec1("SELECT count(*) FROM incident_timeline WHERE incident_id = 'prov-api-a' "
                      "AND event_type = 'signal'")[0].as<int>(), 3);
  }
  // The timeline of an absorbed signal's own id is the incident that took it.
  TrailReader reader(dsn_, "kubemend_reader");
  auto tl = reader.Timeline("prov-api-c");
  ASSERT_TRUE(tl.ok()) << tl.status();
  EXPECT_EQ(tl->incident().incident_id(), "prov-api-a");
  EXPECT_EQ(tl->incident().absorbed(), 3);
  EXPECT_EQ(tl->records_size(), 6) << "three signals, the proposal, two NoActions";
  v1::Event closed = NewCausedEvent(v1::EVENT_TYPE_CONTROL, p, "closed", analyzer, clock);
  closed.set_incident_id("prov-api-a");
  auto* ic = closed.mutable_control()->mutable_incident_closed();
  ic->set_incident_id("prov-api-a");
  ic->set_classification("not_fixed");
  std::vector<InMessage> more = {{"kubemend.x", 0, off++, "k", closed.SerializeAsString(), 0}};
  ASSERT_TRUE(store.Append(RowsFromBatch(more, "kubemend.deadletter", "2026-01-01 00:00:00+00")).ok());
  pqxx::connection c(dsn_);
  pqxx::work w(c);
  auto inc = w.exec1("SELECT status, closed_as FROM incidents");
  EXPECT_EQ(inc[0].as<std::string>(), "not_fixed") << "closed by the analyzer, not open forever";
  EXPECT_EQ(inc[1].as<std::string>(), "not_fixed");
}

TEST_F(AuditStoreTest, ViewsTellTheStory) {
  PgAuditStore store(dsn_);
  ASSERT_TRUE(store.Open(KUBEMEND_MIGRATIONS_DIR).ok());
  ASSERT_TRUE(store.Append(StoryRows()).ok());
  pqxx::connection c(dsn_);
  pqxx::work w(c);
  auto inc = w.exec("SELECT incident_id, status, verdict, outcome, last_action, signals::text "
                    "FROM incidents ORDER BY incident_id");
  ASSERT_EQ(inc.size(), 2u);
  EXPECT_EQ(inc[0][1].as<std::string>(), "resolved");
  EXPECT_EQ(inc[0][4].as<std::string>(), "IncreaseMemory");
  EXPECT_EQ(inc[0][5].as<std::string>(), "{KubePodCrashLooping}");
  EXPECT_EQ(inc[1][1].as<std::string>(), "rejected");
  auto act = w.exec1("SELECT approver, reason, change_summary, outcome, verified_healthy "
                     "FROM actions");
  EXPECT_EQ(act[0].as<std::string>(), "alice");
  EXPECT_EQ(act[1].as<std::string>(), "approved by alice");
  EXPECT_EQ(act[2].as<std::string>(),
            "spec.template.spec.containers[app].resources.limits.memory: 256Mi -> 320Mi");
  EXPECT_EQ(act[3].as<std::string>(), "succeeded");
  EXPECT_TRUE(act[4].as<bool>());
  EXPECT_EQ(w.exec1("SELECT count(*) FROM approvals")[0].as<int>(), 2)
      << "alice's control approval and her decision";
  EXPECT_EQ(w.exec1("SELECT change FROM policy_changes")[0].as<std::string>(), "updated");
  EXPECT_EQ(w.exec1("SELECT count(*) FROM incident_timeline WHERE incident_id = 'inc-42'")[0]
                .as<int>(),
            5);
}

TEST_F(AuditStoreTest, SqlRecipesInTheDocsRun) {
  PgAuditStore store(dsn_);
  ASSERT_TRUE(store.Open(KUBEMEND_MIGRATIONS_DIR).ok());
  ASSERT_TRUE(store.Append(StoryRows()).ok());
  std::ifstream in(KUBEMEND_SQL_RECIPES);
  ASSERT_TRUE(in) << KUBEMEND_SQL_RECIPES;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  static const std::regex kBlock(R"(```sql\n([\s\S]*?)```)");
  int n = 0;
  int with_rows = 0;
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), kBlock); it != std::sregex_iterator();
       ++it) {
    std::string sql = (*it)[1].str();
    ++n;
    try {
      pqxx::connection c(dsn_);
      pqxx::work w(c);
      w.exec("SET ROLE kubemend_reader");
      if (!w.exec(sql).empty()) {
        ++with_rows;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "recipe " << n << " failed: " << e.what() << "\n" << sql;
    }
  }
  EXPECT_GE(n, 10) << "docs/sql-recipes.md promises at least ten recipes";
  EXPECT_GE(with_rows, 10) << "most recipes find something in the sample trail";
}

TEST_F(AuditStoreTest, UnreachableDatabaseIsUnavailableNotACrash) {
  PgAuditStore store("host=127.0.0.1 port=1 connect_timeout=1");
  absl::Status st = store.Open(KUBEMEND_MIGRATIONS_DIR);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_FALSE(store.Health().empty());
  EXPECT_EQ(store.Append(SampleRows(1)).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace kubemend::audit
