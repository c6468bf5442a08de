// kubemendctl audit ..., incidents ..., actions list: the trail, through
// kubemend.v1.AuditAdmin on the audit service.
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <ostream>

#include "cli.h"
#include "kubemend/v1/audit_admin.grpc.pb.h"

namespace kubemend::ctl {
namespace {

std::string Json(const google::protobuf::Message& m, bool one_line = false) {
  std::string s;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.add_whitespace = !one_line;
  (void)google::protobuf::util::MessageToJsonString(m, &s, o);
  return s;
}

std::string TargetText(const v1::Target& t) {
  std::string s = t.namespace_().empty() ? "" : t.namespace_() + "/";
  s += t.kind().empty() ? "" : t.kind() + "/";
  s += t.name();
  return s.empty() ? "-" : s;
}

std::string Dash(const std::string& s) { return s.empty() ? "-" : s; }

std::unique_ptr<v1::AuditAdmin::Stub> Stub(Context& ctx, int* code) {
  auto ch = ctx.Channel("audit");
  if (!ch) {
    ctx.err << "kubemendctl: no endpoint for the audit service (--endpoint audit=HOST:PORT, "
               "KUBEMENDCTL_AUDIT_ADDR, or --stack-env)\n";
    *code = kUsage;
    return nullptr;
  }
  return v1::AuditAdmin::NewStub(ch);
}

bool Since(Context& ctx, const Args& a, google::protobuf::Timestamp* ts) {
  if (!a.Has("since")) {
    return true;
  }
  int64_t s = 0;
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  if (!ParseSince(a.Get("since"), now, &s)) {
    ctx.err << "kubemendctl: --since wants a duration (30m, 12h, 7d) or a date (2026-11-01)\n";
    return false;
  }
  ts->set_seconds(s);
  return true;
}

bool Limit(Context& ctx, const Args& a, int32_t* out) {
  if (!a.Has("limit")) {
    return true;
  }
  int64_t n = 0;
  if (!ParseInt64(a.Get("limit"), &n) || n > 100000) {
    ctx.err << "kubemendctl: --limit wants a number, got '" << a.Get("limit") << "'\n";
    return false;
  }
  *out = static_cast<int32_t>(n);
  return true;
}

void PrintRecords(Context& ctx, const google::protobuf::RepeatedPtrField<v1::AuditRecord>& recs) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : recs) {
    rows.push_back({std::to_string(r.seq()), FormatTime(r.occurred_at().seconds()), r.event_type(),
                    TargetText(r.target()), Dash(Abbrev(ctx, r.incident_id(), 8)), r.summary()});
  }
  PrintTable(ctx.out, {"SEQ", "OCCURRED", "TYPE", "TARGET", "INCIDENT", "SUMMARY"}, rows);
}

std::string SignalNames(const v1::Incident& i) {
  std::string sigs;
  for (const auto& s : i.signals()) {
    sigs += (sigs.empty() ? "" : ",") + s;
  }
  return sigs;
}

int IncidentsList(Context& ctx, const Args& a) {
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::ListIncidentsRequest req;
  req.set_namespace_(a.Get("namespace"));
  req.set_status(a.Get("status"));
  int32_t limit = 0;
  if (!Since(ctx, a, req.mutable_since()) || !Limit(ctx, a, &limit)) {
    return kUsage;
  }
  req.set_limit(limit);
  v1::ListIncidentsResponse resp;
  auto c = ctx.Call();
  if (auto st = stub->ListIncidents(c.get(), req, &resp); !st.ok()) {
    return ctx.Fail("incidents list", st);
  }
  if (ctx.json) {
    ctx.out << Json(resp) << "\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& i : resp.incidents()) {
    std::string sigs = SignalNames(i);
    rows.push_back({i.incident_id(), FormatTime(i.first_seen().seconds()), TargetText(i.target()),
                    Dash(sigs), Dash(i.last_action()), Dash(i.verdict()), Dash(i.outcome()),
                    i.status()});
  }
  PrintTable(ctx.out,
             {"INCIDENT", "FIRST SEEN", "TARGET", "SIGNALS", "LAST ACTION", "VERDICT", "OUTCOME",
              "STATUS"},
             rows);
  return kOk;
}

int IncidentsShow(Context& ctx, const Args& a) {
  if (a.positional.size() != 1) {
    ctx.err << "kubemendctl incidents show: want exactly one INCIDENT_ID\n";
    return kUsage;
  }
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::GetIncidentTimelineRequest req;
  req.set_incident_id(a.positional[0]);
  v1::GetIncidentTimelineResponse resp;
  auto c = ctx.Call();
  if (auto st = stub->GetIncidentTimeline(c.get(), req, &resp); !st.ok()) {
    return ctx.Fail("incidents show", st);
  }
  if (ctx.json) {
    ctx.out << Json(resp) << "\n";
    return kOk;
  }
  const auto& i = resp.incident();
  ctx.out << "incident  " << i.incident_id() << "\ntarget    " << TargetText(i.target())
          << "\nstatus    " << i.status() << "\nverdict   " << Dash(i.verdict()) << "\noutcome   "
          << Dash(i.outcome()) << "\nfirst     " << FormatTime(i.first_seen().seconds())
          << "\nlast      " << FormatTime(i.last_seen().seconds()) << "\nsignals   "
          << i.absorbed() << " absorbed (" << Dash(SignalNames(i)) << ")"
          << "\nclosed    " << Dash(i.closed_as()) << "\nwhy not   " << Dash(i.why_not())
          << "\n\n";
  PrintRecords(ctx, resp.records());
  return kOk;
}

int ActionsList(Context& ctx, const Args& a) {
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::ListActionsRequest req;
  req.set_namespace_(a.Get("namespace"));
  req.set_incident_id(a.Get("incident"));
  req.set_outcome(a.Get("outcome"));
  int32_t limit = 0;
  if (!Since(ctx, a, req.mutable_since()) || !Limit(ctx, a, &limit)) {
    return kUsage;
  }
  req.set_limit(limit);
  v1::ListActionsResponse resp;
  auto c = ctx.Call();
  if (auto st = stub->ListActions(c.get(), req, &resp); !st.ok()) {
    return ctx.Fail("actions list", st);
  }
  if (ctx.json) {
    ctx.out << Json(resp) << "\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& x : resp.actions()) {
    std::string changes;
    for (const auto& ch : x.changes()) {
      changes += (changes.empty() ? "" : "; ") + ch.path() + ": " + ch.before() + " -> " + ch.after();
    }
    rows.push_back({FormatTime(x.occurred_at().seconds()), TargetText(x.target()), x.action_type(),
                    x.outcome(), Dash(x.approver()), Dash(changes), Dash(x.reason())});
  }
  PrintTable(ctx.out, {"WHEN", "TARGET", "ACTION", "OUTCOME", "APPROVER", "CHANGES", "REASON"},
             rows);
  return kOk;
}

int AuditQuery(Context& ctx, const Args& a) {
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::QueryEventsRequest req;
  req.set_namespace_(a.Get("namespace"));
  req.set_kind(a.Get("kind"));
  req.set_name(a.Get("name"));
  req.set_event_type(a.Get("type"));
  req.set_incident_id(a.Get("incident"));
  int32_t limit = 0;
  if (!Since(ctx, a, req.mutable_since()) || !Limit(ctx, a, &limit)) {
    return kUsage;
  }
  req.set_limit(limit);
  if (a.Has("after-seq")) {
    int64_t seq = 0;
    if (!ParseInt64(a.Get("after-seq"), &seq)) {
      ctx.err << "kubemendctl audit query: --after-seq wants a sequence number, got '" << a.Get("after-seq") << "'\n";
      return kUsage;
    }
    req.set_after_seq(seq);
  }
  v1::QueryEventsResponse resp;
  auto c = ctx.Call();
  if (auto st = stub->QueryEvents(c.get(), req, &resp); !st.ok()) {
    return ctx.Fail("audit query", st);
  }
  if (ctx.json) {
    ctx.out << Json(resp) << "\n";
  } else {
    PrintRecords(ctx, resp.records());
  }
  return kOk;
}

int AuditTail(Context& ctx, const Args& a) {
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::TailRequest req;
  req.set_namespace_(a.Get("namespace"));
  req.set_event_type(a.Get("type"));
  int64_t max = -1;
  int64_t seq = 0;
  if ((a.Has("after-seq") && !ParseInt64(a.Get("after-seq"), &seq)) ||
      (a.Has("count") && !ParseInt64(a.Get("count"), &max))) {
    ctx.err << "kubemendctl audit tail: --after-seq and --count want numbers\n";
    return kUsage;
  }
  req.set_after_seq(seq);
  auto c = ctx.Call(/*streaming=*/true);
  auto reader = stub->Tail(c.get(), req);
  v1::AuditRecord r;
  int64_t n = 0;
  if (!ctx.json) {
    PrintTable(ctx.out, {"SEQ", "OCCURRED", "TYPE", "TARGET", "INCIDENT", "SUMMARY"}, {});
  }
  while ((max < 0 || n < max) && reader->Read(&r)) {
    ++n;
    if (ctx.json) {
      ctx.out << Json(r, true) << "\n";
    } else {
      ctx.out << r.seq() << "  " << FormatTime(r.occurred_at().seconds()) << "  " << r.event_type()
              << "  " << TargetText(r.target()) << "  " << Dash(Abbrev(ctx, r.incident_id(), 8))
              << "  " << r.summary() << "\n";
    }
    ctx.out.flush();
  }
  if (max >= 0 && n >= max) {
    c->TryCancel();
    reader->Finish();
    return kOk;
  }
  grpc::Status st = reader->Finish();
  return st.ok() ? kOk : ctx.Fail("audit tail", st);
}

int AuditVerify(Context& ctx, const Args&) {
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::VerifyChainRequest req;
  v1::VerifyChainResponse resp;
  auto c = ctx.Call();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
  if (auto st = stub->VerifyChain(c.get(), req, &resp); !st.ok()) {
    return ctx.Fail("audit verify", st);
  }
  if (ctx.json) {
    ctx.out << Json(resp) << "\n";
  } else if (resp.ok()) {
    ctx.out << "chain ok: " << resp.checked() << " rows verified; head seq " << resp.head_seq()
            << " hash " << (resp.head_hash().empty() ? "-" : resp.head_hash()) << "\n";
  } else {
    ctx.out << "CHAIN BROKEN at seq " << resp.bad_seq() << " (event " << resp.bad_event_id()
            << "): " << resp.problem() << "\n"
            << resp.checked() << " rows before it verified; last good seq " << resp.head_seq()
            << "\n";
  }
  return resp.ok() ? kOk : kError;
}

}  // namespace

void RegisterAuditCommands(Registry& r) {
  r.push_back({{"incidents", "list"},
               "[--namespace NS] [--status S] [--since 7d] [--limit N]",
               "incidents from the audit trail, newest first",
               "One row per incident: first seen, target, signals, last action, verdict,\n"
               "outcome, status (open, proposed, awaiting_approval, in_progress, resolved,\n"
               "failed, rejected, rolled_back, ...).",
               {"namespace", "status", "since", "limit"},
               IncidentsList});
  r.push_back({{"incidents", "show"},
               "INCIDENT_ID",
               "one incident and its timeline",
               "Every event of the incident in trail order: signal, proposal, decision, outcome.",
               {},
               IncidentsShow});
  r.push_back({{"actions", "list"},
               "[--namespace NS] [--incident ID] [--outcome O] [--since 7d] [--limit N]",
               "actions taken, with before/after values, approver and reason",
               "",
               {"namespace", "incident", "outcome", "since", "limit"},
               ActionsList});
  r.push_back({{"audit", "query"},
               "[--namespace NS] [--kind K] [--name N] [--type T] [--incident ID] [--since 1d] "
               "[--after-seq N] [--limit N]",
               "events from the trail, oldest first",
               "--type is signal, proposal, decision, outcome or control. Page with --after-seq\n"
               "(the last SEQ printed).",
               {"namespace", "kind", "name", "type", "incident", "since", "after-seq", "limit"},
               AuditQuery});
  r.push_back({{"audit", "tail"},
               "[--namespace NS] [--type T] [--after-seq N] [--count N]",
               "follow new rows as they land (Ctrl-C stops)",
               "Starts at the current end unless --after-seq is given; --count stops after N rows.",
               {"namespace", "type", "after-seq", "count"},
               AuditTail});
  r.push_back({{"audit", "verify"},
               "",
               "check the trail's hash chain end to end",
               "Runs audit_verify_chain() in the audit database. Exits 0 when every row matches,\n"
               "1 naming the first row that does not (altered, missing or out of order). Keep\n"
               "the printed head hash somewhere else: it proves later that nothing before it\n"
               "was rewritten.",
               {},
               AuditVerify});
}

}  // namespace kubemend::ctl
