#include "binary_copy.h"

#include <cstring>

namespace kubemend::audit {

const char kEventColumns[] =
    "seq, event_id, event_type, occurred_at, recorded_at, ingested_at, producer_service, "
    "producer_instance, incident_id, causation_id, trace_id, target_cluster, target_namespace, "
    "target_kind, target_name, target_container, signal_name, action_type, verdict, rule, "
    "outcome_status, policy_name, kafka_topic, kafka_partition, kafka_offset, payload, "
    "payload_json, prev_hash, row_hash";

namespace {

constexpr int16_t kEventFieldCount = 29;
// 2000-01-01 00:00:00 UTC in microseconds since the Unix epoch.
constexpr int64_t kPgEpochUnixMicros = 946684800LL * 1000000LL;
constexpr char kJsonbVersion = 1;

void PutBE(std::string& out, uint64_t v, int bytes) {
  char buf[8];
  for (int i = 0; i < bytes; ++i) {
    buf[i] = static_cast<char>((v >> (8 * (bytes - 1 - i))) & 0xff);
  }
  out.append(buf, static_cast<size_t>(bytes));
}

void PutI16(std::string& out, int16_t v) { PutBE(out, static_cast<uint16_t>(v), 2); }
void PutI32(std::string& out, int32_t v) { PutBE(out, static_cast<uint32_t>(v), 4); }
void PutI64(std::string& out, int64_t v) { PutBE(out, static_cast<uint64_t>(v), 8); }

// A field: its length, then its bytes.
void Field(std::string& out, std::string_view bytes) {
  PutI32(out, static_cast<int32_t>(bytes.size()));
  out.append(bytes);
}

void Int32Field(std::string& out, int32_t v) {
  PutI32(out, 4);
  PutI32(out, v);
}

void Int64Field(std::string& out, int64_t v) {
  PutI32(out, 8);
  PutI64(out, v);
}

void TimestampField(std::string& out, int64_t unix_us) {
  Int64Field(out, PgTimestampFromUnixMicros(unix_us));
}

int Nibble(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return c - 'A' + 10;  // canonical UUIDs are lowercase; accept either
}

// "8-4-4-4-12" hex as the 16 bytes uuid_recv reads.
void UuidField(std::string& out, const std::string& text) {
  PutI32(out, 16);
  char bytes[16];
  size_t n = 0;
  for (size_t i = 0; i + 1 < text.size() && n < sizeof bytes; ++i) {
    if (text[i] == '-') {
      continue;
    }
    bytes[n++] = static_cast<char>(Nibble(text[i]) << 4 | Nibble(text[i + 1]));
    ++i;
  }
  std::memset(bytes + n, 0, sizeof bytes - n);  // unreachable for a canonical UUID
  out.append(bytes, sizeof bytes);
}

void JsonbField(std::string& out, const std::string& json) {
  PutI32(out, static_cast<int32_t>(json.size() + 1));
  out.push_back(kJsonbVersion);
  out.append(json);
}

}  // namespace

int64_t PgTimestampFromUnixMicros(int64_t us) { return us - kPgEpochUnixMicros; }

void AppendBinaryCopyHeader(std::string& out) {
  static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // + its terminating NUL: 11 bytes
  out.append(kSignature, sizeof kSignature);
  PutI32(out, 0);  // flags: no OIDs
  PutI32(out, 0);  // header extension length
}

void AppendBinaryEventTuple(std::string& out, const AuditRow& r) {
  PutI16(out, kEventFieldCount);
  Int64Field(out, r.seq);
  UuidField(out, r.event_id);
  Field(out, r.event_type);
  TimestampField(out, r.occurred_us);
  TimestampField(out, r.recorded_us);
  TimestampField(out, r.ingested_us);
  for (const std::string* s : TextColumns(r)) {
    Field(out, *s);
  }
  Int32Field(out, r.kafka_partition);
  Int64Field(out, r.kafka_offset);
  Field(out, r.payload);
  JsonbField(out, r.payload_json);
  Field(out, r.prev_hash);
  Field(out, r.row_hash);
}

void AppendBinaryIdTuple(std::string& out, const std::string& event_id) {
  PutI16(out, 1);
  UuidField(out, event_id);
}

void AppendBinaryCopyTrailer(std::string& out) { PutI16(out, -1); }

}  // namespace kubemend::audit
