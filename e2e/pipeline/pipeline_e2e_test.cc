// The whole pipeline as separate processes (./kubemend up): webhook in,
// signal → proposal → decision → outcome rows out, linked by incident and
// causation; bad input refused or dead-lettered; a killed service resumes
// without duplicates or gaps; PostgreSQL down at start loses nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pqxx/pqxx>
#include <thread>
#include <fstream>
#include <httplib.h>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/kafka.h"
#include "stack.h"

namespace kubemend::e2e {
namespace {

using std::chrono::seconds;

class PipelineE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err = stack_.Up();
    ASSERT_EQ(err, "") << err;
  }
  Stack stack_;
};

TEST_F(PipelineE2ETest, WebhookBecomesFourLinkedRowsInTheTrail) {
  auto [code, body] = Post(stack_.CollectorUrl(), "/api/v1/alerts",
                           AlertBody("KubePodCrashLooping",
                                     {{"namespace", "shop"}, {"pod", "api-1"}, {"container", "app"}},
                                     "fp-chain"));
  ASSERT_EQ(code, 200) << body;
  long n = 0;
  ASSERT_TRUE(WaitForCount(stack_.dsn(),
                           "SELECT count(*) FROM audit_events WHERE event_type IN ('signal', "
                           "'proposal', 'decision', 'outcome')",
                           [](long v) { return v >= 4; }, seconds(60), &n))
      << "rows: " << n;
  pqxx::connection c(stack_.dsn());
  pqxx::work w(c);
  auto rows = w.exec(
      "SELECT event_type, event_id::text, causation_id, incident_id, verdict, rule, outcome_status, "
      "target_namespace, target_name, action_type FROM audit_events "
      "WHERE event_type IN ('signal', 'proposal', 'decision', 'outcome') ORDER BY seq");
  ASSERT_EQ(rows.size(), 4u);
  std::map<std::string, pqxx::row> by_type;
  for (const auto& r : rows) {
    by_type.emplace(r[0].as<std::string>(), r);
  }
  ASSERT_EQ(by_type.size(), 4u) << "one row of each type";
  const auto& sig = by_type.at("signal");
  const auto& prop = by_type.at("proposal");
  const auto& dec = by_type.at("decision");
  const auto& out = by_type.at("outcome");
  std::string incident = sig[3].as<std::string>();
  EXPECT_FALSE(incident.empty());
  for (const auto* r : {&prop, &dec, &out}) {
    EXPECT_EQ((*r)[3].as<std::string>(), incident) << "same incident id on every row";
  }
  EXPECT_EQ(sig[2].as<std::string>(), "");
  EXPECT_EQ(prop[2].as<std::string>(), sig[1].as<std::string>());
  EXPECT_EQ(dec[2].as<std::string>(), prop[1].as<std::string>());
  EXPECT_EQ(out[2].as<std::string>(), dec[1].as<std::string>());
  EXPECT_EQ(dec[4].as<std::string>(), "approved");
  EXPECT_EQ(out[6].as<std::string>(), "dry_run");
  EXPECT_EQ(prop[9].as<std::string>(), "RestartPod");
  EXPECT_EQ(sig[7].as<std::string>(), "shop");
  EXPECT_EQ(sig[8].as<std::string>(), "api-1");
}

TEST_F(PipelineE2ETest, ProtectedNamespaceIsRejectedWithItsRuleAndNeverExecuted) {
  auto [code, body] = Post(stack_.CollectorUrl(), "/api/v1/alerts",
                           AlertBody("KubePodCrashLooping",
                                     {{"namespace", "kube-system"}, {"pod", "coredns-1"}}, "fp-ks"));
  ASSERT_EQ(code, 200) << body;
  ASSERT_TRUE(WaitForCount(stack_.dsn(),
                           "SELECT count(*) FROM audit_events WHERE event_type='decision'",
                           [](long v) { return v >= 1; }, seconds(30)));
  pqxx::connection c(stack_.dsn());
  pqxx::work w(c);
  auto d = w.exec1("SELECT verdict, rule, payload_json->'decision'->>'reason' FROM audit_events "
                   "WHERE event_type='decision'");
  EXPECT_EQ(d[0].as<std::string>(), "rejected");
  EXPECT_EQ(d[1].as<std::string>(), "protected-namespace");
  EXPECT_NE(d[2].as<std::string>().find("kube-system"), std::string::npos);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(QueryLong(stack_.dsn(), "SELECT count(*) FROM audit_events WHERE event_type='outcome'"), 0);
}

TEST_F(PipelineE2ETest, BadInputIsRefusedOrDeadLetteredNeverLost) {
  auto [code, body] = Post(stack_.CollectorUrl(), "/api/v1/alerts", R"({"version":"4","alerts":[{}]})");
  EXPECT_EQ(code, 400);
  EXPECT_NE(body.find("alerts[0]"), std::string::npos) << body;

  KafkaConfig kc;
  kc.brokers = stack_.brokers();
  kc.topic_prefix = stack_.topic_prefix();
  auto p = Producer::Create(kc, "e2e", nullptr);
  ASSERT_TRUE(p.ok());
  auto tracker = std::make_shared<DeliveryTracker>();
  ASSERT_TRUE((*p)->Produce(TopicName(kc, Topic::kSignals), "k", "\x08\x96\x01 not an event", tracker).ok());
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());
  // The analyzer dead-letters it (and the audit keeps it from the DLQ topic);
  // the audit, which reads the signals topic too, records its own refusal.
  long n = 0;
  EXPECT_TRUE(WaitForCount(stack_.dsn(),
                           "SELECT count(DISTINCT consumer) FROM dead_letters WHERE source_topic = '" +
                               TopicName(kc, Topic::kSignals) + "'",
                           [](long v) { return v >= 2; }, seconds(30), &n))
      << "consumers that recorded the poison message: " << n;
  EXPECT_EQ(QueryLong(stack_.dsn(), "SELECT count(*) FROM dead_letters WHERE consumer='analyzer' "
                                    "AND reason LIKE '%decoding failed%'"),
            1);
  // The pipeline still works after the poison message.
  auto [code2, body2] = Post(stack_.CollectorUrl(), "/api/v1/alerts",
                             AlertBody("KubePodCrashLooping", {{"namespace", "a"}, {"pod", "b"}}, "fp-after"));
  ASSERT_EQ(code2, 200) << body2;
  EXPECT_TRUE(WaitForCount(stack_.dsn(), "SELECT count(*) FROM audit_events WHERE event_type='outcome'",
                           [](long v) { return v >= 1; }, seconds(30)));
}

// The safety gate's rate limits would (rightly) reject most of a burst of
// thirty restarts in one namespace; this test is about delivery, not policy.
class UnlimitedPipelineE2ETest : public PipelineE2ETest {
 protected:
  void SetUp() override {
    for (const char* k : {"KUBEMEND_RATE_LIMITS_PER_NAMESPACE_MAX", "KUBEMEND_RATE_LIMITS_CLUSTER_MAX",
                          "KUBEMEND_RATE_LIMITS_WORKLOAD_BUDGET_MAX", "KUBEMEND_BLAST_RADIUS_MAX_IN_FLIGHT"}) {
      setenv(k, "0", 1);
    }
    setenv("KUBEMEND_ANALYZER_DEFAULTS_MAX_ACTIONS_PER_HOUR", "3600", 1);
    PipelineE2ETest::SetUp();
  }
  void TearDown() override {
    for (const char* k : {"KUBEMEND_RATE_LIMITS_PER_NAMESPACE_MAX", "KUBEMEND_RATE_LIMITS_CLUSTER_MAX",
                          "KUBEMEND_RATE_LIMITS_WORKLOAD_BUDGET_MAX", "KUBEMEND_BLAST_RADIUS_MAX_IN_FLIGHT"}) {
      unsetenv(k);
    }
    unsetenv("KUBEMEND_ANALYZER_DEFAULTS_MAX_ACTIONS_PER_HOUR");
  }
};

TEST_F(UnlimitedPipelineE2ETest, KilledServiceResumesWithoutDuplicatesOrGaps) {
  constexpr int kAlerts = 30;
  int analyzer = stack_.Pid("analyzer");
  ASSERT_GT(analyzer, 0);
  ASSERT_EQ(kill(analyzer, SIGKILL), 0);
  for (int i = 0; i < kAlerts; ++i) {
    auto [code, body] = Post(stack_.CollectorUrl(), "/api/v1/alerts",
                             AlertBody("KubePodCrashLooping",
                                       {{"namespace", "shop"}, {"pod", "api-" + std::to_string(i)}},
                                       "fp-" + std::to_string(i)));
    ASSERT_EQ(code, 200) << body;
    if (i == kAlerts / 2) {
      // And the audit service dies mid-stream too.
      ASSERT_EQ(kill(stack_.Pid("audit"), SIGKILL), 0);
    }
  }
  ASSERT_EQ(stack_.Kubemend("restart-service audit"), 0);
  ASSERT_EQ(stack_.Kubemend("restart-service analyzer"), 0);
  long n = 0;
  ASSERT_TRUE(WaitForCount(stack_.dsn(), "SELECT count(*) FROM audit_events WHERE event_type='outcome'",
                           [](long v) { return v >= kAlerts; }, seconds(60), &n))
      << "outcomes: " << n;
  std::this_thread::sleep_for(std::chrono::seconds(1));
  for (const char* type : {"signal", "proposal", "decision", "outcome"}) {
    EXPECT_EQ(QueryLong(stack_.dsn(), std::string("SELECT count(*) FROM audit_events WHERE event_type='") +
                                          type + "'"),
              kAlerts)
        << type;
  }
  EXPECT_EQ(QueryLong(stack_.dsn(),
                      "SELECT count(*) FROM audit_events o JOIN audit_events d ON o.causation_id = "
                      "d.event_id::text JOIN audit_events p ON d.causation_id = p.event_id::text JOIN "
                      "audit_events s ON p.causation_id = s.event_id::text WHERE o.event_type='outcome'"),
            kAlerts)
      << "every outcome links back through decision and proposal to its signal";
}

// PostgreSQL unreachable when the audit service starts: it must report
// NOT_SERVING, keep retrying, and once the database is there, ingest every
// event published meanwhile.
TEST(AuditStartupE2ETest, DatabaseDownAtStartLosesNothing) {
  const char* root = std::getenv("KUBEMEND_ROOT");
  const char* build = std::getenv("KUBEMEND_BUILD_DIR");
  const char* kafka = std::getenv("KUBEMEND_TEST_KAFKA_BROKERS");
  ASSERT_TRUE(root && build && kafka) << "run through ./kubemend test";
  std::string id = NewUuid().substr(0, 8);
  std::string db = "late_" + id;
  std::string base = std::getenv("KUBEMEND_TEST_PG_DSN");
  std::string dsn = base.substr(0, base.find("dbname=")) + " dbname=" + db;
  std::string ready = "/tmp/audit-" + id + ".ready";
  KafkaConfig kc;
  kc.brokers = kafka;
  kc.topic_prefix = "late" + id + ".";
  pid_t pid = fork();
  if (pid == 0) {
    setenv("KUBEMEND_KAFKA_BROKERS", kafka, 1);
    setenv("KUBEMEND_KAFKA_TOPIC_PREFIX", kc.topic_prefix.c_str(), 1);
    setenv("KUBEMEND_KAFKA_GROUP_ID", ("late" + id).c_str(), 1);
    setenv("KUBEMEND_POSTGRES_DSN", (dsn + " connect_timeout=2").c_str(), 1);
    setenv("KUBEMEND_AUDIT_MIGRATIONS_DIR", (std::string(root) + "/migrations").c_str(), 1);
    setenv("KUBEMEND_GRPC_LISTEN", "127.0.0.1:0", 1);
    setenv("KUBEMEND_HTTP_LISTEN", "127.0.0.1:0", 1);
    setenv("KUBEMEND_RUNTIME_READY_FILE", ready.c_str(), 1);
    std::string bin = std::string(build) + "/services/audit/kubemend-audit";
    std::string log = "/tmp/audit-" + id + ".log";
    freopen(log.c_str(), "w", stderr);
    execl(bin.c_str(), bin.c_str(), nullptr);
    _exit(127);
  }
  // Publish while the database does not exist.
  auto p = Producer::Create(kc, "e2e", nullptr);
  ASSERT_TRUE(p.ok());
  auto tracker = std::make_shared<DeliveryTracker>();
  FakeClock clock;
  for (int i = 0; i < 25; ++i) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "t", "0"}, clock);
    e.mutable_signal()->set_name("Late" + std::to_string(i));
    ASSERT_TRUE((*p)->Produce(TopicName(kc, Topic::kSignals), "k", e.SerializeAsString(), tracker).ok());
  }
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());
  // Health says NOT_SERVING with the reason.
  std::string http;
  for (int i = 0; i < 100 && http.empty(); ++i) {
    std::ifstream in(ready);
    std::string line;
    if (std::getline(in, line)) {
      auto pos = line.find("\"http\":\"");
      http = line.substr(pos + 8, line.find('"', pos + 8) - pos - 8);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(http.empty());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  httplib::Client hc("http://" + http);
  auto res = hc.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_NE(res->body.find("postgres"), std::string::npos) << res->body;
  // The database comes back.
  CreateDatabase(db);
  long n = 0;
  EXPECT_TRUE(WaitForCount(dsn, "SELECT count(*) FROM audit_events", [](long v) { return v >= 25; },
                           seconds(60), &n))
      << "rows: " << n;
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(QueryLong(dsn, "SELECT count(*) FROM audit_events"), 25);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "clean shutdown, status " << status;
}

}  // namespace
}  // namespace kubemend::e2e
