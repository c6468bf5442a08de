#include "ingest.h"

#include "kubemend/common/log.h"

namespace kubemend::audit {

absl::StatusOr<IngestResult> AppendOrDeadLetter(AuditStore& store, Rows rows,
                                                const std::string& now_rfc3339) {
  IngestResult res;
  absl::Status st = store.Append(rows);
  if (st.ok()) {
    res.events = rows.events.size();
    res.dead_letters = rows.dead_letters.size();
    return res;
  }
  if (st.code() != absl::StatusCode::kInvalidArgument) {
    return st;
  }
  // Row by row, in order, so the chain keeps the batch's order.
  auto log = Logger("audit");
  log->warn("msg=\"postgres refused a batch, retrying row by row\" rows={} error={}",
            rows.events.size() + rows.dead_letters.size(), Q(std::string(st.message())));
  Rows refused;
  for (auto& row : rows.events) {
    Rows one;
    one.events.push_back(row);
    st = store.Append(one);
    if (st.ok()) {
      res.events++;
      continue;
    }
    if (st.code() != absl::StatusCode::kInvalidArgument) {
      return st;  // transient: the whole batch is retried (appends are idempotent)
    }
    log->error("msg=\"postgres refused a row; dead-lettered\" event_id={} topic={} partition={} "
               "offset={} error={}",
               row.event_id, row.kafka_topic, row.kafka_partition, row.kafka_offset,
               Q(std::string(st.message())));
    refused.dead_letters.push_back(DeadLetterFromRow(
        row, "postgres refused the row: " + std::string(st.message()), now_rfc3339));
    res.refused++;
  }
  for (auto& d : rows.dead_letters) {
    refused.dead_letters.push_back(std::move(d));
  }
  if (!refused.dead_letters.empty()) {
    st = store.Append(refused);
    if (!st.ok()) {
      return st;
    }
  }
  res.dead_letters = refused.dead_letters.size();
  return res;
}

}  // namespace kubemend::audit
