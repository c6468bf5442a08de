#include "kube_state.h"

#include <gtest/gtest.h>

namespace kubemend::collector {
namespace {

using nlohmann::json;

const ProducerIdentity kWho{"collector", "c-1", "0.1.0"};

json Pod(const std::string& name, json container_status, const std::string& phase = "Running") {
  return {{"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"namespace", "shop"},
            {"uid", "uid-" + name},
            {"creationTimestamp", "2026-01-01T00:00:00Z"},
            {"labels", {{"app", "web"}}},
            {"ownerReferences", json::array({{{"kind", "ReplicaSet"}, {"name", "web-7d9f"}, {"controller", true}}})}}},
          {"status", {{"phase", phase}, {"containerStatuses", json::array({container_status})}}}};
}

json Running(int restarts, bool ready, json last_state = json::object()) {
  return {{"name", "app"},
          {"ready", ready},
          {"restartCount", restarts},
          {"image", "shop/web:1"},
          {"state", {{"running", {{"startedAt", "2026-01-01T00:00:00Z"}}}}},
          {"lastState", last_state}};
}

json Waiting(const std::string& reason, int restarts, json last_state = json::object()) {
  return {{"name", "app"},
          {"ready", false},
          {"restartCount", restarts},
          {"image", "shop/web:1"},
          {"state", {{"waiting", {{"reason", reason}}}}},
          {"lastState", last_state}};
}

json OomLast() { return {{"terminated", {{"reason", "OOMKilled"}, {"exitCode", 137}}}}; }

class KubeStateTest : public ::testing::Test {
 protected:
  KubeStateTest() : tracker_(Options(), kWho, clock_, [this](auto ns, auto kind, auto name) {
    ++owner_lookups_;
    EXPECT_EQ(kind, "ReplicaSet");
    return std::make_pair(std::string("Deployment"), std::string("web"));
  }) {}
  static KubeStateOptions Options() {
    KubeStateOptions o;
    o.cluster = "prod";
    o.restart_burst_count = 3;
    o.restart_burst_window = Millis(60'000);
    o.pending_timeout = Millis(120'000);
    o.recovery_stable = Millis(30'000);
    return o;
  }
  FakeClock clock_;
  int owner_lookups_ = 0;
  KubeStateTracker tracker_;
};

// The per-object opt-out travels with the event so that the gate sees it.
TEST_F(KubeStateTest, OptOutAnnotationIsCopiedIntoTheTargetLabels) {
  json pod = Pod("web-9", Running(1, true, OomLast()));
  pod["metadata"]["annotations"] = {{"kubemend.io/remediate", "false"}, {"other", "x"}};
  auto ev = tracker_.OnPod(pod, false);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].target().labels().at("kubemend.io/remediate"), "false");
  EXPECT_EQ(ev[0].target().labels().count("other"), 0u);
}

TEST_F(KubeStateTest, OomKillFiresOnceWithOwnerAndResolvesWhenThePodGoes) {
  auto ev = tracker_.OnPod(Pod("web-1", Running(1, true, OomLast())), false);
  ASSERT_EQ(ev.size(), 1u);
  const auto& s = ev[0].signal();
  EXPECT_EQ(s.source(), v1::SIGNAL_SOURCE_KUBERNETES);
  EXPECT_EQ(s.name(), "OOMKilled");
  EXPECT_EQ(s.status(), v1::SIGNAL_STATUS_FIRING);
  EXPECT_EQ(s.severity(), v1::SEVERITY_CRITICAL);
  EXPECT_EQ(s.fingerprint(), "k8s/Pod/shop/web-1/app/OOMKilled");
  EXPECT_EQ(ev[0].target().kind(), "Pod");
  EXPECT_EQ(ev[0].target().container(), "app");
  EXPECT_EQ(ev[0].target().owner_kind(), "Deployment");
  EXPECT_EQ(ev[0].target().owner_name(), "web");
  EXPECT_EQ(ev[0].target().cluster(), "prod");
  EXPECT_EQ(ev[0].target().labels().at("app"), "web");
  EXPECT_TRUE(s.has_value());
  EXPECT_EQ(s.value(), 1);

  // The same state again (a resync, a status heartbeat): nothing.
  EXPECT_TRUE(tracker_.OnPod(Pod("web-1", Running(1, true, OomLast())), false).empty());
  // A second kill of the same container is the same condition, still firing.
  EXPECT_TRUE(tracker_.OnPod(Pod("web-1", Running(2, true, OomLast())), false).empty());

  auto gone = tracker_.OnPod(Pod("web-1", Running(2, true, OomLast())), true);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
  EXPECT_EQ(gone[0].incident_id(), ev[0].incident_id());
  EXPECT_EQ(tracker_.active(), 0u);
}

TEST_F(KubeStateTest, CrashLoopStaysFiringThroughBackOffFlapsUntilReady) {
  auto ev = tracker_.OnPod(Pod("web-2", Waiting("CrashLoopBackOff", 1)), false);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].signal().name(), "CrashLoopBackOff");
  // kubelet restarts it: running but not ready, then back-off again.
  EXPECT_TRUE(tracker_.OnPod(Pod("web-2", Running(2, false)), false).empty());
  EXPECT_TRUE(tracker_.OnPod(Pod("web-2", Waiting("CrashLoopBackOff", 2)), false).empty());
  // Between back-offs the container runs and (without a readiness probe) is
  // ready for a moment: not yet a recovery.
  EXPECT_TRUE(tracker_.OnPod(Pod("web-2", Running(3, true)), false).empty());
  clock_.Advance(Millis(10'000));
  EXPECT_TRUE(tracker_.OnPod(Pod("web-2", Waiting("CrashLoopBackOff", 3)), false).empty());
  auto burst = tracker_.OnPod(Pod("web-2", Running(4, true)), false);
  ASSERT_EQ(burst.size(), 1u);  // restarts 1 → 4 within the minute
  EXPECT_EQ(burst[0].signal().name(), "RestartBurst");
  clock_.Advance(Millis(20'000));
  EXPECT_TRUE(tracker_.Tick().empty());  // ready for 20 s of the 30 needed
  clock_.Advance(Millis(10'000));
  auto ok = tracker_.Tick();
  // Ready for 30 s: the crash loop resolves (the burst is still in its window).
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].signal().name(), "CrashLoopBackOff");
  EXPECT_EQ(ok[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
}

TEST_F(KubeStateTest, ImagePullBackOffFiresAndResolvesOnceRunning) {
  auto ev = tracker_.OnPod(Pod("web-3", Waiting("ErrImagePull", 0)), false);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].signal().name(), "ImagePullBackOff");
  EXPECT_EQ(ev[0].signal().reason(), "ErrImagePull");
  EXPECT_TRUE(tracker_.OnPod(Pod("web-3", Waiting("ImagePullBackOff", 0)), false).empty());
  EXPECT_TRUE(tracker_.OnPod(Pod("web-3", Running(0, true)), false).empty());
  clock_.Advance(Millis(30'000));
  auto ok = tracker_.Tick();
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
}

TEST_F(KubeStateTest, RestartBurstWithinTheWindowAndItsExpiry) {
  EXPECT_TRUE(tracker_.OnPod(Pod("web-4", Running(0, true)), false).empty());
  clock_.Advance(Millis(10'000));
  EXPECT_TRUE(tracker_.OnPod(Pod("web-4", Running(2, true)), false).empty());
  clock_.Advance(Millis(10'000));
  auto ev = tracker_.OnPod(Pod("web-4", Running(3, true)), false);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].signal().name(), "RestartBurst");
  EXPECT_EQ(ev[0].signal().value(), 3);
  EXPECT_EQ(ev[0].signal().threshold(), 3);
  clock_.Advance(Millis(30'000));
  EXPECT_TRUE(tracker_.Tick().empty());  // 50 s: still inside the minute
  clock_.Advance(Millis(40'000));
  auto quiet = tracker_.Tick();  // the burst left the window
  ASSERT_EQ(quiet.size(), 1u);
  EXPECT_EQ(quiet[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
}

TEST_F(KubeStateTest, StuckPendingIsNoticedByTheTick) {
  json p = Pod("web-5", Waiting("ContainerCreating", 0), "Pending");
  p["status"]["conditions"] = json::array({{{"type", "PodScheduled"}, {"status", "False"}, {"reason", "Unschedulable"}}});
  clock_.Set(TimePoint(std::chrono::seconds(1767225600 + 60)));  // a minute after creation
  EXPECT_TRUE(tracker_.OnPod(p, false).empty());
  clock_.Advance(Millis(61'000 + 60'000));
  auto ev = tracker_.Tick();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].signal().name(), "PodStuckPending");
  EXPECT_EQ(ev[0].signal().reason(), "Unschedulable");
  p["status"]["phase"] = "Running";
  auto ok = tracker_.OnPod(p, false);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
}

TEST_F(KubeStateTest, RelistAfterGoneResolvesWhatDisappearedAndFiresWhatIsNew) {
  ASSERT_EQ(tracker_.SyncPods({Pod("a", Waiting("CrashLoopBackOff", 1)), Pod("b", Running(0, true))}).size(), 1u);
  // Events were lost; the relist shows a gone and b OOM-killed.
  auto ev = tracker_.SyncPods({Pod("b", Running(1, true, OomLast()))});
  ASSERT_EQ(ev.size(), 2u);
  std::map<std::string, v1::SignalStatus> got;
  for (const auto& e : ev) {
    got[e.signal().fingerprint()] = e.signal().status();
  }
  EXPECT_EQ(got["k8s/Pod/shop/a/app/CrashLoopBackOff"], v1::SIGNAL_STATUS_RESOLVED);
  EXPECT_EQ(got["k8s/Pod/shop/b/app/OOMKilled"], v1::SIGNAL_STATUS_FIRING);
  // The same list again changes nothing.
  EXPECT_TRUE(tracker_.SyncPods({Pod("b", Running(1, true, OomLast()))}).empty());
}

TEST_F(KubeStateTest, NodeConditions) {
  json node = {{"kind", "Node"},
               {"metadata", {{"name", "node-1"}}},
               {"status",
                {{"conditions",
                  json::array({{{"type", "Ready"}, {"status", "Unknown"}, {"reason", "NodeStatusUnknown"}},
                               {{"type", "MemoryPressure"}, {"status", "True"}},
                               {{"type", "DiskPressure"}, {"status", "False"}}})}}}};
  auto ev = tracker_.OnNode(node, false);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].target().kind(), "Node");
  EXPECT_EQ(ev[0].target().namespace_(), "");
  std::set<std::string> names{ev[0].signal().name(), ev[1].signal().name()};
  EXPECT_EQ(names, (std::set<std::string>{"NodeNotReady", "NodeMemoryPressure"}));
  node["status"]["conditions"][0]["status"] = "True";
  auto ok = tracker_.OnNode(node, false);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].signal().name(), "NodeNotReady");
  EXPECT_EQ(ok[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
}

TEST_F(KubeStateTest, WarningEventsOncePerEventNormalOnesNever) {
  json w = {{"kind", "Event"},
            {"type", "Warning"},
            {"reason", "FailedScheduling"},
            {"message", "0/3 nodes are available"},
            {"count", 1},
            {"metadata", {{"name", "web-5.1"}, {"namespace", "shop"}, {"uid", "ev-1"}}},
            {"involvedObject", {{"kind", "Pod"}, {"name", "web-5"}, {"namespace", "shop"}}}};
  auto ev = tracker_.OnEvent(w, false);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].signal().name(), "FailedScheduling");
  EXPECT_EQ(ev[0].target().name(), "web-5");
  w["count"] = 5;
  EXPECT_TRUE(tracker_.OnEvent(w, false).empty());
  json n = w;
  n["type"] = "Normal";
  n["metadata"]["uid"] = "ev-2";
  EXPECT_TRUE(tracker_.OnEvent(n, false).empty());
}

TEST_F(KubeStateTest, ConditionsPublishedBeforeARestartResolveIfGoneAtFirstSync) {
  tracker_.SyncPods({Pod("b", Running(0, true))});
  auto ev = tracker_.ResolveStale("Pod", {"k8s/Pod/shop/a/app/CrashLoopBackOff", "k8s/Node/n1/NodeNotReady"});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
  EXPECT_EQ(ev[0].signal().name(), "CrashLoopBackOff");
  EXPECT_EQ(ev[0].target().name(), "a");
  EXPECT_EQ(ev[0].target().container(), "app");
}

// Issue 12: two collector replicas watching one cluster see the same object
// states at slightly different times (and a late replica may have missed the
// moment a container was still `terminated`). Each occurrence must get the
// same event and incident ids in both, so the trail stores it once.
TEST(KubeStateReplicasTest, TwoReplicasGiveEachObservationTheSameIds) {
  auto no_owner = [](auto, auto, auto) { return std::make_pair(std::string(), std::string()); };
  FakeClock clock_a;
  FakeClock clock_b;
  clock_b.Advance(Millis(1'700));  // B's watch delivers a little later
  KubeStateOptions o;
  o.recovery_stable = Millis(0);
  KubeStateTracker a(o, {"collector", "collector-1", "0.1.0"}, clock_a, no_owner);
  KubeStateTracker b(o, {"collector", "collector-2", "0.1.0"}, clock_b, no_owner);

  json terminated = {{"name", "app"},   {"ready", false},         {"restartCount", 0},
                     {"image", "web:1"}, {"lastState", json::object()},
                     {"state", {{"terminated", {{"reason", "OOMKilled"}, {"exitCode", 137},
                                                {"finishedAt", "2026-01-01T00:00:05Z"}}}}}};
  json restarted = Running(1, true, {{"terminated", {{"reason", "OOMKilled"}, {"exitCode", 137},
                                                     {"finishedAt", "2026-01-01T00:00:05Z"}}}});
  json node = {{"kind", "Node"},
               {"metadata", {{"name", "node-1"}, {"uid", "node-uid-1"}}},
               {"status", {{"conditions", json::array({{{"type", "Ready"}, {"status", "False"},
                                                         {"lastTransitionTime", "2026-01-01T00:00:07Z"}}})}}}};
  json warning = {{"kind", "Event"}, {"type", "Warning"}, {"reason", "BackOff"}, {"count", 1},
                  {"metadata", {{"name", "w.1"}, {"namespace", "shop"}, {"uid", "ev-9"}}},
                  {"involvedObject", {{"kind", "Pod"}, {"name", "web-1"}, {"namespace", "shop"}}}};
  auto ids = [](const std::vector<v1::Event>& ev) {
    std::vector<std::string> out;
    for (const auto& e : ev) {
      out.push_back(e.signal().name() + "/" + std::to_string(e.signal().status()) + " " + e.event_id() + " " +
                    e.incident_id());
    }
    return out;
  };
  std::vector<std::string> seen_a, seen_b;
  auto both = [&](const std::vector<v1::Event>& ea, const std::vector<v1::Event>& eb) {
    auto ia = ids(ea), ib = ids(eb);
    seen_a.insert(seen_a.end(), ia.begin(), ia.end());
    seen_b.insert(seen_b.end(), ib.begin(), ib.end());
  };
  // A saw the container while it was terminated; B only after the restart.
  both(a.OnPod(Pod("web-1", terminated), false), {});
  both(a.OnPod(Pod("web-1", restarted), false), b.OnPod(Pod("web-1", restarted), false));
  both(a.OnPod(Pod("web-1", Waiting("CrashLoopBackOff", 2)), false),
       b.OnPod(Pod("web-1", Waiting("CrashLoopBackOff", 2)), false));
  both(a.OnNode(node, false), b.OnNode(node, false));
  both(a.OnEvent(warning, false), b.OnEvent(warning, false));
  clock_a.Advance(Millis(5'000));
  clock_b.Advance(Millis(5'000));
  both(a.OnPod(Pod("web-1", Running(2, true)), false), b.OnPod(Pod("web-1", Running(2, true)), false));
  node["status"]["conditions"][0]["status"] = "True";
  node["status"]["conditions"][0]["lastTransitionTime"] = "2026-01-01T00:01:00Z";
  both(a.OnNode(node, false), b.OnNode(node, false));
  EXPECT_EQ(seen_a.size(), 7u);  // OOM, crash loop, node, warning firing; OOM, crash loop, node resolved
  EXPECT_EQ(seen_a, seen_b);

  // A second occurrence is a new event, not a repeat of the first.
  json again = Running(2, true, {{"terminated", {{"reason", "OOMKilled"}, {"finishedAt", "2026-01-01T00:09:00Z"}}}});
  auto second = a.OnPod(Pod("web-1", again), false);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].signal().name(), "OOMKilled");
  for (const auto& line : seen_a) {
    EXPECT_EQ(line.find(second[0].event_id()), std::string::npos) << line;
  }
}

TEST_F(KubeStateTest, GarbageObjectsAreIgnoredNotFatal) {
  EXPECT_TRUE(tracker_.OnPod(json::array({1, 2}), false).empty());
  EXPECT_TRUE(tracker_.OnPod(json{{"status", "weird"}}, false).empty());
  EXPECT_TRUE(tracker_.OnNode(json{{"status", {{"conditions", 3}}}}, false).empty());
  EXPECT_TRUE(tracker_.OnEvent(json("x"), false).empty());
}

}  // namespace
}  // namespace kubemend::collector
