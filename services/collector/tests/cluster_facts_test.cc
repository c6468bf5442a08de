#include "cluster_facts.h"

#include <gtest/gtest.h>

#include "alertmanager.h"
#include "publisher.h"

namespace kubemend::collector {
namespace {

using nlohmann::json;

const ProducerIdentity kWho{"collector", "c-1", "0.1.0"};

json ReplicaSet(const std::string& name, const std::string& deployment, int revision,
                const std::string& image, const std::string& created = "2026-01-01T00:00:00Z") {
  return json::parse(R"({"metadata":{"namespace":"shop","name":")" + name +
                     R"(","creationTimestamp":")" + created +
                     R"(","annotations":{"deployment.kubernetes.io/revision":")" +
                     std::to_string(revision) +
                     R"("},"ownerReferences":[{"kind":"Deployment","name":")" + deployment +
                     R"(","controller":true}]},"spec":{"template":{"spec":{"containers":[{"name":"app","image":")" +
                     image + R"("}]}}}})");
}

// A pod as the API server lists it: OOM-killed once, now in back-off.
json CrashingPod(const std::string& name, const std::string& rs, const std::string& reason,
                 int exit_code) {
  return json::parse(R"({"metadata":{"namespace":"shop","name":")" + name +
                     R"(","ownerReferences":[{"kind":"ReplicaSet","name":")" + rs +
                     R"(","controller":true}]},
    "spec":{"nodeName":"node-2","containers":[
      {"name":"sidecar","image":"envoy:1"},
      {"name":"app","image":"shop/api:v2","resources":{"limits":{"memory":"256Mi"},"requests":{"memory":"128Mi"}}}]},
    "status":{"containerStatuses":[
      {"name":"sidecar","restartCount":0,"state":{"running":{}}},
      {"name":"app","restartCount":4,"state":{"waiting":{"reason":"CrashLoopBackOff"}},
       "lastState":{"terminated":{"reason":")" + reason + R"(","exitCode":)" +
                     std::to_string(exit_code) + R"(}}}]}})");
}

v1::Event PodSignal(const std::string& pod, const std::string& container = "") {
  v1::Event e;
  e.mutable_target()->set_namespace_("shop");
  e.mutable_target()->set_kind("Pod");
  e.mutable_target()->set_name(pod);
  e.mutable_target()->set_container(container);
  e.mutable_signal()->set_name("KubePodCrashLooping");
  return e;
}

TEST(ClusterFactsTest, PodSignalGetsOwnerChainContainerStateAndRollout) {
  FakeClock clock;
  ClusterFacts facts(clock);
  facts.SyncReplicaSets({ReplicaSet("api-1", "api", 1, "shop/api:v1"),
                         ReplicaSet("api-2", "api", 2, "shop/api:v2", "2026-01-01T00:05:00Z")});
  facts.SyncPods({CrashingPod("api-2-x", "api-2", "OOMKilled", 137)});
  v1::Event e = PodSignal("api-2-x");
  ASSERT_TRUE(facts.Enrich(&e));
  const auto& f = e.signal().facts();
  EXPECT_EQ(e.target().owner_kind(), "Deployment");
  EXPECT_EQ(e.target().owner_name(), "api");
  EXPECT_EQ(f.at("ownerKind"), "Deployment");
  EXPECT_EQ(f.at("node"), "node-2");
  EXPECT_EQ(f.at("container"), "app");  // the one with restarts, not the first
  EXPECT_EQ(f.at("restartCount"), "4");
  EXPECT_EQ(f.at("lastTerminationReason"), "OOMKilled");
  EXPECT_EQ(f.at("lastExitCode"), "137");
  EXPECT_EQ(f.at("waitingReason"), "CrashLoopBackOff");
  EXPECT_EQ(f.at("image"), "shop/api:v2");
  EXPECT_EQ(f.at("memoryLimit"), "256Mi");
  EXPECT_EQ(f.at("memoryRequest"), "128Mi");
  EXPECT_EQ(f.at("revision"), "2");
  EXPECT_EQ(f.at("previousImage"), "shop/api:v1");
  EXPECT_EQ(f.at("imageChangedAt"), "2026-01-01T00:05:00Z");
}

// The gate needs the owner's current replica count (scale-downs, blast
// radius) and the namespace's opt-out: both come from watches too.
TEST(ClusterFactsTest, OwnersReplicasAndTheNamespacesOptOutAreFacts) {
  FakeClock clock;
  ClusterFacts facts(clock);
  facts.SyncReplicaSets({ReplicaSet("api-2", "api", 2, "shop/api:v2")});
  facts.SyncPods({CrashingPod("api-2-x", "api-2", "OOMKilled", 137)});
  facts.SyncDeployments({json::parse(R"({"metadata":{"namespace":"shop","name":"api"},"spec":{"replicas":20}})")});
  v1::Event e = PodSignal("api-2-x");
  ASSERT_TRUE(facts.Enrich(&e));
  EXPECT_EQ(e.signal().facts().at("replicas"), "20");
  EXPECT_EQ(e.signal().facts().count("namespaceRemediate"), 0u);

  facts.OnNamespace(json::parse(R"({"metadata":{"name":"shop","annotations":{"kubemend.io/remediate":"false"}}})"),
                    false);
  facts.OnDeployment(json::parse(R"({"metadata":{"namespace":"shop","name":"api"},"spec":{"replicas":3}})"), false);
  v1::Event again = PodSignal("api-2-x");
  ASSERT_TRUE(facts.Enrich(&again));
  EXPECT_EQ(again.signal().facts().at("namespaceRemediate"), "false");
  EXPECT_EQ(again.signal().facts().at("replicas"), "3");

  // The annotation removed: the opt-out is gone with it.
  facts.OnNamespace(json::parse(R"({"metadata":{"name":"shop"}})"), false);
  v1::Event third = PodSignal("api-2-x");
  ASSERT_TRUE(facts.Enrich(&third));
  EXPECT_EQ(third.signal().facts().count("namespaceRemediate"), 0u);
}

// Prometheus alerts about a pod the rollout just replaced arrive after its
// deletion: they must still resolve to the owner and the diagnosis (seen in
// upstream_rules_e2e_test: a late KubePodCrashLooping became a RestartPod).
TEST(ClusterFactsTest, ADeletedPodKeepsItsFactsForAWhile) {
  FakeClock clock;
  ClusterFacts facts(clock);
  facts.SyncReplicaSets({ReplicaSet("api-2", "api", 2, "shop/api:v2")});
  facts.SyncPods({CrashingPod("api-2-x", "api-2", "OOMKilled", 137)});
  facts.OnPod(CrashingPod("api-2-x", "api-2", "OOMKilled", 137), /*deleted=*/true);
  v1::Event late = PodSignal("api-2-x");
  ASSERT_TRUE(facts.Enrich(&late));
  EXPECT_EQ(late.signal().facts().at("ownerName"), "api");
  EXPECT_EQ(late.signal().facts().at("lastTerminationReason"), "OOMKilled");
  EXPECT_EQ(late.signal().facts().at("podDeleted"), "true");
  EXPECT_EQ(late.target().owner_name(), "api");

  // Forgotten once kept long enough (on the next pod event).
  clock.Advance(ClusterFacts::kDeletedPodKept + Millis(1));
  facts.OnPod(CrashingPod("api-2-y", "api-2", "OOMKilled", 137), false);
  v1::Event later = PodSignal("api-2-x");
  EXPECT_FALSE(facts.Enrich(&later));
  EXPECT_EQ(facts.pods(), 1u);
}

TEST(ClusterFactsTest, TheAlertsContainerLabelChoosesTheContainer) {
  FakeClock clock;
  ClusterFacts facts(clock);
  facts.SyncPods({CrashingPod("p", "rs", "Error", 1)});
  v1::Event e = PodSignal("p", "sidecar");
  ASSERT_TRUE(facts.Enrich(&e));
  EXPECT_EQ(e.signal().facts().at("container"), "sidecar");
  EXPECT_EQ(e.signal().facts().at("restartCount"), "0");
  EXPECT_EQ(e.signal().facts().count("lastTerminationReason"), 0u);
  // The ReplicaSet is unknown: its pods still share an owner.
  EXPECT_EQ(e.target().owner_kind(), "ReplicaSet");
}

// The rollout history the adviser's RollbackImage is held to: every distinct
// older image, newest first, without the current one or repeats.
TEST(ClusterFactsTest, ImageHistoryListsEveryOlderImageNewestFirst) {
  FakeClock clock;
  ClusterFacts facts(clock);
  facts.SyncReplicaSets({ReplicaSet("api-1", "api", 1, "shop/api:v1"),
                         ReplicaSet("api-2", "api", 2, "shop/api:v2"),
                         ReplicaSet("api-3", "api", 3, "shop/api:v1"),
                         ReplicaSet("api-4", "api", 4, "shop/api:v3"),
                         ReplicaSet("api-5", "api", 5, "shop/api:v4"),
                         ReplicaSet("other-1", "other", 1, "evil:1")});
  v1::Event d;
  d.mutable_target()->set_namespace_("shop");
  d.mutable_target()->set_kind("Deployment");
  d.mutable_target()->set_name("api");
  ASSERT_TRUE(facts.Enrich(&d));
  EXPECT_EQ(d.signal().facts().at("previousImage"), "shop/api:v3");
  EXPECT_EQ(d.signal().facts().at("imageHistory"), "shop/api:v3,shop/api:v1,shop/api:v2");
}

TEST(ClusterFactsTest, FirstRevisionHasNoPreviousImageAndUnknownPodsGetNothing) {
  FakeClock clock;
  ClusterFacts facts(clock);
  facts.SyncReplicaSets({ReplicaSet("web-1", "web", 1, "web:v1")});
  v1::Event d;
  d.mutable_target()->set_namespace_("shop");
  d.mutable_target()->set_kind("Deployment");
  d.mutable_target()->set_name("web");
  ASSERT_TRUE(facts.Enrich(&d));
  EXPECT_EQ(d.signal().facts().at("revision"), "1");
  EXPECT_EQ(d.signal().facts().count("previousImage"), 0u);
  EXPECT_EQ(d.signal().facts().count("imageChangedAt"), 0u);
  EXPECT_EQ(d.signal().facts().count("imageHistory"), 0u);
  v1::Event e = PodSignal("nobody");
  EXPECT_FALSE(facts.Enrich(&e));
  EXPECT_TRUE(e.signal().facts().empty());
  EXPECT_EQ(e.target().owner_kind(), "");
}

TEST(ClusterFactsTest, RollbackToAnOldReplicaSetCountsFromWhenItWasSeen) {
  FakeClock clock;
  ClusterFacts facts(clock);
  facts.SyncReplicaSets({ReplicaSet("api-1", "api", 1, "shop/api:v1"),
                         ReplicaSet("api-2", "api", 2, "shop/api:v2")});
  clock.Set(TimePoint(Millis(1767229200000)));  // 2026-01-01T01:00:00Z
  facts.OnReplicaSet(ReplicaSet("api-1", "api", 3, "shop/api:v1"), false);
  v1::Event d;
  d.mutable_target()->set_namespace_("shop");
  d.mutable_target()->set_kind("Deployment");
  d.mutable_target()->set_name("api");
  ASSERT_TRUE(facts.Enrich(&d));
  EXPECT_EQ(d.signal().facts().at("previousImage"), "shop/api:v2");
  EXPECT_EQ(d.signal().facts().at("imageChangedAt"), "2026-01-01T01:00:00Z");
  facts.OnPod(CrashingPod("gone", "api-1", "Error", 1), false);
  EXPECT_EQ(facts.pods(), 1u);
  facts.OnPod(CrashingPod("gone", "api-1", "Error", 1), true);
  EXPECT_EQ(facts.pods(), 0u);
}

// The upstream kubernetes-mixin alert, exactly as Alertmanager sends it (no
// deployment label), through the webhook parser and the publisher.
TEST(ClusterFactsTest, UpstreamCrashLoopAlertIsPublishedWithTheFacts) {
  FakeClock clock;
  ClusterFacts facts(clock);
  facts.SyncReplicaSets({ReplicaSet("api-6d4", "api", 1, "shop/api:v1")});
  facts.SyncPods({CrashingPod("api-6d4-abcde", "api-6d4", "OOMKilled", 137)});
  const std::string body = R"({"version":"4","groupKey":"{}:{alertname=\"KubePodCrashLooping\"}","status":"firing",
    "receiver":"kubemend","groupLabels":{"alertname":"KubePodCrashLooping"},"commonLabels":{},"commonAnnotations":{},
    "externalURL":"http://alertmanager:9093","truncatedAlerts":0,"alerts":[{"status":"firing",
    "labels":{"alertname":"KubePodCrashLooping","container":"app","job":"kube-state-metrics","namespace":"shop",
              "pod":"api-6d4-abcde","reason":"CrashLoopBackOff","severity":"warning","uid":"1b2c"},
    "annotations":{"description":"Pod shop/api-6d4-abcde (app) is in waiting state (reason: \"CrashLoopBackOff\").",
                   "runbook_url":"https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
                   "summary":"Pod is crash looping."},
    "startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z",
    "generatorURL":"http://prometheus:9090/graph","fingerprint":"a1b2c3d4e5f60718"}]})";
  auto events = ParseAlertmanagerWebhook(body, {"default"}, kWho, clock);
  ASSERT_TRUE(events.ok()) << events.status();
  MemorySignalSink sink;
  MetricsRegistry metrics;
  Publisher pub(&sink, nullptr, &metrics);
  pub.SetFacts(&facts);
  ASSERT_TRUE(pub.Publish("alertmanager", *events).ok());
  auto out = sink.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].target().kind(), "Pod");
  EXPECT_EQ(out[0].target().owner_kind(), "Deployment");
  EXPECT_EQ(out[0].target().owner_name(), "api");
  EXPECT_EQ(out[0].signal().facts().at("lastTerminationReason"), "OOMKilled");
  EXPECT_EQ(out[0].signal().facts().at("memoryLimit"), "256Mi");
}

}  // namespace
}  // namespace kubemend::collector
