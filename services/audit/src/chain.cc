#include "chain.h"

#include <openssl/sha.h>

#include <algorithm>
#include <ctime>

namespace kubemend::audit {
namespace {

void PutU32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

void PutI64(std::string& out, int64_t v) {
  auto u = static_cast<uint64_t>(v);
  for (int i = 7; i >= 0; --i) {
    out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
}

void PutBytes(std::string& out, std::string_view b) {
  PutU32(out, static_cast<uint32_t>(b.size()));
  out.append(b);
}

}  // namespace

std::string GenesisHash() { return std::string(32, '\0'); }

std::string Sha256(std::string_view bytes) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md);
  return std::string(reinterpret_cast<const char*>(md), sizeof md);
}

std::string CanonicalContent(const AuditRow& r) {
  std::string out;
  out.reserve(256 + r.payload.size());
  PutI64(out, r.seq);
  PutBytes(out, r.prev_hash);
  PutBytes(out, r.event_id);
  PutBytes(out, r.event_type);
  PutI64(out, r.occurred_us);
  PutI64(out, r.recorded_us);
  PutI64(out, r.ingested_us);
  for (const std::string* s : TextColumns(r)) {
    PutBytes(out, *s);
  }
  PutU32(out, static_cast<uint32_t>(r.kafka_partition));
  PutI64(out, r.kafka_offset);
  PutBytes(out, r.payload);
  return out;
}

void ChainRow(AuditRow& r, ChainHead& h) {
  r.seq = ++h.seq;
  r.prev_hash = h.hash;
  r.ingested_us = h.ingested_us;
  r.row_hash = Sha256(CanonicalContent(r));
  h.hash = r.row_hash;
}

ChainHead ChainRows(std::vector<AuditRow*>& rows, const ChainHead& head, int64_t now_us) {
  ChainHead h = head;
  h.ingested_us = std::max(now_us, head.ingested_us);
  for (AuditRow* r : rows) {
    ChainRow(*r, h);
  }
  return h;
}

std::optional<std::string> CanonicalUuid(std::string_view text) {
  if (text.size() >= 2 && text.front() == '{' && text.back() == '}') {
    text = text.substr(1, text.size() - 2);
  }
  std::string hex;
  for (char c : text) {
    if (c == '-') {
      continue;
    }
    if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return std::nullopt;
    }
    hex.push_back(c);
  }
  if (hex.size() != 32) {
    return std::nullopt;
  }
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::string TimestampFromMicros(int64_t us) {
  int64_t secs = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%06lld+00", buf, static_cast<long long>(frac));
  return out;
}

}  // namespace kubemend::audit
