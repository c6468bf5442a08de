// Diagnosis before remedy, one incident per root cause, every non-action
// explained, and the analyzer's timer: the engine with the default policies
// and signals as the collector publishes upstream alerts (facts attached).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "engine.h"
#include "test_util.h"

namespace kubemend::analyzer {
namespace {

std::vector<v1::Event> Proposals(const Decision& d) {
  std::vector<v1::Event> out;
  for (const auto& e : d.out) {
    if (e.has_proposal()) {
      out.push_back(e);
    }
  }
  return out;
}

const v1::NoAction* NoAction(const Decision& d) {
  for (const auto& e : d.out) {
    if (e.has_control() && e.control().has_no_action()) {
      return &e.control().no_action();
    }
  }
  return nullptr;
}

class DiagnosisTest : public ::testing::Test {
 protected:
  void SetUp() override { Load(ReadDefaults()); }
  static std::string ReadDefaults() {
    std::ifstream in(std::string(KUBEMEND_SOURCE_DIR) + "/policies/default.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void Load(const std::string& yaml) {
    PolicyStore store{PolicyDefaults()};
    auto c = store.Apply({{"p.yaml", yaml}});
    ASSERT_FALSE(c.empty());
    ASSERT_NE(c[0].change, "rejected") << c[0].detail;
    engine_.SetPolicies(store.Current());
  }
  // KubePodCrashLooping {namespace, pod, container, reason} as the collector
  // publishes it: the owner and the facts come from its cache.
  v1::Event CrashLoop(const std::string& pod, std::map<std::string, std::string> facts,
                      const std::string& alert = "KubePodCrashLooping",
                      const std::string& owner = "api") {
    v1::Event e = testing::PodSignal(clock_, alert, pod, owner);
    e.mutable_target()->set_container("app");
    (*e.mutable_signal()->mutable_labels())["reason"] = "CrashLoopBackOff";
    facts["ownerKind"] = "Deployment";
    facts["ownerName"] = owner;
    for (const auto& [k, v] : facts) {
      (*e.mutable_signal()->mutable_facts())[k] = v;
    }
    return e;
  }
  v1::Event Only(const Decision& d) {
    auto p = Proposals(d);
    EXPECT_EQ(p.size(), 1u) << d.reason;
    return p.empty() ? v1::Event() : p[0];
  }
  FakeClock clock_;
  Engine engine_{EngineConfig(), testing::kAnalyzer, clock_};
};

TEST_F(DiagnosisTest, OomKilledCrashLoopRaisesMemoryOnTheOwnerNeverRestartsThePod) {
  auto p = Only(engine_.OnSignal(CrashLoop(
      "api-7c9-x1", {{"lastTerminationReason", "OOMKilled"}, {"lastExitCode", "137"},
                     {"memoryLimit", "256Mi"}})));
  EXPECT_EQ(p.proposal().action().type(), v1::ACTION_TYPE_INCREASE_MEMORY);
  EXPECT_EQ(p.target().kind(), "Deployment");
  EXPECT_EQ(p.target().name(), "api");
  EXPECT_EQ(p.proposal().policy().name(), "oomkill-memory");
  const std::string& why = p.proposal().reason();
  EXPECT_NE(why.find("diagnosis: lastTerminationReason OOMKilled"), std::string::npos) << why;
  EXPECT_NE(why.find("more specific than crashloop-restart"), std::string::npos) << why;
  EXPECT_EQ(p.proposal().facts().at("cluster.memoryLimit"), "256Mi");
  EXPECT_EQ(p.proposal().facts().at("diagnosis"), "lastTerminationReason OOMKilled");
}

// The gate decides scale-downs and the blast radius on `replicas`, and refuses
// an opted-out namespace on `namespaceRemediate`: the analyzer passes them on
// when the cluster facts describe the proposal's own target.
TEST_F(DiagnosisTest, TheTargetsReplicasAndNamespaceOptOutReachTheProposal) {
  auto p = Only(engine_.OnSignal(CrashLoop(
      "api-7c9-x1", {{"lastTerminationReason", "OOMKilled"}, {"memoryLimit", "256Mi"}, {"replicas", "20"},
                     {"namespaceRemediate", "false"}})));
  ASSERT_EQ(p.target().kind(), "Deployment");
  EXPECT_EQ(p.proposal().facts().at("replicas"), "20");
  EXPECT_EQ(p.proposal().facts().at("namespaceRemediate"), "false");
  // Another Deployment's pods carry their own count.
  auto q = Only(engine_.OnSignal(CrashLoop("web-5d-x1", {{"lastTerminationReason", "OOMKilled"},
                                                         {"memoryLimit", "256Mi"}, {"replicas", "7"}},
                                           "KubePodCrashLooping", "web")));
  EXPECT_EQ(q.proposal().facts().at("replicas"), "7");
  EXPECT_EQ(q.target().name(), "web");
}

TEST_F(DiagnosisTest, CrashLoopRightAfterAnImageChangeRollsBackToThePreviousImage) {
  auto p = Only(engine_.OnSignal(CrashLoop(
      "api-8d1-x1", {{"lastTerminationReason", "Error"},
                     {"image", "shop/api:v2"},
                     {"previousImage", "shop/api:v1"},
                     {"imageChangedAt", FormatRfc3339(clock_.Now() - std::chrono::minutes(2))}})));
  EXPECT_EQ(p.proposal().action().type(), v1::ACTION_TYPE_ROLLBACK_IMAGE);
  EXPECT_EQ(p.proposal().action().rollback_image().to_image(), "shop/api:v1");
  EXPECT_EQ(p.target().kind(), "Deployment");
  EXPECT_EQ(p.proposal().policy().name(), "bad-rollout");
  EXPECT_NE(p.proposal().reason().find("image changed 120s ago from shop/api:v1 to shop/api:v2"),
            std::string::npos)
      << p.proposal().reason();
}

TEST_F(DiagnosisTest, OldImageChangeOrNoFactsIsAnUnexplainedCrashLoop) {
  auto p = Only(engine_.OnSignal(CrashLoop(
      "api-1", {{"lastTerminationReason", "Error"},
                {"previousImage", "shop/api:v1"},
                {"imageChangedAt", FormatRfc3339(clock_.Now() - std::chrono::hours(2))}})));
  EXPECT_EQ(p.proposal().action().type(), v1::ACTION_TYPE_RESTART_POD);
  EXPECT_EQ(p.proposal().policy().name(), "crashloop-restart");
  v1::Event bare = testing::PodSignal(clock_, "KubePodCrashLooping", "web-1", "");
  auto q = Only(engine_.OnSignal(bare));
  EXPECT_EQ(q.proposal().action().type(), v1::ACTION_TYPE_RESTART_POD);
}

TEST_F(DiagnosisTest, FiveCrashLoopingPodsOfOneDeploymentAreOneIncidentAndOneAction) {
  std::map<std::string, std::string> oom{{"lastTerminationReason", "OOMKilled"}};
  auto first = engine_.OnSignal(CrashLoop("api-7c9-a", oom));
  auto p = Only(first);
  for (const char* pod : {"api-7c9-b", "api-7c9-c", "api-7c9-d", "api-7c9-e"}) {
    auto d = engine_.OnSignal(CrashLoop(pod, oom));
    EXPECT_TRUE(Proposals(d).empty()) << pod;
    const v1::NoAction* na = NoAction(d);
    ASSERT_NE(na, nullptr) << pod;
    EXPECT_EQ(na->category(), "in_flight");
    EXPECT_EQ(na->incident_id(), p.incident_id());
    EXPECT_EQ(na->in_flight_proposal_id(), p.event_id());
    EXPECT_NE(na->reason().find("joined incident " + p.incident_id()), std::string::npos);
  }
  // The Deployment's own alert joins the incident being remedied.
  v1::Event dep = NewRootEvent(v1::EVENT_TYPE_SIGNAL, testing::kCollector, clock_);
  dep.mutable_target()->set_cluster("c1");
  dep.mutable_target()->set_namespace_("shop");
  dep.mutable_target()->set_kind("Deployment");
  dep.mutable_target()->set_name("api");
  dep.mutable_signal()->set_source(v1::SIGNAL_SOURCE_ALERTMANAGER);
  dep.mutable_signal()->set_name("KubeDeploymentReplicasMismatch");
  dep.mutable_signal()->set_fingerprint("dep-api");
  dep.mutable_signal()->set_status(v1::SIGNAL_STATUS_FIRING);
  auto d = engine_.OnSignal(dep);
  ASSERT_NE(NoAction(d), nullptr);
  EXPECT_EQ(NoAction(d)->incident_id(), p.incident_id());
  ASSERT_EQ(engine_.Incidents().size(), 1u);
  EXPECT_EQ(engine_.Incidents()[0].firing, 6u);
}

TEST_F(DiagnosisTest, EveryNonActionSaysWhy) {
  auto none = engine_.OnSignal(testing::PodSignal(clock_, "Watchdog", "x-1", "x"));
  ASSERT_NE(NoAction(none), nullptr);
  EXPECT_EQ(NoAction(none)->category(), "no_policy");
  EXPECT_EQ(NoAction(none)->signal_id(), none.out[0].causation_id());
  // Cooldown: oomkill-memory waits 10m per subject after a proposal.
  std::map<std::string, std::string> oom{{"lastTerminationReason", "OOMKilled"}};
  auto p = Only(engine_.OnSignal(CrashLoop("api-a", oom)));
  engine_.OnOutcome(testing::Outcome(clock_, p, v1::OUTCOME_STATUS_FAILED));
  clock_.Advance(std::chrono::minutes(1));
  auto d = engine_.OnSignal(CrashLoop("api-b", oom));
  EXPECT_TRUE(Proposals(d).empty());
  ASSERT_NE(NoAction(d), nullptr);
  EXPECT_EQ(NoAction(d)->category(), "cooldown");
  EXPECT_EQ(FromTimestamp(NoAction(d)->until()), clock_.Now() + std::chrono::minutes(9));
  auto resolved = engine_.OnSignal(testing::PodSignal(clock_, "Gone", "y-1", "y", "shop",
                                                      v1::SIGNAL_STATUS_RESOLVED));
  ASSERT_NE(NoAction(resolved), nullptr);
  EXPECT_EQ(NoAction(resolved)->category(), "resolved");
}

TEST_F(DiagnosisTest, TheMoreSpecificDiagnosisWinsOverAHigherPriority) {
  Load(R"(
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: generic}
spec:
  priority: 100
  triggers: [{alert: {name: KubePodCrashLooping}}]
  actions: [{type: RestartPod}]
---
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: specific}
spec:
  priority: 1
  triggers:
    - alert: {name: KubePodCrashLooping}
      facts: {waitingReason: CrashLoopBackOff}
      lastTerminationReason: OOMKilled
  actions: [{type: IncreaseMemory}]
)");
  auto p = Only(engine_.OnSignal(CrashLoop(
      "api-a", {{"lastTerminationReason", "OOMKilled"}, {"waitingReason", "CrashLoopBackOff"}})));
  EXPECT_EQ(p.proposal().policy().name(), "specific");
  EXPECT_NE(p.proposal().reason().find("more specific than generic"), std::string::npos);
  // A fact that does not hold: the generic policy decides.
  auto q = Only(engine_.OnSignal(CrashLoop(
      "web-a", {{"lastTerminationReason", "Error"}, {"waitingReason", "CrashLoopBackOff"}},
      "KubePodCrashLooping", "web")));
  EXPECT_EQ(q.proposal().policy().name(), "generic");
}

// ----------------------------------------------------------------- the timer

TEST_F(DiagnosisTest, TimerRetriesWhenTheCooldownEndsWithoutANewSignal) {
  std::map<std::string, std::string> oom{{"lastTerminationReason", "OOMKilled"}};
  auto p = Only(engine_.OnSignal(CrashLoop("api-a", oom)));
  engine_.OnOutcome(testing::Outcome(clock_, p, v1::OUTCOME_STATUS_NOT_FIXED));  // cooling down
  clock_.Advance(std::chrono::minutes(5));
  EXPECT_TRUE(Proposals(engine_.Tick()).empty());
  clock_.Advance(std::chrono::minutes(5));
  auto again = Proposals(engine_.Tick());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].proposal().action().type(), v1::ACTION_TYPE_INCREASE_MEMORY);
  EXPECT_EQ(again[0].incident_id(), p.incident_id());
  EXPECT_EQ(again[0].proposal().attempt(), 2u);
}

TEST_F(DiagnosisTest, TimerExpiresAnUnansweredProposalAndClosesStaleIncidents) {
  EngineConfig cfg;
  cfg.inflight_timeout = std::chrono::minutes(30);
  cfg.incident_ttl = std::chrono::hours(1);
  Engine engine(cfg, testing::kAnalyzer, clock_);
  PolicyStore store{PolicyDefaults()};
  store.Apply({{"p.yaml", ReadDefaults()}});
  engine.SetPolicies(store.Current());
  auto first = Proposals(engine.OnSignal(CrashLoop("api-a", {})));
  ASSERT_EQ(first.size(), 1u);
  clock_.Advance(std::chrono::minutes(31));
  auto retry = Proposals(engine.Tick());
  ASSERT_EQ(retry.size(), 1u) << "the lost proposal is retried on the timer";
  EXPECT_EQ(retry[0].incident_id(), first[0].incident_id());
  // No news for longer than the TTL: closed by the timer, not left open.
  clock_.Advance(std::chrono::minutes(61));
  Decision d = engine.Tick();
  bool closed = false;
  for (const auto& e : d.out) {
    closed = closed || (e.control().has_incident_closed() &&
                        e.control().incident_closed().classification() == "not_fixed");
  }
  EXPECT_TRUE(closed);
  EXPECT_TRUE(engine.Incidents().empty());
}

TEST_F(DiagnosisTest, TimerFiresATriggerWhoseForDurationHeldSinceTheSignal) {
  Load(R"(
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: slow-latency}
spec:
  triggers: [{metric: {name: LatencyHigh, operator: ">", threshold: 2, for: 2m}}]
  actions: [{type: RolloutRestart}]
)");
  v1::Event e = testing::PodSignal(clock_, "LatencyHigh", "api-1");
  e.mutable_signal()->set_source(v1::SIGNAL_SOURCE_PROMETHEUS);
  e.mutable_signal()->set_has_value(true);
  e.mutable_signal()->set_value(3.5);
  auto d = engine_.OnSignal(e);
  ASSERT_NE(NoAction(d), nullptr);
  EXPECT_EQ(NoAction(d)->category(), "no_policy");
  clock_.Advance(std::chrono::seconds(90));
  EXPECT_TRUE(Proposals(engine_.Tick()).empty());
  clock_.Advance(std::chrono::seconds(40));
  auto p = Proposals(engine_.Tick());
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].proposal().action().type(), v1::ACTION_TYPE_ROLLOUT_RESTART);
}

// Parsing: fact conditions and their mistakes.
TEST(FactTriggerParseTest, FactConditionsParseAndMistakesNameTheField) {
  auto ok = ParsePolicies(R"(
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: p}
spec:
  triggers:
    - alert: {name: KubePodCrashLooping}
      facts: {ownerKind: Deployment, waitingReason: "Crash*"}
      lastTerminationReason: OOMKilled
      imageChangedWithin: 10m
  actions: [{type: RestartPod}]
)",
                          "p.yaml", PolicyDefaults());
  ASSERT_TRUE(ok.errors.empty()) << ok.errors[0].ToString();
  const Trigger& t = ok.policies[0].triggers[0];
  EXPECT_EQ(t.Specificity(), 4u);
  EXPECT_EQ(t.image_changed_within, std::chrono::minutes(10));
  auto bad = ParsePolicies(R"(
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: p}
spec:
  triggers:
    - alert: {name: KubePodCrashLooping}
      facts: [OOMKilled]
  actions: [{type: RestartPod}]
)",
                           "p.yaml", PolicyDefaults());
  ASSERT_FALSE(bad.errors.empty());
  EXPECT_EQ(bad.errors[0].path, "spec.triggers[0].facts");
}

}  // namespace
}  // namespace kubemend::analyzer
