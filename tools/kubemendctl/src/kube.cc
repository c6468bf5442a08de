// kubemendctl kube approve|deny NAME (and, as the kubectl plugin,
// `kubectl kubemend approve|deny NAME`): a human's answer given in
// Kubernetes. It sets spec.approval on the HealingAction with kubectl, so
// the request carries the user's own Kubernetes credentials: RBAC decides
// whether they may (ClusterRole kubemend-approver), the admission policy that
// spec.approval.user is their own name, and the safety gate, which watches
// HealingActions, records "kubernetes:<user>" as the approver. Then it waits
// for the gate's verdict in status.approval.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli.h"

extern char** environ;

namespace kubemend::ctl {
namespace {

struct Proc {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs argv (PATH lookup), capturing stdout and stderr.
Proc RunProcess(const std::vector<std::string>& argv) {
  Proc p;
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) {
    p.err = std::strerror(errno);
    return p;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  posix_spawn_file_actions_addclose(&fa, out_pipe[0]);
  posix_spawn_file_actions_addclose(&fa, err_pipe[0]);
  std::vector<char*> cargv;
  for (const auto& a : argv) {
    cargv.push_back(const_cast<char*>(a.c_str()));
  }
  cargv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    p.err = argv[0] + ": " + std::strerror(rc);
    return p;
  }
  // stderr of kubectl is small; read stdout fully, then stderr.
  char buf[4096];
  ssize_t n;
  while ((n = read(out_pipe[0], buf, sizeof buf)) > 0) {
    p.out.append(buf, static_cast<size_t>(n));
  }
  while ((n = read(err_pipe[0], buf, sizeof buf)) > 0) {
    p.err.append(buf, static_cast<size_t>(n));
  }
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  p.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return p;
}

std::string Trimmed(std::string s) {
  s.erase(s.find_last_not_of(" \t\r\n") + 1);
  return s;
}

class Kubectl {
 public:
  Kubectl(const Context& ctx, const Args& a) : bin_(ctx.kubectl) {
    for (const char* f : {"kubeconfig", "context"}) {
      if (a.Has(f)) {
        global_.push_back(std::string("--") + f + "=" + a.Get(f));
      }
    }
  }
  Proc operator()(std::vector<std::string> args) const {
    std::vector<std::string> argv = {bin_};
    argv.insert(argv.end(), global_.begin(), global_.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv);
  }

 private:
  std::string bin_;
  std::vector<std::string> global_;
};

// kubectl's refusal as our exit code: Forbidden (RBAC) and admission denials are 3.
int KubectlFail(Context& ctx, const std::string& what, const Proc& p) {
  ctx.err << ctx.program << ": " << what << ": " << Trimmed(p.err.empty() ? p.out : p.err) << "\n";
  if (p.code < 0) {
    return kUnavailable;
  }
  const std::string& e = p.err;
  if (e.find("Forbidden") != std::string::npos || e.find("forbidden") != std::string::npos ||
      e.find("denied request") != std::string::npos || e.find("ValidatingAdmissionPolicy") != std::string::npos) {
    return kDenied;
  }
  return kError;
}

// NAME exactly, or the one HealingAction whose name starts with it (a UUID is long to type).
int FindAction(Context& ctx, const Kubectl& k, const Args& a, std::string* ns, std::string* name) {
  std::vector<std::string> get = {"get", "healingactions", "-o", "json"};
  if (a.Has("namespace")) {
    get.insert(get.end(), {"-n", a.Get("namespace")});
  } else {
    get.push_back("-A");
  }
  Proc p = k(get);
  if (p.code != 0) {
    return KubectlFail(ctx,
                       std::string("listing HealingActions") +
                           (a.Has("namespace") ? "" : " in all namespaces (allowed in one only? add -n NAMESPACE)"),
                       p);
  }
  auto list = nlohmann::json::parse(p.out, nullptr, false);
  std::vector<std::pair<std::string, std::string>> hits;
  const std::string want = a.positional[0];
  for (const auto& o : list.value("items", nlohmann::json::array())) {
    std::string n = o["metadata"].value("name", "");
    if (n == want) {
      hits = {{o["metadata"].value("namespace", ""), n}};
      break;
    }
    if (n.rfind(want, 0) == 0) {
      hits.emplace_back(o["metadata"].value("namespace", ""), n);
    }
  }
  if (hits.size() != 1) {
    ctx.err << ctx.program << ": "
            << (hits.empty() ? "no HealingAction named " + want
                             : std::to_string(hits.size()) + " HealingActions start with " + want +
                                   "; give more of the name or -n NAMESPACE")
            << " (kubectl get healingactions -A)\n";
    return kError;
  }
  *ns = hits[0].first;
  *name = hits[0].second;
  return kOk;
}

int Answer(Context& ctx, const Args& a, bool approve) {
  const char* verb = approve ? "approve" : "deny";
  if (a.positional.size() != 1) {
    ctx.err << ctx.program << " " << verb << ": want exactly one HealingAction NAME (kubectl get healingactions -A)\n";
    return kUsage;
  }
  int64_t wait_ms = 30000;
  if (a.Has("wait") && !ParseDurationMs(a.Get("wait"), &wait_ms)) {
    ctx.err << ctx.program << " " << verb << ": --wait wants a duration such as 30s\n";
    return kUsage;
  }
  Kubectl k(ctx, a);
  Proc who = k({"auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"});
  if (who.code != 0 || Trimmed(who.out).empty()) {
    return KubectlFail(ctx, "who am I (kubectl auth whoami)", who);
  }
  const std::string user = Trimmed(who.out);
  std::string ns, name;
  if (int rc = FindAction(ctx, k, a, &ns, &name); rc != kOk) {
    return rc;
  }
  nlohmann::json approval = {{"decision", verb}, {"user", user}};
  if (a.Has("reason")) {
    approval["reason"] = a.Get("reason");
  }
  nlohmann::json patch = {{"spec", {{"approval", approval}}}};
  Proc p = k({"patch", "healingaction", name, "-n", ns, "--type", "merge", "-p", patch.dump()});
  if (p.code != 0) {
    return KubectlFail(ctx, std::string(verb) + " " + ns + "/" + name + " as " + user, p);
  }
  ctx.out << "healingaction " << ns << "/" << name << ": " << verb << " by " << user << " recorded\n";
  // The gate's verdict (status.approval); it watches, so this takes a moment.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (std::chrono::steady_clock::now() < until) {
    Proc g = k({"get", "healingaction", name, "-n", ns, "-o", "json"});
    if (g.code == 0) {
      auto o = nlohmann::json::parse(g.out, nullptr, false);
      auto st = o.is_object() ? o.value("status", nlohmann::json::object()) : nlohmann::json::object();
      if (st.contains("approval")) {
        const std::string state = st["approval"].value("state", "");
        (state == "Accepted" ? ctx.out : ctx.err)
            << "safety-gate: " << state << ": " << st["approval"].value("message", "") << "\n";
        return state == "Accepted" ? kOk : kError;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ctx.err << ctx.program << ": the safety gate has not answered within " << wait_ms
          << " ms (is it running with gate.kube.approvals on? the approval stays on the object)\n";
  return kUnavailable;
}

}  // namespace

void RegisterKubeCommands(Registry& r) {
  const std::string how =
      "Sets spec.approval {decision, user, reason} on the HealingAction with kubectl and\n"
      "your own Kubernetes credentials: RBAC decides whether you may (ClusterRole\n"
      "kubemend-approver), the API server's admission policy that `user` is you, and the\n"
      "safety gate records kubernetes:<you> as the approver. NAME may be a unique prefix.\n"
      "Waits --wait (default 30s) for the gate's verdict (status.approval). Uses kubectl\n"
      "from PATH (or KUBEMENDCTL_KUBECTL); --kubeconfig and --context go to it.\n"
      "Exit 3 when Kubernetes refuses (Forbidden, or the admission policy).";
  const std::vector<std::string> flags = {"namespace", "reason", "wait", "kubeconfig", "context"};
  r.push_back({{"kube", "approve"},
               "NAME [-n NAMESPACE] [--reason TEXT] [--wait 30s]",
               "approve a Pending HealingAction as your Kubernetes user",
               how, flags, [](Context& c, const Args& a) { return Answer(c, a, true); }});
  r.push_back({{"kube", "deny"},
               "NAME [-n NAMESPACE] [--reason TEXT] [--wait 30s]",
               "deny a Pending HealingAction as your Kubernetes user",
               how, flags, [](Context& c, const Args& a) { return Answer(c, a, false); }});
}

}  // namespace kubemend::ctl
