#include "kubemend/common/auth.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "grpc/health/v1/health.grpc.pb.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/runtime.h"
#include "kubemend/v1/safety_gate_admin.grpc.pb.h"

namespace kubemend {
namespace {

std::shared_ptr<const TokenAuthenticator> Auth(const AdminAuthConfig& cfg) {
  auto a = TokenAuthenticator::Create(cfg);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? *a : nullptr;
}

TEST(AdminAuthTest, RolesFollowTheTableThenTheVerb) {
  EXPECT_EQ(RequiredRole("/kubemend.v1.Admin/GetStatus"), AdminRole::kViewer);
  EXPECT_EQ(RequiredRole("/kubemend.v1.AuditAdmin/Tail"), AdminRole::kViewer);
  EXPECT_EQ(RequiredRole("/kubemend.v1.SafetyGateAdmin/ListPending"), AdminRole::kViewer);
  EXPECT_EQ(RequiredRole("/kubemend.v1.SafetyGateAdmin/Approve"), AdminRole::kOperator);
  EXPECT_EQ(RequiredRole("/kubemend.v1.SafetyGateAdmin/SetMode"), AdminRole::kOperator);
  EXPECT_EQ(RequiredRole("/kubemend.v1.AnalyzerAdmin/ListPolicies"), AdminRole::kViewer);
  EXPECT_EQ(RequiredRole("/kubemend.v1.AnalyzerAdmin/ValidatePolicies"), AdminRole::kViewer);
  EXPECT_EQ(RequiredRole("/kubemend.v1.AnalyzerAdmin/ReloadPolicies"), AdminRole::kOperator);
  RegisterMethodRole("/kubemend.v1.Test/GetSecret", AdminRole::kOperator);
  EXPECT_EQ(RequiredRole("/kubemend.v1.Test/GetSecret"), AdminRole::kOperator);
}

TEST(AdminAuthTest, TokensFromFileAndEnvironmentGrantTheirRoles) {
  std::string file = ::testing::TempDir() + "/tokens_" + NewUuid() + ".yaml";
  std::ofstream(file) << "tokens:\n"
                         "  - {subject: alice, role: operator, token: op-secret}\n"
                         "  - {subject: bob, role: viewer, sha256: "
                      << Sha256Hex("view-secret") << "}\n";
  AdminAuthConfig cfg;
  cfg.tokens_file = file;
  cfg.tokens = {"viewer:carol:carol-secret"};
  auto auth = Auth(cfg);
  ASSERT_TRUE(auth);
  Principal who;
  const std::string approve = "/kubemend.v1.SafetyGateAdmin/Approve";
  EXPECT_TRUE(auth->Check(approve, "Bearer op-secret", &who).ok());
  EXPECT_EQ(who.subject, "alice");
  grpc::Status st = auth->Check(approve, "Bearer view-secret", &who);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(st.error_message().find("needs role operator"), std::string::npos);
  EXPECT_EQ(who.subject, "bob");
  EXPECT_TRUE(auth->Check("/kubemend.v1.Admin/GetStatus", "Bearer carol-secret", &who).ok());
  EXPECT_EQ(auth->Check(approve, "", &who).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(auth->Check(approve, "Bearer nope", &who).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(auth->Check(approve, "op-secret", &who).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(AdminAuthTest, BadTokenConfigNamesTheKey) {
  AdminAuthConfig cfg;
  cfg.tokens = {"admin:dave:x"};
  auto a = TokenAuthenticator::Create(cfg);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("admin.tokens"), std::string::npos);
  cfg.tokens = {};
  cfg.tokens_file = "/nonexistent/tokens.yaml";
  a = TokenAuthenticator::Create(cfg);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("admin.tokens_file"), std::string::npos);
}

// Locked by default: no tokens means every admin method is refused, with a
// message that says how to configure them.
TEST(AdminAuthTest, NoTokensLocksEveryAdminMethod) {
  auto auth = Auth(AdminAuthConfig{});
  Principal who;
  EXPECT_FALSE(auth->enabled());
  EXPECT_FALSE(auth->insecure());
  for (const char* m : {"/kubemend.v1.SafetyGateAdmin/Approve", "/kubemend.v1.SafetyGateAdmin/Pause",
                        "/kubemend.v1.ExecutorAdmin/Rollback", "/kubemend.v1.AuditAdmin/Query",
                        "/kubemend.v1.Admin/GetStatus"}) {
    grpc::Status st = auth->Check(m, "Bearer anything", &who);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << m;
    EXPECT_NE(st.error_message().find("admin.tokens_file"), std::string::npos) << st.error_message();
    EXPECT_NE(st.error_message().find("admin.insecure_no_auth"), std::string::npos);
  }
}

TEST(AdminAuthTest, InsecureNoAuthIsTheOnlyWayAroundAndExcludesTokens) {
  AdminAuthConfig cfg;
  cfg.insecure_no_auth = true;
  auto auth = Auth(cfg);
  Principal who;
  EXPECT_TRUE(auth->insecure());
  EXPECT_TRUE(auth->Check("/kubemend.v1.SafetyGateAdmin/Approve", "", &who).ok());
  EXPECT_EQ(who.subject, "anonymous") << "never a name the client sends";
  cfg.tokens = {"operator:alice:a"};
  auto both = TokenAuthenticator::Create(cfg);
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("admin.insecure_no_auth"), std::string::npos);
}

// Through a real server: the handler never runs for a refused call, health
// stays open, and the refusal is counted.
TEST(AdminAuthTest, GuardedServerRefusesBeforeTheHandlerRuns) {
  CommonConfig cfg;
  cfg.grpc_listen = "127.0.0.1:0";
  cfg.http_listen = "127.0.0.1:0";
  cfg.admin.tokens = {"viewer:bob:view-secret", "operator:alice:op-secret"};
  cfg.admin.publish_denials = false;
  ServiceRuntime rt("authtest", cfg);
  int calls = 0;
  rt.SetStatusHook([&](v1::GetStatusResponse*) { ++calls; });
  ASSERT_TRUE(rt.Start().ok());
  auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(rt.grpc_port()),
                                grpc::InsecureChannelCredentials());
  auto admin = v1::Admin::NewStub(ch);
  auto call = [&](const std::string& token) {
    grpc::ClientContext ctx;
    if (!token.empty()) {
      ctx.AddMetadata("authorization", "Bearer " + token);
    }
    v1::GetStatusRequest req;
    v1::GetStatusResponse resp;
    return admin->GetStatus(&ctx, req, &resp);
  };
  EXPECT_EQ(call("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(call("view-secret").ok());
  EXPECT_EQ(calls, 1);
  RegisterMethodRole("/kubemend.v1.Admin/GetStatus", AdminRole::kOperator);
  EXPECT_EQ(call("view-secret").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(call("op-secret").ok());
  RegisterMethodRole("/kubemend.v1.Admin/GetStatus", AdminRole::kViewer);
  EXPECT_EQ(calls, 2);
  auto health = grpc::health::v1::Health::NewStub(ch);
  grpc::ClientContext hctx;
  grpc::health::v1::HealthCheckRequest hreq;
  grpc::health::v1::HealthCheckResponse hresp;
  EXPECT_TRUE(health->Check(&hctx, hreq, &hresp).ok()) << "probes need no token";
  std::string metrics = rt.metrics().Render();
  EXPECT_NE(metrics.find("kubemend_admin_auth_denied_total{code=\"unauthenticated\"} 2"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("kubemend_admin_auth_denied_total{code=\"permission_denied\"} 1"),
            std::string::npos);
}

// The handler sees who the guard authenticated (CallPrincipal): the subject
// of the token, whatever the request says.
class PrincipalEchoGate final : public v1::SafetyGateAdmin::Service {
 public:
  grpc::Status Pause(grpc::ServerContext* ctx, const v1::PauseRequest* req,
                     v1::ModeResponse* out) override {
    seen = CallerSubject(ctx);
    claimed = req->issued_by();
    const Principal* p = CallPrincipal(ctx);
    role = p ? p->role : AdminRole::kNone;
    out->set_paused(true);
    return grpc::Status::OK;
  }
  std::string seen, claimed;
  AdminRole role = AdminRole::kNone;
};

TEST(AdminAuthTest, HandlersRecordTheAuthenticatedSubjectNotTheClaim) {
  CommonConfig cfg;
  cfg.grpc_listen = "127.0.0.1:0";
  cfg.http_listen = "127.0.0.1:0";
  cfg.admin.tokens = {"operator:alice:alice-secret"};
  cfg.admin.publish_denials = false;
  ServiceRuntime rt("authtest", cfg);
  PrincipalEchoGate gate;
  rt.AddGrpcService(&gate);
  ASSERT_TRUE(rt.Start().ok());
  auto stub = v1::SafetyGateAdmin::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(rt.grpc_port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer alice-secret");
  v1::PauseRequest req;
  req.set_issued_by("mallory");
  v1::ModeResponse resp;
  ASSERT_TRUE(stub->Pause(&ctx, req, &resp).ok());
  EXPECT_EQ(gate.seen, "alice");
  EXPECT_EQ(gate.claimed, "mallory");
  EXPECT_EQ(gate.role, AdminRole::kOperator);
  EXPECT_EQ(CallPrincipal(nullptr), nullptr);
  EXPECT_EQ(CallerSubject(nullptr), "unauthenticated");
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// TLS with a client CA (mTLS): a client without a certificate cannot even
// connect; one with a certificate the CA signed, and a token, gets through.
TEST(AdminAuthTest, MutualTlsGuardsThePort) {
  std::string dir = ::testing::TempDir() + "/tls_" + NewUuid().substr(0, 8);
  std::string gen =
      "mkdir -p " + dir + " && cd " + dir +
      " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 "
      "-subj /CN=test-ca >/dev/null 2>&1"
      " && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost "
      ">/dev/null 2>&1"
      " && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > san.ext"
      " && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem "
      "-days 1 -extfile san.ext >/dev/null 2>&1"
      " && openssl req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj /CN=kubemendctl "
      ">/dev/null 2>&1"
      " && openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cli.pem "
      "-days 1 >/dev/null 2>&1";
  ASSERT_EQ(std::system(gen.c_str()), 0) << "openssl could not make test certificates";
  CommonConfig cfg;
  cfg.grpc_listen = "127.0.0.1:0";
  cfg.http_listen = "127.0.0.1:0";
  cfg.admin.tokens = {"viewer:bob:view-secret"};
  cfg.admin.publish_denials = false;
  cfg.admin.tls_cert_file = dir + "/srv.pem";
  cfg.admin.tls_key_file = dir + "/srv.key";
  cfg.admin.tls_client_ca_file = dir + "/ca.pem";
  ServiceRuntime rt("tlstest", cfg);
  ASSERT_TRUE(rt.Start().ok());
  std::string addr = "127.0.0.1:" + std::to_string(rt.grpc_port());
  auto call = [&](std::shared_ptr<grpc::ChannelCredentials> creds) {
    auto admin = v1::Admin::NewStub(grpc::CreateChannel(addr, creds));
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer view-secret");
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetStatusRequest req;
    v1::GetStatusResponse resp;
    return admin->GetStatus(&ctx, req, &resp);
  };
  EXPECT_FALSE(call(grpc::InsecureChannelCredentials()).ok()) << "plaintext is refused";
  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = Slurp(dir + "/ca.pem");
  EXPECT_FALSE(call(grpc::SslCredentials(no_cert)).ok()) << "no client certificate";
  grpc::SslCredentialsOptions with_cert = no_cert;
  with_cert.pem_cert_chain = Slurp(dir + "/cli.pem");
  with_cert.pem_private_key = Slurp(dir + "/cli.key");
  grpc::Status ok = call(grpc::SslCredentials(with_cert));
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace kubemend

namespace kubemend {
namespace {

// Refused calls reach the control topic at most N a minute; the next one
// published says how many were left out.
TEST(DenialLimiterTest, BoundsPublicationsPerMinuteAndCountsTheRest) {
  DenialLimiter l(3);
  TimePoint t0 = TimePoint(Millis(1'800'000'000'000));
  int64_t left = -1;
  int published = 0;
  for (int i = 0; i < 1000; ++i) {
    published += l.Allow(t0 + std::chrono::milliseconds(i), &left);
  }
  EXPECT_EQ(published, 3);
  EXPECT_EQ(left, 997);
  ASSERT_TRUE(l.Allow(t0 + std::chrono::minutes(1), &left));
  EXPECT_EQ(left, 997);  // reported once, with the next publication
  ASSERT_TRUE(l.Allow(t0 + std::chrono::minutes(1) + std::chrono::seconds(1), &left));
  EXPECT_EQ(left, 0);
  DenialLimiter none(0);
  EXPECT_FALSE(none.Allow(t0, &left));
}

}  // namespace
}  // namespace kubemend
