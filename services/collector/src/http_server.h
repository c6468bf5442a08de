#pragma once
// The collector's HTTP port: an asynchronous HTTP/1.1 server (Boost.Beast on
// Asio) with a few I/O threads and no thread per connection or request.
//
// A request is read (keep-alive and pipelined requests one after the other,
// in order), handed to the handler on an I/O thread, and answered whenever
// the handler calls `respond` - from any thread, e.g. the Kafka
// delivery-report thread once the broker acknowledged. Meanwhile the
// connection holds no thread; others are read and answered.
//
// Errors it answers itself (then closes the connection):
//  - 413 when Content-Length (or the chunked body) exceeds max_body_bytes;
//  - 400 with the parser's reason for a request that is not HTTP/1.x;
//  - 503 to a connection beyond max_connections.
// A request whose headers and body do not arrive within read_timeout (a
// slow or stuck client) is dropped without an answer. TLS when both
// tls_cert_file and tls_key_file are set (HTTPS only then).
#include <absl/status/statusor.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kubemend::collector {

struct HttpRequest {
  std::string method;  // "POST", "GET", ...
  std::string path;    // the target without its query
  std::string authorization;
  std::string body;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones
};

// Call exactly once, from any thread.
using HttpRespond = std::function<void(HttpReply)>;
// Runs on an I/O thread: must not block (answer later through `respond`).
using HttpHandler = std::function<void(HttpRequest, HttpRespond)>;

struct HttpServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port, port 0 = any
  std::string tls_cert_file;
  std::string tls_key_file;
  int threads = 2;
  size_t max_body_bytes = 1 << 20;
  size_t max_connections = 4096;
  std::chrono::milliseconds read_timeout{30'000};
};

class AsyncHttpServer {
 public:
  // Binds and starts serving. InvalidArgument for unusable TLS files,
  // Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<AsyncHttpServer>> Start(const HttpServerOptions& opts, HttpHandler handler);
  ~AsyncHttpServer();
  AsyncHttpServer(const AsyncHttpServer&) = delete;
  AsyncHttpServer& operator=(const AsyncHttpServer&) = delete;

  // Stops accepting and serving and joins the I/O threads. Answers that
  // arrive later are dropped. Idempotent.
  void Stop();
  int port() const;
  size_t connections() const;

  struct Impl;

 private:
  explicit AsyncHttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace kubemend::collector
