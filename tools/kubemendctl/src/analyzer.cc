// kubemendctl policies list|validate|reload: the analyzer's remediation
// policies, through kubemend.v1.AnalyzerAdmin.
#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <iostream>
#include <ostream>
#include <sstream>

#include "cli.h"
#include "kubemend/v1/analyzer_admin.grpc.pb.h"

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

std::unique_ptr<v1::AnalyzerAdmin::Stub> Stub(Context& ctx, int* code) {
  auto ch = ctx.Channel("analyzer");
  if (!ch) {
    ctx.err << "kubemendctl: no endpoint for the analyzer (--endpoint analyzer=HOST:PORT, "
               "KUBEMENDCTL_ANALYZER_ADDR, or --stack-env)\n";
    *code = kUsage;
    return nullptr;
  }
  return v1::AnalyzerAdmin::NewStub(ch);
}

void PrintPolicies(Context& ctx, const google::protobuf::RepeatedPtrField<v1::LoadedPolicy>& ps) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : ps) {
    std::string actions;
    for (const auto& a : p.actions()) {
      actions += (actions.empty() ? "" : ",") + a;
    }
    rows.push_back({p.ref().name(), Dash(p.namespace_()), p.shape(), ModeName(p.mode()),
                    std::to_string(p.priority()), Dash(actions),
                    p.require_approval() ? "yes" : "no", Dash(Abbrev(ctx, p.ref().version(), 12)),
                    Dash(p.ref().source())});
  }
  PrintTable(ctx.out,
             {"NAME", "NAMESPACE", "SHAPE", "MODE", "PRIORITY", "ACTIONS", "APPROVAL", "VERSION",
              "SOURCE"},
             rows);
}

int PoliciesList(Context& ctx, const Args& a) {
  if (!a.positional.empty()) {
    ctx.err << "kubemendctl policies list: takes no arguments\n";
    return kUsage;
  }
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::ListPoliciesRequest req;
  v1::ListPoliciesResponse resp;
  auto c = ctx.Call();
  if (auto st = stub->ListPolicies(c.get(), req, &resp); !st.ok()) {
    return ctx.Fail("policies list", st);
  }
  if (ctx.json) {
    ctx.out << Json(resp) << "\n";
    return kOk;
  }
  PrintPolicies(ctx, resp.policies());
  for (const auto& e : resp.policy_errors()) {
    ctx.out << "rejected: " << e << "\n";
  }
  return kOk;
}

int PoliciesValidate(Context& ctx, const Args& a) {
  if (a.positional.size() != 1) {
    ctx.err << "kubemendctl policies validate: want exactly one FILE (- reads stdin)\n";
    return kUsage;
  }
  const std::string& file = a.positional[0];
  std::stringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(file);
    if (!in) {
      ctx.err << "kubemendctl policies validate: cannot read " << file << "\n";
      return kError;
    }
    text << in.rdbuf();
  }
  if (text.str().empty()) {
    ctx.err << "kubemendctl policies validate: " << file << " is empty\n";
    return kError;
  }
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::ValidatePoliciesRequest req;
  req.set_text(text.str());
  req.set_origin(file == "-" ? "stdin" : file);
  v1::ValidatePoliciesResponse resp;
  auto c = ctx.Call();
  if (auto st = stub->ValidatePolicies(c.get(), req, &resp); !st.ok()) {
    return ctx.Fail("policies validate", st);
  }
  if (ctx.json) {
    ctx.out << Json(resp) << "\n";
  } else if (resp.valid()) {
    ctx.out << req.origin() << ": valid, " << resp.policies_size() << " polic"
            << (resp.policies_size() == 1 ? "y" : "ies") << "\n";
    PrintPolicies(ctx, resp.policies());
  } else {
    ctx.out << req.origin() << ": INVALID, " << resp.errors_size() << " error"
            << (resp.errors_size() == 1 ? "" : "s") << "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : resp.errors()) {
      rows.push_back({std::to_string(e.document()), Dash(e.path()), e.message()});
    }
    PrintTable(ctx.out, {"DOCUMENT", "FIELD", "PROBLEM"}, rows);
  }
  return resp.valid() ? kOk : kError;
}

int PoliciesReload(Context& ctx, const Args& a) {
  if (!a.positional.empty()) {
    ctx.err << "kubemendctl policies reload: takes no arguments\n";
    return kUsage;
  }
  int code = 0;
  auto stub = Stub(ctx, &code);
  if (!stub) {
    return code;
  }
  v1::ReloadPoliciesRequest req;
  v1::ReloadPoliciesResponse resp;
  auto c = ctx.Call();
  if (auto st = stub->ReloadPolicies(c.get(), req, &resp); !st.ok()) {
    return ctx.Fail("policies reload", st);
  }
  bool rejected = !resp.errors().empty();
  for (const auto& ch : resp.changes()) {
    rejected = rejected || ch.change() == "rejected";
  }
  if (ctx.json) {
    ctx.out << Json(resp) << "\n";
  } else {
    ctx.out << resp.loaded() << " policies in force; " << resp.changes_size() << " change"
            << (resp.changes_size() == 1 ? "" : "s") << "\n";
    if (resp.changes_size() > 0) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& ch : resp.changes()) {
        rows.push_back({ch.change(), ch.policy().name(), Dash(Abbrev(ctx, ch.policy().version(), 12)),
                        Dash(ch.detail())});
      }
      PrintTable(ctx.out, {"CHANGE", "POLICY", "VERSION", "DETAIL"}, rows);
    }
    for (const auto& e : resp.errors()) {
      ctx.out << "unreadable: " << e << "\n";
    }
  }
  return rejected ? kError : kOk;
}

}  // namespace

void RegisterAnalyzerCommands(Registry& r) {
  r.push_back({{"policies", "list"},
               "",
               "loaded remediation policies",
               "The policies the analyzer decides with, highest priority first, and the last\n"
               "rejection of each source that failed validation (its last good version stays).",
               {},
               PoliciesList});
  r.push_back({{"policies", "validate"},
               "FILE",
               "check a policy file with the analyzer's own validator",
               "Sends FILE (- for stdin) to the analyzer, which parses and validates it as\n"
               "it would load it; nothing is loaded. Exits 0 when valid, 1 listing each\n"
               "problem by document and field.",
               {},
               PoliciesValidate});
  r.push_back({{"policies", "reload"},
               "",
               "reload policies now",
               "Re-reads every policy source now instead of at the next poll and prints what\n"
               "changed (each change is also a Control event in the audit trail). Exits 1\n"
               "when a source was rejected or unreadable. Needs an operator token.",
               {},
               PoliciesReload});
}

}  // namespace kubemend::ctl
