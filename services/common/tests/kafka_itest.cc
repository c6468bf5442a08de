// Integration tests against a real Kafka-protocol broker. The address comes
// from KUBEMEND_TEST_KAFKA_BROKERS, set by `./kubemend test`. Each test uses
// its own topics.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/kafka.h"
#include "kubemend/common/log_follower.h"
#include "kubemend/common/runtime.h"
#include "kubemend/common/stage.h"

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
  // A deadline that ends with the test (a detached sleeper used to call
  // Stop() on the destroyed consumer 20 s later, during another test).
  std::atomic<bool> done{false};
  std::thread guard([&] {
    for (int i = 0; i < 400 && !done; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    c->Stop();
  });
  c->Run();
  done = true;
  guard.join();
  EXPECT_EQ(failures, 2);
  EXPECT_EQ(seen, (std::multiset<std::string>{"0", "1", "2", "3", "4"}));
}

// The audit's arrangement: prepare (decode) of batch N+1 overlaps the
// handler (write) of batch N. A write that fails is retried with both
// batches consumed again; every message is written, in order per key, and
// a restarted consumer resumes after the last written message (offsets are
// committed after the write, never before).
TEST_F(KafkaTest, PipelinedConsumerWritesInOrderAndCommitsAfterTheWrite) {
  KafkaConfig cfg = TestConfig("g-pipe");
  std::string topic = TopicName(cfg, Topic::kOutcomes);
  auto p = Producer::Create(cfg, "test", nullptr);
  ASSERT_TRUE(p.ok());
  auto tracker = std::make_shared<DeliveryTracker>();
  constexpr int kN = 600;
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE((*p)->Produce(topic, "k" + std::to_string(i % 3), std::to_string(i), tracker).ok());
  }
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());
  std::mutex mu;
  std::vector<int> written;  // in write order
  std::atomic<int> prepared{0};
  int failures = 0;
  std::unique_ptr<BatchConsumer> c;
  BatchConsumer::Options opt;
  opt.max_batch = 50;
  opt.retry_backoff = std::chrono::milliseconds(50);
  auto made = BatchConsumer::CreatePipelined(
      cfg, "test", {topic},
      [&](std::span<const InMessage> batch) -> BatchConsumer::Prepared {
        auto v = std::make_shared<std::vector<int>>();
        for (const auto& m : batch) {
          v->push_back(std::stoi(m.payload));
        }
        prepared += static_cast<int>(batch.size());
        return v;
      },
      [&](std::span<const InMessage>, const BatchConsumer::Prepared& pr) -> absl::Status {
        std::lock_guard lock(mu);
        if (written.size() >= 200 && failures < 2) {
          failures++;
          return absl::UnavailableError("database down");
        }
        for (int v : *static_cast<std::vector<int>*>(pr.get())) {
          written.push_back(v);
        }
        std::set<int> distinct(written.begin(), written.end());
        if (distinct.size() >= static_cast<size_t>(kN)) {
          c->Stop();
        }
        return absl::OkStatus();
      },
      nullptr, opt);
  ASSERT_TRUE(made.ok()) << made.status();
  c = std::move(*made);
  std::atomic<bool> done{false};
  std::thread guard([&] {
    for (int i = 0; i < 600 && !done; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    c->Stop();
  });
  c->Run();
  done = true;
  guard.join();
  c.reset();
  EXPECT_EQ(failures, 2);
  EXPECT_GE(prepared.load(), kN);
  // Every message written; per key, each first write comes in offset order.
  std::set<int> distinct(written.begin(), written.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kN));
  std::map<int, int> last_by_key;
  std::set<int> firsts;
  for (int v : written) {
    if (!firsts.insert(v).second) {
      continue;  // a redelivery after the failed write
    }
    auto it = last_by_key.find(v % 3);
    if (it != last_by_key.end()) {
      EXPECT_LT(it->second, v) << "key " << v % 3 << " out of order";
    }
    last_by_key[v % 3] = v;
  }
  // Committed after the writes: a new member of the group gets only what
  // comes next.
  ASSERT_TRUE((*p)->Produce(topic, "k0", "after", tracker).ok());
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());
  auto rest = ConsumeN(cfg, topic, 1, std::chrono::seconds(30));
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].payload, "after");
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
// Deletes every record of `topic` (the log start moves to the end), as
// retention does on a real broker: DeleteRecords through the admin API.
void DeleteAllRecords(const std::string& brokers, const std::string& topic, int partitions) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  ASSERT_NE(rk, nullptr) << err;
  rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0;
    int64_t high = 0;
    ASSERT_EQ(rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10000),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_add(offsets, topic.c_str(), p)->offset = high;
  }
  rd_kafka_DeleteRecords_t* del = rd_kafka_DeleteRecords_new(offsets);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_DeleteRecords(rk, &del, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 20000);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(rd_kafka_event_error(ev), RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_event_error_string(ev);
  rd_kafka_event_destroy(ev);
  rd_kafka_DeleteRecords_destroy(del);
  rd_kafka_topic_partition_list_destroy(offsets);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
}

TEST_F(KafkaTest, CommittedOffsetGoneFromBrokerIsReportedAsDataLoss) {
  KafkaConfig cfg = TestConfig("g5");
  std::string topic = cfg.topic_prefix + "small";
  auto p = Producer::Create(cfg, "test", nullptr);
  ASSERT_TRUE(p.ok());
  auto tracker = std::make_shared<DeliveryTracker>();
  ASSERT_TRUE((*p)->Produce(topic, "k", "first", tracker).ok());
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());
  ASSERT_EQ(ConsumeN(cfg, topic, 1, std::chrono::seconds(30)).size(), 1u);
  // More events arrive, then leave the log before this group reads them
  // (retention on a real broker; here DeleteRecords does it at once).
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE((*p)->Produce(topic, "k", "lost-" + std::to_string(i), tracker).ok());
  }
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(20)).ok());
  DeleteAllRecords(cfg.brokers, topic, 8);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*p)->Produce(topic, "k", "after-" + std::to_string(i), tracker).ok());
  }
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(20)).ok());
  MetricsRegistry metrics;
  ConsumerStatus status;
  auto got = ConsumeN(cfg, topic, 10, std::chrono::seconds(30), &metrics, &status);
  EXPECT_EQ(got.size(), 10u);
  EXPECT_EQ(status.data_loss_events, 1u);
  EXPECT_NE(status.last_data_loss.find("gone from the broker"), std::string::npos)
      << status.last_data_loss;
  EXPECT_NE(status.last_data_loss.find("20 events were lost"), std::string::npos)
      << status.last_data_loss;
  EXPECT_EQ(metrics.GetCounter("kubemend_kafka_data_loss_total", "").Value(), 1u);
}

// A group member running BatchConsumer::Run on its own thread.
struct Member {
  Member(const KafkaConfig& cfg, const std::string& topic, std::atomic<int>* total,
         BatchConsumer::Options options = {}) {
    auto made = BatchConsumer::Create(
        cfg, "member", {topic},
        [total](std::span<const InMessage> batch) {
          *total += static_cast<int>(batch.size());
          return absl::OkStatus();
        },
        nullptr, options);
    EXPECT_TRUE(made.ok()) << made.status();
    consumer = std::move(*made);
    thread = std::thread([this] { consumer->Run(); });
  }
  void Stop() {
    if (!consumer) {
      return;
    }
    consumer->Stop();
    if (thread.joinable()) {
      thread.join();
    }
    consumer.reset();
  }
  ~Member() { Stop(); }
  std::unique_ptr<BatchConsumer> consumer;
  std::thread thread;
};

bool WaitFor(const std::function<bool()>& pred, std::chrono::seconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// Issue 12: a member kept the offsets of partitions it no longer owned and
// committed them again on its next commit, rewinding the partitions another
// member had moved past: a third consumer then got those events again.
TEST_F(KafkaTest, MemberNeverCommitsOffsetsOfPartitionsItLost) {
  KafkaConfig cfg = TestConfig("g-stale-" + NewUuid().substr(0, 6));
  std::string topic = TopicName(cfg, Topic::kSignals);
  auto p = Producer::Create(cfg, "test", nullptr);
  ASSERT_TRUE(p.ok()) << p.status();
  auto produce = [&](int n, const std::string& tag) {
    auto tracker = std::make_shared<DeliveryTracker>();
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE((*p)->Produce(topic, tag + std::to_string(i), "v", tracker).ok());
    }
    ASSERT_TRUE(tracker->Wait(std::chrono::seconds(20)).ok());
  };
  produce(80, "a");
  std::atomic<int> total{0};
  auto a = std::make_unique<Member>(cfg, topic, &total);
  ASSERT_TRUE(WaitFor([&] { return total >= 80; }, std::chrono::seconds(40))) << total;
  // B joins: the partitions are split; both consume what comes next.
  auto b = std::make_unique<Member>(cfg, topic, &total);
  std::this_thread::sleep_for(std::chrono::seconds(4));
  produce(160, "b");
  ASSERT_TRUE(WaitFor([&] { return total >= 240; }, std::chrono::seconds(40))) << total;
  std::this_thread::sleep_for(std::chrono::seconds(1));  // async commits land
  // B leaves; A takes every partition back and commits on the way out.
  b->Stop();
  std::this_thread::sleep_for(std::chrono::seconds(4));
  produce(1, "c");
  ASSERT_TRUE(WaitFor([&] { return total >= 241; }, std::chrono::seconds(40))) << total;
  a->Stop();
  ASSERT_EQ(total.load(), 241);
  // Everything was committed where it was processed: a new member gets nothing.
  std::atomic<int> again{0};
  auto c = std::make_unique<Member>(cfg, topic, &again);
  std::this_thread::sleep_for(std::chrono::seconds(8));
  c->Stop();
  EXPECT_EQ(again.load(), 0) << "events redelivered: a stale offset rewound a partition";
}

// The group's committed offsets of `topic` (partitions 0..7), summed; -1
// when the broker does not answer.
int64_t CommittedSum(const KafkaConfig& cfg, const std::string& topic) {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", cfg.brokers.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", cfg.group_id.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    return -1;
  }
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(8);
  for (int p = 0; p < 8; ++p) {
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), p);
  }
  int64_t sum = -1;
  if (rd_kafka_committed(rk, parts, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    sum = 0;
    for (int i = 0; i < parts->cnt; ++i) {
      sum += std::max<int64_t>(0, parts->elems[i].offset);
    }
  }
  rd_kafka_topic_partition_list_destroy(parts);
  rd_kafka_destroy(rk);
  return sum;
}

// Issue 17: a commit after every batch cost the broker more than the events;
// commits are batched (Options::commit_interval). What was handled must
// still be committed as soon as the consumer goes idle, and at stop, so a
// quiet group's offsets never trail what it did.
TEST_F(KafkaTest, BatchedCommitsLandWhenIdleAndAtStop) {
  KafkaConfig cfg = TestConfig("g-batched-" + NewUuid().substr(0, 6));
  std::string topic = TopicName(cfg, Topic::kSignals);
  auto p = Producer::Create(cfg, "test", nullptr);
  ASSERT_TRUE(p.ok()) << p.status();
  auto produce = [&](int from, int n) {
    auto tracker = std::make_shared<DeliveryTracker>();
    for (int i = from; i < from + n; ++i) {
      // One at a time: many small batches, as a stage sees them when idle-ish.
      ASSERT_TRUE((*p)->Produce(topic, "k" + std::to_string(i), "v", tracker).ok());
      ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());
    }
  };
  produce(0, 50);
  BatchConsumer::Options slow;
  slow.commit_interval = std::chrono::hours(1);  // only idle and stop commit here
  std::atomic<int> total{0};
  auto a = std::make_unique<Member>(cfg, topic, &total, slow);
  ASSERT_TRUE(WaitFor([&] { return total >= 50; }, std::chrono::seconds(40))) << total;
  produce(50, 30);  // arrives in several batches after the first commit
  ASSERT_TRUE(WaitFor([&] { return total >= 80; }, std::chrono::seconds(40))) << total;
  EXPECT_TRUE(WaitFor([&] { return CommittedSum(cfg, topic) == 80; }, std::chrono::seconds(10)))
      << "handled offsets not committed once the consumer went idle: " << CommittedSum(cfg, topic);
  produce(80, 1);
  ASSERT_TRUE(WaitFor([&] { return total >= 81; }, std::chrono::seconds(40))) << total;
  a->Stop();
  EXPECT_EQ(CommittedSum(cfg, topic), 81) << "the last batch was not committed at stop";
  EXPECT_EQ(total.load(), 81);
}

// Issue 12: an event the transform can never handle (here it throws, or
// keeps answering Internal) used to be retried forever, stalling its
// partition. Now it is dead-lettered after max_attempts with its last error,
// and the events after it go through.
TEST_F(KafkaTest, StageDeadLettersAPoisonEventAndMovesOn) {
  KafkaConfig kc = TestConfig("g-poison-" + NewUuid().substr(0, 6));
  CommonConfig cc;
  cc.instance = "poison-1";
  cc.kafka = kc;
  ServiceRuntime rt("analyzer", cc);
  std::atomic<int> calls_on_poison{0};
  std::mutex passed_mu;
  std::set<std::string> passed;  // names handled (a retried batch handles them again)
  Stage stage(&rt, {Topic::kSignals}, [&](const v1::Event& in, const InMessage&)
                  -> absl::StatusOr<std::vector<Emit>> {
    if (in.signal().name() == "poison-throw") {
      ++calls_on_poison;
      throw std::runtime_error("boom");
    }
    if (in.signal().name() == "poison-internal") {
      ++calls_on_poison;
      return absl::InternalError("cannot handle this one");
    }
    std::lock_guard lock(passed_mu);
    passed.insert(in.signal().name());
    return std::vector<Emit>{};
  });
  stage.set_max_attempts(3);
  ASSERT_TRUE(stage.Init().ok());
  auto p = Producer::Create(kc, "test", nullptr);
  ASSERT_TRUE(p.ok());
  FakeClock clock;
  auto tracker = std::make_shared<DeliveryTracker>();
  for (const char* name : {"a", "poison-throw", "b", "poison-internal", "c"}) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c", "0"}, clock);
    e.mutable_signal()->set_name(name);
    // One key: one partition, so the poison really sits in front of b and c.
    ASSERT_TRUE((*p)->Produce(TopicName(kc, Topic::kSignals), "same", e.SerializeAsString(), tracker).ok());
  }
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());
  std::thread t([&] { stage.Run(); });
  bool done = WaitFor(
      [&] {
        std::lock_guard lock(passed_mu);
        return passed.size() == 3;  // a, b, c
      },
      std::chrono::seconds(60));
  stage.Stop();
  t.join();
  ASSERT_TRUE(done) << "events behind the poison never went through";
  EXPECT_EQ(calls_on_poison.load(), 6) << "each poison event is tried exactly max_attempts times";
  KafkaConfig reader = kc;
  reader.group_id += "-reader";
  // A poison event dead-lettered in one try of a batch that then failed for
  // the next poison is sent again with the retried batch (never transformed
  // again): the trail keeps one dead letter per source offset.
  auto dead = ConsumeN(reader, TopicName(kc, Topic::kDeadLetter), 3, std::chrono::seconds(15));
  std::set<std::string> reasons;
  std::set<int64_t> offsets;
  for (const auto& m : dead) {
    v1::DeadLetter dl;
    ASSERT_TRUE(dl.ParseFromString(m.payload));
    reasons.insert(dl.reason());
    offsets.insert(dl.offset());
  }
  EXPECT_EQ(offsets.size(), 2u);
  EXPECT_EQ(reasons, (std::set<std::string>{"gave up after 3 attempts: transform threw: boom",
                                            "gave up after 3 attempts: cannot handle this one"}));
}

// The state follower decodes onto an arena it reuses (every 256 messages):
// what `apply` copies must stay intact across the resets; and a signal whose
// source header names a source the reader does not want is skipped
// undecoded, while one without the header is decoded (headers are hints).
TEST_F(KafkaTest, LogFollowerSkipsByHeaderAndItsEventsSurviveArenaResets) {
  KafkaConfig kc = TestConfig("g-follow-" + NewUuid().substr(0, 6));
  auto p = Producer::Create(kc, "test", nullptr);
  ASSERT_TRUE(p.ok());
  FakeClock clock;
  const std::string signals = TopicName(kc, Topic::kSignals);
  const std::string cost = v1::SignalSource_Name(v1::SIGNAL_SOURCE_COST);
  const std::string am = v1::SignalSource_Name(v1::SIGNAL_SOURCE_ALERTMANAGER);
  // kind: "cost" (header cost), "am" (header alertmanager: skipped),
  // "bare" (alertmanager, no header: decoded).
  auto produce = [&](const std::string& name, const std::string& kind,
                     const std::shared_ptr<DeliveryTracker>& t) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c", "0"}, clock);
    e.mutable_signal()->set_name(name);
    e.mutable_signal()->set_source(kind == "cost" ? v1::SIGNAL_SOURCE_COST : v1::SIGNAL_SOURCE_ALERTMANAGER);
    (*e.mutable_signal()->mutable_labels())["namespace"] = "ns-" + name;
    std::map<std::string, std::string> headers = {{kEventTypeHeader, "signal"}};
    if (kind != "bare") {
      headers[kSignalSourceHeader] = kind == "cost" ? cost : am;
    }
    return (*p)->Produce(signals, name, e.SerializeAsString(), t, headers);
  };
  auto kind_of = [](int i) { return i % 3 == 0 ? "cost" : i % 3 == 1 ? "am" : "bare"; };
  auto tracker = std::make_shared<DeliveryTracker>();
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(produce("old-" + std::to_string(i), kind_of(i), tracker).ok());
  }
  ASSERT_TRUE((*p)->Produce(signals, "junk", "not an event", tracker).ok());
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(10)).ok());

  auto f = LogFollower::Create(kc, {signals}, "test-follower", std::chrono::seconds(30));
  ASSERT_TRUE(f.ok()) << f.status();
  (*f)->OnlyWithHeader(kSignalSourceHeader, {cost});
  auto replayed = (*f)->Replay({}, std::chrono::seconds(30));
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  std::set<std::string> names;
  for (const auto& e : *replayed) {
    names.insert(e.signal().name());
    EXPECT_EQ(e.signal().labels().at("namespace"), "ns-" + e.signal().name());
  }
  EXPECT_EQ(names.size(), 20u) << "10 cost + 10 without the header; the 10 marked alertmanager skipped";
  EXPECT_FALSE(names.count("old-1")) << "marked alertmanager: skipped";
  EXPECT_TRUE(names.count("old-0") && names.count("old-2"));
  EXPECT_EQ((*f)->skipped(), 1u) << "only the undecodable message counts as skipped";

  // Follow: 900 more, so the arena is reset several times under the copies.
  std::mutex mu;
  std::vector<v1::Event> kept;
  std::thread follower([&] {
    (*f)->Follow([&](const v1::Event& e) {
      std::lock_guard lock(mu);
      kept.push_back(e);
    });
  });
  auto t2 = std::make_shared<DeliveryTracker>();
  for (int i = 0; i < 900; ++i) {
    ASSERT_TRUE(produce("new-" + std::to_string(i), kind_of(i), t2).ok());
  }
  ASSERT_TRUE(t2->Wait(std::chrono::seconds(10)).ok());
  bool all = WaitFor(
      [&] {
        std::lock_guard lock(mu);
        return kept.size() >= 600;
      },
      std::chrono::seconds(30));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // nothing more may come
  (*f)->Stop();
  follower.join();
  ASSERT_TRUE(all);
  ASSERT_EQ(kept.size(), 600u);
  for (const auto& e : kept) {
    ASSERT_FALSE(e.event_id().empty());
    EXPECT_EQ(e.signal().labels().at("namespace"), "ns-" + e.signal().name());
    int i = std::stoi(e.signal().name().substr(4));
    EXPECT_NE(i % 3, 1) << e.signal().name() << " was marked alertmanager";
  }
}

// Issue 12: the services check at start that their topics exist with usable
// settings. Missing ones are created (control kept forever); a control topic
// that would drop a pause with retention is refused with the fix named.
TEST_F(KafkaTest, EnsureTopicsCreatesMissingAndRefusesAControlTopicWithRetention) {
  KafkaConfig good = TestConfig("g-topics");
  ASSERT_TRUE(EnsureTopics(good, std::chrono::seconds(20)).ok());
  ASSERT_TRUE(EnsureTopics(good, std::chrono::seconds(20)).ok()) << "idempotent";

  KafkaConfig bad = TestConfig("g-topics");
  bad.manage_topics = false;  // let the broker auto-create control with its defaults
  auto p = Producer::Create(bad, "test", nullptr);
  ASSERT_TRUE(p.ok());
  auto tracker = std::make_shared<DeliveryTracker>();
  ASSERT_TRUE((*p)->Produce(TopicName(bad, Topic::kControl), "k", "v", tracker).ok());
  ASSERT_TRUE(tracker->Wait(std::chrono::seconds(20)).ok());
  absl::Status st = EnsureTopics(bad, std::chrono::seconds(20));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(st.message().find(TopicName(bad, Topic::kControl)), std::string::npos) << st;
  EXPECT_NE(st.message().find("retention.ms=-1"), std::string::npos) << st;
  // And a service's clients refuse to start on it.
  bad.manage_topics = true;
  auto refused = Producer::Create(bad, "test", nullptr);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace kubemend
