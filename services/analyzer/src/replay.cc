#include "replay.h"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <map>
#include <memory>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"

namespace kubemend::analyzer {

absl::StatusOr<std::vector<v1::Event>> ReadLog(const KafkaConfig& cfg, const std::vector<Topic>& topics,
                                               int64_t since_ms, std::chrono::milliseconds timeout,
                                               ReplayStats* stats) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  std::map<std::string, std::string> props = {
      {"bootstrap.servers", cfg.brokers},
      {"group.id", "kubemend-replay-" + NewUuid()},  // never joins: assign() only
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"fetch.wait.max.ms", "5"},
      {"fetch.error.backoff.ms", "10"},
  };
  for (const auto& [k, v] : cfg.properties) {
    if (k.rfind("security.", 0) == 0 || k.rfind("sasl.", 0) == 0 || k.rfind("ssl.", 0) == 0) {
      props[k] = v;
    }
  }
  for (const auto& [k, v] : props) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      return absl::InvalidArgumentError("replay consumer property " + k + ": " + err);
    }
  }
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) {
    return absl::InvalidArgumentError("replay consumer: " + err);
  }
  RdKafka::Metadata* md_raw = nullptr;
  int to = static_cast<int>(timeout.count());
  if (auto rc = c->metadata(true, nullptr, &md_raw, to); rc != RdKafka::ERR_NO_ERROR) {
    return absl::UnavailableError("replay: cannot read broker metadata: " + RdKafka::err2str(rc) +
                                  ". Hint: check kafka.brokers");
  }
  std::unique_ptr<RdKafka::Metadata> md(md_raw);
  std::map<std::string, int> topic_rank;
  for (size_t i = 0; i < topics.size(); ++i) {
    topic_rank[TopicName(cfg, topics[i])] = static_cast<int>(i);
  }
  std::vector<RdKafka::TopicPartition*> parts;
  std::map<std::pair<std::string, int32_t>, int64_t> end;  // high watermark per partition
  for (const auto* t : *md->topics()) {
    if (!topic_rank.count(t->topic())) {
      continue;
    }
    for (const auto* p : *t->partitions()) {
      int64_t lo = 0, hi = 0;
      if (auto rc = static_cast<RdKafka::ErrorCode>(
              QueryWatermarksSettled(c.get(), t->topic(), p->id(), &lo, &hi, timeout));
          rc != RdKafka::ERR_NO_ERROR) {
        for (auto* tp : parts) {
          delete tp;
        }
        return absl::UnavailableError("replay: watermarks of " + t->topic() + ": " + RdKafka::err2str(rc));
      }
      if (hi <= lo) {
        continue;
      }
      end[{t->topic(), p->id()}] = hi;
      parts.push_back(RdKafka::TopicPartition::create(t->topic(), p->id(), since_ms));
    }
  }
  std::vector<std::pair<std::pair<int, int64_t>, v1::Event>> got;
  if (!parts.empty()) {
    // Start each partition at the first offset recorded at or after since_ms
    // when the broker can tell (some, like the dev broker, cannot: then read
    // from the beginning; events older than since_ms are filtered below).
    bool by_time = since_ms > 0 && c->offsetsForTimes(parts, to) == RdKafka::ERR_NO_ERROR;
    std::vector<RdKafka::TopicPartition*> live;
    for (auto* tp : parts) {
      if (!by_time || tp->offset() < 0) {
        tp->set_offset(RdKafka::Topic::OFFSET_BEGINNING);
      }
      live.push_back(tp);
    }
    if (!live.empty()) {
      c->assign(live);
    }
    for (auto* tp : live) {
      delete tp;
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!end.empty()) {
      if (std::chrono::steady_clock::now() > deadline) {
        c->close();
        return absl::DeadlineExceededError("replay did not reach the end of the log within " +
                                           std::to_string(timeout.count()) + " ms (" +
                                           std::to_string(end.size()) + " partitions left)");
      }
      std::unique_ptr<RdKafka::Message> m(c->consume(100));
      if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) {
        continue;
      }
      if (m->err() != RdKafka::ERR_NO_ERROR) {
        c->close();
        return absl::UnavailableError("replay read failed: " + m->errstr());
      }
      auto key = std::make_pair(m->topic_name(), m->partition());
      auto it = end.find(key);
      if (it != end.end() && m->offset() + 1 >= it->second) {
        end.erase(it);
      }
      auto ev = DecodeEvent(std::string(static_cast<const char*>(m->payload()), m->len()));
      if (!ev.ok()) {
        ++stats->skipped;
        continue;
      }
      if (ToUnixMillis(FromTimestamp(ev->recorded_at())) < since_ms) {
        continue;
      }
      ++stats->read;
      got.push_back({{topic_rank[m->topic_name()], m->offset()}, std::move(*ev)});
    }
  }
  c->close();
  std::stable_sort(got.begin(), got.end(), [](const auto& a, const auto& b) {
    int64_t ta = ToUnixMillis(FromTimestamp(a.second.recorded_at()));
    int64_t tb = ToUnixMillis(FromTimestamp(b.second.recorded_at()));
    if (ta != tb) {
      return ta < tb;
    }
    return a.first < b.first;
  });
  std::vector<v1::Event> out;
  out.reserve(got.size());
  for (auto& g : got) {
    out.push_back(std::move(g.second));
  }
  return out;
}

}  // namespace kubemend::analyzer
