// Healing from the alerts people really have, alerts alone: the upstream
// kubernetes-mixin alert bodies exactly as Alertmanager sends them (no
// deployment label), the collector's own Kubernetes watches (signal source)
// OFF and its facts cache ON, the default policies, kube-sim as the cluster.
//   - five OOM-killed crash-looping pods of one Deployment: one incident,
//     one IncreaseMemory on the Deployment, no RestartPod, four signals that
//     joined the incident with the reason recorded;
//   - a crash loop right after an image change: RollbackImage to the image
//     the rollout replaced (the safety gate asks a human to confirm
//     rollbacks as shipped; the test approves with kubemendctl).
// The real Prometheus + Alertmanager version of these is h13b's suite.
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include <iostream>

#include "kubemend/common/ids.h"
#include "sim_cluster.h"
#include "stack.h"

namespace kubemend::e2e {
namespace {

constexpr const char* kSeed = R"(
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: oom, namespace: shop}
spec:
  replicas: 5
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
)";

// One Alertmanager v4 notification of group {alertname="KubePodCrashLooping"}
// with one alert per pod, labels as kube-state-metrics + kubernetes-mixin
// produce them.
std::string CrashLoopingGroup(const std::vector<std::string>& pods) {
  json alerts = json::array();
  for (const auto& pod : pods) {
    alerts.push_back(
        {{"status", "firing"},
         {"labels",
          {{"alertname", "KubePodCrashLooping"}, {"container", "app"}, {"endpoint", "http"},
           {"instance", "10.0.0.7:8080"}, {"job", "kube-state-metrics"}, {"namespace", "shop"},
           {"pod", pod}, {"reason", "CrashLoopBackOff"}, {"service", "kube-state-metrics"},
           {"severity", "warning"}, {"uid", Sha256Hex(pod).substr(0, 36)}}},
         {"annotations",
          {{"description", "Pod shop/" + pod + " (app) is in waiting state (reason: \"CrashLoopBackOff\")."},
           {"runbook_url", "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping"},
           {"summary", "Pod is crash looping."}}},
         {"startsAt", "2026-12-06T09:00:00.000Z"},
         {"endsAt", "0001-01-01T00:00:00Z"},
         {"generatorURL", "http://prometheus:9090/graph?g0.expr=max_over_time%28kube_pod_container_status_waiting_reason"},
         {"fingerprint", Sha256Hex("crash" + pod).substr(0, 16)}});
  }
  json body = {{"receiver", "kubemend"},
               {"status", "firing"},
               {"alerts", alerts},
               {"groupLabels", {{"alertname", "KubePodCrashLooping"}}},
               {"commonLabels", {{"alertname", "KubePodCrashLooping"}, {"namespace", "shop"}}},
               {"commonAnnotations", json::object()},
               {"externalURL", "http://alertmanager:9093"},
               {"version", "4"},
               {"groupKey", "{}:{alertname=\"KubePodCrashLooping\"}"},
               {"truncatedAlerts", 0}};
  return body.dump();
}

class AlertsE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::filesystem::temp_directory_path() / ("kubemend-alerts-e2e-" + NewUuid().substr(0, 8)));
    sim_ = new Sim();
    sim_->ns_ = "shop";
    setup_error_ = new std::string(sim_->Start(*dir_, kSeed));
    if (!setup_error_->empty()) {
      return;
    }
    // Alerts alone drive it: no watch signals, but the facts cache.
    setenv("KUBEMEND_KUBERNETES_ENABLED", "false", 1);
    setenv("KUBEMEND_KUBERNETES_FACTS", "true", 1);
    setenv("KUBEMEND_EXECUTOR_VERIFY_STABLE_FOR", "2s", 1);
    setenv("KUBEMEND_EXECUTOR_VERIFY_TIMEOUT", "30s", 1);
    setenv("KUBEMEND_EXECUTOR_VERIFY_POLL_INTERVAL", "200ms", 1);
    stack_ = new Stack();
    *setup_error_ = stack_->Up("--kubeconfig " + sim_->kubeconfig());
  }
  static void TearDownTestSuite() {
    delete stack_;
    stack_ = nullptr;
    delete sim_;
    sim_ = nullptr;
    unsetenv("KUBEMEND_KUBERNETES_ENABLED");
    unsetenv("KUBEMEND_KUBERNETES_FACTS");
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
  }
  void SetUp() override { ASSERT_EQ(*setup_error_, "") << *setup_error_; }

  // Rows as (column 0, column 1) strings.
  std::vector<std::pair<std::string, std::string>> Rows(const std::string& sql) {
    pqxx::connection c(stack_->dsn());
    pqxx::work w(c);
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& r : w.exec(sql)) {
      out.emplace_back(r[0].is_null() ? "" : r[0].as<std::string>(),
                       r.size() > 1 && !r[1].is_null() ? r[1].as<std::string>() : "");
    }
    return out;
  }
  std::string Trail() {
    std::string s;
    for (const auto& [t, p] : Rows("SELECT event_type, payload_json::text FROM audit_events WHERE "
                                   "target_namespace = 'shop' OR event_type = 'control' ORDER BY seq")) {
      s += t + ": " + p.substr(0, 600) + "\n";
    }
    return s;
  }
  bool WaitOutcome(const std::string& deployment, const std::string& status) {
    return Eventually(
        [&] {
          return !Rows("SELECT outcome_status, '' FROM audit_events WHERE event_type = 'outcome' AND "
                       "target_name = '" + deployment + "' AND outcome_status = '" + status + "'")
                      .empty();
        },
        seconds(90));
  }

  static std::string* dir_;
  static std::string* setup_error_;
  static Sim* sim_;
  static Stack* stack_;
};

std::string* AlertsE2ETest::dir_ = nullptr;
std::string* AlertsE2ETest::setup_error_ = nullptr;
Sim* AlertsE2ETest::sim_ = nullptr;
Stack* AlertsE2ETest::stack_ = nullptr;

TEST_F(AlertsE2ETest, FiveOomKilledPodsAreOneIncidentWithOneIncreaseMemoryAndNoRestart) {
  ASSERT_EQ(sim_->Post("/sim/v1/faults/memory", {{"namespace", "shop"}, {"workload", "deployment/oom"}, {"bytes", "300Mi"}}),
            200);
  std::vector<std::string> pods;
  ASSERT_TRUE(Eventually(
      [&] {
        pods.clear();
        for (const auto& p : sim_->Pods("oom")) {
          const json& cs = p["status"]["containerStatuses"];
          if (Restarts(p) > 0 && cs.is_array() && !cs.empty() &&
              cs[0]["lastState"]["terminated"].value("reason", "") == "OOMKilled") {
            pods.push_back(p["metadata"]["name"]);
          }
        }
        return pods.size() == 5;
      },
      seconds(30)))
      << "the fault never OOM-killed all five pods";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the facts cache's watch catches up
  auto sent = std::chrono::steady_clock::now();
  auto [code, body] = Post(stack_->CollectorUrl(), "/api/v1/alerts", CrashLoopingGroup(pods));
  ASSERT_EQ(code, 200) << body;
  ASSERT_TRUE(WaitOutcome("oom", "succeeded")) << Trail();
  std::cout << "alert to verified fix (IncreaseMemory, verify stable 2s): "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - sent).count()
            << " ms\n";

  auto proposals = Rows("SELECT action_type, target_kind || '/' || target_name FROM audit_events "
                        "WHERE event_type = 'proposal' AND target_namespace = 'shop' AND "
                        "(target_name = 'oom' OR target_name LIKE 'oom-%')");
  ASSERT_EQ(proposals.size(), 1u) << Trail();
  EXPECT_EQ(proposals[0].first, "IncreaseMemory");
  EXPECT_EQ(proposals[0].second, "Deployment/oom");
  json d = sim_->Deployment("oom");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"], "384Mi");
  // The proposal says why: the facts decided, not the alert's name.
  auto reason = Rows("SELECT payload_json->'proposal'->>'reason', payload_json->'proposal'->'facts'->>'cluster.lastTerminationReason' "
                     "FROM audit_events WHERE event_type = 'proposal' AND target_name = 'oom'");
  ASSERT_EQ(reason.size(), 1u);
  EXPECT_NE(reason[0].first.find("diagnosis: lastTerminationReason OOMKilled"), std::string::npos) << reason[0].first;
  EXPECT_EQ(reason[0].second, "OOMKilled");
  // Every signal carried the facts (the trail shows what was decided on).
  auto facts = Rows("SELECT count(*), '' FROM audit_events WHERE event_type = 'signal' AND target_namespace = 'shop' "
                    "AND payload_json->'signal'->'facts'->>'ownerName' = 'oom' "
                    "AND payload_json->'target'->>'owner_kind' = 'Deployment'");
  EXPECT_EQ(facts[0].first, "5");
  // The other four joined the incident while its action was in flight.
  auto joined = Rows("SELECT count(*), '' FROM audit_events WHERE event_type = 'control' AND "
                     "payload_json->'control'->'no_action'->>'category' = 'in_flight'");
  EXPECT_EQ(joined[0].first, "4") << Trail();
  // One incident where users look, with the five signals it absorbed.
  auto incidents = Rows("SELECT incident_id, absorbed::text FROM incidents WHERE target_namespace = 'shop' "
                        "AND 'KubePodCrashLooping' = ANY(signals)");
  ASSERT_EQ(incidents.size(), 1u) << Trail();
  EXPECT_EQ(incidents[0].second, "5");
}

TEST_F(AlertsE2ETest, CrashLoopRightAfterAnImageChangeIsRolledBackToThePreviousImage) {
  ASSERT_TRUE(Eventually([&] { return sim_->Deployment("api")["status"].value("readyReplicas", 0) == 2; }, seconds(20)));
  ASSERT_EQ(sim_->Post("/sim/v1/faults/image", {{"image", "shop/api:v2"}, {"mode", "crash"}}), 200);
  ASSERT_EQ(sim_->MergePatch("/apis/apps/v1/namespaces/shop/deployments/api",
                             {{"spec", {{"template", {{"spec", {{"containers", json::array({{{"name", "app"}, {"image", "shop/api:v2"}}})}}}}}}}}),
            200);
  std::string pod;
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& p : sim_->Pods("api")) {
          if (Restarts(p) > 0 && p["spec"]["containers"][0].value("image", "") == "shop/api:v2") {
            pod = p["metadata"]["name"];
            return true;
          }
        }
        return false;
      },
      seconds(20)))
      << "the bad image never crashed";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto sent = std::chrono::steady_clock::now();
  auto [code, body] = Post(stack_->CollectorUrl(), "/api/v1/alerts", CrashLoopingGroup({pod}));
  ASSERT_EQ(code, 200) << body;
  std::vector<std::pair<std::string, std::string>> proposals;
  ASSERT_TRUE(Eventually(
      [&] {
        proposals = Rows("SELECT event_id::text, payload_json->'proposal'->'action'->'rollback_image'->>'to_image' "
                         "FROM audit_events WHERE event_type = 'proposal' AND target_name = 'api' "
                         "AND action_type = 'RollbackImage'");
        return !proposals.empty();
      },
      seconds(30)))
      << Trail();
  EXPECT_EQ(proposals[0].second, "shop/api:v1");
  EXPECT_TRUE(Rows("SELECT action_type, '' FROM audit_events WHERE event_type = 'proposal' AND "
                   "action_type = 'RestartPod' AND target_name LIKE 'api%'")
                  .empty())
      << "a bad rollout is not a pod problem";
  // Rollbacks wait for a human as shipped (approval.levels.RollbackImage: confirm).
  ASSERT_TRUE(Eventually(
      [&] {
        return !Rows("SELECT verdict, '' FROM audit_events WHERE event_type = 'decision' AND "
                     "target_name = 'api' AND verdict = 'awaiting_approval'")
                    .empty();
      },
      seconds(30)))
      << Trail();
  std::string approve = std::string(KUBEMENDCTL_BIN) + " --stack-env " + stack_->run_dir() +
                        "/stack.env --as e2e-operator approve " + proposals[0].first +
                        " --reason 'bad rollout confirmed' 2>&1";
  auto approved = RunShell(approve);
  ASSERT_TRUE(approved.has_value()) << approve;
  ASSERT_TRUE(WaitOutcome("api", "succeeded")) << Trail();
  std::cout << "alert to verified fix (RollbackImage, approval included, verify stable 2s): "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - sent).count()
            << " ms\n";
  EXPECT_EQ(sim_->Deployment("api")["spec"]["template"]["spec"]["containers"][0]["image"], "shop/api:v1");
}

}  // namespace
}  // namespace kubemend::e2e
