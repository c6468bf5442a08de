#pragma once
// What the safety gate's integration tests share: a watcher of the topics
// and the real kubemend-safety-gate binary as a child process
// (KUBEMEND_GATE_BINARY). Both talk to the broker of ./kubemend test.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/kafka.h"
#include "kubemend/v1/admin.grpc.pb.h"
#include "kubemend/v1/safety_gate_admin.grpc.pb.h"

namespace kubemend {

using std::chrono::seconds;

// Every gate here runs with these admin tokens (the admin API is locked
// without tokens); `Bearer(ctx, "alice")` authenticates a call as alice.
constexpr char kGateTokens[] =
    "operator:alice:alice-token,operator:bob:bob-token,viewer:vic:vic-token";
inline void Bearer(grpc::ClientContext& ctx, const std::string& subject) {
  ctx.AddMetadata("authorization", "Bearer " + subject + "-token");
}

// Everything published on the topics a test watches, decoded.
class Watcher {
 public:
  Watcher(const KafkaConfig& base, std::vector<Topic> topics) {
    KafkaConfig cfg = base;
    cfg.group_id = "itest-watch-" + NewUuid();
    std::vector<std::string> names;
    for (Topic t : topics) {
      names.push_back(TopicName(cfg, t));
    }
    auto c = BatchConsumer::Create(cfg, "itest-watch", names, [this](std::span<const InMessage> batch) {
      std::lock_guard lock(mu_);
      for (const auto& m : batch) {
        auto e = DecodeEvent(m.payload);
        if (e.ok()) {
          events_.push_back(*e);
        }
      }
      cv_.notify_all();
      return absl::OkStatus();
    }, nullptr);
    EXPECT_TRUE(c.ok()) << c.status();
    consumer_ = std::move(*c);
    thread_ = std::thread([this] { consumer_->Run(); });
  }
  ~Watcher() {
    consumer_->Stop();
    thread_.join();
  }
  // Waits for an event matching `pred`.
  std::optional<v1::Event> WaitFor(const std::function<bool(const v1::Event&)>& pred,
                                   seconds timeout = seconds(45)) {
    std::unique_lock lock(mu_);
    std::optional<v1::Event> found;
    cv_.wait_for(lock, timeout, [&] {
      for (const auto& e : events_) {
        if (pred(e)) {
          found = e;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  size_t Count(const std::function<bool(const v1::Event&)>& pred) {
    std::lock_guard lock(mu_);
    return std::count_if(events_.begin(), events_.end(), pred);
  }

 private:
  std::unique_ptr<BatchConsumer> consumer_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::Event> events_;
};

class GateProcess {
 public:
  // `config`, when set, is passed as --config (keys the environment cannot set, like notify.routes).
  GateProcess(const KafkaConfig& cfg, std::map<std::string, std::string> env, std::string config = "")
      : cfg_(cfg), env_(std::move(env)), config_(std::move(config)) {}
  ~GateProcess() {
    Stop();
    for (const auto& f : logs_) {
      if (!::testing::Test::HasFailure()) {
        std::remove(f.c_str());  // kept for a failing test: the gate's own account
      }
    }
  }

  // Returns once the ready file exists and, with `wait_serving`, the gate
  // serves (its state is rebuilt from the log; admin calls answer).
  void Start(bool wait_serving = true) {
    ready_ = "/tmp/kubemend-gate-itest-" + NewUuid().substr(0, 8) + ".ready";
    std::string logfile = ready_ + ".log";
    logs_.push_back(logfile);
    pid_ = fork();
    if (pid_ == 0) {
      setenv("KUBEMEND_KAFKA_BROKERS", cfg_.brokers.c_str(), 1);
      setenv("KUBEMEND_KAFKA_TOPIC_PREFIX", cfg_.topic_prefix.c_str(), 1);
      setenv("KUBEMEND_KAFKA_GROUP_ID", (cfg_.topic_prefix + "gate").c_str(), 1);
      setenv("KUBEMEND_GRPC_LISTEN", "127.0.0.1:0", 1);
      setenv("KUBEMEND_HTTP_LISTEN", "127.0.0.1:0", 1);
      setenv("KUBEMEND_RUNTIME_READY_FILE", ready_.c_str(), 1);
      setenv("KUBEMEND_ADMIN_TOKENS", kGateTokens, 1);
      for (const auto& [k, v] : env_) {
        setenv(k.c_str(), v.c_str(), 1);
      }
      FILE* f = freopen(logfile.c_str(), "a", stderr);
      (void)f;
      if (config_.empty()) {
        execl(KUBEMEND_GATE_BINARY, KUBEMEND_GATE_BINARY, static_cast<char*>(nullptr));
      } else {
        execl(KUBEMEND_GATE_BINARY, KUBEMEND_GATE_BINARY, "--config", config_.c_str(),
              static_cast<char*>(nullptr));
      }
      _exit(127);
    }
    ASSERT_GT(pid_, 0);
    auto until = std::chrono::steady_clock::now() + seconds(60);
    std::string text;
    while (std::chrono::steady_clock::now() < until) {
      std::ifstream in(ready_);
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
      if (!text.empty()) {
        break;
      }
      int status = 0;
      ASSERT_EQ(waitpid(pid_, &status, WNOHANG), 0) << "the gate exited early; see " << logfile;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::smatch m;
    ASSERT_TRUE(std::regex_search(text, m, std::regex("\"grpc\":\"([^\"]+)\""))) << "no ready file; see " << logfile;
    grpc_addr_ = m[1];
    stub_ = v1::SafetyGateAdmin::NewStub(grpc::CreateChannel(m[1], grpc::InsecureChannelCredentials()));
    while (wait_serving && !Status().serving() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(!wait_serving || Status().serving()) << "not serving: " << Status().not_serving_reason();
  }

  // kubemend.v1.Admin/GetStatus as alice; serving and not_serving_reason.
  v1::GetStatusResponse Status() {
    auto admin = v1::Admin::NewStub(grpc::CreateChannel(grpc_addr_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    Bearer(ctx, "alice");
    v1::GetStatusResponse out;
    (void)admin->GetStatus(&ctx, {}, &out);
    return out;
  }
  bool Alive() {
    int status = 0;
    return pid_ > 0 && waitpid(pid_, &status, WNOHANG) == 0;
  }

  // SIGTERM and wait: the gate commits what it processed on the way out.
  void Stop() {
    if (pid_ <= 0) {
      return;
    }
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    std::remove(ready_.c_str());
  }

  v1::SafetyGateAdmin::Stub& admin() { return *stub_; }
  // The gate's log (stderr) of the latest Start().
  std::string Log() const {
    if (logs_.empty()) {
      return "";
    }
    std::ifstream in(logs_.back());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  KafkaConfig cfg_;
  std::map<std::string, std::string> env_;
  std::string config_;
  pid_t pid_ = -1;
  std::string ready_;
  std::string grpc_addr_;
  std::vector<std::string> logs_;
  std::unique_ptr<v1::SafetyGateAdmin::Stub> stub_;
};

}  // namespace kubemend
