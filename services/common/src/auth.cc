#include "kubemend/common/auth.h"

#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/security/server_credentials.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <utility>

#include "kubemend/common/ids.h"

namespace kubemend {
namespace {

// grpc::Service keeps its method table private and offers no public way to
// put a check in front of a synchronous handler (server interceptors cannot
// reject a call). Explicit instantiation may name a private member, which is
// the one standard way to reach it; everything else below uses the public
// MethodHandler interface the generated code itself uses.
using MethodTable = std::vector<std::unique_ptr<grpc::internal::RpcServiceMethod>>;
struct MethodsTag {
  using type = MethodTable grpc::Service::*;
  friend type MethodsOf(MethodsTag);
};
template <typename Tag, typename Tag::type M>
struct PrivateMember {
  friend typename Tag::type MethodsOf(Tag) { return M; }
};
template struct PrivateMember<MethodsTag, &grpc::Service::methods_>;

std::mutex& TableMu() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, AdminRole>& Table() {
  static std::map<std::string, AdminRole> table = {
      {"/kubemend.v1.Admin/GetStatus", AdminRole::kViewer},
      {"/kubemend.v1.AuditAdmin/*", AdminRole::kViewer},
      {"/kubemend.v1.AnalyzerAdmin/GetState", AdminRole::kViewer},
      {"/kubemend.v1.AnalyzerAdmin/ListPolicies", AdminRole::kViewer},
      {"/kubemend.v1.AnalyzerAdmin/ValidatePolicies", AdminRole::kViewer},
      // Reloading changes what the analyzer acts on.
      {"/kubemend.v1.AnalyzerAdmin/ReloadPolicies", AdminRole::kOperator},
  };
  return table;
}

bool ReadOnlyVerb(const std::string& method) {
  for (const char* verb : {"Get", "List", "Query", "Tail", "Verify", "Validate", "Watch"}) {
    if (method.rfind(verb, 0) == 0) {
      return true;
    }
  }
  return false;
}

// The call whose handler runs on this thread (set by GuardedHandler around
// the synchronous handler, which the generated code runs inline).
struct CurrentCall {
  const grpc::ServerContext* ctx = nullptr;
  Principal principal;
};
thread_local CurrentCall* current_call = nullptr;

// Publishes `call` as the current one for its scope (restored on unwind too).
class CurrentCallScope {
 public:
  explicit CurrentCallScope(CurrentCall* call) : outer_(std::exchange(current_call, call)) {}
  ~CurrentCallScope() { current_call = outer_; }
  CurrentCallScope(const CurrentCallScope&) = delete;
  CurrentCallScope& operator=(const CurrentCallScope&) = delete;

 private:
  CurrentCall* outer_;
};

class GuardedHandler final : public grpc::internal::MethodHandler {
 public:
  GuardedHandler(std::unique_ptr<grpc::internal::RpcServiceMethod> inner,
                 std::shared_ptr<const TokenAuthenticator> auth, DenialSink on_denied)
      : inner_(std::move(inner)),
        method_(inner_->name()),
        auth_(std::move(auth)),
        on_denied_(std::move(on_denied)) {}

  void RunHandler(const HandlerParameter& p) override {
    std::string authz;
    const auto& md = p.server_context->client_metadata();
    if (auto it = md.find("authorization"); it != md.end()) {
      authz.assign(it->second.data(), it->second.size());
    }
    Principal who;
    grpc::Status st = auth_->Check(method_, authz, &who);
    if (st.ok()) {
      CurrentCall call{static_cast<const grpc::ServerContext*>(p.server_context), who};
      CurrentCallScope scope(&call);
      inner_->handler()->RunHandler(p);
      return;
    }
    if (on_denied_) {
      on_denied_({method_, who.subject, p.server_context->peer(), st.error_code(),
                  st.error_message()});
    }
    // The generated handler answers with a non-OK request status without
    // calling the service method (as for a request that failed to parse).
    HandlerParameter denied(p.call, p.server_context, p.request, st, p.internal_data,
                            p.call_requester);
    inner_->handler()->RunHandler(denied);
  }

  void* Deserialize(grpc_call* call, grpc_byte_buffer* req, grpc::Status* status,
                    void** handler_data) override {
    return inner_->handler()->Deserialize(call, req, status, handler_data);
  }

 private:
  std::unique_ptr<grpc::internal::RpcServiceMethod> inner_;
  std::string method_;
  std::shared_ptr<const TokenAuthenticator> auth_;
  DenialSink on_denied_;
};

std::string ReadFile(const std::string& path, const std::string& key, absl::Status* st) {
  std::ifstream in(path);
  if (!in) {
    *st = absl::InvalidArgumentError("key " + key + ": cannot read " + path);
    return "";
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

const Principal* CallPrincipal(const grpc::ServerContext* ctx) {
  if (current_call == nullptr || ctx == nullptr || current_call->ctx != ctx) {
    return nullptr;
  }
  return &current_call->principal;
}

std::string CallerSubject(const grpc::ServerContext* ctx) {
  const Principal* p = CallPrincipal(ctx);
  return p == nullptr || p->subject.empty() ? "unauthenticated" : p->subject;
}

std::string AdminRoleName(AdminRole r) {
  switch (r) {
    case AdminRole::kViewer:
      return "viewer";
    case AdminRole::kOperator:
      return "operator";
    default:
      return "none";
  }
}

bool ParseAdminRole(const std::string& name, AdminRole* out) {
  if (name == "viewer") {
    *out = AdminRole::kViewer;
  } else if (name == "operator") {
    *out = AdminRole::kOperator;
  } else {
    return false;
  }
  return true;
}

void AddAdminAuthKeys(ConfigSchema& s, AdminAuthConfig* c) {
  s.Add("admin.tokens_file", &c->tokens_file,
        "YAML file of admin API bearer tokens (subject, role viewer|operator, token or sha256); "
        "with no tokens every admin method is refused");
  s.Add("admin.insecure_no_auth", &c->insecure_no_auth,
        "development only: no tokens, every caller is the operator \"anonymous\" (logged loudly)");
  s.Add("admin.tokens", &c->tokens,
        "admin API tokens as role:subject:token (prefer admin.tokens_file)");
  s.Add("admin.tls.cert_file", &c->tls_cert_file, "PEM certificate for the gRPC port (TLS on)");
  s.Add("admin.tls.key_file", &c->tls_key_file, "PEM private key for admin.tls.cert_file");
  s.Add("admin.tls.client_ca_file", &c->tls_client_ca_file,
        "PEM CA bundle: when set, clients must present a certificate it signed (mTLS)");
  s.Add("admin.publish_denials", &c->publish_denials,
        "publish refused admin calls as Control events on the control topic (the audit trail)");
  s.Add("admin.denials_per_minute", &c->denials_per_minute,
        "at most this many refused calls per minute reach the control topic; the rest are counted and logged",
        0, 10000);
}

bool DenialLimiter::Allow(TimePoint now, int64_t* suppressed_before) {
  std::lock_guard<std::mutex> g(mu_);
  if (now - window_start_ >= std::chrono::minutes(1)) {
    window_start_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= per_minute_) {
    ++suppressed_;
    *suppressed_before = suppressed_;
    return false;
  }
  ++in_window_;
  *suppressed_before = suppressed_;
  suppressed_ = 0;
  return true;
}

void RegisterMethodRole(const std::string& full_method, AdminRole role) {
  std::lock_guard lock(TableMu());
  Table()[full_method] = role;
}

AdminRole RequiredRole(const std::string& full_method) {
  std::lock_guard lock(TableMu());
  auto& t = Table();
  if (auto it = t.find(full_method); it != t.end()) {
    return it->second;
  }
  auto slash = full_method.rfind('/');
  if (slash != std::string::npos) {
    if (auto it = t.find(full_method.substr(0, slash) + "/*"); it != t.end()) {
      return it->second;
    }
    if (ReadOnlyVerb(full_method.substr(slash + 1))) {
      return AdminRole::kViewer;
    }
  }
  return AdminRole::kOperator;
}

absl::StatusOr<std::shared_ptr<const TokenAuthenticator>> TokenAuthenticator::Create(
    const AdminAuthConfig& cfg) {
  auto auth = std::shared_ptr<TokenAuthenticator>(new TokenAuthenticator());
  auth->insecure_ = cfg.insecure_no_auth;
  auto add = [&](const std::string& key, const std::string& subject, const std::string& role,
                 const std::string& digest) -> absl::Status {
    Principal p;
    p.subject = subject;
    if (subject.empty()) {
      return absl::InvalidArgumentError("key " + key + ": a token has no subject");
    }
    if (!ParseAdminRole(role, &p.role)) {
      return absl::InvalidArgumentError("key " + key + ": token of " + subject + " has role '" +
                                        role + "', want viewer or operator");
    }
    if (digest.size() != 64) {
      return absl::InvalidArgumentError("key " + key + ": token of " + subject +
                                        " is empty or its sha256 is not 64 hex digits");
    }
    auth->by_digest_[digest] = p;
    return absl::OkStatus();
  };
  if (!cfg.tokens_file.empty()) {
    absl::Status st;
    std::string text = ReadFile(cfg.tokens_file, "admin.tokens_file", &st);
    if (!st.ok()) {
      return st;
    }
    try {
      YAML::Node root = YAML::Load(text);
      for (const auto& t : root["tokens"]) {
        std::string digest = t["sha256"] ? t["sha256"].as<std::string>() : "";
        if (t["token"]) {
          std::string token = t["token"].as<std::string>();
          digest = token.empty() ? "" : Sha256Hex(token);
        }
        for (auto& c : digest) {
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (auto s = add("admin.tokens_file", t["subject"] ? t["subject"].as<std::string>() : "",
                         t["role"] ? t["role"].as<std::string>() : "", digest);
            !s.ok()) {
          return s;
        }
      }
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError("key admin.tokens_file: " + cfg.tokens_file + ": " +
                                        e.what());
    }
  }
  for (const auto& entry : cfg.tokens) {
    auto c1 = entry.find(':');
    auto c2 = c1 == std::string::npos ? c1 : entry.find(':', c1 + 1);
    if (c2 == std::string::npos) {
      return absl::InvalidArgumentError(
          "key admin.tokens: entries are role:subject:token, got one without two colons");
    }
    std::string token = entry.substr(c2 + 1);
    if (auto s = add("admin.tokens", entry.substr(c1 + 1, c2 - c1 - 1), entry.substr(0, c1),
                     token.empty() ? "" : Sha256Hex(token));
        !s.ok()) {
      return s;
    }
  }
  if (auth->insecure_ && auth->enabled()) {
    return absl::InvalidArgumentError(
        "key admin.insecure_no_auth: set together with admin tokens; remove one (tokens are "
        "the safe choice)");
  }
  return std::shared_ptr<const TokenAuthenticator>(auth);
}

grpc::Status TokenAuthenticator::Check(const std::string& full_method,
                                       const std::string& authorization, Principal* who) const {
  if (insecure_) {
    who->subject = kAnonymousSubject;
    who->role = AdminRole::kOperator;
    return grpc::Status::OK;
  }
  if (!enabled()) {
    return grpc::Status(
        grpc::StatusCode::UNAUTHENTICATED,
        "admin API is locked: this service has no admin tokens configured. Set admin.tokens_file "
        "(KUBEMEND_ADMIN_TOKENS_FILE; ./kubemend up writes one into its run dir) or, for "
        "development only, admin.insecure_no_auth=true (KUBEMEND_ADMIN_INSECURE_NO_AUTH)");
  }
  constexpr char kBearer[] = "Bearer ";
  if (authorization.rfind(kBearer, 0) != 0 || authorization.size() == sizeof kBearer - 1) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "admin API: send 'authorization: Bearer <token>' (kubemendctl --token "
                        "or KUBEMENDCTL_TOKEN)");
  }
  auto it = by_digest_.find(Sha256Hex(authorization.substr(sizeof kBearer - 1)));
  if (it == by_digest_.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "admin API: unknown token");
  }
  *who = it->second;
  AdminRole need = RequiredRole(full_method);
  if (static_cast<int>(who->role) < static_cast<int>(need)) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "admin API: " + full_method + " needs role " + AdminRoleName(need) +
                            "; " + who->subject + " has " + AdminRoleName(who->role));
  }
  return grpc::Status::OK;
}

std::vector<std::string> GuardService(grpc::Service* service,
                                      std::shared_ptr<const TokenAuthenticator> auth,
                                      DenialSink on_denied) {
  std::vector<std::string> unguarded;
  MethodTable& methods = service->*MethodsOf(MethodsTag{});
  for (auto& m : methods) {
    if (!m) {
      continue;  // generic
    }
    if (m->api_type() != grpc::internal::RpcServiceMethod::ApiType::SYNC || !m->handler()) {
      unguarded.emplace_back(m->name());
      continue;
    }
    const char* name = m->name();
    auto type = m->method_type();
    auto* guarded = new GuardedHandler(std::move(m), auth, on_denied);
    m = std::make_unique<grpc::internal::RpcServiceMethod>(name, type, guarded);
  }
  return unguarded;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> AdminServerCredentials(
    const AdminAuthConfig& cfg) {
  if (cfg.tls_cert_file.empty() && cfg.tls_key_file.empty()) {
    if (!cfg.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "key admin.tls.client_ca_file: mTLS needs admin.tls.cert_file and admin.tls.key_file");
    }
    return grpc::InsecureServerCredentials();
  }
  absl::Status st;
  grpc::SslServerCredentialsOptions opts;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  pair.cert_chain = ReadFile(cfg.tls_cert_file, "admin.tls.cert_file", &st);
  if (!st.ok()) {
    return st;
  }
  pair.private_key = ReadFile(cfg.tls_key_file, "admin.tls.key_file", &st);
  if (!st.ok()) {
    return st;
  }
  opts.pem_key_cert_pairs.push_back(pair);
  if (!cfg.tls_client_ca_file.empty()) {
    opts.pem_root_certs = ReadFile(cfg.tls_client_ca_file, "admin.tls.client_ca_file", &st);
    if (!st.ok()) {
      return st;
    }
    opts.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(opts);
}

}  // namespace kubemend
