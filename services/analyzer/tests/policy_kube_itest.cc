// KubePolicySync with the real Kubernetes client against the in-process fake
// API server (services/common/kube/tests): the watch feeds the policy source,
// a missing CRD does not hold the first load up, and status goes out as one
// merge patch of the status subresource per changed object, coalesced.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "fake_apiserver.h"
#include "policy_kube.h"

namespace kubemend::analyzer {
namespace {

using json = nlohmann::json;
constexpr const char* kList = "/apis/kubemend.io/v1alpha1/healingpolicies";
constexpr const char* kStatus = "/apis/kubemend.io/v1alpha1/namespaces/shop/healingpolicies/restart/status";

json Policy(const std::string& rv) {
  return {{"apiVersion", "kubemend.io/v1alpha1"},
          {"kind", "HealingPolicy"},
          {"metadata", {{"name", "restart"}, {"namespace", "shop"}, {"generation", 2}, {"resourceVersion", rv}}},
          {"spec",
           {{"triggers", {{{"alert", {{"name", "X"}}}}}}, {"actions", {{{"type", "RestartPod"}}}}}}};
}

class PolicyKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Get(kList, [this](const httplib::Request& req, httplib::Response& res) {
      if (req.has_param("watch")) {
        server_.StreamLines(res, {}, /*hold_open=*/true);
        return;
      }
      res.set_content(json{{"kind", "HealingPolicyList"},
                           {"apiVersion", "kubemend.io/v1alpha1"},
                           {"metadata", {{"resourceVersion", "10"}}},
                           {"items", {Policy("10")}}}
                          .dump(),
                      "application/json");
    });
    // The other six kinds: no CRD installed.
    server_.Get(R"(/apis/kubemend\.io/v1alpha1/)"
                R"((anomalyactions|healthchecks|sloviolations|budgetguards|costalerts|predictivescales))",
                [](const httplib::Request&, httplib::Response& res) {
                  res.status = 404;
                  res.set_content(kube::testing::StatusJson(404, "NotFound", "the server could not find it"),
                                  "application/json");
                });
    server_.Patch(kStatus, [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(json::parse(req.body).dump(), "application/json");
    });
    server_.Start();
    kube::ClientConfig config;
    config.server = server_.url();
    auto client = kube::NewClient(config, kube::testing::NoSleepOptions(waits_, 1));
    ASSERT_TRUE(client.ok());
    client_ = std::move(client).value();
  }
  void TearDown() override { server_.Stop(); }

  kube::testing::FakeApiServer server_;
  std::shared_ptr<kube::testing::RecordedWaits> waits_ = std::make_shared<kube::testing::RecordedWaits>();
  std::unique_ptr<kube::KubeClient> client_;
};

TEST_F(PolicyKubeTest, WatchedPolicyIsLoadedAndItsStatusPatchedOnceWhenChanged) {
  MapPolicySource source("kube");
  PolicyStatusBook book;
  std::vector<std::string> errors;
  KubePolicyOptions o;
  o.on_error = [&](const std::string& e) { errors.push_back(e); };
  KubePolicySync sync(client_.get(), &source, &book, o);
  sync.Start();
  ASSERT_TRUE(sync.WaitForFirstList(std::chrono::seconds(10))) << "a missing CRD must not hold up the first load";
  PolicyReloader reloader({&source}, PolicyDefaults());
  std::vector<std::string> poll_errors;
  reloader.Poll(&poll_errors);
  ASSERT_EQ(reloader.Current()->policies.size(), 1u);
  EXPECT_EQ(reloader.Current()->policies[0].ref.source(), "kube:HealingPolicy/shop/restart#0");
  book.OnVerdicts(reloader.Verdicts(), TimePoint(std::chrono::seconds(1'800'000'000)));
  v1::Event p;
  for (const char* id : {"p1", "p2"}) {
    p.set_event_id(id);
    p.mutable_proposal()->mutable_policy()->set_source("kube:HealingPolicy/shop/restart#0");
    book.OnProposal(p, TimePoint(std::chrono::seconds(1'800'000'010)));
  }
  std::vector<std::string> flush_errors;
  EXPECT_EQ(sync.FlushStatus(&flush_errors), 1);
  EXPECT_TRUE(flush_errors.empty()) << flush_errors[0];
  EXPECT_EQ(sync.FlushStatus(&flush_errors), 0);  // nothing changed since
  sync.Stop();
  auto patches = server_.RequestsTo(kStatus);
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(patches[0].method, "PATCH");
  EXPECT_EQ(patches[0].Header("Content-Type"), "application/merge-patch+json");
  json body = json::parse(patches[0].body);
  EXPECT_EQ(body["status"]["remediationCount"], 2);
  EXPECT_EQ(body["status"]["observedGeneration"], 2);
  EXPECT_EQ(body["status"]["conditions"][0]["type"], "Accepted");
  EXPECT_EQ(body["status"]["conditions"][0]["status"], "True");
  // A kind without its CRD is not a watch failure (see below).
  EXPECT_EQ(sync.watch_errors(), 0u);
  EXPECT_TRUE(errors.empty()) << errors[0];
}

// On a cluster without the seed kinds' CRDs (kube-sim): each missing kind is
// said once, at info, with what to install; its watch stops instead of
// retrying every backoff, and it is looked for again only every absent_recheck.
TEST_F(PolicyKubeTest, MissingCrdIsSaidOnceAndLookedForRarely) {
  MapPolicySource source("kube");
  PolicyStatusBook book;
  std::vector<std::string> errors;
  std::mutex mu;
  std::vector<std::string> infos;
  KubePolicyOptions o;
  o.on_error = [&](const std::string& e) { errors.push_back(e); };
  o.on_info = [&](const std::string& m) {
    std::lock_guard<std::mutex> l(mu);
    infos.push_back(m);
  };
  o.absent_recheck = std::chrono::hours(1);
  KubePolicySync sync(client_.get(), &source, &book, o);
  sync.Start();
  ASSERT_TRUE(sync.WaitForFirstList(std::chrono::seconds(10)));
  const std::string budget = "/apis/kubemend.io/v1alpha1/budgetguards";
  // The watch of a kind without its CRD stops after the 404 (before, it was
  // retried at the watch's backoff forever).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_LE(server_.RequestsTo(budget).size(), 2u);
  EXPECT_EQ(sync.RecheckAbsent(), 0) << "not due for an hour";
  EXPECT_EQ(sync.RecheckAbsent(std::chrono::steady_clock::now() + std::chrono::hours(2)), 6)
      << "the six kinds without a CRD are looked for again";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  sync.Stop();
  EXPECT_LE(server_.RequestsTo(budget).size(), 4u);
  EXPECT_GE(server_.RequestsTo(budget).size(), 2u);
  auto absent = sync.AbsentKinds();
  EXPECT_EQ(absent.size(), 6u);
  EXPECT_TRUE(std::find(absent.begin(), absent.end(), "HealingPolicy") == absent.end());
  EXPECT_TRUE(errors.empty()) << errors[0];
  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(infos.size(), 6u) << "once per missing kind, not once per look";
  std::string all;
  for (const auto& m : infos) {
    all += m + "\n";
  }
  EXPECT_NE(all.find("BudgetGuard policies are off: the CRD budgetguards.kubemend.io is not installed"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("install it from deploy/k8s/base"), std::string::npos) << all;
}

}  // namespace
}  // namespace kubemend::analyzer
