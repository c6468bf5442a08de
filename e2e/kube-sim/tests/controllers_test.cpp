#include "api_error.h"
#include "controllers.h"
#include "tables.h"
#include "test_cluster.h"

#include <gtest/gtest.h>

namespace kubesim {
namespace {

using testing::TestCluster;

int count_ready(const std::vector<Json>& pods) {
  int n = 0;
  for (const auto& p : pods) {
    n += pod_is_ready(p) && !pod_is_terminating(p) ? 1 : 0;
  }
  return n;
}

const Json& container_status(const Json& pod) { return pod["status"]["containerStatuses"][0]; }

TEST(DeploymentControllerTest, CreatesReplicaSetAndReadyPods) {
  TestCluster t;
  t.apply(testing::kWebDeployment);
  t.run(4);
  auto sets = t.list("replicasets");
  ASSERT_EQ(sets.size(), 1u);
  std::string hash = sets[0]["metadata"]["labels"]["pod-template-hash"];
  EXPECT_EQ(name_of(sets[0]), "web-" + hash);
  EXPECT_EQ(sets[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
  auto pods = t.list("pods");
  ASSERT_EQ(pods.size(), 3u);
  for (const auto& p : pods) {
    EXPECT_EQ(name_of(p).rfind(name_of(sets[0]) + "-", 0), 0u);
    EXPECT_EQ(name_of(p).size(), name_of(sets[0]).size() + 6);
    EXPECT_EQ(p["status"]["phase"], "Running");
    EXPECT_FALSE(string_at(p, "spec.nodeName").empty());
    EXPECT_FALSE(string_at(p, "status.podIP").empty());
  }
  EXPECT_EQ(count_ready(pods), 3);
  Json d = t.get("deployments", "default", "web");
  EXPECT_EQ(d["status"]["readyReplicas"], 3);
  EXPECT_EQ(d["status"]["availableReplicas"], 3);
  EXPECT_EQ(d["status"]["updatedReplicas"], 3);
  EXPECT_EQ(d["status"]["observedGeneration"], 1);
  EXPECT_EQ(find_condition(d, "Available")->value("status", ""), "True");
  EXPECT_EQ(find_condition(d, "Progressing")->value("reason", ""), "NewReplicaSetAvailable");
}

TEST(DeploymentControllerTest, RollingUpdateKeepsAvailabilityAndHistory) {
  TestCluster t;
  t.apply(testing::kWebDeployment);
  t.run(4);
  t.cluster().locked([&] {
    t.cluster().api().patch(resource_by_plural("deployments"), "default", "web", PatchType::kStrategic,
                            Json::parse(R"({"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"now"}}}}})"),
                            "");
  });
  int min_ready = 3;
  for (int i = 0; i < 30; ++i) {
    t.run();
    int ready = count_ready(t.list("pods"));
    min_ready = std::min(min_ready, ready);
  }
  // maxUnavailable 25% of 3 rounds down to 0: never below 3 ready pods.
  EXPECT_EQ(min_ready, 3);
  auto sets = t.list("replicasets");
  ASSERT_EQ(sets.size(), 2u);
  Json d = t.get("deployments", "default", "web");
  EXPECT_EQ(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
  EXPECT_EQ(d["metadata"]["generation"], 2);
  EXPECT_EQ(d["status"]["updatedReplicas"], 3);
  int scaled_down = 0;
  for (const auto& rs : sets) {
    scaled_down += rs["spec"]["replicas"] == 0 ? 1 : 0;
  }
  EXPECT_EQ(scaled_down, 1);
  EXPECT_EQ(t.list("pods").size(), 3u);
}

TEST(DeploymentControllerTest, ScaleSubresourceChangesPodCount) {
  TestCluster t;
  t.apply(testing::kWebDeployment);
  t.run(3);
  t.cluster().locked([&] {
    Json scale = t.cluster().api().patch_scale(resource_by_plural("deployments"), "default", "web", PatchType::kMerge,
                                               Json::parse(R"({"spec":{"replicas":5}})"));
    EXPECT_EQ(scale["kind"], "Scale");
    EXPECT_EQ(scale["spec"]["replicas"], 5);
    EXPECT_EQ(scale["status"]["selector"], "app=web");
  });
  t.run(4);
  EXPECT_EQ(count_ready(t.list("pods")), 5);
}

TEST(DeploymentControllerTest, ProgressDeadlineExceededWhenPodsCannotSchedule) {
  TestCluster t;
  t.apply(R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: big}
spec:
  replicas: 1
  progressDeadlineSeconds: 5
  selector: {matchLabels: {app: big}}
  template:
    metadata: {labels: {app: big}}
    spec:
      containers: [{name: app, image: x:1, resources: {requests: {memory: 100Gi}}}]
)");
  t.run(3);
  Json pod = t.list("pods").at(0);
  EXPECT_EQ(pod["status"]["phase"], "Pending");
  const Json* scheduled = find_condition(pod, "PodScheduled");
  ASSERT_NE(scheduled, nullptr);
  EXPECT_EQ(scheduled->value("status", ""), "False");
  EXPECT_EQ(scheduled->value("reason", ""), "Unschedulable");
  EXPECT_NE(scheduled->value("message", "").find("2 Insufficient memory"), std::string::npos);
  EXPECT_FALSE(t.events("FailedScheduling").empty());
  t.run(1, Millis(6000));
  t.run(1);
  Json d = t.get("deployments", "default", "big");
  EXPECT_EQ(find_condition(d, "Progressing")->value("reason", ""), "ProgressDeadlineExceeded");
}

TEST(KubeletTest, OomKillLeadsToCrashLoopBackOffWithGrowingDelay) {
  TestCluster t;
  t.apply(testing::kWebDeployment);
  t.run(3);
  t.cluster().locked([&] {
    t.cluster().faults().memory.push_back({{"default", "deployment", "web"}, "", 200LL << 20});
  });
  // Runs crash_after (500ms), is OOM-killed, restarts at once, dies again,
  // then waits in CrashLoopBackOff.
  t.run(8);
  Json pod = t.list("pods").at(0);
  const Json& cs = container_status(pod);
  EXPECT_EQ(cs["lastState"]["terminated"]["reason"], "OOMKilled");
  EXPECT_EQ(cs["lastState"]["terminated"]["exitCode"], 137);
  EXPECT_GE(cs["restartCount"].get<int>(), 1);
  bool saw_backoff = false;
  int restarts_at_backoff = 0;
  for (int i = 0; i < 20 && !saw_backoff; ++i) {
    t.run();
    pod = t.get("pods", "default", name_of(pod));
    if (string_at(container_status(pod), "state.waiting.reason") == "CrashLoopBackOff") {
      saw_backoff = true;
      restarts_at_backoff = container_status(pod)["restartCount"];
    }
  }
  ASSERT_TRUE(saw_backoff);
  EXPECT_EQ(pod_status_reason(pod), "CrashLoopBackOff");
  EXPECT_FALSE(pod_is_ready(pod));
  // The first back-off is 1s (base): still waiting after 0.5s, restarted after 1.2s.
  t.run(5);
  pod = t.get("pods", "default", name_of(pod));
  EXPECT_EQ(string_at(container_status(pod), "state.waiting.reason"), "CrashLoopBackOff");
  t.run(7);
  pod = t.get("pods", "default", name_of(pod));
  EXPECT_GT(container_status(pod)["restartCount"].get<int>(), restarts_at_backoff);
  EXPECT_FALSE(t.events("OOMKilling").empty());
  EXPECT_FALSE(t.events("BackOff").empty());
  EXPECT_EQ(t.events("OOMKilling")[0]["involvedObject"]["kind"], "Node");
}

TEST(KubeletTest, RaisingTheLimitStopsTheOomLoop) {
  TestCluster t;
  t.apply(testing::kWebDeployment);
  t.run(3);
  t.cluster().locked([&] {
    t.cluster().faults().memory.push_back({{"default", "deployment", "web"}, "app", 200LL << 20});
  });
  t.run(10);
  t.cluster().locked([&] {
    t.cluster().api().patch(resource_by_plural("deployments"), "default", "web", PatchType::kStrategic,
                            Json::parse(R"({"spec":{"template":{"spec":{"containers":[{"name":"app","resources":{"limits":{"memory":"512Mi"}}}]}}}})"),
                            "");
  });
  // The rollout replaces the crash-looping pods: none is ready, so all old
  // ones are unavailable and go first.
  t.run(80);
  auto pods = t.list("pods");
  ASSERT_EQ(pods.size(), 3u);
  for (const auto& p : pods) {
    EXPECT_EQ(p["spec"]["containers"][0]["resources"]["limits"]["memory"], "512Mi");
    EXPECT_EQ(container_status(p)["restartCount"], 0) << name_of(p);
    EXPECT_TRUE(pod_is_ready(p));
  }
}

TEST(KubeletTest, BadImageCrashLoopsGoodImageRuns) {
  TestCluster t;
  t.cluster().locked([&] { t.cluster().faults().images["busybox:bad"] = {"crash", 1}; });
  t.apply(R"(
apiVersion: v1
kind: Pod
metadata: {name: bad}
spec: {containers: [{name: c, image: "busybox:bad"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: good}
spec: {containers: [{name: c, image: "busybox:1.36"}]}
)");
  t.run(30);
  Json bad = t.get("pods", "default", "bad");
  EXPECT_GE(container_status(bad)["restartCount"].get<int>(), 2);
  EXPECT_EQ(container_status(bad)["lastState"]["terminated"]["reason"], "Error");
  EXPECT_EQ(container_status(bad)["lastState"]["terminated"]["exitCode"], 1);
  Json good = t.get("pods", "default", "good");
  EXPECT_EQ(container_status(good)["restartCount"], 0);
  EXPECT_TRUE(pod_is_ready(good));
  EXPECT_EQ(pod_status_reason(good), "Running");
}

TEST(KubeletTest, PullFaultGivesImagePullBackOff) {
  TestCluster t;
  t.cluster().locked([&] { t.cluster().faults().images["ghost:1"] = {"pull", 0}; });
  t.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: 'ghost:1'}]}\n");
  t.run(4);
  Json p = t.get("pods", "default", "p");
  EXPECT_EQ(string_at(container_status(p), "state.waiting.reason"), "ImagePullBackOff");
  EXPECT_EQ(p["status"]["phase"], "Pending");
}

TEST(SchedulerTest, CordonedNodeGetsNoPods) {
  TestCluster t(2);
  t.cluster().locked([&] {
    t.cluster().api().patch(resource_by_plural("nodes"), "", "node-1", PatchType::kStrategic,
                            Json::parse(R"({"spec":{"unschedulable":true}})"), "");
  });
  t.run();
  Json node = t.get("nodes", "", "node-1");
  EXPECT_EQ(node["spec"]["taints"][0]["key"], "node.kubernetes.io/unschedulable");
  t.apply(testing::kWebDeployment);
  t.run(3);
  for (const auto& p : t.list("pods")) {
    EXPECT_EQ(string_at(p, "spec.nodeName"), "node-2");
  }
}

TEST(NodeLifecycleTest, NotReadyNodeMarksPodsNotReadyThenEvicts) {
  TestCluster t(2);
  t.apply(testing::kWebDeployment);
  t.run(4);
  std::string victim_node = string_at(t.list("pods").at(0), "spec.nodeName");
  t.cluster().locked([&] { t.cluster().faults().nodes[victim_node] = {"Unknown"}; });
  t.run(2);
  Json node = t.get("nodes", "", victim_node);
  EXPECT_EQ(find_condition(node, "Ready")->value("status", ""), "Unknown");
  t.run(10);
  for (const auto& p : t.list("pods")) {
    if (string_at(p, "spec.nodeName") == victim_node) {
      EXPECT_FALSE(pod_is_ready(p)) << name_of(p);
    }
  }
  // tolerationSeconds (30s here) later the pods are evicted and replaced on
  // the healthy node; they stay Terminating because their kubelet is gone.
  t.run(1, Millis(31000));
  t.run(4);
  int on_healthy = 0;
  int terminating = 0;
  for (const auto& p : t.list("pods")) {
    if (string_at(p, "spec.nodeName") == victim_node) {
      terminating += pod_is_terminating(p) ? 1 : 0;
    } else if (pod_is_ready(p)) {
      ++on_healthy;
    }
  }
  EXPECT_EQ(on_healthy, 3);
  EXPECT_GE(terminating, 1);
  t.cluster().locked([&] { t.cluster().faults().nodes.clear(); });
  t.run(3);
  for (const auto& p : t.list("pods")) {
    EXPECT_FALSE(pod_is_terminating(p));
  }
}

TEST(HpaControllerTest, HighLoadSitsAtMaxReplicas) {
  TestCluster t;
  t.apply(testing::kWebDeployment);
  t.apply(R"(
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 6
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}]
)");
  t.run(3);
  EXPECT_EQ(t.get("deployments", "default", "web")["spec"]["replicas"], 3);
  t.cluster().locked([&] { t.cluster().faults().hpa_load["default/web"] = 400; });
  t.run(6);
  Json hpa = t.get("horizontalpodautoscalers", "default", "web");
  EXPECT_EQ(hpa["status"]["desiredReplicas"], 6);
  EXPECT_EQ(hpa["status"]["currentReplicas"], 6);
  EXPECT_EQ(find_condition(hpa, "ScalingLimited")->value("reason", ""), "TooManyReplicas");
  EXPECT_EQ(t.get("deployments", "default", "web")["spec"]["replicas"], 6);
  EXPECT_FALSE(t.events("SuccessfulRescale").empty());
  // Load drops: scale-down waits for the 300s stabilisation window.
  t.cluster().locked([&] { t.cluster().faults().hpa_load["default/web"] = 10; });
  t.run(3);
  EXPECT_EQ(t.get("deployments", "default", "web")["spec"]["replicas"], 6);
  t.run(1, Millis(301000));
  t.run(1);
  EXPECT_EQ(t.get("deployments", "default", "web")["spec"]["replicas"], 2);
}

TEST(DisruptionTest, EvictionHonoursPodDisruptionBudget) {
  TestCluster t;
  t.apply(testing::kWebDeployment);
  t.apply(R"(
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec: {minAvailable: 2, selector: {matchLabels: {app: web}}}
)");
  t.run(5);
  Json pdb = t.get("poddisruptionbudgets", "default", "web");
  EXPECT_EQ(pdb["status"]["currentHealthy"], 3);
  EXPECT_EQ(pdb["status"]["desiredHealthy"], 2);
  EXPECT_EQ(pdb["status"]["disruptionsAllowed"], 1);
  auto pods = t.list("pods");
  t.cluster().locked([&] {
    Json ok = evict_pod(t.cluster().api(), t.cluster().controllers(), "default", name_of(pods[0]), Json::object(), false);
    EXPECT_EQ(ok["code"], 201);
    try {
      evict_pod(t.cluster().api(), t.cluster().controllers(), "default", name_of(pods[1]), Json::object(), false);
      ADD_FAILURE() << "second eviction should be refused";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.code(), 429);
      EXPECT_EQ(e.reason(), "TooManyRequests");
      EXPECT_EQ(e.details()["causes"][0]["reason"], "DisruptionBudget");
    }
  });
}

TEST(PvcControllerTest, BindsAndExpandsOnlyWhenTheClassAllows) {
  TestCluster t;
  t.apply(R"(
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fixed}
provisioner: example.com/fixed
allowVolumeExpansion: false
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: grow}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: stuck}
spec: {storageClassName: fixed, accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
)");
  t.run(2);
  Json grow = t.get("persistentvolumeclaims", "default", "grow");
  EXPECT_EQ(grow["spec"]["storageClassName"], "standard");
  EXPECT_EQ(grow["status"]["phase"], "Bound");
  EXPECT_EQ(grow["status"]["capacity"]["storage"], "1Gi");
  auto resize = [&](const std::string& name) {
    t.cluster().locked([&] {
      t.cluster().api().patch(resource_by_plural("persistentvolumeclaims"), "default", name, PatchType::kMerge,
                              Json::parse(R"({"spec":{"resources":{"requests":{"storage":"5Gi"}}}})"), "");
    });
  };
  resize("grow");
  t.run(2);
  EXPECT_EQ(t.get("persistentvolumeclaims", "default", "grow")["status"]["capacity"]["storage"], "5Gi");
  try {
    resize("stuck");
    ADD_FAILURE() << "resize of a non-expandable class must be forbidden";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), 403);
  }
}

TEST(JobControllerTest, CompletesAfterConfiguredRunTime) {
  TestCluster t;
  t.apply(R"(
apiVersion: batch/v1
kind: Job
metadata: {name: once, annotations: {kube-sim.kubemend.io/run-ms: "1000"}}
spec:
  completions: 2
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox:1.36}]
)");
  t.run(5);
  Json job = t.get("jobs", "default", "once");
  EXPECT_EQ(job["status"]["active"], 2);
  EXPECT_EQ(find_condition(job, "Complete"), nullptr);
  t.run(15);
  job = t.get("jobs", "default", "once");
  EXPECT_EQ(job["status"]["succeeded"], 2);
  ASSERT_NE(find_condition(job, "Complete"), nullptr);
  EXPECT_EQ(find_condition(job, "Complete")->value("status", ""), "True");
  EXPECT_TRUE(job["status"].contains("completionTime"));
  for (const auto& p : t.list("pods")) {
    EXPECT_EQ(p["status"]["phase"], "Succeeded");
    EXPECT_EQ(p["metadata"]["labels"]["job-name"], "once");
  }
}

TEST(StatefulSetControllerTest, CreatesOrdinalPodsInOrderWithClaims) {
  TestCluster t;
  t.apply(R"(
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: postgres:16}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
)");
  t.run(1);
  EXPECT_EQ(t.list("pods").size(), 1u);
  t.run(10);
  auto pods = t.list("pods");
  ASSERT_EQ(pods.size(), 3u);
  EXPECT_EQ(name_of(pods[0]), "db-0");
  EXPECT_EQ(name_of(pods[2]), "db-2");
  EXPECT_EQ(t.list("persistentvolumeclaims").size(), 3u);
  EXPECT_EQ(t.get("statefulsets", "default", "db")["status"]["readyReplicas"], 3);
}

TEST(GarbageCollectorTest, DeletingDeploymentRemovesReplicaSetsAndPods) {
  TestCluster t;
  t.apply(testing::kWebDeployment);
  t.run(4);
  t.cluster().locked([&] {
    t.cluster().api().remove(resource_by_plural("deployments"), "default", "web", DeleteOptions{});
  });
  t.run(5);
  EXPECT_TRUE(t.list("replicasets").empty());
  EXPECT_TRUE(t.list("pods").empty());
}

TEST(TablesTest, PodColumnsMatchKubectl) {
  TestCluster t;
  t.apply(testing::kWebDeployment);
  t.run(4);
  auto pods = t.list("pods");
  Json table = make_table(pods_resource(), {&pods[0]}, t.clock().now(), IncludeObject::kMetadata, "1");
  std::vector<std::string> names;
  for (const auto& c : table["columnDefinitions"]) {
    if (c["priority"] == 0) {
      names.push_back(c["name"]);
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"Name", "Ready", "Status", "Restarts", "Age"}));
  EXPECT_EQ(table["rows"][0]["cells"][1], "1/1");
  EXPECT_EQ(table["rows"][0]["cells"][2], "Running");
  EXPECT_EQ(table["rows"][0]["cells"][3], "0");
  EXPECT_EQ(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

}  // namespace
}  // namespace kubesim
