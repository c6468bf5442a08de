// Integration tests against a real PostgreSQL. The server comes from
// KUBEMEND_TEST_PG_DSN (set by ./kubemend test); each test gets a fresh
// database.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "store.h"

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
  std::string db_;
  std::string dsn_;
};

Rows SampleRows(int n) {
  FakeClock clock;
  std::vector<InMessage> batch;
  for (int i = 0; i < n; ++i) {
    v1::Event s = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c", "0"}, clock);
    s.mutable_signal()->set_name("Alert\t\"quoted\"\\ and newline\n" + std::to_string(i));
    batch.push_back({"kubemend.signals", 0, i, "k", s.SerializeAsString(), 0});
  }
  batch.push_back({"kubemend.signals", 0, n, "k", std::string("\x00\x01\\junk", 7), 0});
  return RowsFromBatch(batch, "kubemend.deadletter", "2026-01-01 00:00:00+00");
}

TEST_F(AuditStoreTest, AppendIsIdempotentAcrossRedelivery) {
  PgAuditStore store(dsn_);
  ASSERT_TRUE(store.Open(KUBEMEND_MIGRATIONS_DIR).ok());
  Rows rows = SampleRows(50);
  ASSERT_TRUE(store.Append(rows).ok());
  ASSERT_TRUE(store.Append(rows).ok()) << "a redelivered batch must be accepted";
  pqxx::connection c(dsn_);
  pqxx::work w(c);
  EXPECT_EQ(w.exec1("SELECT count(*) FROM audit_events")[0].as<int>(), 50);
  EXPECT_EQ(w.exec1("SELECT count(*) FROM dead_letters")[0].as<int>(), 1);
  // The original bytes survive COPY escaping exactly.
  auto r = w.exec1("SELECT payload, payload_json->'signal'->>'name' FROM audit_events WHERE kafka_offset = 7");
  v1::Event back;
  ASSERT_TRUE(back.ParseFromString(pqxx::binarystring(r[0]).str()));
  EXPECT_EQ(back.signal().name(), "Alert\t\"quoted\"\\ and newline\n7");
  EXPECT_EQ(r[1].as<std::string>(), "Alert\t\"quoted\"\\ and newline\n7");
  auto d = w.exec1("SELECT payload FROM dead_letters");
  EXPECT_EQ(pqxx::binarystring(d[0]).str(), std::string("\x00\x01\\junk", 7));
}

TEST_F(AuditStoreTest, MigrationsApplyOnceAndChangedOnesStopStartUp) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("mig_" + db_);
  fs::create_directories(dir);
  fs::copy(KUBEMEND_MIGRATIONS_DIR, dir, fs::copy_options::overwrite_existing | fs::copy_options::recursive);
  {
    PgAuditStore store(dsn_);
    ASSERT_TRUE(store.Open(dir.string()).ok());
  }
  {
    PgAuditStore store(dsn_);
    ASSERT_TRUE(store.Open(dir.string()).ok()) << "a second start applies nothing";
  }
  std::ofstream(dir / "001_audit_trail.sql", std::ios::app) << "\n-- edited\n";
  PgAuditStore store(dsn_);
  absl::Status st = store.Open(dir.string());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("001_audit_trail.sql was changed"), std::string::npos) << st;
  fs::remove_all(dir);
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
