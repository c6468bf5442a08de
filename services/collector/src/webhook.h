#pragma once
// The HTTP side of the collector: POST /api/v1/alerts (Alertmanager webhook).
// A reply of 200 means every signal in the body is acknowledged by the
// broker; when the bus is down the reply is 503 so that Alertmanager retries.
// Handlers run on httplib's worker threads; the producer is thread-safe.
#include <httplib.h>

#include "alertmanager.h"
#include "kubemend/common/kafka.h"
#include "kubemend/common/runtime.h"

namespace kubemend::collector {

struct WebhookConfig {
  std::string path = "/api/v1/alerts";
  int64_t max_body_bytes = 1 << 20;
  std::string cluster = "default";
};

class WebhookHandler {
 public:
  WebhookHandler(ServiceRuntime* rt, Producer* producer, WebhookConfig cfg);
  void Register(httplib::Server& server);
  // Parses and publishes; returns the HTTP status and body.
  std::pair<int, std::string> Handle(const std::string& body);

 private:
  ServiceRuntime* rt_;
  Producer* producer_;
  WebhookConfig cfg_;
  std::string topic_;
  Counter* received_;
  Counter* rejected_;
  Counter* published_;
  Counter* unavailable_;
  Histogram* latency_;
};

}  // namespace kubemend::collector
