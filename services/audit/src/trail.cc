#include "trail.h"

#include <google/protobuf/util/json_util.h>

#include <pqxx/pqxx>

#include <algorithm>

#include "kubemend/common/events.h"

namespace kubemend::audit {
namespace {

int64_t MicrosOf(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000000 + ts.nanos() / 1000;
}

void SetMicros(google::protobuf::Timestamp* ts, int64_t us) {
  int64_t secs = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  ts->set_seconds(secs);
  ts->set_nanos(static_cast<int32_t>(frac * 1000));
}

int32_t Limit(int32_t asked, int32_t dflt, int32_t max) {
  if (asked <= 0) {
    return dflt;
  }
  return std::min(asked, max);
}

std::string Us(const std::string& col) {
  return "(extract(epoch FROM " + col + ") * 1000000)::bigint";
}

const std::string kRecordColumns =
    "seq, event_id::text, event_type, " + Us("occurred_at") + ", " + Us("ingested_at") +
    ", producer_service, incident_id, target_cluster, target_namespace, target_kind, "
    "target_name, target_container, signal_name, action_type, verdict, rule, outcome_status, "
    "policy_name, encode(row_hash, 'hex'), payload";

std::string Summary(const v1::AuditRecord& r) {
  if (r.event_type() == "signal") {
    return r.signal_name() + " " +
           (r.event().signal().status() == v1::SIGNAL_STATUS_RESOLVED ? "resolved" : "firing");
  }
  if (r.event_type() == "proposal") {
    return "propose " + r.action_type() + " (policy " + r.policy_name() + ")";
  }
  if (r.event_type() == "decision") {
    return r.verdict() + " " + r.action_type() + " by " + r.rule() +
           (r.event().decision().approver().empty() ? ""
                                                     : " (" + r.event().decision().approver() + ")");
  }
  if (r.event_type() == "outcome") {
    return r.action_type() + " " + r.outcome_status();
  }
  const auto& c = r.event().control();
  std::string what = "control";
  switch (c.command_case()) {
    case v1::Control::kPause: what = "pause"; break;
    case v1::Control::kResume: what = "resume"; break;
    case v1::Control::kSetMode: what = "set mode " + ModeName(c.set_mode().mode()); break;
    case v1::Control::kApproval:
      what = std::string(c.approval().approve() ? "approve " : "deny ") + c.approval().proposal_id();
      break;
    case v1::Control::kRollback: what = "rollback " + c.rollback().action_id(); break;
    case v1::Control::kBreakerOpened: what = "circuit breaker opened"; break;
    case v1::Control::kPolicyChange:
      what = "policy " + c.policy_change().change() + " " + c.policy_change().policy().name();
      break;
    default: break;
  }
  return what + " by " + c.issued_by() +
         (c.client_note().empty() ? "" : " (client note, unverified: " + c.client_note() + ")") +
         (c.reason().empty() ? "" : ": " + c.reason());
}

v1::AuditRecord RecordFromRow(const pqxx::row& row) {
  v1::AuditRecord r;
  r.set_seq(row[0].as<int64_t>());
  r.set_event_id(row[1].as<std::string>());
  r.set_event_type(row[2].as<std::string>());
  SetMicros(r.mutable_occurred_at(), row[3].as<int64_t>());
  SetMicros(r.mutable_ingested_at(), row[4].as<int64_t>());
  r.set_producer_service(row[5].as<std::string>());
  r.set_incident_id(row[6].as<std::string>());
  auto* t = r.mutable_target();
  t->set_cluster(row[7].as<std::string>());
  t->set_namespace_(row[8].as<std::string>());
  t->set_kind(row[9].as<std::string>());
  t->set_name(row[10].as<std::string>());
  t->set_container(row[11].as<std::string>());
  r.set_signal_name(row[12].as<std::string>());
  r.set_action_type(row[13].as<std::string>());
  r.set_verdict(row[14].as<std::string>());
  r.set_rule(row[15].as<std::string>());
  r.set_outcome_status(row[16].as<std::string>());
  r.set_policy_name(row[17].as<std::string>());
  r.set_row_hash(row[18].as<std::string>());
  (void)r.mutable_event()->ParseFromString(pqxx::binarystring(row[19]).str());
  r.set_summary(Summary(r));
  return r;
}

const std::string kIncidentColumns =
    "incident_id, " + Us("first_seen") + ", " + Us("last_seen") +
    ", target_namespace, target_kind, target_name, array_to_string(signals, ','), "
    "coalesce(last_action, ''), coalesce(verdict, ''), coalesce(outcome, ''), status, events, closed_as, "
    "absorbed, why_not";

v1::Incident IncidentFromRow(const pqxx::row& row) {
  v1::Incident i;
  i.set_incident_id(row[0].as<std::string>());
  SetMicros(i.mutable_first_seen(), row[1].as<int64_t>());
  SetMicros(i.mutable_last_seen(), row[2].as<int64_t>());
  i.mutable_target()->set_namespace_(row[3].as<std::string>());
  i.mutable_target()->set_kind(row[4].as<std::string>());
  i.mutable_target()->set_name(row[5].as<std::string>());
  std::string sigs = row[6].as<std::string>();
  size_t pos = 0;
  while (!sigs.empty() && pos <= sigs.size()) {
    size_t comma = sigs.find(',', pos);
    i.add_signals(sigs.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) {
      break;
    }
    pos = comma + 1;
  }
  i.set_last_action(row[7].as<std::string>());
  i.set_verdict(row[8].as<std::string>());
  i.set_outcome(row[9].as<std::string>());
  i.set_status(row[10].as<std::string>());
  i.set_events(row[11].as<int64_t>());
  i.set_closed_as(row[12].as<std::string>());
  i.set_absorbed(row[13].as<int64_t>());
  i.set_why_not(row[14].as<std::string>());
  return i;
}

}  // namespace

TrailReader::TrailReader(std::string dsn, std::string reader_role)
    : dsn_(std::move(dsn)), role_(std::move(reader_role)) {}

TrailReader::~TrailReader() {
  if (conn_) {
    conn_->disconnect();
  }
}

absl::Status TrailReader::Connect() {
  if (conn_ && conn_->is_open()) {
    return absl::OkStatus();
  }
  try {
    conn_ = std::make_unique<pqxx::connection>(dsn_);
    if (!role_.empty()) {
      pqxx::nontransaction n(*conn_);
      n.exec("SET ROLE " + n.quote_name(role_));
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    conn_.reset();
    return absl::UnavailableError(std::string("postgres: ") + e.what());
  }
}

template <class F>
auto TrailReader::Run(F&& f) -> decltype(f()) {
  if (auto st = Connect(); !st.ok()) {
    return st;
  }
  try {
    return f();
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    return absl::UnavailableError(std::string("postgres connection lost: ") + e.what());
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("trail query failed: ") + e.what());
  }
}

absl::StatusOr<v1::ListIncidentsResponse> TrailReader::ListIncidents(
    const v1::ListIncidentsRequest& req) {
  return Run([&]() -> absl::StatusOr<v1::ListIncidentsResponse> {
    pqxx::read_transaction w(*conn_);
    v1::ListIncidentsResponse out;
    auto rows = w.exec_params(
        "SELECT " + kIncidentColumns +
            // An incident merged into another is listed as that one (its signals
            // are there); `--status merged` still shows them.
            " FROM incidents WHERE ($1 = '' OR target_namespace = $1)"
            " AND (($2 = '' AND status <> 'merged') OR status = $2)"
            " AND ($3::bigint = 0 OR first_seen >= to_timestamp($3::bigint / 1000000.0))"
            " ORDER BY first_seen DESC, incident_id LIMIT $4",
        req.namespace_(), req.status(), req.has_since() ? MicrosOf(req.since()) : 0,
        Limit(req.limit(), 50, 1000));
    for (const auto& row : rows) {
      *out.add_incidents() = IncidentFromRow(row);
    }
    return out;
  });
}

absl::StatusOr<v1::GetIncidentTimelineResponse> TrailReader::Timeline(
    const std::string& incident_id) {
  return Run([&]() -> absl::StatusOr<v1::GetIncidentTimelineResponse> {
    pqxx::read_transaction w(*conn_);
    v1::GetIncidentTimelineResponse out;
    auto inc = w.exec_params("SELECT " + kIncidentColumns + " FROM incidents WHERE incident_id = $1",
                             incident_id);
    if (inc.empty()) {
      // A signal's own (provisional) incident id whose signal the analyzer
      // absorbed into one of its incidents: that incident's timeline.
      auto moved = w.exec_params(
          "SELECT m.incident_id FROM audit_events a JOIN incident_signal_map m ON m.signal_id = "
          "a.event_id WHERE a.incident_id = $1 AND a.event_type = 'signal' ORDER BY a.seq LIMIT 1",
          incident_id);
      if (!moved.empty()) {
        inc = w.exec_params("SELECT " + kIncidentColumns + " FROM incidents WHERE incident_id = $1",
                            moved[0][0].as<std::string>());
      }
    }
    if (inc.empty()) {
      return absl::NotFoundError("no incident " + incident_id + " in the trail");
    }
    const std::string id = inc[0][0].as<std::string>();
    *out.mutable_incident() = IncidentFromRow(inc[0]);
    // Its own rows and the signals the analyzer absorbed into it.
    for (const auto& row : w.exec_params(
             "SELECT " + kRecordColumns +
                 " FROM audit_events WHERE incident_id = $1 OR event_id IN "
                 "(SELECT signal_id FROM incident_signal_map WHERE incident_id = $1) ORDER BY seq",
             id)) {
      *out.add_records() = RecordFromRow(row);
    }
    return out;
  });
}

absl::StatusOr<v1::ListActionsResponse> TrailReader::ListActions(const v1::ListActionsRequest& req) {
  return Run([&]() -> absl::StatusOr<v1::ListActionsResponse> {
    pqxx::read_transaction w(*conn_);
    v1::ListActionsResponse out;
    auto rows = w.exec_params(
        "SELECT seq, " + Us("occurred_at") +
            ", incident_id, coalesce(action_id, ''), target_cluster, target_namespace, "
            "target_kind, target_name, action_type, outcome, coalesce(verdict, ''), "
            "coalesce(rule, ''), approver, reason, changes::text, verified_healthy, error, "
            "policy_name FROM actions WHERE ($1 = '' OR target_namespace = $1) AND "
            "($2 = '' OR incident_id = $2) AND ($3 = '' OR outcome = $3) AND "
            "($4::bigint = 0 OR occurred_at >= to_timestamp($4::bigint / 1000000.0)) ORDER BY seq DESC LIMIT $5",
        req.namespace_(), req.incident_id(), req.outcome(),
        req.has_since() ? MicrosOf(req.since()) : 0, Limit(req.limit(), 50, 1000));
    for (const auto& row : rows) {
      auto* a = out.add_actions();
      a->set_seq(row[0].as<int64_t>());
      SetMicros(a->mutable_occurred_at(), row[1].as<int64_t>());
      a->set_incident_id(row[2].as<std::string>());
      a->set_action_id(row[3].as<std::string>());
      a->mutable_target()->set_cluster(row[4].as<std::string>());
      a->mutable_target()->set_namespace_(row[5].as<std::string>());
      a->mutable_target()->set_kind(row[6].as<std::string>());
      a->mutable_target()->set_name(row[7].as<std::string>());
      a->set_action_type(row[8].as<std::string>());
      a->set_outcome(row[9].as<std::string>());
      a->set_verdict(row[10].as<std::string>());
      a->set_rule(row[11].as<std::string>());
      a->set_approver(row[12].as<std::string>());
      a->set_reason(row[13].as<std::string>());
      // The changes as stored: decode them through the outcome message's JSON form.
      v1::ActionOutcome changes;
      std::string json = "{\"changes\":" + row[14].as<std::string>() + "}";
      if (google::protobuf::util::JsonStringToMessage(json, &changes).ok()) {
        *a->mutable_changes() = changes.changes();
      }
      a->set_verified_healthy(row[15].as<bool>());
      a->set_error(row[16].as<std::string>());
      a->set_policy_name(row[17].as<std::string>());
    }
    return out;
  });
}

absl::StatusOr<v1::QueryEventsResponse> TrailReader::Query(const v1::QueryEventsRequest& req) {
  return Run([&]() -> absl::StatusOr<v1::QueryEventsResponse> {
    pqxx::read_transaction w(*conn_);
    v1::QueryEventsResponse out;
    auto rows = w.exec_params(
        "SELECT " + kRecordColumns +
            " FROM audit_events WHERE ($1 = '' OR target_namespace = $1) AND "
            "($2 = '' OR target_kind = $2) AND ($3 = '' OR target_name = $3) AND "
            "($4 = '' OR event_type = $4) AND ($5 = '' OR incident_id = $5) AND "
            "($6::bigint = 0 OR occurred_at >= to_timestamp($6::bigint / 1000000.0)) AND "
            "($7::bigint = 0 OR occurred_at < to_timestamp($7::bigint / 1000000.0)) AND seq > $8::bigint "
            "ORDER BY seq LIMIT $9",
        req.namespace_(), req.kind(), req.name(), req.event_type(), req.incident_id(),
        req.has_since() ? MicrosOf(req.since()) : 0, req.has_until() ? MicrosOf(req.until()) : 0,
        req.after_seq(), Limit(req.limit(), 100, 5000));
    for (const auto& row : rows) {
      *out.add_records() = RecordFromRow(row);
    }
    return out;
  });
}

absl::StatusOr<v1::VerifyChainResponse> TrailReader::Verify() {
  return Run([&]() -> absl::StatusOr<v1::VerifyChainResponse> {
    pqxx::read_transaction w(*conn_);
    auto r = w.exec1(
        "SELECT ok, checked, coalesce(bad_seq, 0), coalesce(bad_event_id::text, ''), "
        "coalesce(problem, ''), coalesce(head_seq, 0), coalesce(head_hash, '') "
        "FROM audit_verify_chain()");
    v1::VerifyChainResponse out;
    out.set_ok(r[0].as<bool>());
    out.set_checked(r[1].as<int64_t>());
    out.set_bad_seq(r[2].as<int64_t>());
    out.set_bad_event_id(r[3].as<std::string>());
    out.set_problem(r[4].as<std::string>());
    out.set_head_seq(r[5].as<int64_t>());
    out.set_head_hash(r[6].as<std::string>());
    return out;
  });
}

absl::StatusOr<int64_t> TrailReader::HeadSeq() {
  return Run([&]() -> absl::StatusOr<int64_t> {
    pqxx::read_transaction w(*conn_);
    return w.exec1("SELECT coalesce(max(seq), 0) FROM audit_events")[0].as<int64_t>();
  });
}

}  // namespace kubemend::audit
