#pragma once
// The operator console (docs/console.md): a single-page app served from the
// audit service's HTTP port under /console/, and the JSON + Server-Sent
// Events API under /console/api/ that the page calls. Assets are compiled
// into the binary (console_assets.h, generated from services/audit/console/).
//
// Security: every /console/api/ route but login needs a session
// (ConsoleSessions); state-changing routes are POSTs that need the session's
// CSRF token in X-Kubemend-CSRF, a JSON body and, when the browser sends
// one, an Origin equal to the Host. Every response carries a strict
// Content-Security-Policy and no-sniff / no-frame headers.
//
// Threads: handlers run on cpp-httplib's pool; an SSE stream holds one pool
// thread while open, so at most `max_streams` run at once (503 beyond).
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "console_backend.h"
#include "kubemend/common/config.h"
#include "console_sessions.h"

namespace kubemend::audit {

struct ConsoleOptions {
  bool enabled = true;
  ConsoleEndpoints endpoints;
  std::chrono::milliseconds session_ttl = std::chrono::hours(12);
  bool cookie_secure = false;  // add Secure to the cookie (serve the console over HTTPS)
  int64_t max_streams = 4;
  std::chrono::milliseconds stream_poll = std::chrono::milliseconds(250);
};

class Console {
 public:
  Console(ConsoleOptions opts, std::string dsn, std::string reader_role,
          std::shared_ptr<const TokenAuthenticator> auth);
  // Adds the routes; call before the server starts.
  void Register(httplib::Server& server);
  void SetSelfEndpoint(const std::string& addr) { backend_.SetSelf(addr); }
  // Ends open streams (on shutdown).
  void Stop() { stopping_ = true; }

 private:
  void RegisterAssets(httplib::Server& server);
  void RegisterSession(httplib::Server& server);
  void RegisterTrail(httplib::Server& server);
  void RegisterGate(httplib::Server& server);
  void RegisterStream(httplib::Server& server);
  // The caller's session, or an error response already written.
  std::optional<ConsoleSession> Authenticate(const httplib::Request& req, httplib::Response& res);
  // Authenticate + CSRF + Origin + JSON body, for state-changing calls.
  std::optional<ConsoleSession> AuthenticateWrite(const httplib::Request& req,
                                                  httplib::Response& res);
  bool Streams(const ConsoleSession& s, const httplib::Request& req, httplib::Response& res);

  ConsoleOptions opts_;
  ConsoleSessions sessions_;
  ConsoleBackend backend_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> streams_{0};
};

// console.enabled, console.endpoints, console.endpoints_dir, console.session_ttl,
// console.cookie_secure, console.max_streams.
void AddConsoleKeys(ConfigSchema& schema, ConsoleOptions* opts);

// Where this process's own gRPC port answers: grpc.listen's host, or
// 127.0.0.1 when it listens on every address.
std::string LocalAddress(const std::string& grpc_listen, int port);

// Security headers every console response carries.
void SetSecurityHeaders(httplib::Response& res);

}  // namespace kubemend::audit
