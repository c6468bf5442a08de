#pragma once
// The hash chain of the audit trail. Pure: no database, no clock.
//
// Every row carries row_hash = SHA-256(canonical content), and the canonical
// content starts with the row's seq and the previous row's hash, so changing,
// removing or reordering any row breaks every hash after it. The byte layout
// is mirrored by audit_row_canonical() in migrations/001_audit_trail.sql so
// that the chain can be verified in SQL alone; the two must never diverge
// (chain_test.cc pins a known hash, the integration test compares them).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rows.h"

namespace kubemend::audit {

// The first row's prev_hash: 32 zero bytes.
std::string GenesisHash();

// Where the chain ends: the last row's seq, hash and ingestion time (or the
// genesis/anchor values when nothing is attached).
struct ChainHead {
  int64_t seq = 0;
  std::string hash = GenesisHash();
  int64_t ingested_us = 0;
};

// The bytes that are hashed for `row` (its seq, prev_hash and ingested_us set).
std::string CanonicalContent(const AuditRow& row);
std::string Sha256(std::string_view bytes);

// Chains one row after `head` (whose ingested_us is the batch's ingestion
// time, see below) and advances `head` to it.
void ChainRow(AuditRow& row, ChainHead& head);

// Gives `rows` consecutive seqs after `head`, the ingestion time
// max(now_us, head.ingested_us) (never backwards, so partitions hold
// contiguous stretches), and their hashes. Returns the new head.
ChainHead ChainRows(std::vector<AuditRow*>& rows, const ChainHead& head, int64_t now_us);

// A UUID in PostgreSQL's text form (lowercase, 8-4-4-4-12), or nullopt when
// `text` is not a UUID (with or without braces and hyphens).
std::optional<std::string> CanonicalUuid(std::string_view text);

// "YYYY-MM-DD HH:MM:SS.uuuuuu+00" for COPY.
std::string TimestampFromMicros(int64_t us);

}  // namespace kubemend::audit
