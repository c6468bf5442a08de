#include "auth.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace kubemend::collector {
namespace {

TEST(WebhookAuthTest, BearerTokenFromEnv) {
  WebhookAuthConfig c;
  c.type = "bearer";
  auto a = WebhookAuth::Create(c, {{"KUBEMEND_WEBHOOK_TOKEN", "s3cret"}});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->Check("Bearer s3cret"), "");
  EXPECT_EQ(a->Check("bearer s3cret"), "");  // scheme is case-insensitive
  EXPECT_EQ(a->Check("Bearer s3cre"), "invalid credentials");
  EXPECT_EQ(a->Check("Bearer S3cret"), "invalid credentials");
  EXPECT_NE(a->Check(""), "");
  EXPECT_NE(a->Check("Basic czNjcmV0"), "");
}

TEST(WebhookAuthTest, BasicAuthFromFileAsAlertmanagerSendsIt) {
  auto path = std::filesystem::temp_directory_path() / ("kubemend-pw-" + std::to_string(getpid()));
  std::ofstream(path) << "hunter2\n";
  WebhookAuthConfig c;
  c.type = "basic";
  c.username = "alertmanager";
  c.password_file = path.string();
  auto a = WebhookAuth::Create(c, {});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->Check("Basic " + Base64Encode("alertmanager:hunter2")), "");
  EXPECT_EQ(a->Check("Basic " + Base64Encode("alertmanager:hunter3")), "invalid credentials");
  std::filesystem::remove(path);
}

TEST(WebhookAuthTest, MissingSecretNamesTheKey) {
  WebhookAuthConfig c;
  c.type = "bearer";
  auto a = WebhookAuth::Create(c, {});
  ASSERT_FALSE(a.ok());
  EXPECT_NE(std::string(a.status().message()).find("KUBEMEND_WEBHOOK_TOKEN"), std::string::npos);
  c.type = "basic";
  a = WebhookAuth::Create(c, {{"KUBEMEND_WEBHOOK_PASSWORD", "x"}});
  ASSERT_FALSE(a.ok());
  EXPECT_NE(std::string(a.status().message()).find("webhook.auth.username"), std::string::npos);
}

TEST(WebhookAuthTest, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

}  // namespace
}  // namespace kubemend::collector
