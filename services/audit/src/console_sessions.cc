#include "console_sessions.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace kubemend::audit {
namespace {

std::string RandomHex() {
  unsigned char buf[32];
  if (RAND_bytes(buf, sizeof buf) != 1) {
    throw std::runtime_error("RAND_bytes failed: no secure randomness for console sessions");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : buf) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace

absl::StatusOr<ConsoleSession> ConsoleSessions::Login(const std::string& token,
                                                      std::chrono::system_clock::time_point now) {
  Principal who;
  // Any method a viewer may call: this checks the token, not a permission.
  grpc::Status st = auth_->Check("/kubemend.v1.Admin/GetStatus", "Bearer " + token, &who);
  if (!st.ok()) {
    return absl::UnauthenticatedError(auth_->enabled() ? "unknown token" : st.error_message());
  }
  std::lock_guard lock(mu_);
  for (auto it = by_id_.begin(); it != by_id_.end();) {
    it = it->second.expires <= now ? by_id_.erase(it) : std::next(it);
  }
  if (by_id_.size() >= kMaxSessions) {
    return absl::ResourceExhaustedError("too many console sessions; try again later");
  }
  ConsoleSession s;
  s.id = RandomHex();
  s.csrf = RandomHex();
  s.token = token;
  s.subject = who.subject;
  s.role = who.role;
  s.expires = now + ttl_;
  by_id_[s.id] = s;
  return s;
}

std::optional<ConsoleSession> ConsoleSessions::Find(const std::string& cookie_header,
                                                    std::chrono::system_clock::time_point now) {
  std::string id = CookieValue(cookie_header);
  if (id.empty()) {
    return std::nullopt;
  }
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) {
    return std::nullopt;
  }
  if (it->second.expires <= now) {
    by_id_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void ConsoleSessions::Logout(const std::string& id) {
  std::lock_guard lock(mu_);
  by_id_.erase(id);
}

bool ConsoleSessions::CsrfMatches(const ConsoleSession& s, const std::string& header) {
  return !s.csrf.empty() && header.size() == s.csrf.size() &&
         CRYPTO_memcmp(header.data(), s.csrf.data(), header.size()) == 0;
}

std::string ConsoleSessions::CookieValue(const std::string& cookie_header) {
  const std::string want = std::string(kCookie) + "=";
  size_t pos = 0;
  while (pos < cookie_header.size()) {
    size_t end = cookie_header.find(';', pos);
    if (end == std::string::npos) {
      end = cookie_header.size();
    }
    size_t start = cookie_header.find_first_not_of(' ', pos);
    if (start != std::string::npos && start < end &&
        cookie_header.compare(start, want.size(), want) == 0) {
      return cookie_header.substr(start + want.size(), end - start - want.size());
    }
    pos = end + 1;
  }
  return "";
}

bool ConsoleSessions::Allowed(AdminRole role, const std::string& full_method) {
  return static_cast<int>(role) >= static_cast<int>(RequiredRole(full_method));
}

}  // namespace kubemend::audit
