// kubemendctl pending list, approve, deny, pause, resume, mode get|set:
// the human-approval queue and the kill switch, through
// kubemend.v1.SafetyGateAdmin on the safety gate.
#include <google/protobuf/util/json_util.h>

#include <ostream>

#include "cli.h"
#include "kubemend/v1/safety_gate_admin.grpc.pb.h"

namespace kubemend::ctl {
namespace {

std::string Json(const google::protobuf::Message& m) {
  std::string s;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.add_whitespace = true;
  o.always_print_primitive_fields = true;  // "paused": false, "valid": false are answers
  (void)google::protobuf::util::MessageToJsonString(m, &s, o);
  return s;
}

std::string Dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string TargetText(const v1::Target& t) {
  std::string s = t.namespace_().empty() ? "" : t.namespace_() + "/";
  s += t.kind().empty() ? "" : t.kind() + "/";
  s += t.name();
  return Dash(s);
}

std::unique_ptr<v1::SafetyGateAdmin::Stub> Stub(Context& ctx, int* code) {
  auto ch = ctx.Channel("safety-gate");
  if (!ch) {
    ctx.err << "kubemendctl: no endpoint for the safety gate (--endpoint safety-gate=HOST:PORT, "
               "KUBEMENDCTL_SAFETY_GATE_ADDR, or --stack-env)\n";
    *code = kUsage;
    return nullptr;
  }
  return v1::SafetyGateAdmin::NewStub(ch);
}

void PrintMode(Context& ctx, const v1::ModeResponse& m) {
  if (ctx.json) {
    ctx.out << Json(m) << "\n";
    return;
  }
  ctx.out << "mode       " << ModeName(m.mode()) << "\npaused     " << (m.paused() ? "yes" : "no")
          << "\nbreaker    " << Dash(m.breaker()) << "\nin flight  " << m.in_flight()
          << "\npending    " << m.pending() << "\n";
  if (!m.control_id().empty()) {
    ctx.out << "control    " << m.control_id() << "\n";
  }
  if (!m.policy_modes().empty()) {
    std::vector<std::vector<std::string>> rows;
    std::map<std::string, v1::Mode> sorted;
    for (const auto& [policy, mode] : m.policy_modes()) {
      sorted[policy] = static_cast<v1::Mode>(mode);
    }
    for (const auto& [policy, mode] : sorted) {
      rows.push_back({policy, ModeName(mode)});
    }
    ctx.out << "\n";
    PrintTable(ctx.out, {"POLICY", "MODE"}, rows);
  }
}

int PendingList(Context& ctx, const Args& a) {
  if (!a.positional.empty()) {
    ctx.err << "kubemendctl pending list: takes no arguments\n";
    return kUsage;
  }
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::ListPendingRequest req;
  v1::ListPendingResponse resp;
  auto c = ctx.Call();
  if (auto st = stub->ListPending(c.get(), req, &resp); !st.ok()) {
    return ctx.Fail("pending list", st);
  }
  if (ctx.json) {
    ctx.out << Json(resp) << "\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : resp.pending()) {
    rows.push_back({p.proposal_id(), FormatTime(p.queued_at().seconds()), TargetText(p.target()),
                    ActionName(p.proposal().action().type()), Dash(p.rule()),
                    FormatTime(p.expires_at().seconds()), p.escalated() ? "yes" : "no",
                    Dash(p.reason())});
  }
  PrintTable(ctx.out,
             {"PROPOSAL", "QUEUED", "TARGET", "ACTION", "RULE", "EXPIRES", "ESCALATED", "REASON"},
             rows);
  return kOk;
}

int Resolve(Context& ctx, const Args& a, bool approve) {
  const char* verb = approve ? "approve" : "deny";
  if (a.positional.size() != 1) {
    ctx.err << "kubemendctl " << verb << ": want exactly one PROPOSAL_ID (see kubemendctl pending "
               "list)\n";
    return kUsage;
  }
  if (a.Get("reason").empty()) {
    ctx.err << "kubemendctl " << verb << ": --reason is required (it goes into the audit trail)\n";
    return kUsage;
  }
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::ResolveRequest req;
  req.set_proposal_id(a.positional[0]);
  req.set_issued_by(ctx.note);
  req.set_reason(a.Get("reason"));
  v1::ResolveResponse resp;
  auto c = ctx.Call();
  grpc::Status st = approve ? stub->Approve(c.get(), req, &resp) : stub->Deny(c.get(), req, &resp);
  if (!st.ok()) {
    return ctx.Fail(verb, st);
  }
  if (ctx.json) {
    ctx.out << Json(resp) << "\n";
    return kOk;
  }
  ctx.out << (approve ? "approved " : "denied ") << req.proposal_id() << " by "
          << resp.decision().approver() << "\ndecision  " << Dash(resp.decision_id()) << " (" << VerdictName(resp.decision())
          << ")\ncontrol   " << Dash(resp.control_id()) << "\n";
  return kOk;
}

int Pause(Context& ctx, const Args& a) {
  if (!a.positional.empty()) {
    ctx.err << "kubemendctl pause: takes no arguments (--scope POLICY, --reason TEXT)\n";
    return kUsage;
  }
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::ModeResponse resp;
  auto c = ctx.Call();
  grpc::Status st;
  if (a.Has("scope")) {
    // A policy is paused by putting it in monitor mode: its incidents are
    // still recorded, nothing is done.
    v1::SetModeRequest req;
    req.set_mode(v1::MODE_MONITOR);
    req.set_scope(a.Get("scope"));
    req.set_issued_by(ctx.note);
    req.set_reason(a.Get("reason"));
    st = stub->SetMode(c.get(), req, &resp);
  } else {
    v1::PauseRequest req;
    req.set_issued_by(ctx.note);
    req.set_reason(a.Get("reason"));
    st = stub->Pause(c.get(), req, &resp);
  }
  if (!st.ok()) {
    return ctx.Fail("pause", st);
  }
  PrintMode(ctx, resp);
  return kOk;
}

int Resume(Context& ctx, const Args& a) {
  if (!a.positional.empty()) {
    ctx.err << "kubemendctl resume: takes no arguments (--scope POLICY, --reason TEXT)\n";
    return kUsage;
  }
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::ModeResponse resp;
  auto c = ctx.Call();
  grpc::Status st;
  if (a.Has("scope")) {
    v1::SetModeRequest req;  // MODE_UNSPECIFIED clears the policy's override
    req.set_scope(a.Get("scope"));
    req.set_issued_by(ctx.note);
    req.set_reason(a.Get("reason"));
    st = stub->SetMode(c.get(), req, &resp);
  } else {
    v1::ResumeRequest req;
    req.set_issued_by(ctx.note);
    req.set_reason(a.Get("reason"));
    st = stub->Resume(c.get(), req, &resp);
  }
  if (!st.ok()) {
    return ctx.Fail("resume", st);
  }
  PrintMode(ctx, resp);
  return kOk;
}

int ModeGet(Context& ctx, const Args& a) {
  if (!a.positional.empty()) {
    ctx.err << "kubemendctl mode get: takes no arguments\n";
    return kUsage;
  }
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::GetModeRequest req;
  v1::ModeResponse resp;
  auto c = ctx.Call();
  if (auto st = stub->GetMode(c.get(), req, &resp); !st.ok()) {
    return ctx.Fail("mode get", st);
  }
  PrintMode(ctx, resp);
  return kOk;
}

int ModeSet(Context& ctx, const Args& a) {
  if (a.positional.size() != 1) {
    ctx.err << "kubemendctl mode set: want exactly one MODE (monitor, dry_run, automatic, manual, "
               "limited; clear with --scope)\n";
    return kUsage;
  }
  v1::Mode mode = v1::MODE_UNSPECIFIED;
  if (!ParseMode(a.positional[0], a.Has("scope"), &mode)) {
    ctx.err << "kubemendctl mode set: unknown mode '" << a.positional[0]
            << "', want monitor, dry_run, automatic, manual or limited"
            << (a.Has("scope") ? " (or clear)" : "") << "\n";
    return kUsage;
  }
  if (a.Get("reason").empty()) {
    ctx.err << "kubemendctl mode set: --reason is required (it goes into the audit trail)\n";
    return kUsage;
  }
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::SetModeRequest req;
  req.set_mode(mode);
  req.set_scope(a.Get("scope"));
  req.set_issued_by(ctx.note);
  req.set_reason(a.Get("reason"));
  v1::ModeResponse resp;
  auto c = ctx.Call();
  if (auto st = stub->SetMode(c.get(), req, &resp); !st.ok()) {
    return ctx.Fail("mode set", st);
  }
  PrintMode(ctx, resp);
  return kOk;
}

}  // namespace

void RegisterGateCommands(Registry& r) {
  const std::string who =
      "The change is recorded as issued by the token's subject (the service\n"
      "authenticates it); --as NAME adds a note recorded beside it, labelled\n"
      "client-supplied. Needs an operator token.";
  r.push_back({{"pending", "list"},
               "",
               "proposals waiting for a human",
               "One row per proposal the safety gate holds for approval: target, action, the\n"
               "rule that made it wait, when it expires. Approve or deny it by PROPOSAL.",
               {},
               PendingList});
  r.push_back({{"approve"},
               "PROPOSAL_ID --reason TEXT [--as NAME]",
               "approve a waiting proposal",
               "The gate publishes the approval (a Control event) and an APPROVED decision;\n"
               "the executor then acts. Fails (exit 1) when nothing waits under the id, or\n"
               "while paused / in monitor mode. " + who,
               {"reason", "as"},
               [](Context& c, const Args& a) { return Resolve(c, a, true); }});
  r.push_back({{"deny"},
               "PROPOSAL_ID --reason TEXT [--as NAME]",
               "deny a waiting proposal",
               "The gate publishes the denial and a REJECTED decision. " + who,
               {"reason", "as"},
               [](Context& c, const Args& a) { return Resolve(c, a, false); }});
  r.push_back({{"pause"},
               "[--scope POLICY] [--reason TEXT] [--as NAME]",
               "stop acting (observe only)",
               "Without --scope: the kill switch; nothing is approved until resume.\n"
               "With --scope POLICY: that policy alone goes to monitor mode. " + who,
               {"scope", "reason", "as"},
               Pause});
  r.push_back({{"resume"},
               "[--scope POLICY] [--reason TEXT] [--as NAME]",
               "act again",
               "Without --scope: lifts the kill switch. With --scope POLICY: clears that\n"
               "policy's mode override. " + who,
               {"scope", "reason", "as"},
               Resume});
  r.push_back({{"mode", "get"},
               "",
               "the safety gate's mode",
               "Global mode, paused, circuit breaker, in-flight actions, pending approvals and\n"
               "per-policy overrides.",
               {},
               ModeGet});
  r.push_back({{"mode", "set"},
               "MODE --reason TEXT [--scope POLICY] [--as NAME]",
               "monitor, dry_run, automatic, manual or limited",
               "Sets the global mode, or with --scope one policy's (MODE clear removes the\n"
               "override). " + who,
               {"reason", "scope", "as"},
               ModeSet});
}

}  // namespace kubemend::ctl
