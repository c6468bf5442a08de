// KubePolicySync with the real Kubernetes client against the in-process fake
// API server (services/common/kube/tests): the watch feeds the policy source,
// a missing CRD does not hold the first load up, and status goes out as one
// merge patch of the status subresource per changed object, coalesced.
#include <gtest/gtest.h>

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
  EXPECT_GE(sync.watch_errors(), 6u);  // one per kind without a CRD, at least
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].find("watch"), std::string::npos) << errors[0];
}

}  // namespace
}  // namespace kubemend::analyzer
