#pragma once
// Audit rows in PostgreSQL's binary COPY format. Pure: no database.
//
// Binary COPY sends every value as the server stores it: bytea as its raw
// bytes (no hex rendering, no escaping), uuid as 16 bytes, timestamptz as
// microseconds since 2000-01-01 UTC, integers big-endian, jsonb as a version
// byte and the JSON text. The text format makes the client escape and the
// server parse every one of those; the rows read back the same either way
// (store_pgtest.cc compares them column by column).
//
// A stream is: the header, any number of tuples, the trailer. The column
// order of a tuple is kEventColumns (which the COPY statement names).
#include <string>

#include "rows.h"

namespace kubemend::audit {

// The audit_events columns a row fills, in COPY order.
extern const char kEventColumns[];

// The 19-byte signature, flags and header extension that open a stream.
void AppendBinaryCopyHeader(std::string& out);
// One audit_events tuple for a chained row (seq, ingested_us and hashes
// set). event_id must be a canonical UUID (RowsFromBatch guarantees it).
void AppendBinaryEventTuple(std::string& out, const AuditRow& row);
// One audit_event_ids tuple: the event id (canonical UUID) as 16 bytes.
void AppendBinaryIdTuple(std::string& out, const std::string& event_id);
// The end-of-data marker.
void AppendBinaryCopyTrailer(std::string& out);

// Microseconds since the Unix epoch as PostgreSQL's timestamptz (since 2000).
int64_t PgTimestampFromUnixMicros(int64_t us);

}  // namespace kubemend::audit
