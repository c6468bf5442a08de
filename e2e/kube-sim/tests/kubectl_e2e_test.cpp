// End-to-end: the real kubectl (1.32) against a running kube-sim over HTTPS
// with the bearer token and TLS verification on. One kube-sim process for
// the suite; every test starts from /sim/v1/reset and a fresh kubectl
// --cache-dir so discovery is never cached between tests.

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

struct CommandResult {
  int status = -1;
  std::string output;
};

CommandResult shell(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) {
    return r;
  }
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe)) {
    r.output += buf.data();
  }
  int raw = pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

std::string squash(const std::string& s) {
  return std::regex_replace(s, std::regex("[ \t]+"), " ");
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return condition();
}

class KubectlE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("kube-sim-e2e-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    fs::path ready = dir_ / "ready.json";
    pid_ = fork();
    if (pid_ == 0) {
      // Dies with the test binary, and keeps no pipe of the caller open.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      std::string log = (dir_ / "kube-sim.log").string();
      FILE* err = std::freopen(log.c_str(), "w", stderr);
      FILE* out = std::freopen("/dev/null", "w", stdout);
      (void)err;
      (void)out;
      execl(KUBE_SIM_BINARY, KUBE_SIM_BINARY, "--state-dir", (dir_ / "state").c_str(), "--ready-file",
            ready.c_str(), "--token", "e2e-token", "--tick-ms", "50", "--backoff-base-ms", "400",
            "--crash-after-ms", "300", "--node-monitor-grace-ms", "200", static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_TRUE(eventually([&] { return fs::exists(ready); })) << "kube-sim did not write its ready file";
    std::ifstream in(ready);
    ready_ = Json::parse(in);
  }

  static void TearDownTestSuite() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void SetUp() override {
    ASSERT_TRUE(ready_.contains("kubeconfig"));
    cache_ = dir_ / ("cache-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    Json reset = sim("POST", "/sim/v1/reset", "{}");
    ASSERT_EQ(reset.value("status", ""), "ok");
  }

  // kubectl against the HTTPS endpoint, TLS verified with the kubeconfig CA.
  CommandResult kubectl(const std::string& args, const std::string& kubeconfig = "") {
    std::string kc = kubeconfig.empty() ? ready_["kubeconfig"].get<std::string>() : kubeconfig;
    // The kubectl built with the real control plane when ./kubemend test started one, else PATH's.
    const char* bin = std::getenv("KUBEMEND_TEST_KUBECTL");
    if (bin == nullptr && std::getenv("KUBE_SIM_REQUIRE_TEST_KUBECTL") != nullptr) {
      return {-1, "KUBEMEND_TEST_KUBECTL is unset: run through ./kubemend test (it builds that kubectl)"};
    }
    return shell(std::string(bin != nullptr ? bin : "kubectl") + " --kubeconfig " + kc + " --cache-dir " +
                 cache_.string() + " " + args);
  }

  std::string kubectl_ok(const std::string& args) {
    CommandResult r = kubectl(args);
    EXPECT_EQ(r.status, 0) << "kubectl " << args << "\n" << r.output;
    return r.output;
  }

  Json sim(const std::string& method, const std::string& path, const std::string& body) {
    std::string url = ready_["http_url"];
    httplib::Client client(url);
    client.set_read_timeout(10, 0);
    auto res = method == "POST" ? client.Post(path, body, "application/json")
                                : client.Put(path, body, "application/json");
    if (!res) {
      return Json::object();
    }
    return Json::parse(res->body, nullptr, false);
  }

  void apply(const std::string& yaml) {
    fs::path file = dir_ / "manifest.yaml";
    std::ofstream(file) << yaml;
    kubectl_ok("apply -f " + file.string());
  }

  int count_pods(const std::string& selector, const std::string& status) {
    CommandResult r = kubectl("get pods --no-headers -l " + selector);
    int n = 0;
    std::istringstream lines(r.output);
    std::string line;
    while (std::getline(lines, line)) {
      if (squash(line).find(" " + status + " ") != std::string::npos) {
        ++n;
      }
    }
    return n;
  }

  void deploy_web(int replicas = 2) {
    apply(R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: )" + std::to_string(replicas) + R"(
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 128Mi}}
)");
    ASSERT_TRUE(eventually([&] { return count_pods("app=web", "Running") == replicas; }));
  }

  std::string jsonpath(const std::string& what, const std::string& path) {
    return kubectl_ok("get " + what + " -o jsonpath='" + path + "'");
  }

  static inline fs::path dir_;
  static inline pid_t pid_ = -1;
  static inline Json ready_;
  fs::path cache_;
};

TEST_F(KubectlE2eTest, GetShowsServerSideColumns) {
  deploy_web();
  apply(R"(apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 5
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
)");
  EXPECT_EQ(squash(first_line(kubectl_ok("get pods"))), "NAME READY STATUS RESTARTS AGE");
  EXPECT_EQ(squash(first_line(kubectl_ok("get deploy"))), "NAME READY UP-TO-DATE AVAILABLE AGE");
  EXPECT_EQ(squash(first_line(kubectl_ok("get nodes"))), "NAME STATUS ROLES AGE VERSION");
  EXPECT_EQ(squash(first_line(kubectl_ok("get hpa"))), "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE");
  EXPECT_EQ(squash(first_line(kubectl_ok("get pvc"))),
            "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE");
  EXPECT_NE(squash(kubectl_ok("get deploy web")).find("web 2/2 2 2"), std::string::npos);
  EXPECT_NE(squash(kubectl_ok("get nodes")).find("node-1 Ready <none>"), std::string::npos);
  EXPECT_NE(squash(kubectl_ok("get pods")).find("1/1 Running 0"), std::string::npos);
  EXPECT_TRUE(eventually([&] { return squash(kubectl_ok("get pvc data")).find("data Bound pvc-") != std::string::npos; }));
  EXPECT_NE(squash(kubectl_ok("get hpa web")).find("Deployment/web cpu: 70%/70% 2 5 2"), std::string::npos);
  EXPECT_NE(kubectl_ok("get pods -o wide").find("NOMINATED NODE"), std::string::npos);
}

// kubectl's typed creates send application/vnd.kubernetes.protobuf (client-go retries as JSON
// after a 415 only for CBOR), so kube-sim decodes them.
TEST_F(KubectlE2eTest, TypedCreatesSentAsProtobufWork) {
  kubectl_ok("create namespace shop");
  EXPECT_EQ(jsonpath("namespace shop", "{.status.phase}"), "Active");
  kubectl_ok("-n shop create deployment api --image=shop/api:v1 --replicas=2 --port=8080");
  EXPECT_EQ(jsonpath("-n shop deploy api", "{.spec.template.spec.containers[0].image}"), "shop/api:v1");
  EXPECT_EQ(jsonpath("-n shop deploy api", "{.spec.replicas}"), "2");
  EXPECT_EQ(jsonpath("-n shop deploy api", "{.spec.selector.matchLabels.app}"), "api");
  EXPECT_EQ(jsonpath("-n shop deploy api", "{.spec.template.spec.containers[0].ports[0].containerPort}"), "8080");
  EXPECT_TRUE(eventually([&] { return jsonpath("-n shop deploy api", "{.status.readyReplicas}") == "2"; }));
  kubectl_ok("-n shop create deployment zero --image=shop/zero:v1 --replicas=0");
  EXPECT_EQ(jsonpath("-n shop deploy zero", "{.spec.replicas}"), "0");
  // A typed create of a kind whose protobuf kube-sim does not decode: a clear 415, nothing stored.
  CommandResult job = kubectl("-n shop create job once --image=busybox");
  EXPECT_NE(job.status, 0);
  EXPECT_NE(job.output.find("protobuf"), std::string::npos) << job.output;
  EXPECT_NE(kubectl("-n shop get job once").status, 0);
}

TEST_F(KubectlE2eTest, ScaleDeploymentChangesPodCount) {
  deploy_web();
  kubectl_ok("scale deploy/web --replicas=3");
  EXPECT_TRUE(eventually([&] { return count_pods("app=web", "Running") == 3; }));
  EXPECT_EQ(jsonpath("deploy web", "{.status.readyReplicas}"), "3");
}

TEST_F(KubectlE2eTest, RolloutRestartCreatesNewReplicaSet) {
  deploy_web();
  kubectl_ok("rollout restart deploy/web");
  EXPECT_TRUE(eventually([&] {
    std::string sets = kubectl("get rs --no-headers").output;
    return std::count(sets.begin(), sets.end(), '\n') == 2;
  }));
  EXPECT_NE(jsonpath("deploy web", "{.spec.template.metadata.annotations}").find("kubectl.kubernetes.io/restartedAt"),
            std::string::npos);
  EXPECT_EQ(kubectl("rollout status deploy/web --timeout=15s").status, 0);
  EXPECT_EQ(jsonpath("deploy web", "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}"), "2");
}

TEST_F(KubectlE2eTest, RolloutUndoRestoresPreviousTemplate) {
  deploy_web();
  std::string first_rs = kubectl_ok("get rs -o jsonpath='{.items[0].metadata.name}'");
  kubectl_ok("set image deploy/web app=nginx:1.26");
  ASSERT_EQ(kubectl("rollout status deploy/web --timeout=15s").status, 0);
  EXPECT_EQ(jsonpath("deploy web", "{.spec.template.spec.containers[0].image}"), "nginx:1.26");
  // kubectl 1.32 sends a JSON patch replacing /spec/template.
  kubectl_ok("rollout undo deploy/web");
  EXPECT_EQ(jsonpath("deploy web", "{.spec.template.spec.containers[0].image}"), "nginx:1.25");
  ASSERT_EQ(kubectl("rollout status deploy/web --timeout=15s").status, 0);
  // The original ReplicaSet is reused and becomes revision 3.
  EXPECT_EQ(jsonpath("rs " + first_rs, "{.spec.replicas}"), "2");
  EXPECT_EQ(jsonpath("rs " + first_rs, "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}"), "3");
}

TEST_F(KubectlE2eTest, CordonMarksNodeUnschedulable) {
  kubectl_ok("cordon node-1");
  EXPECT_NE(squash(kubectl_ok("get node node-1")).find("node-1 Ready,SchedulingDisabled"), std::string::npos);
  EXPECT_EQ(jsonpath("node node-1", "{.spec.unschedulable}"), "true");
  deploy_web(4);
  EXPECT_EQ(kubectl_ok("get pods -o jsonpath='{.items[*].spec.nodeName}'").find("node-1"), std::string::npos);
  kubectl_ok("uncordon node-1");
  EXPECT_EQ(jsonpath("node node-1", "{.spec.unschedulable}"), "");
}

TEST_F(KubectlE2eTest, DeletedPodIsReplacedByReplicaSet) {
  deploy_web();
  std::string victim = kubectl_ok("get pods -o jsonpath='{.items[0].metadata.name}'");
  EXPECT_NE(kubectl_ok("delete pod " + victim).find("deleted"), std::string::npos);
  EXPECT_TRUE(eventually([&] {
    return count_pods("app=web", "Running") == 2 && kubectl("get pods").output.find(victim) == std::string::npos;
  }));
}

TEST_F(KubectlE2eTest, PatchMergeStrategicAndJson) {
  deploy_web();
  kubectl_ok(R"(patch deploy web --type=merge -p '{"metadata":{"labels":{"team":"sre"}}}')");
  kubectl_ok(R"(patch deploy web -p '{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"MODE","value":"x"}]}]}}}}')");
  kubectl_ok(R"(patch deploy web --type=json -p '[{"op":"replace","path":"/spec/replicas","value":1}]')");
  EXPECT_EQ(jsonpath("deploy web", "{.metadata.labels.team}"), "sre");
  // Strategic merge kept the container's image and added env by name.
  EXPECT_EQ(jsonpath("deploy web", "{.spec.template.spec.containers[0].image}"), "nginx:1.25");
  EXPECT_EQ(jsonpath("deploy web", "{.spec.template.spec.containers[0].env[0].name}"), "MODE");
  EXPECT_EQ(jsonpath("deploy web", "{.spec.replicas}"), "1");
  CommandResult failed = kubectl(R"(patch deploy web --type=json -p '[{"op":"test","path":"/spec/replicas","value":9}]')");
  EXPECT_NE(failed.status, 0);
}

TEST_F(KubectlE2eTest, RawMetricsServeKubeStateMetricsSeries) {
  deploy_web();
  std::string metrics = kubectl_ok("get --raw /metrics");
  for (const char* s : {"kube_pod_status_phase{", "kube_deployment_spec_replicas{namespace=\"default\",deployment=\"web\"} 2",
                        "kube_node_status_condition{", "container_memory_working_set_bytes{", "node_total_hourly_cost{"}) {
    EXPECT_NE(metrics.find(s), std::string::npos) << s;
  }
}

TEST_F(KubectlE2eTest, HttpsRejectsWrongTokenAndUnknownCa) {
  std::string good = ready_["kubeconfig"];
  std::ifstream in(good);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string wrong_token = std::regex_replace(ss.str(), std::regex("token: .*"), "token: not-the-token");
  fs::path bad = dir_ / "bad-token.kubeconfig";
  std::ofstream(bad) << wrong_token;
  CommandResult r = kubectl("get pods", bad.string());
  EXPECT_NE(r.status, 0);
  // kubectl's wording for a 401.
  EXPECT_NE(r.output.find("You must be logged in to the server"), std::string::npos) << r.output;
  std::string no_ca = std::regex_replace(ss.str(), std::regex("    certificate-authority-data: .*\n"), "");
  fs::path untrusted = dir_ / "no-ca.kubeconfig";
  std::ofstream(untrusted) << no_ca;
  r = kubectl("get pods", untrusted.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("certificate"), std::string::npos) << r.output;
}

TEST_F(KubectlE2eTest, OomKillCrashLoopsUntilLimitIsRaised) {
  deploy_web();
  sim("POST", "/sim/v1/faults/memory", R"({"namespace":"default","workload":"deployment/web","bytes":"200Mi"})");
  EXPECT_TRUE(eventually([&] { return count_pods("app=web", "CrashLoopBackOff") >= 1; }));
  EXPECT_NE(kubectl_ok("get pods -o jsonpath='{.items[*].status.containerStatuses[0].lastState.terminated.reason}'")
                .find("OOMKilled"),
            std::string::npos);
  EXPECT_NE(kubectl_ok("get events --field-selector reason=OOMKilling").find("Memory cgroup out of memory"),
            std::string::npos);
  kubectl_ok(R"(patch deploy web -p '{"spec":{"template":{"spec":{"containers":[{"name":"app","resources":{"limits":{"memory":"512Mi"}}}]}}}}')");
  EXPECT_TRUE(eventually(
      [&] {
        std::string out = squash(kubectl("get pods --no-headers -l app=web").output);
        return count_pods("app=web", "Running") == 2 && out.find("CrashLoopBackOff") == std::string::npos &&
               out.find("OOMKilled") == std::string::npos && out.find("Terminating") == std::string::npos;
      },
      std::chrono::seconds(20)));
  // The rollout's last old pod may still be listed for a moment after the new
  // ones are Running (seen once as "2 0 0"): wait for exactly the two new ones.
  std::string restarts;
  EXPECT_TRUE(eventually(
      [&] {
        restarts = kubectl_ok("get pods -o jsonpath='{.items[*].status.containerStatuses[0].restartCount}'");
        return restarts == "0 0";
      },
      std::chrono::seconds(20)))
      << restarts;
}

TEST_F(KubectlE2eTest, BadImageCrashLoops) {
  deploy_web();
  sim("POST", "/sim/v1/faults/image", R"({"image":"nginx:broken"})");
  kubectl_ok("run broken --image=nginx:broken");
  EXPECT_TRUE(eventually([&] {
    return squash(kubectl("get pod broken --no-headers").output).find("CrashLoopBackOff") != std::string::npos;
  }));
  EXPECT_EQ(jsonpath("pod broken", "{.status.containerStatuses[0].lastState.terminated.reason}"), "Error");
  EXPECT_EQ(jsonpath("pod broken", "{.status.containerStatuses[0].lastState.terminated.exitCode}"), "1");
  EXPECT_EQ(count_pods("app=web", "Running"), 2);
}

TEST_F(KubectlE2eTest, NodeNotReadyShowsInKubectlAndMetrics) {
  deploy_web();
  sim("POST", "/sim/v1/faults/node", R"({"node":"node-2","ready":false})");
  EXPECT_TRUE(eventually([&] { return squash(kubectl("get node node-2").output).find("node-2 NotReady") != std::string::npos; }));
  EXPECT_NE(kubectl_ok("get --raw /metrics").find(
                "kube_node_status_condition{node=\"node-2\",condition=\"Ready\",status=\"unknown\"} 1"),
            std::string::npos);
  sim("POST", "/sim/v1/faults/node", R"({"node":"node-2","ready":true})");
  EXPECT_TRUE(eventually([&] { return squash(kubectl("get node node-2").output).find("node-2 Ready") != std::string::npos; }));
}

TEST_F(KubectlE2eTest, HpaSitsAtMaxUnderLoad) {
  deploy_web();
  apply(R"(apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 4
)");
  sim("POST", "/sim/v1/faults/hpa", R"({"namespace":"default","name":"web","utilization":250})");
  EXPECT_TRUE(eventually([&] { return squash(kubectl("get hpa web --no-headers").output).find("cpu: 250%/80% 2 4 4") != std::string::npos; }));
  EXPECT_TRUE(eventually([&] { return count_pods("app=web", "Running") == 4; }));
  std::string metrics = kubectl_ok("get --raw /metrics");
  EXPECT_NE(metrics.find("kube_horizontalpodautoscaler_status_current_replicas{namespace=\"default\",horizontalpodautoscaler=\"web\"} 4"),
            std::string::npos);
  EXPECT_NE(metrics.find("kube_horizontalpodautoscaler_spec_max_replicas{namespace=\"default\",horizontalpodautoscaler=\"web\"} 4"),
            std::string::npos);
}

TEST_F(KubectlE2eTest, WatchResumesAndTooOldVersionIsGone) {
  deploy_web();
  std::string rv =
      Json::parse(kubectl_ok("get --raw /api/v1/namespaces/default/pods"))["metadata"]["resourceVersion"];
  kubectl_ok("label pod -l app=web probe=1");
  std::string resumed = kubectl_ok("get --raw '/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1&resourceVersion=" + rv + "'");
  EXPECT_NE(resumed.find("\"type\":\"MODIFIED\""), std::string::npos);
  EXPECT_NE(resumed.find("\"probe\":\"1\""), std::string::npos);
  EXPECT_EQ(resumed.find("\"type\":\"ADDED\""), std::string::npos);
  sim("POST", "/sim/v1/watch/compact", "{}");
  std::string gone = kubectl_ok("get --raw '/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1&resourceVersion=" + rv + "'");
  EXPECT_NE(gone.find("\"type\":\"ERROR\""), std::string::npos);
  EXPECT_NE(gone.find("\"code\":410"), std::string::npos);
  // kubectl's own watch (list, then watch from the list's version) works.
  CommandResult w = kubectl("get pods -w --request-timeout=2s");
  EXPECT_NE(w.output.find("Running"), std::string::npos) << w.output;
}

}  // namespace
