#pragma once
// kubemendctl: the admin client. Run() is main() minus the process: it
// parses arguments, resolves endpoints and credentials, runs one command
// and returns the exit code, writing to the given streams (tests call it
// in-process).
//
// Exit codes: 0 ok, 1 error, 2 usage, 3 unauthenticated or denied,
// 4 unavailable (service down or unreachable).
//
// Endpoints and credentials, highest precedence first: flags, KUBEMENDCTL_*
// environment, the config file, the stack.env of `./kubemend up`
// (--stack-env or KUBEMEND_STACK_ENV). The config file is the first of
// --config / KUBEMENDCTL_CONFIG, $KUBEMEND_RUN_DIR/kubemendctl.yaml,
// ./.run/kubemendctl.yaml and ~/.config/kubemend/kubemendctl.yaml; `./kubemend
// up` writes one into its run dir with the endpoints and the operator token.
#include <grpcpp/grpcpp.h>

#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kubemend/v1/events.pb.h"

namespace kubemend::ctl {

enum Exit { kOk = 0, kError = 1, kUsage = 2, kDenied = 3, kUnavailable = 4 };

// The five services, in pipeline order.
const std::vector<std::string>& ServiceNames();

struct Args {
  std::map<std::string, std::string> flags;  // --name value / --name=value (no dashes)
  std::vector<std::string> positional;
  bool Has(const std::string& f) const { return flags.count(f) > 0; }
  std::string Get(const std::string& f, const std::string& dflt = "") const {
    auto it = flags.find(f);
    return it == flags.end() ? dflt : it->second;
  }
};

// Everything a command needs: where services are, how to authenticate,
// how to print.
class Context {
 public:
  Context(std::ostream& out, std::ostream& err) : out(out), err(err) {}
  std::ostream& out;
  std::ostream& err;
  bool json = false;  // -o json (and -o yaml: the JSON is re-emitted as YAML)
  bool wide = false;  // -o wide: tables with full ids and versions
  std::map<std::string, std::string> endpoints;  // service -> host:port
  std::string token;
  std::string tls_ca, tls_cert, tls_key;
  std::string config_path;  // the config file that was read ("" = none)
  int timeout_ms = 10000;
  // --as NAME: a note sent with mutating calls and recorded beside the
  // issuer, labelled client-supplied. Who the call is issued by is always the
  // token's subject, as the service authenticates it; "" sends no note.
  std::string note;
  // How the user called us: "kubemendctl", or "kubectl kubemend" when run as
  // the kubectl plugin (argv[0] kubectl-kubemend); and the kubectl the
  // Kubernetes commands run (KUBEMENDCTL_KUBECTL, default kubectl in PATH).
  std::string program = "kubemendctl";
  std::string kubectl = "kubectl";

  // A channel to `service`, or nullptr (with the reason printed) when no
  // endpoint is known.
  std::shared_ptr<grpc::Channel> Channel(const std::string& service);
  // A client context with the token and deadline set.
  std::unique_ptr<grpc::ClientContext> Call(bool streaming = false) const;
  // Prints "kubemendctl: <what>: <message>" and maps the gRPC code to an exit code.
  int Fail(const std::string& what, const grpc::Status& st);

 private:
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

struct Command {
  std::vector<std::string> path;        // e.g. {"audit", "verify"}
  std::string usage;                    // arguments after the path
  std::string summary;                  // one line for the overview
  std::string help;                     // the rest of --help
  std::vector<std::string> flags;       // command-specific flags it accepts
  std::function<int(Context&, const Args&)> run;
};

using Registry = std::vector<Command>;
// Each file adds its commands: status.cc, audit.cc, gate.cc, analyzer.cc,
// executor.cc.
void RegisterStatusCommands(Registry& r);
void RegisterAuditCommands(Registry& r);
void RegisterGateCommands(Registry& r);
void RegisterAnalyzerCommands(Registry& r);
void RegisterExecutorCommands(Registry& r);
void RegisterKubeCommands(Registry& r);        // kube.cc: approve/deny in Kubernetes
void RegisterCompletionCommand(Registry& r);   // completion.cc: last (it lists the others)
// The kubectl plugin's name: a kubemendctl binary installed (or linked) as
// this answers `kubectl kubemend ...`, where approve/deny mean the Kubernetes path.
inline constexpr char kPluginName[] = "kubectl-kubemend";
// kubectl (1.26+) completes `kubectl kubemend <TAB>` by running this with the
// words typed so far (the last one partial) and reading cobra's format: one
// candidate per line, then ":<directive>".
inline constexpr char kPluginCompletionName[] = "kubectl_complete-kubemend";
int CompleteWords(const Registry& reg, const std::vector<std::string>& words, bool plugin, std::ostream& out);

// `env` stands in for the process environment (tests pass their own).
int Run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
        std::ostream& out, std::ostream& err);

// Helpers shared by the command files.
std::string FormatTime(int64_t seconds);                         // RFC 3339, UTC
// A whole decimal number (no sign unless `allow_negative`, no trailing text).
bool ParseInt64(const std::string& text, int64_t* out, bool allow_negative = false);
// A duration as milliseconds: 500ms, 5s, 2m, 1h, or a bare number of ms.
bool ParseDurationMs(const std::string& text, int64_t* out_ms);
// `s` cut to `n` characters in tables, whole with -o wide.
std::string Abbrev(const Context& ctx, const std::string& s, size_t n);
// The client's version (kubemendctl version).
std::string CtlVersion();
bool ParseSince(const std::string& text, int64_t now_s, int64_t* out_s);  // 1h, 7d, or RFC 3339
// Enum names as operators type and read them: "dry_run", "RestartPod",
// "approved", "rolled_back".
std::string ModeName(v1::Mode m);
// Accepts monitor, dry_run (dryrun), automatic, manual, limited; `allow_clear`
// also accepts clear / unset as MODE_UNSPECIFIED.
bool ParseMode(const std::string& text, bool allow_clear, v1::Mode* out);
std::string ActionName(v1::ActionType t);
std::string VerdictName(const v1::SafetyDecision& d);
std::string OutcomeName(v1::OutcomeStatus s);
void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

}  // namespace kubemend::ctl
