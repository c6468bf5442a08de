// Notify's webhook poster: the executor's Notifier seam over the one shared
// sender (kubemend/common/webhook.h), which the safety gate's notifications
// use too.
#include "actuator.h"
#include "kubemend/common/webhook.h"

namespace kubemend::executor {
namespace {

class SharedNotifier final : public Notifier {
 public:
  explicit SharedNotifier(Millis timeout) : poster_(NewCurlWebhookPoster(timeout)) {}
  absl::Status Post(const std::string& url, const std::string& body) override {
    return poster_->Post(url, body, {});
  }

 private:
  std::unique_ptr<WebhookPoster> poster_;
};

}  // namespace

std::unique_ptr<Notifier> NewCurlNotifier(Millis timeout) { return std::make_unique<SharedNotifier>(timeout); }

}  // namespace kubemend::executor
