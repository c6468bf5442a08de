#include "kubemend/common/webhook.h"

#include <curl/curl.h>

namespace kubemend {
namespace {

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

class CurlWebhookPoster final : public WebhookPoster {
 public:
  explicit CurlWebhookPoster(std::chrono::milliseconds timeout) : timeout_(timeout) {}

  absl::Status Post(const std::string& url, const std::string& body,
                    const std::map<std::string, std::string>& headers) override {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) {
      return absl::InternalError("curl_easy_init failed");
    }
    curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
    for (const auto& [k, v] : headers) {
      list = curl_slist_append(list, (k + ": " + v).c_str());
    }
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) {
      // The URL may carry a secret token: name only the failure.
      return absl::FailedPreconditionError(std::string("webhook URL unusable (http and https only): ") +
                                           curl_easy_strerror(rc));
    }
    if (rc != CURLE_OK) {
      return absl::UnavailableError(std::string("webhook unreachable: ") + curl_easy_strerror(rc));
    }
    if (status >= 200 && status < 300) {
      return absl::OkStatus();
    }
    std::string what = "webhook answered HTTP " + std::to_string(status);
    if (status >= 500 || status == 408 || status == 429) {
      return absl::UnavailableError(what);
    }
    return absl::FailedPreconditionError(what + " (will not retry: check the URL and token)");
  }

 private:
  std::chrono::milliseconds timeout_;
};

}  // namespace

std::unique_ptr<WebhookPoster> NewCurlWebhookPoster(std::chrono::milliseconds timeout) {
  return std::make_unique<CurlWebhookPoster>(timeout);
}

}  // namespace kubemend
