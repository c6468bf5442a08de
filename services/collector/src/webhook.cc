#include "webhook.h"

#include <future>
#include <nlohmann/json.hpp>

#include "kubemend/common/log.h"

namespace kubemend::collector {

WebhookHandler::WebhookHandler(Publisher* publisher, WebhookConfig cfg, WebhookAuth auth, ProducerIdentity who,
                               const Clock& clock)
    : publisher_(publisher), cfg_(std::move(cfg)), auth_(std::move(auth)), who_(std::move(who)), clock_(clock) {}

HttpReply WebhookHandler::Reject(int status, const std::string& why, const std::string& count_as) {
  publisher_->CountError(kSource, count_as);
  HttpReply r{status, "application/json", nlohmann::json{{"error", why}}.dump(), {}};
  if (status == 401) {
    r.headers.emplace_back("WWW-Authenticate", auth_.type() == "basic" ? "Basic realm=\"kubemend\"" : "Bearer");
  }
  return r;
}

void WebhookHandler::HandleAsync(const std::string& authorization, const std::string& body, HttpRespond respond) {
  auto log = Logger("webhook");
  if (std::string why = auth_.Check(authorization); !why.empty()) {
    log->warn("msg=\"rejected webhook\" status=401 reason={}", Q(why));
    return respond(Reject(401, why, "unauthorized: " + why));
  }
  const auto size = static_cast<int64_t>(body.size());
  if (size > cfg_.max_body_bytes) {
    return respond(Reject(413, "body larger than webhook.max_body_bytes", "body too large"));
  }
  auto events = ParseAlertmanagerWebhook(body, {cfg_.cluster}, who_, clock_);
  if (!events.ok()) {
    const std::string why(events.status().message());
    log->warn("msg=\"rejected webhook\" status=400 reason={}", Q(why));
    return respond(Reject(400, why, "bad webhook: " + why));
  }
  // Backpressure: what waits for the broker is bounded; the sender retries.
  if (in_flight_bytes_.fetch_add(size) + size > cfg_.max_in_flight_bytes && size < cfg_.max_in_flight_bytes) {
    in_flight_bytes_.fetch_sub(size);
    HttpReply r = Reject(503,
                         "too many webhook requests waiting for the broker (webhook.max_in_flight_bytes=" +
                             std::to_string(cfg_.max_in_flight_bytes) + "); retry later",
                         "overloaded: webhook.max_in_flight_bytes");
    r.headers.emplace_back("Retry-After", "1");
    return respond(std::move(r));
  }
  const size_t alerts = events->size();
  publisher_->PublishAsync(
      kSource, *events, [this, size, alerts, respond = std::move(respond)](absl::StatusOr<PublishResult> result) {
        in_flight_bytes_.fetch_sub(size);
        if (!result.ok()) {
          const std::string why(result.status().message());
          Logger("webhook")->warn("msg=\"webhook not acknowledged\" status=503 error={}", Q(why));
          return respond({503, "application/json", nlohmann::json{{"error", why}}.dump(), {}});
        }
        nlohmann::json ids = result->event_ids;
        respond({200, "application/json",
                 nlohmann::json{{"accepted", alerts},
                                {"published", result->published},
                                {"deduplicated", result->deduplicated},
                                {"event_ids", ids}}
                     .dump(),
                 {}});
      });
}

std::pair<int, std::string> WebhookHandler::Handle(const std::string& authorization, const std::string& body) {
  std::promise<HttpReply> p;
  auto f = p.get_future();
  HandleAsync(authorization, body, [&p](HttpReply r) { p.set_value(std::move(r)); });
  HttpReply r = f.get();
  return {r.status, r.body};
}

HttpHandler CollectorRoutes(WebhookHandler* webhook, std::function<std::string()> metrics,
                            std::function<std::pair<int, std::string>()> healthz) {
  return [webhook, metrics = std::move(metrics), healthz = std::move(healthz)](HttpRequest req,
                                                                                HttpRespond respond) {
    auto only = [&](const char* method) {
      if (req.method == method) {
        return true;
      }
      respond({405, "application/json", nlohmann::json{{"error", req.method + " not allowed here"}}.dump(),
               {{"Allow", method}}});
      return false;
    };
    if (webhook != nullptr && req.path == webhook->config().path) {
      if (only("POST")) {
        webhook->HandleAsync(req.authorization, req.body, std::move(respond));
      }
    } else if (req.path == "/metrics") {
      if (only("GET")) {
        respond({200, "text/plain; version=0.0.4", metrics(), {}});
      }
    } else if (req.path == "/healthz") {
      if (only("GET")) {
        auto [code, text] = healthz();
        respond({code, "text/plain", std::move(text), {}});
      }
    } else {
      respond({404, "application/json", nlohmann::json{{"error", "no such path: " + req.path}}.dump(), {}});
    }
  };
}

HttpServerOptions WebhookServerOptions(const WebhookConfig& cfg, const std::string& listen,
                                       const std::string& tls_cert_file, const std::string& tls_key_file) {
  HttpServerOptions o;
  o.listen = listen;
  o.tls_cert_file = tls_cert_file;
  o.tls_key_file = tls_key_file;
  o.threads = static_cast<int>(cfg.http_threads);
  o.max_body_bytes = static_cast<size_t>(cfg.max_body_bytes);
  o.max_connections = static_cast<size_t>(cfg.max_connections);
  o.read_timeout = cfg.read_timeout;
  return o;
}

}  // namespace kubemend::collector
