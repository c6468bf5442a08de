#include "binary_copy.h"

#include <gtest/gtest.h>

namespace kubemend::audit {
namespace {

std::string Hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

TEST(BinaryCopyTest, StreamOpensWithPostgresSignatureAndEndsWithMinusOne) {
  std::string out;
  AppendBinaryCopyHeader(out);
  EXPECT_EQ(Hex(out), "5047434f50590aff0d0a00" "00000000" "00000000");
  out.clear();
  AppendBinaryCopyTrailer(out);
  EXPECT_EQ(Hex(out), "ffff");
}

TEST(BinaryCopyTest, TupleCarriesEachColumnAsTheServerStoresIt) {
  AuditRow r;
  r.seq = 258;
  r.event_id = "01234567-89ab-cdef-0123-456789abcdef";
  r.event_type = "signal";
  r.occurred_us = 946684800000001;  // 2000-01-01 00:00:00.000001: PostgreSQL's 1
  r.recorded_us = 0;                // 1970: before PostgreSQL's epoch
  r.ingested_us = 946684800000000;
  r.kafka_partition = 3;
  r.kafka_offset = 7;
  r.payload = std::string("\0\xff", 2);
  r.payload_json = "{}";
  r.prev_hash = std::string(32, '\0');
  r.row_hash = std::string(32, '\x01');
  std::string out;
  AppendBinaryEventTuple(out, r);
  std::string h = Hex(out);
  size_t at = 0;
  auto take = [&](size_t bytes) {
    std::string s = h.substr(at, bytes * 2);
    at += bytes * 2;
    return s;
  };
  // A field: its 4-byte length, then that many bytes (taken in that order).
  auto field = [&](size_t bytes) {
    std::string len = take(4);
    return len + take(bytes);
  };
  EXPECT_EQ(take(2), "001d") << "29 columns";
  EXPECT_EQ(field(8), "00000008" "0000000000000102") << "seq";
  EXPECT_EQ(field(16), "00000010" "0123456789abcdef0123456789abcdef") << "uuid";
  EXPECT_EQ(field(6), "00000006" + Hex("signal"));
  EXPECT_EQ(field(8), "00000008" "0000000000000001") << "occurred_at";
  EXPECT_EQ(field(8), "00000008" "fffca2fec4c82000") << "recorded_at, 1970";
  EXPECT_EQ(field(8), "00000008" "0000000000000000") << "ingested_at";
  for (int i = 0; i < 17; ++i) {
    EXPECT_EQ(take(4), "00000000") << "empty text column " << i << " is '' (length 0), not NULL (-1)";
  }
  EXPECT_EQ(field(4), "00000004" "00000003") << "kafka_partition";
  EXPECT_EQ(field(8), "00000008" "0000000000000007") << "kafka_offset";
  EXPECT_EQ(field(2), "00000002" "00ff") << "payload: raw bytes";
  EXPECT_EQ(field(3), "00000003" "01" + Hex("{}")) << "jsonb: version 1, then the text";
  EXPECT_EQ(field(32), "00000020" + std::string(64, '0'));
  EXPECT_EQ(field(32), "00000020" + Hex(std::string(32, '\x01')));
  EXPECT_EQ(at, h.size()) << "nothing after the last column";
}

}  // namespace
}  // namespace kubemend::audit
