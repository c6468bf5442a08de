#include "executor.h"

#include <gtest/gtest.h>

namespace kubemend::executor {
namespace {

const ProducerIdentity kWho{"executor", "e-1", "0.1.0"};

v1::Event Decision(v1::Verdict v) {
  FakeClock clock;
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_DECISION, {"safety-gate", "g", "0"}, clock);
  e.set_incident_id("inc-2");
  e.mutable_decision()->set_verdict(v);
  e.mutable_decision()->set_proposal_id("p-1");
  e.mutable_decision()->set_action_id("act-1");
  e.mutable_decision()->mutable_proposal()->mutable_action()->set_type(v1::ACTION_TYPE_RESTART_POD);
  return e;
}

TEST(ExecutorTest, ApprovedDecisionIsRecordedAsDryRun) {
  FakeClock clock;
  v1::Event d = Decision(v1::VERDICT_APPROVED);
  auto o = OutcomeFor(d, kWho, clock);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->outcome().status(), v1::OUTCOME_STATUS_DRY_RUN);
  EXPECT_EQ(o->outcome().decision_id(), d.event_id());
  EXPECT_EQ(o->outcome().action_id(), "act-1");
  EXPECT_EQ(o->causation_id(), d.event_id());
  EXPECT_EQ(o->incident_id(), "inc-2");
}

TEST(ExecutorTest, RejectedOrHeldDecisionsHaveNoOutcome) {
  FakeClock clock;
  EXPECT_FALSE(OutcomeFor(Decision(v1::VERDICT_REJECTED), kWho, clock));
  EXPECT_FALSE(OutcomeFor(Decision(v1::VERDICT_AWAITING_APPROVAL), kWho, clock));
}

}  // namespace
}  // namespace kubemend::executor
