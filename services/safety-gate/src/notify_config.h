#pragma once
// The `notify:` section of the safety gate's config: routes (where to send,
// in which format, what to send, how often at most) and delivery settings.
// Build() validates everything at load and resolves the secrets (webhook
// URLs, bearer tokens) from the environment or files; errors name the key and
// never contain a secret. docs/notifications.md documents every key.
#include <absl/status/statusor.h>

#include <functional>
#include <string>
#include <vector>

#include "kubemend/common/config.h"
#include "notify.h"

namespace kubemend::gate::notify {

enum class Format { kSlack, kWebhook };

struct RouteConfig {
  std::string name;
  Format format = Format::kSlack;
  std::string url;           // secret: never logged
  std::string bearer_token;  // secret, optional: sent as Authorization: Bearer
  RouteFilter filter;
  int64_t burst = 10;        // rate limit: token bucket of `burst`, refilled per `per` (0 = off)
  Millis per{60 * 1000};
};

struct NotifyConfig {
  std::vector<RouteConfig> routes;       // none = notifications off
  Millis timeout{5000};                  // one HTTP request
  Millis retry_initial{1000};            // first back-off; doubles per attempt
  Millis retry_max{60 * 1000};           // back-off cap
  Millis give_up_after{60 * 60 * 1000};  // a notification undeliverable this long is dropped (logged, counted)
  // Events recorded longer ago than this are not sent (counted, logged): a
  // new route reading the retained log, or a gate back after a long outage,
  // does not page people about what is long over.
  Millis max_age{60 * 60 * 1000};
};

// Reads a secret file; tests pass their own.
using FileReader = std::function<absl::StatusOr<std::string>(const std::string& path)>;
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

class NotifyConfigKeys {
 public:
  void Register(ConfigSchema& schema);
  // `env` resolves url_env/token_env. Errors: "key notify.routes[1].url_env: ...".
  absl::StatusOr<NotifyConfig> Build(const Env& env, const FileReader& read = ReadSecretFile) const;

 private:
  NotifyConfig base_;
  YAML::Node routes_;
};

// Parses the routes list alone (what Build() does with notify.routes).
absl::StatusOr<std::vector<RouteConfig>> ParseRoutes(const YAML::Node& routes, const Env& env,
                                                     const FileReader& read);

}  // namespace kubemend::gate::notify
