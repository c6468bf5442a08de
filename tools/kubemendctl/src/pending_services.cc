// Commands of services whose admin protos are not on this branch yet
// (SafetyGateAdmin, AnalyzerAdmin, the executor's rollback). Each is listed
// and documented, and fails clearly instead of pretending. When a proto
// lands, replace the matching Register*Commands with a real file like
// audit.cc.
#include <ostream>

#include "cli.h"

namespace kubemend::ctl {
namespace {

Command Unavailable(std::vector<std::string> path, std::string usage, std::string summary,
                    std::string service, std::vector<std::string> flags) {
  Command c;
  c.path = std::move(path);
  c.usage = std::move(usage);
  c.summary = summary;
  c.flags = std::move(flags);
  std::string name;
  for (const auto& p : c.path) {
    name += (name.empty() ? "" : " ") + p;
  }
  c.help = "Served by " + service + "; not available in this build of kubemendctl.";
  c.run = [name, service](Context& ctx, const Args&) {
    ctx.err << "kubemendctl " << name << ": not available in this build (needs " << service
            << ", whose admin API this kubemendctl was built without)\n";
    return static_cast<int>(kError);
  };
  return c;
}

}  // namespace

void RegisterGateCommands(Registry& r) {
  const std::string gate = "kubemend.v1.SafetyGateAdmin on the safety gate";
  r.push_back(Unavailable({"pending", "list"}, "", "proposals waiting for a human", gate, {}));
  r.push_back(Unavailable({"approve"}, "PROPOSAL_ID --reason TEXT", "approve a waiting proposal",
                          gate, {"reason"}));
  r.push_back(Unavailable({"deny"}, "PROPOSAL_ID --reason TEXT", "deny a waiting proposal", gate,
                          {"reason"}));
  r.push_back(Unavailable({"pause"}, "[--scope NS] [--reason TEXT]", "stop acting (observe only)",
                          gate, {"scope", "reason"}));
  r.push_back(Unavailable({"resume"}, "[--scope NS] [--reason TEXT]", "act again", gate,
                          {"scope", "reason"}));
  r.push_back(Unavailable({"mode", "get"}, "", "the safety gate's mode", gate, {}));
  r.push_back(Unavailable({"mode", "set"}, "MODE [--reason TEXT]",
                          "monitor, dry_run, automatic, manual or limited", gate, {"reason"}));
}

void RegisterAnalyzerCommands(Registry& r) {
  const std::string analyzer = "kubemend.v1.AnalyzerAdmin on the analyzer";
  r.push_back(Unavailable({"policies", "list"}, "", "loaded remediation policies", analyzer, {}));
  r.push_back(Unavailable({"policies", "validate"}, "FILE", "check a policy file", analyzer, {}));
  r.push_back(Unavailable({"policies", "reload"}, "", "reload policies now", analyzer, {}));
}

void RegisterExecutorCommands(Registry& r) {
  r.push_back(Unavailable({"actions", "rollback"}, "ACTION_ID --reason TEXT",
                          "undo an action", "the executor's admin API", {"reason"}));
}

}  // namespace kubemend::ctl
