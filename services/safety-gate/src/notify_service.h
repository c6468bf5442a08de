#pragma once
// Delivers notifications (docs/notifications.md). Runs in the safety-gate
// process beside the gate but shares nothing with the decision path: each
// route is its own Kafka consumer group (`<kafka.group_id>-notify-<route>`)
// on the decisions, outcomes and control topics, on its own thread, so a
// slow or dead webhook delays only that route and never a decision.
//
// At least once: a route commits its offsets only after every notification
// of the batch was delivered, suppressed by its rate limit, or given up on
// (permanent HTTP error, or still failing after notify.retry.give_up_after;
// logged and counted). A restart resends what was not committed; receivers
// drop repeats by the dedup key (X-Kubemend-Dedup-Key header, `dedup_key` in
// the generic body). Lost on restart: the count of suppressed messages not
// yet summarised.
//
// Threading: Start() spawns one consumer thread per route and one ticker
// (the "N more suppressed" summaries); Stop() joins them.
#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "kubemend/common/kafka.h"
#include "kubemend/common/runtime.h"
#include "kubemend/common/webhook.h"
#include "notify_config.h"

namespace kubemend::gate::notify {

class NotifyService {
 public:
  NotifyService(ServiceRuntime* rt, NotifyConfig cfg, std::unique_ptr<WebhookPoster> poster);
  ~NotifyService();
  // Creates one consumer per route (none: does nothing).
  absl::Status Init();
  void Start();
  void Stop();

 private:
  struct Route;
  absl::Status HandleBatch(Route& r, std::span<const InMessage> batch);
  // With `retry`: retries with back-off until delivered or given up on
  // (both true), or stopping (false: the batch is not committed and comes
  // back). Without: one attempt, true when delivered.
  bool Deliver(Route& r, const std::string& body, const std::string& dedup_key,
               const std::string& what, bool retry);
  void SendSummaryLocked(Route& r);
  void TickLoop();
  bool SleepUnlessStopping(Millis d);

  ServiceRuntime* rt_;
  NotifyConfig cfg_;
  std::unique_ptr<WebhookPoster> poster_;
  std::vector<std::unique_ptr<Route>> routes_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
};

}  // namespace kubemend::gate::notify
