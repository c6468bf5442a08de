// Notifications end to end: the real kubemend-safety-gate binary on the real
// broker (KUBEMEND_TEST_KAFKA_BROKERS, set by ./kubemend test) posting to an
// HTTP sink in this process (cpp-httplib), configured like a user would
// (a config file with notify.routes, secrets in the environment).
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "gate_itest_support.h"

namespace kubemend {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

struct Received {
  std::string path;
  std::string body;
  std::map<std::string, std::string> headers;
};

// A webhook receiver on 127.0.0.1 that records every POST. Listen() may be
// called late (the sink "comes back") on a port reserved up front.
class Sink {
 public:
  Sink() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    server_.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      Received r{req.path, req.body, {}};
      for (const auto& [k, v] : req.headers) {
        r.headers[k] = v;
      }
      got_.push_back(std::move(r));
      cv_.notify_all();
      res.set_content("ok", "text/plain");
    });
  }
  ~Sink() { Stop(); }
  void Listen() {
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) {
      std::this_thread::sleep_for(milliseconds(5));
    }
  }
  void Stop() {
    server_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  int port() const { return port_; }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // Waits until `n` requests on `path` arrived; returns what arrived there.
  std::vector<Received> WaitFor(const std::string& path, size_t n, seconds timeout = seconds(45)) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return OnLocked(path).size() >= n; });
    return OnLocked(path);
  }
  std::vector<Received> On(const std::string& path) {
    std::lock_guard lock(mu_);
    return OnLocked(path);
  }

 private:
  std::vector<Received> OnLocked(const std::string& path) {
    std::vector<Received> out;
    std::copy_if(got_.begin(), got_.end(), std::back_inserter(out),
                 [&](const Received& r) { return r.path == path; });
    return out;
  }
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> got_;
};

// A loopback port nothing listens on (bound, read, released).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

class NotifyIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* b = std::getenv("KUBEMEND_TEST_KAFKA_BROKERS");
    if (!b) {
      FAIL() << "KUBEMEND_TEST_KAFKA_BROKERS is not set; run the tests through ./kubemend test";
    }
    cfg_.brokers = b;
    cfg_.topic_prefix = "nt" + NewUuid().substr(0, 8) + ".";
    auto p = Producer::Create(cfg_, "itest", nullptr);
    ASSERT_TRUE(p.ok()) << p.status();
    producer_ = std::move(*p);
    config_ = "/tmp/kubemend-notify-itest-" + NewUuid().substr(0, 8) + ".yaml";
  }
  void TearDown() override { std::remove(config_.c_str()); }

  void WriteConfig(const std::string& yaml) {
    std::ofstream out(config_);
    out << yaml;
  }

  v1::Event Proposal(const std::string& ns, v1::ActionType action, bool needs_human) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_PROPOSAL, {"analyzer", "itest", "0"}, SystemClock::Instance());
    e.set_incident_id(NewUuid());
    e.mutable_target()->set_cluster("test");
    e.mutable_target()->set_namespace_(ns);
    e.mutable_target()->set_kind("Deployment");
    e.mutable_target()->set_name("api");
    e.mutable_proposal()->mutable_action()->set_type(action);
    e.mutable_proposal()->mutable_policy()->set_name("itest");
    e.mutable_proposal()->set_requires_approval(needs_human);
    e.mutable_proposal()->set_reason("image changed 2 minutes before the crash loop");
    return e;
  }

  v1::Event Failed(const std::string& ns, const std::string& name) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_OUTCOME, {"executor", "itest", "0"}, SystemClock::Instance());
    e.set_incident_id(NewUuid());
    e.mutable_target()->set_namespace_(ns);
    e.mutable_target()->set_kind("Deployment");
    e.mutable_target()->set_name(name);
    e.mutable_outcome()->set_status(v1::OUTCOME_STATUS_FAILED);
    e.mutable_outcome()->set_action_id(NewUuid());
    e.mutable_outcome()->mutable_action()->set_type(v1::ACTION_TYPE_INCREASE_MEMORY);
    e.mutable_outcome()->set_error("PATCH apps/v1 deployments/" + name + ": 409 Conflict");
    return e;
  }

  void Publish(const v1::Event& e, Topic topic) {
    auto tracker = std::make_shared<DeliveryTracker>();
    ASSERT_TRUE(producer_->Produce(TopicName(cfg_, topic), PartitionKey(topic, e.target()),
                                   e.SerializeAsString(), tracker)
                    .ok());
    ASSERT_TRUE(tracker->Wait(seconds(10)).ok());
  }

  void PauseOrResume(GateProcess& gate, bool pause) {
    grpc::ClientContext ctx;
    Bearer(ctx, "alice");
    v1::ModeResponse out;
    grpc::Status st;
    if (pause) {
      v1::PauseRequest req;
      req.set_reason("itest: database migration");
      st = gate.admin().Pause(&ctx, req, &out);
    } else {
      v1::ResumeRequest req;
      req.set_reason("itest: migration done");
      st = gate.admin().Resume(&ctx, req, &out);
    }
    ASSERT_TRUE(st.ok()) << st.error_message();
  }

  // The gate's env: fast retries for the tests, every route's secrets.
  std::map<std::string, std::string> Env(const Sink& sink) {
    return {{"ALL_URL", sink.Url("/all")},
            {"SHOP_URL", sink.Url("/shop")},
            {"SHOP_TOKEN", "shop-secret-token"},
            {"FAIL_URL", sink.Url("/failures")},
            {"KUBEMEND_NOTIFY_RETRY_INITIAL", "200ms"},
            {"KUBEMEND_NOTIFY_RETRY_MAX", "1s"}};
  }

  KafkaConfig cfg_;
  std::unique_ptr<Producer> producer_;
  std::string config_;
};

// A route to everything (Slack format), one filtered to namespace shop
// (generic webhook with a bearer token), one for failures only with a
// small rate limit.
constexpr char kRoutes[] = R"(
notify:
  routes:
    - name: all
      format: slack
      url_env: ALL_URL
    - name: shop
      format: webhook
      url_env: SHOP_URL
      token_env: SHOP_TOKEN
      namespaces: [shop]
      cluster_wide: false
    - name: failures
      format: slack
      url_env: FAIL_URL
      events: [execution_failed]
      rate_limit: {burst: 2, per: 4s}
breaker:
  min_samples: 100   # the burst of failures below must not trip it here
)";

TEST_F(NotifyIntegrationTest, ApprovalNeededReachesSlackWithTheCommandAndExpiryAndOnlyMatchingRoutes) {
  Sink sink;
  sink.Listen();
  WriteConfig(kRoutes);
  Watcher decisions(cfg_, {Topic::kDecisions});
  GateProcess gate(cfg_, Env(sink), config_);
  ASSERT_NO_FATAL_FAILURE(gate.Start());
  v1::Event shop = Proposal("shop", v1::ACTION_TYPE_ROLLBACK_IMAGE, true);
  v1::Event payments = Proposal("payments", v1::ACTION_TYPE_ROLLBACK_IMAGE, true);
  Publish(shop, Topic::kProposals);
  Publish(payments, Topic::kProposals);
  auto d = decisions.WaitFor([&](const v1::Event& e) {
    return e.has_decision() && e.decision().proposal_id() == shop.event_id();
  });
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->decision().verdict(), v1::VERDICT_AWAITING_APPROVAL);
  std::string expires = FormatRfc3339(FromTimestamp(d->decision().expires_at()));

  auto all = sink.WaitFor("/all", 2);
  ASSERT_EQ(all.size(), 2u) << "both approvals reach the unfiltered route";
  const Received* slack = nullptr;
  for (const auto& r : all) {
    if (r.body.find(shop.event_id()) != std::string::npos) {
      slack = &r;
    }
  }
  ASSERT_NE(slack, nullptr) << all[0].body;
  json body = json::parse(slack->body);
  std::string text = body["text"];
  EXPECT_NE(text.find("kubemend needs approval for RollbackImage on shop/Deployment/api"), std::string::npos)
      << text;
  EXPECT_NE(text.find("kubemendctl approve " + shop.event_id()), std::string::npos) << text;
  EXPECT_NE(text.find("Expires: " + expires), std::string::npos) << text;
  EXPECT_NE(text.find("image changed 2 minutes before the crash loop"), std::string::npos) << "why";
  EXPECT_TRUE(body["blocks"].is_array());
  EXPECT_EQ(slack->headers.at("Content-Type"), "application/json");
  EXPECT_EQ(slack->headers.at("X-Kubemend-Dedup-Key"), d->event_id());

  auto filtered = sink.WaitFor("/shop", 1);
  ASSERT_EQ(filtered.size(), 1u);
  json hook = json::parse(filtered[0].body);
  EXPECT_EQ(hook["kind"], "approval_needed");
  EXPECT_EQ(hook["namespace"], "shop");
  EXPECT_EQ(hook["event"]["decision"]["proposal_id"], shop.event_id());
  EXPECT_EQ(hook["dedup_key"], d->event_id());
  EXPECT_EQ(filtered[0].headers.at("Authorization"), "Bearer shop-secret-token");
  // The payments approval went to /all; give the shop route as long to (wrongly) deliver it.
  std::this_thread::sleep_for(seconds(2));
  EXPECT_EQ(sink.On("/shop").size(), 1u) << "a route filtered to shop gets nothing from payments";
  EXPECT_TRUE(sink.On("/failures").empty()) << "that route wants failures only";
  std::string log = gate.Log();
  EXPECT_EQ(log.find("shop-secret-token"), std::string::npos) << "secrets are never logged";
  EXPECT_EQ(log.find(sink.Url("/all")), std::string::npos) << "webhook URLs are never logged";
}

TEST_F(NotifyIntegrationTest, FailuresArePagedUnderTheRateLimitAndPauseResumeAreAnnounced) {
  Sink sink;
  sink.Listen();
  WriteConfig(kRoutes);
  GateProcess gate(cfg_, Env(sink), config_);
  ASSERT_NO_FATAL_FAILURE(gate.Start());
  for (int i = 0; i < 6; ++i) {
    Publish(Failed("shop", "web-" + std::to_string(i)), Topic::kOutcomes);
  }
  auto got = sink.WaitFor("/failures", 2);
  ASSERT_GE(got.size(), 2u);
  json first = json::parse(got[0].body);
  EXPECT_NE(first["text"].get<std::string>().find("kubemend could not apply IncreaseMemory on shop/Deployment/web-"),
            std::string::npos)
      << got[0].body;
  EXPECT_NE(first["text"].get<std::string>().find("409 Conflict"), std::string::npos);
  // The burst of 2 passes, the other 4 are held back and summarised once a
  // token is free again (one every 2 s).
  got = sink.WaitFor("/failures", 3, seconds(20));
  ASSERT_EQ(got.size(), 3u) << "2 failures and one summary";
  EXPECT_NE(json::parse(got[2].body)["text"].get<std::string>().find("4 more kubemend notifications suppressed"),
            std::string::npos)
      << got[2].body;
  EXPECT_NE(gate.Log().find("notification suppressed by the route's rate limit"), std::string::npos);

  ASSERT_NO_FATAL_FAILURE(PauseOrResume(gate, true));
  ASSERT_NO_FATAL_FAILURE(PauseOrResume(gate, false));
  auto all = sink.WaitFor("/all", 8);  // 6 failures + pause + resume
  std::string texts;
  for (const auto& r : all) {
    texts += json::parse(r.body)["text"].get<std::string>() + "\n";
  }
  EXPECT_NE(texts.find("kubemend is paused (kill switch)"), std::string::npos) << texts;
  EXPECT_NE(texts.find("Reason: itest: database migration"), std::string::npos) << texts;
  EXPECT_NE(texts.find("kubemendctl resume"), std::string::npos) << texts;
  EXPECT_NE(texts.find("kubemend resumed"), std::string::npos) << texts;
  EXPECT_NE(texts.find("By: alice"), std::string::npos) << "the authenticated subject";
}

TEST_F(NotifyIntegrationTest, BreakerOpeningIsAnnounced) {
  Sink sink;
  sink.Listen();
  WriteConfig(R"(
notify:
  routes:
    - name: breaker
      format: webhook
      url_env: ALL_URL
      events: [breaker_opened]
breaker: {min_samples: 3, failure_ratio: 0.5}
)");
  Watcher control(cfg_, {Topic::kControl});
  GateProcess gate(cfg_, Env(sink), config_);
  ASSERT_NO_FATAL_FAILURE(gate.Start());
  for (int i = 0; i < 3; ++i) {
    Publish(Failed("shop", "web-" + std::to_string(i)), Topic::kOutcomes);
  }
  auto announced = control.WaitFor([](const v1::Event& e) { return e.control().has_breaker_opened(); });
  ASSERT_TRUE(announced.has_value()) << "the gate publishes the opening on the control topic";
  auto got = sink.WaitFor("/all", 1);
  ASSERT_EQ(got.size(), 1u);
  json body = json::parse(got[0].body);
  EXPECT_EQ(body["kind"], "breaker_opened");
  EXPECT_EQ(body["severity"], "critical");
  EXPECT_NE(body["text"].get<std::string>().find("3 of the last 3 outcomes"), std::string::npos) << got[0].body;
  EXPECT_EQ(body["dedup_key"], announced->event_id());
  // A restarted gate finds the opening on the log and does not announce it again.
  gate.Stop();
  ASSERT_NO_FATAL_FAILURE(gate.Start());
  std::this_thread::sleep_for(seconds(3));
  EXPECT_EQ(control.Count([](const v1::Event& e) { return e.control().has_breaker_opened(); }), 1u);
  EXPECT_EQ(sink.On("/all").size(), 1u);
}

// The approval queue's bound, through the real binary: with
// gate.state.max_pending 1, a second proposal for a human is decided EXPIRED
// approval-queue-full on the decisions topic, and the route hears why.
TEST_F(NotifyIntegrationTest, FullApprovalQueueExpiresTheNextProposalAndSaysWhy) {
  Sink sink;
  sink.Listen();
  WriteConfig(R"(
gate:
  state:
    max_pending: 1
notify:
  routes:
    - name: all
      format: webhook
      url_env: ALL_URL
)");
  Watcher decisions(cfg_, {Topic::kDecisions});
  GateProcess gate(cfg_, Env(sink), config_);
  ASSERT_NO_FATAL_FAILURE(gate.Start());
  v1::Event first = Proposal("shop", v1::ACTION_TYPE_ROLLBACK_IMAGE, true);
  v1::Event second = Proposal("shop", v1::ACTION_TYPE_ROLLBACK_IMAGE, true);
  Publish(first, Topic::kProposals);
  Publish(second, Topic::kProposals);
  auto d = decisions.WaitFor([&](const v1::Event& e) {
    return e.has_decision() && e.decision().proposal_id() == second.event_id();
  });
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->decision().verdict(), v1::VERDICT_EXPIRED);
  EXPECT_EQ(d->decision().rule(), "approval-queue-full");
  EXPECT_NE(d->decision().reason().find("gate.state.max_pending=1"), std::string::npos)
      << d->decision().reason();
  auto got = sink.WaitFor("/all", 2);
  ASSERT_EQ(got.size(), 2u) << "the first asks for approval, the second says it could not";
  const Received* refused = nullptr;
  for (const auto& r : got) {
    if (r.body.find("approval-queue-full") != std::string::npos) {
      refused = &r;
    }
  }
  ASSERT_NE(refused, nullptr) << got[0].body << "\n" << got[1].body;
  json hook = json::parse(refused->body);
  EXPECT_EQ(hook["kind"], "approval_expired");
  EXPECT_NE(hook["title"].get<std::string>().find("approval queue is full"), std::string::npos) << hook["title"];
  EXPECT_NE(hook["text"].get<std::string>().find("gate.state.max_pending=1"), std::string::npos) << hook["text"];
  EXPECT_EQ(hook["event"]["decision"]["proposal_id"], second.event_id());
}

// A webhook that is down is retried with back-off; deciding goes on
// meanwhile; a restart before it came back loses nothing (the route's
// offset was not committed) and the same dedup key arrives.
TEST_F(NotifyIntegrationTest, DownSinkIsRetriedWithoutHoldingThePipelineAndSurvivesARestart) {
  int port = FreePort();  // nothing listens there: connections are refused
  WriteConfig(R"(
notify:
  routes:
    - name: ops
      format: webhook
      url_env: OPS_URL
      events: [paused, approval_needed]
)");
  std::map<std::string, std::string> env = {{"KUBEMEND_NOTIFY_RETRY_INITIAL", "200ms"},
                                            {"KUBEMEND_NOTIFY_RETRY_MAX", "1s"}};
  env["OPS_URL"] = "http://127.0.0.1:" + std::to_string(port) + "/ops";
  Watcher decisions(cfg_, {Topic::kDecisions});
  GateProcess gate(cfg_, env, config_);
  ASSERT_NO_FATAL_FAILURE(gate.Start());
  ASSERT_NO_FATAL_FAILURE(PauseOrResume(gate, true));
  // The pipeline does not wait for the webhook: a proposal is decided at once.
  v1::Event p = Proposal("shop", v1::ACTION_TYPE_RESTART_POD, false);
  auto started = std::chrono::steady_clock::now();
  Publish(p, Topic::kProposals);
  auto d = decisions.WaitFor([&](const v1::Event& e) {
    return e.has_decision() && e.decision().proposal_id() == p.event_id();
  }, seconds(20));
  ASSERT_TRUE(d.has_value()) << "deciding is held up by a dead webhook";
  EXPECT_EQ(d->decision().rule(), "paused");
  EXPECT_LT(std::chrono::steady_clock::now() - started, seconds(10));
  // Retried with back-off, several times.
  auto retries = [&] {
    std::string log = gate.Log();
    size_t n = 0;
    for (size_t at = log.find("notification not delivered, retrying"); at != std::string::npos;
         at = log.find("notification not delivered, retrying", at + 1)) {
      ++n;
    }
    return n;
  };
  auto until = std::chrono::steady_clock::now() + seconds(20);
  while (retries() < 3 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_GE(retries(), 3u);
  EXPECT_NE(gate.Log().find("backoff_ms=400"), std::string::npos) << "the back-off doubles";
  gate.Stop();

  // The webhook comes back on its port; the restarted gate delivers.
  httplib::Server back;
  std::mutex mu;
  std::vector<Received> got;
  back.Post("/ops", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    got.push_back({req.path, req.body, {{"X-Kubemend-Dedup-Key", req.get_header_value("X-Kubemend-Dedup-Key")}}});
    res.set_content("ok", "text/plain");
  });
  ASSERT_TRUE(back.bind_to_port("127.0.0.1", port));
  std::thread server([&] { back.listen_after_bind(); });
  ASSERT_NO_FATAL_FAILURE(gate.Start());
  auto deadline = std::chrono::steady_clock::now() + seconds(45);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (!got.empty()) {
        break;
      }
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  back.stop();
  server.join();
  ASSERT_FALSE(got.empty()) << "the pause notification was lost across the restart";
  json body = json::parse(got[0].body);
  EXPECT_EQ(body["kind"], "paused");
  EXPECT_EQ(got[0].headers["X-Kubemend-Dedup-Key"], body["event"]["event_id"]);
}

}  // namespace
}  // namespace kubemend
