// kubemendctl actions rollback: undo an action, through
// kubemend.v1.ExecutorAdmin on the executor.
#include <google/protobuf/util/json_util.h>

#include <ostream>

#include "cli.h"
#include "kubemend/v1/executor_admin.grpc.pb.h"

namespace kubemend::ctl {
namespace {

int ActionsRollback(Context& ctx, const Args& a) {
  if (a.positional.size() != 1) {
    ctx.err << "kubemendctl actions rollback: want exactly one ACTION_ID (see kubemendctl "
               "actions list -o json)\n";
    return kUsage;
  }
  if (a.Get("reason").empty()) {
    ctx.err << "kubemendctl actions rollback: --reason is required (it goes into the audit "
               "trail)\n";
    return kUsage;
  }
  auto ch = ctx.Channel("executor");
  if (!ch) {
    ctx.err << "kubemendctl: no endpoint for the executor (--endpoint executor=HOST:PORT, "
               "KUBEMENDCTL_EXECUTOR_ADDR, or --stack-env)\n";
    return kUsage;
  }
  auto stub = v1::ExecutorAdmin::NewStub(ch);
  v1::ExecutorRollbackRequest req;
  req.set_action_id(a.positional[0]);
  req.set_requested_by(ctx.note);
  req.set_reason(a.Get("reason"));
  v1::ExecutorRollbackResponse resp;
  auto c = ctx.Call();
  if (auto st = stub->Rollback(c.get(), req, &resp); !st.ok()) {
    return ctx.Fail("actions rollback", st);
  }
  const auto& o = resp.outcome();
  bool ok = o.status() == v1::OUTCOME_STATUS_ROLLED_BACK ||
            o.status() == v1::OUTCOME_STATUS_DUPLICATE;
  if (ctx.json) {
    std::string s;
    google::protobuf::util::JsonPrintOptions opt;
    opt.preserve_proto_field_names = true;
    opt.add_whitespace = true;
    opt.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(resp, &s, opt);
    ctx.out << s << "\n";
  } else {
    ctx.out << "action    " << req.action_id() << "\nstatus    " << OutcomeName(o.status())
            << "\noutcome   " << (resp.outcome_event_id().empty() ? "-" : resp.outcome_event_id())
            << "\n";
    for (const auto& fc : o.changes()) {
      ctx.out << "changed   " << fc.path() << ": " << fc.before() << " -> " << fc.after() << "\n";
    }
    if (!o.error().empty()) {
      ctx.out << "error     " << o.error() << "\n";
    }
  }
  return ok ? kOk : kError;
}

}  // namespace

void RegisterExecutorCommands(Registry& r) {
  r.push_back({{"actions", "rollback"},
               "ACTION_ID --reason TEXT [--as NAME]",
               "undo an action",
               "Restores the before-values the executor recorded for ACTION_ID and publishes\n"
               "the ROLLED_BACK outcome (DUPLICATE when already undone: exit 0). Exits 1 when\n"
               "the action is unknown or cannot be undone (a deleted pod). Recorded as\n"
               "requested by --as NAME, else $USER. Needs an operator token.",
               {"reason", "as"},
               ActionsRollback});
}

}  // namespace kubemend::ctl
