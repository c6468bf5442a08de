// Topic creation and checks at start (kafka.h: EnsureTopics), with the
// librdkafka C admin API (the C++ API has none in 2.0).
#include <librdkafka/rdkafka.h>

#include <memory>
#include <mutex>
#include <set>

#include "kubemend/common/kafka.h"
#include "kubemend/common/log.h"

namespace kubemend {
namespace {

struct RkDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
using Rk = std::unique_ptr<rd_kafka_t, RkDeleter>;
using Queue = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using Event = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

// Only the connection-level properties (security, TLS, SASL, sockets) of the
// service's own map apply to the admin client.
bool ConnectionProperty(const std::string& k) {
  for (const char* p : {"security.", "sasl.", "ssl.", "socket.", "broker.", "api.version",
                        "client.dns", "enable.ssl", "reconnect."}) {
    if (k.rfind(p, 0) == 0) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<Rk> AdminClient(const KafkaConfig& cfg) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& k, const std::string& v) -> absl::Status {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      return absl::InvalidArgumentError("kafka property " + k + ": " + err);
    }
    return absl::OkStatus();
  };
  absl::Status st = set("bootstrap.servers", cfg.brokers);
  for (const auto& [k, v] : cfg.properties) {
    if (st.ok() && ConnectionProperty(k)) {
      st = set(k, v);
    }
  }
  if (st.ok()) {
    st = set("client.id", "kubemend-topics");
  }
  if (!st.ok()) {
    rd_kafka_conf_destroy(conf);
    return st;
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(std::string("kafka admin client: ") + err);
  }
  return Rk(rk);
}

absl::StatusOr<std::set<std::string>> ExistingTopics(rd_kafka_t* rk, int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(std::string("kafka metadata: ") + rd_kafka_err2str(e));
  }
  std::set<std::string> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      out.insert(md->topics[i].topic);
    }
  }
  rd_kafka_metadata_destroy(md);
  return out;
}

absl::Status CreateTopics(rd_kafka_t* rk, rd_kafka_queue_t* q, const std::vector<TopicSpec>& specs,
                          int timeout_ms) {
  char err[512];
  std::vector<rd_kafka_NewTopic_t*> nts;
  for (const auto& s : specs) {
    // Replication factor -1: the broker's default.replication.factor.
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(s.name.c_str(), s.partitions, -1, err, sizeof err);
    if (!nt) {
      rd_kafka_NewTopic_destroy_array(nts.data(), nts.size());
      return absl::InvalidArgumentError("topic " + s.name + ": " + err);
    }
    for (const auto& [k, v] : s.config) {
      rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
    }
    nts.push_back(nt);
  }
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, err, sizeof err);
  rd_kafka_CreateTopics(rk, nts.data(), nts.size(), opts, q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy_array(nts.data(), nts.size());
  Event ev(rd_kafka_queue_poll(q, timeout_ms + 2000));
  if (!ev) {
    return absl::UnavailableError("kafka: creating topics timed out");
  }
  if (rd_kafka_event_error(ev.get())) {
    return absl::UnavailableError(std::string("kafka: creating topics: ") +
                                  rd_kafka_event_error_string(ev.get()));
  }
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev.get());
  size_t n = 0;
  const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(res, &n);
  for (size_t i = 0; i < n; ++i) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(topics[i]);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        Logger("kafka")->info("msg=\"topic created\" topic={}", rd_kafka_topic_result_name(topics[i]));
      }
      continue;
    }
    const char* m = rd_kafka_topic_result_error_string(topics[i]);
    return absl::FailedPreconditionError(
        std::string("kafka: cannot create topic ") + rd_kafka_topic_result_name(topics[i]) + ": " +
        (m ? m : rd_kafka_err2str(e)) +
        ". Hint: create it yourself (see docs/deploy.md, topics) or grant CREATE on the cluster");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> TopicConfig(rd_kafka_t* rk, rd_kafka_queue_t* q,
                                                               const std::string& topic,
                                                               int timeout_ms) {
  char err[512];
  rd_kafka_ConfigResource_t* cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof err);
  rd_kafka_DescribeConfigs(rk, &cr, 1, opts, q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_ConfigResource_destroy(cr);
  Event ev(rd_kafka_queue_poll(q, timeout_ms + 2000));
  if (!ev || rd_kafka_event_error(ev.get())) {
    return absl::UnavailableError("kafka: describing topic " + topic + ": " +
                                  (ev ? rd_kafka_event_error_string(ev.get()) : "timed out"));
  }
  const rd_kafka_DescribeConfigs_result_t* res = rd_kafka_event_DescribeConfigs_result(ev.get());
  size_t n = 0;
  const rd_kafka_ConfigResource_t** rs = rd_kafka_DescribeConfigs_result_resources(res, &n);
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_ConfigResource_error(rs[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError("kafka: describing topic " + topic + ": " +
                                    rd_kafka_ConfigResource_error_string(rs[i]));
    }
    size_t cnt = 0;
    const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(rs[i], &cnt);
    for (size_t j = 0; j < cnt; ++j) {
      const char* v = rd_kafka_ConfigEntry_value(entries[j]);
      out[rd_kafka_ConfigEntry_name(entries[j])] = v ? v : "";
    }
  }
  return out;
}

}  // namespace

std::vector<TopicSpec> KubemendTopicSpecs(const KafkaConfig& cfg) {
  std::vector<TopicSpec> out;
  int parts = static_cast<int>(std::max<int64_t>(1, cfg.partitions));
  for (Topic t : AllTopics()) {
    TopicSpec s{TopicName(cfg, t), parts, {}};
    if (t == Topic::kControl) {
      s.config["retention.ms"] = "-1";
    } else if (t == Topic::kDeadLetter) {
      s.config["retention.ms"] = std::to_string(30LL * 24 * 3600 * 1000);
    }
    out.push_back(std::move(s));
  }
  return out;
}

absl::Status EnsureTopics(const KafkaConfig& cfg, std::chrono::milliseconds timeout) {
  const int ms = static_cast<int>(timeout.count());
  auto rk = AdminClient(cfg);
  if (!rk.ok()) {
    return rk.status();
  }
  Queue q(rd_kafka_queue_new(rk->get()));
  auto existing = ExistingTopics(rk->get(), ms);
  if (!existing.ok()) {
    return existing.status();
  }
  std::vector<TopicSpec> missing;
  for (auto& s : KubemendTopicSpecs(cfg)) {
    if (!existing->count(s.name)) {
      missing.push_back(s);
    }
  }
  if (!missing.empty()) {
    if (auto st = CreateTopics(rk->get(), q.get(), missing, ms); !st.ok()) {
      return st;
    }
  }
  const std::string control = TopicName(cfg, Topic::kControl);
  auto conf = TopicConfig(rk->get(), q.get(), control, ms);
  if (!conf.ok()) {
    return conf.status();
  }
  const std::string retention = (*conf)["retention.ms"];
  const std::string policy = (*conf)["cleanup.policy"];
  if (retention != "-1" && policy.find("compact") == std::string::npos) {
    return absl::FailedPreconditionError(
        "kafka topic " + control + " keeps events only " + retention +
        " ms (retention.ms) with cleanup.policy=" + policy +
        ": a pause or mode change would vanish when it expires. Fix: kafka-configs.sh --alter "
        "--entity-type topics --entity-name " + control + " --add-config retention.ms=-1");
  }
  return absl::OkStatus();
}

// Once per process per (brokers, prefix): the services' clients call this.
absl::Status EnsureTopicsOnce(const KafkaConfig& cfg) {
  static std::mutex mu;
  static std::set<std::string> done;
  if (!cfg.manage_topics) {
    return absl::OkStatus();
  }
  std::lock_guard lock(mu);
  const std::string key = cfg.brokers + "|" + cfg.topic_prefix;
  if (done.count(key)) {
    return absl::OkStatus();
  }
  absl::Status st = EnsureTopics(cfg, std::chrono::seconds(10));
  if (st.code() == absl::StatusCode::kUnavailable) {
    // Not reachable yet: the clients retry on their own and the service
    // stays NOT_SERVING meanwhile; the topics are checked at the next start.
    Logger("kafka")->warn("msg=\"cannot check the topics now\" error={}", Q(std::string(st.message())));
    return absl::OkStatus();
  }
  if (st.ok()) {
    done.insert(key);
  }
  return st;
}

}  // namespace kubemend
