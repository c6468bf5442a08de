#include "kubemend/common/kafka.h"

#include <librdkafka/rdkafkacpp.h>

#include <future>
#include <set>

#include "kubemend/common/log.h"

namespace kubemend {
namespace {

constexpr char kHintBrokers[] =
    " Hint: check kafka.brokers (KUBEMEND_KAFKA_BROKERS) points at a reachable broker.";

absl::Status SetAll(RdKafka::Conf* conf, const std::map<std::string, std::string>& props) {
  std::string err;
  for (const auto& [k, v] : props) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      return absl::InvalidArgumentError("kafka property " + k + "=" + v + ": " + err +
                                        " Hint: see librdkafka's CONFIGURATION.md for valid keys.");
    }
  }
  return absl::OkStatus();
}

std::map<std::string, std::string> Merge(std::map<std::string, std::string> base,
                                         const std::map<std::string, std::string>& over) {
  for (const auto& [k, v] : over) {
    base[k] = v;
  }
  return base;
}

}  // namespace

// 8 MiB of pre-fetched messages is ~13,000 events: seconds of backlog at
// the rates measured in bench/README.md, and a log replay still reads at
// full speed. 16 MiB of unacknowledged produce: a stage waits for each
// batch's acknowledgements, so the queue never holds more than a few
// batches; when the broker is down, produce fails ResourceExhausted
// (transient: the batch is retried) instead of growing the heap.
const std::map<std::string, std::string> kConsumerQueueProps = {
    {"queued.max.messages.kbytes", "8192"},
    {"fetch.max.bytes", "4194304"},
};
const char kFetchWaitMaxMs[] = "100";
const std::map<std::string, std::string> kProducerQueueProps = {
    {"queue.buffering.max.kbytes", "16384"},
};

std::string TopicName(const KafkaConfig& cfg, Topic t) {
  switch (t) {
    case Topic::kSignals:
      return cfg.topic_prefix + "signals";
    case Topic::kProposals:
      return cfg.topic_prefix + "proposals";
    case Topic::kDecisions:
      return cfg.topic_prefix + "decisions";
    case Topic::kOutcomes:
      return cfg.topic_prefix + "outcomes";
    case Topic::kControl:
      return cfg.topic_prefix + "control";
    case Topic::kDeadLetter:
      return cfg.topic_prefix + "deadletter";
  }
  return cfg.topic_prefix + "unknown";
}

std::vector<Topic> AllTopics() {
  return {Topic::kSignals, Topic::kProposals, Topic::kDecisions,
          Topic::kOutcomes, Topic::kControl, Topic::kDeadLetter};
}

// ------------------------------------------------------------ DeliveryTracker

void DeliveryTracker::Add(size_t n) {
  std::lock_guard lock(mu_);
  pending_ += n;
}

void DeliveryTracker::Done(const std::string& error) {
  std::function<void(absl::Status)> done;
  absl::Status st;
  {
    std::lock_guard lock(mu_);
    if (pending_ > 0) {
      --pending_;
    }
    if (!error.empty() && error_.empty()) {
      error_ = error;
    }
    cv_.notify_all();
    if (done_ && (pending_ == 0 || !error_.empty())) {
      done = std::move(done_);
      done_ = nullptr;
      st = error_.empty() ? absl::OkStatus() : ErrorStatus();
    }
  }
  if (done) {
    done(st);
  }
}

void DeliveryTracker::OnComplete(std::function<void(absl::Status)> done) {
  absl::Status st;
  {
    std::lock_guard lock(mu_);
    if (pending_ > 0 && error_.empty()) {
      done_ = std::move(done);
      return;
    }
    st = error_.empty() ? absl::OkStatus() : ErrorStatus();
  }
  done(st);
}

absl::Status DeliveryTracker::ErrorStatus() const {
  return absl::UnavailableError("kafka delivery failed: " + error_ + "." + kHintBrokers);
}

absl::Status DeliveryTracker::Wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  bool done = cv_.wait_for(lock, timeout, [&] { return pending_ == 0 || !error_.empty(); });
  if (!error_.empty()) {
    return ErrorStatus();
  }
  if (!done) {
    return absl::DeadlineExceededError("kafka delivery not acknowledged within " +
                                       std::to_string(timeout.count()) + "ms." + kHintBrokers);
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------ Producer

class DeliveryReporter : public RdKafka::DeliveryReportCb, public RdKafka::EventCb {
 public:
  void dr_cb(RdKafka::Message& msg) override {
    auto* holder = static_cast<std::shared_ptr<DeliveryTracker>*>(msg.msg_opaque());
    std::string err = msg.err() == RdKafka::ERR_NO_ERROR ? "" : msg.errstr();
    if (!err.empty() && failed) {
      failed->Inc();
    }
    if (holder) {
      (*holder)->Done(err);
      delete holder;
    }
  }
  void event_cb(RdKafka::Event& ev) override {
    if (ev.type() == RdKafka::Event::EVENT_ERROR) {
      Logger("kafka")->warn("msg=\"kafka client error\" error={} fatal={}", Q(ev.str()), ev.fatal());
    }
  }
  Counter* failed = nullptr;
};

absl::Status EnsureTopicsOnce(const KafkaConfig& cfg);  // kafka_topics.cc

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(const KafkaConfig& cfg,
                                                           const std::string& client_id,
                                                           MetricsRegistry* metrics) {
  if (auto st = EnsureTopicsOnce(cfg); !st.ok()) {
    return st;
  }
  std::unique_ptr<Producer> p(new Producer());
  p->conf_.reset(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  p->reporter_ = std::make_unique<DeliveryReporter>();
  auto props = Merge(
      Merge(kProducerQueueProps, {
          {"bootstrap.servers", cfg.brokers},
          {"client.id", client_id},
          {"enable.idempotence", "true"},
          {"acks", "all"},
          {"linger.ms", "1"},
          {"socket.nagle.disable", "true"},
          {"message.timeout.ms", std::to_string(cfg.delivery_timeout.count())},
      }),
      cfg.properties);
  // Consumer-only keys in the shared property map would make the producer
  // warn on every start; keep them out.
  for (const char* k : {"fetch.wait.max.ms", "fetch.error.backoff.ms", "session.timeout.ms",
                        "heartbeat.interval.ms", "auto.offset.reset", "group.id",
                        "queued.max.messages.kbytes", "fetch.max.bytes"}) {
    props.erase(k);
  }
  if (auto st = SetAll(p->conf_.get(), props); !st.ok()) {
    return st;
  }
  std::string err;
  p->conf_->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(p->reporter_.get()), err);
  p->conf_->set("event_cb", static_cast<RdKafka::EventCb*>(p->reporter_.get()), err);
  p->producer_.reset(RdKafka::Producer::create(p->conf_.get(), err));
  if (!p->producer_) {
    return absl::InvalidArgumentError("kafka producer: " + err);
  }
  if (metrics) {
    p->produced_metric_ = &metrics->GetCounter("kubemend_kafka_produced_total",
                                               "Messages handed to the Kafka producer");
    p->failed_metric_ = &metrics->GetCounter("kubemend_kafka_delivery_failed_total",
                                             "Messages the broker did not acknowledge");
    p->reporter_->failed = p->failed_metric_;
  }
  p->poller_ = std::thread([raw = p.get()] { raw->PollLoop(); });
  return p;
}

Producer::~Producer() {
  if (producer_) {
    producer_->flush(5000);
  }
  stop_ = true;
  if (poller_.joinable()) {
    poller_.join();
  }
}

void Producer::PollLoop() {
  while (!stop_) {
    producer_->poll(50);
  }
}

absl::Status Producer::Produce(const std::string& topic, const std::string& key,
                               const std::string& value,
                               const std::shared_ptr<DeliveryTracker>& tracker,
                               const std::map<std::string, std::string>& headers) {
  RdKafka::Headers* hdrs = nullptr;
  if (!headers.empty()) {
    hdrs = RdKafka::Headers::create();
    for (const auto& [k, v] : headers) {
      hdrs->add(k, v);
    }
  }
  auto* holder = tracker ? new std::shared_ptr<DeliveryTracker>(tracker) : nullptr;
  if (tracker) {
    tracker->Add();
  }
  RdKafka::ErrorCode rc = producer_->produce(
      topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
      const_cast<char*>(value.data()), value.size(), key.data(), key.size(), 0, hdrs, holder);
  if (rc != RdKafka::ERR_NO_ERROR) {
    delete hdrs;
    if (holder) {
      (*holder)->Done(RdKafka::err2str(rc));
      delete holder;
    }
    if (failed_metric_) {
      failed_metric_->Inc();
    }
    if (rc == RdKafka::ERR__QUEUE_FULL) {
      return absl::ResourceExhaustedError("kafka local queue full; the broker is slow or down." +
                                          std::string(kHintBrokers));
    }
    return absl::UnavailableError("kafka produce to " + topic + ": " + RdKafka::err2str(rc));
  }
  produced_.fetch_add(1, std::memory_order_relaxed);
  if (produced_metric_) {
    produced_metric_->Inc();
  }
  return absl::OkStatus();
}

absl::Status Producer::Flush(std::chrono::milliseconds timeout) {
  RdKafka::ErrorCode rc = producer_->flush(static_cast<int>(timeout.count()));
  if (rc != RdKafka::ERR_NO_ERROR) {
    return absl::DeadlineExceededError("kafka flush: " + RdKafka::err2str(rc) + "." + kHintBrokers);
  }
  return absl::OkStatus();
}

bool Producer::Connected() const {
  RdKafka::Metadata* md = nullptr;
  RdKafka::ErrorCode rc = producer_->metadata(false, nullptr, &md, 1000);
  delete md;
  return rc == RdKafka::ERR_NO_ERROR;
}

int QueryWatermarksSettled(RdKafka::KafkaConsumer* consumer, const std::string& topic,
                           int32_t partition, int64_t* low, int64_t* high,
                           std::chrono::milliseconds timeout) {
  RdKafka::ErrorCode rc = RdKafka::ERR_NO_ERROR;
  for (auto until = std::chrono::steady_clock::now() + timeout;;) {
    rc = consumer->query_watermark_offsets(topic, partition, low, high, 5000);
    bool settling = rc == RdKafka::ERR_NOT_LEADER_FOR_PARTITION ||
                    rc == RdKafka::ERR_LEADER_NOT_AVAILABLE ||
                    rc == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART || rc == RdKafka::ERR__TRANSPORT ||
                    rc == RdKafka::ERR__TIMED_OUT;
    if (!settling || std::chrono::steady_clock::now() > until) {
      return rc;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// ------------------------------------------------------------ BatchConsumer

// Assignment is explicit: on every assignment the committed offsets are
// checked against what the broker still has, so that a committed offset that
// fell off the log is reported as data loss (auto.offset.reset=error keeps
// librdkafka from jumping on its own; a reset while running re-enters here).
class RebalanceTracker : public RdKafka::RebalanceCb, public RdKafka::EventCb {
 public:
  explicit RebalanceTracker(BatchConsumer* owner) : owner(owner) {}
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      consumer->committed(partitions, 5000);
      owner->AssignChecked(partitions, -1, "");
      Logger("kafka")->info("msg=\"partitions assigned\" count={}", partitions.size());
    } else {
      // What was handled is committed before the partitions go (commits
      // are batched, see Options::commit_interval): the next owner starts
      // after it. Offsets of partitions this member no longer owns must
      // never be committed again: another member may have moved past them.
      owner->CommitPending(true);
      owner->handled_.clear();
      owner->dirty_ = false;
      consumer->unassign();
      std::lock_guard lock(mu);
      assigned.clear();
      Logger("kafka")->info("msg=\"partitions revoked\" count={}", partitions.size());
    }
  }
  void event_cb(RdKafka::Event& ev) override {
    if (ev.type() == RdKafka::Event::EVENT_ERROR) {
      Logger("kafka")->warn("msg=\"kafka consumer error\" error={} fatal={}", Q(ev.str()),
                            ev.fatal());
    }
  }
  BatchConsumer* owner;
  std::mutex mu;
  std::vector<std::pair<std::string, int32_t>> assigned;
};

absl::StatusOr<std::unique_ptr<BatchConsumer>> BatchConsumer::Create(
    const KafkaConfig& cfg, const std::string& client_id, const std::vector<std::string>& topics,
    Handler handler, MetricsRegistry* metrics, Options options) {
  if (cfg.group_id.empty()) {
    return absl::InvalidArgumentError("kafka consumer needs kafka.group_id");
  }
  if (auto st = EnsureTopicsOnce(cfg); !st.ok()) {
    return st;
  }
  std::unique_ptr<BatchConsumer> c(new BatchConsumer());
  c->handler_ = std::move(handler);
  c->options_ = options;
  c->conf_.reset(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  c->rebalance_ = std::make_unique<RebalanceTracker>(c.get());
  auto props = Merge(
      Merge(kConsumerQueueProps, {
          {"bootstrap.servers", cfg.brokers},
          {"client.id", client_id},
          {"group.id", cfg.group_id},
          {"enable.auto.commit", "false"},
          {"enable.auto.offset.store", "false"},
          // "error" rather than earliest/latest: a committed offset that the
          // broker no longer has must be reported as data loss, not skipped.
          {"auto.offset.reset", "error"},
          // How long the broker holds a fetch that found nothing. A Kafka
          // broker answers a waiting fetch as soon as a message arrives
          // (fetch.min.bytes=1), so this costs no latency; it sets how
          // often an idle consumer asks again. At 5 ms every idle consumer
          // cost the broker 200 empty fetches a second (bench/README.md).
          // The librdkafka mock broker (`up --dev-broker`) holds the whole
          // wait: ./kubemend sets 1 ms there.
          {"fetch.wait.max.ms", kFetchWaitMaxMs},
          {"fetch.error.backoff.ms", "10"},
          {"socket.nagle.disable", "true"},
          {"session.timeout.ms", "6000"},
          {"heartbeat.interval.ms", "1000"},
          {"allow.auto.create.topics", "true"},
      }),
      cfg.properties);
  for (const char* k : {"linger.ms", "acks", "enable.idempotence", "message.timeout.ms",
                        "queue.buffering.max.kbytes"}) {
    props.erase(k);
  }
  if (auto st = SetAll(c->conf_.get(), props); !st.ok()) {
    return st;
  }
  std::string err;
  c->conf_->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(c->rebalance_.get()), err);
  c->conf_->set("event_cb", static_cast<RdKafka::EventCb*>(c->rebalance_.get()), err);
  c->consumer_.reset(RdKafka::KafkaConsumer::create(c->conf_.get(), err));
  if (!c->consumer_) {
    return absl::InvalidArgumentError("kafka consumer: " + err);
  }
  RdKafka::ErrorCode rc = c->consumer_->subscribe(topics);
  if (rc != RdKafka::ERR_NO_ERROR) {
    return absl::InvalidArgumentError("kafka subscribe: " + RdKafka::err2str(rc));
  }
  if (metrics) {
    c->consumed_metric_ = &metrics->GetCounter("kubemend_kafka_consumed_total",
                                               "Messages consumed from Kafka");
    c->data_loss_metric_ = &metrics->GetCounter(
        "kubemend_kafka_data_loss_total",
        "Committed offsets found gone from the broker (events lost before processing)");
    c->handler_error_metric_ = &metrics->GetCounter(
        "kubemend_kafka_batch_retries_total", "Batches whose processing failed and was retried");
    c->batch_latency_ = &metrics->GetHistogram("kubemend_batch_processing_seconds",
                                               "Time to process one consumed batch");
  }
  return c;
}

absl::StatusOr<std::unique_ptr<BatchConsumer>> BatchConsumer::CreatePipelined(
    const KafkaConfig& cfg, const std::string& client_id, const std::vector<std::string>& topics,
    Prepare prepare, PreparedHandler handler, MetricsRegistry* metrics, Options options) {
  auto c = Create(cfg, client_id, topics, nullptr, metrics, options);
  if (c.ok()) {
    (*c)->prepare_ = std::move(prepare);
    (*c)->prepared_handler_ = std::move(handler);
  }
  return c;
}

BatchConsumer::~BatchConsumer() {
  if (consumer_) {
    consumer_->close();
  }
}

void BatchConsumer::AssignChecked(std::vector<RdKafka::TopicPartition*>& partitions,
                                  int32_t reset_partition, const std::string& reset_topic) {
  for (auto* tp : partitions) {
    int64_t off = tp->offset();
    bool resetting = tp->partition() == reset_partition && tp->topic() == reset_topic;
    if (off < 0 && !resetting) {
      // No committed offset: a new group starts at the oldest event.
      tp->set_offset(RdKafka::Topic::OFFSET_BEGINNING);
      continue;
    }
    int64_t low = 0;
    int64_t high = 0;
    if (QueryWatermarksSettled(consumer_.get(), tp->topic(), tp->partition(), &low, &high,
                               std::chrono::seconds(10)) != RdKafka::ERR_NO_ERROR) {
      continue;
    }
    if (off >= low && off <= high && !resetting) {
      continue;
    }
    if (off > high) {
      // Ahead of the log: the broker lost data (e.g. a dev broker restart).
      low = high;
    }
    ReportDataLoss(tp->topic(), tp->partition(), off, low);
    tp->set_offset(low);
  }
  consumer_->assign(partitions);
  std::lock_guard lock(rebalance_->mu);
  rebalance_->assigned.clear();
  for (auto* tp : partitions) {
    rebalance_->assigned.emplace_back(tp->topic(), tp->partition());
  }
}

void BatchConsumer::ReportDataLoss(const std::string& topic, int32_t partition, int64_t offset,
                                   int64_t resume) {
  std::string what = "committed offset " + std::to_string(offset) + " of " + topic + "[" +
                     std::to_string(partition) + "] is gone from the broker (resuming at " +
                     std::to_string(resume) + "): " +
                     (resume > offset ? std::to_string(resume - offset) : std::string("unknown")) +
                     " events were lost before this consumer processed them";
  Logger("kafka")->error(
      "msg=\"DATA LOSS\" detail={} hint={}", Q(what),
      Q("the consumer fell behind the broker's retention, or the broker lost its log; raise "
        "retention or add consumers"));
  {
    std::lock_guard lock(mu_);
    status_.data_loss_events++;
    status_.last_data_loss = what;
  }
  if (data_loss_metric_) {
    data_loss_metric_->Inc();
  }
}

void BatchConsumer::HandleOffsetReset(const std::string& topic, int32_t partition, int64_t offset,
                                      const std::string& reason) {
  std::vector<std::pair<std::string, int32_t>> assigned;
  {
    std::lock_guard lock(rebalance_->mu);
    assigned = rebalance_->assigned;
  }
  std::vector<RdKafka::TopicPartition*> parts;
  for (const auto& [t, p] : assigned) {
    parts.push_back(RdKafka::TopicPartition::create(t, p));
  }
  consumer_->position(parts);
  for (auto* tp : parts) {
    if (tp->topic() == topic && tp->partition() == partition) {
      tp->set_offset(offset);
    }
  }
  Logger("kafka")->warn("msg=\"offset out of range\" topic={} partition={} offset={} reason={}",
                        topic, partition, offset, Q(reason));
  AssignChecked(parts, offset >= 0 ? partition : -1, offset >= 0 ? topic : "");
  RdKafka::TopicPartition::destroy(parts);
}

void BatchConsumer::Commit(std::span<const InMessage> batch, bool sync) {
  std::set<std::pair<std::string, int32_t>> owned;
  {
    std::lock_guard lock(rebalance_->mu);
    owned.insert(rebalance_->assigned.begin(), rebalance_->assigned.end());
  }
  for (const auto& m : batch) {
    // A partition revoked while this batch was being handled is another
    // member's now: its offset is theirs to commit.
    if (!owned.count({m.topic, m.partition})) {
      continue;
    }
    auto& n = handled_[{m.topic, m.partition}];
    if (m.offset + 1 > n) {
      n = m.offset + 1;
      dirty_ = true;
    }
  }
  if (sync || std::chrono::steady_clock::now() - last_commit_ >= options_.commit_interval) {
    CommitPending(sync);
  }
}

void BatchConsumer::CommitPending(bool sync) {
  if (!dirty_) {
    return;
  }
  // Every partition handled, not only those that moved: an asynchronous
  // commit that failed is repaired by the next one.
  std::vector<RdKafka::TopicPartition*> offsets;
  for (const auto& [tp, off] : handled_) {
    offsets.push_back(RdKafka::TopicPartition::create(tp.first, tp.second, off));
  }
  RdKafka::ErrorCode rc = sync ? consumer_->commitSync(offsets) : consumer_->commitAsync(offsets);
  if (rc != RdKafka::ERR_NO_ERROR) {
    // Not fatal: the batch's effects are idempotent, a redelivery is dropped
    // downstream by event id.
    Logger("kafka")->warn("msg=\"offset commit failed\" error={}", Q(RdKafka::err2str(rc)));
  }
  RdKafka::TopicPartition::destroy(offsets);
  dirty_ = false;
  last_commit_ = std::chrono::steady_clock::now();
}

void BatchConsumer::SeekBack(std::span<const InMessage> batch) {
  std::map<std::pair<std::string, int32_t>, int64_t> first;
  for (const auto& m : batch) {
    auto it = first.find({m.topic, m.partition});
    if (it == first.end() || m.offset < it->second) {
      first[{m.topic, m.partition}] = m.offset;
    }
  }
  for (const auto& [tp, off] : first) {
    std::unique_ptr<RdKafka::TopicPartition> p(
        RdKafka::TopicPartition::create(tp.first, tp.second, off));
    consumer_->seek(*p, 2000);
  }
}

bool BatchConsumer::Poll(std::vector<InMessage>& batch) {
  batch.clear();
  auto take = [&](int timeout_ms) -> bool {
    std::unique_ptr<RdKafka::Message> m(consumer_->consume(timeout_ms));
    switch (m->err()) {
      case RdKafka::ERR_NO_ERROR: {
        InMessage in;
        in.topic = m->topic_name();
        in.partition = m->partition();
        in.offset = m->offset();
        if (m->key()) {
          in.key = *m->key();
        }
        in.payload.assign(static_cast<const char*>(m->payload()), m->len());
        in.timestamp_ms = m->timestamp().timestamp;
        batch.push_back(std::move(in));
        return true;
      }
      case RdKafka::ERR__TIMED_OUT:
      case RdKafka::ERR__PARTITION_EOF:
        return false;
      case RdKafka::ERR__AUTO_OFFSET_RESET:
        HandleOffsetReset(m->topic_name(), m->partition(), m->offset(), m->errstr());
        return false;
      default:
        Logger("kafka")->warn("msg=\"consume error\" error={}", Q(m->errstr()));
        return false;
    }
  };
  if (!take(static_cast<int>(options_.poll_timeout.count()))) {
    return false;
  }
  while (batch.size() < options_.max_batch && take(0)) {
  }
  return true;
}

void BatchConsumer::Finish(std::span<const InMessage> batch, const absl::Status& st,
                           std::chrono::steady_clock::time_point started,
                           std::span<const InMessage> replay) {
  if (batch_latency_) {
    batch_latency_->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  if (st.ok()) {
    Commit(batch, false);
    std::lock_guard lock(mu_);
    status_.consumed += batch.size();
    status_.batches++;
    if (consumed_metric_) {
      consumed_metric_->Inc(batch.size());
    }
    return;
  }
  {
    std::lock_guard lock(mu_);
    status_.handler_errors++;
  }
  if (handler_error_metric_) {
    handler_error_metric_->Inc();
  }
  Logger("kafka")->warn("msg=\"batch failed, will retry\" size={} error={}", batch.size(),
                        Q(std::string(st.message())));
  SeekBack(replay);
  auto until = std::chrono::steady_clock::now() + options_.retry_backoff;
  while (!stop_ && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void BatchConsumer::Run() {
  if (prepare_) {
    RunPipelined();
  } else {
    std::vector<InMessage> batch;
    batch.reserve(options_.max_batch);
    while (!stop_) {
      if (!Poll(batch)) {
        CommitPending(false);  // idle: nothing handled stays uncommitted
        continue;
      }
      auto started = std::chrono::steady_clock::now();
      absl::Status st = handler_(batch);
      Finish(batch, st, started, batch);
    }
  }
  // Everything handled, synchronously: the last asynchronous commit may
  // still be on its way.
  if (!handled_.empty()) {
    dirty_ = true;
    CommitPending(true);
  }
}

// Polling, offset commits and seeks stay on this thread (librdkafka's
// rebalance callbacks and handled_ live here); only the handler moves to
// the writer thread, one batch at a time.
void BatchConsumer::RunPipelined() {
  std::vector<InMessage> current;
  std::vector<InMessage> next;
  Prepared current_prepared;
  bool have_current = false;
  while (!stop_) {
    if (!have_current) {
      if (!Poll(current)) {
        CommitPending(false);  // idle: nothing handled stays uncommitted
        continue;
      }
      current_prepared = prepare_(current);
      have_current = true;
    }
    auto started = std::chrono::steady_clock::now();
    auto writing = std::async(std::launch::async, [&] {
      try {
        return prepared_handler_(current, current_prepared);
      } catch (const std::exception& e) {
        return absl::InternalError(std::string("batch handler threw: ") + e.what());
      }
    });
    // Meanwhile: the next batch, polled and prepared.
    bool have_next = !stop_ && Poll(next);
    Prepared next_prepared = have_next ? prepare_(next) : nullptr;
    absl::Status st = writing.get();
    std::vector<InMessage> replay;
    if (!st.ok()) {
      replay = current;
      replay.insert(replay.end(), next.begin(), next.end());
      have_next = false;  // consumed again after the seek
      next.clear();
    }
    Finish(current, st, started, replay);
    if (!st.ok()) {
      have_current = false;
      continue;
    }
    std::swap(current, next);
    current_prepared = std::move(next_prepared);
    have_current = have_next;
  }
}

bool BatchConsumer::Connected() const {
  RdKafka::Metadata* md = nullptr;
  RdKafka::ErrorCode rc = consumer_->metadata(false, nullptr, &md, 1000);
  delete md;
  return rc == RdKafka::ERR_NO_ERROR;
}

ConsumerStatus BatchConsumer::Status() const {
  ConsumerStatus out;
  {
    std::lock_guard lock(mu_);
    out = status_;
  }
  std::vector<std::pair<std::string, int32_t>> assigned;
  {
    std::lock_guard lock(rebalance_->mu);
    assigned = rebalance_->assigned;
  }
  std::vector<RdKafka::TopicPartition*> parts;
  for (const auto& [t, p] : assigned) {
    parts.push_back(RdKafka::TopicPartition::create(t, p));
  }
  consumer_->position(parts);
  for (auto* tp : parts) {
    PartitionLag lag;
    lag.topic = tp->topic();
    lag.partition = tp->partition();
    lag.position = tp->offset();
    int64_t low = 0;
    int64_t high = 0;
    consumer_->get_watermark_offsets(tp->topic(), tp->partition(), &low, &high);
    lag.high_watermark = high;
    lag.lag = (high >= 0 && lag.position >= 0) ? std::max<int64_t>(0, high - lag.position) : 0;
    out.lag.push_back(lag);
  }
  RdKafka::TopicPartition::destroy(parts);
  return out;
}

}  // namespace kubemend
