// The executor healing a simulated cluster through the whole pipeline:
// kube-sim (started here, port 0, ready file) stands in for the cluster,
// ./kubemend up --kubeconfig <sim> runs the five services, faults come in
// through /sim/v1, alerts through the collector's webhook (or decisions
// straight onto <prefix>decisions for actions the analyzer has no route
// for), and the trail in PostgreSQL says what happened.
//
// One scenario list, two clusters: with KUBEMEND_E2E_CLUSTER=real the same
// scenarios run on the real control plane `./kubemend test` started
// (e2e/cluster: kube-apiserver, controllers, scheduler, kubemend-kubelet),
// in a namespace of their own, faults through kubemend-kubelet's fault API
// (kube-sim's /sim/v1/faults bodies), and the services authenticated with
// tokens minted for deploy/k8s's ServiceAccounts, not the admin identity.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <optional>
#include <thread>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/kafka.h"
#include "sim_cluster.h"
#include "stack.h"

namespace kubemend::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr const char* kSeed = R"(
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: oom, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: oom}}
  template:
    metadata: {labels: {app: oom}}
    spec:
      containers:
      - name: app
        image: shop/oom:v1
        resources: {limits: {memory: 256Mi}, requests: {memory: 128Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: app
        image: shop/api:v1
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: busy, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: busy}}
  template:
    metadata: {labels: {app: busy}}
    spec:
      containers:
      - name: app
        image: shop/busy:v1
        resources: {requests: {cpu: 100m}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: busy, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: busy}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: twice, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: twice}}
  template:
    metadata: {labels: {app: twice}}
    spec:
      containers:
      - name: app
        image: shop/twice:v1
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: twin, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: twin}}
  template:
    metadata: {labels: {app: twin}}
    spec:
      containers:
      - name: proxy
        image: shop/proxy:v1
        resources: {limits: {memory: 128Mi}, requests: {memory: 64Mi}}
      - name: worker
        image: shop/worker:v1
        resources: {limits: {memory: 256Mi}, requests: {memory: 128Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: hungry, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: hungry}}
  template:
    metadata: {labels: {app: hungry}}
    spec:
      containers:
      - name: app
        image: shop/hungry:v1
        resources: {limits: {memory: 256Mi}}
)";

// The seed with namespace "shop" renamed (the real cluster is shared by the tests of a run).
std::string Seed(const std::string& ns) {
  std::string out = kSeed;
  for (size_t at = 0; (at = out.find("shop}", at)) != std::string::npos; at += ns.size()) {
    out.replace(at, 4, ns);
  }
  return out;
}

class ExecutorE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::filesystem::temp_directory_path() / ("kubemend-executor-e2e-" + NewUuid().substr(0, 8)));
    sim_ = new Sim();
    sim_->ns_ = RealCluster() ? "shop-" + NewUuid().substr(0, 8) : "shop";
    setup_error_ = new std::string(sim_->Start(*dir_, Seed(sim_->ns_)));
    if (!setup_error_->empty()) {
      return;
    }
    std::string kube_args = "--kubeconfig " + sim_->kubeconfig();
    if (RealCluster()) {
      // Each service with its own ServiceAccount's token; safety-gate and audit never call the API.
      std::string collector = Sim::TokenKubeconfig(*dir_, "collector");
      std::string executor = Sim::TokenKubeconfig(*dir_, "executor");
      std::string analyzer = Sim::TokenKubeconfig(*dir_, "analyzer");
      if (collector.empty() || executor.empty() || analyzer.empty()) {
        *setup_error_ = "could not mint ServiceAccount tokens (kubectl create token)";
        return;
      }
      kube_args = "--kubeconfig " + collector + " --service-kubeconfig executor=" + executor +
                  " --service-kubeconfig analyzer=" + analyzer;
    }
    // Short verification so the scenarios fit in a test's budget.
    setenv("KUBEMEND_EXECUTOR_VERIFY_STABLE_FOR", "2s", 1);
    setenv("KUBEMEND_EXECUTOR_VERIFY_TIMEOUT", "30s", 1);
    setenv("KUBEMEND_EXECUTOR_VERIFY_POLL_INTERVAL", "200ms", 1);
    stack_ = new Stack();
    *setup_error_ = stack_->Up(kube_args);
  }
  static void TearDownTestSuite() {
    delete stack_;
    stack_ = nullptr;
    if (RealCluster() && sim_ != nullptr) {
      (void)RunShell(Sim::Kubectl() + " delete namespace " + sim_->ns_ + " --wait=false >/dev/null 2>&1");
    }
    delete sim_;
    sim_ = nullptr;
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
  }
  const std::string& ns() const { return sim_->ns_; }
  void SetUp() override { ASSERT_EQ(*setup_error_, "") << *setup_error_; }

  // Rows of one type for one target name, oldest first: status, payload.
  std::vector<std::pair<std::string, json>> Outcomes(const std::string& target_name) {
    pqxx::connection c(stack_->dsn());
    pqxx::work w(c);
    auto rows = w.exec_params(
        "SELECT outcome_status, payload_json::text FROM audit_events WHERE event_type = 'outcome' "
        "AND target_name = $1 ORDER BY seq",
        target_name);
    std::vector<std::pair<std::string, json>> out;
    for (const auto& r : rows) {
      out.emplace_back(r[0].as<std::string>(), json::parse(r[1].as<std::string>()));
    }
    return out;
  }
  bool WaitOutcome(const std::string& target_name, const std::string& status, seconds deadline = seconds(60)) {
    return Eventually(
        [&] {
          for (const auto& [s, p] : Outcomes(target_name)) {
            if (s == status) {
              return true;
            }
          }
          return false;
        },
        deadline);
  }
  std::string Trail(const std::string& target_name) {
    std::string s;
    for (const auto& [st, p] : Outcomes(target_name)) {
      s += st + ": " + p.dump() + "\n";
    }
    return s;
  }
  // A decision as the safety gate would publish it, straight onto the topic.
  v1::Event Decision(const std::string& kind, const std::string& name, v1::ActionType type) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_DECISION, {"safety-gate", "e2e", "0"}, SystemClock::Instance());
    e.set_incident_id(NewUuid());
    e.mutable_target()->set_namespace_(kind == "Node" ? "" : ns());
    e.mutable_target()->set_kind(kind);
    e.mutable_target()->set_name(name);
    v1::SafetyDecision* d = e.mutable_decision();
    d->set_verdict(v1::VERDICT_APPROVED);
    d->set_proposal_id(NewUuid());
    d->set_action_id(NewUuid());
    d->set_rule("all-rules-passed");
    d->set_approver("safety-gate");
    d->mutable_proposal()->set_mode(v1::MODE_AUTOMATIC);
    d->mutable_proposal()->mutable_action()->set_type(type);
    return e;
  }
  void Publish(const v1::Event& e) {
    KafkaConfig kc;
    kc.brokers = stack_->brokers();
    kc.topic_prefix = stack_->topic_prefix();
    auto p = Producer::Create(kc, "executor-e2e", nullptr);
    ASSERT_TRUE(p.ok()) << p.status();
    auto t = std::make_shared<DeliveryTracker>();
    ASSERT_TRUE((*p)->Produce(TopicName(kc, Topic::kDecisions), TargetKey(e.target()), e.SerializeAsString(), t).ok());
    ASSERT_TRUE(t->Wait(std::chrono::seconds(10)).ok());
  }

  static std::string* dir_;
  static std::string* setup_error_;
  static Sim* sim_;
  static Stack* stack_;
};

std::string* ExecutorE2ETest::dir_ = nullptr;
std::string* ExecutorE2ETest::setup_error_ = nullptr;
Sim* ExecutorE2ETest::sim_ = nullptr;
Stack* ExecutorE2ETest::stack_ = nullptr;

TEST_F(ExecutorE2ETest, OomKilledDeploymentGetsMoreMemoryAndStopsDying) {
  ASSERT_EQ(sim_->Post("/sim/v1/faults/memory", {{"namespace", ns()}, {"workload", "deployment/oom"}, {"bytes", "300Mi"}}),
            200);
  std::string pod;
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& p : sim_->Pods("oom")) {
          if (Restarts(p) > 0) {
            pod = p["metadata"]["name"];
            return true;
          }
        }
        return false;
      },
      seconds(20)))
      << "the fault never OOM-killed a pod";
  auto [code, body] = Post(stack_->CollectorUrl(), "/api/v1/alerts",
                           AlertBody("KubePodOOMKilled",
                                     {{"namespace", ns()}, {"pod", pod}, {"deployment", "oom"}, {"container", "app"}},
                                     "fp-oom"));
  ASSERT_EQ(code, 200) << body;
  ASSERT_TRUE(WaitOutcome("oom", "succeeded")) << Trail("oom");
  json d = sim_->Deployment("oom");
  const json& res = d["spec"]["template"]["spec"]["containers"][0]["resources"];
  EXPECT_EQ(res["limits"]["memory"], "384Mi");   // 256Mi +50%, multiple of 64Mi
  EXPECT_EQ(res["requests"]["memory"], "192Mi");  // ratio kept
  auto outs = Outcomes("oom");
  json changes = outs.back().second["outcome"]["changes"];
  ASSERT_FALSE(changes.empty()) << outs.back().second.dump();
  EXPECT_EQ(changes[0]["before"], "256Mi");
  EXPECT_EQ(changes[0]["after"], "384Mi");
  // The pods stop dying: no restart over a few crash periods.
  std::map<std::string, int64_t> before;
  for (const auto& p : sim_->Pods("oom")) {
    before[p["metadata"]["name"]] = Restarts(p);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (const auto& p : sim_->Pods("oom")) {
    auto it = before.find(p["metadata"]["name"]);
    ASSERT_NE(it, before.end()) << "a pod was replaced: " << p["metadata"]["name"];
    EXPECT_EQ(Restarts(p), it->second) << p["metadata"]["name"] << " still restarts";
  }
}

// Two containers, the second one OOM-killed; the alert names only the pod
// (no container label): the collector's facts say which container died,
// the proposal names it, and the executor raises only that container's limit.
TEST_F(ExecutorE2ETest, TwoContainerPodGetsMemoryOnlyForTheContainerThatWasKilled) {
  ASSERT_EQ(sim_->Post("/sim/v1/faults/memory", {{"namespace", ns()}, {"workload", "deployment/twin"},
                                                 {"container", "worker"}, {"bytes", "300Mi"}}),
            200);
  std::string pod;
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& p : sim_->Pods("twin")) {
          if (Restarts(p) > 0) {
            pod = p["metadata"]["name"];
            return true;
          }
        }
        return false;
      },
      seconds(20)))
      << "the fault never OOM-killed the worker";
  auto [code, body] = Post(stack_->CollectorUrl(), "/api/v1/alerts",
                           AlertBody("KubePodOOMKilled", {{"namespace", ns()}, {"pod", pod}}, "fp-twin"));
  ASSERT_EQ(code, 200) << body;
  ASSERT_TRUE(WaitOutcome("twin", "succeeded")) << Trail("twin");
  json d = sim_->Deployment("twin");
  const json& cs = d["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0]["name"], "proxy");
  EXPECT_EQ(cs[0]["resources"]["limits"]["memory"], "128Mi") << "the sidecar was not the one killed";
  EXPECT_EQ(cs[0]["resources"]["requests"]["memory"], "64Mi");
  EXPECT_EQ(cs[1]["name"], "worker");
  EXPECT_EQ(cs[1]["resources"]["limits"]["memory"], "384Mi");  // 256Mi +50%
  auto outs = Outcomes("twin");
  json changes = outs.back().second["outcome"]["changes"];
  ASSERT_FALSE(changes.empty()) << outs.back().second.dump();
  EXPECT_NE(changes[0]["path"].get<std::string>().find("containers[worker]"), std::string::npos)
      << changes.dump();
}

TEST_F(ExecutorE2ETest, BadImageRolloutIsRolledBackToReadyPods) {
  ASSERT_TRUE(Eventually([&] { return sim_->Deployment("api")["status"].value("readyReplicas", 0) == 2; }, seconds(20)));
  ASSERT_EQ(sim_->Post("/sim/v1/faults/image", {{"image", "shop/api:v2"}, {"mode", "crash"}}), 200);
  ASSERT_EQ(sim_->MergePatch("/apis/apps/v1/namespaces/" + ns() + "/deployments/api",
                             {{"spec", {{"template", {{"spec", {{"containers", json::array({{{"name", "app"}, {"image", "shop/api:v2"}}})}}}}}}}}),
            200);
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& p : sim_->Pods("api")) {
          if (Restarts(p) > 0) {
            return true;
          }
        }
        return false;
      },
      seconds(20)))
      << "the bad image never crashed";
  v1::Event d = Decision("Deployment", "api", v1::ACTION_TYPE_ROLLBACK_IMAGE);
  d.mutable_decision()->mutable_proposal()->mutable_action()->mutable_rollback_image();
  Publish(d);
  ASSERT_TRUE(WaitOutcome("api", "succeeded")) << Trail("api");
  json dep = sim_->Deployment("api");
  EXPECT_EQ(dep["spec"]["template"]["spec"]["containers"][0]["image"], "shop/api:v1");
  EXPECT_TRUE(Eventually([&] { return sim_->Deployment("api")["status"].value("readyReplicas", 0) == 2; }, seconds(20)));
  EXPECT_EQ(sim_->Deployment("api")["metadata"]["annotations"].value("kubemend.io/last-stable-image.app", ""),
            "shop/api:v1");
}

TEST_F(ExecutorE2ETest, MaxedOutHpaGetsAHigherMaximum) {
  ASSERT_EQ(sim_->Post("/sim/v1/faults/hpa", {{"namespace", ns()}, {"name", "busy"}, {"utilization", 400}}), 200);
  ASSERT_TRUE(Eventually(
      [&] {
        json h = sim_->Get("/apis/autoscaling/v2/namespaces/" + ns() + "/horizontalpodautoscalers/busy");
        return h.is_object() && h["status"].value("desiredReplicas", 0) == 3;
      },
      seconds(20)));
  auto [code, body] = Post(stack_->CollectorUrl(), "/api/v1/alerts",
                           AlertBody("KubeHpaMaxedOut", {{"namespace", ns()}, {"horizontalpodautoscaler", "busy"}},
                                     "fp-hpa"));
  ASSERT_EQ(code, 200) << body;
  // Load stays above the new maximum too, so verification may say not fixed;
  // either way the change is in the trail and in the cluster.
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& [s, p] : Outcomes("busy")) {
          if (s == "succeeded" || s == "not_fixed") {
            return true;
          }
        }
        return false;
      },
      seconds(60)))
      << Trail("busy");
  json h = sim_->Get("/apis/autoscaling/v2/namespaces/" + ns() + "/horizontalpodautoscalers/busy");
  EXPECT_EQ(h["spec"]["maxReplicas"], 5);  // 3 + ceil(50%) = 5
  EXPECT_EQ(h["metadata"]["annotations"].value("kubemend.io/last-action-id", "").empty(), false);
}

TEST_F(ExecutorE2ETest, NotReadyNodeIsCordoned) {
  json nodes = sim_->Get("/api/v1/nodes");
  ASSERT_TRUE(nodes.is_object() && !nodes["items"].empty());
  std::string node = nodes["items"].back()["metadata"]["name"];
  ASSERT_EQ(sim_->Post("/sim/v1/faults/node", {{"node", node}, {"ready", false}}), 200);
  struct Heal {
    const Sim* sim;
    std::string node;
    ~Heal() {
      sim->Post("/sim/v1/faults/node", {{"node", node}, {"ready", true}});
      sim->MergePatch("/api/v1/nodes/" + node, {{"spec", {{"unschedulable", nullptr}}}});
    }
  } heal{sim_, node};
  ASSERT_TRUE(Eventually(
      [&] {
        json n = sim_->Get("/api/v1/nodes/" + node);
        for (const auto& c : n["status"]["conditions"]) {
          if (c["type"] == "Ready") {
            return c["status"] != "True";
          }
        }
        return false;
      },
      seconds(20)));
  Publish(Decision("Node", node, v1::ACTION_TYPE_CORDON_NODE));
  ASSERT_TRUE(WaitOutcome(node, "succeeded")) << Trail(node);
  EXPECT_EQ(sim_->Get("/api/v1/nodes/" + node)["spec"].value("unschedulable", false), true);
}

TEST_F(ExecutorE2ETest, RedeliveredApprovedActionIsNotAppliedTwice) {
  v1::Event d = Decision("Deployment", "twice", v1::ACTION_TYPE_SCALE_WORKLOAD);
  auto* s = d.mutable_decision()->mutable_proposal()->mutable_action()->mutable_scale_workload();
  s->set_delta(1);
  s->set_max_replicas(10);
  Publish(d);
  ASSERT_TRUE(WaitOutcome("twice", "succeeded")) << Trail("twice");
  Publish(d);  // the same decision event again, as a redelivery would bring it
  ASSERT_TRUE(WaitOutcome("twice", "duplicate")) << Trail("twice");
  EXPECT_EQ(sim_->Deployment("twice")["spec"]["replicas"], 3);
  int applied = 0;
  for (const auto& [st, p] : Outcomes("twice")) {
    applied += st == "succeeded" ? 1 : 0;
  }
  EXPECT_EQ(applied, 1) << Trail("twice");
}

TEST_F(ExecutorE2ETest, FailedVerificationTriggersTheRollback) {
  ASSERT_EQ(sim_->Post("/sim/v1/faults/memory", {{"namespace", ns()}, {"workload", "deployment/hungry"}, {"bytes", "2Gi"}}),
            200);
  v1::Event d = Decision("Deployment", "hungry", v1::ACTION_TYPE_INCREASE_MEMORY);
  auto* a = d.mutable_decision()->mutable_proposal()->mutable_action();
  a->mutable_increase_memory()->set_percent(50);
  a->mutable_increase_memory()->set_max_limit("1Gi");
  a->set_verify(true);
  a->set_verify_timeout_seconds(6);
  a->set_rollback_on_failed_verification(true);
  Publish(d);
  ASSERT_TRUE(WaitOutcome("hungry", "rolled_back")) << Trail("hungry");
  auto outs = Outcomes("hungry");
  bool not_fixed = false;
  for (const auto& [st, p] : outs) {
    not_fixed = not_fixed || st == "not_fixed";
  }
  EXPECT_TRUE(not_fixed) << Trail("hungry");
  EXPECT_EQ(outs.back().second["outcome"]["rolls_back_action_id"], d.decision().action_id()) << Trail("hungry");
  json dep = sim_->Deployment("hungry");
  EXPECT_EQ(dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"], "256Mi");
}

// Least privilege held: no service was refused anything by the API server's authorizer while
// the scenarios above ran (on the real cluster each used its own ServiceAccount's token).
TEST_F(ExecutorE2ETest, NoServiceWasForbiddenAnything) {
  for (const std::string svc : {"collector", "analyzer", "executor"}) {
    std::ifstream in(stack_->run_dir() + "/logs/" + svc + ".log");
    std::string line;
    while (std::getline(in, line)) {
      EXPECT_EQ(line.find("forbidden"), std::string::npos) << svc << ": " << line;
      EXPECT_EQ(line.find("Forbidden"), std::string::npos) << svc << ": " << line;
      EXPECT_EQ(line.find("nauthorized"), std::string::npos) << svc << ": " << line;
    }
  }
}

}  // namespace
}  // namespace kubemend::e2e
