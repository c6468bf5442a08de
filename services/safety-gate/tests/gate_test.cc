#include "gate.h"

#include <gtest/gtest.h>

namespace kubemend::gate {
namespace {

const ProducerIdentity kWho{"safety-gate", "g-1", "0.1.0"};

v1::Event Proposal(const std::string& ns) {
  FakeClock clock;
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_PROPOSAL, {"analyzer", "a", "0"}, clock);
  e.set_incident_id("inc-1");
  e.mutable_target()->set_namespace_(ns);
  e.mutable_target()->set_kind("Pod");
  e.mutable_target()->set_name("p");
  e.mutable_proposal()->mutable_action()->set_type(v1::ACTION_TYPE_RESTART_POD);
  return e;
}

TEST(SafetyGateTest, RejectsWhenNamespaceProtected) {
  FakeClock clock;
  v1::Event d = Decide(Proposal("kube-system"), GateConfig{}, kWho, clock);
  EXPECT_EQ(d.decision().verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d.decision().rule(), "protected-namespace");
  EXPECT_NE(d.decision().reason().find("kube-system"), std::string::npos);
}

TEST(SafetyGateTest, ApprovesOrdinaryNamespaceAndLinksTheProposal) {
  FakeClock clock;
  v1::Event p = Proposal("shop");
  v1::Event d = Decide(p, GateConfig{}, kWho, clock);
  EXPECT_EQ(d.decision().verdict(), v1::VERDICT_APPROVED);
  EXPECT_EQ(d.decision().proposal_id(), p.event_id());
  EXPECT_EQ(d.causation_id(), p.event_id());
  EXPECT_EQ(d.incident_id(), "inc-1");
  EXPECT_EQ(d.decision().proposal().action().type(), v1::ACTION_TYPE_RESTART_POD);
  EXPECT_FALSE(d.decision().action_id().empty());
}

TEST(SafetyGateTest, ConfiguredProtectionReplacesTheDefault) {
  FakeClock clock;
  GateConfig cfg;
  cfg.protected_namespaces = {"payments"};
  EXPECT_EQ(Decide(Proposal("payments"), cfg, kWho, clock).decision().verdict(), v1::VERDICT_REJECTED);
}

}  // namespace
}  // namespace kubemend::gate
