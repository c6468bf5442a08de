// The client against a local fake API server (plain HTTP; TLS is covered in
// tls_test.cpp). No test sleeps: retry waits are recorded, not slept.

#include "kubemend/kube/client.h"

#include <atomic>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fake_apiserver.h"

namespace kubemend::kube {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using testing::FakeApiServer;
using testing::NoSleepOptions;
using testing::RecordedWaits;
using testing::StatusJson;

constexpr const char* kPodPath = "/api/v1/namespaces/shop/pods/web-0";
constexpr const char* kDeploymentPath = "/apis/apps/v1/namespaces/shop/deployments/web";

class ClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<KubeClient> Connect(int max_attempts = 5, std::string token = "s3cret") {
    ClientConfig config;
    config.server = server_.url();
    config.bearer_token = std::move(token);
    auto client = NewClient(config, NoSleepOptions(waits_, max_attempts));
    EXPECT_TRUE(client.ok());
    return std::move(client).value();
  }

  FakeApiServer server_;
  std::shared_ptr<RecordedWaits> waits_ = std::make_shared<RecordedWaits>();
};

json PodJson(const std::string& rv) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "web-0"}, {"namespace", "shop"}, {"resourceVersion", rv}}},
          {"spec", {{"nodeName", "node-1"}}}};
}

TEST_F(ClientTest, GetSendsBearerTokenAndReturnsTheObject) {
  server_.Get(kPodPath, [](const httplib::Request&, httplib::Response& res) {
    res.set_content(PodJson("7").dump(), "application/json");
  });
  server_.Start();
  auto client = Connect();
  auto pod = client->Get(Pod("shop", "web-0"));
  ASSERT_TRUE(pod.ok()) << pod.error().ToString();
  EXPECT_EQ((*pod)["spec"]["nodeName"], "node-1");
  auto requests = server_.RequestsTo(kPodPath);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].Header("Authorization"), "Bearer s3cret");
  EXPECT_EQ(requests[0].Header("Accept"), "application/json");
}

TEST_F(ClientTest, BasicAuthWhenNoToken) {
  server_.Get(kPodPath, [](const httplib::Request&, httplib::Response& res) {
    res.set_content(PodJson("7").dump(), "application/json");
  });
  server_.Start();
  ClientConfig config;
  config.server = server_.url();
  config.username = "alice";
  config.password = "pw";
  auto client = NewClient(config, NoSleepOptions(waits_));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Get(Pod("shop", "web-0")).ok());
  EXPECT_EQ(server_.RequestsTo(kPodPath).at(0).Header("Authorization"), "Basic YWxpY2U6cHc=");
}

TEST_F(ClientTest, RetriesThrottlingHonouringRetryAfter) {
  std::atomic<int> calls{0};
  server_.Get(kPodPath, [&](const httplib::Request&, httplib::Response& res) {
    const int n = ++calls;
    if (n == 1) {
      res.status = 429;
      res.set_header("Retry-After", "2");
      res.set_content(StatusJson(429, "TooManyRequests", "slow down"), "application/json");
    } else if (n == 2) {
      res.status = 503;
      res.set_header("Retry-After", "1");
      res.set_content(StatusJson(503, "ServiceUnavailable", "busy"), "application/json");
    } else {
      res.set_content(PodJson("9").dump(), "application/json");
    }
  });
  server_.Start();
  auto pod = Connect()->Get(Pod("shop", "web-0"));
  ASSERT_TRUE(pod.ok()) << pod.error().ToString();
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(waits_->Get(), (std::vector<milliseconds>{milliseconds(2000), milliseconds(1000)}));
}

TEST_F(ClientTest, BacksOffExponentiallyAndGivesUp) {
  server_.Get(kPodPath, [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content(StatusJson(503, "ServiceUnavailable", "etcd is down"), "application/json");
  });
  server_.Start();
  auto pod = Connect(/*max_attempts=*/4)->Get(Pod("shop", "web-0"));
  ASSERT_FALSE(pod.ok());
  EXPECT_EQ(pod.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(pod.error().http_status, 503);
  EXPECT_EQ(pod.error().message, "etcd is down");
  EXPECT_EQ(server_.CountRequests("GET", kPodPath), 4u);
  // initial 200ms doubling; the injected random makes jitter exactly 1.
  EXPECT_EQ(waits_->Get(), (std::vector<milliseconds>{milliseconds(200), milliseconds(400), milliseconds(800)}));
}

TEST_F(ClientTest, JitterStaysWithinBounds) {
  server_.Get(kPodPath, [](const httplib::Request&, httplib::Response& res) { res.status = 502; });
  server_.Start();
  ClientConfig config;
  config.server = server_.url();
  auto options = NoSleepOptions(waits_, 3);
  options.random = nullptr;  // the real random source
  auto client = NewClient(config, options);
  ASSERT_TRUE(client.ok());
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE((*client)->Get(Pod("shop", "web-0")).ok());
  }
  const auto waits = waits_->Get();
  ASSERT_EQ(waits.size(), 10u);
  for (size_t i = 0; i < waits.size(); ++i) {
    const int64_t base = i % 2 == 0 ? 200 : 400;
    EXPECT_GE(waits[i].count(), base * 8 / 10) << i;
    EXPECT_LE(waits[i].count(), base * 12 / 10) << i;
  }
}

TEST_F(ClientTest, DoesNotRepeatAPostThatMayHaveLanded) {
  std::atomic<int> calls{0};
  server_.Post("/api/v1/namespaces/shop/events", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 500;
    res.set_content(StatusJson(500, "InternalError", "boom"), "application/json");
  });
  server_.Start();
  auto created = Connect()->Create(resources::kEvents, "shop", {{"metadata", {{"name", "e1"}}}});
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind, ErrorKind::kInternal);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(waits_->Get().empty());
}

TEST_F(ClientTest, RepeatsAPostWhenTheServerAsksToRetry) {
  std::atomic<int> calls{0};
  server_.Post("/api/v1/namespaces/shop/events", [&](const httplib::Request& req, httplib::Response& res) {
    if (++calls == 1) {
      res.status = 503;
      res.set_header("Retry-After", "3");
      return;
    }
    res.status = 201;
    res.set_content(req.body, "application/json");
  });
  server_.Start();
  auto created = Connect()->Create(resources::kEvents, "shop", {{"metadata", {{"name", "e1"}}}});
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(waits_->Get(), std::vector<milliseconds>{milliseconds(3000)});
}

TEST_F(ClientTest, ConnectionRefusedIsRetriedThenUnavailable) {
  server_.Start();
  const std::string url = server_.url();
  server_.Stop();  // nothing listens on that port any more
  ClientConfig config;
  config.server = url;
  auto client = NewClient(config, NoSleepOptions(waits_, 3));
  ASSERT_TRUE(client.ok());
  // Even a POST is retried: a refused connection never carried the request.
  auto created = (*client)->Create(resources::kEvents, "shop", {{"metadata", {{"name", "e1"}}}});
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(created.error().http_status, 0);
  EXPECT_EQ(waits_->Get().size(), 2u);
}

TEST_F(ClientTest, MapsStatusesToErrorKinds) {
  struct Case {
    int status;
    const char* reason;
    ErrorKind kind;
  };
  const Case cases[] = {
      {400, "BadRequest", ErrorKind::kInvalid},      {401, "Unauthorized", ErrorKind::kUnauthorized},
      {403, "Forbidden", ErrorKind::kForbidden},     {404, "NotFound", ErrorKind::kNotFound},
      {409, "Conflict", ErrorKind::kConflict},       {409, "AlreadyExists", ErrorKind::kAlreadyExists},
      {410, "Expired", ErrorKind::kGone},            {415, "UnsupportedMediaType", ErrorKind::kUnsupported},
      {422, "Invalid", ErrorKind::kInvalid},         {504, "Timeout", ErrorKind::kTimeout},
  };
  std::atomic<size_t> index{0};
  server_.Get(kPodPath, [&](const httplib::Request&, httplib::Response& res) {
    const Case& c = cases[index.load()];
    res.status = c.status;
    res.set_content(StatusJson(c.status, c.reason, std::string("because ") + c.reason), "application/json");
  });
  server_.Start();
  auto client = Connect(/*max_attempts=*/1);
  for (size_t i = 0; i < std::size(cases); ++i) {
    index = i;
    auto pod = client->Get(Pod("shop", "web-0"));
    ASSERT_FALSE(pod.ok());
    EXPECT_EQ(pod.error().kind, cases[i].kind) << cases[i].status << " " << cases[i].reason;
    EXPECT_EQ(pod.error().http_status, cases[i].status);
    EXPECT_EQ(pod.error().reason, cases[i].reason);
    EXPECT_EQ(pod.error().message, std::string("because ") + cases[i].reason);
  }
}

TEST_F(ClientTest, NonStatusErrorBodyIsQuoted) {
  server_.Get(kPodPath, [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("404 page not found", "text/plain");
  });
  server_.Start();
  auto pod = Connect()->Get(Pod("shop", "web-0"));
  ASSERT_FALSE(pod.ok());
  EXPECT_EQ(pod.error().kind, ErrorKind::kNotFound);
  EXPECT_NE(pod.error().message.find("404 page not found"), std::string::npos);
}

TEST_F(ClientTest, RejectsIncompleteReferencesWithoutCallingTheServer) {
  server_.Start();
  auto client = Connect();
  EXPECT_EQ(client->Get(Pod("", "web-0")).error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(client->Get(Pod("shop", "")).error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(client->Evict(Deployment("shop", "web")).error().kind, ErrorKind::kInvalid);
  EXPECT_TRUE(server_.Requests().empty());
}

// A deployment store with optimistic concurrency, like the real thing.
class DeploymentStore {
 public:
  explicit DeploymentStore(FakeApiServer& server, int conflicts_to_inject) : conflicts_left_(conflicts_to_inject) {
    object_ = {{"apiVersion", "apps/v1"},
               {"kind", "Deployment"},
               {"metadata", {{"name", "web"}, {"namespace", "shop"}, {"resourceVersion", "100"}}},
               {"spec", {{"replicas", 2}, {"paused", false}}}};
    server.Get(kDeploymentPath, [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mu_);
      res.set_content(object_.dump(), "application/json");
      // Someone else writes right after our read.
      if (conflicts_left_ > 0) {
        --conflicts_left_;
        Bump();
      }
    });
    server.Put(kDeploymentPath, [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      auto incoming = json::parse(req.body);
      put_versions_.push_back(incoming["metadata"].value("resourceVersion", ""));
      if (incoming["metadata"].value("resourceVersion", "") != object_["metadata"]["resourceVersion"]) {
        res.status = 409;
        res.set_content(StatusJson(409, "Conflict",
                                   "Operation cannot be fulfilled on deployments.apps \"web\": the object has been "
                                   "modified; please apply your changes to the latest version and try again"),
                        "application/json");
        return;
      }
      object_ = incoming;
      Bump();
      res.set_content(object_.dump(), "application/json");
    });
  }

  std::vector<std::string> put_versions() {
    std::lock_guard lock(mu_);
    return put_versions_;
  }
  json object() {
    std::lock_guard lock(mu_);
    return object_;
  }

 private:
  void Bump() {
    const int rv = std::stoi(object_["metadata"]["resourceVersion"].get<std::string>());
    object_["metadata"]["resourceVersion"] = std::to_string(rv + 1);
  }

  std::mutex mu_;
  json object_;
  int conflicts_left_;
  std::vector<std::string> put_versions_;
};

TEST_F(ClientTest, UpdateWithRetryStartsOverOnConflict) {
  DeploymentStore store(server_, /*conflicts_to_inject=*/2);
  server_.Start();
  int mutations = 0;
  auto updated = UpdateWithRetry(*Connect(), Deployment("shop", "web"), [&](json& d) -> Result<Mutation> {
    ++mutations;
    d["spec"]["paused"] = true;
    return Mutation::kChanged;
  });
  ASSERT_TRUE(updated.ok()) << updated.error().ToString();
  EXPECT_EQ(mutations, 3);
  // Every PUT carried the version its GET returned; the first two lost.
  EXPECT_EQ(store.put_versions(), (std::vector<std::string>{"100", "101", "102"}));
  EXPECT_EQ((*updated)["spec"]["paused"], true);
  EXPECT_EQ(store.object()["metadata"]["resourceVersion"], "103");
}

TEST_F(ClientTest, UpdateWithRetryReturnsConflictWhenAttemptsRunOut) {
  DeploymentStore store(server_, /*conflicts_to_inject=*/100);
  server_.Start();
  auto updated = UpdateWithRetry(
      *Connect(), Deployment("shop", "web"),
      [](json& d) -> Result<Mutation> {
        d["spec"]["replicas"] = 3;
        return Mutation::kChanged;
      },
      {}, /*max_attempts=*/3);
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(store.put_versions().size(), 3u);
}

TEST_F(ClientTest, UpdateWithRetrySkipsThePutWhenNothingChanges) {
  DeploymentStore store(server_, 0);
  server_.Start();
  auto result = UpdateWithRetry(*Connect(), Deployment("shop", "web"),
                                [](json&) -> Result<Mutation> { return Mutation::kUnchanged; });
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(store.put_versions().empty());
  auto refused = UpdateWithRetry(*Connect(), Deployment("shop", "web"), [](json&) -> Result<Mutation> {
    return MakeError(ErrorKind::kInvalid, "no container named app");
  });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "no container named app");
  EXPECT_TRUE(store.put_versions().empty());
}

TEST_F(ClientTest, ListAllFollowsContinueTokens) {
  server_.Get("/api/v1/pods", [](const httplib::Request& req, httplib::Response& res) {
    const std::string token = req.has_param("continue") ? req.get_param_value("continue") : "";
    json page = {{"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", "500"}}}};
    if (token.empty()) {
      page["items"] = json::array({{{"metadata", {{"name", "a"}}}}, {{"metadata", {{"name", "b"}}}}});
      page["metadata"]["continue"] = "page-2";
    } else {
      page["items"] = json::array({{{"metadata", {{"name", "c"}}}}});
    }
    res.set_content(page.dump(), "application/json");
  });
  server_.Start();
  ListOptions options;
  options.label_selector = "app=web,tier!=db";
  options.field_selector = "spec.nodeName=node-1";
  options.limit = 2;
  auto list = ListAll(*Connect(), resources::kPods, "", options);
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  ASSERT_EQ(list->items.size(), 3u);
  EXPECT_EQ(list->items[2]["metadata"]["name"], "c");
  EXPECT_EQ(list->items[0]["kind"], "Pod");  // filled in for list items
  EXPECT_EQ(list->items[0]["apiVersion"], "v1");
  EXPECT_EQ(list->resource_version, "500");
  auto requests = server_.RequestsTo("/api/v1/pods");
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].Param("labelSelector"), "app=web,tier!=db");
  EXPECT_EQ(requests[0].Param("fieldSelector"), "spec.nodeName=node-1");
  EXPECT_EQ(requests[0].Param("limit"), "2");
  EXPECT_EQ(requests[1].Param("continue"), "page-2");
}

TEST_F(ClientTest, MutatingCallsCarryDryRun) {
  auto echo = [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.body.empty() ? "{}" : req.body, "application/json");
  };
  server_.Post("/apis/apps/v1/namespaces/shop/deployments", echo);
  server_.Put(kDeploymentPath, echo);
  server_.Patch(kDeploymentPath, echo);
  server_.Delete(kDeploymentPath, echo);
  server_.Start();
  auto client = Connect();
  WriteOptions write;
  write.dry_run = true;
  write.field_manager = "kubemend";
  const json deployment = {{"metadata", {{"name", "web"}, {"namespace", "shop"}}}};
  ASSERT_TRUE(client->Create(resources::kDeployments, "shop", deployment, write).ok());
  ASSERT_TRUE(client->Update(Deployment("shop", "web"), deployment, write).ok());
  PatchOptions patch;
  patch.dry_run = true;
  ASSERT_TRUE(client->Patch(Deployment("shop", "web"), PatchType::kMergePatch, {{"spec", {{"paused", true}}}}, patch)
                  .ok());
  DeleteOptions del;
  del.dry_run = true;
  ASSERT_TRUE(client->Delete(Deployment("shop", "web"), del).ok());
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 4u);
  for (const auto& r : requests) {
    EXPECT_EQ(r.Param("dryRun"), "All") << r.method;
  }
  EXPECT_EQ(requests[0].Param("fieldManager"), "kubemend");
  EXPECT_EQ(json::parse(requests[3].body)["dryRun"], json::array({"All"}));
}

TEST_F(ClientTest, DeleteSendsOptionsAndPreconditions) {
  server_.Delete(kPodPath, [](const httplib::Request&, httplib::Response& res) {
    res.set_content(PodJson("12").dump(), "application/json");
  });
  server_.Start();
  DeleteOptions options;
  options.grace_period_seconds = 0;
  options.propagation_policy = PropagationPolicy::kForeground;
  options.precondition_uid = "uid-1";
  options.precondition_resource_version = "11";
  auto deleted = Connect()->Delete(Pod("shop", "web-0"), options);
  ASSERT_TRUE(deleted.ok()) << deleted.error().ToString();
  const auto body = json::parse(server_.RequestsTo(kPodPath).at(0).body);
  EXPECT_EQ(body["kind"], "DeleteOptions");
  EXPECT_EQ(body["gracePeriodSeconds"], 0);
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
  EXPECT_EQ(body["preconditions"]["uid"], "uid-1");
  EXPECT_EQ(body["preconditions"]["resourceVersion"], "11");
  EXPECT_FALSE(body.contains("dryRun"));
}

TEST_F(ClientTest, PatchTypesUseTheirContentTypes) {
  server_.Patch(kDeploymentPath, [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{}", "application/json");
  });
  server_.Start();
  auto client = Connect();
  const auto ref = Deployment("shop", "web");
  ASSERT_TRUE(client->Patch(ref, PatchType::kMergePatch, {{"spec", {{"replicas", 1}}}}).ok());
  ASSERT_TRUE(client->Patch(ref, PatchType::kStrategicMergePatch, {{"spec", {{"replicas", 1}}}}).ok());
  ASSERT_TRUE(
      client->Patch(ref, PatchType::kJsonPatch, json::array({{{"op", "replace"}, {"path", "/spec/replicas"}, {"value", 1}}}))
          .ok());
  PatchOptions apply;
  apply.field_manager = "kubemend";
  apply.force = true;
  ASSERT_TRUE(client->Patch(ref, PatchType::kApply, {{"spec", {{"replicas", 1}}}}, apply).ok());
  EXPECT_EQ(client->Patch(ref, PatchType::kApply, json::object()).error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(client->Patch(ref, PatchType::kJsonPatch, json::object()).error().kind, ErrorKind::kInvalid);
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].Header("Content-Type"), "application/merge-patch+json");
  EXPECT_EQ(requests[1].Header("Content-Type"), "application/strategic-merge-patch+json");
  EXPECT_EQ(requests[2].Header("Content-Type"), "application/json-patch+json");
  EXPECT_EQ(requests[3].Header("Content-Type"), "application/apply-patch+yaml");
  EXPECT_EQ(requests[3].Param("force"), "true");
  EXPECT_EQ(requests[3].Param("fieldManager"), "kubemend");
}

TEST_F(ClientTest, ScaleSubresource) {
  const std::string path = std::string(kDeploymentPath) + "/scale";
  auto scale_json = [](int replicas, const std::string& rv) {
    return json{{"apiVersion", "autoscaling/v1"},
                {"kind", "Scale"},
                {"metadata", {{"name", "web"}, {"namespace", "shop"}, {"resourceVersion", rv}}},
                {"spec", {{"replicas", replicas}}},
                {"status", {{"replicas", 2}, {"selector", "app=web"}}}}
        .dump();
  };
  server_.Get(path, [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(scale_json(2, "40"), "application/json");
  });
  server_.Put(path, [&](const httplib::Request& req, httplib::Response& res) {
    const auto body = json::parse(req.body);
    res.set_content(scale_json(body["spec"]["replicas"], "41"), "application/json");
  });
  server_.Patch(path, [&](const httplib::Request& req, httplib::Response& res) {
    const auto body = json::parse(req.body);
    res.set_content(scale_json(body["spec"]["replicas"], "42"), "application/json");
  });
  server_.Start();
  auto client = Connect();
  auto scale = GetScale(*client, Deployment("shop", "web"));
  ASSERT_TRUE(scale.ok()) << scale.error().ToString();
  EXPECT_EQ(scale->spec_replicas, 2);
  EXPECT_EQ(scale->selector, "app=web");
  EXPECT_EQ(scale->resource_version, "40");
  auto updated = UpdateScale(*client, Deployment("shop", "web"), 4, scale->resource_version);
  ASSERT_TRUE(updated.ok()) << updated.error().ToString();
  EXPECT_EQ(updated->spec_replicas, 4);
  auto patched = PatchScale(*client, Deployment("shop", "web"), 5);
  ASSERT_TRUE(patched.ok()) << patched.error().ToString();
  EXPECT_EQ(patched->spec_replicas, 5);
  const auto put = json::parse(server_.RequestsTo(path).at(1).body);
  EXPECT_EQ(put["kind"], "Scale");
  EXPECT_EQ(put["metadata"]["resourceVersion"], "40");
  EXPECT_EQ(server_.RequestsTo(path).at(2).Header("Content-Type"), "application/merge-patch+json");
  EXPECT_EQ(UpdateScale(*client, Deployment("shop", "web"), -1).error().kind, ErrorKind::kInvalid);
}

TEST_F(ClientTest, EvictionPostsAPolicyV1Eviction) {
  const std::string path = std::string(kPodPath) + "/eviction";
  server_.Post(path, [](const httplib::Request&, httplib::Response& res) {
    res.status = 201;
    res.set_content(R"({"kind":"Status","apiVersion":"v1","status":"Success","code":201})", "application/json");
  });
  server_.Start();
  EvictOptions options;
  options.grace_period_seconds = 30;
  options.dry_run = true;
  auto evicted = Connect()->Evict(Pod("shop", "web-0"), options);
  ASSERT_TRUE(evicted.ok()) << evicted.error().ToString();
  const auto request = server_.RequestsTo(path).at(0);
  const auto body = json::parse(request.body);
  EXPECT_EQ(body["apiVersion"], "policy/v1");
  EXPECT_EQ(body["kind"], "Eviction");
  EXPECT_EQ(body["metadata"]["name"], "web-0");
  EXPECT_EQ(body["metadata"]["namespace"], "shop");
  EXPECT_EQ(body["deleteOptions"]["gracePeriodSeconds"], 30);
  EXPECT_EQ(request.Param("dryRun"), "All");
}

TEST_F(ClientTest, EvictionBlockedByBudgetIsDistinctAndNotRetried) {
  const std::string path = std::string(kPodPath) + "/eviction";
  server_.Post(path, [](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_content(R"({"kind":"Status","apiVersion":"v1","status":"Failure",
        "message":"Cannot evict pod as it would violate the pod's disruption budget.",
        "reason":"TooManyRequests",
        "details":{"causes":[{"reason":"DisruptionBudget",
                              "message":"The disruption budget web-pdb needs 2 healthy pods and has 2 currently"}]},
        "code":429})",
                    "application/json");
  });
  server_.Start();
  auto evicted = Connect()->Evict(Pod("shop", "web-0"));
  ASSERT_FALSE(evicted.ok());
  EXPECT_EQ(evicted.error().kind, ErrorKind::kDisruptionBudget);
  EXPECT_EQ(evicted.error().http_status, 429);
  EXPECT_NE(evicted.error().message.find("disruption budget"), std::string::npos);
  EXPECT_EQ(server_.CountRequests("POST", path), 1u);
  EXPECT_TRUE(waits_->Get().empty());
}

TEST_F(ClientTest, ThrottledEvictionIsStillRetried) {
  // A plain 429 (API priority and fairness) on the eviction endpoint is
  // throttling, not a budget: it is retried like any other.
  const std::string path = std::string(kPodPath) + "/eviction";
  std::atomic<int> calls{0};
  server_.Post(path, [&](const httplib::Request&, httplib::Response& res) {
    if (++calls == 1) {
      res.status = 429;
      res.set_header("Retry-After", "1");
      res.set_content(StatusJson(429, "TooManyRequests", "Too many requests, please try again later."),
                      "application/json");
      return;
    }
    res.status = 201;
    res.set_content("{}", "application/json");
  });
  server_.Start();
  auto evicted = Connect()->Evict(Pod("shop", "web-0"));
  ASSERT_TRUE(evicted.ok()) << evicted.error().ToString();
  EXPECT_EQ(calls.load(), 2);
}

TEST_F(ClientTest, TokenFileIsReadAtStart) {
  const std::string file = ::testing::TempDir() + "/kube-client-token";
  { std::ofstream(file) << "from-file\n"; }
  server_.Get(kPodPath, [](const httplib::Request&, httplib::Response& res) {
    res.set_content(PodJson("1").dump(), "application/json");
  });
  server_.Start();
  ClientConfig config;
  config.server = server_.url();
  config.bearer_token_file = file;
  auto client = NewClient(config, NoSleepOptions(waits_));
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  ASSERT_TRUE((*client)->Get(Pod("shop", "web-0")).ok());
  EXPECT_EQ(server_.RequestsTo(kPodPath).at(0).Header("Authorization"), "Bearer from-file");
  config.bearer_token_file = file + ".missing";
  auto broken = NewClient(config, NoSleepOptions(waits_));
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().kind, ErrorKind::kConfig);
}

}  // namespace
}  // namespace kubemend::kube
