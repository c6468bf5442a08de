#pragma once
// Browser sessions of the operator console (docs/console.md). A person logs
// in with an admin API token once; the console keeps the token here, on the
// server, and hands the browser only an opaque session id (an HttpOnly,
// SameSite=Strict cookie) and a CSRF token that must come back in the
// X-Kubemend-CSRF header of every state-changing call. The token is checked by
// the same TokenAuthenticator as the gRPC admin API, so the same tokens file
// and roles apply; the console forwards the token to the services it calls,
// which check the role again themselves.
//
// Pure logic over an injected clock value: no HTTP, no I/O except the random
// ids (OpenSSL RAND_bytes). Thread-safe: every method takes the lock.
#include <absl/status/statusor.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "kubemend/common/auth.h"

namespace kubemend::audit {

struct ConsoleSession {
  std::string id;       // the cookie value (256 random bits, hex)
  std::string csrf;     // must accompany every POST (256 random bits, hex)
  std::string token;    // the admin token, forwarded to the services; never sent back
  std::string subject;  // from the tokens file ("anonymous" when auth is off)
  AdminRole role = AdminRole::kNone;
  std::chrono::system_clock::time_point expires;
};

class ConsoleSessions {
 public:
  static constexpr char kCookie[] = "kubemend_session";
  static constexpr size_t kMaxSessions = 1000;

  ConsoleSessions(std::shared_ptr<const TokenAuthenticator> auth, std::chrono::seconds ttl)
      : auth_(std::move(auth)), ttl_(ttl) {}

  bool auth_enabled() const { return auth_->enabled(); }
  // Unauthenticated for an unknown token; ResourceExhausted when too many
  // sessions are live.
  absl::StatusOr<ConsoleSession> Login(const std::string& token,
                                       std::chrono::system_clock::time_point now);
  // The session named by the Cookie header, if it exists and has not expired.
  std::optional<ConsoleSession> Find(const std::string& cookie_header,
                                     std::chrono::system_clock::time_point now);
  void Logout(const std::string& id);
  // Constant-time comparison of the CSRF header with the session's.
  static bool CsrfMatches(const ConsoleSession& s, const std::string& header);
  // The session id inside a Cookie header ("" when absent).
  static std::string CookieValue(const std::string& cookie_header);
  // Whether `role` may call `full_method` by the admin API's role table.
  static bool Allowed(AdminRole role, const std::string& full_method);

 private:
  std::shared_ptr<const TokenAuthenticator> auth_;
  std::chrono::seconds ttl_;
  std::mutex mu_;
  std::map<std::string, ConsoleSession> by_id_;
};

}  // namespace kubemend::audit
