// The size caps of the engine's limit-holding maps (analyzer.max_attempt_keys,
// analyzer.max_cooldowns): they hold live and in replay, and reaching one
// never loosens the loop breaker or a cooldown; the proposal is refused
// (at_capacity) instead.
#include <gtest/gtest.h>

#include "engine.h"
#include "test_util.h"

namespace kubemend::analyzer {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using testing::kAnalyzer;
using testing::Outcome;
using testing::PodSignal;

const char* kPolicies = R"(
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: crashloop}
spec:
  cooldown: 0s
  maxActionsPerHour: 1000
  loopBreaker: {maxAttempts: 2, window: 1h}
  triggers: [{alert: {name: KubePodCrashLooping}}]
  actions:
    - type: RestartPod
    - type: RollbackImage
---
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: oom}
spec:
  cooldown: 10m
  maxActionsPerHour: 1000
  triggers: [{alert: {name: KubePodOOMKilled}}]
  actions: [{type: IncreaseMemory, params: {percent: 25}}]
)";

class EngineCapsTest : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> MakeEngine(size_t max_attempt_keys, size_t max_cooldowns, bool policies = true) {
    EngineConfig cfg;
    cfg.max_attempt_keys = max_attempt_keys;
    cfg.max_cooldowns = max_cooldowns;
    auto e = std::make_unique<Engine>(cfg, kAnalyzer, clock_, nullptr);
    if (policies) {
      SetPolicies(e.get());
    }
    return e;
  }
  void SetPolicies(Engine* e) {
    PolicyStore store{PolicyDefaults()};
    EXPECT_EQ(store.Apply({{"p.yaml", kPolicies}}).size(), 2u);
    e->SetPolicies(store.Current());
  }
  static std::optional<v1::Event> Proposal(const Decision& d) {
    for (const auto& e : d.out) {
      if (e.has_proposal()) {
        return e;
      }
    }
    return std::nullopt;
  }
  v1::Event Crash(int workload) {
    std::string w = "w" + std::to_string(workload);
    return PodSignal(clock_, "KubePodCrashLooping", w + "-1", w);
  }
  v1::Event Oom(int workload) {
    std::string w = "m" + std::to_string(workload);
    return PodSignal(clock_, "KubePodOOMKilled", w + "-1", w);
  }
  FakeClock clock_;
};

TEST_F(EngineCapsTest, FullAttemptCountersRefuseNewSubjectsAndNeverLoosenTheLoopBreaker) {
  auto e = MakeEngine(/*max_attempt_keys=*/2, /*max_cooldowns=*/1000);
  // w0: RestartPod twice (not fixed), then RollbackImage: two attempt keys.
  auto p = Proposal(e->OnSignal(Crash(0)));
  ASSERT_TRUE(p);
  clock_.Advance(minutes(1));
  p = Proposal(e->OnOutcome(Outcome(clock_, *p, v1::OUTCOME_STATUS_NOT_FIXED)));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->proposal().action().type(), v1::ACTION_TYPE_RESTART_POD);
  const TimePoint restart_counter_ends = clock_.Now() + hours(1);  // its newest attempt's window
  clock_.Advance(minutes(1));
  p = Proposal(e->OnOutcome(Outcome(clock_, *p, v1::OUTCOME_STATUS_NOT_FIXED)));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->proposal().action().type(), v1::ACTION_TYPE_ROLLBACK_IMAGE);

  // A storm of other crash-looping workloads: each needs a counter of its own.
  for (int i = 1; i <= 20; ++i) {
    clock_.Advance(std::chrono::seconds(10));
    Decision d = e->OnSignal(Crash(i));
    ASSERT_FALSE(Proposal(d)) << "proposed past a full attempt map";
    ASSERT_EQ(d.category, "at_capacity") << d.reason;
    EXPECT_NE(d.reason.find("analyzer.max_attempt_keys=2"), std::string::npos) << d.reason;
    EXPECT_EQ(d.until, restart_counter_ends) << "refused until the earliest counter ends";
    ASSERT_LE(e->Stats().attempt_keys, 2u);
  }
  // The no-action event says so in the trail.
  Decision d = e->OnSignal(Crash(21));
  ASSERT_FALSE(d.out.empty());
  EXPECT_EQ(d.out.back().control().no_action().category(), "at_capacity");
  EXPECT_EQ(e->Stats().attempt_keys_full, 21u);

  // w0's counters were not forgotten: RollbackImage gets its second try, then
  // the loop breaker escalates; RestartPod is never tried a third time.
  clock_.Advance(minutes(1));
  p = Proposal(e->OnOutcome(Outcome(clock_, *p, v1::OUTCOME_STATUS_NOT_FIXED)));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->proposal().action().type(), v1::ACTION_TYPE_ROLLBACK_IMAGE);
  EXPECT_EQ(p->proposal().attempt(), 2u);
  clock_.Advance(minutes(1));
  p = Proposal(e->OnOutcome(Outcome(clock_, *p, v1::OUTCOME_STATUS_NOT_FIXED)));
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->proposal().escalation()) << p->proposal().reason();

  // Once w0's attempts are past the loop window they count for nothing and
  // make room: the refused workloads are retried by the timer.
  clock_.Set(restart_counter_ends + hours(1));
  Decision t = e->Tick();
  int proposed = 0;
  for (const auto& out : t.out) {
    proposed += out.has_proposal() ? 1 : 0;
  }
  EXPECT_GE(proposed, 1) << t.reason;
  EXPECT_LE(e->Stats().attempt_keys, 2u);
  EXPECT_EQ(e->Stats().attempt_keys_forgotten, 2u);
}

TEST_F(EngineCapsTest, FullCooldownsRefuseNewSubjectsAndNeverLoosenACooldown) {
  auto e = MakeEngine(/*max_attempt_keys=*/1000, /*max_cooldowns=*/2);
  auto p0 = Proposal(e->OnSignal(Oom(0)));
  ASSERT_TRUE(p0);
  const TimePoint cooldown_ends = clock_.Now() + minutes(10);
  clock_.Advance(minutes(1));
  ASSERT_TRUE(Proposal(e->OnSignal(Oom(1))));
  clock_.Advance(minutes(1));
  Decision d = e->OnSignal(Oom(2));
  ASSERT_FALSE(Proposal(d));
  EXPECT_EQ(d.category, "at_capacity");
  EXPECT_NE(d.reason.find("analyzer.max_cooldowns=2"), std::string::npos) << d.reason;
  EXPECT_EQ(d.until, cooldown_ends);
  EXPECT_EQ(e->Stats().cooldowns, 2u);
  // m0's cooldown still holds: its failed action is not retried inside it.
  d = e->OnOutcome(Outcome(clock_, *p0, v1::OUTCOME_STATUS_FAILED));
  EXPECT_FALSE(Proposal(d));
  EXPECT_NE(d.reason.find("cooling down"), std::string::npos) << d.reason;
  // When it ends, it makes room for m2.
  clock_.Set(cooldown_ends);
  d = e->OnSignal(Oom(2));
  ASSERT_TRUE(Proposal(d)) << d.reason;
  EXPECT_EQ(Proposal(d)->target().name(), "m2");
  EXPECT_EQ(e->Stats().cooldowns, 2u);
  EXPECT_EQ(e->Stats().cooldowns_forgotten, 1u);
}

TEST_F(EngineCapsTest, ReplayKeepsTheCapsAndTheLimitsWithoutThePoliciesLoaded) {
  auto live = MakeEngine(/*max_attempt_keys=*/3, /*max_cooldowns=*/3);
  std::vector<v1::Event> log;
  std::optional<v1::Event> last;
  // A new OOM-killed workload every 25 minutes for five hours: never more
  // than three attempt counters (1h loop window) still count at once.
  for (int i = 0; i < 12; ++i) {
    clock_.Advance(minutes(25));
    v1::Event s = Oom(i);
    log.push_back(s);
    last = Proposal(live->OnSignal(s));
    ASSERT_TRUE(last) << "workload " << i << " refused live";
    log.push_back(*last);
    v1::Event o = Outcome(clock_, *last, v1::OUTCOME_STATUS_SUCCEEDED);
    live->OnOutcome(o);
    log.push_back(o);
    ASSERT_LE(live->Stats().attempt_keys, 3u);
    ASSERT_LE(live->Stats().cooldowns, 3u);
  }
  EXPECT_GT(live->Stats().attempt_keys_forgotten, 0u);

  // The analyzer replays before it loads its policies: the windows come from
  // the proposals' own facts.
  clock_.Advance(minutes(1));
  auto restarted = MakeEngine(3, 3, /*policies=*/false);
  for (const auto& e : log) {
    restarted->Replay(e);
    ASSERT_LE(restarted->Stats().attempt_keys, 3u);
    ASSERT_LE(restarted->Stats().cooldowns, 3u);
  }
  SetPolicies(restarted.get());
  // The newest workload's cooldown survived the replay.
  Decision d = restarted->OnSignal(Oom(11));
  EXPECT_FALSE(Proposal(d));
  EXPECT_EQ(d.category, "cooldown") << d.reason;
}

// A long-lived incident that keeps getting signals (a flapping alert, a
// stream of Warning events) remembers at most the 1000 ids it lists.
TEST_F(EngineCapsTest, LongLivedIncidentRemembersAtMostTheSignalIdsItLists) {
  auto e = MakeEngine(1000, 1000);
  v1::Event first = Crash(0);
  e->OnSignal(first);
  for (int i = 0; i < 3000; ++i) {
    e->OnSignal(Crash(0));
  }
  EXPECT_EQ(e->Stats().open_incidents, 1u);
  EXPECT_EQ(e->Stats().incident_signal_ids, 1000u);
  e->OnSignal(first);  // a redelivery is not listed twice
  EXPECT_EQ(e->Stats().incident_signal_ids, 1000u);
}

// One Deployment whose pods keep firing distinct alerts: the incident
// follows at most 1000 signals, resolved ones dropped first, and still
// knows the newest one (the timer retries with it).
TEST_F(EngineCapsTest, IncidentFollowsAtMostAThousandSignalsResolvedOnesDroppedFirst) {
  auto e = MakeEngine(1000, 1000);
  auto fire = [&](int i) {
    clock_.Advance(std::chrono::seconds(1));
    v1::Event s = PodSignal(clock_, "KubePodCrashLooping", "api-" + std::to_string(i), "api");
    e->OnSignal(s);
    return s;
  };
  v1::Event oldest_firing = fire(0);
  for (int i = 1; i < 10; ++i) {
    fire(i);
  }
  // A signal that fired and resolved after those ten.
  e->OnSignal(PodSignal(clock_, "KubePodCrashLooping", "api-resolved", "api"));
  clock_.Advance(std::chrono::seconds(1));
  e->OnSignal(PodSignal(clock_, "KubePodCrashLooping", "api-resolved", "api", "shop", v1::SIGNAL_STATUS_RESOLVED));
  for (int i = 10; i < 1000; ++i) {
    fire(i);
  }
  // The 1001st distinct signal: the resolved one goes, every firing one stays.
  EXPECT_EQ(e->Stats().incident_signals, 1000u);
  EXPECT_EQ(e->Incidents()[0].firing, 1000u) << "the resolved signal goes before older firing ones";
  for (int i = 1000; i < 1500; ++i) {
    fire(i);
    ASSERT_LE(e->Stats().incident_signals, 1000u);
  }
  EXPECT_EQ(e->Stats().open_incidents, 1u);
  // A dropped one that fires again joins the same incident (by subject).
  Decision d = e->OnSignal(oldest_firing);
  EXPECT_EQ(e->Stats().open_incidents, 1u);
  EXPECT_EQ(d.incident_id, e->Incidents()[0].id);
  EXPECT_EQ(e->Stats().incident_signals, 1000u);
}

}  // namespace
}  // namespace kubemend::analyzer
