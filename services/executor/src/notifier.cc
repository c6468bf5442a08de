// Notify's webhook poster (Slack-compatible: POST {"text": ...}).
#include <curl/curl.h>

#include "actuator.h"

namespace kubemend::executor {
namespace {

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

class CurlNotifier final : public Notifier {
 public:
  explicit CurlNotifier(Millis timeout) : timeout_(timeout) {}
  absl::Status Post(const std::string& url, const std::string& body) override {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) {
      return absl::InternalError("curl_easy_init failed");
    }
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
      // The URL may carry a secret token: name only the failure.
      return absl::UnavailableError(std::string("webhook unreachable: ") + curl_easy_strerror(rc));
    }
    if (status < 200 || status >= 300) {
      return absl::UnavailableError("webhook answered HTTP " + std::to_string(status));
    }
    return absl::OkStatus();
  }

 private:
  Millis timeout_;
};

}  // namespace

std::unique_ptr<Notifier> NewCurlNotifier(Millis timeout) { return std::make_unique<CurlNotifier>(timeout); }

}  // namespace kubemend::executor
