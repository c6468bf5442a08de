// kill -9 of the audit service in the middle of ingesting: after a restart
// the trail holds every event exactly once and the chain verifies. Runs the
// real stack through ./kubemend up against the test broker and PostgreSQL
// (./kubemend test sets KUBEMEND_ROOT, KUBEMEND_BUILD_DIR,
// KUBEMEND_TEST_PG_DSN, KUBEMEND_TEST_KAFKA_BROKERS).
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <thread>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/kafka.h"

namespace kubemend::audit {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

int Sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

class AuditCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = Env("KUBEMEND_ROOT");
    pg_ = Env("KUBEMEND_TEST_PG_DSN");
    brokers_ = Env("KUBEMEND_TEST_KAFKA_BROKERS");
    if (root_.empty() || pg_.empty() || brokers_.empty()) {
      FAIL() << "KUBEMEND_ROOT, KUBEMEND_TEST_PG_DSN and KUBEMEND_TEST_KAFKA_BROKERS must be set; "
                "run through ./kubemend test";
    }
    id_ = NewUuid().substr(0, 8);
    std::string db = "crash_" + id_;
    pqxx::connection admin(pg_);
    pqxx::nontransaction(admin).exec("CREATE DATABASE " + db);
    dsn_ = pg_ + " dbname=" + db;
    run_dir_ = (std::filesystem::temp_directory_path() / ("kubemend-crash-" + id_)).string();
    prefix_ = "crash" + id_ + ".";
  }
  void TearDown() override {
    if (!run_dir_.empty()) {
      Sh(root_ + "/kubemend down --run-dir " + run_dir_ + " >/dev/null 2>&1");
    }
  }
  int64_t Count(const std::string& sql) {
    pqxx::connection c(dsn_);
    pqxx::work w(c);
    return w.exec1(sql)[0].as<int64_t>();
  }
  std::string root_, pg_, brokers_, id_, dsn_, run_dir_, prefix_;
};

TEST_F(AuditCrashTest, KillNineMidBatchLosesAndDoublesNothing) {
  ASSERT_EQ(Sh(root_ + "/kubemend up --run-dir " + run_dir_ + " --kafka-brokers '" + brokers_ +
               "' --pg-dsn '" + dsn_ + "' --topic-prefix " + prefix_ + " --no-build >" + run_dir_ +
               ".up.log 2>&1"),
            0)
      << "see " << run_dir_ << ".up.log";
  // Outcomes: on this branch only the audit service consumes them, so the
  // expected count is exactly what we publish.
  constexpr int kEvents = 30000;
  KafkaConfig kc;
  kc.brokers = brokers_;
  kc.topic_prefix = prefix_;
  auto producer = Producer::Create(kc, "crash-test", nullptr);
  ASSERT_TRUE(producer.ok()) << producer.status();
  auto tracker = std::make_shared<DeliveryTracker>();
  FakeClock clock;
  for (int i = 0; i < kEvents; ++i) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_OUTCOME, {"executor", "x-1", "0"}, clock);
    e.set_incident_id("inc-" + std::to_string(i % 97));
    e.mutable_target()->set_namespace_("ns" + std::to_string(i % 13));
    e.mutable_target()->set_name("w" + std::to_string(i));
    e.mutable_outcome()->set_status(v1::OUTCOME_STATUS_SUCCEEDED);
    ASSERT_TRUE((*producer)
                    ->Produce(TopicName(kc, Topic::kOutcomes), TargetKey(e.target()),
                              e.SerializeAsString(), tracker)
                    .ok());
  }
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(30)).ok());

  // Kill as soon as the first rows are in: the service is mid-stream.
  std::string pid;
  std::ifstream(run_dir_ + "/pids/audit") >> pid;
  ASSERT_FALSE(pid.empty());
  int64_t at_kill = 0;
  for (int i = 0; i < 3000 && at_kill == 0; ++i) {
    at_kill = Count("SELECT count(*) FROM audit_events");
    if (at_kill == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ASSERT_EQ(kill(std::stoi(pid), SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int64_t after_kill = Count("SELECT count(*) FROM audit_events");
  RecordProperty("rows_at_kill", std::to_string(after_kill));
  std::cerr << "rows when killed: " << after_kill << " of " << kEvents << "\n";

  ASSERT_EQ(Sh(root_ + "/kubemend restart-service audit --run-dir " + run_dir_ + " >>" + run_dir_ +
               ".up.log 2>&1"),
            0);
  int64_t n = 0;
  for (int i = 0; i < 600 && n < kEvents; ++i) {
    n = Count("SELECT count(*) FROM audit_events WHERE producer_instance = 'x-1'");
    if (n < kEvents) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // Give a would-be duplicate time to show up.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  // The stack's own services add a few events of their own (the analyzer
  // announces its policies on the control topic); count ours, and check the
  // whole trail has no duplicates and no gaps.
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE producer_instance = 'x-1'"), kEvents);
  int64_t total = Count("SELECT count(*) FROM audit_events");
  EXPECT_EQ(Count("SELECT count(DISTINCT event_id) FROM audit_events"), total);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_event_ids"), total);
  EXPECT_EQ(Count("SELECT max(seq) FROM audit_events"), total) << "no gaps in the chain";
  EXPECT_EQ(Count("SELECT count(*) FROM audit_verify_chain() WHERE ok"), 1);
}

}  // namespace
}  // namespace kubemend::audit
