#pragma once
// Who may call the admin APIs. Every kubemend service serves its gRPC admin
// methods (kubemend.v1.Admin and its own <Service>Admin) through
// ServiceRuntime, which guards them with this: a bearer token in the
// `authorization` metadata ("Bearer <token>") names a subject and a role.
//
//   viewer    may call read-only methods (Get*, List*, Query*, Tail*, Verify*,
//             Validate*, Watch*, unless the role table says otherwise)
//   operator  may call everything (approve, deny, pause, resume, mode,
//             reload, rollback)
//
// A call without a known token fails UNAUTHENTICATED; a viewer calling an
// operator method fails PERMISSION_DENIED; the handler never runs. Health
// (grpc.health.v1) and reflection stay open because probes need them.
//
// Locked by default: with no tokens configured every admin method (viewer
// ones too: the trail names namespaces, workloads and people) fails
// UNAUTHENTICATED with a message saying how to configure tokens. The only
// way around is admin.insecure_no_auth: true (development), which the
// runtime announces with an error-level log line at start; every caller is
// then the principal "anonymous" with the operator role.
//
// The principal of a guarded call is what handlers record as the approver or
// issuer (CallPrincipal): never a name the client sends.
//
// Tokens come from admin.tokens_file (YAML, see docs/audit.md) and/or
// admin.tokens ("role:subject:token", comma-separated in
// KUBEMEND_ADMIN_TOKENS). The file may hold sha256 digests instead of tokens.
// TLS (and mTLS with a client CA) comes from admin.tls.*.
//
// Thread-safety: the role table is global and locked; register methods
// before Start(). TokenAuthenticator is immutable after Create().
#include <grpcpp/grpcpp.h>

#include <absl/status/statusor.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kubemend/common/clock.h"
#include "kubemend/common/config.h"

namespace kubemend {

enum class AdminRole { kNone = 0, kViewer = 1, kOperator = 2 };
std::string AdminRoleName(AdminRole r);
bool ParseAdminRole(const std::string& name, AdminRole* out);

struct AdminAuthConfig {
  std::string tokens_file;
  bool insecure_no_auth = false;    // development only: no tokens, everyone is an operator
  std::vector<std::string> tokens;  // role:subject:token
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;   // set: clients must present a certificate it signed
  bool publish_denials = true;      // denied calls also go to the control topic (the trail)
  int64_t denials_per_minute = 10;  // at most this many reach the topic; the rest are counted
};

// Keeps refused admin calls from growing the control topic without bound
// (every gate and executor replays it at start): at most `per_minute`
// publications per minute per process; the others are counted (and logged,
// and in the metric) and the next publication says how many were left out.
// Thread-safe.
class DenialLimiter {
 public:
  explicit DenialLimiter(int64_t per_minute) : per_minute_(per_minute) {}
  // True when this denial may be published; *suppressed_before is the number
  // held back since the last publication (reset by this call when true).
  bool Allow(TimePoint now, int64_t* suppressed_before);

 private:
  std::mutex mu_;
  int64_t per_minute_;
  TimePoint window_start_{};
  int64_t in_window_ = 0;
  int64_t suppressed_ = 0;
};

// Registers admin.tokens_file, admin.tokens, admin.insecure_no_auth, admin.tls.cert_file,
// admin.tls.key_file, admin.tls.client_ca_file, admin.publish_denials.
void AddAdminAuthKeys(ConfigSchema& schema, AdminAuthConfig* cfg);

// The role a method needs. `full_method` is "/pkg.Service/Method"; a
// registration for "/pkg.Service/*" covers the whole service. Services
// register their mutating (or unusual) methods here before Start().
void RegisterMethodRole(const std::string& full_method, AdminRole role);
AdminRole RequiredRole(const std::string& full_method);

struct Principal {
  std::string subject;
  AdminRole role = AdminRole::kNone;
};

// The subject every caller gets under admin.insecure_no_auth.
inline constexpr char kAnonymousSubject[] = "anonymous";

// The principal the guard authenticated for the call `ctx` belongs to, while
// its synchronous handler runs on this thread; nullptr for any other context
// (an unguarded service, another thread). Handlers record its subject as the
// approver / issuer.
const Principal* CallPrincipal(const grpc::ServerContext* ctx);
// CallPrincipal's subject, or "unauthenticated" when there is none (a
// handler outside ServiceRuntime's guard; the runtime never serves one).
std::string CallerSubject(const grpc::ServerContext* ctx);

// What a denied call looked like, for the audit trail and logs.
struct AuthDenial {
  std::string method;
  std::string subject;  // "" when unauthenticated
  std::string peer;
  grpc::StatusCode code = grpc::StatusCode::UNAUTHENTICATED;
  std::string message;
};

class TokenAuthenticator {
 public:
  // Fails InvalidArgument naming the key (admin.tokens_file / admin.tokens)
  // when a file cannot be read or an entry is malformed, and when
  // admin.insecure_no_auth is set together with tokens (pick one).
  static absl::StatusOr<std::shared_ptr<const TokenAuthenticator>> Create(
      const AdminAuthConfig& cfg);
  // Tokens are configured: calls are checked against them.
  bool enabled() const { return !by_digest_.empty(); }
  // admin.insecure_no_auth: every call passes as "anonymous" (operator).
  bool insecure() const { return insecure_; }
  // `authorization` is the metadata value ("Bearer <token>"), "" if absent.
  // OK (with the principal), UNAUTHENTICATED or PERMISSION_DENIED.
  grpc::Status Check(const std::string& full_method, const std::string& authorization,
                     Principal* who) const;

 private:
  std::map<std::string, Principal> by_digest_;  // sha256 hex of the token
  bool insecure_ = false;
};

using DenialSink = std::function<void(const AuthDenial&)>;

// Wraps every synchronous method of `service` so that each call is checked
// before its handler runs; denials go to `on_denied` (may be empty). Call
// before the service is registered with a ServerBuilder. Async and callback
// methods are left alone (none of ours use them) and are returned by name
// so that the caller can refuse to start.
std::vector<std::string> GuardService(grpc::Service* service,
                                      std::shared_ptr<const TokenAuthenticator> auth,
                                      DenialSink on_denied);

// TLS server credentials when admin.tls.cert_file is set, else insecure.
// Fails InvalidArgument naming the key when a file cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> AdminServerCredentials(
    const AdminAuthConfig& cfg);

}  // namespace kubemend
