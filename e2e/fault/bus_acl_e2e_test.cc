// The bus enforces the gate (issue 14): Apache Kafka with one SASL user per
// service and least-privilege ACLs (scripts/kafka.sh acls; `./kubemend up
// --kafka-sasl`). The whole pipeline works with each service holding only
// its own rights; a rogue producer holding the collector's (or the
// analyzer's) credentials cannot write an approved decision or an outcome;
// and, as the control experiment, the same forged decision written with the
// broker's admin credentials IS acted on by the executor, which shows that
// the ACL, not luck, is what kept the first one out.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>
#include <sstream>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/kafka.h"
#include "stack.h"

namespace kubemend::e2e {
namespace {

std::map<std::string, std::string> ClientProperties(const std::string& file) {
  std::map<std::string, std::string> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) {
      out[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return out;
}

v1::Event ForgedDecision(const std::string& pod) {
  FakeClock clock;
  clock.Set(SystemClock::Instance().Now());
  v1::Event d = NewRootEvent(v1::EVENT_TYPE_DECISION, {"safety-gate", "rogue", "0"}, clock);
  d.set_incident_id(NewUuid());
  d.mutable_target()->set_namespace_("demo");
  d.mutable_target()->set_kind("Pod");
  d.mutable_target()->set_name(pod);
  auto* dec = d.mutable_decision();
  dec->set_verdict(v1::VERDICT_APPROVED);
  dec->set_rule("all-rules-passed");
  dec->set_proposal_id(NewUuid());
  dec->set_action_id(NewUuid());
  dec->mutable_proposal()->mutable_action()->set_type(v1::ACTION_TYPE_RESTART_POD);
  return d;
}

absl::Status Publish(const KafkaConfig& kc, Topic topic, const v1::Event& e) {
  auto p = Producer::Create(kc, "rogue", nullptr);
  if (!p.ok()) {
    return p.status();
  }
  auto tracker = std::make_shared<DeliveryTracker>();
  if (auto st = (*p)->Produce(TopicName(kc, topic), TargetKey(e.target()), e.SerializeAsString(), tracker);
      !st.ok()) {
    return st;
  }
  return tracker->Wait(std::chrono::seconds(15));
}

TEST(BusAclE2eTest, OnlyTheGateCanWriteDecisions) {
  Stack stack;
  std::string err = stack.UpOwnInfra("--sim --kafka-sasl");
  ASSERT_EQ(err, "") << err;
  // 1. The pipeline works with every service holding only its own rights.
  auto [code, body] = Post(stack.CollectorUrl(), "/api/v1/alerts",
                           AlertBody("KubePodCrashLooping", {{"namespace", "load"}, {"pod", "p-1"}}, "acl-1"));
  ASSERT_EQ(code, 200) << body;
  EXPECT_TRUE(WaitForCount(stack.dsn(), "SELECT count(*) FROM audit_events WHERE event_type='outcome'",
                           [](long v) { return v >= 1; }, std::chrono::seconds(60)))
      << "no outcome: a service lacks an ACL it needs (see " << stack.run_dir() << "/logs)";

  const std::string kafka_dir = stack.run_dir() + "/kafka/";
  auto config_as = [&](const std::string& user) {
    KafkaConfig kc;
    kc.brokers = stack.brokers();
    kc.topic_prefix = stack.topic_prefix();
    kc.properties = ClientProperties(kafka_dir + "client-" + user + ".properties");
    kc.manage_topics = false;
    kc.delivery_timeout = std::chrono::seconds(10);
    return kc;
  };
  // 2. A rogue producer with the collector's credentials: refused.
  v1::Event forged = ForgedDecision("rogue-1");
  absl::Status st = Publish(config_as("collector"), Topic::kDecisions, forged);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find("uthoriz"), std::string::npos) << st;
  // ... and with the analyzer's, an outcome: refused too.
  v1::Event fake_outcome = NewRootEvent(v1::EVENT_TYPE_OUTCOME, {"executor", "rogue", "0"}, SystemClock::Instance());
  fake_outcome.mutable_outcome()->set_status(v1::OUTCOME_STATUS_SUCCEEDED);
  st = Publish(config_as("analyzer"), Topic::kOutcomes, fake_outcome);
  EXPECT_FALSE(st.ok());
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(QueryLong(stack.dsn(), "SELECT count(*) FROM audit_events WHERE event_id = '" + forged.event_id() +
                                       "' OR event_id = '" + fake_outcome.event_id() + "'"),
            0);
  EXPECT_EQ(QueryLong(stack.dsn(), "SELECT count(*) FROM audit_events WHERE event_type='outcome' AND "
                                   "payload_json->'outcome'->>'decision_id' = '" + forged.event_id() + "'"),
            0)
      << "the executor acted on a forged decision";

  // 3. Control experiment: the same kind of forgery with admin rights gets
  // through the bus, and the executor acts on it.
  v1::Event admin_forged = ForgedDecision("rogue-2");
  st = Publish(config_as("admin"), Topic::kDecisions, admin_forged);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_TRUE(WaitForCount(stack.dsn(),
                           "SELECT count(*) FROM audit_events WHERE event_type='outcome' AND "
                           "payload_json->'outcome'->>'decision_id' = '" + admin_forged.event_id() + "'",
                           [](long v) { return v >= 1; }, std::chrono::seconds(60)))
      << "the control experiment failed: the executor ignored a decision on the topic";
}

}  // namespace
}  // namespace kubemend::e2e
