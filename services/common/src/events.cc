#include "kubemend/common/events.h"

#include <cstring>
#include <ctime>

#include "kubemend/common/ids.h"
#include "kubemend/common/log.h"

namespace kubemend {

void SetTimestamp(google::protobuf::Timestamp* ts, TimePoint t) {
  int64_t ms = ToUnixMillis(t);
  ts->set_seconds(ms / 1000);
  ts->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
}

TimePoint FromTimestamp(const google::protobuf::Timestamp& ts) {
  return TimePoint(Millis(ts.seconds() * 1000 + ts.nanos() / 1000000));
}

namespace {

void FillProducer(v1::Event* e, const ProducerIdentity& who) {
  e->mutable_producer()->set_service(who.service);
  e->mutable_producer()->set_instance(who.instance);
  e->mutable_producer()->set_version(who.version);
}

v1::Event::PayloadCase PayloadFor(v1::EventType t) {
  switch (t) {
    case v1::EVENT_TYPE_SIGNAL:
      return v1::Event::kSignal;
    case v1::EVENT_TYPE_PROPOSAL:
      return v1::Event::kProposal;
    case v1::EVENT_TYPE_DECISION:
      return v1::Event::kDecision;
    case v1::EVENT_TYPE_OUTCOME:
      return v1::Event::kOutcome;
    case v1::EVENT_TYPE_CONTROL:
      return v1::Event::kControl;
    default:
      return v1::Event::PAYLOAD_NOT_SET;
  }
}

}  // namespace

v1::Event NewRootEvent(v1::EventType type, const ProducerIdentity& who, const Clock& clock) {
  v1::Event e;
  e.set_event_id(NewUuid());
  e.set_type(type);
  e.set_schema_version(1);
  TimePoint now = clock.Now();
  SetTimestamp(e.mutable_occurred_at(), now);
  SetTimestamp(e.mutable_recorded_at(), now);
  FillProducer(&e, who);
  e.mutable_trace()->set_traceparent(NewTraceparent());
  return e;
}

v1::Event NewCausedEvent(v1::EventType type, const v1::Event& cause, const std::string& purpose,
                         const ProducerIdentity& who, const Clock& clock) {
  v1::Event e;
  e.set_event_id(DerivedUuid(cause.event_id(), purpose));
  e.set_type(type);
  e.set_schema_version(1);
  TimePoint now = clock.Now();
  SetTimestamp(e.mutable_occurred_at(), now);
  SetTimestamp(e.mutable_recorded_at(), now);
  FillProducer(&e, who);
  e.set_incident_id(cause.incident_id());
  e.set_causation_id(cause.event_id());
  e.mutable_trace()->set_traceparent(ChildTraceparent(cause.trace().traceparent()));
  e.mutable_trace()->set_tracestate(cause.trace().tracestate());
  *e.mutable_target() = cause.target();
  return e;
}

std::string TargetKey(const v1::Target& t) {
  return t.cluster() + "/" + t.namespace_() + "/" + t.kind() + "/" + t.name();
}

std::string PartitionKey(Topic topic, const v1::Target& t) {
  if (topic == Topic::kProposals) {
    // Every proposal about one namespace goes to one partition, hence to one
    // safety-gate replica: per-target and per-namespace limits stay exact
    // with any number of replicas (docs/safety.md, replicas).
    return t.cluster() + "/" + t.namespace_();
  }
  return TargetKey(t);
}

std::string TargetString(const v1::Target& t) {
  std::string s = t.namespace_().empty() ? "" : t.namespace_() + "/";
  s += t.kind() + "/" + t.name();
  if (!t.container().empty()) {
    s += "[" + t.container() + "]";
  }
  return s;
}

namespace {

// What a decoded event must hold; `topic` nullopt: any event type.
absl::Status CheckEvent(const v1::Event& e, std::optional<Topic> topic) {
  if (e.event_id().empty()) {
    return absl::InvalidArgumentError("event has no event_id");
  }
  if (e.schema_version() != 1) {
    return absl::InvalidArgumentError("unsupported schema_version " +
                                      std::to_string(e.schema_version()) + " (this build reads 1)");
  }
  if (e.payload_case() == v1::Event::PAYLOAD_NOT_SET) {
    return absl::InvalidArgumentError("event " + e.event_id() + " has no payload");
  }
  if (PayloadFor(e.type()) != e.payload_case()) {
    return absl::InvalidArgumentError("event " + e.event_id() + " says type " +
                                      EventTypeName(e.type()) + " but carries another payload");
  }
  if (!topic) {
    return absl::OkStatus();
  }
  v1::EventType want = v1::EVENT_TYPE_UNSPECIFIED;
  switch (*topic) {
    case Topic::kSignals:
      want = v1::EVENT_TYPE_SIGNAL;
      break;
    case Topic::kProposals:
      want = v1::EVENT_TYPE_PROPOSAL;
      break;
    case Topic::kDecisions:
      want = v1::EVENT_TYPE_DECISION;
      break;
    case Topic::kOutcomes:
      want = v1::EVENT_TYPE_OUTCOME;
      break;
    case Topic::kControl:
      want = v1::EVENT_TYPE_CONTROL;
      break;
    case Topic::kDeadLetter:
      return absl::OkStatus();
  }
  if (e.type() != want) {
    return absl::InvalidArgumentError("event " + e.event_id() + " of type " +
                                      EventTypeName(e.type()) + " on the " +
                                      EventTypeName(want) + " topic");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status DecodeEventInto(std::string_view bytes, std::optional<Topic> topic, v1::Event* out) {
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("not a kubemend.v1.Event: protobuf decoding failed (" +
                                      std::to_string(bytes.size()) + " bytes)");
  }
  return CheckEvent(*out, topic);
}

absl::StatusOr<v1::Event> DecodeEvent(const std::string& bytes) {
  v1::Event e;
  if (auto st = DecodeEventInto(bytes, std::nullopt, &e); !st.ok()) {
    return st;
  }
  return e;
}

absl::StatusOr<v1::Event> DecodeEventFor(const std::string& bytes, Topic topic) {
  v1::Event e;
  if (auto st = DecodeEventInto(bytes, topic, &e); !st.ok()) {
    return st;
  }
  return e;
}

std::string EventTypeName(v1::EventType t) {
  switch (t) {
    case v1::EVENT_TYPE_SIGNAL:
      return "signal";
    case v1::EVENT_TYPE_PROPOSAL:
      return "proposal";
    case v1::EVENT_TYPE_DECISION:
      return "decision";
    case v1::EVENT_TYPE_OUTCOME:
      return "outcome";
    case v1::EVENT_TYPE_CONTROL:
      return "control";
    default:
      return "unspecified";
  }
}

namespace {
const std::pair<v1::ActionType, const char*> kActionNames[] = {
    {v1::ACTION_TYPE_RESTART_POD, "RestartPod"},
    {v1::ACTION_TYPE_ROLLOUT_RESTART, "RolloutRestart"},
    {v1::ACTION_TYPE_SCALE_WORKLOAD, "ScaleWorkload"},
    {v1::ACTION_TYPE_INCREASE_MEMORY, "IncreaseMemory"},
    {v1::ACTION_TYPE_ROLLBACK_IMAGE, "RollbackImage"},
    {v1::ACTION_TYPE_CORDON_NODE, "CordonNode"},
    {v1::ACTION_TYPE_UNCORDON_NODE, "UncordonNode"},
    {v1::ACTION_TYPE_DRAIN_NODE, "DrainNode"},
    {v1::ACTION_TYPE_EXPAND_PVC, "ExpandPVC"},
    {v1::ACTION_TYPE_ADJUST_HPA, "AdjustHPA"},
    {v1::ACTION_TYPE_DELETE_COMPLETED_JOBS, "DeleteCompletedJobs"},
    {v1::ACTION_TYPE_NOTIFY, "Notify"},
    {v1::ACTION_TYPE_DELETE_WORKLOAD, "DeleteWorkload"},
    {v1::ACTION_TYPE_CHANGE_RBAC, "ChangeRBAC"},
    {v1::ACTION_TYPE_DELETE_PERSISTENT_VOLUME, "DeletePersistentVolume"},
    {v1::ACTION_TYPE_EVICT_LOW_PRIORITY_PODS, "EvictLowPriorityPods"},
    {v1::ACTION_TYPE_THROTTLE_SCALING, "ThrottleScaling"},
};
const std::pair<v1::Mode, const char*> kModeNames[] = {
    {v1::MODE_MONITOR, "monitor"},     {v1::MODE_DRY_RUN, "dryrun"}, {v1::MODE_AUTOMATIC, "automatic"},
    {v1::MODE_MANUAL, "manual"},       {v1::MODE_LIMITED, "limited"},
};
}  // namespace

std::string ActionTypeName(v1::ActionType t) {
  for (const auto& [k, n] : kActionNames) {
    if (k == t) {
      return n;
    }
  }
  return "Unspecified";
}

bool ParseActionType(const std::string& name, v1::ActionType* out) {
  for (const auto& [k, n] : kActionNames) {
    if (name == n) {
      *out = k;
      return true;
    }
  }
  return false;
}

std::string VerdictName(v1::Verdict v) {
  switch (v) {
    case v1::VERDICT_APPROVED:
      return "approved";
    case v1::VERDICT_REJECTED:
      return "rejected";
    case v1::VERDICT_AWAITING_APPROVAL:
      return "awaiting_approval";
    case v1::VERDICT_EXPIRED:
      return "expired";
    default:
      return "unspecified";
  }
}

std::string OutcomeStatusName(v1::OutcomeStatus s) {
  switch (s) {
    case v1::OUTCOME_STATUS_SUCCEEDED:
      return "succeeded";
    case v1::OUTCOME_STATUS_FAILED:
      return "failed";
    case v1::OUTCOME_STATUS_DRY_RUN:
      return "dry_run";
    case v1::OUTCOME_STATUS_ROLLED_BACK:
      return "rolled_back";
    case v1::OUTCOME_STATUS_NOT_FIXED:
      return "not_fixed";
    case v1::OUTCOME_STATUS_DUPLICATE:
      return "duplicate";
    case v1::OUTCOME_STATUS_SKIPPED:
      return "skipped";
    case v1::OUTCOME_STATUS_REFUSED:
      return "refused";
    case v1::OUTCOME_STATUS_PENDING_MERGE:
      return "pending_merge";
    case v1::OUTCOME_STATUS_CLOSED:
      return "closed";
    default:
      return "unspecified";
  }
}

std::string ModeName(v1::Mode m) {
  for (const auto& [k, n] : kModeNames) {
    if (k == m) {
      return n;
    }
  }
  return "unspecified";
}

bool ParseMode(const std::string& name, v1::Mode* out) {
  for (const auto& [k, n] : kModeNames) {
    if (name == n) {
      *out = k;
      return true;
    }
  }
  if (name == "dry-run") {
    *out = v1::MODE_DRY_RUN;
    return true;
  }
  return false;
}

DeadLetterer::DeadLetterer(Producer* producer, std::string topic, std::string consumer,
                           MetricsRegistry* metrics, const Clock& clock)
    : producer_(producer), topic_(std::move(topic)), consumer_(std::move(consumer)), clock_(clock) {
  if (metrics) {
    metric_ = &metrics->GetCounter("kubemend_dead_lettered_total",
                                   "Messages sent to the dead-letter topic");
  }
}

absl::Status DeadLetterer::Send(const InMessage& msg, const std::string& reason,
                                const std::shared_ptr<DeliveryTracker>& tracker) {
  v1::DeadLetter dl;
  dl.set_source_topic(msg.topic);
  dl.set_partition(msg.partition);
  dl.set_offset(msg.offset);
  dl.set_key(msg.key);
  dl.set_payload(msg.payload);
  dl.set_reason(reason);
  dl.set_consumer(consumer_);
  SetTimestamp(dl.mutable_dead_lettered_at(), clock_.Now());
  Logger("deadletter")
      ->warn("msg=\"dead-lettered\" topic={} partition={} offset={} reason={}", msg.topic,
             msg.partition, msg.offset, Q(reason));
  count_++;
  if (metric_) {
    metric_->Inc();
  }
  return producer_->Produce(topic_, msg.key, dl.SerializeAsString(), tracker,
                            {{"kubemend-reason", reason}, {"kubemend-source-topic", msg.topic}});
}

bool ParseRfc3339(const std::string& s, TimePoint* out) {
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) {
    return false;
  }
  int64_t ms = 0;
  if (*rest == '.') {
    ++rest;
    int digits = 0;
    while (*rest >= '0' && *rest <= '9') {
      if (digits < 3) {
        ms = ms * 10 + (*rest - '0');
      }
      ++digits;
      ++rest;
    }
    for (; digits < 3; ++digits) {
      ms *= 10;
    }
  }
  int64_t offset_s = 0;
  if (*rest == 'Z' || *rest == 'z') {
    ++rest;
  } else if (*rest == '+' || *rest == '-') {
    int sign = *rest == '-' ? -1 : 1;
    // Exactly "+hh:mm": anything shorter must not be read past its end.
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (strlen(rest) < 6 || !digit(rest[1]) || !digit(rest[2]) || rest[3] != ':' || !digit(rest[4]) ||
        !digit(rest[5])) {
      return false;
    }
    int hh = (rest[1] - '0') * 10 + (rest[2] - '0');
    int mm = (rest[4] - '0') * 10 + (rest[5] - '0');
    offset_s = sign * (hh * 3600 + mm * 60);
    rest += 6;
  } else {
    return false;
  }
  if (*rest != '\0') {
    return false;
  }
  int64_t secs = timegm(&tm) - offset_s;
  *out = TimePoint(Millis(secs * 1000 + ms));
  return true;
}

std::string FormatRfc3339(TimePoint t) {
  std::time_t secs = static_cast<std::time_t>(ToUnixMillis(t) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace kubemend
