#include "rows.h"

#include <gtest/gtest.h>

#include "kubemend/common/events.h"

namespace kubemend::audit {
namespace {

TEST(AuditRowsTest, DecisionRowCarriesTheColumnsPeopleFilterBy) {
  FakeClock clock;
  v1::Event d = NewRootEvent(v1::EVENT_TYPE_DECISION, {"safety-gate", "g-1", "0.1.0"}, clock);
  d.set_incident_id("inc-1");
  d.set_causation_id("p-1");
  d.mutable_target()->set_namespace_("shop");
  d.mutable_target()->set_kind("Deployment");
  d.mutable_target()->set_name("api");
  d.mutable_decision()->set_verdict(v1::VERDICT_REJECTED);
  d.mutable_decision()->set_rule("protected-namespace");
  d.mutable_decision()->mutable_proposal()->mutable_action()->set_type(v1::ACTION_TYPE_RESTART_POD);
  d.mutable_decision()->mutable_proposal()->mutable_policy()->set_name("p1");
  InMessage raw{"kubemend.decisions", 3, 17, "k", d.SerializeAsString(), 0};
  AuditRow r = RowFromEvent(d, raw);
  EXPECT_EQ(r.event_type, "decision");
  EXPECT_EQ(r.verdict, "rejected");
  EXPECT_EQ(r.rule, "protected-namespace");
  EXPECT_EQ(r.action_type, "RestartPod");
  EXPECT_EQ(r.policy_name, "p1");
  EXPECT_EQ(r.target_namespace, "shop");
  EXPECT_EQ(r.kafka_partition, 3);
  EXPECT_EQ(r.kafka_offset, 17);
  EXPECT_EQ(r.occurred_us, 1767225600000000);  // 2026-01-01 00:00:00 UTC
  EXPECT_NE(r.payload_json.find("\"protected-namespace\""), std::string::npos) << r.payload_json;
  EXPECT_EQ(r.payload, raw.payload);
}

TEST(AuditRowsTest, UndecodableMessagesBecomeDeadLettersNotLosses) {
  FakeClock clock;
  v1::Event s = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c", "0"}, clock);
  s.mutable_signal()->set_name("X");
  v1::DeadLetter dl;
  dl.set_source_topic("kubemend.signals");
  dl.set_offset(5);
  dl.set_reason("bad");
  dl.set_consumer("analyzer");
  std::vector<InMessage> batch = {
      {"kubemend.signals", 0, 1, "", s.SerializeAsString(), 0},
      {"kubemend.signals", 0, 2, "", "\xff\xfe junk", 0},
      {"kubemend.deadletter", 1, 9, "", dl.SerializeAsString(), 0},
  };
  Rows rows = RowsFromBatch(batch, "kubemend.deadletter", "2026-01-01 00:00:00+00");
  ASSERT_EQ(rows.events.size(), 1u);
  ASSERT_EQ(rows.dead_letters.size(), 2u);
  EXPECT_EQ(rows.dead_letters[0].consumer, "audit");
  EXPECT_EQ(rows.dead_letters[0].source_offset, 2);
  EXPECT_NE(rows.dead_letters[0].reason.find("decoding failed"), std::string::npos);
  EXPECT_EQ(rows.dead_letters[1].consumer, "analyzer");
  EXPECT_EQ(rows.dead_letters[1].reason, "bad");
}

TEST(AuditRowsTest, BigBatchesKeepTheirOrder) {
  FakeClock clock;
  std::vector<InMessage> batch;
  for (int i = 0; i < 3000; ++i) {
    v1::Event s = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c", "0"}, clock);
    s.mutable_signal()->set_name("X");
    batch.push_back({"kubemend.signals", 0, i, "", i == 1500 ? "junk" : s.SerializeAsString(), 0});
  }
  Rows rows = RowsFromBatch(batch, "kubemend.deadletter", "2026-01-01 00:00:00+00");
  ASSERT_EQ(rows.events.size(), 2999u);
  ASSERT_EQ(rows.dead_letters.size(), 1u);
  EXPECT_EQ(rows.dead_letters[0].source_offset, 1500);
  for (size_t i = 1; i < rows.events.size(); ++i) {
    ASSERT_LT(rows.events[i - 1].kafka_offset, rows.events[i].kafka_offset);
  }
}

}  // namespace
}  // namespace kubemend::audit

namespace kubemend::audit {
namespace {
TEST(JsonWithoutNulTest, ReplacesOnlyRealEscapes) {
  EXPECT_EQ(JsonWithoutNul(R"({"a":"x\u0000y"})"), R"({"a":"x\ufffdy"})");
  // An escaped backslash followed by the text u0000 is not an escape.
  EXPECT_EQ(JsonWithoutNul(R"({"a":"x\\u0000y"})"), R"({"a":"x\\u0000y"})");
  EXPECT_EQ(JsonWithoutNul(R"({"a":"\\\u0000"})"), R"({"a":"\\\ufffd"})");
  EXPECT_EQ(JsonWithoutNul("plain"), "plain");
}
}  // namespace
}  // namespace kubemend::audit
