#include "api_handler.h"
#include "test_cluster.h"

#include <gtest/gtest.h>

namespace kubesim {
namespace {

using testing::TestCluster;

class ApiHandlerTest : public ::testing::Test {
 protected:
  ApiHandlerTest() : handler_(t_.cluster(), ApiHandlerOptions{"sekret", "127.0.0.1:6443", Millis(0)}, nullptr) {}

  ApiResponse call(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& content_type = "application/json", const std::string& accept = "") {
    ApiRequest r;
    r.method = method;
    auto q = path.find('?');
    r.path = path.substr(0, q);
    if (q != std::string::npos) {
      std::string query = path.substr(q + 1);
      std::size_t start = 0;
      while (start < query.size()) {
        auto amp = query.find('&', start);
        std::string kv = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
        auto eq = kv.find('=');
        r.query.emplace_back(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
        if (amp == std::string::npos) {
          break;
        }
        start = amp + 1;
      }
    }
    r.headers["content-type"] = content_type;
    r.headers["authorization"] = "Bearer sekret";
    if (!accept.empty()) {
      r.headers["accept"] = accept;
    }
    r.body = body;
    return handler_.handle(r, true);
  }

  static Json body(const ApiResponse& r) { return Json::parse(r.body); }

  std::vector<Json> drain(WatchStream& stream) {
    std::vector<Json> events;
    std::string out;
    stream.next(Millis(0), out);
    std::size_t start = 0;
    while (start < out.size()) {
      auto nl = out.find('\n', start);
      events.push_back(Json::parse(out.substr(start, nl - start)));
      start = nl + 1;
    }
    return events;
  }

  TestCluster t_;
  ApiHandler handler_;
};

const char* kPod = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"a"}},
  "spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}})";

TEST_F(ApiHandlerTest, RejectsMissingOrWrongToken) {
  ApiRequest r;
  r.method = "GET";
  r.path = "/api/v1/pods";
  EXPECT_EQ(handler_.handle(r, true).status, 401);
  EXPECT_EQ(body(handler_.handle(r, true))["reason"], "Unauthorized");
  r.headers["authorization"] = "Bearer nope";
  EXPECT_EQ(handler_.handle(r, true).status, 401);
  EXPECT_EQ(handler_.handle(r, false).status, 200);
  r.path = "/healthz";
  r.headers.clear();
  EXPECT_EQ(handler_.handle(r, true).status, 200);
}

TEST_F(ApiHandlerTest, DiscoveryListsShortNamesAndSubresources) {
  Json core = body(call("GET", "/api/v1"));
  bool pods = false;
  bool eviction = false;
  for (const auto& r : core["resources"]) {
    if (r["name"] == "pods") {
      pods = r["shortNames"] == Json::array({"po"}) && r["namespaced"] == true;
    }
    if (r["name"] == "pods/eviction") {
      eviction = r["group"] == "policy" && r["kind"] == "Eviction";
    }
  }
  EXPECT_TRUE(pods);
  EXPECT_TRUE(eviction);
  Json apps = body(call("GET", "/apis/apps/v1"));
  bool scale = false;
  for (const auto& r : apps["resources"]) {
    scale = scale || (r["name"] == "deployments/scale" && r["kind"] == "Scale" && r["group"] == "autoscaling");
  }
  EXPECT_TRUE(scale);
  Json groups = body(call("GET", "/apis"));
  EXPECT_EQ(groups["kind"], "APIGroupList");
  EXPECT_EQ(body(call("GET", "/version"))["minor"], "32");
}

TEST_F(ApiHandlerTest, ErrorsAreStatusObjects) {
  auto unknown = call("GET", "/apis/apps/v1/namespaces/default/widgets");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(body(unknown)["kind"], "Status");
  auto malformed = call("POST", "/api/v1/namespaces/default/pods", "{not json");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(body(malformed)["reason"], "BadRequest");
  auto invalid = call("POST", "/api/v1/namespaces/default/pods", R"({"metadata":{"name":"x"},"spec":{}})");
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(body(invalid)["details"]["causes"][0]["field"], "spec.containers");
  EXPECT_EQ(call("POST", "/api/v1/namespaces/nowhere/pods", kPod).status, 404);
  EXPECT_EQ(call("POST", "/api/v1/namespaces/default/pods", kPod).status, 201);
  auto dup = call("POST", "/api/v1/namespaces/default/pods", kPod);
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(body(dup)["reason"], "AlreadyExists");
  auto missing = call("GET", "/api/v1/namespaces/default/pods/ghost");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(body(missing)["message"], "pods \"ghost\" not found");
  EXPECT_EQ(call("GET", "/api/v1/pods?labelSelector=a%20in%20(").status, 400);
  EXPECT_EQ(call("GET", "/api/v1/pods?fieldSelector=spec.bogus=1").status, 400);
  EXPECT_EQ(call("PATCH", "/api/v1/namespaces/default/pods/p", "{}", "text/plain").status, 415);
}

TEST_F(ApiHandlerTest, UpdateWithStaleResourceVersionConflicts) {
  Json created = body(call("POST", "/api/v1/namespaces/default/pods", kPod));
  Json changed = created;
  changed["metadata"]["labels"]["x"] = "1";
  EXPECT_EQ(call("PUT", "/api/v1/namespaces/default/pods/p", changed.dump()).status, 200);
  auto stale = call("PUT", "/api/v1/namespaces/default/pods/p", changed.dump());
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(body(stale)["reason"], "Conflict");
}

TEST_F(ApiHandlerTest, DryRunStoresNothing) {
  auto r = call("POST", "/api/v1/namespaces/default/pods?dryRun=All", kPod);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(body(r)["metadata"]["name"], "p");
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/pods/p").status, 404);
}

TEST_F(ApiHandlerTest, ListFiltersBySelectorsAndPaginates) {
  call("POST", "/api/v1/namespaces/default/pods", kPod);
  Json other = Json::parse(kPod);
  other["metadata"]["name"] = "q";
  other["metadata"]["labels"]["app"] = "b";
  call("POST", "/api/v1/namespaces/default/pods", other.dump());
  EXPECT_EQ(body(call("GET", "/api/v1/pods?labelSelector=app=a"))["items"].size(), 1u);
  EXPECT_EQ(body(call("GET", "/api/v1/pods?labelSelector=app!=a"))["items"][0]["metadata"]["name"], "q");
  EXPECT_EQ(body(call("GET", "/api/v1/pods?fieldSelector=metadata.name=q"))["items"].size(), 1u);
  Json page = body(call("GET", "/api/v1/namespaces/default/pods?limit=1"));
  ASSERT_EQ(page["items"].size(), 1u);
  std::string token = page["metadata"]["continue"];
  Json rest = body(call("GET", "/api/v1/namespaces/default/pods?limit=1&continue=" + token));
  EXPECT_EQ(rest["items"][0]["metadata"]["name"], "q");
}

TEST_F(ApiHandlerTest, TableForDeployments) {
  t_.apply(testing::kWebDeployment);
  t_.run(4);
  Json table = body(call("GET", "/apis/apps/v1/namespaces/default/deployments", "", "",
                         "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"));
  EXPECT_EQ(table["kind"], "Table");
  std::vector<std::string> cols;
  for (const auto& c : table["columnDefinitions"]) {
    if (c["priority"] == 0) {
      cols.push_back(c["name"]);
    }
  }
  EXPECT_EQ(cols, (std::vector<std::string>{"Name", "Ready", "Up-to-date", "Available", "Age"}));
  EXPECT_EQ(table["rows"][0]["cells"][1], "3/3");
}

TEST_F(ApiHandlerTest, WatchResumesAndReportsSelectorTransitions) {
  call("POST", "/api/v1/namespaces/default/pods", kPod);
  std::string rv = body(call("GET", "/api/v1/namespaces/default/pods"))["metadata"]["resourceVersion"];
  auto watch = call("GET", "/api/v1/namespaces/default/pods?watch=1&labelSelector=app=a&resourceVersion=" + rv);
  ASSERT_TRUE(watch.watch);
  EXPECT_TRUE(drain(*watch.watch).empty());
  call("PATCH", "/api/v1/namespaces/default/pods/p", R"({"metadata":{"labels":{"tier":"x"}}})",
       "application/merge-patch+json");
  call("PATCH", "/api/v1/namespaces/default/pods/p", R"({"metadata":{"labels":{"app":"z"}}})",
       "application/merge-patch+json");
  auto events = drain(*watch.watch);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "MODIFIED");
  EXPECT_EQ(events[1]["type"], "DELETED");
  // A watch without resourceVersion starts with the current state.
  auto fresh = call("GET", "/api/v1/namespaces/default/pods?watch=true");
  auto initial = drain(*fresh.watch);
  ASSERT_EQ(initial.size(), 1u);
  EXPECT_EQ(initial[0]["type"], "ADDED");
}

TEST_F(ApiHandlerTest, TooOldResourceVersionIsGone) {
  call("POST", "/api/v1/namespaces/default/pods", kPod);
  std::string rv = body(call("GET", "/api/v1/namespaces/default/pods"))["metadata"]["resourceVersion"];
  auto live = call("GET", "/api/v1/namespaces/default/pods?watch=1&resourceVersion=" + rv);
  call("PATCH", "/api/v1/namespaces/default/pods/p", R"({"metadata":{"labels":{"m":"1"}}})",
       "application/merge-patch+json");
  EXPECT_EQ(call("POST", "/sim/v1/watch/compact", "{}").status, 200);
  auto old = call("GET", "/api/v1/namespaces/default/pods?watch=1&resourceVersion=" + rv);
  ASSERT_TRUE(old.watch);
  std::string out;
  EXPECT_FALSE(old.watch->next(Millis(0), out));
  Json event = Json::parse(out);
  EXPECT_EQ(event["type"], "ERROR");
  EXPECT_EQ(event["object"]["code"], 410);
  EXPECT_EQ(event["object"]["reason"], "Expired");
  // A watcher that falls out of a small history mid-stream gets 410 too.
  std::string before = body(call("GET", "/api/v1/namespaces/default/pods"))["metadata"]["resourceVersion"];
  live = call("GET", "/api/v1/namespaces/default/pods?watch=1&resourceVersion=" + before);
  t_.cluster().hub().set_capacity(2);
  for (int i = 0; i < 5; ++i) {
    call("PATCH", "/api/v1/namespaces/default/pods/p",
         R"({"metadata":{"labels":{"n":")" + std::to_string(i) + R"("}}})", "application/merge-patch+json");
  }
  std::string late;
  EXPECT_FALSE(live.watch->next(Millis(0), late));
  EXPECT_NE(late.find("\"code\":410"), std::string::npos);
}

TEST_F(ApiHandlerTest, SimFaultEndpointsValidateInput) {
  EXPECT_EQ(call("POST", "/sim/v1/faults/memory", R"({"workload":"web","bytes":1})").status, 400);
  EXPECT_EQ(call("POST", "/sim/v1/faults/memory", R"({"workload":"deployment/web","bytes":"lots"})").status, 400);
  EXPECT_EQ(call("POST", "/sim/v1/faults/memory", R"({"workload":"deployment/web","bytes":"300Mi"})").status, 200);
  EXPECT_EQ(t_.cluster().faults().memory.at(0).bytes, 300LL << 20);
  EXPECT_EQ(call("POST", "/sim/v1/faults/node", R"({"node":"nope"})").status, 404);
  EXPECT_EQ(call("POST", "/sim/v1/faults/image", R"({"image":"x:1","mode":"explode"})").status, 400);
  EXPECT_EQ(call("PUT", "/sim/v1/config", R"({"unknownKey":1})").status, 400);
  EXPECT_EQ(call("POST", "/sim/v1/objects", "kind: [unclosed").status, 400);
}

TEST_F(ApiHandlerTest, MetricsUseKubeStateMetricsNames) {
  t_.apply(testing::kWebDeployment);
  t_.run(4);
  auto r = call("GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  for (const char* series : {"kube_deployment_spec_replicas{namespace=\"default\",deployment=\"web\"} 3",
                             "kube_node_status_condition{node=\"node-1\",condition=\"Ready\",status=\"true\"} 1",
                             "kube_pod_container_status_restarts_total{", "kube_pod_container_resource_limits{",
                             "unit=\"byte\"", "container_memory_working_set_bytes{", "node_total_hourly_cost{",
                             "container_cpu_allocation{", "kube_pod_owner{"}) {
    EXPECT_NE(r.body.find(series), std::string::npos) << series;
  }
  EXPECT_EQ(call("GET", "/metrics/kube-state-metrics").body.find("node_total_hourly_cost"), std::string::npos);
}

}  // namespace
}  // namespace kubesim
