#include "approval_watch.h"

#include <chrono>
#include <thread>

#include "kubemend/common/log.h"
#include "kubemend/kube/event_recorder.h"
#include "kubemend/kube/resources.h"

namespace kubemend::gate {

void KubeApprovalConfig::Register(ConfigSchema& s) {
  s.Add("gate.kube.approvals", &enabled,
        "watch HealingAction objects for approvals given in Kubernetes (kubectl kubemend approve)");
  s.Add("gate.kube.kubeconfig", &kubeconfig,
        "kubeconfig for that watch; empty: $KUBECONFIG, in-cluster service account, ~/.kube/config; none: off");
  s.Add("gate.kube.context", &context, "kubeconfig context (empty: current-context)");
  s.Add("gate.kube.approval_policy", &admission_policy,
        "ValidatingAdmissionPolicy that must be in force (failing closed, with a denying binding) before an "
        "approval from Kubernetes is acted on");
}

std::string AdmissionGuardProblem(const std::string& name, const nlohmann::json* policy,
                                  const std::vector<nlohmann::json>& bindings) {
  const std::string what = "ValidatingAdmissionPolicy " + name;
  if (policy == nullptr || !policy->is_object()) {
    return what + " is not installed";
  }
  const auto spec = policy->value("spec", nlohmann::json::object());
  if (spec.value("failurePolicy", "Fail") != "Fail") {
    return what + " has failurePolicy " + spec.value("failurePolicy", "") + ", not Fail";
  }
  bool matches = false;
  for (const auto& r : spec.value("matchConstraints", nlohmann::json::object())
                           .value("resourceRules", nlohmann::json::array())) {
    for (const auto& res : r.value("resources", nlohmann::json::array())) {
      matches = matches || res == "healingactions" || res == "*";
    }
  }
  if (!matches) {
    return what + " does not match healingactions";
  }
  bool checks_user = false;
  for (const auto& v : spec.value("validations", nlohmann::json::array())) {
    const std::string expr = v.value("expression", "");
    checks_user = checks_user || (expr.find("spec.approval.user") != std::string::npos &&
                                  expr.find("request.userInfo.username") != std::string::npos);
  }
  if (!checks_user) {
    return what + " does not check spec.approval.user against request.userInfo.username";
  }
  for (const auto& b : bindings) {
    const auto bspec = b.value("spec", nlohmann::json::object());
    if (bspec.value("policyName", "") != name) {
      continue;
    }
    for (const auto& a : bspec.value("validationActions", nlohmann::json::array())) {
      if (a == "Deny") {
        return "";
      }
    }
  }
  return what + " has no ValidatingAdmissionPolicyBinding with validationActions [Deny]";
}

std::optional<KubeApproval> ParseApproval(const nlohmann::json& o) {
  if (!o.is_object() || !o.contains("spec") || !o["spec"].is_object()) {
    return std::nullopt;
  }
  const auto& spec = o["spec"];
  const auto status = o.value("status", nlohmann::json::object());
  if (!spec.contains("approval") || !spec["approval"].is_object() || status.contains("approval") ||
      status.value("phase", "") != "Pending") {
    return std::nullopt;
  }
  const auto& ap = spec["approval"];
  KubeApproval a;
  a.ns = o["metadata"].value("namespace", "");
  a.name = o["metadata"].value("name", "");
  a.proposal_id = spec.value("proposalId", "");
  const std::string decision = ap.value("decision", "");
  a.approve = decision == "approve";
  a.user = ap.value("user", "");
  a.reason = ap.value("reason", "");
  if (a.proposal_id.empty() || a.user.empty() || (decision != "approve" && decision != "deny")) {
    return std::nullopt;
  }
  return a;
}

std::string KubernetesSubject(const std::string& user) { return "kubernetes:" + user; }

ApprovalWatch::ApprovalWatch(kube::KubeClient& client, ResolveFn resolve, std::string admission_policy)
    : client_(client), resolve_(std::move(resolve)), admission_policy_(std::move(admission_policy)) {}

std::string ApprovalWatch::GuardProblem() {
  auto policy = client_.Get(kube::ObjectRef{kube::resources::kValidatingAdmissionPolicies, "", admission_policy_, ""});
  if (!policy.ok() && policy.error().kind != kube::ErrorKind::kNotFound) {
    return "cannot read ValidatingAdmissionPolicy " + admission_policy_ + ": " + policy.error().ToString();
  }
  auto bindings = kube::ListAll(client_, kube::resources::kValidatingAdmissionPolicyBindings, "");
  if (!bindings.ok()) {
    return "cannot list ValidatingAdmissionPolicyBindings: " + bindings.error().ToString();
  }
  return AdmissionGuardProblem(admission_policy_, policy.ok() ? &*policy : nullptr, bindings->items);
}

ApprovalWatch::~ApprovalWatch() { Stop(); }

void ApprovalWatch::Start() {
  if (std::string problem = GuardProblem(); !problem.empty()) {
    Logger("approvals")->error(
        "msg=\"approvals from Kubernetes will be refused until the admission policy is in force\" problem={} "
        "install=deploy/k8s/base/admission-healingaction-approval.yaml",
        Q(problem));
  }
  kube::WatchCallbacks cb;
  cb.on_sync = [this](const kube::WatchSync& s) {
    for (const auto& o : s.items) {
      Handle(o);
    }
  };
  cb.on_event = [this](const kube::WatchEvent& e) {
    if (e.type == kube::WatchEventType::kAdded || e.type == kube::WatchEventType::kModified) {
      Handle(e.object);
    }
  };
  cb.on_error = [this](const kube::Error& e) {
    std::string what = e.ToString();
    if (what != last_error_) {  // once per kind of trouble: a missing CRD must not flood the log
      Logger("approvals")->warn("msg=\"cannot watch HealingActions for approvals; retrying\" error={}", Q(what));
      last_error_ = what;
    }
  };
  kube::WatchOptions wo;
  wo.max_backoff = std::chrono::milliseconds(30'000);
  watcher_ = client_.Watch(kube::resources::kHealingActions, "", wo, std::move(cb));
}

void ApprovalWatch::Stop() {
  stopping_ = true;
  if (watcher_) {
    watcher_->Stop();
    watcher_.reset();
  }
}

void ApprovalWatch::Handle(const nlohmann::json& object) {
  auto a = ParseApproval(object);
  if (!a) {
    return;
  }
  auto log = Logger("approvals");
  // Checked on every answer (a person's action: rare), on the live objects:
  // without the policy the user name is whatever the writer typed.
  if (std::string problem = GuardProblem(); !problem.empty()) {
    log->error("msg=\"answer from Kubernetes refused: the user name cannot be trusted\" healingaction={}/{} "
               "proposal={} by={} problem={}",
               a->ns, a->name, a->proposal_id, Q(a->user), Q(problem));
    Report(*a, false,
           "not acted on: " + problem +
               "; without it the user name is not checked (install "
               "deploy/k8s/base/admission-healingaction-approval.yaml, or answer with kubemendctl)");
    return;
  }
  v1::ResolveRequest req;
  req.set_proposal_id(a->proposal_id);
  req.set_reason(a->reason);
  req.set_issued_by("HealingAction " + a->ns + "/" + a->name + " (source kubernetes)");
  // Until the gate's state is rebuilt it answers Unavailable: wait for it
  // (this blocks only the watch, which resumes where it stopped).
  absl::StatusOr<v1::ResolveResponse> r;
  for (int attempt = 0; !stopping_; ++attempt) {
    r = resolve_(req, a->approve, KubernetesSubject(a->user));
    if (r.ok() || r.status().code() != absl::StatusCode::kUnavailable || attempt >= 120) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (r.ok()) {
    log->info("msg=\"answer from Kubernetes\" healingaction={}/{} proposal={} approve={} by={} decision={}", a->ns,
              a->name, a->proposal_id, a->approve, Q(KubernetesSubject(a->user)), r->decision_id());
    Report(*a, true,
           std::string(a->approve ? "approved" : "denied") + " by " + KubernetesSubject(a->user) + "; decision " +
               r->decision_id());
    return;
  }
  log->warn("msg=\"answer from Kubernetes refused\" healingaction={}/{} proposal={} by={} error={}", a->ns, a->name,
            a->proposal_id, Q(KubernetesSubject(a->user)), Q(std::string(r.status().message())));
  Report(*a, false, std::string(r.status().message()));
}

void ApprovalWatch::Report(const KubeApproval& a, bool accepted, const std::string& message) {
  nlohmann::json patch = {
      {"status",
       {{"approval",
         {{"state", accepted ? "Accepted" : "Refused"},
          {"message", message},
          {"at", kube::KubeTime(std::chrono::system_clock::now())}}}}}};
  auto r = client_.Patch(kube::ObjectRef{kube::resources::kHealingActions, a.ns, a.name, "status"},
                         kube::PatchType::kMergePatch, patch);
  if (!r.ok()) {
    Logger("approvals")->warn("msg=\"cannot write status.approval\" healingaction={}/{} error={}", a.ns, a.name,
                              Q(r.error().ToString()));
  }
}

std::unique_ptr<kube::KubeClient> ApprovalClient(const KubeApprovalConfig& cfg, std::string* why) {
  if (!cfg.enabled) {
    *why = "gate.kube.approvals is false";
    return nullptr;
  }
  kube::Result<kube::ClientConfig> kc = kube::MakeError(kube::ErrorKind::kConfig, "");
  if (!cfg.kubeconfig.empty() || !cfg.context.empty()) {
    kube::KubeconfigOptions ko;
    ko.path = cfg.kubeconfig;
    ko.context = cfg.context;
    kc = kube::LoadKubeconfig(ko);
  } else {
    kc = kube::LoadDefaultConfig();
  }
  if (!kc.ok()) {
    *why = "no Kubernetes connection (" + kc.error().ToString() + ")";
    return nullptr;
  }
  auto c = kube::NewClient(*kc);
  if (!c.ok()) {
    *why = c.error().ToString();
    return nullptr;
  }
  *why = kc->source;
  return std::move(*c);
}

}  // namespace kubemend::gate
