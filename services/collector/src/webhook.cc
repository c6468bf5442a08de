#include "webhook.h"

#include <nlohmann/json.hpp>

#include "kubemend/common/log.h"

namespace kubemend::collector {

WebhookHandler::WebhookHandler(ServiceRuntime* rt, Producer* producer, WebhookConfig cfg)
    : rt_(rt), producer_(producer), cfg_(std::move(cfg)) {
  topic_ = TopicName(rt_->config().kafka, Topic::kSignals);
  auto& m = rt_->metrics();
  const Labels src{{"source", "alertmanager"}};
  received_ = &m.GetCounter("kubemend_collector_received_total", "Alerts received", src);
  rejected_ = &m.GetCounter("kubemend_collector_rejected_total", "Webhook bodies rejected (400)", src);
  published_ = &m.GetCounter("kubemend_collector_published_total", "Signals published", src);
  unavailable_ = &m.GetCounter("kubemend_collector_unavailable_total",
                               "Webhook calls answered 503 because the bus did not acknowledge", src);
  latency_ = &m.GetHistogram("kubemend_collector_webhook_seconds", "Webhook handling time", src);
}

void WebhookHandler::Register(httplib::Server& server) {
  server.set_payload_max_length(static_cast<size_t>(cfg_.max_body_bytes));
  server.Post(cfg_.path, [this](const httplib::Request& req, httplib::Response& res) {
    auto [code, body] = Handle(req.body);
    res.status = code;
    res.set_content(body, "application/json");
  });
}

std::pair<int, std::string> WebhookHandler::Handle(const std::string& body) {
  auto started = std::chrono::steady_clock::now();
  auto log = Logger("webhook");
  auto events = ParseAlertmanagerWebhook(body, {cfg_.cluster}, rt_->identity(), rt_->clock());
  if (!events.ok()) {
    rejected_->Inc();
    rt_->CountError("bad_webhook");
    log->warn("msg=\"rejected webhook\" reason={}", Q(std::string(events.status().message())));
    return {400, nlohmann::json{{"error", events.status().message()}}.dump()};
  }
  received_->Inc(events->size());
  auto tracker = std::make_shared<DeliveryTracker>();
  for (const auto& e : *events) {
    auto st = producer_->Produce(topic_, TargetKey(e.target()), e.SerializeAsString(), tracker,
                                 {{"kubemend-event-type", "signal"},
                                  {"traceparent", e.trace().traceparent()}});
    if (!st.ok()) {
      unavailable_->Inc();
      return {503, nlohmann::json{{"error", st.message()}}.dump()};
    }
  }
  auto st = tracker->Wait(rt_->config().kafka.delivery_timeout);
  if (!st.ok()) {
    unavailable_->Inc();
    rt_->CountError("bus_unavailable");
    log->warn("msg=\"webhook not acknowledged\" error={}", Q(std::string(st.message())));
    return {503, nlohmann::json{{"error", st.message()}}.dump()};
  }
  published_->Inc(events->size());
  rt_->metrics()
      .GetCounter("kubemend_events_out_total", "Events published", {{"type", "signal"}})
      .Inc(events->size());
  for (const auto& e : *events) {
    log->info("msg=\"signal published\" event_id={} incident_id={} alert={} status={} target={}",
              e.event_id(), e.incident_id(), Q(e.signal().name()),
              e.signal().status() == v1::SIGNAL_STATUS_FIRING ? "firing" : "resolved",
              Q(TargetString(e.target())));
  }
  latency_->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& e : *events) {
    ids.push_back(e.event_id());
  }
  return {200, nlohmann::json{{"accepted", events->size()}, {"event_ids", ids}}.dump()};
}

}  // namespace kubemend::collector
