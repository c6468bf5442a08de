#include "webhook.h"

#include <nlohmann/json.hpp>

#include "kubemend/common/log.h"

namespace kubemend::collector {

WebhookHandler::WebhookHandler(Publisher* publisher, WebhookConfig cfg, WebhookAuth auth, ProducerIdentity who,
                               const Clock& clock)
    : publisher_(publisher), cfg_(std::move(cfg)), auth_(std::move(auth)), who_(std::move(who)), clock_(clock) {}

void WebhookHandler::Register(httplib::Server& server) {
  server.set_payload_max_length(static_cast<size_t>(cfg_.max_body_bytes));
  // Without TCP_NODELAY the reply's header and body writes meet the
  // client's delayed ACK: ~40 ms per request. Each keep-alive connection
  // holds a worker, and a worker waits for the broker's acknowledgement, so
  // the pool is sized for concurrent senders rather than for cores.
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(100000);
  const size_t threads = static_cast<size_t>(cfg_.http_threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.Post(cfg_.path, [this](const httplib::Request& req, httplib::Response& res) {
    auto [code, body] = Handle(req.get_header_value("Authorization"), req.body);
    res.status = code;
    if (code == 401) {
      res.set_header("WWW-Authenticate", auth_.type() == "basic" ? "Basic realm=\"kubemend\"" : "Bearer");
    }
    res.set_content(body, "application/json");
  });
}

std::pair<int, std::string> WebhookHandler::Handle(const std::string& authorization, const std::string& body) {
  auto log = Logger("webhook");
  if (std::string why = auth_.Check(authorization); !why.empty()) {
    publisher_->CountError(kSource, "unauthorized: " + why);
    log->warn("msg=\"rejected webhook\" status=401 reason={}", Q(why));
    return {401, nlohmann::json{{"error", why}}.dump()};
  }
  if (static_cast<int64_t>(body.size()) > cfg_.max_body_bytes) {
    publisher_->CountError(kSource, "body too large");
    return {413, nlohmann::json{{"error", "body larger than webhook.max_body_bytes"}}.dump()};
  }
  auto events = ParseAlertmanagerWebhook(body, {cfg_.cluster}, who_, clock_);
  if (!events.ok()) {
    publisher_->CountError(kSource, "bad webhook: " + std::string(events.status().message()));
    log->warn("msg=\"rejected webhook\" status=400 reason={}", Q(std::string(events.status().message())));
    return {400, nlohmann::json{{"error", events.status().message()}}.dump()};
  }
  auto result = publisher_->Publish(kSource, *events);
  if (!result.ok()) {
    log->warn("msg=\"webhook not acknowledged\" status=503 error={}", Q(std::string(result.status().message())));
    return {503, nlohmann::json{{"error", result.status().message()}}.dump()};
  }
  log->debug("msg=\"webhook\" alerts={} published={} deduplicated={}", events->size(), result->published,
             result->deduplicated);
  nlohmann::json ids = result->event_ids;
  return {200, nlohmann::json{{"accepted", events->size()},
                              {"published", result->published},
                              {"deduplicated", result->deduplicated},
                              {"event_ids", ids}}
                   .dump()};
}

}  // namespace kubemend::collector
