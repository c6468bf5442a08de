// Remediations you can kubectl get, answered from Kubernetes, on the real
// control plane (e2e/cluster) with each service running as its own
// ServiceAccount (deploy/k8s/base's RBAC) and people as client certificates
// signed by the cluster CA:
//   an alert -> a RolloutRestart that needs approval -> a HealingAction
//   Pending in `kubectl get healingactions -A`;
//   bob (no RBAC) runs `kubectl kubemend approve` -> Forbidden (exit 3);
//   carol (may update) writes alice's name -> refused by the admission policy;
//   alice (kubemend-approver) runs `kubectl kubemend approve` -> the gate
//   accepts, the executor restarts the Deployment, the HealingAction ends
//   Succeeded, the trail's approver is kubernetes:alice, and
//   `kubectl describe deployment` shows the Remediation* Events.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "kubemend/common/ids.h"
#include "real_cluster.h"
#include "stack.h"

namespace kubemend::e2e {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

std::string Env(const char* k) {
  const char* v = std::getenv(k);
  return v == nullptr ? "" : v;
}

bool Eventually(const std::function<bool()>& pred, seconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return pred();
}

// Runs a command; exit code and combined output.
std::pair<int, std::string> Sh(const std::string& cmd) {
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) {
    return {-1, ""};
  }
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    out.append(buf, n);
  }
  int st = pclose(f);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

class HealingActionE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = RealClusterMissing(); !missing.empty()) {
      FAIL() << missing;
    }
    dir_ = std::filesystem::temp_directory_path() / ("kubemend-ha-e2e-" + NewUuid().substr(0, 8));
    std::filesystem::create_directories(dir_);
    ns_ = "ha-" + NewUuid().substr(0, 8);
    ASSERT_EQ(ApplyKubemendIdentities(dir_), "");
    ASSERT_TRUE(RunShell(AdminKubectl() + " create namespace " + ns_ + " >/dev/null"));
    ASSERT_TRUE(RunShell(AdminKubectl() + " -n " + ns_ + " create deployment web --image=nginx:1.27 --replicas=2 >/dev/null"));
    ASSERT_TRUE(Eventually([&] { return Jsonpath("deployment/web", "{.status.readyReplicas}") == "2"; }, seconds(60)))
        << "Deployment web never became ready";
    // People: client certificates signed by the cluster's CA, as an organisation's
    // identity provider would vouch for them. alice may answer remediations
    // (kubemend-approver), carol may too, bob may not.
    for (const char* who : {"alice", "bob", "carol"}) {
      ASSERT_NE(UserKubeconfig(who), "") << "no client certificate for " << who;
    }
    for (const char* who : {"alice", "carol"}) {
      ASSERT_TRUE(RunShell(AdminKubectl() + " -n " + ns_ + " create rolebinding approver-" + who +
                           " --clusterrole kubemend-approver --user " + who + " >/dev/null"));
    }
    std::string executor = ServiceAccountKubeconfig(dir_, "executor");
    std::string gate = ServiceAccountKubeconfig(dir_, "safety-gate");
    std::string analyzer = ServiceAccountKubeconfig(dir_, "analyzer");
    std::string collector = ServiceAccountKubeconfig(dir_, "collector");
    ASSERT_FALSE(executor.empty() || gate.empty() || analyzer.empty() || collector.empty())
        << "could not mint ServiceAccount tokens";
    setenv("KUBEMEND_KUBERNETES_PODS", "false", 1);
    setenv("KUBEMEND_KUBERNETES_NODES", "false", 1);
    setenv("KUBEMEND_KUBERNETES_EVENTS", "false", 1);
    setenv("KUBEMEND_ANALYZER_POLICY_PATHS",
           (Env("KUBEMEND_ROOT") + "/e2e/cluster/healingaction/approval-policy.yaml").c_str(), 1);
    setenv("KUBEMEND_EXECUTOR_VERIFY_STABLE_FOR", "2s", 1);
    setenv("KUBEMEND_EXECUTOR_VERIFY_POLL_INTERVAL", "200ms", 1);
    std::string err = stack_.Up("--kubeconfig " + collector + " --service-kubeconfig analyzer=" + analyzer +
                                " --service-kubeconfig executor=" + executor +
                                " --service-kubeconfig safety-gate=" + gate);
    ASSERT_EQ(err, "") << err;
  }
  void TearDown() override {
    stack_.Down();
    RunShell(AdminKubectl() + " delete namespace " + ns_ + " --wait=false >/dev/null 2>&1");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string Jsonpath(const std::string& obj, const std::string& path) {
    auto out = RunShell(AdminKubectl() + " -n " + ns_ + " get " + obj + " -o jsonpath='" + path + "' 2>/dev/null");
    return out ? *out : "";
  }

  // A kubeconfig for user `who`: EC key + certificate (CN=who) signed by the cluster CA.
  std::string UserKubeconfig(const std::string& who) {
    const std::string pki = Env("KUBEMEND_TEST_K8S_DIR") + "/pki";
    const std::string key = dir_ + "/" + who + ".key", crt = dir_ + "/" + who + ".crt";
    if (!RunShell("openssl ecparam -name prime256v1 -genkey -noout -out " + key + " 2>/dev/null && openssl req -new -key " +
                  key + " -subj /CN=" + who + " 2>/dev/null | openssl x509 -req -CA " + pki + "/ca.crt -CAkey " + pki +
                  "/ca.key -CAcreateserial -days 1 -out " + crt + " 2>/dev/null")) {
      return "";
    }
    auto server = RunShell(AdminKubectl() + " config view --minify -o jsonpath='{.clusters[0].cluster.server}'");
    if (!server) {
      return "";
    }
    const std::string path = dir_ + "/kubeconfig." + who;
    std::ofstream(path) << "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"" << *server
                        << "\", certificate-authority: \"" << pki << "/ca.crt\"}\nusers:\n- name: " << who
                        << "\n  user: {client-certificate: \"" << crt << "\", client-key: \"" << key
                        << "\"}\ncontexts:\n- name: c\n  context: {cluster: c, user: " << who
                        << "}\ncurrent-context: c\n";
    return path;
  }
  // kubectl / the plugin as `who`: the kubectl that ./kubemend test built, on PATH for the plugin.
  std::string As(const std::string& who) {
    std::filesystem::path kubectl = Env("KUBEMEND_TEST_KUBECTL");
    return "PATH=" + kubectl.parent_path().string() + ":" + std::filesystem::path(KUBECTL_KUBEMEND_BIN).parent_path().string() +
           ":$PATH KUBECONFIG=" + dir_ + "/kubeconfig." + who + " ";
  }

  std::string AlertBodyFor() {
    json body = {{"receiver", "kubemend"},
                 {"status", "firing"},
                 {"alerts",
                  json::array({{{"status", "firing"},
                                {"labels",
                                 {{"alertname", "KubemendE2EWorkloadStuck"},
                                  {"namespace", ns_},
                                  {"deployment", "web"},
                                  {"severity", "warning"}}},
                                {"annotations", {{"summary", "web is stuck"}}},
                                {"startsAt", "2026-12-06T09:00:00.000Z"},
                                {"endsAt", "0001-01-01T00:00:00Z"},
                                {"generatorURL", "http://prometheus:9090/graph"},
                                {"fingerprint", NewUuid().substr(0, 16)}}})},
                 {"groupLabels", {{"alertname", "KubemendE2EWorkloadStuck"}}},
                 {"commonLabels", {{"alertname", "KubemendE2EWorkloadStuck"}}},
                 {"commonAnnotations", json::object()},
                 {"externalURL", "http://alertmanager:9093"},
                 {"version", "4"},
                 {"groupKey", "{}:{alertname=\"KubemendE2EWorkloadStuck\"}"},
                 {"truncatedAlerts", 0}};
    return body.dump();
  }

  std::string dir_;
  std::string ns_;
  Stack stack_;
};

TEST_F(HealingActionE2ETest, ApprovedFromKubernetesByAPermittedUserOnly) {
  auto [code, body] = Post(stack_.CollectorUrl(), "/api/v1/alerts", AlertBodyFor());
  ASSERT_EQ(code, 200) << body;

  // The proposal waits for a human, and Kubernetes shows it.
  std::string name;
  ASSERT_TRUE(Eventually(
      [&] {
        name = Jsonpath("healingactions", "{.items[?(@.status.phase==\"Pending\")].metadata.name}");
        return !name.empty();
      },
      seconds(90)))
      << "no Pending HealingAction in " << ns_ << ": " << Sh(AdminKubectl() + " get healingactions -A -o yaml").second;
  auto [gc, listing] = Sh(AdminKubectl() + " get healingactions -A");
  ASSERT_EQ(gc, 0) << listing;
  std::cout << "$ kubectl get healingactions -A\n" << listing;
  EXPECT_NE(listing.find(name), std::string::npos);
  EXPECT_NE(listing.find("Pending"), std::string::npos);
  EXPECT_NE(listing.find("RolloutRestart"), std::string::npos);
  EXPECT_NE(listing.find("Deployment/" + ns_ + "/web"), std::string::npos);

  // bob: no RBAC on healingactions -> Forbidden, exit 3.
  auto [bc, bout] = Sh(As("bob") + KUBECTL_KUBEMEND_BIN " approve " + name.substr(0, 8) + " -n " + ns_);
  std::cout << "$ kubectl kubemend approve " << name.substr(0, 8) << " -n " << ns_ << "   # as bob\n" << bout;
  EXPECT_EQ(bc, 3) << bout;
  EXPECT_NE(bout.find("forbidden"), std::string::npos) << bout;
  // carol: may update, but signs with alice's name -> the admission policy refuses.
  auto [cc, cout_] = Sh(As("carol") + Env("KUBEMEND_TEST_KUBECTL") + " -n " + ns_ + " patch healingaction " + name +
                         " --type merge -p '{\"spec\":{\"approval\":{\"decision\":\"approve\",\"user\":\"alice\"}}}'");
  std::cout << "$ kubectl patch healingaction " << name << " ... user alice   # as carol\n" << cout_;
  EXPECT_NE(cc, 0) << cout_;
  EXPECT_NE(cout_.find("spec.approval.user must be the requesting user carol"), std::string::npos) << cout_;
  EXPECT_EQ(Jsonpath("healingaction/" + name, "{.status.phase}"), "Pending");

  // alice: kubemend-approver -> accepted by the gate, applied.
  auto [ac, aout] = Sh(As("alice") + KUBECTL_KUBEMEND_BIN " approve " + name.substr(0, 8) + " -n " + ns_ +
                        " --reason 'restart is safe now' --wait 60s");
  std::cout << "$ kubectl kubemend approve " << name.substr(0, 8) << " -n " << ns_
            << " --reason 'restart is safe now'   # as alice\n"
            << aout;
  ASSERT_EQ(ac, 0) << aout;
  EXPECT_NE(aout.find("Accepted: approved by kubernetes:alice"), std::string::npos) << aout;
  ASSERT_TRUE(Eventually([&] { return Jsonpath("healingaction/" + name, "{.status.phase}") == "Succeeded"; },
                         seconds(120)))
      << Sh(AdminKubectl() + " -n " + ns_ + " get healingaction " + name + " -o yaml").second;
  EXPECT_EQ(Jsonpath("healingaction/" + name, "{.status.approver}"), "kubernetes:alice");
  EXPECT_NE(Jsonpath("deployment/web", "{.spec.template.metadata.annotations}").find("restartedAt"), std::string::npos);
  std::cout << "$ kubectl get healingactions -n " << ns_ << " -o wide\n"
            << Sh(AdminKubectl() + " -n " + ns_ + " get healingactions -o wide").second;

  // The trail (the source of truth) names alice, as Kubernetes authenticated her.
  pqxx::connection c(stack_.dsn());
  pqxx::work w(c);
  auto approver = w.exec1("SELECT coalesce(string_agg(payload_json->'decision'->>'approver', ','), '') FROM audit_events "
                          "WHERE event_type = 'decision' AND payload_json->'decision'->>'rule' = 'human-approval' AND "
                          "target_namespace = " + w.quote(ns_))[0]
                      .as<std::string>();
  EXPECT_EQ(approver, "kubernetes:alice");

  // kubectl describe tells the story.
  std::string describe;
  EXPECT_TRUE(Eventually(
      [&] {
        describe = Sh(AdminKubectl() + " -n " + ns_ + " describe deployment web").second;
        return describe.find("RemediationVerified") != std::string::npos;
      },
      seconds(30)))
      << describe;
  for (const char* reason : {"RemediationProposed", "RemediationApproved", "RemediationApplied"}) {
    EXPECT_NE(describe.find(reason), std::string::npos) << reason << " missing:\n" << describe;
  }
  std::cout << "$ kubectl describe deployment web (Events)\n" << describe.substr(describe.find("Events:")) << "\n";

  // The real kubectl finds the plugin and completes it through kubectl_complete-kubemend.
  auto [pc, pout] = Sh(As("alice") + "KUBEMEND_RUN_DIR=" + stack_.run_dir() + " kubectl kubemend status");
  EXPECT_EQ(pc, 0) << pout;
  for (const char* svc : {"collector", "analyzer", "safety-gate", "executor", "audit"}) {
    EXPECT_NE(pout.find(svc), std::string::npos) << pout;
  }
  std::cout << "$ kubectl kubemend status\n" << pout;
  auto [kc, kout] = Sh(As("alice") + "kubectl __complete kubemend ap");
  EXPECT_NE(kout.find("approve\n"), std::string::npos) << kout;
}

// The gate trusts spec.approval.user only while the admission policy that
// checks it is in force. Here the gate is told to require a policy that is
// not installed (as if the cluster had none): alice's answer, though RBAC
// lets her write it, is refused with the reason and nothing is applied.
class HealingActionNoAdmissionPolicyE2ETest : public HealingActionE2ETest {
 protected:
  void SetUp() override {
    setenv("KUBEMEND_GATE_KUBE_APPROVAL_POLICY", "kubemend-policy-not-installed", 1);
    HealingActionE2ETest::SetUp();
  }
  void TearDown() override {
    HealingActionE2ETest::TearDown();
    unsetenv("KUBEMEND_GATE_KUBE_APPROVAL_POLICY");
  }
};

TEST_F(HealingActionNoAdmissionPolicyE2ETest, AnApprovalIsRefusedWhileTheUserNameIsNotChecked) {
  auto [code, body] = Post(stack_.CollectorUrl(), "/api/v1/alerts", AlertBodyFor());
  ASSERT_EQ(code, 200) << body;
  std::string name;
  ASSERT_TRUE(Eventually(
      [&] {
        name = Jsonpath("healingactions", "{.items[?(@.status.phase==\"Pending\")].metadata.name}");
        return !name.empty();
      },
      seconds(90)))
      << "no Pending HealingAction in " << ns_;
  auto [ac, aout] = Sh(As("alice") + KUBECTL_KUBEMEND_BIN " approve " + name.substr(0, 8) + " -n " + ns_ + " --wait 60s");
  std::cout << "$ kubectl kubemend approve " << name.substr(0, 8) << " -n " << ns_
            << "   # as alice, gate requires kubemend-policy-not-installed\n"
            << aout;
  EXPECT_NE(ac, 0) << aout;
  ASSERT_TRUE(Eventually([&] { return Jsonpath("healingaction/" + name, "{.status.approval.state}") == "Refused"; },
                         seconds(60)))
      << Sh(AdminKubectl() + " -n " + ns_ + " get healingaction " + name + " -o yaml").second;
  // The gate could read (RBAC) and found the policy missing: it says which.
  const std::string why = Jsonpath("healingaction/" + name, "{.status.approval.message}");
  EXPECT_NE(why.find("ValidatingAdmissionPolicy kubemend-policy-not-installed is not installed"), std::string::npos)
      << why;
  EXPECT_EQ(Jsonpath("healingaction/" + name, "{.status.phase}"), "Pending");
  EXPECT_EQ(Jsonpath("deployment/web", "{.spec.template.metadata.annotations}").find("restartedAt"), std::string::npos)
      << "nothing may be applied on an unchecked approval";
}

}  // namespace
}  // namespace kubemend::e2e
