// The Actuator's actions on nodes, volumes, autoscalers, jobs and
// notification channels: Cordon/Uncordon, DrainNode, ExpandPVC, AdjustHPA,
// DeleteCompletedJobs, Notify.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "actuator_internal.h"
#include "kubemend/common/events.h"
#include "kubemend/kube/memory_math.h"

namespace kubemend::executor {

using nlohmann::json;
namespace rs = kube::resources;
using namespace detail;

ActionResult Actuator::Cordon(const ActionRequest& req, bool cordon) {
  kube::ObjectRef node = kube::Node(req.target.name());
  ActionResult r = MutateOnce(node, req, [&](json& obj) -> absl::StatusOr<std::vector<Change>> {
    std::string before = FieldText(GetField(obj, "spec.unschedulable"));
    bool is = before == "true";
    if (is == cordon) {
      return absl::FailedPreconditionError(std::string("node is already ") + (cordon ? "cordoned" : "schedulable"));
    }
    obj["spec"]["unschedulable"] = cordon;
    return std::vector<Change>{{KeyOf(node), "spec.unschedulable", before, cordon ? "true" : "false"}};
  });
  r.verify.kind = cordon ? VerifyKind::kNodeCordoned : VerifyKind::kNodeUncordoned;
  r.verify.ref = node;
  return r;
}

// DrainNode: cordon and the marker in one update; then evict what runs
// there. A replay that finds the marker runs the eviction pass again (it is
// idempotent: cordoned node, evictions by name), so an interrupted drain
// completes and a finished one reports DUPLICATE. Pods in protected
// namespaces, protected or opted-out pods (and pods of protected owners) stay
// where they are and are named in the outcome.
ActionResult Actuator::Drain(const ActionRequest& req) {
  kube::ObjectRef node = kube::Node(req.target.name());
  ActionResult r = MutateOnce(node, req, [&](json& obj) -> absl::StatusOr<std::vector<Change>> {
    std::string before = FieldText(GetField(obj, "spec.unschedulable"));
    obj["spec"]["unschedulable"] = true;
    return std::vector<Change>{{KeyOf(node), "spec.unschedulable", before, "true"}};
  });
  if (r.status != v1::OUTCOME_STATUS_SUCCEEDED && r.status != v1::OUTCOME_STATUS_DRY_RUN &&
      r.status != v1::OUTCOME_STATUS_DUPLICATE) {
    return r;  // FAILED, or REFUSED: the node itself is protected
  }
  const v1::DrainNode& p = req.action.drain_node();
  Millis timeout = p.timeout_seconds() ? Millis(int64_t{p.timeout_seconds()} * 1000) : options_.drain_timeout;
  TimePoint deadline = clock_.Now() + timeout;
  kube::ListOptions lo;
  lo.field_selector = "spec.nodeName=" + req.target.name();
  auto pods = kube::ListAll(client_, rs::kPods, "", lo);
  if (!pods.ok()) {
    r.status = v1::OUTCOME_STATUS_FAILED;
    r.error = "list pods on node: " + ErrText(pods.error());
    return r;
  }
  DrainReport report;
  for (const auto& pod : pods->items) {
    const json& md = pod["metadata"];
    kube::ObjectRef pod_ref = kube::Pod(md.value("namespace", ""), md.value("name", ""));
    std::string why;
    switch (ChooseForDrain(pod, p, &why)) {
      case DrainChoice::kIgnore:
        continue;
      case DrainChoice::kProtected:
        report.protected_pods.push_back(KeyOf(pod_ref) + " (" + why + ")");
        r.verify.left_in_place.insert(KeyOf(pod_ref));
        continue;
      case DrainChoice::kSkip:
        report.skipped.push_back(KeyOf(pod_ref) + " (" + why + ")");
        continue;
      case DrainChoice::kEvict:
        break;
    }
    if (std::string err = EvictWithRetry(pod_ref, req.dry_run, deadline); !err.empty()) {
      report.blocked.push_back(KeyOf(pod_ref) + " (" + err + ")");
      continue;
    }
    ++report.evicted;
    r.changes.push_back({KeyOf(pod_ref), kObjectPath, "uid=" + md.value("uid", ""), ""});
  }
  FinishDrain(r, report, r.status == v1::OUTCOME_STATUS_DUPLICATE);
  r.verify.kind = VerifyKind::kNodeDrained;
  r.verify.ref = node;
  return r;
}

Actuator::DrainChoice Actuator::ChooseForDrain(const json& pod, const v1::DrainNode& p, std::string* why) {
  const json& md = pod["metadata"];
  const json* owner = ControllerOf(pod);
  std::string phase = FieldText(GetField(pod, "status.phase"));
  if (md.contains("deletionTimestamp") || phase == "Succeeded" || phase == "Failed") {
    return DrainChoice::kIgnore;
  }
  if (owner != nullptr && owner->value("kind", "") == "DaemonSet") {
    return DrainChoice::kIgnore;  // the DaemonSet controller would put it straight back
  }
  if (GetField(pod, "metadata.annotations[\"kubernetes.io/config.mirror\"]") != nullptr) {
    return DrainChoice::kIgnore;  // static pod: the API server cannot remove it
  }
  if (auto refusal = guard_.Check("Pod", pod)) {
    *why = refusal->rule + ": " + refusal->reason;
    return DrainChoice::kProtected;
  }
  if (owner == nullptr) {
    *why = "no controller";
    return DrainChoice::kSkip;
  }
  bool empty_dir = false;
  if (const json* vols = GetField(pod, "spec.volumes"); vols != nullptr && vols->is_array()) {
    for (const auto& v : *vols) {
      empty_dir = empty_dir || v.contains("emptyDir");
    }
  }
  if (empty_dir && !p.delete_emptydir_data()) {
    *why = "emptyDir data; delete_emptydir_data is off";
    return DrainChoice::kSkip;
  }
  return DrainChoice::kEvict;
}

std::string Actuator::EvictWithRetry(const kube::ObjectRef& pod, bool dry_run, TimePoint deadline) {
  kube::EvictOptions eo;
  eo.dry_run = dry_run;
  while (true) {
    auto ev = client_.Evict(pod, eo);
    if (ev.ok() || ev.error().kind == kube::ErrorKind::kNotFound) {
      return "";
    }
    bool retryable = ev.error().kind == kube::ErrorKind::kDisruptionBudget ||
                     ev.error().kind == kube::ErrorKind::kTooManyRequests;
    if (!retryable || clock_.Now() + options_.eviction_retry >= deadline) {
      return ErrText(ev.error());
    }
    sleep_(options_.eviction_retry);
  }
}

void Actuator::FinishDrain(ActionResult& r, const DrainReport& report, bool replay) {
  auto part = [](const char* label, const std::vector<std::string>& v) {
    return v.empty() ? std::string() : fmt::format("; {} {}", label, fmt::join(v, ", "));
  };
  r.detail = fmt::format("evicted {} pod(s){}{}{}", report.evicted,
                         part("left in place (protected):", report.protected_pods), part("skipped", report.skipped),
                         part("not evicted before the timeout:", report.blocked));
  if (!report.skipped.empty() || !report.blocked.empty()) {
    r.status = v1::OUTCOME_STATUS_FAILED;
    r.error = "drain incomplete: " + r.detail;
  } else if (replay) {
    r.status = report.evicted > 0 ? v1::OUTCOME_STATUS_SUCCEEDED : v1::OUTCOME_STATUS_DUPLICATE;
    if (report.evicted > 0) {
      r.detail = "resumed an interrupted drain: " + r.detail;
    }
  }
}

ActionResult Actuator::ExpandPvc(const ActionRequest& req) {
  kube::ObjectRef ref{rs::kPersistentVolumeClaims, req.target.namespace_(), req.target.name(), {}};
  auto pvc = client_.Get(ref);
  if (!pvc.ok()) {
    return Failed("get pvc: " + ErrText(pvc.error()));
  }
  std::string sc = FieldText(GetField(*pvc, "spec.storageClassName"));
  json klass;
  if (sc.empty()) {
    auto all = kube::ListAll(client_, rs::kStorageClasses, "");
    if (!all.ok()) {
      return Failed("list storage classes: " + ErrText(all.error()));
    }
    for (const auto& c : all->items) {
      if (FieldText(GetField(c, "metadata.annotations[\"storageclass.kubernetes.io/is-default-class\"]")) == "true") {
        klass = c;
        sc = c["metadata"].value("name", "");
      }
    }
    if (sc.empty()) {
      return Failed("the claim names no storage class and there is no default one");
    }
  } else {
    auto c = client_.Get(kube::ObjectRef{rs::kStorageClasses, "", sc, {}});
    if (!c.ok()) {
      return Failed("get storage class " + sc + ": " + ErrText(c.error()));
    }
    klass = *c;
  }
  if (!klass.value("allowVolumeExpansion", false)) {
    return Failed("storage class " + sc + " does not allow volume expansion (allowVolumeExpansion is not true)");
  }
  const v1::ExpandPVC& p = req.action.expand_pvc();
  auto operator_max = kube::Quantity::Parse(options_.pvc_max_size);
  if (!operator_max.ok()) {
    return Failed("executor.pvc.max_size: " + operator_max.error().message);
  }
  std::optional<kube::Quantity> max = *operator_max;
  std::string clamp;
  if (!p.max_size().empty()) {
    auto q = kube::Quantity::Parse(p.max_size());
    if (!q.ok()) {
      return Failed("max_size: " + q.error().message);
    }
    if (*q <= *operator_max) {
      max = *q;
    } else {
      clamp = "; the proposal's max_size " + q->ToString() + " clamped to the operator's executor.pvc.max_size " +
              operator_max->ToString();
    }
  }
  std::string reason;
  std::string to;
  ActionResult r = MutateOnce(ref, req, [&](json& obj) -> absl::StatusOr<std::vector<Change>> {
    const std::string path = "spec.resources.requests.storage";
    auto size = kube::Quantity::Parse(FieldText(GetField(obj, path)));
    if (!size.ok()) {
      return absl::FailedPreconditionError(path + ": " + size.error().message);
    }
    auto plan = PlanStorageIncrease(*size, p.percent() ? p.percent() : options_.pvc_percent, max);
    if (!plan.ok()) {
      return plan.status();
    }
    reason = plan->reason;
    to = plan->to.ToString();
    (void)SetField(obj, path, to);
    return std::vector<Change>{{KeyOf(ref), path, size->ToString(), to}};
  });
  r.detail = r.detail.empty() ? reason + clamp : r.detail;
  r.verify.kind = VerifyKind::kPvc;
  r.verify.ref = ref;
  r.verify.expect_size = to;
  return r;
}

ActionResult Actuator::AdjustHpa(const ActionRequest& req) {
  kube::ObjectRef ref{rs::kHorizontalPodAutoscalers, req.target.namespace_(), req.target.name(), {}};
  const v1::AdjustHPA& p = req.action.adjust_hpa();
  std::string reason;
  std::string clamp;
  uint32_t cap = BoundByOperator(p.max_replicas_cap(), options_.hpa_max_cap, "max_replicas_cap", &clamp);
  int64_t to = 0;
  ActionResult r = MutateOnce(ref, req, [&](json& obj) -> absl::StatusOr<std::vector<Change>> {
    const json* cur = GetField(obj, "spec.maxReplicas");
    if (cur == nullptr || !cur->is_number_integer()) {
      return absl::FailedPreconditionError("the HPA has no spec.maxReplicas");
    }
    auto plan = PlanCountIncrease(cur->get<int64_t>(), p.percent() ? p.percent() : options_.scale_percent,
                                  p.min_step() ? p.min_step() : options_.scale_min_step, cap, 0);
    if (!plan.ok()) {
      return plan.status();
    }
    reason = plan->reason;
    to = plan->to;
    obj["spec"]["maxReplicas"] = plan->to;
    return std::vector<Change>{{KeyOf(ref), "spec.maxReplicas", std::to_string(plan->from), std::to_string(to)}};
  });
  r.detail = r.detail.empty() ? "maxReplicas " + reason + clamp : r.detail;
  r.verify.kind = VerifyKind::kHpa;
  r.verify.ref = ref;
  r.verify.expect_count = to;
  return r;
}

// DeleteCompletedJobs has no marker: each delete carries the job's uid as a
// precondition, so a replay cannot delete anything twice; the executor's
// outcome index reports the replay as DUPLICATE.
namespace {

// "" when `job` is not a Complete job finished before `cutoff`, else its
// completion time.
std::string CompletedBefore(const json& job, const std::string& cutoff) {
  bool complete = false;
  if (const json* conds = GetField(job, "status.conditions"); conds != nullptr && conds->is_array()) {
    for (const auto& c : *conds) {
      complete = complete || (c.value("type", "") == "Complete" && c.value("status", "") == "True");
    }
  }
  std::string done = FieldText(GetField(job, "status.completionTime"));
  // RFC 3339 UTC strings of one format compare in time order.
  if (!complete || done.empty() || done.substr(0, 19) >= cutoff.substr(0, 19)) {
    return "";
  }
  return done;
}

}  // namespace

ActionResult Actuator::DeleteCompletedJobs(const ActionRequest& req) {
  const std::string& ns = req.target.namespace_();
  if (ns.empty()) {
    return Failed("DeleteCompletedJobs needs a namespace");
  }
  const v1::DeleteCompletedJobs& p = req.action.delete_completed_jobs();
  if (auto refusal = guard_.CheckRef(kube::ObjectRef{rs::kNamespaces, "", ns, {}})) {
    return Refused(*refusal);
  }
  uint32_t older = p.older_than_seconds() ? p.older_than_seconds() : options_.jobs_older_than_seconds;
  kube::ListOptions lo;
  lo.label_selector = p.label_selector();
  auto jobs = kube::ListAll(client_, rs::kJobs, ns, lo);
  if (!jobs.ok()) {
    return Failed("list jobs: " + ErrText(jobs.error()));
  }
  std::string cutoff = Rfc3339(clock_.Now() - std::chrono::seconds(older));
  ActionResult r;
  r.status = req.dry_run ? v1::OUTCOME_STATUS_DRY_RUN : v1::OUTCOME_STATUS_SUCCEEDED;
  std::vector<std::string> failures;
  std::vector<std::string> left;
  for (const auto& job : jobs->items) {
    std::string done = CompletedBefore(job, cutoff);
    if (done.empty()) {
      continue;
    }
    const json& md = job["metadata"];
    kube::ObjectRef ref{rs::kJobs, ns, md.value("name", ""), {}};
    if (auto refusal = guard_.Check("Job", job)) {
      left.push_back(ref.name + " (" + refusal->rule + ")");
      continue;
    }
    kube::DeleteOptions d;
    d.dry_run = req.dry_run;
    d.precondition_uid = md.value("uid", "");
    d.propagation_policy = kube::PropagationPolicy::kBackground;
    auto del = client_.Delete(ref, d);
    if (!del.ok() && del.error().kind != kube::ErrorKind::kNotFound) {
      failures.push_back(ref.name + ": " + ErrText(del.error()));
      continue;
    }
    r.changes.push_back({KeyOf(ref), kObjectPath, "completed " + done, ""});
  }
  r.detail = fmt::format("deleted {} job(s) completed before {}{}{}", r.changes.size(), cutoff,
                         p.label_selector().empty() ? "" : " matching " + p.label_selector(),
                         left.empty() ? "" : fmt::format("; left in place (protected): {}", fmt::join(left, ", ")));
  if (!failures.empty()) {
    r.status = v1::OUTCOME_STATUS_FAILED;
    r.error = fmt::format("could not delete: {}", fmt::join(failures, "; "));
  }
  return r;
}

ActionResult Actuator::Notify(const ActionRequest& req) {
  const v1::Notify& p = req.action.notify();
  auto it = options_.notify_channels.find(p.channel());
  if (it == options_.notify_channels.end()) {
    return Failed("notify channel \"" + p.channel() + "\" is not configured (executor.notify.channels)");
  }
  std::string text = p.message().empty() ? req.summary : p.message() + (req.summary.empty() ? "" : "\n" + req.summary);
  ActionResult r;
  if (req.dry_run) {
    r.status = v1::OUTCOME_STATUS_DRY_RUN;
    r.detail = "would post to channel " + p.channel();
    return r;
  }
  if (notifier_ == nullptr) {
    return Failed("no notifier");
  }
  if (auto st = notifier_->Post(it->second, json{{"text", text}}.dump()); !st.ok()) {
    return Failed("post to channel " + p.channel() + ": " + StatusText(st));
  }
  r.status = v1::OUTCOME_STATUS_SUCCEEDED;
  r.detail = "posted to channel " + p.channel();
  return r;
}

}  // namespace kubemend::executor
