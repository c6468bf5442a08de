#pragma once

// A tiny stand-in for the API server: cpp-httplib on 127.0.0.1, port 0, in a
// background thread. Tests register their own handlers on http() before
// Start(); every request to a handler
// registered through Get/Post/... is recorded.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "kubemend/kube/client.h"

namespace kubemend::kube::testing {

struct RecordedRequest {
  std::string method;
  std::string path;
  std::multimap<std::string, std::string> params;
  httplib::Headers headers;
  std::string body;

  [[nodiscard]] std::string Param(const std::string& key) const {
    auto it = params.find(key);
    return it == params.end() ? "" : it->second;
  }
  [[nodiscard]] std::string Header(const std::string& key) const {
    auto it = headers.find(key);
    return it == headers.end() ? "" : it->second;
  }
};

class FakeApiServer {
 public:
  // Plain HTTP.
  FakeApiServer();
  // Any server, e.g. an httplib::SSLServer.
  explicit FakeApiServer(std::unique_ptr<httplib::Server> server, bool tls);
  ~FakeApiServer();

  httplib::Server& http() { return *server_; }
  // Registers a handler that records the request before running.
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  void Get(const std::string& pattern, Handler handler);
  void Post(const std::string& pattern, Handler handler);
  void Put(const std::string& pattern, Handler handler);
  void Patch(const std::string& pattern, Handler handler);
  void Delete(const std::string& pattern, Handler handler);
  // Binds 127.0.0.1:0 and serves in the background.
  void Start();
  // Stops serving; streaming handlers see stopping() and return.
  void Stop();

  [[nodiscard]] std::string url() const;
  [[nodiscard]] bool stopping() const { return stopping_.load(); }

  std::vector<RecordedRequest> Requests();
  // Requests whose path equals `path` (any method).
  std::vector<RecordedRequest> RequestsTo(const std::string& path);
  size_t CountRequests(const std::string& method, const std::string& path);

  // Writes `lines` (each gets a '\n') as a chunked body, then either ends the
  // response or, with hold_open, keeps the stream alive with blank
  // heartbeat lines until the client goes away or the server stops.
  void StreamLines(httplib::Response& res, std::vector<std::string> lines, bool hold_open);

 private:
  Handler Recording(Handler handler);

  std::unique_ptr<httplib::Server> server_;
  bool tls_ = false;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<RecordedRequest> requests_;
};

// Options that never sleep: waits are recorded instead.
struct RecordedWaits {
  std::mutex mu;
  std::vector<std::chrono::milliseconds> waits;
  std::vector<std::chrono::milliseconds> Get() {
    std::lock_guard lock(mu);
    return waits;
  }
};
ClientOptions NoSleepOptions(const std::shared_ptr<RecordedWaits>& waits, int max_attempts = 5);

// A metav1.Status body.
std::string StatusJson(int code, const std::string& reason, const std::string& message);

}  // namespace kubemend::kube::testing
