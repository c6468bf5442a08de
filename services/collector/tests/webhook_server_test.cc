// The collector's asynchronous HTTP port (http_server.h + webhook.h) in
// process: a sink that holds every acknowledgement until the test releases
// it shows that requests are answered only after their own acknowledgement
// and that waiting requests hold no thread. Clients: cpp-httplib's and raw
// sockets (pipelining, slow and malformed requests).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "http_server.h"
#include "webhook.h"

namespace kubemend::collector {
namespace {

const ProducerIdentity kWho{"collector", "c-1", "0.1.0"};

std::string Alert(const std::string& fp) {
  return R"({"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"web-1"},
    "annotations":{},"startsAt":"2026-11-22T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":")" +
         fp + "\"}";
}

std::string Body(const std::vector<std::string>& fps) {
  std::string a;
  for (const auto& fp : fps) {
    a += (a.empty() ? "" : ",") + Alert(fp);
  }
  return R"({"version":"4","status":"firing","receiver":"k","groupLabels":{},"alerts":[)" + a + "]}";
}

// Holds each PublishAsync's completion until Release (or acks at once).
class ManualSink final : public SignalSink {
 public:
  absl::Status Publish(const std::vector<v1::Event>&) override {
    return absl::InternalError("the webhook must not publish synchronously");
  }
  void PublishAsync(const std::vector<v1::Event>&, Done done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!auto_ack_) {
        pending_.push_back(std::move(done));
        return;
      }
    }
    done(absl::OkStatus());
  }
  size_t Pending() {
    std::lock_guard<std::mutex> lock(mu_);
    return pending_.size();
  }
  void Release(const absl::Status& st) {
    std::vector<Done> all;
    {
      std::lock_guard<std::mutex> lock(mu_);
      all.swap(pending_);
    }
    for (auto& d : all) {
      d(st);
    }
  }
  void set_auto_ack(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    auto_ack_ = on;
  }

 private:
  std::mutex mu_;
  bool auto_ack_ = false;
  std::vector<Done> pending_;
};

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds within = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + within;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// A raw HTTP/1.1 connection: what we send is exactly what the server reads.
class RawConn {
 public:
  explicit RawConn(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawConn() { close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& s) { ASSERT_EQ(write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  // One response: {status, whole text}; {0, ...} when the connection closed first.
  std::pair<int, std::string> Read() {
    for (;;) {
      auto head_end = buf_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        auto cl = buf_.find("Content-Length: ");
        size_t len = cl != std::string::npos && cl < head_end ? std::stoul(buf_.substr(cl + 16)) : 0;
        if (buf_.size() >= head_end + 4 + len) {
          std::string msg = buf_.substr(0, head_end + 4 + len);
          buf_.erase(0, msg.size());
          return {std::stoi(msg.substr(9, 3)), msg};
        }
      }
      char tmp[4096];
      ssize_t n = read(fd_, tmp, sizeof tmp);
      if (n <= 0) {
        return {0, buf_};
      }
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::string Post(const std::string& body, const std::string& auth = "Bearer tok", bool close = false) {
  return "POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         (close ? "Connection: close\r\n" : "") + "\r\n" + body;
}

class WebhookServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(2, 64 << 20); }
  void Start(int threads, int64_t max_in_flight) {
    server_.reset();
    handler_.reset();
    publisher_.reset();
    dedup_ = std::move(*DedupStore::Open("", Millis(3'600'000), clock_));
    publisher_ = std::make_unique<Publisher>(&sink_, dedup_.get(), &metrics_);
    WebhookAuthConfig ac;
    ac.type = "bearer";
    auto auth = WebhookAuth::Create(ac, {{"KUBEMEND_WEBHOOK_TOKEN", "tok"}});
    WebhookConfig wc;
    wc.max_body_bytes = 8192;
    wc.http_threads = threads;
    wc.max_in_flight_bytes = max_in_flight;
    wc.read_timeout = Millis(2000);
    handler_ = std::make_unique<WebhookHandler>(publisher_.get(), wc, *auth, kWho, clock_);
    auto s = AsyncHttpServer::Start(WebhookServerOptions(wc, "127.0.0.1:0", "", ""),
                                    CollectorRoutes(
                                        handler_.get(), [] { return std::string("metric_x 1\n"); },
                                        [] { return std::make_pair(200, std::string("ok\n")); }));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }
  void TearDown() override {
    sink_.Release(absl::UnavailableError("test over"));
    server_.reset();
  }
  FakeClock clock_;
  MetricsRegistry metrics_;
  ManualSink sink_;
  std::unique_ptr<DedupStore> dedup_;
  std::unique_ptr<Publisher> publisher_;
  std::unique_ptr<WebhookHandler> handler_;
  std::unique_ptr<AsyncHttpServer> server_;
};

// 100 concurrent requests on 2 I/O threads: all wait for the broker at once
// (none answered), then each gets its 200 after the acknowledgement.
TEST_F(WebhookServerTest, ManyConcurrentRequestsAreAnsweredOnlyAfterTheirAcknowledgement) {
  constexpr int kClients = 100;
  std::atomic<int> answered{0};
  std::vector<int> codes(kClients, 0);
  std::vector<std::string> bodies(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", server_->port());
      c.set_read_timeout(20, 0);
      c.set_bearer_token_auth("tok");
      auto res = c.Post("/api/v1/alerts", Body({"fp-" + std::to_string(i)}), "application/json");
      codes[i] = res ? res->status : -1;
      bodies[i] = res ? res->body : httplib::to_string(res.error());
      answered++;
    });
  }
  ASSERT_TRUE(WaitFor([&] { return sink_.Pending() == kClients; })) << sink_.Pending();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(answered.load(), 0) << "a request was answered before the broker acknowledged it";
  EXPECT_EQ(dedup_->size(), 0U) << "dedup recorded a signal before its acknowledgement";
  sink_.Release(absl::OkStatus());
  for (auto& t : clients) {
    t.join();
  }
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(codes[i], 200) << bodies[i];
    EXPECT_NE(bodies[i].find("\"published\":1"), std::string::npos) << bodies[i];
  }
  EXPECT_EQ(dedup_->size(), static_cast<size_t>(kClients));
}

TEST_F(WebhookServerTest, NotAcknowledgedMeans503AndTheRetryIsPublished) {
  RawConn c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Send(Post(Body({"fp-retry"})));
  ASSERT_TRUE(WaitFor([&] { return sink_.Pending() == 1; }));
  sink_.Release(absl::UnavailableError("kafka delivery failed: Local: Message timed out"));
  auto [code, text] = c.Read();
  EXPECT_EQ(code, 503) << text;
  EXPECT_NE(text.find("Message timed out"), std::string::npos) << text;
  // Not remembered as sent: the retry on the same keep-alive connection is published.
  sink_.set_auto_ack(true);
  c.Send(Post(Body({"fp-retry"})));
  std::tie(code, text) = c.Read();
  EXPECT_EQ(code, 200) << text;
  EXPECT_NE(text.find("\"published\":1"), std::string::npos) << text;
  c.Send(Post(Body({"fp-retry"})));
  std::tie(code, text) = c.Read();
  EXPECT_NE(text.find("\"deduplicated\":1"), std::string::npos) << text;
}

// Three requests in one write: three answers, in order, on one connection.
TEST_F(WebhookServerTest, PipelinedRequestsAreAnsweredInOrder) {
  sink_.set_auto_ack(true);
  RawConn c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Send(Post(Body({"p1"})) + Post(Body({"p2", "p3"})) + Post(Body({"p4", "p5", "p6"}), "Bearer tok", true));
  for (int n = 1; n <= 3; ++n) {
    auto [code, text] = c.Read();
    EXPECT_EQ(code, 200) << text;
    EXPECT_NE(text.find("\"accepted\":" + std::to_string(n)), std::string::npos) << n << ": " << text;
  }
  EXPECT_EQ(c.Read().first, 0) << "Connection: close was not honoured";
}

// curl (and others) ask before sending a body: 100 Continue, then the answer.
TEST_F(WebhookServerTest, ExpectContinueIsAnswered) {
  sink_.set_auto_ack(true);
  RawConn c(server_->port());
  const std::string body = Body({"expect-1"});
  c.Send("POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nExpect: 100-continue\r\n"
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  auto [code, text] = c.Read();
  ASSERT_EQ(code, 100) << text;
  c.Send(body);
  std::tie(code, text) = c.Read();
  EXPECT_EQ(code, 200) << text;
  EXPECT_NE(text.find("\"published\":1"), std::string::npos) << text;
}

// One I/O thread; a client stuck mid-headers and one stuck mid-body do not
// delay anyone else, and are dropped after webhook.read_timeout.
TEST_F(WebhookServerTest, SlowClientsDoNotBlockOthers) {
  Start(1, 64 << 20);
  sink_.set_auto_ack(true);
  RawConn slow_head(server_->port());
  slow_head.Send("POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\n");
  RawConn slow_body(server_->port());
  slow_body.Send("POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Length: 500\r\n\r\n{");
  for (int i = 0; i < 20; ++i) {
    RawConn c(server_->port());
    auto t0 = std::chrono::steady_clock::now();
    c.Send(Post(Body({"quick-" + std::to_string(i)})));
    auto [code, text] = c.Read();
    EXPECT_EQ(code, 200) << text;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
  }
  // read_timeout (2 s here): both are closed without an answer.
  EXPECT_EQ(slow_head.Read().first, 0);
  EXPECT_EQ(slow_body.Read().first, 0);
  EXPECT_TRUE(WaitFor([&] { return server_->connections() == 0; }));
}

TEST_F(WebhookServerTest, BadRequestsGetClearErrorsAndTheServerKeepsServing) {
  sink_.set_auto_ack(true);
  struct Case {
    std::string request;
    int code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"HELLO WORLD\r\n\r\n", 400, "bad request"},
      {"POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", 413, "max_body_bytes"},
      {Post("{not json"), 400, "error"},
      {Post(Body({"x"}), "Bearer wrong"), 401, "WWW-Authenticate: Bearer"},
      {"GET /api/v1/alerts HTTP/1.1\r\nHost: x\r\n\r\n", 405, "Allow: POST"},
      {"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, "no such path"},
      {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, "metric_x 1"},
      {"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200, "ok"},
  };
  for (const auto& k : cases) {
    RawConn c(server_->port());
    c.Send(k.request);
    auto [code, text] = c.Read();
    EXPECT_EQ(code, k.code) << k.request << "\n-> " << text;
    EXPECT_NE(text.find(k.says), std::string::npos) << text;
  }
  // An oversized body actually sent (no Expect): the 413 still arrives.
  {
    RawConn c(server_->port());
    c.Send(Post(std::string(100000, 'x')));
    auto [code, text] = c.Read();
    EXPECT_EQ(code, 413) << text;
  }
  RawConn c(server_->port());
  c.Send(Post(Body({"after-errors"})));
  auto [code, text] = c.Read();
  EXPECT_EQ(code, 200) << text;
  EXPECT_EQ(metrics_.GetCounter("kubemend_collector_errors_total", "", {{"source", "alertmanager"}}).Value(), 2U);
}

// Bodies waiting for the broker are bounded: beyond the bound, 503 with
// Retry-After at once (nothing queued); after the acknowledgements, room again.
TEST_F(WebhookServerTest, InFlightBoundAnswers503WithRetryAfter) {
  const std::string one = Body({"held-1"});
  Start(2, static_cast<int64_t>(one.size() * 2));
  RawConn a(server_->port());
  RawConn b(server_->port());
  a.Send(Post(Body({"held-1"})));
  b.Send(Post(Body({"held-2"})));
  ASSERT_TRUE(WaitFor([&] { return sink_.Pending() == 2; }));
  RawConn c(server_->port());
  c.Send(Post(Body({"held-3"})));
  auto [code, text] = c.Read();
  EXPECT_EQ(code, 503) << text;
  EXPECT_NE(text.find("Retry-After: 1"), std::string::npos) << text;
  EXPECT_NE(text.find("max_in_flight_bytes"), std::string::npos) << text;
  sink_.Release(absl::OkStatus());
  EXPECT_EQ(a.Read().first, 200);
  EXPECT_EQ(b.Read().first, 200);
  EXPECT_EQ(handler_->in_flight_bytes(), 0);
  sink_.set_auto_ack(true);
  c.Send(Post(Body({"held-3"})));
  EXPECT_EQ(c.Read().first, 200);
}

std::string Shell(const std::string& cmd, int* code) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[512];
  size_t n = 0;
  while (p != nullptr && (n = fread(buf, 1, sizeof buf, p)) > 0) {
    out.append(buf, n);
  }
  int st = p == nullptr ? -1 : pclose(p);
  *code = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

// http.tls.*: the same server over HTTPS, checked with curl (a TLS client we
// did not write); plain HTTP gets no answer; a bad key pair stops the start.
TEST_F(WebhookServerTest, ServesHttpsWithTheConfiguredCertificate) {
  const std::string dir = ::testing::TempDir() + "/whtls_" + std::to_string(getpid());
  int code = 0;
  Shell("mkdir -p " + dir + " && cd " + dir +
            " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca"
            " >/dev/null 2>&1 && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost"
            " >/dev/null 2>&1 && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > san.ext"
            " && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 1"
            " -extfile san.ext >/dev/null 2>&1",
        &code);
  ASSERT_EQ(code, 0) << "openssl could not make test certificates";
  Shell("command -v curl", &code);
  ASSERT_EQ(code, 0) << "curl is missing (scripts/install-deps.sh installs it)";
  sink_.set_auto_ack(true);
  WebhookConfig wc = handler_->config();
  auto tls = AsyncHttpServer::Start(
      WebhookServerOptions(wc, "127.0.0.1:0", dir + "/srv.pem", dir + "/srv.key"),
      CollectorRoutes(handler_.get(), [] { return std::string(); }, [] { return std::make_pair(200, std::string("ok\n")); }));
  ASSERT_TRUE(tls.ok()) << tls.status();
  const std::string port = std::to_string((*tls)->port());
  std::string out = Shell("curl -sS --max-time 10 --cacert " + dir + "/ca.pem -H 'Authorization: Bearer tok' -d '" +
                              Body({"tls-1"}) + "' -w ' %{http_code}' https://127.0.0.1:" + port + "/api/v1/alerts 2>&1",
                          &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\"published\":1"), std::string::npos) << out;
  EXPECT_NE(out.find(" 200"), std::string::npos) << out;
  out = Shell("curl -sS --max-time 5 http://127.0.0.1:" + port + "/healthz 2>&1", &code);
  EXPECT_NE(code, 0) << "plain HTTP answered on a TLS port: " << out;
  auto bad = AsyncHttpServer::Start(WebhookServerOptions(wc, "127.0.0.1:0", dir + "/srv.pem", dir + "/ca.key"),
                                    CollectorRoutes(nullptr, [] { return std::string(); },
                                                    [] { return std::make_pair(200, std::string()); }));
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find("http.tls.cert_file"), std::string::npos) << bad.status();
  Shell("rm -rf " + dir, &code);
}

}  // namespace
}  // namespace kubemend::collector
