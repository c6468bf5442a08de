// Integration tests against a real Kafka-protocol broker. The address comes
// from KUBEMEND_TEST_KAFKA_BROKERS, set by `./kubemend test`. Each test uses
// its own topics.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <thread>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/kafka.h"

namespace kubemend {
namespace {

KafkaConfig TestConfig(const std::string& group) {
  KafkaConfig c;
  const char* b = std::getenv("KUBEMEND_TEST_KAFKA_BROKERS");
  c.brokers = b ? b : "";
  c.topic_prefix = "t" + NewUuid().substr(0, 8) + ".";
  c.group_id = group;
  return c;
}

class KafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::getenv("KUBEMEND_TEST_KAFKA_BROKERS")) {
      FAIL() << "KUBEMEND_TEST_KAFKA_BROKERS is not set; run the tests through ./kubemend test";
    }
  }
};

// Consumes until `want` messages were handled or `deadline` passes.
std::vector<InMessage> ConsumeN(const KafkaConfig& cfg, const std::string& topic, size_t want,
                                std::chrono::seconds deadline, MetricsRegistry* metrics = nullptr,
                                ConsumerStatus* status = nullptr) {
  std::vector<InMessage> got;
  std::unique_ptr<BatchConsumer> c;
  auto made = BatchConsumer::Create(
      cfg, "test", {topic},
      [&](std::span<const InMessage> batch) {
        for (const auto& m : batch) {
          got.push_back(m);
        }
        if (got.size() >= want) {
          c->Stop();
        }
        return absl::OkStatus();
      },
      metrics);
  EXPECT_TRUE(made.ok()) << made.status();
  c = std::move(*made);
  std::thread stopper([&, until = std::chrono::steady_clock::now() + deadline] {
    while (std::chrono::steady_clock::now() < until && got.size() < want) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    c->Stop();
  });
  c->Run();
  stopper.join();
  if (status) {
    *status = c->Status();
  }
  return got;
}

TEST_F(KafkaTest, ProducedMessagesArriveInOrderPerKey) {
  KafkaConfig cfg = TestConfig("g1");
  std::string topic = TopicName(cfg, Topic::kSignals);
  auto p = Producer::Create(cfg, "test", nullptr);
  ASSERT_TRUE(p.ok()) << p.status();
  auto tracker = std::make_shared<DeliveryTracker>();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE((*p)->Produce(topic, "key-" + std::to_string(i % 3), std::to_string(i), tracker).ok());
  }
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());
  auto got = ConsumeN(cfg, topic, 100, std::chrono::seconds(20));
  ASSERT_EQ(got.size(), 100u);
  std::map<std::string, int> last;
  for (const auto& m : got) {
    int v = std::stoi(m.payload);
    auto it = last.find(m.key);
    if (it != last.end()) {
      EXPECT_LT(it->second, v) << "order broken for " << m.key;
    }
    last[m.key] = v;
  }
}

TEST_F(KafkaTest, RestartedConsumerResumesFromCommittedOffset) {
  KafkaConfig cfg = TestConfig("g2");
  std::string topic = TopicName(cfg, Topic::kProposals);
  auto p = Producer::Create(cfg, "test", nullptr);
  ASSERT_TRUE(p.ok());
  auto tracker = std::make_shared<DeliveryTracker>();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE((*p)->Produce(topic, "k", std::to_string(i), tracker).ok());
  }
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());
  auto first = ConsumeN(cfg, topic, 20, std::chrono::seconds(20));
  ASSERT_EQ(first.size(), 20u);
  for (int i = 20; i < 30; ++i) {
    ASSERT_TRUE((*p)->Produce(topic, "k", std::to_string(i), tracker).ok());
  }
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());
  auto second = ConsumeN(cfg, topic, 10, std::chrono::seconds(20));
  ASSERT_EQ(second.size(), 10u);
  EXPECT_EQ(second.front().payload, "20") << "a restart must neither replay nor skip";
}

TEST_F(KafkaTest, FailedBatchIsRedeliveredNotSkipped) {
  KafkaConfig cfg = TestConfig("g3");
  std::string topic = TopicName(cfg, Topic::kDecisions);
  auto p = Producer::Create(cfg, "test", nullptr);
  ASSERT_TRUE(p.ok());
  auto tracker = std::make_shared<DeliveryTracker>();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE((*p)->Produce(topic, "k", std::to_string(i), tracker).ok());
  }
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());
  int failures = 0;
  std::multiset<std::string> seen;
  std::unique_ptr<BatchConsumer> c;
  BatchConsumer::Options opt;
  opt.retry_backoff = std::chrono::milliseconds(50);
  auto made = BatchConsumer::Create(
      cfg, "test", {topic},
      [&](std::span<const InMessage> batch) -> absl::Status {
        if (failures < 2) {
          failures++;
          return absl::UnavailableError("database down");
        }
        for (const auto& m : batch) {
          seen.insert(m.payload);
        }
        if (seen.size() >= 5) {
          c->Stop();
        }
        return absl::OkStatus();
      },
      nullptr, opt);
  ASSERT_TRUE(made.ok());
  c = std::move(*made);
  std::thread guard([&] {
    std::this_thread::sleep_for(std::chrono::seconds(20));
    c->Stop();
  });
  c->Run();
  guard.detach();
  EXPECT_EQ(failures, 2);
  EXPECT_EQ(seen, (std::multiset<std::string>{"0", "1", "2", "3", "4"}));
}

TEST_F(KafkaTest, DeadLetterKeepsTheOriginalBytesAndReason) {
  KafkaConfig cfg = TestConfig("g4");
  auto p = Producer::Create(cfg, "test", nullptr);
  ASSERT_TRUE(p.ok());
  FakeClock clock;
  DeadLetterer dl(p->get(), TopicName(cfg, Topic::kDeadLetter), "analyzer", nullptr, clock);
  InMessage bad{"x.signals", 2, 41, "k", "\x01\x02garbage", 0};
  auto tracker = std::make_shared<DeliveryTracker>();
  ASSERT_TRUE(dl.Send(bad, "protobuf decoding failed", tracker).ok());
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());
  auto got = ConsumeN(cfg, TopicName(cfg, Topic::kDeadLetter), 1, std::chrono::seconds(20));
  ASSERT_EQ(got.size(), 1u);
  v1::DeadLetter d;
  ASSERT_TRUE(d.ParseFromString(got[0].payload));
  EXPECT_EQ(d.payload(), bad.payload);
  EXPECT_EQ(d.reason(), "protobuf decoding failed");
  EXPECT_EQ(d.source_topic(), "x.signals");
  EXPECT_EQ(d.offset(), 41);
  EXPECT_EQ(d.consumer(), "analyzer");
}

// The dev broker keeps ~5 MiB per partition. A consumer whose committed
// offset has fallen off must report data loss, not quietly jump ahead.
TEST_F(KafkaTest, CommittedOffsetGoneFromBrokerIsReportedAsDataLoss) {
  KafkaConfig cfg = TestConfig("g5");
  std::string topic = cfg.topic_prefix + "small";
  auto p = Producer::Create(cfg, "test", nullptr);
  ASSERT_TRUE(p.ok());
  auto tracker = std::make_shared<DeliveryTracker>();
  ASSERT_TRUE((*p)->Produce(topic, "k", "first", tracker).ok());
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());
  ASSERT_EQ(ConsumeN(cfg, topic, 1, std::chrono::seconds(20)).size(), 1u);
  // Push well past the retention of every partition the topic has.
  std::string blob(64 * 1024, 'x');
  for (int i = 0; i < 700; ++i) {
    ASSERT_TRUE((*p)->Produce(topic, "k", blob, tracker).ok());
    if (i % 50 == 0) {
      ASSERT_TRUE(tracker->Wait(std::chrono::seconds(20)).ok());
    }
  }
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(20)).ok());
  MetricsRegistry metrics;
  ConsumerStatus status;
  auto got = ConsumeN(cfg, topic, 10, std::chrono::seconds(20), &metrics, &status);
  EXPECT_GE(got.size(), 10u);
  EXPECT_EQ(status.data_loss_events, 1u);
  EXPECT_NE(status.last_data_loss.find("gone from the broker"), std::string::npos)
      << status.last_data_loss;
  EXPECT_EQ(metrics.GetCounter("kubemend_kafka_data_loss_total", "").Value(), 1u);
}

}  // namespace
}  // namespace kubemend
