#include "publisher.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "webhook.h"

namespace kubemend::collector {
namespace {

const ProducerIdentity kWho{"collector", "c-1", "0.1.0"};

std::string Alert(const std::string& fp, const std::string& status) {
  return R"({"status":")" + status + R"(","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"web-1"},
    "annotations":{},"startsAt":"2026-11-22T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":")" + fp + "\"}";
}

std::string Body(const std::vector<std::string>& alerts) {
  std::string a;
  for (const auto& x : alerts) {
    a += (a.empty() ? "" : ",") + x;
  }
  return R"({"version":"4","status":"firing","receiver":"k","groupLabels":{},"alerts":[)" + a + "]}";
}

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kubemend-wh-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    std::filesystem::remove(dir_ / "dedup");
    Restart();
  }
  // A new collector process: fresh publisher and handler, same state file.
  void Restart() {
    handler_.reset();
    publisher_.reset();
    dedup_.reset();
    dedup_ = std::move(*DedupStore::Open((dir_ / "dedup").string(), Millis(3'600'000), clock_));
    publisher_ = std::make_unique<Publisher>(&sink_, dedup_.get(), &metrics_);
    WebhookAuthConfig ac;
    ac.type = "bearer";
    auto auth = WebhookAuth::Create(ac, {{"KUBEMEND_WEBHOOK_TOKEN", "tok"}});
    WebhookConfig wc;
    wc.max_body_bytes = 4096;
    handler_ = std::make_unique<WebhookHandler>(publisher_.get(), wc, *auth, kWho, clock_);
  }
  std::filesystem::path dir_;
  FakeClock clock_;
  MetricsRegistry metrics_;
  MemorySignalSink sink_;
  std::unique_ptr<DedupStore> dedup_;
  std::unique_ptr<Publisher> publisher_;
  std::unique_ptr<WebhookHandler> handler_;
};

TEST_F(WebhookTest, AlertStormBecomesOneSignalPerChangeAcrossARestart) {
  for (int i = 0; i < 50; ++i) {
    auto [code, body] = handler_->Handle("Bearer tok", Body({Alert("fp1", "firing")}));
    ASSERT_EQ(code, 200) << body;
  }
  EXPECT_EQ(sink_.Take().size(), 1u);
  Restart();
  auto [code, body] = handler_->Handle("Bearer tok", Body({Alert("fp1", "firing"), Alert("fp2", "firing")}));
  ASSERT_EQ(code, 200) << body;
  auto after = sink_.Take();
  ASSERT_EQ(after.size(), 1u);  // fp1 remembered across the restart
  EXPECT_EQ(after[0].signal().fingerprint(), "fp2");
  std::tie(code, body) = handler_->Handle("Bearer tok", Body({Alert("fp1", "resolved"), Alert("fp1", "resolved")}));
  ASSERT_EQ(code, 200);
  EXPECT_EQ(sink_.Take().size(), 1u);
  std::tie(code, body) = handler_->Handle("Bearer tok", Body({Alert("fp1", "firing")}));
  EXPECT_EQ(sink_.Take().size(), 1u);  // firing again after resolved is a change
  auto details = publisher_->Details();
  // The registry outlives the simulated restart: 4 published, 49 repeats in
  // the storm, fp1 after the restart, and the doubled resolved.
  EXPECT_EQ(details["source.alertmanager.published"], "4");
  EXPECT_EQ(details["source.alertmanager.deduplicated"], "51");
}

TEST_F(WebhookTest, BusDownIs503AndNothingIsRememberedAsSent) {
  sink_.set_fail(true);
  auto [code, body] = handler_->Handle("Bearer tok", Body({Alert("fp9", "firing")}));
  EXPECT_EQ(code, 503);
  EXPECT_NE(body.find("bus down"), std::string::npos);
  sink_.set_fail(false);
  std::tie(code, body) = handler_->Handle("Bearer tok", Body({Alert("fp9", "firing")}));  // Alertmanager retries
  EXPECT_EQ(code, 200);
  EXPECT_EQ(sink_.Take().size(), 1u);
  EXPECT_EQ(metrics_.GetCounter("kubemend_collector_errors_total", "", {{"source", "alertmanager"}}).Value(), 1u);
}

TEST_F(WebhookTest, AuthAndBadInputAreRefusedWithReasons) {
  auto [code, body] = handler_->Handle("", Body({Alert("fp1", "firing")}));
  EXPECT_EQ(code, 401);
  std::tie(code, body) = handler_->Handle("Bearer nope", Body({Alert("fp1", "firing")}));
  EXPECT_EQ(code, 401);
  std::tie(code, body) = handler_->Handle("Bearer tok", "{\"version\":\"3\",\"alerts\":[]}");
  EXPECT_EQ(code, 400);
  EXPECT_NE(body.find("unsupported webhook version"), std::string::npos);
  std::tie(code, body) = handler_->Handle("Bearer tok", std::string(5000, ' '));
  EXPECT_EQ(code, 413);
  EXPECT_TRUE(sink_.Take().empty());
}

}  // namespace
}  // namespace kubemend::collector
