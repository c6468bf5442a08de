#pragma once
// A local HTTP server answering /api/v1/query and /api/v1/query_range under
// a path prefix with whatever status and body the test sets, like the
// Prometheus API would (bodies as Prometheus 2.42 writes them). For the
// client's own tests and the services' tests of what they do with answers.
// Header-only; link common_test_support.
#include <httplib.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kubemend::testing {

class FakePrometheus {
 public:
  explicit FakePrometheus(std::string prefix = "/prom") : prefix_(std::move(prefix)) {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      std::chrono::milliseconds delay;
      {
        std::lock_guard<std::mutex> lock(mu_);
        last_ = req;
        queries_.push_back(req.get_param_value("query"));
        res.status = status_;
        res.set_content(body_, "application/json");
        delay = delay_;
      }
      std::this_thread::sleep_for(delay);
    };
    server_.Post(prefix_ + "/api/v1/query", handler);
    server_.Post(prefix_ + "/api/v1/query_range", handler);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakePrometheus() {
    server_.stop();
    thread_.join();
  }
  FakePrometheus(const FakePrometheus&) = delete;
  FakePrometheus& operator=(const FakePrometheus&) = delete;

  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The base URL a client is given: origin + prefix.
  std::string url() const { return origin() + prefix_; }
  // Every later request gets this status and body, after `delay`.
  void Answer(int status, std::string body, std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    body_ = std::move(body);
    delay_ = delay;
  }
  httplib::Request last() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }
  std::vector<std::string> queries() {
    std::lock_guard<std::mutex> lock(mu_);
    return queries_;
  }

 private:
  std::string prefix_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  int status_ = 200;
  std::string body_;
  std::chrono::milliseconds delay_{0};
  httplib::Request last_;
  std::vector<std::string> queries_;
};

}  // namespace kubemend::testing
