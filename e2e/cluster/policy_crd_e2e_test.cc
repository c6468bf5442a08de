// Policies as custom resources on the real control plane `./kubemend test`
// starts (e2e/cluster): deploy/k8s/base applied as shipped (the CRDs, the
// analyzer's ClusterRole), a stack whose analyzer uses its own ServiceAccount
// token, and the real kubectl.
//   - a valid HealingPolicy becomes Accepted=True; an alert it names becomes
//     a proposal citing it; its status counts the remediation, with the time
//     and the outcome;
//   - invalid ones are refused by the API server, which names the field;
//   - what the schema cannot see (a parameter out of bounds, another
//     tenant's namespace) comes back as Accepted=False with the parser's
//     message, and the last good version stays in force;
//   - deleting it removes the policy (a PolicyChange "removed" in the trail).
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <pqxx/pqxx>

#include "kubemend/common/ids.h"
#include "real_cluster.h"
#include "stack.h"

namespace kubemend::e2e {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

struct Ran {
  int code = -1;
  std::string out;  // stdout and stderr
};

Ran Shell(const std::string& cmd) {
  Ran r;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) {
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    r.out.append(buf, n);
  }
  int st = pclose(f);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string QueryString(const std::string& dsn, const std::string& query) {
  pqxx::connection c(dsn);
  pqxx::work w(c);
  auto r = w.exec(query);
  return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
}

bool WaitUntil(const std::function<bool()>& pred, seconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return pred();
}

class PolicyCrdE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(RealClusterMissing(), "");
    dir_ = fs::temp_directory_path() / ("kubemend-policy-crd-" + NewUuid().substr(0, 8));
    fs::create_directories(dir_);
    kubectl_ = AdminKubectl() + " --cache-dir " + (dir_ / "cache").string();
    ASSERT_EQ(ApplyKubemendIdentities(dir_.string()), "");
    for (const char* crd : {"healingpolicies", "anomalyactions", "healthchecks", "sloviolations", "budgetguards",
                            "costalerts", "predictivescales"}) {
      Ran w = K(std::string("wait --for condition=Established --timeout 60s crd/") + crd + ".kubemend.io");
      ASSERT_EQ(w.code, 0) << w.out;
    }
    ns_ = "hp-e2e-" + NewUuid().substr(0, 8);
    ASSERT_EQ(K("create namespace " + ns_).code, 0);
    const std::string collector = ServiceAccountKubeconfig(dir_.string(), "collector");
    const std::string analyzer = ServiceAccountKubeconfig(dir_.string(), "analyzer");
    const std::string executor = ServiceAccountKubeconfig(dir_.string(), "executor");
    ASSERT_FALSE(collector.empty() || analyzer.empty() || executor.empty()) << "kubectl create token failed";
    stack_args_ = "--kubeconfig " + collector + " --service-kubeconfig analyzer=" + analyzer +
                  " --service-kubeconfig executor=" + executor;
  }
  // The analyzer (and the rest of the pipeline), each service with its own token.
  void StartStack() {
    // Status writes every second here (5 s by default): the test waits less.
    setenv("KUBEMEND_ANALYZER_KUBERNETES_STATUS_INTERVAL", "1s", 1);
    std::string err = stack_.Up(stack_args_);
    unsetenv("KUBEMEND_ANALYZER_KUBERNETES_STATUS_INTERVAL");
    ASSERT_EQ(err, "");
  }
  void TearDown() override {
    if (!ns_.empty()) {
      (void)K("delete namespace " + ns_ + " --wait=false");
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Ran K(const std::string& args) const { return Shell(kubectl_ + " " + args); }
  // kubectl apply of `yaml` (namespace filled in).
  Ran Apply(const std::string& name, const std::string& yaml) const {
    const fs::path f = dir_ / (name + ".yaml");
    std::ofstream(f) << yaml;
    return K("apply -n " + ns_ + " -f " + f.string());
  }
  std::string Field(const std::string& what, const std::string& jsonpath) const {
    Ran r = K("get " + what + " -n " + ns_ + " -o jsonpath='" + jsonpath + "'");
    return r.code == 0 ? r.out : "";
  }
  std::string Condition(const std::string& what, const std::string& type, const std::string& field) const {
    return Field(what, "{.status.conditions[?(@.type==\"" + type + "\")]." + field + "}");
  }
  std::string AnalyzerLog() const {
    std::ifstream in(stack_.run_dir() + "/logs/analyzer.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
  std::string kubectl_, ns_, stack_args_;
  Stack stack_;
};

std::string Policy(const std::string& name, const std::string& spec) {
  return "apiVersion: kubemend.io/v1alpha1\nkind: HealingPolicy\nmetadata:\n  name: " + name + "\nspec:\n" + spec;
}

TEST_F(PolicyCrdE2eTest, AppliedPolicyIsAcceptedUsedCountedAndRemovedOnDelete) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  const std::string alert = "KubemendPolicyProbe" + NewUuid().substr(0, 6);
  const std::string hp = "healingpolicy/restart-probe";
  const auto t_apply = std::chrono::steady_clock::now();
  Ran a = Apply("valid", Policy("restart-probe", "  mode: automatic\n  triggers:\n    - alert: {name: " + alert +
                                                     "}\n  actions:\n    - type: RestartPod\n"));
  ASSERT_EQ(a.code, 0) << a.out;
  ASSERT_TRUE(WaitUntil([&] { return Condition(hp, "Accepted", "status") == "True"; }, seconds(30)))
      << K("get " + hp + " -n " + ns_ + " -o yaml").out << AnalyzerLog();
  std::printf("Accepted=True %.1f s after kubectl apply (poll 2 s, status interval 1 s)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t_apply).count());
  EXPECT_EQ(Condition(hp, "Ready", "status"), "True");
  EXPECT_EQ(Field(hp, "{.status.observedGeneration}"), Field(hp, "{.metadata.generation}"));
  EXPECT_EQ(Condition(hp, "Accepted", "observedGeneration"), Field(hp, "{.metadata.generation}"));
  std::printf("%s", K("get healingpolicies -n " + ns_).out.c_str());

  // A signal it names: a proposal citing it.
  const auto t_alert = std::chrono::steady_clock::now();
  auto [code, body] = Post(stack_.CollectorUrl(), "/api/v1/alerts",
                           AlertBody(alert, {{"namespace", ns_}, {"pod", "web-1"}}, "fp-" + alert));
  ASSERT_EQ(code, 200) << body;
  const std::string source = "kube:HealingPolicy/" + ns_ + "/restart-probe#0";
  ASSERT_TRUE(WaitForCount(stack_.dsn(),
                           "SELECT count(*) FROM audit_events WHERE event_type='proposal' AND "
                           "payload_json->'proposal'->'policy'->>'source' = '" + source +
                               "' AND payload_json->'proposal'->'policy'->>'name' = '" + ns_ + "/restart-probe'",
                           [](long v) { return v >= 1; }, seconds(60)))
      << AnalyzerLog();
  // The status counts it, with when, and learns how it ended.
  ASSERT_TRUE(WaitUntil([&] { return Field(hp, "{.status.remediationCount}") == "1"; }, seconds(30)))
      << K("get " + hp + " -n " + ns_ + " -o yaml").out;
  std::printf("remediationCount=1 %.1f s after the alert was posted\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t_alert).count());
  EXPECT_FALSE(Field(hp, "{.status.lastTriggered}").empty());
  // How it ended, by the trail: the executor's outcome, or the gate's verdict when it stopped there.
  const std::string proposal = QueryString(
      stack_.dsn(), "SELECT event_id::text FROM audit_events WHERE event_type='proposal' AND "
                    "payload_json->'proposal'->'policy'->>'source' = '" + source + "' ORDER BY seq LIMIT 1");
  ASSERT_FALSE(proposal.empty());
  std::string ended;
  ASSERT_TRUE(WaitUntil(
      [&] {
        ended = QueryString(stack_.dsn(), "SELECT outcome_status FROM audit_events WHERE event_type='outcome' AND "
                                          "payload_json->'outcome'->>'proposal_id' = '" + proposal + "'");
        if (ended.empty()) {
          std::string verdict = QueryString(
              stack_.dsn(), "SELECT verdict FROM audit_events WHERE event_type='decision' AND "
                            "payload_json->'decision'->>'proposal_id' = '" + proposal + "'");
          ended = verdict == "approved" ? "" : verdict;  // approved: an outcome follows
        }
        return !ended.empty();
      },
      seconds(60)))
      << "no outcome and no refusal for proposal " << proposal;
  std::string camel;  // dry_run -> DryRun, awaiting_approval -> AwaitingApproval
  for (size_t i = 0; i < ended.size(); ++i) {
    if (ended[i] != '_') {
      camel += (i == 0 || ended[i - 1] == '_') ? static_cast<char>(std::toupper(ended[i])) : ended[i];
    }
  }
  ASSERT_TRUE(WaitUntil([&] { return Field(hp, "{.status.lastOutcome}") == camel; }, seconds(30)))
      << "trail says " << ended << ", status says " << Field(hp, "{.status.lastOutcome}");
  std::printf("%s", K("get healingpolicies -n " + ns_).out.c_str());

  // Deleted: the analyzer drops it (a PolicyChange "removed" in the trail).
  ASSERT_EQ(K("delete " + hp + " -n " + ns_).code, 0);
  EXPECT_TRUE(WaitForCount(stack_.dsn(),
                           "SELECT count(*) FROM audit_events WHERE event_type='control' AND "
                           "payload_json->'control'->'policy_change'->>'change' = 'removed' AND "
                           "payload_json->'control'->'policy_change'->'policy'->>'name' = '" + ns_ +
                               "/restart-probe'",
                           [](long v) { return v >= 1; }, seconds(30)))
      << AnalyzerLog();
  // Nothing was refused to the analyzer's own token.
  EXPECT_EQ(AnalyzerLog().find("Forbidden"), std::string::npos) << AnalyzerLog();
  EXPECT_EQ(AnalyzerLog().find("policy status not written"), std::string::npos) << AnalyzerLog();
}

TEST_F(PolicyCrdE2eTest, TheApiServerRefusesShapeErrorsAndNamesTheField) {
  struct Bad {
    std::string name, spec, field;
  };
  const std::vector<Bad> bad = {
      {"list-as-string", "  triggers: alert\n  actions: [{type: RestartPod}]\n", "spec.triggers"},
      {"unknown-action", "  triggers: [{alert: {name: X}}]\n  actions: [{type: Reboot}]\n",
       "spec.actions[0].type"},
      {"negative-threshold",
       "  triggers: [{metric: {name: mem, operator: '>', threshold: -5}}]\n  actions: [{type: RestartPod}]\n",
       "spec.triggers[0].metric.threshold"},
  };
  for (const auto& b : bad) {
    Ran r = Apply(b.name, Policy(b.name, b.spec));
    EXPECT_NE(r.code, 0) << b.name << " was accepted";
    EXPECT_NE(r.out.find(b.field), std::string::npos) << b.name << ": " << r.out;
    std::printf("%s: %s", b.name.c_str(), r.out.c_str());
    EXPECT_NE(K("get healingpolicy " + b.name + " -n " + ns_).code, 0) << b.name << " was stored";
  }
  // A seed kind under our group: the same.
  Ran r = Apply("aa", "apiVersion: kubemend.io/v1alpha1\nkind: AnomalyAction\nmetadata: {name: aa}\nspec:\n"
                      "  metric: mem\n  threshold: '> -1Gi'\n  remediation: {type: restart}\n");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("spec.threshold"), std::string::npos) << r.out;
}

TEST_F(PolicyCrdE2eTest, WhatTheSchemaCannotSeeIsReportedInTheAcceptedCondition) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  const std::string hp = "healingpolicy/scale-web";
  Ran a = Apply("scale", Policy("scale-web", "  triggers: [{alert: {name: HighLatency}}]\n"
                                             "  actions: [{type: ScaleWorkload, params: {percent: '50'}}]\n"));
  ASSERT_EQ(a.code, 0) << a.out;
  ASSERT_TRUE(WaitUntil([&] { return Condition(hp, "Accepted", "status") == "True"; }, seconds(30)))
      << AnalyzerLog();
  const std::string good_version = Field(hp, "{.status.version}");
  EXPECT_FALSE(good_version.empty());
  // 900 % is a string the schema lets through; the catalogue's bound is not.
  a = Apply("scale", Policy("scale-web", "  triggers: [{alert: {name: HighLatency}}]\n"
                                         "  actions: [{type: ScaleWorkload, params: {percent: '900'}}]\n"));
  ASSERT_EQ(a.code, 0) << a.out;
  const std::string generation = Field(hp, "{.metadata.generation}");
  ASSERT_TRUE(WaitUntil([&] { return Condition(hp, "Accepted", "observedGeneration") == generation; }, seconds(30)))
      << K("get " + hp + " -n " + ns_ + " -o yaml").out;
  EXPECT_EQ(Condition(hp, "Accepted", "status"), "False");
  EXPECT_EQ(Condition(hp, "Accepted", "reason"), "Invalid");
  const std::string msg = Condition(hp, "Accepted", "message");
  EXPECT_NE(msg.find("spec.actions[0].params.percent"), std::string::npos) << msg;
  // The last good version stays in force.
  EXPECT_EQ(Condition(hp, "Ready", "status"), "True");
  EXPECT_EQ(Field(hp, "{.status.version}"), good_version);
  std::printf("%s", K("get healingpolicies -n " + ns_ + " -o wide").out.c_str());

  // Another tenant's namespace: a namespaced policy may not reach it.
  a = Apply("reach", Policy("reach-out", "  selector: {namespaces: [kube-system]}\n"
                                         "  triggers: [{alert: {name: X}}]\n  actions: [{type: RestartPod}]\n"));
  ASSERT_EQ(a.code, 0) << a.out;
  ASSERT_TRUE(WaitUntil([&] { return Condition("healingpolicy/reach-out", "Accepted", "status") == "False"; },
                        seconds(30)));
  EXPECT_NE(Condition("healingpolicy/reach-out", "Accepted", "message").find("may only act in " + ns_),
            std::string::npos);
  EXPECT_EQ(Condition("healingpolicy/reach-out", "Ready", "status"), "False");
}

}  // namespace
}  // namespace kubemend::e2e
