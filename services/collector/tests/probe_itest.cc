// Probes against real local servers: an HTTP server and a TCP listener on
// 127.0.0.1:0, with timeouts and failure/success thresholds.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "health_check.h"

namespace kubemend::collector {
namespace {

class HttpServer {
 public:
  HttpServer() {
    server_.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      if (slow_ms_ > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms_.load()));
      }
      res.status = status_;
      res.set_content(body_, "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~HttpServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::atomic<int> status_{200};
  std::atomic<int> slow_ms_{0};
  std::string body_ = "ok";

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// A listening socket; closing it makes connects fail (refused).
class TcpListener {
 public:
  TcpListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~TcpListener() { Close(); }
  void Close() {
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(ProbeTest, HttpStatusBodyAndTimeout) {
  HttpServer s;
  HttpProbeSpec spec;
  spec.port = s.port();
  spec.path = "/healthz";
  auto r = HttpProbe("127.0.0.1", spec, Millis(2000));
  EXPECT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.detail, "HTTP 200");

  spec.body_contains = "all good";
  r = HttpProbe("127.0.0.1", spec, Millis(2000));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("does not contain"), std::string::npos);
  spec.body_contains.clear();

  s.status_ = 503;
  r = HttpProbe("127.0.0.1", spec, Millis(2000));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "HTTP 503 from /healthz");
  spec.expect_status = {503};
  EXPECT_TRUE(HttpProbe("127.0.0.1", spec, Millis(2000)).ok);
  spec.expect_status.clear();

  s.status_ = 200;
  s.slow_ms_ = 1500;
  r = HttpProbe("127.0.0.1", spec, Millis(200));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("failed"), std::string::npos) << r.detail;
  s.slow_ms_ = 0;
}

TEST(ProbeTest, HttpConnectionRefused) {
  TcpListener l;
  const int port = l.port();
  l.Close();
  HttpProbeSpec spec;
  spec.port = port;
  auto r = HttpProbe("127.0.0.1", spec, Millis(1000));
  EXPECT_FALSE(r.ok);
}

TEST(ProbeTest, TcpConnectAndRefused) {
  TcpListener l;
  auto r = TcpProbe("127.0.0.1", l.port(), Millis(1000));
  EXPECT_TRUE(r.ok) << r.detail;
  const int port = l.port();
  l.Close();
  r = TcpProbe("127.0.0.1", port, Millis(1000));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("refused"), std::string::npos) << r.detail;
  r = TcpProbe("no-such-host.invalid", 80, Millis(1000));
  EXPECT_FALSE(r.ok);
}

// The runner with the real prober against the HTTP server; time advanced by
// a FakeClock so intervals need no sleeping.
TEST(ProbeTest, ThresholdsDecideFiringAndResolving) {
  HttpServer s;
  HealthCheckSpec spec;
  spec.name = "web-http";
  spec.ns = "shop";
  spec.target_kind = "Pod";
  spec.target_name = "web-1";
  spec.type = "http";
  spec.http.port = s.port();
  spec.http.path = "/healthz";
  spec.interval = Millis(10'000);
  spec.timeout = Millis(1000);
  spec.failure_threshold = 3;
  spec.success_threshold = 2;
  spec.address = "127.0.0.1";
  FakeClock clock;
  RealProber prober(nullptr, [](Millis) {});
  HealthCheckRunner runner({spec}, nullptr, &prober, "prod", {"collector", "t", "0"}, clock);
  auto errors = [](const std::string& e) { ADD_FAILURE() << e; };

  auto round = [&] {
    auto ev = runner.RunDue(errors);
    clock.Advance(spec.interval);
    return ev;
  };
  EXPECT_TRUE(round().empty());
  s.status_ = 500;
  EXPECT_TRUE(round().empty());
  EXPECT_TRUE(round().empty());
  // Not due yet (5 s before the next interval): nothing probed, nothing changes.
  clock.Advance(Millis(-5000));
  EXPECT_TRUE(runner.RunDue(errors).empty());
  clock.Advance(Millis(5000));
  auto fired = round();
  ASSERT_EQ(fired.size(), 1u);
  const auto& sig = fired[0].signal();
  EXPECT_EQ(sig.source(), v1::SIGNAL_SOURCE_HEALTH_CHECK);
  EXPECT_EQ(sig.name(), "HealthCheckFailed");
  EXPECT_EQ(sig.status(), v1::SIGNAL_STATUS_FIRING);
  EXPECT_EQ(sig.value(), 3);
  EXPECT_EQ(sig.threshold(), 3);
  EXPECT_EQ(sig.fingerprint(), "health/web-http/shop/web-1");
  EXPECT_EQ(sig.annotations().at("last_result"), "HTTP 500 from /healthz");
  EXPECT_EQ(fired[0].target().name(), "web-1");
  EXPECT_TRUE(round().empty());  // still failing: no repeat
  s.status_ = 200;
  EXPECT_TRUE(round().empty());  // one success of two
  s.status_ = 500;
  EXPECT_TRUE(round().empty());  // streak broken
  s.status_ = 200;
  EXPECT_TRUE(round().empty());
  auto resolved = round();
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
  EXPECT_EQ(resolved[0].incident_id(), fired[0].incident_id());
}

// Two collector replicas probe in the same wall-clock rounds; a failure
// that starts while both watch is one event, whichever of them publishes it.
TEST(ProbeTest, ReplicasProbingTheSameRoundsPublishTheSameIds) {
  HttpServer s;
  HealthCheckSpec spec;
  spec.name = "web-http";
  spec.ns = "shop";
  spec.target_kind = "Pod";
  spec.target_name = "web-1";
  spec.type = "http";
  spec.http.port = s.port();
  spec.http.path = "/healthz";
  spec.interval = Millis(10'000);
  spec.timeout = Millis(1000);
  spec.failure_threshold = 2;
  spec.success_threshold = 1;
  spec.address = "127.0.0.1";
  FakeClock clock_a;
  FakeClock clock_b;
  clock_a.Advance(Millis(1'234));  // started mid-round
  clock_b.Advance(Millis(6'500));  // started later in the same round
  RealProber prober(nullptr, [](Millis) {});
  HealthCheckRunner a({spec}, nullptr, &prober, "prod", {"collector", "collector-1", "0"}, clock_a);
  HealthCheckRunner b({spec}, nullptr, &prober, "prod", {"collector", "collector-2", "0"}, clock_b);
  auto errors = [](const std::string& e) { ADD_FAILURE() << e; };
  std::vector<v1::Event> ea, eb;
  // Each runner is polled every second (the health tick), as HealthSource does.
  auto seconds = [&](int n) {
    for (int i = 0; i < n; ++i) {
      for (auto& e : a.RunDue(errors)) {
        ea.push_back(e);
      }
      for (auto& e : b.RunDue(errors)) {
        eb.push_back(e);
      }
      clock_a.Advance(Millis(1'000));
      clock_b.Advance(Millis(1'000));
    }
  };
  seconds(10);
  s.status_ = 500;
  seconds(30);
  s.status_ = 200;
  seconds(20);
  ASSERT_EQ(ea.size(), 2u);
  ASSERT_EQ(eb.size(), 2u);
  for (size_t i = 0; i < ea.size(); ++i) {
    EXPECT_EQ(ea[i].signal().status(), eb[i].signal().status());
    EXPECT_EQ(ea[i].event_id(), eb[i].event_id());
    EXPECT_EQ(ea[i].incident_id(), eb[i].incident_id());
  }
}

TEST(ProbeTest, TcpCheckThroughTheRunner) {
  TcpListener l;
  HealthCheckSpec spec;
  spec.name = "db-tcp";
  spec.ns = "shop";
  spec.target_kind = "Pod";
  spec.target_name = "db-0";
  spec.type = "tcp";
  spec.tcp.port = l.port();
  spec.failure_threshold = 1;
  spec.address = "127.0.0.1";
  FakeClock clock;
  RealProber prober(nullptr, [](Millis) {});
  HealthCheckRunner runner({spec}, nullptr, &prober, "prod", {"collector", "t", "0"}, clock);
  auto errors = [](const std::string& e) { ADD_FAILURE() << e; };
  EXPECT_TRUE(runner.RunDue(errors).empty());
  l.Close();
  clock.Advance(spec.interval);
  auto ev = runner.RunDue(errors);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].signal().reason(), "tcp");
}

}  // namespace
}  // namespace kubemend::collector
