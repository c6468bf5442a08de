#include "auth.h"

#include <fstream>
#include <sstream>

namespace kubemend::collector {
namespace {

absl::StatusOr<std::string> ReadSecret(const std::string& file, const std::string& env_name, const Env& env,
                                       const std::string& what) {
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) {
      return absl::InvalidArgumentError("webhook.auth." + what + "_file: cannot read " + file);
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
      s.pop_back();
    }
    if (s.empty()) {
      return absl::InvalidArgumentError("webhook.auth." + what + "_file: " + file + " is empty");
    }
    return s;
  }
  auto it = env.find(env_name);
  if (it == env.end() || it->second.empty()) {
    return absl::InvalidArgumentError("webhook.auth: no " + what + ": set " + env_name + " or webhook.auth." +
                                      what + "_file");
  }
  return it->second;
}

// Compares without an early exit so the time does not tell how much matched.
bool SameBytes(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace

std::string Base64Encode(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

absl::StatusOr<WebhookAuth> WebhookAuth::Create(const WebhookAuthConfig& cfg, const Env& env) {
  WebhookAuth a;
  a.type_ = cfg.type;
  if (cfg.type == "none") {
    return a;
  }
  if (cfg.type == "bearer") {
    auto token = ReadSecret(cfg.token_file, cfg.token_env, env, "token");
    if (!token.ok()) {
      return token.status();
    }
    a.expected_ = "Bearer " + *token;
    return a;
  }
  if (cfg.type == "basic") {
    if (cfg.username.empty()) {
      return absl::InvalidArgumentError("webhook.auth.username: required for basic auth");
    }
    auto password = ReadSecret(cfg.password_file, cfg.password_env, env, "password");
    if (!password.ok()) {
      return password.status();
    }
    a.expected_ = "Basic " + Base64Encode(cfg.username + ":" + *password);
    return a;
  }
  return absl::InvalidArgumentError("webhook.auth.type: must be none, bearer or basic, got \"" + cfg.type + "\"");
}

std::string WebhookAuth::Check(const std::string& header) const {
  if (type_ == "none") {
    return "";
  }
  if (header.empty()) {
    return "missing Authorization header (" + type_ + " auth required)";
  }
  // The scheme is case-insensitive (RFC 7235); credentials are not.
  auto space = header.find(' ');
  std::string scheme = header.substr(0, space);
  for (char& ch : scheme) {
    ch = static_cast<char>(tolower(ch));
  }
  const std::string want = type_ == "bearer" ? "bearer" : "basic";
  if (scheme != want || space == std::string::npos) {
    return "wrong Authorization scheme (" + type_ + " auth required)";
  }
  std::string normalized = (type_ == "bearer" ? "Bearer" : "Basic") + header.substr(space);
  if (!SameBytes(normalized, expected_)) {
    return "invalid credentials";
  }
  return "";
}

}  // namespace kubemend::collector
