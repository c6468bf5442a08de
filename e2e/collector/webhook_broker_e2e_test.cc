// The collector's asynchronous webhook against an Apache Kafka this test
// owns (scripts/kafka.sh): many concurrent keep-alive senders are all
// answered 200 with every alert published; while the broker is frozen
// (SIGSTOP) no request gets a 200, each gets 503 once the delivery timeout
// passes; after SIGCONT, Alertmanager's retries are published (nothing was
// remembered as sent).
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "kubemend/common/ids.h"
#include "stack.h"

namespace kubemend::e2e {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WaitUntil(const std::function<bool()>& pred, std::chrono::seconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return pred();
}

// The collector as a child process with its own environment; SIGTERM at the end.
class Collector {
 public:
  Collector(const fs::path& dir, const std::string& brokers) {
    const char* build = std::getenv("KUBEMEND_BUILD_DIR");
    const char* root = std::getenv("KUBEMEND_ROOT");
    const fs::path ready = dir / "collector.ready";
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = fopen((dir / "collector.log").c_str(), "a");
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
      const std::map<std::string, std::string> env{{"KUBEMEND_KAFKA_BROKERS", brokers},
                                                   {"KUBEMEND_KAFKA_TOPIC_PREFIX", "asyncwebhook."},
                                                   {"KUBEMEND_KAFKA_DELIVERY_TIMEOUT", "3s"},
                                                   {"KUBEMEND_HTTP_LISTEN", "127.0.0.1:0"},
                                                   {"KUBEMEND_GRPC_LISTEN", "127.0.0.1:0"},
                                                   {"KUBEMEND_RUNTIME_READY_FILE", ready.string()},
                                                   {"KUBEMEND_RUNTIME_STATE_DIR", dir.string()},
                                                   {"KUBEMEND_KUBERNETES_ENABLED", "false"}};
      for (const auto& [k, v] : env) {
        setenv(k.c_str(), v.c_str(), 1);
      }
      const std::string bin = std::string(build) + "/services/collector/kubemend-collector";
      const std::string config = std::string(root) + "/services/collector/config.yaml";
      execl(bin.c_str(), bin.c_str(), "--config", config.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    if (WaitUntil([&] { return !ReadFile(ready).empty(); }, std::chrono::seconds(30))) {
      std::string r = ReadFile(ready);
      auto p = r.find("\"http\":\"127.0.0.1:");
      port_ = std::atoi(r.c_str() + p + 18);
    }
  }
  ~Collector() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

std::string Body(const std::string& fp) {
  return AlertBody("KubePodCrashLooping", {{"namespace", "shop"}, {"pod", "web-" + fp}}, fp);
}

TEST(WebhookBrokerE2eTest, ConcurrentRequestsAreAnsweredAfterTheBrokerAndNeverWhileItIsFrozen) {
  const char* root = std::getenv("KUBEMEND_ROOT");
  ASSERT_NE(std::getenv("KUBEMEND_BUILD_DIR"), nullptr) << "KUBEMEND_BUILD_DIR not set; run through ./kubemend test";
  ASSERT_NE(root, nullptr) << "KUBEMEND_ROOT not set; run through ./kubemend test";
  const fs::path dir = fs::temp_directory_path() / ("kubemend-webhook-e2e-" + NewUuid().substr(0, 8));
  fs::create_directories(dir);
  const std::string kafka_sh = std::string(root) + "/scripts/kafka.sh";
  ASSERT_EQ(std::system((kafka_sh + " start " + dir.string() + " > " + (dir / "kafka.addr").string() + " 2>> " +
                         (dir / "kafka.err").string())
                            .c_str()),
            0)
      << ReadFile(dir / "kafka.err");
  std::string brokers = ReadFile(dir / "kafka.addr");
  brokers.erase(brokers.find_last_not_of(" \n") + 1);
  const pid_t broker = std::atoi(ReadFile(dir / "kafka" / "pid").c_str());
  ASSERT_GT(broker, 0);
  {
    Collector collector(dir, brokers);
    ASSERT_GT(collector.port(), 0) << ReadFile(dir / "collector.log");

    // 1. 64 keep-alive senders, 5 new alerts each: every answer a 200 with
    //    the alert published, and the broker saw them all.
    constexpr int kSenders = 64;
    constexpr int kEach = 5;
    std::atomic<int> ok{0};
    std::vector<std::string> failures(kSenders);
    std::vector<std::thread> senders;
    for (int s = 0; s < kSenders; ++s) {
      senders.emplace_back([&, s] {
        httplib::Client c("127.0.0.1", collector.port());
        c.set_read_timeout(30, 0);
        for (int i = 0; i < kEach; ++i) {
          auto res = c.Post("/api/v1/alerts", Body("c" + std::to_string(s) + "-" + std::to_string(i)),
                            "application/json");
          if (res && res->status == 200 && res->body.find("\"published\":1") != std::string::npos) {
            ok++;
          } else {
            failures[s] = res ? std::to_string(res->status) + " " + res->body : httplib::to_string(res.error());
          }
        }
      });
    }
    for (auto& t : senders) {
      t.join();
    }
    for (const auto& f : failures) {
      EXPECT_EQ(f, "");
    }
    EXPECT_EQ(ok.load(), kSenders * kEach);
    auto [mcode, metrics] = Post("http://127.0.0.1:" + std::to_string(collector.port()), "/metrics", "");
    EXPECT_EQ(mcode, 405) << "/metrics is GET only";
    httplib::Client mc("127.0.0.1", collector.port());
    auto m = mc.Get("/metrics");
    ASSERT_TRUE(m);
    EXPECT_NE(m->body.find("kubemend_collector_published_total{source=\"alertmanager\"} " +
                           std::to_string(kSenders * kEach)),
              std::string::npos)
        << m->body.substr(0, 2000);

    // 2. The broker frozen: concurrent new alerts wait, then 503; none 200.
    ASSERT_EQ(kill(broker, SIGSTOP), 0);
    constexpr int kFrozen = 80;  // more than the old server's 64 worker threads
    std::vector<int> codes(kFrozen, 0);
    std::vector<double> waited(kFrozen, 0);
    std::vector<std::thread> frozen;
    for (int s = 0; s < kFrozen; ++s) {
      frozen.emplace_back([&, s] {
        httplib::Client c("127.0.0.1", collector.port());
        c.set_read_timeout(60, 0);
        auto t0 = std::chrono::steady_clock::now();
        auto res = c.Post("/api/v1/alerts", Body("frozen-" + std::to_string(s)), "application/json");
        waited[s] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        codes[s] = res ? res->status : -1;
      });
    }
    // Meanwhile the server answers other paths at once: no thread is held by
    // a waiting request (a thread-per-request server with fewer threads than
    // waiting requests would queue this GET behind them).
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto t0 = std::chrono::steady_clock::now();
    auto h = mc.Get("/metrics");
    EXPECT_TRUE(h && h->status == 200);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
    for (auto& t : frozen) {
      t.join();
    }
    ASSERT_EQ(kill(broker, SIGCONT), 0);
    for (int s = 0; s < kFrozen; ++s) {
      EXPECT_EQ(codes[s], 503) << "request " << s << " while the broker was frozen";
      EXPECT_GE(waited[s], 2.5) << "answered before the delivery timeout (3 s)";
    }

    // 3. Thawed: the retries are published, not taken for duplicates.
    for (int s = 0; s < kFrozen; s += 8) {
      int code = 0;
      std::string reply;
      bool published = WaitUntil(
          [&] {
            std::tie(code, reply) =
                Post("http://127.0.0.1:" + std::to_string(collector.port()), "/api/v1/alerts",
                     Body("frozen-" + std::to_string(s)));
            return code == 200;
          },
          std::chrono::seconds(60));
      EXPECT_TRUE(published) << code << " " << reply;
      EXPECT_NE(reply.find("\"published\":1"), std::string::npos) << reply;
    }
  }
  std::system((kafka_sh + " stop " + dir.string()).c_str());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kubemend::e2e
