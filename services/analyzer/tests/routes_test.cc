#include "routes.h"

#include <gtest/gtest.h>

namespace kubemend::analyzer {
namespace {

const ProducerIdentity kWho{"analyzer", "a-1", "0.1.0"};

v1::Event Signal(const std::string& name, v1::SignalStatus status = v1::SIGNAL_STATUS_FIRING) {
  FakeClock clock;
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c", "0"}, clock);
  e.set_incident_id("inc-9");
  e.mutable_signal()->set_name(name);
  e.mutable_signal()->set_status(status);
  e.mutable_target()->set_namespace_("shop");
  e.mutable_target()->set_kind("Pod");
  e.mutable_target()->set_name("api-1");
  e.mutable_target()->set_owner_kind("Deployment");
  e.mutable_target()->set_owner_name("api");
  return e;
}

TEST(RoutesTest, CrashLoopProposesPodRestartLinkedToTheSignal) {
  FakeClock clock;
  v1::Event s = Signal("KubePodCrashLooping");
  auto r = ProposeFromRoutes(s, kWho, clock);
  ASSERT_TRUE(r.proposal);
  EXPECT_EQ(r.proposal->proposal().action().type(), v1::ACTION_TYPE_RESTART_POD);
  EXPECT_EQ(r.proposal->causation_id(), s.event_id());
  EXPECT_EQ(r.proposal->incident_id(), "inc-9");
  EXPECT_EQ(r.proposal->target().kind(), "Pod");
  EXPECT_EQ(r.proposal->proposal().policy().name(), "builtin-routes");
  EXPECT_EQ(r.proposal->proposal().signal_ids(0), s.event_id());
}

TEST(RoutesTest, OomKillActsOnTheOwningWorkload) {
  FakeClock clock;
  auto r = ProposeFromRoutes(Signal("KubePodOOMKilled"), kWho, clock);
  ASSERT_TRUE(r.proposal);
  EXPECT_EQ(r.proposal->proposal().action().type(), v1::ACTION_TYPE_INCREASE_MEMORY);
  EXPECT_EQ(r.proposal->target().kind(), "Deployment");
  EXPECT_EQ(r.proposal->target().name(), "api");
  EXPECT_EQ(r.proposal->proposal().action().increase_memory().round_to(), "64Mi");
}

TEST(RoutesTest, HpaMaxedOutRaisesTheMaximum) {
  FakeClock clock;
  auto r = ProposeFromRoutes(Signal("KubeHpaMaxedOut"), kWho, clock);
  ASSERT_TRUE(r.proposal);
  EXPECT_EQ(r.proposal->proposal().action().type(), v1::ACTION_TYPE_ADJUST_HPA);
}

TEST(RoutesTest, NoProposalForResolvedOrUnknown) {
  FakeClock clock;
  auto r = ProposeFromRoutes(Signal("KubePodCrashLooping", v1::SIGNAL_STATUS_RESOLVED), kWho, clock);
  EXPECT_FALSE(r.proposal);
  r = ProposeFromRoutes(Signal("SomethingElse"), kWho, clock);
  EXPECT_FALSE(r.proposal);
  EXPECT_NE(r.reason.find("SomethingElse"), std::string::npos);
}

}  // namespace
}  // namespace kubemend::analyzer
