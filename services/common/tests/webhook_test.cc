// The shared webhook sender against a real HTTP server on loopback
// (cpp-httplib): what a receiver gets, and how answers map to retryable or
// permanent errors that never name the URL.
#include "kubemend/common/webhook.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>
#include <thread>

namespace kubemend {
namespace {

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Post(R"(/status/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      body_ = req.body;
      content_type_ = req.get_header_value("Content-Type");
      auth_ = req.get_header_value("Authorization");
      res.status = std::stoi(req.matches[1]);
      res.set_content("x", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }
  std::string Url(int status) {
    return "http://127.0.0.1:" + std::to_string(port_) + "/status/" + std::to_string(status) +
           "?token=s3cr3t";
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::string body_, content_type_, auth_;
};

TEST_F(WebhookTest, PostsJsonWithTheHeadersAndMapsAnswersToRetryableOrNot) {
  auto poster = NewCurlWebhookPoster(std::chrono::seconds(5));
  ASSERT_TRUE(poster->Post(Url(200), R"({"text":"hi"})", {{"Authorization", "Bearer t0k"}}).ok());
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(body_, R"({"text":"hi"})");
    EXPECT_EQ(content_type_, "application/json");
    EXPECT_EQ(auth_, "Bearer t0k");
  }
  for (int status : {500, 503, 408, 429}) {
    absl::Status st = poster->Post(Url(status), "{}", {});
    EXPECT_TRUE(IsRetryableWebhookError(st)) << status << ": " << st;
    EXPECT_NE(st.message().find(std::to_string(status)), std::string::npos);
    EXPECT_EQ(st.message().find("s3cr3t"), std::string::npos) << "the URL is a secret";
  }
  for (int status : {400, 403, 404, 410}) {
    absl::Status st = poster->Post(Url(status), "{}", {});
    EXPECT_FALSE(st.ok());
    EXPECT_FALSE(IsRetryableWebhookError(st)) << status << ": a retry will not help";
  }
}

TEST_F(WebhookTest, NoListenerIsRetryableAndOtherSchemesAreRefused) {
  auto poster = NewCurlWebhookPoster(std::chrono::seconds(2));
  server_.stop();
  absl::Status st = poster->Post(Url(200), "{}", {});
  EXPECT_TRUE(IsRetryableWebhookError(st)) << st;
  EXPECT_EQ(st.message().find("s3cr3t"), std::string::npos);
  absl::Status file = poster->Post("file:///etc/passwd", "{}", {});
  EXPECT_FALSE(file.ok()) << "http and https only";
  EXPECT_FALSE(IsRetryableWebhookError(file)) << file;
}

}  // namespace
}  // namespace kubemend
