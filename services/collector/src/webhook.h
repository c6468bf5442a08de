#pragma once
// The HTTP side of the collector: POST <path> (Alertmanager webhook v4).
//  - 401 when auth is configured and the Authorization header is wrong;
//  - 413 above max_body_bytes (by the server, before the body is read);
//  - 400 with the reason when the body is not a valid v4 payload;
//  - 200 once every non-duplicate signal is acknowledged by the broker;
//  - 503 when the bus did not acknowledge, so that Alertmanager retries;
//    nothing is recorded as sent in that case;
//  - 503 + Retry-After when more than max_in_flight_bytes of bodies already
//    wait for the broker (backpressure instead of unbounded memory).
// Group commit: a request is parsed, deduplicated and produced on an I/O
// thread and answered from the delivery report, so concurrent requests share
// librdkafka's produce requests and acknowledgements and no thread waits
// for the broker.
#include <atomic>
#include <functional>

#include "alertmanager.h"
#include "auth.h"
#include "http_server.h"
#include "publisher.h"

namespace kubemend::collector {

struct WebhookConfig {
  bool enabled = true;
  std::string path = "/api/v1/alerts";
  int64_t max_body_bytes = 1 << 20;
  int64_t http_threads = 2;  // I/O threads of the HTTP server (parse, dedup, produce)
  int64_t max_in_flight_bytes = 64 << 20;  // request bodies waiting for the broker
  int64_t max_connections = 4096;
  Millis read_timeout{30'000};  // a request's headers and body must arrive within this
  std::string cluster = "default";
  WebhookAuthConfig auth;
};

class WebhookHandler {
 public:
  WebhookHandler(Publisher* publisher, WebhookConfig cfg, WebhookAuth auth, ProducerIdentity who,
                 const Clock& clock);
  // Authenticates, parses and publishes; `respond` runs once, here or on the
  // delivery-report thread, with the HTTP answer.
  void HandleAsync(const std::string& authorization, const std::string& body, HttpRespond respond);
  // The same, waiting for the answer (tests).
  std::pair<int, std::string> Handle(const std::string& authorization, const std::string& body);
  int64_t in_flight_bytes() const { return in_flight_bytes_.load(); }
  const WebhookConfig& config() const { return cfg_; }

  static constexpr const char* kSource = "alertmanager";

 private:
  HttpReply Reject(int status, const std::string& why, const std::string& count_as);
  Publisher* publisher_;
  WebhookConfig cfg_;
  WebhookAuth auth_;
  ProducerIdentity who_;
  const Clock& clock_;
  std::atomic<int64_t> in_flight_bytes_{0};
};

// The collector's HTTP routes: POST webhook.path (when `webhook` is not
// null), GET /metrics, GET /healthz; 404/405 otherwise.
HttpHandler CollectorRoutes(WebhookHandler* webhook, std::function<std::string()> metrics,
                            std::function<std::pair<int, std::string>()> healthz);

// Server options from the collector's config (http.listen, http.tls.*, webhook.*).
HttpServerOptions WebhookServerOptions(const WebhookConfig& cfg, const std::string& listen,
                                       const std::string& tls_cert_file, const std::string& tls_key_file);

}  // namespace kubemend::collector
