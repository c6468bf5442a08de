#include "executor.h"
#include "service.h"

#include <gtest/gtest.h>

#include "fixtures.h"

namespace kubemend::executor {
namespace {

using namespace testing;
using nlohmann::json;

const ProducerIdentity kWho{"executor", "e-1", "0.1.0"};

class ExecutorTest : public ::testing::Test {
 protected:
  ExecutorTest() {
    // Each wait is also a tick of the "controllers": the test decides how
    // the deployment's status evolves.
    sleep_ = [this](Millis d) {
      clock_.Advance(d);
      if (on_tick_) {
        on_tick_();
      }
    };
    actuator_ = std::make_unique<Actuator>(kube_, nullptr, sleep_, clock_, ActuatorOptions{});
    verifier_ = std::make_unique<Verifier>(kube_, sleep_, clock_, VerifierOptions{Millis(1000), Millis(5000)});
    options_.verify_timeout = Millis(30000);
  }
  Executor Make() { return Executor(actuator_.get(), verifier_.get(), clock_, kWho, options_); }

  v1::Event Decision(v1::ActionType type, const std::string& action_id = "act-1",
                     v1::Verdict verdict = v1::VERDICT_APPROVED) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_DECISION, {"safety-gate", "g", "0"}, clock_);
    e.set_incident_id("inc-2");
    *e.mutable_target() = PodTarget();
    e.mutable_decision()->set_verdict(verdict);
    e.mutable_decision()->set_proposal_id("p-1");
    e.mutable_decision()->set_action_id(action_id);
    e.mutable_decision()->mutable_proposal()->mutable_action()->set_type(type);
    return e;
  }
  v1::Event Control(const std::function<void(v1::Control*)>& fill) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_CONTROL, {"safety-gate", "g", "0"}, clock_);
    e.mutable_control()->set_issued_by("alice");
    fill(e.mutable_control());
    return e;
  }
  json Container() { return kube_.Object(kube::Deployment("shop", "web"))["spec"]["template"]["spec"]["containers"][0]; }
  // The deployment controller caught up and every pod is ready.
  void Settle() {
    json d = kube_.Object(kube::Deployment("shop", "web"));
    d["status"]["observedGeneration"] = d["metadata"].value("generation", 1);
    d["status"]["updatedReplicas"] = d["spec"]["replicas"];
    d["status"]["readyReplicas"] = d["spec"]["replicas"];
    kube_.Put(rs::kDeployments, d);
  }

  FakeKube kube_;
  FakeClock clock_;
  Sleeper sleep_;
  std::function<void()> on_tick_;
  std::unique_ptr<Actuator> actuator_;
  std::unique_ptr<Verifier> verifier_;
  ExecutorOptions options_;
};

TEST_F(ExecutorTest, OnlyApprovalsHaveOutcomes) {
  SeedWeb(kube_);
  Executor ex = Make();
  EXPECT_TRUE(ex.HandleDecision(Decision(v1::ACTION_TYPE_RESTART_POD, "a", v1::VERDICT_REJECTED)).empty());
  EXPECT_TRUE(ex.HandleDecision(Decision(v1::ACTION_TYPE_RESTART_POD, "a", v1::VERDICT_AWAITING_APPROVAL)).empty());
  EXPECT_TRUE(kube_.writes().empty());
}

TEST_F(ExecutorTest, WithoutKubernetesEveryApprovalIsARecordOnlyDryRun) {
  options_.record_only_reason = "no kubeconfig";
  Executor ex(nullptr, nullptr, clock_, kWho, options_);
  v1::Event d = Decision(v1::ACTION_TYPE_RESTART_POD);
  auto out = ex.HandleDecision(d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].outcome().status(), v1::OUTCOME_STATUS_DRY_RUN);
  EXPECT_EQ(out[0].outcome().decision_id(), d.event_id());
  EXPECT_EQ(out[0].causation_id(), d.event_id());
  EXPECT_EQ(out[0].incident_id(), "inc-2");
  EXPECT_NE(out[0].outcome().verification().detail().find("record-only"), std::string::npos);
}

TEST_F(ExecutorTest, HealedWorkloadIsSucceededWithChangesAndStableImageRecorded) {
  SeedWeb(kube_);
  on_tick_ = [this] { Settle(); };
  Executor ex = Make();
  auto out = ex.HandleDecision(Decision(v1::ACTION_TYPE_INCREASE_MEMORY));
  ASSERT_EQ(out.size(), 1u);
  const auto& o = out[0].outcome();
  EXPECT_EQ(o.status(), v1::OUTCOME_STATUS_SUCCEEDED) << o.error() << o.verification().detail();
  EXPECT_TRUE(o.verification().attempted());
  EXPECT_TRUE(o.verification().healthy());
  EXPECT_GE(o.verification().waited_ms(), 5000u);  // stayed healthy for stable_for
  ASSERT_EQ(o.changes_size(), 2);
  EXPECT_EQ(o.changes(0).before(), "256Mi");
  EXPECT_EQ(o.changes(0).after(), "320Mi");
  EXPECT_EQ(o.changes(0).object(), "Deployment/shop/web");
  EXPECT_EQ(kube_.Object(kube::Deployment("shop", "web"))["metadata"]["annotations"]
                [std::string(kStableImagePrefix) + "app"],
            "shop/web:v2");
}

TEST_F(ExecutorTest, PodsStillDyingMeansNotFixedAndTheActionAsksForRollback) {
  SeedWeb(kube_);
  on_tick_ = [this] {
    Settle();
    json p = kube_.Object(kube::Pod("shop", "web-1"));
    p["status"]["containerStatuses"][0]["restartCount"] = p["status"]["containerStatuses"][0]["restartCount"].get<int>() + 1;
    p["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"] = "OOMKilled";
    kube_.Put(rs::kPods, p);
  };
  Executor ex = Make();
  v1::Event d = Decision(v1::ACTION_TYPE_INCREASE_MEMORY);
  d.mutable_decision()->mutable_proposal()->mutable_action()->set_rollback_on_failed_verification(true);
  d.mutable_decision()->mutable_proposal()->mutable_action()->set_verify_timeout_seconds(10);
  auto out = ex.HandleDecision(d);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].outcome().status(), v1::OUTCOME_STATUS_NOT_FIXED);
  EXPECT_FALSE(out[0].outcome().verification().healthy());
  EXPECT_NE(out[0].outcome().verification().detail().find("OOMKilled"), std::string::npos)
      << out[0].outcome().verification().detail();
  EXPECT_EQ(out[1].outcome().status(), v1::OUTCOME_STATUS_ROLLED_BACK) << out[1].outcome().error();
  EXPECT_EQ(out[1].outcome().rolls_back_action_id(), "act-1");
  EXPECT_EQ(out[1].causation_id(), out[0].event_id());
  EXPECT_EQ(Container()["resources"]["limits"]["memory"], "256Mi");
  EXPECT_EQ(ex.Stats().rolled_back, 1u);
}

TEST_F(ExecutorTest, NotFixedWithoutRollbackKeepsTheChange) {
  SeedWeb(kube_);  // never settles: the controller does not observe the change
  Executor ex = Make();
  v1::Event d = Decision(v1::ACTION_TYPE_INCREASE_MEMORY);
  auto out = ex.HandleDecision(d);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].outcome().status(), v1::OUTCOME_STATUS_NOT_FIXED);
  EXPECT_EQ(out[0].outcome().verification().waited_ms(), 30000u);
  EXPECT_EQ(Container()["resources"]["limits"]["memory"], "320Mi");
}

TEST_F(ExecutorTest, RedeliveredDecisionIsDuplicateAndAppliedOnce) {
  SeedWeb(kube_);
  on_tick_ = [this] { Settle(); };
  Executor ex = Make();
  v1::Event d = Decision(v1::ACTION_TYPE_SCALE_WORKLOAD);
  auto first = ex.HandleDecision(d);
  ASSERT_EQ(first[0].outcome().status(), v1::OUTCOME_STATUS_SUCCEEDED);
  ex.Acknowledge(first);
  auto again = ex.HandleDecision(d);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].outcome().status(), v1::OUTCOME_STATUS_DUPLICATE);
  EXPECT_NE(again[0].event_id(), first[0].event_id());
  EXPECT_EQ(kube_.Object(kube::Deployment("shop", "web"))["spec"]["replicas"], 3);
  // A fresh executor (no index) still finds the id on the object.
  Executor fresh = Make();
  auto third = fresh.HandleDecision(d);
  EXPECT_EQ(third[0].outcome().status(), v1::OUTCOME_STATUS_DUPLICATE);
  EXPECT_EQ(third[0].outcome().changes_size(), 1);
  EXPECT_EQ(kube_.Object(kube::Deployment("shop", "web"))["spec"]["replicas"], 3);
}

// Issue 12: the outcome used to be indexed before the broker acknowledged
// it; when the publish failed, the retry found the index entry and emitted
// only DUPLICATE, so the real outcome never reached the trail.
TEST_F(ExecutorTest, UnacknowledgedOutcomeIsResentNotReplacedByDuplicate) {
  SeedWeb(kube_);
  on_tick_ = [this] { Settle(); };
  Executor ex = Make();
  v1::Event d = Decision(v1::ACTION_TYPE_SCALE_WORKLOAD);
  auto first = ex.HandleDecision(d);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(first[0].outcome().status(), v1::OUTCOME_STATUS_SUCCEEDED);
  // The publish failed (no Acknowledge): the retry gets the same outcome.
  auto retry = ex.HandleDecision(d);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].outcome().status(), v1::OUTCOME_STATUS_SUCCEEDED);
  EXPECT_EQ(retry[0].event_id(), first[0].event_id());
  EXPECT_EQ(retry[0].SerializeAsString(), first[0].SerializeAsString());
  EXPECT_EQ(kube_.Object(kube::Deployment("shop", "web"))["spec"]["replicas"], 3) << "applied once";
  ex.Acknowledge(retry);
  EXPECT_EQ(ex.HandleDecision(d)[0].outcome().status(), v1::OUTCOME_STATUS_DUPLICATE);
}

TEST_F(ExecutorTest, PausedDecisionsAreSkippedUntilResumed) {
  SeedWeb(kube_);
  on_tick_ = [this] { Settle(); };
  Executor ex = Make();
  ex.HandleControl(Control([](v1::Control* c) {
    c->mutable_pause();
    c->set_reason("incident review");
  }));
  EXPECT_TRUE(ex.Stats().paused);
  auto out = ex.HandleDecision(Decision(v1::ACTION_TYPE_SCALE_WORKLOAD));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].outcome().status(), v1::OUTCOME_STATUS_SKIPPED);
  EXPECT_NE(out[0].outcome().error().find("alice: incident review"), std::string::npos);
  EXPECT_TRUE(kube_.writes().empty());
  ex.HandleControl(Control([](v1::Control* c) { c->mutable_resume(); }));
  out = ex.HandleDecision(Decision(v1::ACTION_TYPE_SCALE_WORKLOAD, "act-2"));
  EXPECT_EQ(out[0].outcome().status(), v1::OUTCOME_STATUS_SUCCEEDED);
}

TEST_F(ExecutorTest, NamespacePauseOnlyStopsThatNamespace) {
  SeedWeb(kube_);
  Executor ex = Make();
  ex.HandleControl(Control([](v1::Control* c) { c->mutable_pause()->set_scope("other"); }));
  options_.verify_by_default = false;
  auto out = ex.HandleDecision(Decision(v1::ACTION_TYPE_SCALE_WORKLOAD));
  EXPECT_NE(out[0].outcome().status(), v1::OUTCOME_STATUS_SKIPPED);
  ex.HandleControl(Control([](v1::Control* c) { c->mutable_pause()->set_scope("shop"); }));
  out = ex.HandleDecision(Decision(v1::ACTION_TYPE_SCALE_WORKLOAD, "act-2"));
  EXPECT_EQ(out[0].outcome().status(), v1::OUTCOME_STATUS_SKIPPED);
}

TEST_F(ExecutorTest, GlobalDryRunReportsWouldBeChanges) {
  SeedWeb(kube_);
  options_.dry_run = true;
  Executor ex = Make();
  auto out = ex.HandleDecision(Decision(v1::ACTION_TYPE_INCREASE_MEMORY));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].outcome().status(), v1::OUTCOME_STATUS_DRY_RUN);
  ASSERT_EQ(out[0].outcome().changes_size(), 2);
  EXPECT_EQ(out[0].outcome().changes(0).after(), "320Mi");
  EXPECT_EQ(Container()["resources"]["limits"]["memory"], "256Mi");
}

TEST_F(ExecutorTest, RollbackOnRequestRestoresAndIsAuditedOnce) {
  SeedWeb(kube_);
  on_tick_ = [this] { Settle(); };
  Executor ex = Make();
  auto out = ex.HandleDecision(Decision(v1::ACTION_TYPE_INCREASE_MEMORY));
  ASSERT_EQ(out[0].outcome().status(), v1::OUTCOME_STATUS_SUCCEEDED);
  ex.Acknowledge(out);
  EXPECT_EQ(ex.Rollback("unknown", "test").status().code(), absl::StatusCode::kNotFound);
  auto rb = ex.Rollback("act-1", "test");
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(rb->outcome().status(), v1::OUTCOME_STATUS_ROLLED_BACK) << rb->outcome().error();
  EXPECT_EQ(rb->outcome().rolls_back_action_id(), "act-1");
  EXPECT_EQ(rb->causation_id(), out[0].event_id());
  EXPECT_EQ(Container()["resources"]["limits"]["memory"], "256Mi");
  // Through the control topic a second time: already done.
  auto again = ex.HandleControl(Control([](v1::Control* c) { c->mutable_rollback()->set_action_id("act-1"); }));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].outcome().status(), v1::OUTCOME_STATUS_DUPLICATE);
  EXPECT_EQ(Container()["resources"]["limits"]["memory"], "256Mi");
}

// Issue 12: the index (fed from the whole outcomes topic) grew for the life
// of the process. It now keeps the newest kMaxIndexed action ids.
TEST_F(ExecutorTest, OutcomeIndexKeepsAtMostTheConfiguredActions) {
  options_.max_indexed = 50;
  Executor ex = Make();
  v1::Event o;
  o.set_event_id("e");
  o.mutable_outcome()->set_status(v1::OUTCOME_STATUS_SUCCEEDED);
  for (int i = 0; i < 500; ++i) {
    o.mutable_outcome()->set_action_id("a-" + std::to_string(i));
    ex.IndexOutcome(o);
  }
  EXPECT_EQ(ex.Stats().indexed, 50u);
  EXPECT_EQ(ex.Rollback("a-449", "t").status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(ex.Rollback("a-499", "t").status().code(), absl::StatusCode::kNotFound);
  // GitOps: the ids of pull requests that ended are bounded the same way.
  v1::Event merged;
  merged.set_event_id("m");
  merged.mutable_outcome()->set_status(v1::OUTCOME_STATUS_SUCCEEDED);
  merged.mutable_outcome()->mutable_pull_request()->set_number(7);
  for (int i = 0; i < 500; ++i) {
    merged.mutable_outcome()->set_action_id("pr-" + std::to_string(i));
    ex.IndexOutcome(merged);
  }
  EXPECT_EQ(ex.Stats().ended_pull_requests, 50u);
}

TEST_F(ExecutorTest, StartUpReplayHoldsOnlyIndexedOutcomesFromTheWindow) {
  v1::Event recorded;
  recorded.mutable_outcome()->set_action_id("a");
  recorded.mutable_outcome()->set_status(v1::OUTCOME_STATUS_DRY_RUN);
  EXPECT_FALSE(Executor::Indexes(recorded)) << "record-only and dry-run outcomes change nothing to index";
  v1::Event skipped = recorded;
  skipped.mutable_outcome()->set_status(v1::OUTCOME_STATUS_SKIPPED);
  EXPECT_FALSE(Executor::Indexes(skipped));
  v1::Event done = recorded;
  done.mutable_outcome()->set_status(v1::OUTCOME_STATUS_SUCCEEDED);
  EXPECT_TRUE(Executor::Indexes(done));
  v1::Event undo = skipped;
  undo.mutable_outcome()->set_rolls_back_action_id("b");
  EXPECT_TRUE(Executor::Indexes(undo));

  ExecutorConfig cfg;
  KafkaConfig kafka;
  TimePoint now = TimePoint(Millis(1800000000000));
  auto since = StateReplayWindow(cfg, kafka, now);
  ASSERT_EQ(since.size(), 1u) << "control is read whole";
  EXPECT_EQ(since.at(TopicName(kafka, Topic::kOutcomes)), now - std::chrono::hours(24 * 7));
  cfg.index_window = std::chrono::milliseconds(0);
  EXPECT_TRUE(StateReplayWindow(cfg, kafka, now).empty()) << "0 = the whole outcomes topic";
}

TEST_F(ExecutorTest, OutcomeIndexIsBounded) {
  Executor ex = Make();
  v1::Event o;
  o.set_event_id("e");
  o.mutable_outcome()->set_status(v1::OUTCOME_STATUS_SUCCEEDED);
  for (size_t i = 0; i < Executor::kMaxIndexed + 500; ++i) {
    o.mutable_outcome()->set_action_id("a-" + std::to_string(i));
    ex.IndexOutcome(o);
  }
  EXPECT_EQ(ex.Stats().indexed, Executor::kMaxIndexed);
  // The newest are kept: a rollback of the last one is known, the first not.
  EXPECT_EQ(ex.Rollback("a-0", "t").status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(ex.Rollback("a-" + std::to_string(Executor::kMaxIndexed + 499), "t").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ExecutorTest, IndexRebuiltFromOutcomesAnswersDuplicatesAndRollbacks) {
  SeedWeb(kube_);
  on_tick_ = [this] { Settle(); };
  v1::Event d = Decision(v1::ACTION_TYPE_INCREASE_MEMORY);
  std::vector<v1::Event> published;
  {
    Executor first = Make();
    published = first.HandleDecision(d);
  }
  Executor restarted = Make();
  for (const auto& e : published) {
    restarted.IndexOutcome(e);
  }
  EXPECT_EQ(restarted.Stats().indexed, 1u);
  int puts = kube_.updates();
  auto dup = restarted.HandleDecision(d);
  EXPECT_EQ(dup[0].outcome().status(), v1::OUTCOME_STATUS_DUPLICATE);
  EXPECT_EQ(kube_.updates(), puts);  // answered from the index, no API write
  auto rb = restarted.Rollback("act-1", "after restart");
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(rb->outcome().status(), v1::OUTCOME_STATUS_ROLLED_BACK);
}

TEST_F(ExecutorTest, BatchKeepsOrderAndRunsOneTargetInSequence) {
  SeedWeb(kube_);
  options_.verify_by_default = false;
  options_.max_concurrent = 4;
  kube_.Put(rs::kNodes, {{"metadata", {{"name", "n1"}}}, {"spec", json::object()}});
  Executor ex = Make();
  std::vector<v1::Event> batch;
  batch.push_back(Decision(v1::ACTION_TYPE_SCALE_WORKLOAD, "s1"));
  v1::Event cordon = Decision(v1::ACTION_TYPE_CORDON_NODE, "c1");
  *cordon.mutable_target() = NodeTarget("n1");
  batch.push_back(cordon);
  batch.push_back(Decision(v1::ACTION_TYPE_SCALE_WORKLOAD, "s2"));
  batch.push_back(Decision(v1::ACTION_TYPE_SCALE_WORKLOAD, "s1"));  // redelivery inside the batch
  auto out = ex.RunBatch(batch);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0][0].outcome().action_id(), "s1");
  EXPECT_EQ(out[0][0].outcome().status(), v1::OUTCOME_STATUS_SUCCEEDED);
  EXPECT_EQ(out[1][0].outcome().status(), v1::OUTCOME_STATUS_SUCCEEDED);
  EXPECT_EQ(out[2][0].outcome().changes(0).before(), "3");
  EXPECT_EQ(out[2][0].outcome().changes(0).after(), "4");
  // The redelivery inside the batch, before anything was acknowledged, gets
  // the first outcome again (the same event), not a second action.
  EXPECT_EQ(out[3][0].event_id(), out[0][0].event_id());
  EXPECT_EQ(out[3][0].outcome().status(), v1::OUTCOME_STATUS_SUCCEEDED);
  EXPECT_EQ(kube_.Object(kube::Deployment("shop", "web"))["spec"]["replicas"], 4);
}

}  // namespace
}  // namespace kubemend::executor
