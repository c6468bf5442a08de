#pragma once
// One HTTP sender for every webhook kubemend posts to: the executor's Notify
// action and the safety gate's notifications (docs/notifications.md). A POST
// of a JSON body with optional extra headers (a bearer token, a dedup key).
//
// Errors (absl::Status): Unavailable for what a retry may cure (no
// connection, timeout, HTTP 5xx, 408, 429); FailedPrecondition for an answer
// that will not change by retrying (other 4xx: a revoked Slack hook answers
// 404 or 410; a URL that is not http or https). Neither message contains the URL or any header value: the URL
// of a Slack incoming webhook is itself the secret.
//
// Thread-safe: each Post uses its own libcurl handle.
#include <absl/status/status.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace kubemend {

class WebhookPoster {
 public:
  virtual ~WebhookPoster() = default;
  // POSTs `body` (Content-Type: application/json) with `headers` added.
  virtual absl::Status Post(const std::string& url, const std::string& body,
                            const std::map<std::string, std::string>& headers) = 0;
};

std::unique_ptr<WebhookPoster> NewCurlWebhookPoster(std::chrono::milliseconds timeout);

// True for errors a later attempt may cure (see above).
inline bool IsRetryableWebhookError(const absl::Status& st) {
  return absl::IsUnavailable(st) || absl::IsDeadlineExceeded(st);
}

}  // namespace kubemend
