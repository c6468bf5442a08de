#pragma once
// Kafka plumbing shared by every service (librdkafka C++ API).
//
// Producer: idempotent (acks=all), low-latency defaults, one background thread
// serving delivery reports. Callers attach a DeliveryTracker to the messages
// whose durability they must know (a webhook reply, an offset commit) and wait
// on it.
//
// BatchConsumer: a consumer-group member with auto-commit off. Its loop hands
// batches to a handler; offsets are committed only after the handler returns
// OK, which means the batch's effects are durable (published and acknowledged,
// or committed to PostgreSQL). A handler error means "retry the same batch"
// (the consumer seeks back). Messages that can never be processed are the
// handler's to dead-letter (DeadLetterer) before returning OK.
//
// A committed offset found gone from the broker (retention moved past it) is
// data loss: it is logged at error level, counted, and reported through
// Status(); the consumer then continues from the oldest offset still there.
//
// Errors: Create() fails with InvalidArgument for bad client config and
// Unavailable when the broker cannot be reached at start. Hint lines in the
// messages say how to fix the usual causes.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "kubemend/common/metrics.h"

namespace RdKafka {
class TopicPartition;
class Producer;
class KafkaConsumer;
class Conf;
}  // namespace RdKafka

namespace kubemend {

struct KafkaConfig {
  std::string brokers = "localhost:9092";
  std::string topic_prefix = "kubemend.";
  std::string group_id;                         // consumers only
  std::map<std::string, std::string> properties;  // any librdkafka property, applied last
  std::chrono::milliseconds delivery_timeout{10000};
  // Topics: created when missing (partitions; replication factor = the
  // broker's default) and checked at start (EnsureTopics).
  bool manage_topics = true;
  int64_t partitions = 8;
};

// librdkafka's own queue limits are sized for throughput on big machines
// (a consumer pre-fetches up to 64 MiB, a producer queues up to 1 GiB); the
// services use these instead, applied before KafkaConfig::properties (which
// may override them): kConsumerQueueProps by every consumer (the stages'
// and the log followers'), kProducerQueueProps by the producer.
extern const std::map<std::string, std::string> kConsumerQueueProps;
extern const std::map<std::string, std::string> kProducerQueueProps;
// fetch.wait.max.ms of every consumer (kafka.cc says why).
extern const char kFetchWaitMaxMs[];

// The topics, one per stage, plus the dead-letter topic.
enum class Topic { kSignals, kProposals, kDecisions, kOutcomes, kControl, kDeadLetter };
std::string TopicName(const KafkaConfig& cfg, Topic t);
std::vector<Topic> AllTopics();

// What each topic must keep. The control topic keeps its events forever
// (retention.ms=-1): a pause or mode change must not vanish with retention.
// The dead-letter topic keeps 30 days; the stage topics use the broker's
// retention (7 days by default; it must exceed the gate's replay look-back).
struct TopicSpec {
  std::string name;
  int partitions = 8;
  std::map<std::string, std::string> config;
};
std::vector<TopicSpec> KubemendTopicSpecs(const KafkaConfig& cfg);

// query_watermark_offsets that waits out the answers a partition gives
// while its leader is being elected (a topic created a moment ago): "not
// leader", "leader not available", "unknown partition", transport errors.
// Returns the last RdKafka::ErrorCode (0 = ok).
int QueryWatermarksSettled(RdKafka::KafkaConsumer* consumer, const std::string& topic,
                           int32_t partition, int64_t* low, int64_t* high,
                           std::chrono::milliseconds timeout);

// Creates the kubemend topics that are missing and checks the ones that
// exist: FailedPrecondition (naming the topic, the setting and the fix) when
// the control topic would lose events to retention; Unavailable when the
// broker cannot be asked within `timeout`. Runs once per process per
// (brokers, prefix) when called through Producer/BatchConsumer::Create.
absl::Status EnsureTopics(const KafkaConfig& cfg, std::chrono::milliseconds timeout);

// Counts outstanding messages and the first delivery error. Shared between
// the producing thread and the delivery-report thread.
class DeliveryTracker {
 public:
  void Add(size_t n = 1);
  void Done(const std::string& error);  // empty error = delivered
  // OK when every message added so far was delivered; Unavailable on the
  // first failed delivery or when `timeout` passes first.
  absl::Status Wait(std::chrono::milliseconds timeout);
  // Instead of Wait, for callers that must not block a thread: `done` runs
  // once, on the producer's delivery-report thread (or here, when already
  // complete), with OK when every message added before this call was
  // delivered, Unavailable on the first failed delivery. Each message gets
  // its report within message.timeout.ms (kafka.delivery_timeout), so `done`
  // always runs. Call after the last Add (Produce); keep `done` short.
  void OnComplete(std::function<void(absl::Status)> done);

 private:
  absl::Status ErrorStatus() const;  // mu_ held, error_ set
  std::mutex mu_;
  std::condition_variable cv_;
  size_t pending_ = 0;
  std::string error_;
  std::function<void(absl::Status)> done_;
};

class Producer {
 public:
  static absl::StatusOr<std::unique_ptr<Producer>> Create(const KafkaConfig& cfg,
                                                          const std::string& client_id,
                                                          MetricsRegistry* metrics);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues one message. Fails at once (Unavailable/ResourceExhausted) when
  // the local queue refuses it; delivery errors arrive through `tracker`.
  // Thread-safe.
  absl::Status Produce(const std::string& topic, const std::string& key, const std::string& value,
                       const std::shared_ptr<DeliveryTracker>& tracker,
                       const std::map<std::string, std::string>& headers = {});
  // Waits for every queued message; used at shutdown.
  absl::Status Flush(std::chrono::milliseconds timeout);
  uint64_t produced() const { return produced_.load(); }
  // True once the broker has answered (metadata), false while unreachable.
  bool Connected() const;

 private:
  Producer() = default;
  void PollLoop();
  std::unique_ptr<RdKafka::Producer> producer_;
  std::unique_ptr<RdKafka::Conf> conf_;
  std::unique_ptr<class DeliveryReporter> reporter_;
  std::atomic<bool> stop_{false};
  std::thread poller_;
  std::atomic<uint64_t> produced_{0};
  Counter* produced_metric_ = nullptr;
  Counter* failed_metric_ = nullptr;
};

struct InMessage {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string payload;
  int64_t timestamp_ms = 0;
};

struct PartitionLag {
  std::string topic;
  int32_t partition = 0;
  int64_t position = -1;
  int64_t high_watermark = -1;
  int64_t lag = 0;
};

struct ConsumerStatus {
  uint64_t consumed = 0;
  uint64_t batches = 0;
  uint64_t handler_errors = 0;
  uint64_t data_loss_events = 0;
  std::string last_data_loss;   // a sentence naming topic/partition/offsets
  std::vector<PartitionLag> lag;
};

class BatchConsumer {
 public:
  using Handler = std::function<absl::Status(std::span<const InMessage>)>;

  struct Options {
    size_t max_batch = 500;
    std::chrono::milliseconds poll_timeout{100};
    std::chrono::milliseconds retry_backoff{500};
    // Handled offsets are committed at most this often (and at revocation,
    // at Stop, and when the consumer goes idle): every commit is a write to
    // the broker's offsets log, and one per batch cost the broker more than
    // the events themselves. A crash redelivers at most this much, which
    // the stages' derived ids and the trail's dedup absorb
    // (docs/durability.md). Zero commits after every batch.
    std::chrono::milliseconds commit_interval{200};
  };

  static absl::StatusOr<std::unique_ptr<BatchConsumer>> Create(
      const KafkaConfig& cfg, const std::string& client_id, const std::vector<std::string>& topics,
      Handler handler, MetricsRegistry* metrics, Options options);
  static absl::StatusOr<std::unique_ptr<BatchConsumer>> Create(
      const KafkaConfig& cfg, const std::string& client_id, const std::vector<std::string>& topics,
      Handler handler, MetricsRegistry* metrics) {
    return Create(cfg, client_id, topics, std::move(handler), metrics, Options());
  }
  // Pipelined: `prepare` (pure work: decoding, rendering) runs on the
  // consumer thread for batch N+1 while `handler` writes batch N on a second
  // thread. Batches are still handled one at a time and in order, and a
  // batch's offsets are committed only after its handler succeeded; when it
  // fails, both batches are consumed again (from batch N's first offsets).
  using Prepared = std::shared_ptr<void>;
  using Prepare = std::function<Prepared(std::span<const InMessage>)>;
  using PreparedHandler = std::function<absl::Status(std::span<const InMessage>, const Prepared&)>;
  static absl::StatusOr<std::unique_ptr<BatchConsumer>> CreatePipelined(
      const KafkaConfig& cfg, const std::string& client_id, const std::vector<std::string>& topics,
      Prepare prepare, PreparedHandler handler, MetricsRegistry* metrics, Options options);
  ~BatchConsumer();

  // Runs the consume loop on the calling thread until Stop(); commits the
  // last processed batch synchronously and leaves the group on the way out.
  void Run();
  void Stop() { stop_ = true; }
  ConsumerStatus Status() const;
  // True while the broker answers a metadata request.
  bool Connected() const;

 private:
  BatchConsumer() = default;
  friend class RebalanceTracker;
  void HandleOffsetReset(const std::string& topic, int32_t partition, int64_t offset,
                         const std::string& reason);
  // Assigns `partitions` at their committed offsets (tp->offset()), checking
  // each against the broker's log; `reset_*` names a partition whose offset
  // the broker just refused.
  void AssignChecked(std::vector<RdKafka::TopicPartition*>& partitions, int32_t reset_partition,
                     const std::string& reset_topic);
  void ReportDataLoss(const std::string& topic, int32_t partition, int64_t offset, int64_t resume);
  // Records the batch's offsets as handled; sends them to the broker when
  // commit_interval has passed since the last commit, or now when `sync`.
  void Commit(std::span<const InMessage> batch, bool sync);
  // Sends the handled, not yet committed offsets (consumer thread only).
  void CommitPending(bool sync);
  void SeekBack(std::span<const InMessage> batch);
  // Fills `batch` (cleared first) with up to max_batch messages; false when
  // nothing came within the poll timeout.
  bool Poll(std::vector<InMessage>& batch);
  // After a handled batch: metrics, then commit (ok) or seek back to
  // `replay` and back off (failed).
  void Finish(std::span<const InMessage> batch, const absl::Status& st,
              std::chrono::steady_clock::time_point started, std::span<const InMessage> replay);
  void RunPipelined();

  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::unique_ptr<RdKafka::Conf> conf_;
  std::unique_ptr<class RebalanceTracker> rebalance_;
  Handler handler_;
  Prepare prepare_;
  PreparedHandler prepared_handler_;
  Options options_;
  std::atomic<bool> stop_{false};
  // Next offset to consume per partition, as handled (consumer thread only;
  // forgotten at revocation, after a last synchronous commit). dirty_: some
  // offset moved since the last commit.
  std::map<std::pair<std::string, int32_t>, int64_t> handled_;
  bool dirty_ = false;
  std::chrono::steady_clock::time_point last_commit_{};
  mutable std::mutex mu_;
  ConsumerStatus status_;
  Counter* consumed_metric_ = nullptr;
  Counter* data_loss_metric_ = nullptr;
  Counter* handler_error_metric_ = nullptr;
  Histogram* batch_latency_ = nullptr;
};

}  // namespace kubemend
