// GitOps mode through the whole pipeline: an OOM-killed Deployment that Argo
// CD manages (its tracking label) on kube-sim. The fix must not be a live
// patch (Argo CD would revert it) but a pull request raising the memory in
// the repository that holds the manifest: a bare Git repository on disk,
// behind the fake forge (e2e/fake-forge) answering like GitHub. The test then
// plays the reviewer (merge) and Argo CD (kubectl apply of the merged file),
// and the incident must close as fixed by the action.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>
#include <sstream>

#include "fake_forge.h"
#include "kubemend/common/ids.h"
#include "sim_cluster.h"
#include "stack.h"

namespace kubemend::e2e {
namespace {

namespace fs = std::filesystem;

constexpr char kToken[] = "ghp_e2eT0kenNeverLogged";
constexpr char kRepo[] = "acme/deploy";

// The manifest as the team keeps it in Git (comments, quoting, block style);
// kube-sim is seeded with the same objects, as Argo CD would have synced them.
constexpr char kManifest[] = R"(# Shop workloads, synced by Argo CD (application "shop").
apiVersion: apps/v1
kind: Deployment
metadata:
  name: oom
  namespace: shop
  labels:
    app: oom
    argocd.argoproj.io/instance: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: oom
  template:
    metadata:
      labels:
        app: oom
    spec:
      containers:
        - name: app
          image: "shop/oom:v1"
          resources:
            limits:
              memory: 256Mi  # sized for the 2025 catalogue
            requests:
              memory: 128Mi
)";

std::string Git(const std::vector<std::string>& args) {
  bool ok = false;
  std::string out = fake::RunGit(args, &ok);
  EXPECT_TRUE(ok) << "git " << args[0] << ": " << out;
  return out;
}

class GitOpsE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kubemend-gitops-e2e-" + NewUuid().substr(0, 8));
    fs::create_directories(dir_);
    bare_ = (dir_ / "deploy.git").string();
    Git({"init", "--quiet", "--bare", "-b", "main", bare_});
    std::string work = (dir_ / "seed").string();
    Git({"clone", "--quiet", bare_, work});
    fs::create_directories(work + "/apps/shop");
    std::ofstream(work + "/apps/shop/oom.yaml") << kManifest;
    Git({"-C", work, "checkout", "--quiet", "-b", "main"});
    Git({"-C", work, "add", "."});
    Git({"-C", work, "-c", "user.name=team", "-c", "user.email=team@example.com", "commit", "--quiet", "-m",
         "shop workloads"});
    Git({"-C", work, "push", "--quiet", "origin", "main"});

    forge_ = std::make_unique<fake::FakeForge>(std::map<std::string, std::string>{{kRepo, bare_}}, kToken);
    ASSERT_GT(forge_->Start(), 0);
    std::ofstream(dir_ / "token") << kToken << "\n";

    ASSERT_EQ(sim_.Start((dir_ / "sim").string(),
                         std::string("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n") + kManifest),
              "");
    // GitOps mode for Argo CD's objects (executor.gitops.mode: auto, the default).
    setenv("KUBEMEND_EXECUTOR_GITOPS_REPOS",
           ("[{scope: \"\", url: \"file://" + bare_ + "\", forge_repo: " + kRepo + ", base: main, path: apps}]").c_str(),
           1);
    setenv("KUBEMEND_EXECUTOR_GITOPS_API_URL", forge_->base_url().c_str(), 1);
    setenv("KUBEMEND_EXECUTOR_GITOPS_TOKEN_FILE", (dir_ / "token").c_str(), 1);
    setenv("KUBEMEND_EXECUTOR_GITOPS_CACHE_DIR", (dir_ / "cache").c_str(), 1);
    setenv("KUBEMEND_EXECUTOR_GITOPS_CONSOLE_URL", "http://127.0.0.1:8081", 1);
    setenv("KUBEMEND_EXECUTOR_GITOPS_POLL_INTERVAL", "500ms", 1);
    setenv("KUBEMEND_EXECUTOR_VERIFY_STABLE_FOR", "2s", 1);
    setenv("KUBEMEND_EXECUTOR_VERIFY_TIMEOUT", "30s", 1);
    setenv("KUBEMEND_EXECUTOR_VERIFY_POLL_INTERVAL", "200ms", 1);
    ASSERT_EQ(stack_.Up("--kubeconfig " + sim_.kubeconfig()), "");
  }
  void TearDown() override {
    stack_.Down();
    sim_.Stop();
    forge_->Stop();
    for (const char* k : {"KUBEMEND_EXECUTOR_GITOPS_REPOS", "KUBEMEND_EXECUTOR_GITOPS_API_URL",
                          "KUBEMEND_EXECUTOR_GITOPS_TOKEN_FILE", "KUBEMEND_EXECUTOR_GITOPS_CACHE_DIR"}) {
      unsetenv(k);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // status -> payload of every outcome about `name`, oldest first.
  std::vector<std::pair<std::string, json>> Outcomes(const std::string& name) {
    pqxx::connection c(stack_.dsn());
    pqxx::work w(c);
    std::vector<std::pair<std::string, json>> out;
    for (const auto& r : w.exec_params("SELECT outcome_status, payload_json::text FROM audit_events WHERE "
                                       "event_type = 'outcome' AND target_name = $1 ORDER BY seq",
                                       name)) {
      out.emplace_back(r[0].as<std::string>(), json::parse(r[1].as<std::string>()));
    }
    return out;
  }
  std::optional<json> Outcome(const std::string& name, const std::string& status) {
    for (const auto& [s, p] : Outcomes(name)) {
      if (s == status) {
        return p;
      }
    }
    return std::nullopt;
  }
  std::string Trail(const std::string& name) {
    std::string s;
    for (const auto& [st, p] : Outcomes(name)) {
      s += st + ": " + p.dump() + "\n";
    }
    return s;
  }
  std::string Memory() {
    json d = sim_.Deployment("oom");
    return d.is_object() ? d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].value("memory", "")
                         : "";
  }

  fs::path dir_;
  std::string bare_;
  std::unique_ptr<fake::FakeForge> forge_;
  Sim sim_;
  Stack stack_;
};

TEST_F(GitOpsE2ETest, OomKilledArgoManagedDeploymentIsFixedByAMergedPullRequest) {
  sim_.ns_ = "shop";
  ASSERT_EQ(sim_.Post("/sim/v1/faults/memory", {{"namespace", "shop"}, {"workload", "deployment/oom"}, {"bytes", "300Mi"}}),
            200);
  std::string pod;
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& p : sim_.Pods("oom")) {
          if (Restarts(p) > 0) {
            pod = p["metadata"]["name"];
            return true;
          }
        }
        return false;
      },
      seconds(20)))
      << "the fault never OOM-killed a pod";
  auto [code, body] = Post(stack_.CollectorUrl(), "/api/v1/alerts",
                           AlertBody("KubePodOOMKilled",
                                     {{"namespace", "shop"}, {"pod", pod}, {"deployment", "oom"}, {"container", "app"}},
                                     "fp-gitops-oom"));
  ASSERT_EQ(code, 200) << body;

  // 1. A pull request, not a live patch.
  ASSERT_TRUE(Eventually([&] { return Outcome("oom", "pending_merge").has_value(); }, seconds(60))) << Trail("oom");
  json pending = *Outcome("oom", "pending_merge");
  const json& pr = pending["outcome"]["pull_request"];
  EXPECT_EQ(pr.value("repository", ""), kRepo);
  EXPECT_EQ(pr.value("file", ""), "apps/shop/oom.yaml");
  EXPECT_EQ(Memory(), "256Mi") << "GitOps mode must not patch the live object";
  auto pulls = forge_->Pulls(kRepo);
  ASSERT_EQ(pulls.size(), 1u);
  EXPECT_EQ(pulls[0].head, pr.value("branch", ""));
  std::string branch_file = Git({"--git-dir=" + bare_, "show", pulls[0].head + ":apps/shop/oom.yaml"});
  std::string expected = kManifest;
  expected.replace(expected.find("memory: 256Mi  #"), 13, "memory: 384Mi");
  expected.replace(expected.find("memory: 128Mi"), 13, "memory: 192Mi");
  EXPECT_EQ(branch_file, expected) << "only the two memory values may change";
  EXPECT_NE(pulls[0].body.find("managed by Argo CD (label argocd.argoproj.io/instance=shop)"), std::string::npos)
      << pulls[0].body;
  EXPECT_NE(pulls[0].body.find("http://127.0.0.1:8081/#/incident/" + pending.value("incident_id", "")),
            std::string::npos)
      << pulls[0].body;
  for (const auto& c : forge_->Calls()) {
    EXPECT_TRUE(c.authorized) << c.method << " " << c.path;
  }
  std::cout << "---- pull request #" << pulls[0].number << ": " << pulls[0].title << "\n" << pulls[0].body << "\n";

  // 2. The reviewer merges; Argo CD applies the merged file.
  ASSERT_EQ(forge_->Merge(kRepo, pulls[0].number), "");
  std::string merged = (dir_ / "merged.yaml").string();
  std::ofstream(merged) << Git({"--git-dir=" + bare_, "show", "main:apps/shop/oom.yaml"});
  auto applied = RunShell("kubectl --kubeconfig " + sim_.kubeconfig() + " --cache-dir " + (dir_ / "kcache").string() +
                          " apply -f " + merged + " 2>&1");
  ASSERT_TRUE(applied.has_value()) << "kubectl apply failed";
  std::cout << "---- kubectl apply -f merged.yaml\n" << *applied;
  EXPECT_EQ(Memory(), "384Mi");

  // 3. kubemend sees the merged change live, verifies it, and the incident closes as fixed.
  ASSERT_TRUE(Eventually([&] { return Outcome("oom", "succeeded").has_value(); }, seconds(90))) << Trail("oom");
  json done = *Outcome("oom", "succeeded");
  EXPECT_EQ(done["outcome"].value("action_id", ""), pending["outcome"].value("action_id", ""));
  EXPECT_TRUE(done["outcome"]["verification"].value("healthy", false));
  std::string incident = pending.value("incident_id", "");
  std::string closed_as;
  ASSERT_TRUE(Eventually(
      [&] {
        pqxx::connection c(stack_.dsn());
        pqxx::work w(c);
        auto r = w.exec_params("SELECT closed_as, status FROM incidents WHERE incident_id = $1", incident);
        closed_as = r.empty() ? "" : r[0][0].as<std::string>() + "/" + r[0][1].as<std::string>();
        return closed_as == "fixed_by_action/resolved";
      },
      seconds(30)))
      << "incident " << incident << ": " << closed_as << "\n"
      << Trail("oom");
  EXPECT_EQ(forge_->Pulls(kRepo).size(), 1u) << "one pull request for one action";
  std::cout << "---- outcomes\n" << Trail("oom");
  // The token reached the forge and git, and nothing else.
  for (const std::string svc : {"executor", "analyzer", "collector", "safety-gate", "audit"}) {
    std::ifstream in(stack_.run_dir() + "/logs/" + svc + ".log");
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(ss.str().find(kToken), std::string::npos) << svc << " logged the forge token";
  }
}

}  // namespace
}  // namespace kubemend::e2e
