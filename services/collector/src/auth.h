#pragma once
// Webhook authentication as Alertmanager sends it: `http_config.authorization`
// (Authorization: Bearer <token>) or `http_config.basic_auth`
// (Authorization: Basic base64(user:password)). Secrets come from an
// environment variable or a file, never from the YAML itself.
#include <absl/status/statusor.h>

#include <string>

#include "kubemend/common/config.h"

namespace kubemend::collector {

struct WebhookAuthConfig {
  std::string type = "none";  // none | bearer | basic
  std::string token_env = "KUBEMEND_WEBHOOK_TOKEN";
  std::string token_file;
  std::string username;
  std::string password_env = "KUBEMEND_WEBHOOK_PASSWORD";
  std::string password_file;
};

class WebhookAuth {
 public:
  // Reads the secret (file wins over env). InvalidArgument naming the key
  // when the type needs a secret and none is found.
  static absl::StatusOr<WebhookAuth> Create(const WebhookAuthConfig& cfg, const Env& env);
  // "" when the Authorization header is accepted, else why not (for the 401).
  std::string Check(const std::string& authorization_header) const;
  bool enabled() const { return type_ != "none"; }
  const std::string& type() const { return type_; }

 private:
  std::string type_ = "none";
  std::string expected_;  // the whole expected header value
};

std::string Base64Encode(const std::string& in);

}  // namespace kubemend::collector
