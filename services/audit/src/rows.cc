#include "rows.h"


#include <algorithm>
#include <ctime>
#include <future>
#include <iterator>
#include <thread>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "chain.h"
#include "event_json.h"

namespace kubemend::audit {

std::string Rfc3339(const google::protobuf::Timestamp& ts) {
  std::time_t secs = ts.seconds();
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  char out[80];
  std::snprintf(out, sizeof out, "%s.%06d+00", buf, ts.nanos() / 1000);
  return out;
}

int64_t Micros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000000 + ts.nanos() / 1000;
}

namespace {
constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// PostgreSQL text cannot hold NUL: it becomes U+FFFD (the Protobuf payload
// column keeps the original bytes).
void ReplaceNul(std::string& s) {
  if (s.find('\0') == std::string::npos) {
    return;
  }
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    if (c == '\0') {
      out += kReplacement;
    } else {
      out += c;
    }
  }
  s.swap(out);
}
}  // namespace

std::string JsonWithoutNul(const std::string& json) {
  // jsonb refuses the escape \u0000. Only a real escape counts: one preceded
  // by an odd number of backslashes (an escaped backslash followed by
  // "u0000" is text, left alone).
  if (json.find("u0000") == std::string::npos) {
    return json;
  }
  std::string out;
  out.reserve(json.size());
  size_t i = 0;
  while (i < json.size()) {
    if (json[i] == '\\' && i + 1 < json.size()) {
      if (json.compare(i, 6, "\\u0000") == 0) {
        out += "\\ufffd";
        i += 6;
        continue;
      }
      out += json[i];
      out += json[i + 1];
      i += 2;
      continue;
    }
    out += json[i++];
  }
  return out;
}

void SanitizeForPostgres(AuditRow& r) {
  for (std::string* f : {&r.event_type, &r.producer_service, &r.producer_instance, &r.incident_id,
                         &r.causation_id, &r.trace_id, &r.target_cluster, &r.target_namespace,
                         &r.target_kind, &r.target_name, &r.target_container, &r.signal_name,
                         &r.action_type, &r.verdict, &r.rule, &r.outcome_status, &r.policy_name,
                         &r.kafka_topic}) {
    ReplaceNul(*f);
  }
  r.payload_json = JsonWithoutNul(r.payload_json);
}

void SanitizeForPostgres(DeadLetterRow& d) {
  for (std::string* f : {&d.source_topic, &d.consumer, &d.reason, &d.dead_lettered_at}) {
    ReplaceNul(*f);
  }
}

DeadLetterRow DeadLetterFromRow(const AuditRow& r, const std::string& reason,
                                const std::string& now_rfc3339) {
  DeadLetterRow d;
  d.source_topic = r.kafka_topic;
  d.source_partition = r.kafka_partition;
  d.source_offset = r.kafka_offset;
  d.consumer = "audit";
  d.reason = reason;
  d.payload = r.payload;
  d.dead_lettered_at = now_rfc3339;
  SanitizeForPostgres(d);
  return d;
}

AuditRow RowFromEvent(const v1::Event& e, const InMessage& raw) {
  AuditRow r;
  r.event_id = CanonicalUuid(e.event_id()).value_or(e.event_id());
  r.occurred_us = Micros(e.occurred_at());
  r.recorded_us = Micros(e.recorded_at());
  r.event_type = EventTypeName(e.type());
  r.producer_service = e.producer().service();
  r.producer_instance = e.producer().instance();
  r.incident_id = e.incident_id();
  r.causation_id = e.causation_id();
  r.trace_id = TraceIdOf(e.trace().traceparent());
  r.target_cluster = e.target().cluster();
  r.target_namespace = e.target().namespace_();
  r.target_kind = e.target().kind();
  r.target_name = e.target().name();
  r.target_container = e.target().container();
  switch (e.payload_case()) {
    case v1::Event::kSignal:
      r.signal_name = e.signal().name();
      break;
    case v1::Event::kProposal:
      r.action_type = ActionTypeName(e.proposal().action().type());
      r.policy_name = e.proposal().policy().name();
      break;
    case v1::Event::kDecision:
      r.action_type = ActionTypeName(e.decision().proposal().action().type());
      r.policy_name = e.decision().proposal().policy().name();
      r.verdict = VerdictName(e.decision().verdict());
      r.rule = e.decision().rule();
      break;
    case v1::Event::kOutcome:
      r.action_type = ActionTypeName(e.outcome().action().type());
      r.outcome_status = OutcomeStatusName(e.outcome().status());
      break;
    case v1::Event::kControl:
      r.rule = e.control().command_case() == v1::Control::kApproval ? "approval" : "control";
      break;
    default:
      break;
  }
  r.kafka_topic = raw.topic;
  r.kafka_partition = raw.partition;
  r.kafka_offset = raw.offset;
  r.payload = raw.payload;
  r.payload_json = EventJson(e);
  SanitizeForPostgres(r);
  return r;
}

namespace {

Rows RowsFromChunk(std::span<const InMessage> batch, const std::string& deadletter_topic,
                   const std::string& now_rfc3339) {
  Rows out;
  out.events.reserve(batch.size());
  for (const auto& m : batch) {
    if (m.topic == deadletter_topic) {
      v1::DeadLetter dl;
      DeadLetterRow d;
      if (dl.ParseFromString(m.payload) && !dl.source_topic().empty()) {
        d.source_topic = dl.source_topic();
        d.source_partition = dl.partition();
        d.source_offset = dl.offset();
        d.consumer = dl.consumer();
        d.reason = dl.reason();
        d.key = dl.key();
        d.payload = dl.payload();
        d.dead_lettered_at = Rfc3339(dl.dead_lettered_at());
      } else {
        d.source_topic = m.topic;
        d.source_partition = m.partition;
        d.source_offset = m.offset;
        d.consumer = "audit";
        d.reason = "dead-letter message is not a kubemend.v1.DeadLetter";
        d.key = m.key;
        d.payload = m.payload;
        d.dead_lettered_at = now_rfc3339;
      }
      SanitizeForPostgres(d);
      out.dead_letters.push_back(std::move(d));
      continue;
    }
    auto e = DecodeEvent(m.payload);
    if (e.ok() && !CanonicalUuid(e->event_id())) {
      e = absl::InvalidArgumentError("event_id " + e->event_id() + " is not a UUID");
    }
    if (!e.ok()) {
      DeadLetterRow d;
      d.source_topic = m.topic;
      d.source_partition = m.partition;
      d.source_offset = m.offset;
      d.consumer = "audit";
      d.reason = std::string(e.status().message());
      d.key = m.key;
      d.payload = m.payload;
      d.dead_lettered_at = now_rfc3339;
      SanitizeForPostgres(d);
      out.dead_letters.push_back(std::move(d));
      continue;
    }
    out.events.push_back(RowFromEvent(*e, m));
  }
  return out;
}

}  // namespace

Rows RowsFromBatch(std::span<const InMessage> batch, const std::string& deadletter_topic,
                   const std::string& now_rfc3339) {
  // Decoding and JSON rendering are a third of the ingest time: spread big
  // batches over the cores, keeping the order of the messages.
  constexpr size_t kChunk = 512;
  size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()),
                                    (batch.size() + kChunk - 1) / kChunk);
  if (threads <= 1) {
    return RowsFromChunk(batch, deadletter_topic, now_rfc3339);
  }
  size_t per = (batch.size() + threads - 1) / threads;
  std::vector<std::future<Rows>> parts;
  for (size_t start = 0; start < batch.size(); start += per) {
    auto chunk = batch.subspan(start, std::min(per, batch.size() - start));
    parts.push_back(std::async(std::launch::async, [chunk, &deadletter_topic, &now_rfc3339] {
      return RowsFromChunk(chunk, deadletter_topic, now_rfc3339);
    }));
  }
  Rows out;
  out.events.reserve(batch.size());
  for (auto& f : parts) {
    Rows r = f.get();
    std::move(r.events.begin(), r.events.end(), std::back_inserter(out.events));
    std::move(r.dead_letters.begin(), r.dead_letters.end(), std::back_inserter(out.dead_letters));
  }
  return out;
}

}  // namespace kubemend::audit
