#pragma once

// One HTTP exchange with the API server over libcurl: no retries, no JSON.
// The client (client_core.h) adds retries and error mapping on top.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kubemend/kube/client.h"
#include "kubemend/kube/config.h"
#include "kubemend/kube/result.h"

namespace kubemend::kube::internal {

struct HttpRequest {
  std::string method;  // GET POST PUT PATCH DELETE
  std::string target;  // path and query, e.g. "/api/v1/pods?limit=5"
  std::string body;
  std::string content_type;
};

struct HttpResponse {
  long status = 0;
  std::string body;  // for Stream: only filled when status != 200
  std::optional<std::chrono::milliseconds> retry_after;
};

struct TransportFailure {
  Error error;
  // False when the request provably never reached the server (DNS, connect
  // or TLS handshake failed), so repeating it cannot apply it twice.
  bool request_sent = true;
};

using TransportResult = Expected<HttpResponse, TransportFailure>;

// Interrupts a Stream() running on another thread.
class StreamCanceller {
 public:
  void Cancel();
  [[nodiscard]] bool cancelled() const;

 private:
  friend class Transport;
  mutable std::mutex mu_;
  void* multi_ = nullptr;  // CURLM* of the running stream, if any
  bool cancelled_ = false;
};

class Transport {
 public:
  // kConfig if the config cannot be used (no server, unreadable token file).
  static Result<std::shared_ptr<Transport>> Create(ClientConfig config, ClientOptions options);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Thread-safe: borrows a pooled handle for the duration of the call.
  TransportResult Perform(const HttpRequest& request);

  // A long-lived GET whose 200 body is handed over line by line. on_line
  // returning false ends the stream early (not an error). Returns when the
  // server ends the response, max_duration passes (kTimeout), or the
  // canceller fires (kCancelled).
  TransportResult Stream(const HttpRequest& request, std::chrono::milliseconds max_duration,
                         const std::function<bool(std::string_view line)>& on_line, StreamCanceller& canceller);

  [[nodiscard]] const ClientConfig& config() const { return config_; }
  [[nodiscard]] const ClientOptions& options() const { return options_; }

 private:
  Transport(ClientConfig config, ClientOptions options);
  std::string BearerToken();
  void* AcquireHandle();
  void ReleaseHandle(void* handle);
  // Applies URL, method, body, TLS, auth and headers. Returns the header
  // list the caller must free after the transfer.
  void* Configure(void* handle, const HttpRequest& request, char* error_buffer);

  ClientConfig config_;
  ClientOptions options_;

  std::mutex pool_mu_;
  std::vector<void*> pool_;  // idle CURL* handles

  std::mutex token_mu_;
  std::string token_;
  std::chrono::steady_clock::time_point token_read_at_{};
};

}  // namespace kubemend::kube::internal
