#pragma once
// Turning consumed Kafka messages into audit rows. Pure: no database.
#include <array>
#include <string>
#include <vector>

#include "kubemend/common/kafka.h"
#include "kubemend/v1/events.pb.h"

namespace kubemend::audit {

struct AuditRow {
  std::string event_id, event_type;
  std::string producer_service, producer_instance;
  std::string incident_id, causation_id, trace_id;
  std::string target_cluster, target_namespace, target_kind, target_name, target_container;
  std::string signal_name, action_type, verdict, rule, outcome_status, policy_name;
  std::string kafka_topic;
  int32_t kafka_partition = 0;
  int64_t kafka_offset = 0;
  std::string payload;       // the original Protobuf bytes
  std::string payload_json;  // the same event as JSON, for SQL
  int64_t occurred_us = 0;   // occurred_at/recorded_at in microseconds since the Unix epoch
  int64_t recorded_us = 0;
  // Filled when the row is chained (chain.h): position, ingestion time, hashes.
  int64_t seq = 0;
  int64_t ingested_us = 0;
  std::string prev_hash;
  std::string row_hash;
};

// The text columns from producer_service to kafka_topic, in the table's
// column order: the hash chain (chain.cc) and the binary COPY
// (binary_copy.cc) both walk them in exactly this order.
inline std::array<const std::string*, 17> TextColumns(const AuditRow& r) {
  return {&r.producer_service, &r.producer_instance, &r.incident_id, &r.causation_id, &r.trace_id,
          &r.target_cluster,   &r.target_namespace,  &r.target_kind, &r.target_name,
          &r.target_container, &r.signal_name,       &r.action_type, &r.verdict,    &r.rule,
          &r.outcome_status,   &r.policy_name,       &r.kafka_topic};
}

struct DeadLetterRow {
  std::string source_topic;
  int32_t source_partition = 0;
  int64_t source_offset = 0;
  std::string consumer;
  std::string reason;
  std::string key;
  std::string payload;
  std::string dead_lettered_at;
};

struct Rows {
  std::vector<AuditRow> events;
  std::vector<DeadLetterRow> dead_letters;
};

// Sorts a batch into event rows and dead-letter rows. A message on an event
// topic that does not decode, or whose event_id is not a UUID, becomes a
// dead-letter row (consumer "audit"), so the trail loses nothing.
Rows RowsFromBatch(std::span<const InMessage> batch, const std::string& deadletter_topic,
                   const std::string& now_rfc3339);

// The row as the event is, with NUL characters made storable: PostgreSQL's
// text and jsonb refuse NUL, so text columns get U+FFFD and the JSON's
// \u0000 escapes become \ufffd. The payload column keeps the original bytes.
AuditRow RowFromEvent(const v1::Event& e, const InMessage& raw);
std::string JsonWithoutNul(const std::string& json);
void SanitizeForPostgres(AuditRow& r);
void SanitizeForPostgres(DeadLetterRow& d);
// The dead-letter row for an event row PostgreSQL refused (consumer "audit").
DeadLetterRow DeadLetterFromRow(const AuditRow& r, const std::string& reason,
                                const std::string& now_rfc3339);
std::string Rfc3339(const google::protobuf::Timestamp& ts);
int64_t Micros(const google::protobuf::Timestamp& ts);

}  // namespace kubemend::audit
