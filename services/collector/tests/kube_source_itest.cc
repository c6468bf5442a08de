// The Kubernetes source with the real kube client against the in-process
// fake API server: list → watch → 410 → relist diff, owner resolution
// through the ReplicaSet, and custom (Job) probes.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "fake_apiserver.h"
#include "health_check.h"
#include "sources.h"

namespace kubemend::collector {
namespace {

using nlohmann::json;
using kube::testing::FakeApiServer;

json PodJson(const std::string& name, const json& cs, const std::string& rv) {
  return {{"kind", "Pod"},
          {"apiVersion", "v1"},
          {"metadata",
           {{"name", name},
            {"namespace", "shop"},
            {"uid", "uid-" + name},
            {"resourceVersion", rv},
            {"labels", {{"app", "web"}}},
            {"ownerReferences", json::array({{{"kind", "ReplicaSet"}, {"name", "web-7d9f"}, {"controller", true}}})}}},
          {"status", {{"phase", "Running"}, {"containerStatuses", json::array({cs})}}}};
}

json CrashLooping() {
  return {{"name", "app"}, {"ready", false}, {"restartCount", 4}, {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}}};
}

json OomKilled() {
  return {{"name", "app"},
          {"ready", true},
          {"restartCount", 1},
          {"state", {{"running", json::object()}}},
          {"lastState", {{"terminated", {{"reason", "OOMKilled"}, {"exitCode", 137}}}}}};
}

json List(const std::string& rv, std::vector<json> items) {
  return {{"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", rv}}}, {"items", items}};
}

std::string WatchLine(const std::string& type, const json& obj) { return json{{"type", type}, {"object", obj}}.dump(); }

std::string Expired() {
  return json{{"type", "ERROR"},
              {"object", {{"kind", "Status"}, {"status", "Failure"}, {"reason", "Expired"}, {"code", 410}}}}
      .dump();
}

std::vector<v1::Event> WaitForEvents(MemorySignalSink& sink, size_t n, std::vector<v1::Event>* all) {
  for (int i = 0; i < 500 && all->size() < n; ++i) {
    auto got = sink.Take();
    all->insert(all->end(), got.begin(), got.end());
    if (all->size() < n) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return *all;
}

TEST(KubeSourceTest, WatchFiresResolvesOnRelistAndResolvesOwners) {
  FakeApiServer server;
  std::atomic<int> lists{0};
  std::atomic<int> watches{0};
  server.Get("/api/v1/pods", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.has_param("watch")) {
      if (watches++ == 0) {
        // b gets OOM-killed, then the resume point expires.
        server.StreamLines(res, {WatchLine("MODIFIED", PodJson("b", OomKilled(), "11")), Expired()}, true);
      } else {
        server.StreamLines(res, {}, true);
      }
      return;
    }
    if (lists++ == 0) {
      res.set_content(List("10", {PodJson("a", CrashLooping(), "10")}).dump(), "application/json");
    } else {
      // After 410: a is gone (the events about it were missed), b still OOM.
      res.set_content(List("20", {PodJson("b", OomKilled(), "19")}).dump(), "application/json");
    }
  });
  server.Get("/apis/apps/v1/namespaces/shop/replicasets/web-7d9f", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(json{{"kind", "ReplicaSet"},
                         {"metadata",
                          {{"name", "web-7d9f"},
                           {"namespace", "shop"},
                           {"ownerReferences",
                            json::array({{{"kind", "Deployment"}, {"name", "web"}, {"controller", true}}})}}}}
                        .dump(),
                    "application/json");
  });
  server.Start();
  kube::ClientConfig config;
  config.server = server.url();
  auto waits = std::make_shared<kube::testing::RecordedWaits>();
  auto client = kube::NewClient(config, kube::testing::NoSleepOptions(waits, 1));
  ASSERT_TRUE(client.ok());

  MetricsRegistry metrics;
  MemorySignalSink sink;
  auto dedup = DedupStore::Open("", Millis(1000), SystemClock::Instance());
  Publisher pub(&sink, dedup->get(), &metrics);
  KubeStateOptions opt;
  opt.nodes = false;
  opt.events = false;
  KubeSource src(client.value().get(), opt, &pub, {"collector", "t", "0"}, SystemClock::Instance(), Millis(60'000));
  src.Start();
  std::vector<v1::Event> all;
  WaitForEvents(sink, 3, &all);
  // Give a duplicate (if the relist re-fired b) a chance to show up.
  for (int i = 0; i < 50 && watches.load() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto rest = sink.Take();
  all.insert(all.end(), rest.begin(), rest.end());
  src.Stop();

  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].signal().fingerprint(), "k8s/Pod/shop/a/app/CrashLoopBackOff");
  EXPECT_EQ(all[0].signal().status(), v1::SIGNAL_STATUS_FIRING);
  EXPECT_EQ(all[0].target().owner_kind(), "Deployment");
  EXPECT_EQ(all[0].target().owner_name(), "web");
  EXPECT_EQ(all[1].signal().fingerprint(), "k8s/Pod/shop/b/app/OOMKilled");
  EXPECT_EQ(all[1].signal().status(), v1::SIGNAL_STATUS_FIRING);
  EXPECT_EQ(all[2].signal().fingerprint(), "k8s/Pod/shop/a/app/CrashLoopBackOff");
  EXPECT_EQ(all[2].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
  EXPECT_EQ(lists.load(), 2);
  // The ReplicaSet was looked up once (cached).
  EXPECT_EQ(server.CountRequests("GET", "/apis/apps/v1/namespaces/shop/replicasets/web-7d9f"), 1u);
  EXPECT_EQ(src.Details()["kubernetes.relists_after_gone"], "1");
}

TEST(CustomProbeTest, JobOutcomeIsTheProbeResultAndTheJobIsDeleted) {
  FakeApiServer server;
  std::atomic<int> created{0};
  std::atomic<bool> fail{false};
  server.Post("/apis/batch/v1/namespaces/shop/jobs", [&](const httplib::Request& req, httplib::Response& res) {
    json job = json::parse(req.body);
    EXPECT_EQ(job["metadata"]["generateName"], "hc-db-check-");
    EXPECT_EQ(job["spec"]["template"]["spec"]["containers"][0]["image"], "busybox");
    job["metadata"]["name"] = "hc-db-check-" + std::to_string(created++);
    res.status = 201;
    res.set_content(job.dump(), "application/json");
  });
  std::atomic<int> gets{0};
  server.Get(R"(/apis/batch/v1/namespaces/shop/jobs/([^/]+))", [&](const httplib::Request& req, httplib::Response& res) {
    // Running on the first look, then done.
    json st = gets++ % 2 == 0 ? json{{"active", 1}} : (fail ? json{{"failed", 1}} : json{{"succeeded", 1}});
    res.set_content(json{{"kind", "Job"}, {"metadata", {{"name", req.matches[1]}}}, {"status", st}}.dump(),
                    "application/json");
  });
  server.Delete(R"(/apis/batch/v1/namespaces/shop/jobs/([^/]+))", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"kind":"Status","status":"Success"})", "application/json");
  });
  server.Start();
  kube::ClientConfig config;
  config.server = server.url();
  auto waits = std::make_shared<kube::testing::RecordedWaits>();
  auto client = kube::NewClient(config, kube::testing::NoSleepOptions(waits, 1));
  ASSERT_TRUE(client.ok());
  std::vector<Millis> slept;
  RealProber prober(client.value().get(), [&](Millis d) { slept.push_back(d); }, Millis(100));
  HealthCheckSpec spec;
  spec.name = "db-check";
  spec.ns = "shop";
  spec.type = "custom";
  spec.custom.image = "busybox";
  spec.custom.command = {"sh", "-c", "nc -z db 5432"};
  spec.timeout = Millis(2000);
  auto r = prober.Probe(spec, "shop", "db-0", "");
  EXPECT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(slept.size(), 1u);  // one poll interval while the Job ran
  fail = true;
  r = prober.Probe(spec, "shop", "db-0", "");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("failed"), std::string::npos);
  EXPECT_EQ(server.CountRequests("DELETE", "/apis/batch/v1/namespaces/shop/jobs/hc-db-check-0"), 1u);
  EXPECT_EQ(server.CountRequests("DELETE", "/apis/batch/v1/namespaces/shop/jobs/hc-db-check-1"), 1u);
}

}  // namespace
}  // namespace kubemend::collector
