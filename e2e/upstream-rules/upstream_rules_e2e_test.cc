// Healing from the alerts people really have (issue 13, "Done when"), with nothing of ours
// between the cluster and the alert:
//
//   real control plane (./kubemend test starts it: e2e/cluster)
//     -> kube-state-metrics v2.20.0 (built from the Go module proxy, scripts/build-ksm.sh)
//     -> Prometheus (Debian) evaluating kube-prometheus' kubernetes-mixin rules, byte-identical
//        upstream files with only `for:` shortened (derive_rules.py, checked by upstream_rules_check)
//     -> Alertmanager (Debian), kube-prometheus' grouping (by namespace), bearer token
//     -> kubemend's collector webhook, with the collector's own Kubernetes watches (pods, nodes,
//        events: its signal sources) turned OFF, so the alerts alone drive it
//     -> analyzer (default policies + node-not-ready-policy.yaml) -> safety gate -> executor,
//        each service with its own ServiceAccount token.
//
// Two phases. First the node: KubeNodeNotReady, whose series carries the exporter's namespace/pod
// (the scrape target's labels: the common relabelling slip), targets the Node, which gets cordoned;
// at the same time an HPA at its maximum (KubeHpaMaxedOut) gets a higher maximum, and a nearly
// full volume (KubePersistentVolumeFillingUp, from the kubelet's volume stats) is expanded.
// Then three workload scenarios at once, each in its own namespace (Alertmanager groups by it):
//   1. an OOM-killed Deployment gets more memory and stays healthy; no RestartPod is proposed;
//   2. a bad image rollout is rolled back;
//   3. five crash-looping pods of one Deployment are one incident and one action, which fixes it.
// The node goes first because the executor runs a batch of decisions to the end (verifications
// included) before it takes the next: an action that cannot fix its target holds the next batch
// for its whole verifyTimeout, and the node scenario must not depend on the others' remedies.
// Each prints the time from its first alert (the alert's startsAt, from Prometheus) to the
// verified fix (the executor's verified outcome); `ctest -V` shows them.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <thread>
#include <tuple>

#include "kubemend/common/ids.h"
#include "monitoring.h"
#include "real_cluster.h"
#include "scenarios.h"
#include "stack.h"

namespace kubemend::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// Everything in a phase must have happened this long after its faults; the scenarios of a phase
// run side by side, so the suite's wall time stays near the sum of these on failure too.
constexpr seconds kNodeBudget{45};
constexpr seconds kWorkloadBudget{75};
constexpr seconds kHpaBudget{40};
constexpr seconds kPvcBudget{40};
constexpr const char* kExporterPod = "kube-state-metrics-6d4c7b9f5-x7k2p";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

void ReplaceAll(std::string* s, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = s->find(from, at)) != std::string::npos; at += to.size()) {
    s->replace(at, from.size(), to);
  }
}

// Runs a shell command; its stdout, or nullopt when it failed (e2e_support's RunShell).
std::optional<std::string> Shell(const std::string& cmd) { return RunShell(cmd); }

std::string Kubectl() { return Env("KUBEMEND_TEST_KUBECTL") + " --kubeconfig " + Env("KUBEMEND_TEST_KUBECONFIG"); }

json KubeGet(const std::string& what) {
  auto out = Shell(Kubectl() + " get " + what + " -o json 2>/dev/null");
  return out ? json::parse(*out, nullptr, false) : json(nullptr);
}

int FaultPost(const std::string& path, const json& body) {
  std::string cmd = "curl -s -o /dev/null -w '%{http_code}' -X POST " + Env("KUBEMEND_TEST_K8S_FAULTS_URL") + path +
                    " -d '" + body.dump() + "'";
  auto out = Shell(cmd);
  return out ? std::atoi(out->c_str()) : 0;
}

// A kubeconfig for ServiceAccount kubemend/kubemend-SA with a freshly minted token (TokenRequest).
std::string TokenKubeconfig(const std::string& dir, const std::string& sa) {
  auto token = Shell(Kubectl() + " -n kubemend create token kubemend-" + sa + " --duration 1h");
  auto server = Shell(Kubectl() + " config view --minify -o jsonpath='{.clusters[0].cluster.server}'");
  auto ca = Shell(Kubectl() + " config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}'");
  if (!token || !server || !ca || token->empty()) {
    return "";
  }
  std::string t = token->substr(0, token->find_last_not_of(" \n") + 1);
  std::string path = dir + "/kubeconfig." + sa;
  std::ofstream(path) << "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"" << *server
                      << "\", certificate-authority: \"" << *ca << "\"}\nusers:\n- name: " << sa
                      << "\n  user: {token: \"" << t << "\"}\ncontexts:\n- name: c\n  context: {cluster: c, user: " << sa
                      << "}\ncurrent-context: c\n";
  return path;
}

// Memory in MiB from a Kubernetes quantity such as 256Mi, 1Gi or 402653184 (0 when unreadable).
double MiB(const std::string& q) {
  char* end = nullptr;
  double v = std::strtod(q.c_str(), &end);
  std::string unit = end ? end : "";
  static const std::map<std::string, double> kUnits = {{"", 1.0 / 1048576}, {"Ki", 1.0 / 1024}, {"Mi", 1},
                                                       {"Gi", 1024},        {"k", 1e3 / 1048576}, {"M", 1e6 / 1048576},
                                                       {"G", 1e9 / 1048576}};
  auto it = kUnits.find(unit);
  return it == kUnits.end() ? 0 : v * it->second;
}

// The pods of a Deployment by app label: name -> (restarts, waiting reason or "").
std::map<std::string, std::pair<int64_t, std::string>> PodStates(const std::string& ns, const std::string& app) {
  std::map<std::string, std::pair<int64_t, std::string>> out;
  json l = KubeGet("pods -n " + ns + " -l app=" + app);
  if (!l.is_object()) {
    return out;
  }
  for (const auto& p : l["items"]) {
    if (p["metadata"].contains("deletionTimestamp")) {
      continue;
    }
    int64_t restarts = 0;
    std::string waiting;
    for (const auto& c : p["status"].value("containerStatuses", json::array())) {
      restarts += c.value("restartCount", int64_t{0});
      if (c.contains("state") && c["state"].contains("waiting")) {
        waiting = c["state"]["waiting"].value("reason", "waiting");
      }
    }
    out[p["metadata"]["name"]] = {restarts, waiting};
  }
  return out;
}

// One line per pod, for failure messages: name, image, restarts, state.
std::string PodsSummary(const std::string& ns) {
  json l = KubeGet("pods -n " + ns);
  std::string out;
  for (const auto& p : l.is_object() ? l["items"] : json::array()) {
    out += "  pod " + p["metadata"].value("name", "") + " node=" + p["spec"].value("nodeName", "");
    for (const auto& c : p["status"].value("containerStatuses", json::array())) {
      out += " image=" + c.value("image", "") + " restarts=" + std::to_string(c.value("restartCount", 0)) +
             " state=" + (c.contains("state") ? c["state"].dump() : "") +
             " last=" + (c.contains("lastState") ? c["lastState"].dump() : "");
    }
    out += "\n";
  }
  return out;
}

bool Eventually(const std::function<bool()>& pred, Clock::time_point until) {
  while (Clock::now() < until) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return pred();
}

double EpochNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Timing {
  std::string scenario;
  double first_alert_to_fix = -1;  // seconds; -1: no verified fix
  double fault_to_fix = -1;        // from the fault (or rollout) to the verified fix
};

class UpstreamRulesE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_ = new Suite();
    s_->error = s_->Start();
  }
  static void TearDownTestSuite() {
    s_->PrintTimings();
    s_->Stop(::testing::UnitTest::GetInstance()->failed_test_count() > 0);
    delete s_;
    s_ = nullptr;
  }
  void SetUp() override { ASSERT_EQ(s_->error, "") << s_->error; }
  // The workload scenarios' faults, once, when the first of them runs (after the node's).
  static void StartWorkloads() {
    if (!s_->workloads_started) {
      s_->workloads_started = true;
      s_->workload_error = s_->StartWorkloads();
    }
    ASSERT_EQ(s_->workload_error, "") << s_->workload_error;
  }

  struct Suite {
    std::string error, dir, id, oom, roll, loop, hpa, pvc, node, root;
    Stack stack;
    Monitoring monitoring;
    Clock::time_point node_deadline, hpa_deadline, pvc_deadline, deadline;
    double node_fault_at = 0, hpa_fault_at = 0, pvc_fault_at = 0, oom_fault_at = 0, roll_fault_at = 0, loop_fault_at = 0;  // epoch s
    bool workloads_started = false;
    std::string workload_error;
    std::vector<Timing> timings;

    std::string Start();
    std::string StartCluster();
    std::string StartStack();
    std::string StartMonitoring();
    std::string BreakNode();
    std::string StartHpa();
    std::string FillVolume();
    std::string Affinity() const;
    std::string StartWorkloads();
    void PrintTimings() const;
    void Stop(bool keep_logs);
  };

  // ---------------------------------------------------------------- trail queries
  static long Count(const std::string& where) {
    try {
      return QueryLong(s_->stack.dsn(), "SELECT count(*) FROM audit_events WHERE " + where);
    } catch (const std::exception&) {
      return -1;  // the audit service has not migrated yet
    }
  }
  // min(expr) over the events matching `where`, in epoch seconds; -1 if none.
  static double FirstAt(const std::string& expr, const std::string& where) {
    pqxx::connection c(s_->stack.dsn());
    pqxx::work w(c);
    auto r = w.exec1("SELECT extract(epoch FROM min(" + expr + ")) FROM audit_events WHERE " + where);
    return r[0].is_null() ? -1 : r[0].as<double>();
  }
  // From the first alert matching `alerts` (a signal's occurred_at is the alert's startsAt) and from
  // the fault to the end of the first outcome matching `fix` (finished_at: after its verification;
  // an outcome's occurred_at is when the action started).
  static Timing Measure(const std::string& scenario, const std::string& alerts, const std::string& fix,
                        double fault_at) {
    double alert = FirstAt("occurred_at", "event_type = 'signal' AND " + alerts);
    double fixed = FirstAt("(payload_json->'outcome'->>'finished_at')::timestamptz", fix);
    return {scenario, fixed < 0 || alert < 0 ? -1 : fixed - alert, fixed < 0 ? -1 : fixed - fault_at};
  }
  // The rows of a query, one line each with " | " between fields, for failure messages.
  static std::string Rows(const std::string& select) {
    std::string out;
    try {
      pqxx::connection c(s_->stack.dsn());
      pqxx::work w(c);
      for (const auto& r : w.exec(select)) {
        std::string line;
        for (const auto& f : r) {
          line += (line.empty() ? "" : " | ") + (f.is_null() ? std::string() : f.as<std::string>());
        }
        out += "  " + line + "\n";
      }
    } catch (const std::exception& e) {
      out += std::string("  (unreadable: ") + e.what() + ")\n";
    }
    return out.empty() ? "  (no rows)\n" : out;
  }
  // What kubemend did, one line per event of the trail matching `where`.
  static std::string Trail(const std::string& where) {
    return Rows(
        "SELECT event_type, signal_name, payload_json->'signal'->>'status', target_namespace, target_kind, "
        "target_name, action_type, verdict, rule, outcome_status, left(incident_id, 8), policy_name "
        "FROM audit_events WHERE " + where + " ORDER BY seq");
  }
  static std::string InNs(const std::string& ns) { return "target_namespace = '" + ns + "'"; }
  static bool WaitFor(const std::string& where, Clock::time_point until, long at_least = 1) {
    return Eventually([&] { return Count(where) >= at_least; }, until);
  }

  static Suite* s_;
};

UpstreamRulesE2ETest::Suite* UpstreamRulesE2ETest::s_ = nullptr;

// ------------------------------------------------------------------ suite set-up

std::string UpstreamRulesE2ETest::Suite::Start() {
  for (const char* v : {"KUBEMEND_ROOT", "KUBEMEND_TEST_KUBECTL", "KUBEMEND_TEST_KUBECONFIG",
                        "KUBEMEND_TEST_K8S_FAULTS_URL", "KUBEMEND_TEST_KSM"}) {
    if (Env(v).empty()) {
      return std::string(v) +
             " is not set: run this through ./kubemend test, which starts the control plane and builds "
             "kube-state-metrics (scripts/build-ksm.sh)";
    }
  }
  root = Env("KUBEMEND_ROOT");
  id = NewUuid().substr(0, 8);
  dir = (std::filesystem::temp_directory_path() / ("kubemend-upstream-rules-" + id)).string();
  std::filesystem::create_directories(dir);
  oom = "oom-" + id;
  roll = "roll-" + id;
  loop = "loop-" + id;
  hpa = "hpa-" + id;
  pvc = "pvc-" + id;
  for (auto step : {&Suite::StartCluster, &Suite::StartStack, &Suite::StartMonitoring, &Suite::BreakNode,
                    &Suite::StartHpa, &Suite::FillVolume}) {
    std::string err = (this->*step)();
    if (!err.empty()) {
      return err;
    }
  }
  return "";
}

// deploy/k8s's ServiceAccounts and RBAC, and the scenario namespaces.
std::string UpstreamRulesE2ETest::Suite::StartCluster() {
  json nodes = KubeGet("nodes");
  if (!nodes.is_object() || nodes["items"].size() < 2) {
    return "the control plane has fewer than two nodes";
  }
  node = nodes["items"].back()["metadata"]["name"];
  std::string n = kNamespaces;
  ReplaceAll(&n, "@OOM@", oom);
  ReplaceAll(&n, "@ROLL@", roll);
  ReplaceAll(&n, "@LOOP@", loop);
  ReplaceAll(&n, "@HPA@", hpa);
  ReplaceAll(&n, "@PVC@", pvc);
  std::ofstream(dir + "/namespaces.yaml") << n;
  if (!Shell(Kubectl() + " kustomize " + root + "/deploy/k8s/base > " + dir + "/base.yaml && " + Kubectl() +
             " apply --server-side --force-conflicts --field-manager kubemend-test -f " + dir +
             "/base.yaml >/dev/null && " + Kubectl() + " apply -f " + dir + "/namespaces.yaml >/dev/null")) {
    return "applying deploy/k8s/base and the namespaces to the control plane failed";
  }
  return "";
}

// The five services. The collector's Kubernetes signal sources are off (alerts alone drive it);
// its webhook wants a bearer token, which Alertmanager sends. The gate lets RollbackImage and
// CordonNode run without a human's confirmation, as an operator who trusts them configures it
// (the shipped default asks); everything else is the shipped configuration and default policies.
std::string UpstreamRulesE2ETest::Suite::StartStack() {
  std::string collector = TokenKubeconfig(dir, "collector");
  std::string analyzer = TokenKubeconfig(dir, "analyzer");
  std::string executor = TokenKubeconfig(dir, "executor");
  if (collector.empty() || analyzer.empty() || executor.empty()) {
    return "could not mint ServiceAccount tokens (kubectl create token)";
  }
  setenv("KUBEMEND_KUBERNETES_PODS", "false", 1);
  setenv("KUBEMEND_KUBERNETES_NODES", "false", 1);
  setenv("KUBEMEND_KUBERNETES_EVENTS", "false", 1);
  setenv("KUBEMEND_WEBHOOK_AUTH_TYPE", "bearer", 1);
  setenv("KUBEMEND_WEBHOOK_TOKEN", NewUuid().c_str(), 1);
  setenv("KUBEMEND_ANALYZER_POLICY_PATHS",
         (root + "/policies/default.yaml," + root + "/e2e/upstream-rules/node-not-ready-policy.yaml," + root +
          "/e2e/upstream-rules/pvc-filling-up-policy.yaml")
             .c_str(),
         1);
  setenv("KUBEMEND_APPROVAL_LEVELS", "RollbackImage=auto,CordonNode=auto,ExpandPVC=auto", 1);
  setenv("KUBEMEND_EXECUTOR_VERIFY_STABLE_FOR", "3s", 1);
  setenv("KUBEMEND_EXECUTOR_VERIFY_POLL_INTERVAL", "200ms", 1);
  std::string err = stack.Up("--kubeconfig " + collector + " --service-kubeconfig analyzer=" + analyzer +
                             " --service-kubeconfig executor=" + executor);
  return err.empty() ? "" : "the kubemend stack did not start: " + err;
}

std::string UpstreamRulesE2ETest::Suite::StartMonitoring() {
  std::string rules = dir + "/rules";
  if (!Shell("python3 " + root + "/e2e/upstream-rules/derive_rules.py " + rules + " --for 2s >/dev/null")) {
    return "derive_rules.py failed";
  }
  MonitoringConfig c;
  c.dir = dir + "/monitoring";
  c.ksm_binary = Env("KUBEMEND_TEST_KSM");
  c.kubeconfig = Env("KUBEMEND_TEST_KUBECONFIG");
  c.namespaces = oom + "," + roll + "," + loop + "," + hpa + "," + pvc;
  std::string faults = Env("KUBEMEND_TEST_K8S_FAULTS_URL");
  c.kubelet_hostport = faults.substr(faults.find("://") + 3);
  c.rules_dir = rules;
  c.webhook_url = stack.CollectorUrl() + "/api/v1/alerts";
  c.webhook_token = Env("KUBEMEND_WEBHOOK_TOKEN");
  c.exporter_pod = kExporterPod;
  return monitoring.Start(c);
}

// Phase 1: the node reports Ready=False (kubemend-kubelet, as a kubelet would).
std::string UpstreamRulesE2ETest::Suite::BreakNode() {
  if (FaultPost("/sim/v1/faults/node", {{"node", node}, {"ready", false}, {"status", "False"}}) != 200) {
    return "kubemend-kubelet's fault API refused the node fault (" + Env("KUBEMEND_TEST_K8S_FAULTS_URL") + ")";
  }
  node_deadline = Clock::now() + kNodeBudget;
  node_fault_at = EpochNow();
  return "";
}

// Keeps a workload off the node that goes NotReady (the node controller marks its pods not ready).
std::string UpstreamRulesE2ETest::Suite::Affinity() const {
  return "{nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchFields: "
         "[{key: metadata.name, operator: NotIn, values: [" + node + "]}]}]}}}";
}

// Phase 1, beside the node: the Deployment and its HPA, already at the maximum.
std::string UpstreamRulesE2ETest::Suite::StartHpa() {
  std::string w = kHpaWorkload;
  ReplaceAll(&w, "@HPA@", hpa);
  ReplaceAll(&w, "@AFFINITY@", Affinity());
  std::ofstream(dir + "/hpa.yaml") << w;
  if (!Shell(Kubectl() + " apply -f " + dir + "/hpa.yaml >/dev/null")) {
    return "applying the HPA scenario's Deployment and HorizontalPodAutoscaler failed";
  }
  hpa_deadline = Clock::now() + kHpaBudget;
  hpa_fault_at = EpochNow();
  return "";
}

// Phase 1, beside the node: the claim, its volume and a pod mounting it; the kubelet reports the
// volume 1000Mi full (of 1Gi: 2.3% free, under upstream's 3%) once the pod runs.
std::string UpstreamRulesE2ETest::Suite::FillVolume() {
  std::string w = kPvcWorkload;
  ReplaceAll(&w, "@PVC@", pvc);
  ReplaceAll(&w, "@AFFINITY@", Affinity());
  std::ofstream(dir + "/pvc.yaml") << w;
  if (!Shell(Kubectl() + " apply -f " + dir + "/pvc.yaml >/dev/null")) {
    return "applying the PVC scenario's StorageClass, PersistentVolume, claim and Deployment failed";
  }
  if (FaultPost("/sim/v1/faults/pvc", {{"namespace", pvc}, {"name", "data"}, {"usedBytes", "1000Mi"}}) != 200) {
    return "kubemend-kubelet's fault API refused the volume fault";
  }
  pvc_deadline = Clock::now() + kPvcBudget;
  pvc_fault_at = EpochNow();
  return "";
}

// Phase 2: web uses more memory than its limit from the start; api and worker roll out to an
// image that crashes once their v1 is ready (api: rolling update; worker: Recreate, so all five
// pods crash).
std::string UpstreamRulesE2ETest::Suite::StartWorkloads() {
  if (FaultPost("/sim/v1/faults/memory", {{"namespace", oom}, {"workload", "deployment/web"}, {"bytes", "300Mi"}}) !=
          200 ||
      FaultPost("/sim/v1/faults/image", {{"image", roll + "/api:v2"}, {"mode", "crash"}}) != 200 ||
      FaultPost("/sim/v1/faults/image", {{"image", loop + "/worker:v2"}, {"mode", "crash"}}) != 200) {
    return "kubemend-kubelet's fault API refused a fault";
  }
  std::string w = kWorkloads;
  ReplaceAll(&w, "@OOM@", oom);
  ReplaceAll(&w, "@ROLL@", roll);
  ReplaceAll(&w, "@LOOP@", loop);
  ReplaceAll(&w, "@AFFINITY@", Affinity());
  std::ofstream(dir + "/workloads.yaml") << w;
  if (!Shell(Kubectl() + " apply -f " + dir + "/workloads.yaml >/dev/null")) {
    return "applying the workloads failed";
  }
  oom_fault_at = EpochNow();
  for (const auto& [ns, name, replicas] : {std::tuple{roll, "api", 2}, std::tuple{loop, "worker", 5}}) {
    bool ready = Eventually(
        [&] {
          json d = KubeGet(std::string("deployment ") + name + " -n " + ns);
          return d.is_object() && d["status"].value("readyReplicas", 0) == replicas;
        },
        Clock::now() + seconds(30));
    if (!ready) {
      return "deployment " + ns + "/" + name + " never had " + std::to_string(replicas) + " ready replicas\n" +
             PodsSummary(ns);
    }
    if (!Shell(Kubectl() + " -n " + ns + " set image deployment/" + name + " app=" + ns + "/" + name +
               ":v2 >/dev/null")) {
      return "kubectl set image failed";
    }
    (ns == roll ? roll_fault_at : loop_fault_at) = EpochNow();
  }
  deadline = Clock::now() + kWorkloadBudget;
  return "";
}

void UpstreamRulesE2ETest::Suite::PrintTimings() const {
  auto secs = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f s", v);
    return v < 0 ? std::string("no verified fix") : std::string(b);
  };
  std::cout << "\nfirst alert (its startsAt, from Prometheus) -> verified fix (the outcome's finished_at, "
               "after verification); fault -> verified fix:\n";
  for (const auto& t : timings) {
    std::cout << "  " << t.scenario << ": " << secs(t.first_alert_to_fix) << "; " << secs(t.fault_to_fix) << "\n";
  }
}

void UpstreamRulesE2ETest::Suite::Stop(bool keep_logs) {
  if (keep_logs && !dir.empty()) {
    std::string keep = "/tmp/kubemend-upstream-rules-logs-" + id;
    Shell("mkdir -p " + keep + " && cp -r " + dir + "/monitoring/*.log " + dir + "/monitoring/*.yml " + keep +
          " 2>/dev/null; cp -r " + stack.run_dir() + "/logs " + keep + "/kubemend 2>/dev/null");
    std::cerr << "logs kept in " << keep << "\n";
  }
  monitoring.Stop();
  stack.Down();
  if (!node.empty()) {  // the control plane is shared by the run's tests: leave it as found
    FaultPost("/sim/v1/faults/node", {{"node", node}, {"ready", true}});
    Shell(Kubectl() + " uncordon " + node + " >/dev/null 2>&1");
    FaultPost("/sim/v1/faults/memory", {{"namespace", oom}, {"workload", "deployment/web"}, {"bytes", nullptr}});
    FaultPost("/sim/v1/faults/image", {{"image", loop + "/worker:v2"}, {"mode", "ok"}});
    FaultPost("/sim/v1/faults/image", {{"image", roll + "/api:v2"}, {"mode", "ok"}});
    FaultPost("/sim/v1/faults/pvc", {{"namespace", pvc}, {"name", "data"}, {"usedBytes", nullptr}});
    Shell(Kubectl() + " delete namespace " + oom + " " + roll + " " + loop + " " + hpa + " " + pvc +
          " --wait=false >/dev/null 2>&1");
    Shell(Kubectl() + " delete pv,storageclass " + pvc + " --wait=false >/dev/null 2>&1");
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// ------------------------------------------------------------------ scenarios

// Phase 1. KubeNodeNotReady comes from kube_node_status_condition: the series has no namespace/pod
// of its own, so honor_labels leaves the scrape target's (the exporter's) on it.
TEST_F(UpstreamRulesE2ETest, NodeAlertCarryingExporterLabelsTargetsTheNode) {
  const std::string alerts = "signal_name = 'KubeNodeNotReady' AND payload_json->'signal'->'labels'->>'node' = '" +
                             s_->node + "'";
  ASSERT_TRUE(WaitFor("event_type = 'signal' AND " + alerts, s_->node_deadline))
      << "KubeNodeNotReady for " << s_->node << " never reached kubemend:\n"
      << Trail("signal_name LIKE 'KubeNode%'");
  // The slip is really there: the alert names the exporter's pod too.
  EXPECT_GE(Count("event_type = 'signal' AND " + alerts + " AND payload_json->'signal'->'labels'->>'namespace' = "
                  "'monitoring' AND payload_json->'signal'->'labels'->>'pod' = '" + std::string(kExporterPod) + "'"),
            1)
      << Trail("signal_name = 'KubeNodeNotReady'");
  EXPECT_EQ(Count("event_type = 'signal' AND " + alerts + " AND NOT (target_kind = 'Node' AND target_name = '" +
                  s_->node + "' AND target_namespace = '')"),
            0)
      << "a KubeNodeNotReady signal targets something else than the Node:\n" << Trail("signal_name = 'KubeNodeNotReady'");
  std::string fix = "event_type = 'outcome' AND target_kind = 'Node' AND target_name = '" + s_->node +
                    "' AND action_type = 'CordonNode' AND outcome_status = 'succeeded'";
  bool fixed = WaitFor(fix, s_->node_deadline);
  s_->timings.push_back(Measure("4 node alert with exporter labels: Node cordoned", alerts, fix,
                                s_->node_fault_at));
  EXPECT_EQ(Count("event_type <> 'signal' AND target_namespace = 'monitoring'"), 0)
      << "kubemend acted on the exporter:\n" << Trail("target_namespace = 'monitoring'");
  ASSERT_TRUE(fixed) << Trail("target_kind = 'Node' OR signal_name = 'KubeNodeNotReady'");
  EXPECT_EQ(KubeGet("node " + s_->node)["spec"].value("unschedulable", false), true);
  // Upstream's rule ignores cordoned nodes: the alert resolves, and Alertmanager says so.
  EXPECT_TRUE(WaitFor("event_type = 'signal' AND " + alerts +
                          " AND payload_json->'signal'->>'status' = 'SIGNAL_STATUS_RESOLVED'",
                      Clock::now() + seconds(20)))
      << Trail("signal_name = 'KubeNodeNotReady'");
}

// Phase 1, beside the node. The real HPA controller, without a metrics API, still reports the
// scale target's 3 replicas in status.currentReplicas; kube-state-metrics exports it, upstream's
// KubeHpaMaxedOut fires (current == max, max != min), and the default policy hpa-maxed-out raises
// the maximum (AdjustHPA, automatic in the shipped gate: a step of 50% is within its limits).
TEST_F(UpstreamRulesE2ETest, HpaAtMaxGetsAHigherMaximum) {
  const std::string& ns = s_->hpa;
  // What the alert stands on: the controller's own status write, not ours.
  json status;
  ASSERT_TRUE(Eventually(
      [&] {
        status = KubeGet("hpa frontend -n " + ns)["status"];
        return status.is_object() && status.value("currentReplicas", 0) == 3;
      },
      s_->hpa_deadline))
      << "the HPA controller never reported currentReplicas 3: " << status.dump();
  const std::string alerts = "signal_name = 'KubeHpaMaxedOut' AND " + InNs(ns);
  ASSERT_TRUE(WaitFor("event_type = 'signal' AND " + alerts, s_->hpa_deadline))
      << "KubeHpaMaxedOut never reached kubemend; HPA status " << status.dump() << "\n" << Trail(InNs(ns));
  EXPECT_EQ(Count("event_type = 'signal' AND " + alerts +
                  " AND NOT (target_kind = 'HorizontalPodAutoscaler' AND target_name = 'frontend')"),
            0)
      << "a KubeHpaMaxedOut signal targets something else than the HPA:\n" << Trail(InNs(ns));
  std::string fix = "event_type = 'outcome' AND " + InNs(ns) +
                    " AND target_kind = 'HorizontalPodAutoscaler' AND target_name = 'frontend' AND action_type = "
                    "'AdjustHPA' AND outcome_status = 'succeeded'";
  bool fixed = WaitFor(fix, s_->hpa_deadline);
  s_->timings.push_back(Measure("5 HPA at max: maxReplicas raised", alerts, fix, s_->hpa_fault_at));
  ASSERT_TRUE(fixed) << "no verified AdjustHPA on HPA " << ns << "/frontend:\n" << Trail(InNs(ns));
  EXPECT_EQ(Count("event_type = 'decision' AND " + InNs(ns) + " AND verdict <> 'approved'"), 0) << Trail(InNs(ns));
  // The live object: 3 * 1.5 rounded, within the policy's cap; nothing else changed.
  json h = KubeGet("hpa frontend -n " + ns);
  int64_t max = h["spec"].value("maxReplicas", 0);
  EXPECT_GT(max, 3) << h.dump();
  EXPECT_LE(max, 5) << h.dump();
  EXPECT_EQ(h["spec"].value("minReplicas", 0), 1);
  EXPECT_EQ(KubeGet("deployment frontend -n " + ns)["spec"].value("replicas", 0), 3);
  // current (3) != max now: the rule stops matching and Alertmanager sends the resolve.
  EXPECT_TRUE(WaitFor("event_type = 'signal' AND " + alerts +
                          " AND payload_json->'signal'->>'status' = 'SIGNAL_STATUS_RESOLVED'",
                      Clock::now() + seconds(20)))
      << Trail(InNs(ns));
  EXPECT_EQ(Count("event_type = 'proposal' AND " + InNs(ns)), 1) << Trail(InNs(ns));
}

// Phase 1, beside the node. kubemend-kubelet exports the kubelet's volume stats; Prometheus scrapes
// them as kube-prometheus scrapes kubelets (job kubelet, metrics_path /metrics); upstream's
// KubePersistentVolumeFillingUp fires for the claim (under 3% free, used > 0, not ReadOnlyMany,
// from kube-state-metrics); the test's policy expands it by half; the kubelet stand-in resizes the
// volume as the external resizer and the kubelet would, and the alert resolves.
TEST_F(UpstreamRulesE2ETest, NearlyFullVolumeIsExpanded) {
  const std::string& ns = s_->pvc;
  const std::string alerts = "signal_name = 'KubePersistentVolumeFillingUp' AND " + InNs(ns);
  ASSERT_TRUE(WaitFor("event_type = 'signal' AND " + alerts, s_->pvc_deadline))
      << "KubePersistentVolumeFillingUp never reached kubemend; claim "
      << KubeGet("pvc data -n " + ns)["status"].dump() << "\n"
      << s_->monitoring.Prometheus("/api/v1/query?query=kubelet_volume_stats_available_bytes").dump() << "\n"
      << PodsSummary(ns) << Trail(InNs(ns));
  EXPECT_EQ(Count("event_type = 'signal' AND " + alerts +
                  " AND NOT (target_kind = 'PersistentVolumeClaim' AND target_name = 'data')"),
            0)
      << "a KubePersistentVolumeFillingUp signal targets something else than the claim:\n" << Trail(InNs(ns));
  std::string fix = "event_type = 'outcome' AND " + InNs(ns) +
                    " AND target_kind = 'PersistentVolumeClaim' AND target_name = 'data' AND action_type = "
                    "'ExpandPVC' AND outcome_status = 'succeeded'";
  bool fixed = WaitFor(fix, s_->pvc_deadline);
  s_->timings.push_back(Measure("6 nearly full volume: claim expanded", alerts, fix, s_->pvc_fault_at));
  ASSERT_TRUE(fixed) << "no verified ExpandPVC on claim " << ns << "/data:\n" << Trail(InNs(ns));
  // At least 1Gi + 50% (the executor rounds up: 2Gi), within the policy's 10Gi, on the claim; the
  // volume and the claim's reported capacity followed (the resizer's and kubelet's part).
  json c = KubeGet("pvc data -n " + ns);
  double want = MiB(c["spec"]["resources"]["requests"].value("storage", ""));
  EXPECT_GE(want, 1536) << c.dump();
  EXPECT_LE(want, 10240) << c.dump();
  EXPECT_EQ(MiB(c["status"]["capacity"].value("storage", "")), want) << c.dump();
  EXPECT_EQ(MiB(KubeGet("pv " + ns)["spec"]["capacity"].value("storage", "")), want);
  // ... and so does the kubelet's metric, as Prometheus scraped it.
  std::string query = "/api/v1/query?query=kubelet_volume_stats_capacity_bytes%7Bnamespace%3D%22" + ns + "%22%7D";
  json r;
  EXPECT_TRUE(Eventually(
      [&] {
        r = s_->monitoring.Prometheus(query);
        return r.is_object() && r["data"]["result"].size() == 1 &&
               std::atof(r["data"]["result"][0]["value"][1].get<std::string>().c_str()) == want * 1048576;
      },
      Clock::now() + seconds(10)))
      << r.dump();
  // Over a third free now: the rule stops matching and Alertmanager sends the resolve.
  EXPECT_TRUE(WaitFor("event_type = 'signal' AND " + alerts +
                          " AND payload_json->'signal'->>'status' = 'SIGNAL_STATUS_RESOLVED'",
                      Clock::now() + seconds(20)))
      << Trail(InNs(ns));
  EXPECT_EQ(Count("event_type = 'proposal' AND " + InNs(ns)), 1) << Trail(InNs(ns));
}

// Phase 2, scenario 1. Upstream has no OOM alert: the pods of web crash-loop
// (KubePodCrashLooping, no owner label), and only the cluster's facts say the last
// termination was OOMKilled.
TEST_F(UpstreamRulesE2ETest, OomKilledDeploymentGetsMoreMemoryAndNoPodRestart) {
  StartWorkloads();
  const std::string& ns = s_->oom;
  ASSERT_TRUE(WaitFor("event_type = 'signal' AND " + InNs(ns), s_->deadline))
      << "no alert about " << ns << " reached kubemend\n" << PodsSummary(ns);
  std::string fix = "event_type = 'outcome' AND " + InNs(ns) +
                    " AND target_kind = 'Deployment' AND target_name = 'web' AND action_type = 'IncreaseMemory' "
                    "AND outcome_status = 'succeeded'";
  bool fixed = WaitFor(fix, s_->deadline);
  s_->timings.push_back(Measure("1 OOM-killed Deployment gets more memory", InNs(ns), fix, s_->oom_fault_at));
  EXPECT_EQ(Count("event_type = 'proposal' AND " + InNs(ns) + " AND action_type = 'RestartPod'"), 0)
      << "kubemend proposed restarting OOM-killed pods:\n" << Trail(InNs(ns));
  ASSERT_TRUE(fixed) << "no verified IncreaseMemory on Deployment " << ns << "/web:\n"
                     << Trail(InNs(ns)) << PodsSummary(ns);

  json d = KubeGet("deployment web -n " + ns);
  std::string limit = d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].value("memory", "");
  EXPECT_GT(MiB(limit), 300) << "limit " << limit << " is still below the 300Mi the container uses";
  // Stays healthy: all replicas of the new template available, then no restart for a while.
  ASSERT_TRUE(Eventually(
      [&] {
        json s = KubeGet("deployment web -n " + ns)["status"];
        return s.value("updatedReplicas", 0) == 2 && s.value("availableReplicas", 0) == 2 &&
               s.value("replicas", 0) == 2 && PodStates(ns, "web").size() == 2;
      },
      Clock::now() + seconds(30)))
      << KubeGet("deployment web -n " + ns)["status"].dump() << "\n" << PodsSummary(ns);
  auto before = PodStates(ns, "web");
  std::this_thread::sleep_for(seconds(6));  // longer than crash-after (1 s) + the longest back-off (5 s)
  auto after = PodStates(ns, "web");
  EXPECT_EQ(after.size(), 2u) << PodsSummary(ns);
  for (const auto& [pod, st] : after) {
    auto it = before.find(pod);
    ASSERT_NE(it, before.end()) << "pod " << pod << " replaced a healthy one";
    EXPECT_EQ(st.first, it->second.first) << pod << " restarted after the fix";
    EXPECT_EQ(st.second, "") << pod << " is waiting: " << st.second;
  }
  EXPECT_EQ(Count("event_type = 'proposal' AND " + InNs(ns) + " AND action_type = 'RestartPod'"), 0)
      << Trail(InNs(ns));
}

// Phase 2, scenario 2. A rolling update to an image that crashes: KubePodCrashLooping for the new
// pod (no owner label, no image in the alert); the v1 pods keep serving (minReadySeconds: without
// it, each 1-second run of a new pod counts as available and the rollout replaces every v1 pod).
TEST_F(UpstreamRulesE2ETest, BadImageRolloutIsRolledBack) {
  StartWorkloads();
  const std::string& ns = s_->roll;
  ASSERT_TRUE(WaitFor("event_type = 'signal' AND " + InNs(ns), s_->deadline))
      << "no alert about " << ns << " reached kubemend\n" << PodsSummary(ns);
  std::string fix = "event_type = 'outcome' AND " + InNs(ns) +
                    " AND target_kind = 'Deployment' AND target_name = 'api' AND action_type = 'RollbackImage' "
                    "AND outcome_status = 'succeeded'";
  bool fixed = WaitFor(fix, s_->deadline);
  s_->timings.push_back(Measure("2 bad image rollout rolled back", InNs(ns), fix, s_->roll_fault_at));
  ASSERT_TRUE(fixed) << "no verified RollbackImage on Deployment " << ns << "/api:\n"
                     << Trail(InNs(ns)) << PodsSummary(ns);
  json d = KubeGet("deployment api -n " + ns);
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0].value("image", ""), ns + "/api:v1");
  EXPECT_TRUE(Eventually(
      [&] {
        json s = KubeGet("deployment api -n " + ns)["status"];
        return s.value("updatedReplicas", 0) == 2 && s.value("readyReplicas", 0) == 2 &&
               s.value("unavailableReplicas", 0) == 0;
      },
      Clock::now() + seconds(30)))
      << KubeGet("deployment api -n " + ns)["status"].dump() << "\n" << PodsSummary(ns);
}

// Phase 2, scenario 3. worker (5 replicas, strategy Recreate) rolls out to an image that crashes:
// five KubePodCrashLooping alerts, one per pod, in one Alertmanager group: one root cause. One
// incident, one action, and that action fixes it (a restart per pod would fix nothing).
TEST_F(UpstreamRulesE2ETest, FiveCrashLoopingPodsAreOneIncidentAndOneAction) {
  StartWorkloads();
  const std::string& ns = s_->loop;
  std::string pods_alerted =
      "SELECT count(DISTINCT payload_json->'signal'->'labels'->>'pod') FROM audit_events WHERE event_type = "
      "'signal' AND signal_name = 'KubePodCrashLooping' AND " + InNs(ns);
  long pods = 0;
  bool all = Eventually(
      [&] {
        try {
          pods = QueryLong(s_->stack.dsn(), pods_alerted);
        } catch (const std::exception&) {
        }
        return pods >= 5;
      },
      s_->deadline);
  ASSERT_TRUE(all) << "KubePodCrashLooping reached kubemend for " << pods << " of the 5 pods:\n"
                   << Trail(InNs(ns)) << PodsSummary(ns);
  std::string outcome = "event_type = 'outcome' AND outcome_status NOT IN ('', 'duplicate') AND " + InNs(ns);
  bool acted = WaitFor(outcome, s_->deadline);
  std::this_thread::sleep_for(seconds(3));  // any late proposal from the same group lands
  std::string fix = outcome + " AND outcome_status = 'succeeded'";
  s_->timings.push_back(Measure("3 five crash-looping pods, one action", InNs(ns), fix, s_->loop_fault_at));
  EXPECT_EQ(Count("event_type = 'proposal' AND " + InNs(ns)), 1) << Trail(InNs(ns));
  EXPECT_EQ(QueryLong(s_->stack.dsn(),
                      "SELECT count(DISTINCT incident_id) FROM audit_events WHERE event_type IN "
                      "('proposal', 'decision', 'outcome') AND " + InNs(ns)),
            1)
      << Trail(InNs(ns));
  // The trail's incidents view (what kubemendctl incidents list shows): the five pods' alerts are
  // absorbed by one incident, not a row each.
  EXPECT_EQ(QueryLong(s_->stack.dsn(), "SELECT count(*) FROM incidents WHERE " + InNs(ns) +
                                           " AND 'KubePodCrashLooping' = ANY(signals)"),
            1)
      << "incidents holding the pods' KubePodCrashLooping alerts; all of " << ns << "'s incidents:\n"
      << Rows("SELECT left(incident_id, 8), status, target_kind, target_name, signals::text FROM incidents WHERE " +
              InNs(ns) + " ORDER BY first_seen");
  ASSERT_TRUE(acted) << "no outcome for five crash-looping pods:\n" << Trail(InNs(ns)) << PodsSummary(ns);
  EXPECT_EQ(Count(fix), 1) << "the one action did not fix it:\n" << Trail(InNs(ns)) << PodsSummary(ns);
  EXPECT_TRUE(Eventually([&] { return KubeGet("deployment worker -n " + ns)["status"].value("readyReplicas", 0) == 5; },
                         Clock::now() + seconds(30)))
      << PodsSummary(ns);
}

// Least privilege held while the scenarios ran: each service used its own ServiceAccount's token.
TEST_F(UpstreamRulesE2ETest, NoServiceWasForbiddenAnything) {
  for (const std::string svc : {"collector", "analyzer", "executor"}) {
    std::ifstream in(s_->stack.run_dir() + "/logs/" + svc + ".log");
    std::string line;
    while (std::getline(in, line)) {
      EXPECT_EQ(line.find("orbidden"), std::string::npos) << svc << ": " << line;
      EXPECT_EQ(line.find("nauthorized"), std::string::npos) << svc << ": " << line;
    }
  }
}

}  // namespace
}  // namespace kubemend::e2e
