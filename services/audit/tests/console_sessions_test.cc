// Console logins: the admin API's tokens and roles, opaque session ids,
// expiry, CSRF comparison, cookie parsing.
#include <gtest/gtest.h>

#include "console.h"
#include "console_sessions.h"

namespace kubemend::audit {
namespace {

using std::chrono::seconds;
using Clock = std::chrono::system_clock;

std::shared_ptr<const TokenAuthenticator> Auth(std::vector<std::string> tokens) {
  AdminAuthConfig cfg;
  cfg.tokens = std::move(tokens);
  return *TokenAuthenticator::Create(cfg);
}

TEST(ConsoleSessionsTest, LoginWithAKnownTokenGivesItsSubjectAndRole) {
  ConsoleSessions s(Auth({"operator:alice:op-secret", "viewer:victor:view-secret"}), seconds(60));
  auto now = Clock::now();
  auto op = s.Login("op-secret", now);
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_EQ(op->subject, "alice");
  EXPECT_EQ(op->role, AdminRole::kOperator);
  EXPECT_EQ(op->id.size(), 64u);
  EXPECT_EQ(op->csrf.size(), 64u);
  EXPECT_NE(op->id, op->csrf);
  EXPECT_EQ(op->id.find("op-secret"), std::string::npos);
  auto viewer = s.Login("view-secret", now);
  ASSERT_TRUE(viewer.ok());
  EXPECT_EQ(viewer->role, AdminRole::kViewer);
  EXPECT_NE(viewer->id, op->id);
}

TEST(ConsoleSessionsTest, UnknownOrEmptyTokenIsRefused) {
  ConsoleSessions s(Auth({"operator:alice:op-secret"}), seconds(60));
  EXPECT_EQ(s.Login("nope", Clock::now()).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(s.Login("", Clock::now()).status().code(), absl::StatusCode::kUnauthenticated);
}

// Locked by default: with no tokens configured nobody logs in, and the
// answer says how to configure them.
TEST(ConsoleSessionsTest, NoTokensConfiguredMeansNoLogin) {
  ConsoleSessions s(Auth({}), seconds(60));
  auto r = s.Login("anything", Clock::now());
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(r.status().message().find("admin.tokens_file"), std::string::npos) << r.status();
}

TEST(ConsoleSessionsTest, CookieFindsTheSessionUntilItExpiresOrLogsOut) {
  ConsoleSessions s(Auth({"operator:alice:op-secret"}), seconds(60));
  auto now = Clock::now();
  auto op = *s.Login("op-secret", now);
  std::string cookie = "theme=dark; kubemend_session=" + op.id + "; other=1";
  auto found = s.Find(cookie, now + seconds(30));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->subject, "alice");
  EXPECT_FALSE(s.Find("kubemend_session=" + op.id + "x", now).has_value());
  EXPECT_FALSE(s.Find("", now).has_value());
  EXPECT_FALSE(s.Find(cookie, now + seconds(61)).has_value()) << "expired";
  auto again = *s.Login("op-secret", now);
  s.Logout(again.id);
  EXPECT_FALSE(s.Find("kubemend_session=" + again.id, now).has_value()) << "logged out";
}

TEST(ConsoleSessionsTest, CsrfMustMatchExactly) {
  ConsoleSessions s(Auth({"operator:alice:op-secret"}), seconds(60));
  auto op = *s.Login("op-secret", Clock::now());
  EXPECT_TRUE(ConsoleSessions::CsrfMatches(op, op.csrf));
  EXPECT_FALSE(ConsoleSessions::CsrfMatches(op, ""));
  EXPECT_FALSE(ConsoleSessions::CsrfMatches(op, op.csrf.substr(1)));
  std::string wrong = op.csrf;
  wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(ConsoleSessions::CsrfMatches(op, wrong));
}

TEST(ConsoleSessionsTest, RolesFollowTheAdminApiTable) {
  EXPECT_TRUE(ConsoleSessions::Allowed(AdminRole::kViewer, "/kubemend.v1.AuditAdmin/ListIncidents"));
  EXPECT_TRUE(ConsoleSessions::Allowed(AdminRole::kViewer, "/kubemend.v1.AuditAdmin/VerifyChain"));
  EXPECT_FALSE(ConsoleSessions::Allowed(AdminRole::kViewer, "/kubemend.v1.SafetyGateAdmin/Approve"));
  EXPECT_TRUE(ConsoleSessions::Allowed(AdminRole::kOperator, "/kubemend.v1.SafetyGateAdmin/Approve"));
  EXPECT_FALSE(ConsoleSessions::Allowed(AdminRole::kNone, "/kubemend.v1.AuditAdmin/ListIncidents"));
}

TEST(ConsoleSessionsTest, LocalAddressOfTheOwnGrpcPort) {
  EXPECT_EQ(LocalAddress("0.0.0.0:9000", 9000), "127.0.0.1:9000");
  EXPECT_EQ(LocalAddress("127.0.0.1:0", 41234), "127.0.0.1:41234");
  EXPECT_EQ(LocalAddress("10.1.2.3:9000", 9000), "10.1.2.3:9000");
  EXPECT_EQ(LocalAddress("[::]:9000", 9000), "127.0.0.1:9000");
}

}  // namespace
}  // namespace kubemend::audit
