// GitOps mode end to end inside the executor: the in-memory cluster plays the
// API server, Debian's git and a bare repository on disk play the Git host,
// and the fake forge (e2e/fake-forge) answers like GitHub's pull request API.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "executor.h"
#include "fake_forge.h"
#include "fixtures.h"
#include "gitops.h"
#include "kubemend/common/ids.h"

namespace kubemend::executor {
namespace {

using namespace testing;
using nlohmann::json;
namespace fs = std::filesystem;

const ProducerIdentity kWho{"executor", "e-1", "0.1.0"};
constexpr char kToken[] = "ghs_s3cretT0ken";
constexpr char kRepo[] = "acme/deploy";

constexpr char kManifest[] = R"(# The shop's web front. Sizes agreed with the shop team, see TICKET-12.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app: web
spec:
  replicas: 2   # two zones
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: app
          image: "shop/web:v2"
          resources:
            limits:
              memory: 256Mi  # raised after INC-7
            requests:
              memory: 128Mi
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  ports:
    - port: 80
)";

std::string Git(const std::vector<std::string>& args) {
  bool ok = false;
  std::string out = fake::RunGit(args, &ok);
  EXPECT_TRUE(ok) << "git failed: " << out;
  return out;
}

TEST(GitOpsChoiceTest, ArgoAndFluxMarksAndConfiguredModes) {
  json argo = {{"metadata", {{"labels", {{"argocd.argoproj.io/instance", "shop"}}}}}};
  json tracked = {{"metadata", {{"annotations", {{"argocd.argoproj.io/tracking-id", "shop:apps/Deployment:shop/web"}}}}}};
  json flux = {{"metadata", {{"labels", {{"kustomize.toolkit.fluxcd.io/name", "apps"}}}}}};
  json helm = {{"metadata", {{"labels", {{"helm.sh/chart", "web-1.2.0"}}}}}};
  json plain = {{"metadata", {{"labels", {{"app", "web"}}}}}};
  EXPECT_EQ(ManagedBy(argo), "Argo CD (label argocd.argoproj.io/instance=shop)");
  EXPECT_EQ(ManagedBy(tracked), "Argo CD (annotation argocd.argoproj.io/tracking-id=shop:apps/Deployment:shop/web)");
  EXPECT_EQ(ManagedBy(flux), "Flux Kustomization (label kustomize.toolkit.fluxcd.io/name=apps)");
  EXPECT_EQ(ManagedBy(plain), "");
  EXPECT_EQ(ChartRendered(helm), "Helm (label helm.sh/chart=web-1.2.0)");
  EXPECT_EQ(ChartRendered(argo), "");

  GitOpsConfig cfg;  // auto
  EXPECT_TRUE(ChooseVia(cfg, v1::APPLY_VIA_UNSPECIFIED, "shop", argo).gitops);
  EXPECT_EQ(ChooseVia(cfg, v1::APPLY_VIA_UNSPECIFIED, "shop", flux).reason,
            "managed by Flux Kustomization (label kustomize.toolkit.fluxcd.io/name=apps)");
  EXPECT_FALSE(ChooseVia(cfg, v1::APPLY_VIA_UNSPECIFIED, "shop", plain).gitops);
  EXPECT_FALSE(ChooseVia(cfg, v1::APPLY_VIA_LIVE, "shop", argo).gitops);   // the policy wins
  EXPECT_TRUE(ChooseVia(cfg, v1::APPLY_VIA_GITOPS, "shop", plain).gitops);
  cfg.namespace_modes["shop"] = "always";
  cfg.namespace_modes["lab"] = "off";
  EXPECT_TRUE(ChooseVia(cfg, v1::APPLY_VIA_UNSPECIFIED, "shop", plain).gitops);
  EXPECT_FALSE(ChooseVia(cfg, v1::APPLY_VIA_UNSPECIFIED, "lab", argo).gitops);
  cfg.mode = "off";
  EXPECT_FALSE(ChooseVia(cfg, v1::APPLY_VIA_UNSPECIFIED, "other", argo).gitops);
}

TEST(GitOpsConfigTest, BadBindingsAreRefusedWithTheirKey) {
  auto repos = ParseGitOpsRepos(YAML::Load(R"([{url: "file:///r.git", forge_repo: acme/deploy, path: "../etc"}])"));
  ASSERT_TRUE(repos.ok()) << repos.status();
  GitOpsConfig cfg;
  cfg.repos = *repos;
  auto st = ValidateGitOpsConfig(cfg);
  EXPECT_NE(st.message().find("executor.gitops.repos[0].path"), std::string::npos) << st;
  cfg.repos[0].path = "apps";
  cfg.repos[0].forge_repo = "deploy";
  EXPECT_NE(ValidateGitOpsConfig(cfg).message().find("forge_repo"), std::string::npos);
  cfg.repos[0].forge_repo = "acme/deploy";
  EXPECT_TRUE(ValidateGitOpsConfig(cfg).ok());
  cfg.mode = "sometimes";
  EXPECT_NE(ValidateGitOpsConfig(cfg).message().find("executor.gitops.mode"), std::string::npos);
  auto unknown = ParseGitOpsRepos(YAML::Load("[{url: x, forge_repo: a/b, branch: main}]"));
  EXPECT_NE(unknown.status().message().find("unknown key branch"), std::string::npos);
}

class GitOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kubemend-gitops-test-" + NewUuid().substr(0, 8));
    fs::create_directories(dir_);
    bare_ = (dir_ / "origin.git").string();
    Git({"init", "--quiet", "--bare", "-b", "main", bare_});
    std::string work = (dir_ / "seed").string();
    Git({"clone", "--quiet", bare_, work});
    fs::create_directories(work + "/apps/shop");
    std::ofstream(work + "/apps/shop/web.yaml") << kManifest;
    std::ofstream(work + "/README.md") << "deploy repo\n";
    Git({"-C", work, "checkout", "--quiet", "-b", "main"});
    Git({"-C", work, "add", "."});
    Git({"-C", work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "seed"});
    Git({"-C", work, "push", "--quiet", "origin", "main"});

    forge_ = std::make_unique<fake::FakeForge>(std::map<std::string, std::string>{{kRepo, bare_}}, kToken);
    ASSERT_GT(forge_->Start(), 0);

    sleep_ = [this](Millis d) {
      clock_.Advance(d);
      if (on_tick_) {
        on_tick_();
      }
    };
    actuator_ = std::make_unique<Actuator>(kube_, nullptr, sleep_, clock_, ActuatorOptions{});
    verifier_ = std::make_unique<Verifier>(kube_, sleep_, clock_, VerifierOptions{Millis(1000), Millis(5000)});
    cfg_.repos = {GitOpsRepo{"", "file://" + bare_, kRepo, "main", "apps", "", "", {}}};
    cfg_.cache_dir = (dir_ / "cache").string();
    cfg_.console_url = "https://kubemend.example";
    cfg_.apply_timeout = Millis(600000);
    SeedWeb(kube_);
    json d = kube_.Object(kube::Deployment("shop", "web"));
    d["metadata"]["labels"]["argocd.argoproj.io/instance"] = "shop";
    kube_.Put(rs::kDeployments, d);
  }
  void TearDown() override {
    forge_->Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Wire() {
    writer_ = std::make_unique<GitOpsWriter>(cfg_, NewProcessGitRunner(kToken, Millis(30000)),
                                             NewGitHubForge(forge_->base_url(), kToken, Millis(5000)));
    actuator_->SetGitOps(writer_.get());
  }
  std::unique_ptr<Executor> Make() {
    auto ex = std::make_unique<Executor>(actuator_.get(), verifier_.get(), clock_, kWho, ExecutorOptions{});
    ex->SetGitOps(writer_.get());
    return ex;
  }
  v1::Event Decision(const std::string& action_id) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_DECISION, {"safety-gate", "g", "0"}, clock_);
    e.set_incident_id("6f1c2a9e-0000-4000-8000-000000000001");
    *e.mutable_target() = PodTarget();
    auto* d = e.mutable_decision();
    d->set_verdict(v1::VERDICT_APPROVED);
    d->set_proposal_id("p-" + action_id);
    d->set_action_id(action_id);
    d->set_rule("all-rules-passed");
    d->set_approver("safety-gate");
    d->mutable_proposal()->set_reason("container app was OOM-killed 3 times in 10m");
    (*d->mutable_proposal()->mutable_facts())["oom_kills"] = "3";
    (*d->mutable_proposal()->mutable_facts())["attempt_key"] = "shop/web|IncreaseMemory";
    d->mutable_proposal()->mutable_policy()->set_name("oom-increase-memory");
    auto* a = d->mutable_proposal()->mutable_action();
    a->set_type(v1::ACTION_TYPE_INCREASE_MEMORY);
    a->mutable_increase_memory()->set_percent(50);
    return e;
  }
  std::string Show(const std::string& rev_path) { return Git({"--git-dir=" + bare_, "show", rev_path}); }
  // What Argo CD does after the merge: the live object takes the file's values.
  void ApplyMerged(const std::string& limit, const std::string& request) {
    json d = kube_.Object(kube::Deployment("shop", "web"));
    auto& res = d["spec"]["template"]["spec"]["containers"][0]["resources"];
    res["limits"]["memory"] = limit;
    res["requests"]["memory"] = request;
    d["metadata"]["generation"] = d["metadata"].value("generation", 1) + 1;
    d["status"]["observedGeneration"] = d["metadata"]["generation"];
    kube_.Put(rs::kDeployments, d);
  }
  std::vector<v1::Event> Poll(Executor& ex) {
    std::vector<v1::Event> out;
    ex.PollPullRequests([&](const v1::Event& e) {
      out.push_back(e);
      return absl::OkStatus();
    });
    return out;
  }

  fs::path dir_;
  std::string bare_;
  std::unique_ptr<fake::FakeForge> forge_;
  FakeKube kube_;
  FakeClock clock_;
  Sleeper sleep_;
  std::function<void()> on_tick_;
  std::unique_ptr<Actuator> actuator_;
  std::unique_ptr<Verifier> verifier_;
  GitOpsConfig cfg_;
  std::unique_ptr<GitOpsWriter> writer_;
};

TEST_F(GitOpsTest, ArgoManagedDeploymentGetsAPullRequestNotALivePatch) {
  Wire();
  auto ex = Make();
  v1::Event d = Decision("act-1");
  auto out = ex->HandleDecision(d);
  ASSERT_EQ(out.size(), 1u);
  const v1::ActionOutcome& o = out[0].outcome();
  ASSERT_EQ(o.status(), v1::OUTCOME_STATUS_PENDING_MERGE) << o.error() << " " << o.verification().detail();
  EXPECT_EQ(kube_.updates(), 0) << "the live object must not be patched";
  EXPECT_EQ(o.pull_request().number(), 1u);
  EXPECT_EQ(o.pull_request().branch(), "kubemend/act-1");
  EXPECT_EQ(o.pull_request().file(), "apps/shop/web.yaml");
  EXPECT_EQ(o.pull_request().repository(), kRepo);
  EXPECT_NE(o.verification().detail().find("managed by Argo CD"), std::string::npos) << o.verification().detail();
  ASSERT_EQ(o.changes_size(), 2);
  EXPECT_EQ(o.changes(0).after(), "384Mi");
  EXPECT_EQ(o.changes(1).after(), "192Mi");

  // The branch holds exactly the two values changed, comments and quotes kept.
  std::string file = Show("kubemend/act-1:apps/shop/web.yaml");
  std::string expected = kManifest;
  expected.replace(expected.find("memory: 256Mi  # raised"), 13, "memory: 384Mi");
  expected.replace(expected.find("memory: 128Mi"), 13, "memory: 192Mi");
  EXPECT_EQ(file, expected);
  EXPECT_EQ(Show("main:apps/shop/web.yaml"), kManifest);  // base untouched until the merge

  // The pull request as a reviewer reads it.
  auto pulls = forge_->Pulls(kRepo);
  ASSERT_EQ(pulls.size(), 1u);
  EXPECT_EQ(pulls[0].base, "main");
  EXPECT_EQ(pulls[0].head, "kubemend/act-1");
  const std::string& body = pulls[0].body;
  for (const char* want : {"**IncreaseMemory** on `Deployment/shop/web`", "OOM-killed 3 times", "| oom_kills | 3 |", "| attempt_key | shop/web\\|IncreaseMemory |",
                           "rule all-rules-passed by safety-gate", "policy oom-increase-memory",
                           "| 256Mi | 384Mi |", "```diff", "-              memory: 256Mi  # raised after INC-7",
                           "+              memory: 384Mi  # raised after INC-7",
                           "https://kubemend.example/#/incident/6f1c2a9e-0000-4000-8000-000000000001",
                           "kubemendctl audit incident", "managed by Argo CD"}) {
    EXPECT_NE(body.find(want), std::string::npos) << "missing \"" << want << "\" in\n" << body;
  }
  // Every call authenticated; the token is in no call, body or outcome.
  for (const auto& c : forge_->Calls()) {
    EXPECT_TRUE(c.authorized) << c.method << " " << c.path;
    EXPECT_EQ(c.body.find(kToken), std::string::npos);
  }
  EXPECT_EQ(out[0].DebugString().find(kToken), std::string::npos);
}

TEST_F(GitOpsTest, NeverTwoPullRequestsForOneActionOrOneObject) {
  Wire();
  auto ex = Make();
  v1::Event d = Decision("act-1");
  auto first = ex->HandleDecision(d);
  ASSERT_EQ(first[0].outcome().status(), v1::OUTCOME_STATUS_PENDING_MERGE) << first[0].outcome().error();
  ex->Acknowledge(first);
  // Redelivered: the outcome index answers.
  auto again = ex->HandleDecision(d);
  EXPECT_EQ(again[0].outcome().status(), v1::OUTCOME_STATUS_DUPLICATE);
  // A restart that lost the outcome: the forge answers (a pull request for kubemend/act-1 exists).
  auto restarted = Make();
  auto replay = restarted->HandleDecision(d);
  ASSERT_EQ(replay[0].outcome().status(), v1::OUTCOME_STATUS_PENDING_MERGE);
  EXPECT_NE(replay[0].outcome().verification().detail().find("exists already"), std::string::npos)
      << replay[0].outcome().verification().detail();
  EXPECT_EQ(replay[0].outcome().pull_request().number(), 1u);
  // Another action on the same object while that pull request is open: skipped, not a second PR.
  auto other = ex->HandleDecision(Decision("act-2"));
  EXPECT_EQ(other[0].outcome().status(), v1::OUTCOME_STATUS_SKIPPED);
  EXPECT_NE(other[0].outcome().error().find("is open"), std::string::npos) << other[0].outcome().error();
  EXPECT_EQ(forge_->Pulls(kRepo).size(), 1u);
  int posts = 0;
  for (const auto& c : forge_->Calls()) {
    posts += c.method == "POST";
  }
  EXPECT_EQ(posts, 1);
  // A change made in Git is reverted in Git, not live.
  auto rb = ex->Rollback("act-1", "test");
  EXPECT_EQ(rb.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(rb.status().message().find("revert its commit"), std::string::npos) << rb.status();
}

TEST_F(GitOpsTest, MergedAndAppliedByTheControllerIsVerifiedAndSucceeds) {
  Wire();
  auto ex = Make();
  auto first = ex->HandleDecision(Decision("act-1"));
  ASSERT_EQ(first[0].outcome().status(), v1::OUTCOME_STATUS_PENDING_MERGE) << first[0].outcome().error();
  ex->Acknowledge(first);
  EXPECT_TRUE(Poll(*ex).empty());  // open: nothing to say
  ASSERT_EQ(forge_->Merge(kRepo, 1), "");
  EXPECT_NE(Show("main:apps/shop/web.yaml").find("memory: 384Mi  # raised after INC-7"), std::string::npos);
  EXPECT_TRUE(Poll(*ex).empty());  // merged, but the controller has not synced yet
  ApplyMerged("384Mi", "192Mi");
  auto done = Poll(*ex);
  ASSERT_EQ(done.size(), 1u);
  const v1::ActionOutcome& o = done[0].outcome();
  EXPECT_EQ(o.status(), v1::OUTCOME_STATUS_SUCCEEDED) << o.verification().detail() << o.error();
  EXPECT_EQ(o.action_id(), "act-1");
  EXPECT_EQ(o.proposal_id(), "p-act-1");
  EXPECT_TRUE(o.verification().attempted());
  EXPECT_TRUE(o.verification().healthy());
  EXPECT_NE(o.verification().detail().find("pull request #1 merged and live"), std::string::npos);
  EXPECT_EQ(o.pull_request().number(), 1u);
  EXPECT_EQ(done[0].incident_id(), first[0].incident_id());
  EXPECT_TRUE(Poll(*ex).empty());  // ended: not reported twice
  EXPECT_EQ(ex->Stats().open_pull_requests, 0u);
}

TEST_F(GitOpsTest, ClosedUnmergedIsClosedAndMergedButNeverLiveIsNotFixed) {
  Wire();
  auto ex = Make();
  auto first = ex->HandleDecision(Decision("act-1"));
  ex->Acknowledge(first);
  ASSERT_EQ(forge_->Close(kRepo, 1), "");
  auto closed = Poll(*ex);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].outcome().status(), v1::OUTCOME_STATUS_CLOSED);
  EXPECT_NE(closed[0].outcome().verification().detail().find("closed without merging"), std::string::npos);
  EXPECT_EQ(kube_.updates(), 0);

  // The object is free again: the next action opens its own pull request.
  auto second = ex->HandleDecision(Decision("act-2"));
  ASSERT_EQ(second[0].outcome().status(), v1::OUTCOME_STATUS_PENDING_MERGE) << second[0].outcome().error();
  ex->Acknowledge(second);
  ASSERT_EQ(forge_->Merge(kRepo, 2), "");
  EXPECT_TRUE(Poll(*ex).empty());
  clock_.Advance(cfg_.apply_timeout + Millis(1000));
  auto late = Poll(*ex);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].outcome().status(), v1::OUTCOME_STATUS_NOT_FIXED);
  EXPECT_NE(late[0].outcome().error().find("is the GitOps controller syncing"), std::string::npos)
      << late[0].outcome().error();
}

TEST_F(GitOpsTest, ChartRenderedObjectsAreReportedNotGuessed) {
  json d = kube_.Object(kube::Deployment("shop", "web"));
  d["metadata"]["labels"]["helm.sh/chart"] = "web-1.2.0";
  kube_.Put(rs::kDeployments, d);
  Wire();
  auto ex = Make();
  auto out = ex->HandleDecision(Decision("act-1"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].outcome().status(), v1::OUTCOME_STATUS_SKIPPED);
  EXPECT_EQ(out[0].outcome().error().rfind("chart-rendered: Deployment/shop/web is rendered by Helm", 0), 0u)
      << out[0].outcome().error();
  EXPECT_TRUE(forge_->Pulls(kRepo).empty());
  EXPECT_EQ(kube_.updates(), 0);
}

TEST_F(GitOpsTest, ChartValuesFileIsEditedWhenMapped) {
  std::string work = (dir_ / "seed").string();
  std::ofstream(work + "/apps/values-prod.yaml") << "# production values\nreplicaCount: 2\nresources:\n  limits:\n"
                                                    "    memory: 256Mi   # per pod\n  requests:\n    memory: 128Mi\n";
  Git({"-C", work, "add", "."});
  Git({"-C", work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "values"});
  Git({"-C", work, "push", "--quiet", "origin", "main"});
  json d = kube_.Object(kube::Deployment("shop", "web"));
  d["metadata"]["labels"]["helm.sh/chart"] = "web-1.2.0";
  kube_.Put(rs::kDeployments, d);
  cfg_.repos[0].values_file = "apps/values-prod.yaml";
  cfg_.repos[0].values_paths = {{"containers[app].resources.limits.memory", "resources.limits.memory"},
                                {"containers[app].resources.requests.memory", "resources.requests.memory"}};
  Wire();
  auto ex = Make();
  auto out = ex->HandleDecision(Decision("act-1"));
  ASSERT_EQ(out[0].outcome().status(), v1::OUTCOME_STATUS_PENDING_MERGE) << out[0].outcome().error();
  EXPECT_EQ(Show("kubemend/act-1:apps/values-prod.yaml"),
            "# production values\nreplicaCount: 2\nresources:\n  limits:\n    memory: 384Mi   # per pod\n"
            "  requests:\n    memory: 192Mi\n");
}

TEST_F(GitOpsTest, ForgeOutageAndMissingManifestFailWithTheReason) {
  Wire();
  auto ex = Make();
  forge_->FailNext(503);
  auto out = ex->HandleDecision(Decision("act-1"));
  EXPECT_EQ(out[0].outcome().status(), v1::OUTCOME_STATUS_FAILED);
  EXPECT_NE(out[0].outcome().error().find("HTTP 503"), std::string::npos) << out[0].outcome().error();
  cfg_.repos[0].path = "elsewhere";
  Wire();
  auto ex2 = Make();
  auto missing = ex2->HandleDecision(Decision("act-2"));
  EXPECT_EQ(missing[0].outcome().status(), v1::OUTCOME_STATUS_FAILED);
  EXPECT_NE(missing[0].outcome().error().find("elsewhere"), std::string::npos) << missing[0].outcome().error();
  EXPECT_TRUE(forge_->Pulls(kRepo).empty());
  EXPECT_EQ(kube_.updates(), 0);
}

TEST_F(GitOpsTest, ASymlinkInTheRepositoryNeverLeadsTheEditorOutside) {
  // Someone commits apps-link -> a directory outside the clone holding a matching manifest.
  fs::create_directories(dir_ / "outside");
  std::ofstream(dir_ / "outside" / "web.yaml") << kManifest;
  std::string work = (dir_ / "seed").string();
  fs::create_directory_symlink(dir_ / "outside", work + "/apps-link");
  Git({"-C", work, "add", "."});
  Git({"-C", work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "link"});
  Git({"-C", work, "push", "--quiet", "origin", "main"});
  cfg_.repos[0].path = "apps-link";
  Wire();
  auto ex = Make();
  auto out = ex->HandleDecision(Decision("act-1"));
  EXPECT_EQ(out[0].outcome().status(), v1::OUTCOME_STATUS_FAILED);
  EXPECT_NE(out[0].outcome().error().find("leads outside the repository"), std::string::npos)
      << out[0].outcome().error();
  std::ifstream in(dir_ / "outside" / "web.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), kManifest);
}

}  // namespace
}  // namespace kubemend::executor
