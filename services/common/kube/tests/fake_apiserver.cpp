#include "fake_apiserver.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

namespace kubemend::kube::testing {

FakeApiServer::FakeApiServer() : FakeApiServer(std::make_unique<httplib::Server>(), false) {}

FakeApiServer::FakeApiServer(std::unique_ptr<httplib::Server> server, bool tls)
    : server_(std::move(server)), tls_(tls) {
  server_->set_tcp_nodelay(true);
}

FakeApiServer::~FakeApiServer() { Stop(); }

FakeApiServer::Handler FakeApiServer::Recording(Handler handler) {
  return [this, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    {
      RecordedRequest r{req.method, req.path, {req.params.begin(), req.params.end()}, req.headers, req.body};
      std::lock_guard lock(mu_);
      requests_.push_back(std::move(r));
    }
    handler(req, res);
  };
}

void FakeApiServer::Get(const std::string& pattern, Handler handler) { server_->Get(pattern, Recording(std::move(handler))); }
void FakeApiServer::Post(const std::string& pattern, Handler handler) {
  server_->Post(pattern, Recording(std::move(handler)));
}
void FakeApiServer::Put(const std::string& pattern, Handler handler) { server_->Put(pattern, Recording(std::move(handler))); }
void FakeApiServer::Patch(const std::string& pattern, Handler handler) {
  server_->Patch(pattern, Recording(std::move(handler)));
}
void FakeApiServer::Delete(const std::string& pattern, Handler handler) {
  server_->Delete(pattern, Recording(std::move(handler)));
}

void FakeApiServer::Start() {
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) {
    throw std::runtime_error("fake API server: cannot bind 127.0.0.1");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  for (int i = 0; i < 500 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void FakeApiServer::Stop() {
  stopping_ = true;
  server_->stop();
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::string FakeApiServer::url() const {
  return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_);
}

std::vector<RecordedRequest> FakeApiServer::Requests() {
  std::lock_guard lock(mu_);
  return requests_;
}

std::vector<RecordedRequest> FakeApiServer::RequestsTo(const std::string& path) {
  std::vector<RecordedRequest> out;
  for (auto& r : Requests()) {
    if (r.path == path) {
      out.push_back(std::move(r));
    }
  }
  return out;
}

size_t FakeApiServer::CountRequests(const std::string& method, const std::string& path) {
  size_t n = 0;
  for (const auto& r : Requests()) {
    n += (r.method == method && r.path == path) ? 1 : 0;
  }
  return n;
}

void FakeApiServer::StreamLines(httplib::Response& res, std::vector<std::string> lines, bool hold_open) {
  auto sent = std::make_shared<bool>(false);
  res.set_chunked_content_provider(
      "application/json", [this, lines = std::move(lines), hold_open, sent](size_t, httplib::DataSink& sink) {
        if (!*sent) {
          *sent = true;
          for (const auto& line : lines) {
            const std::string framed = line + "\n";
            if (!sink.write(framed.data(), framed.size())) {
              return false;
            }
          }
          if (!hold_open) {
            sink.done();
          }
          return true;
        }
        // Heartbeats until the client hangs up or the test ends.
        while (!stopping()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          if (!sink.write("\n", 1)) {
            return false;
          }
        }
        return false;
      });
}

ClientOptions NoSleepOptions(const std::shared_ptr<RecordedWaits>& waits, int max_attempts) {
  ClientOptions options;
  options.retry.max_attempts = max_attempts;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.request_timeout = std::chrono::milliseconds(5000);
  options.random = [] { return 0.5; };  // jitter factor exactly 1
  options.sleep = [waits](std::chrono::milliseconds d) {
    std::lock_guard lock(waits->mu);
    waits->waits.push_back(d);
  };
  return options;
}

std::string StatusJson(int code, const std::string& reason, const std::string& message) {
  return nlohmann::json{{"kind", "Status"},   {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                        {"status", "Failure"}, {"message", message}, {"reason", reason},
                        {"code", code}}
      .dump();
}

}  // namespace kubemend::kube::testing
