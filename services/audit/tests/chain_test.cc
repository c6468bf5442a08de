#include "chain.h"

#include <gtest/gtest.h>

#include "kubemend/common/ids.h"

namespace kubemend::audit {
namespace {

AuditRow Row(const std::string& id) {
  AuditRow r;
  r.event_id = id;
  r.event_type = "signal";
  r.occurred_us = 1767225600000000;
  r.recorded_us = 1767225600000001;
  r.producer_service = "collector";
  r.target_namespace = "shop";
  r.kafka_topic = "kubemend.signals";
  r.kafka_offset = 7;
  r.payload = std::string("\x08\x01\x00\xff", 4);
  return r;
}

TEST(AuditChainTest, RowsGetConsecutiveSeqsLinkedByHash) {
  AuditRow a = Row("00000000-0000-0000-0000-000000000001");
  AuditRow b = Row("00000000-0000-0000-0000-000000000002");
  std::vector<AuditRow*> rows = {&a, &b};
  ChainHead head = ChainRows(rows, ChainHead{}, 1767225600123456);
  EXPECT_EQ(a.seq, 1);
  EXPECT_EQ(b.seq, 2);
  EXPECT_EQ(a.prev_hash, GenesisHash());
  EXPECT_EQ(b.prev_hash, a.row_hash);
  EXPECT_EQ(head.hash, b.row_hash);
  EXPECT_EQ(head.seq, 2);
  EXPECT_EQ(a.row_hash, Sha256(CanonicalContent(a)));
  EXPECT_EQ(a.row_hash.size(), 32u);
}

TEST(AuditChainTest, IngestionTimeNeverGoesBackwards) {
  AuditRow a = Row("00000000-0000-0000-0000-000000000001");
  std::vector<AuditRow*> rows = {&a};
  ChainHead prev;
  prev.ingested_us = 2000;
  ChainHead head = ChainRows(rows, prev, 1000);
  EXPECT_EQ(a.ingested_us, 2000);
  EXPECT_EQ(head.ingested_us, 2000);
}

TEST(AuditChainTest, EveryHashedFieldChangesTheHash) {
  AuditRow base = Row("00000000-0000-0000-0000-000000000001");
  std::vector<AuditRow*> rows = {&base};
  ChainRows(rows, ChainHead{}, 5);
  auto rehash = [](AuditRow r) { return Sha256(CanonicalContent(r)); };
  AuditRow r = base;
  r.target_namespace = "shop2";
  EXPECT_NE(rehash(r), base.row_hash);
  r = base;
  r.payload[3] = 'x';
  EXPECT_NE(rehash(r), base.row_hash);
  r = base;
  r.kafka_offset = 8;
  EXPECT_NE(rehash(r), base.row_hash);
  r = base;
  r.occurred_us += 1;
  EXPECT_NE(rehash(r), base.row_hash);
  // Length prefixes: moving a byte between adjacent fields is a change too.
  r = base;
  r.producer_service = "collecto";
  r.producer_instance = "r" + r.producer_instance;
  EXPECT_NE(rehash(r), base.row_hash);
}

TEST(AuditChainTest, CanonicalLayoutIsPinned) {
  // audit_row_canonical() in migrations/001_audit_trail.sql computes the same
  // bytes; if this value changes, the SQL must change with it (and existing
  // trails stop verifying).
  AuditRow a = Row("00000000-0000-0000-0000-000000000001");
  std::vector<AuditRow*> rows = {&a};
  ChainRows(rows, ChainHead{}, 1767225600123456);
  EXPECT_EQ(HexEncode(a.row_hash), "2279de76c478989c5275b006e08ee28818082fa24492079c43525f032dccded5");
}

TEST(AuditChainTest, UuidsAreNormalisedToPostgresTextForm) {
  EXPECT_EQ(CanonicalUuid("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}").value(),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_EQ(CanonicalUuid("a0eebc999c0b4ef8bb6d6bb9bd380a11").value(),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_FALSE(CanonicalUuid("not-a-uuid").has_value());
  EXPECT_FALSE(CanonicalUuid("a0eebc999c0b4ef8bb6d6bb9bd380a1").has_value());
}

TEST(AuditChainTest, MicrosFormatForCopy) {
  EXPECT_EQ(TimestampFromMicros(1767225600123456), "2026-01-01 00:00:00.123456+00");
  EXPECT_EQ(TimestampFromMicros(0), "1970-01-01 00:00:00.000000+00");
}

}  // namespace
}  // namespace kubemend::audit
