#pragma once
// The HTTP side of the collector: POST <path> (Alertmanager webhook v4).
//  - 401 when auth is configured and the Authorization header is wrong;
//  - 413 (by httplib) above max_body_bytes;
//  - 400 with the reason when the body is not a valid v4 payload;
//  - 200 once every non-duplicate signal is acknowledged by the broker;
//  - 503 when the bus did not acknowledge, so that Alertmanager retries;
//    nothing is recorded as sent in that case.
// Handlers run on httplib's worker threads; Publisher is thread-safe.
#include <httplib.h>

#include "alertmanager.h"
#include "auth.h"
#include "publisher.h"

namespace kubemend::collector {

struct WebhookConfig {
  bool enabled = true;
  std::string path = "/api/v1/alerts";
  int64_t max_body_bytes = 1 << 20;
  int64_t http_threads = 64;  // HTTP workers (one per open keep-alive connection)
  std::string cluster = "default";
  WebhookAuthConfig auth;
};

class WebhookHandler {
 public:
  WebhookHandler(Publisher* publisher, WebhookConfig cfg, WebhookAuth auth, ProducerIdentity who,
                 const Clock& clock);
  void Register(httplib::Server& server);
  // Authenticates, parses and publishes; returns the HTTP status and body.
  std::pair<int, std::string> Handle(const std::string& authorization, const std::string& body);

  static constexpr const char* kSource = "alertmanager";

 private:
  Publisher* publisher_;
  WebhookConfig cfg_;
  WebhookAuth auth_;
  ProducerIdentity who_;
  const Clock& clock_;
};

}  // namespace kubemend::collector
