#include "kubemend/common/log_follower.h"

#include <google/protobuf/arena.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <set>
#include <thread>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/log.h"

namespace kubemend {
namespace {

// Messages decoded onto one arena before it is reset: the events decoded
// here are handed on by reference (Follow) or copied when kept (Replay), so
// none outlives the reset.
constexpr int kArenaMessages = 256;

// Decodes onto an arena reset every kArenaMessages calls; nullptr when the
// message is not an event.
class ArenaDecoder {
 public:
  v1::Event* Decode(const RdKafka::Message& m) {
    if (++on_arena_ == kArenaMessages) {
      arena_.Reset();
      on_arena_ = 0;
    }
    auto* ev = google::protobuf::Arena::CreateMessage<v1::Event>(&arena_);
    std::string_view bytes(static_cast<const char*>(m.payload()), m.len());
    return DecodeEventInto(bytes, std::nullopt, ev).ok() ? ev : nullptr;
  }

 private:
  google::protobuf::Arena arena_;
  int on_arena_ = 0;
};

constexpr char kHint[] =
    " Hint: check kafka.brokers (KUBEMEND_KAFKA_BROKERS) and that the kubemend topics exist "
    "(or the broker auto-creates them).";

}  // namespace

absl::StatusOr<std::unique_ptr<LogFollower>> LogFollower::Create(
    const KafkaConfig& cfg, const std::vector<std::string>& topics, const std::string& client_id,
    std::chrono::milliseconds timeout) {
  std::unique_ptr<LogFollower> f(new LogFollower());
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::map<std::string, std::string> props = kConsumerQueueProps;
  props.insert({
      {"bootstrap.servers", cfg.brokers},
      {"client.id", client_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"fetch.wait.max.ms", kFetchWaitMaxMs},  // see BatchConsumer::Create
      {"fetch.error.backoff.ms", "10"},
      {"allow.auto.create.topics", "true"},
  });
  for (const auto& [k, v] : cfg.properties) {
    props[k] = v;
  }
  for (const char* k : {"linger.ms", "acks", "enable.idempotence", "message.timeout.ms",
                        "session.timeout.ms", "heartbeat.interval.ms", "queue.buffering.max.kbytes"}) {
    props.erase(k);
  }
  // Required by the client, never used: partitions are assigned by hand and
  // no offset is ever committed.
  props["group.id"] = client_id + "-" + NewUuid();
  std::string err;
  for (const auto& [k, v] : props) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      return absl::InvalidArgumentError("kafka property " + k + "=" + v + ": " + err);
    }
  }
  f->consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!f->consumer_) {
    return absl::InvalidArgumentError("kafka consumer: " + err);
  }
  auto until = std::chrono::steady_clock::now() + timeout;
  for (const auto& topic : topics) {
    std::unique_ptr<RdKafka::Topic> handle(
        RdKafka::Topic::create(f->consumer_.get(), topic, nullptr, err));
    while (true) {
      RdKafka::Metadata* md = nullptr;
      RdKafka::ErrorCode rc = f->consumer_->metadata(false, handle.get(), &md, 2000);
      std::unique_ptr<RdKafka::Metadata> owned(md);
      if (rc == RdKafka::ERR_NO_ERROR && md != nullptr) {
        for (const auto* t : *md->topics()) {
          if (t->topic() == topic && t->err() == RdKafka::ERR_NO_ERROR && !t->partitions()->empty()) {
            f->partitions_[topic] = static_cast<int32_t>(t->partitions()->size());
          }
        }
      }
      if (f->partitions_.count(topic)) {
        break;
      }
      if (std::chrono::steady_clock::now() > until) {
        return absl::UnavailableError("cannot learn the partitions of " + topic + " (" +
                                      RdKafka::err2str(rc) + ")." + kHint);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return f;
}

bool LogFollower::Unwanted(RdKafka::Message& m) const {
  if (only_header_.empty()) {
    return false;
  }
  RdKafka::Headers* headers = m.headers();
  if (headers == nullptr) {
    return false;
  }
  RdKafka::Headers::Header h = headers->get_last(only_header_);
  if (h.err() != RdKafka::ERR_NO_ERROR || h.value() == nullptr) {
    return false;
  }
  return !only_values_.count(std::string(static_cast<const char*>(h.value()), h.value_size()));
}

LogFollower::~LogFollower() {
  if (consumer_) {
    consumer_->close();
  }
}

absl::StatusOr<std::vector<v1::Event>> LogFollower::Replay(
    const std::map<std::string, TimePoint>& since, std::chrono::milliseconds timeout,
    const Keep& keep) {
  auto log = Logger("replay");
  std::vector<RdKafka::TopicPartition*> parts;
  std::map<std::pair<std::string, int32_t>, int64_t> end;
  for (const auto& [topic, count] : partitions_) {
    for (int32_t p = 0; p < count; ++p) {
      int64_t low = 0;
      int64_t high = 0;
      // A topic created a moment ago may not have elected its partition
      // leaders yet: those answers are waited out.
      auto rc = static_cast<RdKafka::ErrorCode>(
          QueryWatermarksSettled(consumer_.get(), topic, p, &low, &high, timeout));
      if (rc != RdKafka::ERR_NO_ERROR) {
        RdKafka::TopicPartition::destroy(parts);
        return absl::UnavailableError("watermarks of " + topic + "[" + std::to_string(p) +
                                      "]: " + RdKafka::err2str(rc) + "." + kHint);
      }
      // Every partition is read from its oldest offset; the look-back is
      // applied per event below. (offsetsForTimes would skip ahead, but not
      // every Kafka-protocol broker answers it, and a wrong answer here
      // would silently forget approvals.)
      int64_t start = low;
      parts.push_back(RdKafka::TopicPartition::create(topic, p, start));
      if (start < high) {
        end[{topic, p}] = high;
      }
    }
  }
  consumer_->assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  std::vector<v1::Event> out;
  ArenaDecoder decoder;
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!end.empty()) {
    if (stop_ || std::chrono::steady_clock::now() > until) {
      return absl::DeadlineExceededError("replaying the event log took longer than " +
                                         std::to_string(timeout.count()) + "ms; " +
                                         std::to_string(end.size()) + " partition(s) unfinished." +
                                         kHint);
    }
    std::unique_ptr<RdKafka::Message> m(consumer_->consume(100));
    if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) {
      continue;
    }
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      log->warn("msg=\"replay consume error\" error={}", Q(m->errstr()));
      continue;
    }
    auto key = std::make_pair(m->topic_name(), m->partition());
    auto it = end.find(key);
    if (it != end.end() && m->offset() + 1 >= it->second) {
      end.erase(it);
    }
    if (Unwanted(*m)) {
      continue;
    }
    v1::Event* ev = decoder.Decode(*m);
    if (ev == nullptr) {
      skipped_++;
      continue;
    }
    auto s = since.find(m->topic_name());
    if (s != since.end() && FromTimestamp(ev->occurred_at()) < s->second) {
      continue;
    }
    if (keep && !keep(*ev)) {
      continue;
    }
    out.emplace_back(*ev);  // a heap copy: the arena is reset below
  }
  std::stable_sort(out.begin(), out.end(), [](const v1::Event& a, const v1::Event& b) {
    return FromTimestamp(a.occurred_at()) < FromTimestamp(b.occurred_at());
  });
  return out;
}

void LogFollower::Follow(const std::function<void(const v1::Event&)>& apply) {
  auto log = Logger("follower");
  ArenaDecoder decoder;
  while (!stop_) {
    std::unique_ptr<RdKafka::Message> m(consumer_->consume(100));
    if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) {
      continue;
    }
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      // An offset reset here means events left the log before this process
      // saw them: the state may be incomplete, so say so loudly.
      log->error("msg=\"state follower consume error\" error={} topic={} partition={}",
                 Q(m->errstr()), m->topic_name(), m->partition());
      continue;
    }
    if (Unwanted(*m)) {
      continue;
    }
    v1::Event* ev = decoder.Decode(*m);
    if (ev == nullptr) {
      skipped_++;
      continue;
    }
    followed_++;
    apply(*ev);  // `apply` copies what it keeps (the arena is reset)
  }
}

}  // namespace kubemend
