// The executor against an API server that throttles and fails (issue 11,
// "etcd slow or the API server answering 429/5xx"). A small fault proxy sits
// between the executor and kube-sim and answers the executor's writes with
// what an overloaded kube-apiserver sends:
//   - 429 Too Many Requests with Retry-After (API priority and fairness):
//     nothing was done; the client waits as told and tries again, and the
//     action succeeds, applied once;
//   - 503 after the write was applied (the answer lost on the way back): the
//     executor reads the object back, finds its action id on it and reports
//     SUCCEEDED; the object is changed exactly once and stays so when the
//     decision is delivered again (the action id on the object is the fence);
//   - 503 for every write (the server stays down): the action fails with an
//     outcome naming the server's answer, and the object is untouched.
// Only the executor goes through the proxy (--service-kubeconfig); the other
// services reach kube-sim directly.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <thread>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/kafka.h"
#include "stack.h"

namespace kubemend::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::seconds;

constexpr const char* kObjects = R"(apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: throttled, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: throttled}}
  template:
    metadata: {labels: {app: throttled}}
    spec: {containers: [{name: app, image: shop/api:v1}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: lost-answer, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: lost-answer}}
  template:
    metadata: {labels: {app: lost-answer}}
    spec: {containers: [{name: app, image: shop/api:v1}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: down, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: down}}
  template:
    metadata: {labels: {app: down}}
    spec: {containers: [{name: app, image: shop/api:v1}]}
)";

bool Eventually(const std::function<bool()>& pred, seconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return pred();
}

// An HTTP proxy in front of kube-sim that fails the writes (every method
// but GET) to objects whose path contains `target`, as told.
class FaultProxy {
 public:
  enum class Mode { kPass, kThrottle, kAnswerLost, kDown };
  explicit FaultProxy(std::string upstream) : upstream_(std::move(upstream)) {
    auto handle = [this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); };
    server_.Get(".*", handle);
    server_.Put(".*", handle);
    server_.Patch(".*", handle);
    server_.Post(".*", handle);
    server_.Delete(".*", handle);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FaultProxy() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void Set(const std::string& target, Mode mode, int times) {
    std::lock_guard lock(mu_);
    target_ = target;
    mode_ = mode;
    times_ = times;
  }
  int faulted() const { return faulted_; }
  int forwarded_writes() const { return forwarded_writes_; }

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    Mode mode = Mode::kPass;
    const bool write = req.method != "GET";
    {
      std::lock_guard lock(mu_);
      if (write && !target_.empty() && req.path.find(target_) != std::string::npos && times_ != 0) {
        mode = mode_;
        times_ = times_ > 0 ? times_ - 1 : times_;
      }
    }
    auto status = [&](int code, const std::string& reason, const std::string& message) {
      ++faulted_;
      res.status = code;
      res.set_content(json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"}, {"message", message},
                           {"reason", reason}, {"code", code}}
                          .dump(),
                      "application/json");
    };
    if (mode == Mode::kThrottle) {
      res.set_header("Retry-After", "1");
      return status(429, "TooManyRequests", "the server has received too many requests and has asked us to try "
                                            "again later");
    }
    if (mode == Mode::kDown) {
      return status(503, "ServiceUnavailable", "the server is currently unable to handle the request");
    }
    httplib::Client up(upstream_);
    up.set_read_timeout(30, 0);
    httplib::Headers headers;
    for (const char* h : {"Authorization", "Accept"}) {
      if (req.has_header(h)) {
        headers.emplace(h, req.get_header_value(h));
      }
    }
    std::string target = req.target.empty() ? req.path : req.target;
    const std::string type = req.get_header_value("Content-Type");
    httplib::Result r = req.method == "GET"      ? up.Get(target.c_str(), headers)
                        : req.method == "PUT"    ? up.Put(target.c_str(), headers, req.body, type.c_str())
                        : req.method == "PATCH"  ? up.Patch(target.c_str(), headers, req.body, type.c_str())
                        : req.method == "POST"   ? up.Post(target.c_str(), headers, req.body, type.c_str())
                                                 : up.Delete(target.c_str(), headers, req.body, type.c_str());
    if (!r) {
      res.status = 502;
      return;
    }
    if (write) {
      ++forwarded_writes_;
    }
    if (mode == Mode::kAnswerLost) {
      // Applied upstream; the client is told the server failed.
      return status(503, "ServiceUnavailable", "the server is currently unable to handle the request");
    }
    res.status = r->status;
    res.set_content(r->body, r->get_header_value("Content-Type").c_str());
  }

  std::string upstream_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::string target_;
  Mode mode_ = Mode::kPass;
  int times_ = 0;
  std::atomic<int> faulted_{0};
  std::atomic<int> forwarded_writes_{0};
};

class ApiFaultE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kubemend-api-fault-" + NewUuid().substr(0, 8));
    fs::create_directories(dir_);
    const fs::path ready = dir_ / "ready.json";
    sim_ = fork();
    if (sim_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      FILE* f = freopen((dir_ / "kube-sim.log").c_str(), "w", stderr);
      (void)f;
      execl(KUBEMEND_KUBE_SIM_BIN, KUBEMEND_KUBE_SIM_BIN, "--state-dir", (dir_ / "state").c_str(), "--ready-file",
            ready.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_TRUE(Eventually([&] { return fs::exists(ready) && fs::file_size(ready) > 0; }, seconds(20)));
    std::ifstream in(ready);
    json r = json::parse(in, nullptr, false);
    ASSERT_TRUE(r.is_object() && r.contains("http_url") && r.contains("kubeconfig_http")) << r.dump();
    sim_url_ = r["http_url"];
    httplib::Client c(sim_url_);
    auto res = c.Post("/sim/v1/objects", kObjects, "application/yaml");
    ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
    proxy_ = std::make_unique<FaultProxy>(sim_url_);
    // The executor's kubeconfig: kube-sim's, with the proxy as the server.
    std::ifstream kin(r["kubeconfig_http"].get<std::string>());
    std::string kc((std::istreambuf_iterator<char>(kin)), std::istreambuf_iterator<char>());
    const auto at = kc.find(sim_url_);
    ASSERT_NE(at, std::string::npos) << kc;
    kc.replace(at, sim_url_.size(), proxy_->url());
    std::ofstream(dir_ / "executor.kubeconfig") << kc;
    setenv("KUBEMEND_EXECUTOR_VERIFY_DEFAULT", "false", 1);
    const std::string up = stack_.Up("--kubeconfig " + r["kubeconfig_http"].get<std::string>() +
                                     " --service-kubeconfig executor=" + (dir_ / "executor.kubeconfig").string());
    unsetenv("KUBEMEND_EXECUTOR_VERIFY_DEFAULT");
    ASSERT_EQ(up, "");
  }
  void TearDown() override {
    stack_.Down();
    proxy_.reset();
    if (sim_ > 0) {
      kill(sim_, SIGTERM);
      waitpid(sim_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  v1::Event ScaleUp(const std::string& name, const std::string& action_id) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_DECISION, {"safety-gate", "e2e", "0"}, SystemClock::Instance());
    e.set_incident_id(NewUuid());
    e.mutable_target()->set_namespace_("shop");
    e.mutable_target()->set_kind("Deployment");
    e.mutable_target()->set_name(name);
    v1::SafetyDecision* d = e.mutable_decision();
    d->set_verdict(v1::VERDICT_APPROVED);
    d->set_proposal_id(NewUuid());
    d->set_action_id(action_id);
    d->set_rule("all-rules-passed");
    d->set_approver("safety-gate");
    d->mutable_proposal()->set_mode(v1::MODE_AUTOMATIC);
    d->mutable_proposal()->mutable_action()->set_type(v1::ACTION_TYPE_SCALE_WORKLOAD);
    d->mutable_proposal()->mutable_action()->mutable_scale_workload()->set_delta(1);
    return e;
  }
  void Publish(const v1::Event& e) {
    KafkaConfig kc;
    kc.brokers = stack_.brokers();
    kc.topic_prefix = stack_.topic_prefix();
    auto p = Producer::Create(kc, "api-fault-e2e", nullptr);
    ASSERT_TRUE(p.ok()) << p.status();
    auto t = std::make_shared<DeliveryTracker>();
    ASSERT_TRUE((*p)->Produce(TopicName(kc, Topic::kDecisions), TargetKey(e.target()), e.SerializeAsString(), t).ok());
    ASSERT_TRUE(t->Wait(seconds(10)).ok());
  }
  // The outcomes stored for a target: (status, summary of the outcome).
  std::vector<std::pair<std::string, std::string>> Outcomes(const std::string& name) {
    pqxx::connection c(stack_.dsn());
    pqxx::work w(c);
    auto rows = w.exec_params(
        "SELECT outcome_status, payload_json->'outcome'->>'error' FROM audit_events WHERE event_type = 'outcome' "
        "AND target_name = $1 ORDER BY seq",
        name);
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& r : rows) {
      out.emplace_back(r[0].as<std::string>(), r[1].is_null() ? "" : r[1].as<std::string>());
    }
    return out;
  }
  std::string Trail(const std::string& name) {
    std::string s;
    for (const auto& [st, msg] : Outcomes(name)) {
      s += st + ": " + msg + "\n";
    }
    return s;
  }
  int64_t Replicas(const std::string& name) {
    httplib::Client c(sim_url_);
    auto r = c.Get(("/apis/apps/v1/namespaces/shop/deployments/" + name).c_str(),
                   {{"Authorization", "Bearer " + Token()}});
    if (!r || r->status != 200) {
      return -1;
    }
    return json::parse(r->body).at("spec").value("replicas", int64_t{-1});
  }
  std::string Token() {
    std::ifstream in(dir_ / "executor.kubeconfig");
    std::string kc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto at = kc.find("token:");
    if (at == std::string::npos) {
      return "";
    }
    at = kc.find_first_not_of(" \"", at + 6);
    return kc.substr(at, kc.find_first_of("\"\n", at) - at);
  }
  std::string ExecutorLog() { return ReadLog(stack_.run_dir() + "/logs/executor.log"); }
  static std::string ReadLog(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  fs::path dir_;
  pid_t sim_ = -1;
  std::string sim_url_;
  std::unique_ptr<FaultProxy> proxy_;
  Stack stack_;
};

TEST_F(ApiFaultE2eTest, ThrottledLostAndRefusedWritesAreAppliedAtMostOnceWithAClearOutcome) {
  // 1. Throttled twice (429, Retry-After: 1), then let through: retried, applied once.
  proxy_->Set("/deployments/throttled", FaultProxy::Mode::kThrottle, 2);
  const auto t0 = std::chrono::steady_clock::now();
  Publish(ScaleUp("throttled", NewUuid()));
  ASSERT_TRUE(Eventually([&] { return !Outcomes("throttled").empty(); }, seconds(60))) << ExecutorLog();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(Outcomes("throttled")[0].first, "succeeded") << Trail("throttled");
  EXPECT_EQ(Replicas("throttled"), 3);
  EXPECT_EQ(proxy_->faulted(), 2);
  EXPECT_NE(ExecutorLog().find("event=request_retry"), std::string::npos) << "no backoff logged";
  std::printf("throttled twice (Retry-After: 1): outcome after %.1f s\n", took);

  // 2. The write is applied but its answer is lost (503): applied once, and a
  //    redelivery of the action (same action id) changes nothing.
  proxy_->Set("/deployments/lost-answer", FaultProxy::Mode::kAnswerLost, 1);
  const std::string action = NewUuid();
  Publish(ScaleUp("lost-answer", action));
  ASSERT_TRUE(Eventually([&] { return !Outcomes("lost-answer").empty(); }, seconds(60))) << ExecutorLog();
  EXPECT_EQ(Replicas("lost-answer"), 3) << Trail("lost-answer");
  const auto first = Outcomes("lost-answer")[0];
  EXPECT_EQ(first.first, "succeeded") << "the change landed; the outcome must say so:\n" << Trail("lost-answer");
  std::printf("answer lost after the write: outcome %s: %s\n", first.first.c_str(), first.second.c_str());
  Publish(ScaleUp("lost-answer", action));
  ASSERT_TRUE(Eventually([&] { return Outcomes("lost-answer").size() >= 2; }, seconds(60))) << ExecutorLog();
  EXPECT_EQ(Replicas("lost-answer"), 3) << "the redelivered action was applied again:\n" << Trail("lost-answer");
  EXPECT_EQ(Outcomes("lost-answer")[1].first, "duplicate") << Trail("lost-answer");

  // 3. The server answers every write with 503: the action fails, saying so,
  //    and the object is untouched.
  proxy_->Set("/deployments/down", FaultProxy::Mode::kDown, -1);
  const int forwarded = proxy_->forwarded_writes();
  Publish(ScaleUp("down", NewUuid()));
  ASSERT_TRUE(Eventually([&] { return !Outcomes("down").empty(); }, seconds(90))) << ExecutorLog();
  const auto down = Outcomes("down")[0];
  EXPECT_EQ(down.first, "failed") << Trail("down");
  EXPECT_NE(down.second.find("unable to handle the request"), std::string::npos) << Trail("down");
  EXPECT_EQ(Replicas("down"), 2);
  EXPECT_EQ(proxy_->forwarded_writes(), forwarded) << "a write reached the cluster";
  std::printf("server down for writes: outcome %s: %s\n", down.first.c_str(), down.second.c_str());
}

}  // namespace
}  // namespace kubemend::e2e
