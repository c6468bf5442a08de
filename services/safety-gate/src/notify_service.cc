#include "notify_service.h"

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/log.h"

namespace kubemend::gate::notify {

struct NotifyService::Route {
  explicit Route(RouteConfig c) : cfg(std::move(c)), limiter(cfg.burst, cfg.per) {}
  RouteConfig cfg;
  std::mutex mu;  // the limiter and the webhook: the consumer thread and the ticker
  RouteLimiter limiter;
  std::unique_ptr<BatchConsumer> consumer;
  Counter* sent = nullptr;
  Counter* suppressed = nullptr;
  Counter* failed = nullptr;
  Counter* retries = nullptr;
  Counter* too_old = nullptr;
};

NotifyService::NotifyService(ServiceRuntime* rt, NotifyConfig cfg, std::unique_ptr<WebhookPoster> poster)
    : rt_(rt), cfg_(std::move(cfg)), poster_(std::move(poster)) {}

NotifyService::~NotifyService() { Stop(); }

absl::Status NotifyService::Init() {
  auto& m = rt_->metrics();
  for (const auto& rc : cfg_.routes) {
    auto r = std::make_unique<Route>(rc);
    Labels l = {{"route", rc.name}};
    r->sent = &m.GetCounter("kubemend_notify_sent_total", "Notifications delivered (summaries included)", l);
    r->suppressed = &m.GetCounter("kubemend_notify_suppressed_total",
                                  "Notifications held back by the route's rate limit", l);
    r->failed = &m.GetCounter("kubemend_notify_failed_total",
                              "Notifications given up on (permanent error or retried too long)", l);
    r->retries = &m.GetCounter("kubemend_notify_retries_total", "Failed delivery attempts retried", l);
    r->too_old = &m.GetCounter("kubemend_notify_too_old_total",
                               "Events not sent because they were older than notify.max_age", l);
    KafkaConfig kc = rt_->config().kafka;
    kc.group_id = (kc.group_id.empty() ? "kubemend-safety-gate" : kc.group_id) + "-notify-" + rc.name;
    std::vector<std::string> topics = {TopicName(kc, Topic::kDecisions), TopicName(kc, Topic::kOutcomes),
                                       TopicName(kc, Topic::kControl)};
    Route* raw = r.get();
    auto c = BatchConsumer::Create(
        kc, rt_->config().instance + "-notify-" + rc.name, topics,
        [this, raw](std::span<const InMessage> batch) { return HandleBatch(*raw, batch); }, &m);
    if (!c.ok()) {
      return absl::Status(c.status().code(),
                          "notify route " + rc.name + ": " + std::string(c.status().message()));
    }
    r->consumer = std::move(*c);
    routes_.push_back(std::move(r));
  }
  if (!routes_.empty()) {
    Logger("notify")->info("msg=\"notifications on\" routes={}", routes_.size());
  }
  return absl::OkStatus();
}

void NotifyService::Start() {
  for (auto& r : routes_) {
    threads_.emplace_back([&r] { r->consumer->Run(); });
  }
  if (!routes_.empty()) {
    threads_.emplace_back([this] { TickLoop(); });
  }
}

void NotifyService::Stop() {
  stop_ = true;
  for (auto& r : routes_) {
    r->consumer->Stop();
  }
  for (auto& t : threads_) {
    t.join();
  }
  threads_.clear();
}

bool NotifyService::SleepUnlessStopping(Millis d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!stop_ && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        Millis(100), until - std::chrono::steady_clock::now()));
  }
  return !stop_;
}

absl::Status NotifyService::HandleBatch(Route& r, std::span<const InMessage> batch) {
  auto log = Logger("notify");
  for (const auto& m : batch) {
    auto e = DecodeEvent(m.payload);
    if (!e.ok()) {
      continue;  // the topic's own consumers dead-letter it
    }
    auto n = Classify(*e);
    if (!n || !Matches(r.cfg.filter, *n)) {
      continue;
    }
    TimePoint now = rt_->clock().Now();
    if (e->has_recorded_at() && FromTimestamp(e->recorded_at()) < now - cfg_.max_age) {
      r.too_old->Inc();
      log->info("msg=\"not sent: older than notify.max_age\" route={} kind={} event_id={} incident_id={}",
                r.cfg.name, KindName(n->kind), e->event_id(), e->incident_id());
      continue;
    }
    std::lock_guard lock(r.mu);
    SendSummaryLocked(r);
    if (!r.limiter.Admit(now)) {
      r.suppressed->Inc();
      log->warn("msg=\"notification suppressed by the route's rate limit\" route={} kind={} event_id={} "
                "incident_id={} suppressed_pending={}",
                r.cfg.name, KindName(n->kind), e->event_id(), e->incident_id(),
                r.limiter.pending_suppressed());
      continue;
    }
    std::string body = r.cfg.format == Format::kSlack ? RenderSlack(*n, "") : RenderWebhook(*n, r.cfg.name);
    std::string what = KindName(n->kind) + " event_id=" + e->event_id() + " incident_id=" + e->incident_id();
    if (!Deliver(r, body, e->event_id(), what, true)) {
      // Stopping: the batch is not committed and is sent again after the restart.
      return absl::UnavailableError("stopping before the notification was delivered");
    }
  }
  return absl::OkStatus();
}

void NotifyService::SendSummaryLocked(Route& r) {
  int64_t n = r.limiter.TakeSummary(rt_->clock().Now());
  if (n == 0) {
    return;
  }
  std::string body = r.cfg.format == Format::kSlack ? RenderSuppressedSlack(r.cfg.name, n)
                                                    : RenderSuppressedWebhook(r.cfg.name, n);
  // A summary's dedup key is new each time: it reports a count, not an event.
  // One attempt: a failed summary keeps its count for the next one, and a
  // dead webhook does not hold up the other routes' summaries.
  if (!Deliver(r, body, NewUuid(), "suppressed summary n=" + std::to_string(n), false)) {
    r.limiter.Restore(n);
  }
}

bool NotifyService::Deliver(Route& r, const std::string& body, const std::string& dedup_key,
                            const std::string& what, bool retry) {
  auto log = Logger("notify");
  std::map<std::string, std::string> headers = {{"X-Kubemend-Dedup-Key", dedup_key}};
  if (!r.cfg.bearer_token.empty()) {
    headers["Authorization"] = "Bearer " + r.cfg.bearer_token;
  }
  auto started = std::chrono::steady_clock::now();
  Millis backoff = cfg_.retry_initial;
  for (int attempt = 1;; ++attempt) {
    absl::Status st = poster_->Post(r.cfg.url, body, headers);
    if (st.ok()) {
      r.sent->Inc();
      log->info("msg=\"notification sent\" route={} what={} attempt={}", r.cfg.name, Q(what), attempt);
      return true;
    }
    // st never contains the URL or a header (webhook.h).
    bool expired = std::chrono::steady_clock::now() - started >= cfg_.give_up_after;
    if (!retry) {
      log->warn("msg=\"notification not delivered\" route={} what={} error={}", r.cfg.name, Q(what),
                Q(std::string(st.message())));
      return false;
    }
    if (!IsRetryableWebhookError(st) || expired) {
      r.failed->Inc();
      log->error("msg=\"notification dropped\" route={} what={} attempts={} error={} hint={}", r.cfg.name,
                 Q(what), attempt, Q(std::string(st.message())),
                 Q(expired ? "the webhook failed for longer than notify.retry.give_up_after"
                           : "the webhook refused it; check the route's URL and token"));
      return true;
    }
    r.retries->Inc();
    log->warn("msg=\"notification not delivered, retrying\" route={} what={} attempt={} backoff_ms={} error={}",
              r.cfg.name, Q(what), attempt, backoff.count(), Q(std::string(st.message())));
    if (!SleepUnlessStopping(backoff)) {
      return false;  // stopping
    }
    backoff = std::min(backoff * 2, cfg_.retry_max);
  }
}

void NotifyService::TickLoop() {
  while (SleepUnlessStopping(Millis(1000))) {
    for (auto& r : routes_) {
      // A route busy delivering (maybe retrying a dead webhook for long) is
      // skipped: its own thread sends the summary before its next message.
      std::unique_lock lock(r->mu, std::try_to_lock);
      if (lock.owns_lock()) {
        SendSummaryLocked(*r);
      }
    }
  }
}

}  // namespace kubemend::gate::notify
