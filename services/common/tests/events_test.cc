#include "kubemend/common/events.h"

#include <gtest/gtest.h>

namespace kubemend {
namespace {

const ProducerIdentity kWho{"analyzer", "test-1", "0.1.0"};

TEST(EventsTest, CausedEventLinksToItsCause) {
  FakeClock clock;
  v1::Event signal = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c", "0"}, clock);
  signal.set_incident_id("inc-1");
  signal.mutable_target()->set_namespace_("shop");
  signal.mutable_target()->set_kind("Pod");
  signal.mutable_target()->set_name("api-1");
  v1::Event p = NewCausedEvent(v1::EVENT_TYPE_PROPOSAL, signal, "proposal", kWho, clock);
  EXPECT_EQ(p.causation_id(), signal.event_id());
  EXPECT_EQ(p.incident_id(), "inc-1");
  EXPECT_EQ(p.target().name(), "api-1");
  EXPECT_EQ(p.producer().service(), "analyzer");
  EXPECT_EQ(p.trace().traceparent().substr(3, 32), signal.trace().traceparent().substr(3, 32));
  // Reprocessing the same cause gives the same id, so downstream dedup works.
  EXPECT_EQ(p.event_id(), NewCausedEvent(v1::EVENT_TYPE_PROPOSAL, signal, "proposal", kWho, clock).event_id());
  EXPECT_NE(p.event_id(), signal.event_id());
}

TEST(EventsTest, DecodeRejectsWhatIsNotAValidEvent) {
  FakeClock clock;
  EXPECT_FALSE(DecodeEvent("\xff\xff garbage").ok());
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_SIGNAL, kWho, clock);
  EXPECT_FALSE(DecodeEvent(e.SerializeAsString()).ok()) << "no payload";
  e.mutable_signal()->set_name("X");
  EXPECT_TRUE(DecodeEvent(e.SerializeAsString()).ok());
  EXPECT_FALSE(DecodeEventFor(e.SerializeAsString(), Topic::kProposals).ok());
  e.set_schema_version(2);
  auto st = DecodeEvent(e.SerializeAsString());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("schema_version 2"), std::string::npos);
  e.set_schema_version(1);
  e.set_type(v1::EVENT_TYPE_OUTCOME);
  EXPECT_FALSE(DecodeEvent(e.SerializeAsString()).ok());
}

TEST(EventsTest, TargetKeyGroupsByTarget) {
  v1::Target a;
  a.set_namespace_("shop");
  a.set_kind("Deployment");
  a.set_name("api");
  v1::Target b = a;
  b.set_container("app");
  EXPECT_EQ(TargetKey(a), TargetKey(b));
  b.set_name("web");
  EXPECT_NE(TargetKey(a), TargetKey(b));
  EXPECT_EQ(TargetString(a), "shop/Deployment/api");
}

TEST(EventsTest, NamesRoundTrip) {
  v1::ActionType t;
  ASSERT_TRUE(ParseActionType("IncreaseMemory", &t));
  EXPECT_EQ(t, v1::ACTION_TYPE_INCREASE_MEMORY);
  EXPECT_FALSE(ParseActionType("FormatDisk", &t));
  v1::Mode m;
  ASSERT_TRUE(ParseMode("dryrun", &m));
  EXPECT_EQ(ModeName(m), "dryrun");
}

}  // namespace
}  // namespace kubemend
