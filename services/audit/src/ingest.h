#pragma once
// The audit's consume path: one batch of rows into the store, losing nothing.
//
// A batch PostgreSQL refuses for its data (a row it cannot store: SQLSTATE
// class 22 or 23, surfaced by the store as InvalidArgument) is retried row by
// row; each row still refused is stored as a dead letter (consumer "audit")
// with PostgreSQL's own message as the reason, and the rest of the batch is
// appended. One bad row never stalls the trail. Any other error (PostgreSQL
// down, commit in doubt) is returned for the caller to retry the batch.
#include <absl/status/statusor.h>

#include "rows.h"
#include "store.h"

namespace kubemend::audit {

struct IngestResult {
  size_t events = 0;        // event rows handed to the store (new or already there)
  size_t dead_letters = 0;  // dead-letter rows, including refused rows
  size_t refused = 0;       // event rows PostgreSQL refused, now dead letters
};

absl::StatusOr<IngestResult> AppendOrDeadLetter(AuditStore& store, Rows rows,
                                                const std::string& now_rfc3339);

}  // namespace kubemend::audit
