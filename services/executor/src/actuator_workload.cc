// The Actuator's actions on workloads: RestartPod, RolloutRestart,
// ScaleWorkload, IncreaseMemory, RollbackImage.
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

// RestartPod: the marker goes on the pod's controller first (with the pod's
// uid as the recorded change), then the pod is deleted with a uid
// precondition. A replay that finds the marker finishes an interrupted
// delete of that same pod uid, and never deletes a replacement pod.
ActionResult Actuator::RestartPod(const ActionRequest& req) {
  const v1::Target& t = req.target;
  if (t.kind() != "Pod") {
    return Failed("RestartPod needs a Pod target, got " + t.kind());
  }
  kube::ObjectRef pod_ref = kube::Pod(t.namespace_(), t.name());
  auto pod = client_.Get(pod_ref);
  std::string uid;
  const json* owner = nullptr;
  if (pod.ok()) {
    uid = (*pod)["metadata"].value("uid", "");
    owner = ControllerOf(*pod);
    if (owner == nullptr) {
      return Failed("pod " + t.namespace_() + "/" + t.name() +
                    " has no controller: refusing to delete a bare pod (nothing would recreate it)");
    }
    // The pod itself (its labels, annotations, owners, namespace); the
    // workload that gets the marker is checked by MutateOnce.
    if (auto refusal = guard_.Check("Pod", *pod)) {
      return Refused(*refusal);
    }
  } else if (pod.error().kind != kube::ErrorKind::kNotFound) {
    return Failed("get pod: " + ErrText(pod.error()));
  }
  // The marker goes on the pod's workload (Deployment via its ReplicaSet,
  // or StatefulSet): the object that outlives the pod.
  std::optional<kube::ObjectRef> owner_ref;
  if (owner != nullptr || (t.owner_kind() == "Deployment" || t.owner_kind() == "StatefulSet")) {
    auto w = ResolveWorkload(t);
    if (!w.ok()) {
      return Failed("RestartPod marks the pod's Deployment or StatefulSet: " + StatusText(w.status()));
    }
    owner_ref = *w;
  }
  if (!owner_ref) {
    return Failed("pod " + t.namespace_() + "/" + t.name() + " is gone and its owner is unknown");
  }
  std::string pod_key = KeyOf(pod_ref);
  ActionResult r;
  if (!uid.empty()) {
    r = MutateOnce(*owner_ref, req, [&](json&) -> absl::StatusOr<std::vector<Change>> {
      return std::vector<Change>{{pod_key, kObjectPath, "uid=" + uid, ""}};
    });
  } else {
    // The pod is gone: either we deleted it (marker present) or someone else did.
    auto o = client_.Get(*owner_ref);
    if (o.ok() && HasAction(*o, req.action_id)) {
      r.status = v1::OUTCOME_STATUS_DUPLICATE;
      r.changes = FindAction(*o, req.action_id).value_or(HistoryEntry{}).changes;
      r.detail = "action id already recorded on " + KeyOf(*owner_ref);
      return r;
    }
    return Failed("pod " + t.namespace_() + "/" + t.name() + " no longer exists");
  }
  if (r.status == v1::OUTCOME_STATUS_FAILED) {
    return r;
  }
  // The uid the marker names; a duplicate finishes the delete only for it.
  std::string marked_uid = uid;
  for (const auto& c : r.changes) {
    if (c.object == pod_key && c.before.rfind("uid=", 0) == 0) {
      marked_uid = c.before.substr(4);
    }
  }
  if (r.status == v1::OUTCOME_STATUS_DUPLICATE && marked_uid != uid) {
    return r;  // the marked pod is gone; this one is its replacement
  }
  kube::DeleteOptions d;
  d.dry_run = req.dry_run;
  d.precondition_uid = marked_uid;
  auto del = client_.Delete(pod_ref, d);
  if (!del.ok() && del.error().kind != kube::ErrorKind::kNotFound) {
    return Failed("delete pod: " + ErrText(del.error()));
  }
  if (r.status == v1::OUTCOME_STATUS_DUPLICATE) {
    r.status = v1::OUTCOME_STATUS_SUCCEEDED;
    r.detail = "finished an interrupted restart of pod uid " + marked_uid;
  }
  r.changes = {{pod_key, kObjectPath, "uid=" + marked_uid, ""}};
  r.verify.kind = VerifyKind::kWorkload;
  r.verify.ref = *owner_ref;
  return r;
}

ActionResult Actuator::RolloutRestart(const ActionRequest& req) {
  auto w = ResolveWorkload(req.target);
  if (!w.ok()) {
    return Failed(StatusText(w.status()));
  }
  auto baseline = RestartBaseline(*w);
  std::string now = Rfc3339(clock_.Now());
  std::string path = std::string("spec.template.metadata.annotations[\"") + kRestartedAtAnnotation + "\"]";
  ActionResult r = MutateOnce(*w, req, [&](json& obj) -> absl::StatusOr<std::vector<Change>> {
    std::string before = FieldText(GetField(obj, path));
    if (auto st = SetField(obj, path, now); !st.ok()) {
      return st;
    }
    return std::vector<Change>{{KeyOf(*w), path, before, now}};
  });
  r.verify = {VerifyKind::kWorkload, *w, baseline, 0, ""};
  return r;
}

ActionResult Actuator::Scale(const ActionRequest& req) {
  auto w = ResolveWorkload(req.target);
  if (!w.ok()) {
    return Failed(StatusText(w.status()));
  }
  // The scale subresource says what the controller sees (spec and status
  // replicas); the write goes to the workload itself so that the action id
  // annotation lands in the same update.
  auto scale = kube::GetScale(client_, *w);
  if (!scale.ok()) {
    return Failed("get scale: " + ErrText(scale.error()));
  }
  const v1::ScaleWorkload& p = req.action.scale_workload();
  uint32_t percent = p.percent() ? p.percent() : options_.scale_percent;
  uint32_t min_step = p.min_step() ? p.min_step() : options_.scale_min_step;
  std::string clamp;
  uint32_t cap = BoundByOperator(p.max_replicas(), options_.scale_max_replicas, "max_replicas", &clamp);
  auto baseline = RestartBaseline(*w);
  std::string reason;
  ActionResult r = MutateOnce(*w, req, [&](json& obj) -> absl::StatusOr<std::vector<Change>> {
    const json* cur = GetField(obj, "spec.replicas");
    int64_t current = cur != nullptr && cur->is_number_integer() ? cur->get<int64_t>() : 1;
    auto plan = PlanCountIncrease(current, percent, min_step, cap, p.delta());
    if (!plan.ok()) {
      return plan.status();
    }
    reason = plan->reason;
    if (auto floor = static_cast<int64_t>(options_.scale_min_replicas); plan->to < floor && plan->to < current) {
      if (current <= floor) {
        return absl::FailedPreconditionError("refusing to scale below the operator's minimum of " +
                                             std::to_string(floor) + " replicas (executor.scale.min_replicas)");
      }
      reason += "; clamped to the operator's minimum of " + std::to_string(floor) + " replicas";
      plan->to = floor;
    }
    obj["spec"]["replicas"] = plan->to;
    return std::vector<Change>{{KeyOf(*w), "spec.replicas", std::to_string(current), std::to_string(plan->to)}};
  });
  r.detail = r.detail.empty() ? "replicas " + reason + clamp : r.detail;
  r.verify = {VerifyKind::kWorkload, *w, baseline, 0, ""};
  return r;
}

ActionResult Actuator::IncreaseMemory(const ActionRequest& req) {
  auto w = ResolveWorkload(req.target);
  if (!w.ok()) {
    return Failed(StatusText(w.status()));
  }
  const v1::IncreaseMemory& p = req.action.increase_memory();
  kube::MemoryIncreaseInput in;
  in.percent = p.percent() ? p.percent() : options_.memory_percent;
  if (!p.round_to().empty()) {
    auto q = kube::Quantity::Parse(p.round_to());
    if (!q.ok()) {
      return Failed("round_to: " + q.error().message);
    }
    in.boundary = *q;
  }
  auto operator_cap = kube::Quantity::Parse(options_.memory_max);
  if (!operator_cap.ok()) {
    return Failed("executor.memory.max: " + operator_cap.error().message);
  }
  in.cap = *operator_cap;
  std::string clamp;
  if (!p.max_limit().empty()) {
    auto asked = kube::Quantity::Parse(p.max_limit());
    if (!asked.ok()) {
      return Failed("max_limit: " + asked.error().message);
    }
    if (*asked <= *operator_cap) {
      in.cap = *asked;
    } else {
      clamp = "; the proposal's max_limit " + asked->ToString() + " clamped to the operator's executor.memory.max " +
              operator_cap->ToString();
    }
  }
  auto baseline = RestartBaseline(*w);
  std::string reason;
  ActionResult r = MutateOnce(*w, req, [&](json& obj) -> absl::StatusOr<std::vector<Change>> {
    auto name = PickContainer(obj, req.target.container());
    if (!name.ok()) {
      return name.status();
    }
    std::string base = "spec.template.spec.containers[" + *name + "].resources.";
    kube::MemoryIncreaseInput input = in;
    for (auto [path, slot] : {std::pair{base + "limits.memory", &input.limit},
                              std::pair{base + "requests.memory", &input.request}}) {
      const json* v = GetField(obj, path);
      if (v != nullptr) {
        auto q = kube::Quantity::Parse(FieldText(v));
        if (!q.ok()) {
          return absl::InvalidArgumentError(path + ": " + q.error().message);
        }
        *slot = *q;
      }
    }
    auto plan = kube::PlanMemoryIncrease(input);
    if (!plan.ok()) {
      return absl::FailedPreconditionError("container " + *name + ": " + plan.error().reason);
    }
    reason = plan->reason;
    std::vector<Change> out;
    if (plan->limit) {
      std::string after = plan->limit->ToString();
      out.push_back({KeyOf(*w), base + "limits.memory", input.limit->ToString(), after});
      (void)SetField(obj, base + "limits.memory", after);
    }
    if (plan->request && input.request && *plan->request != *input.request) {
      std::string after = plan->request->ToString();
      out.push_back({KeyOf(*w), base + "requests.memory", input.request->ToString(), after});
      (void)SetField(obj, base + "requests.memory", after);
    }
    return out;
  });
  if (r.detail.empty()) {
    r.detail = reason + clamp;
  }
  r.verify = {VerifyKind::kWorkload, *w, baseline, 0, ""};
  return r;
}

ActionResult Actuator::RollbackImage(const ActionRequest& req) {
  auto w = ResolveWorkload(req.target);
  if (!w.ok()) {
    return Failed(StatusText(w.status()));
  }
  auto obj = client_.Get(*w);
  if (!obj.ok()) {
    return Failed("get " + KeyOf(*w) + ": " + ErrText(obj.error()));
  }
  auto name = PickContainer(*obj, req.target.container());
  if (!name.ok()) {
    return Failed(StatusText(name.status()));
  }
  std::string image_path = "spec.template.spec.containers[" + *name + "].image";
  std::string current = FieldText(GetField(*obj, image_path));
  std::string to = req.action.rollback_image().to_image();
  std::string source = "requested";
  if (to.empty()) {
    to = FieldText(GetField(*obj, std::string("metadata.annotations[\"") + kStableImagePrefix + *name + "\"]"));
    source = "last stable image annotation";
  }
  if ((to.empty() || to == current) && w->type.kind == "Deployment" && !HasAction(*obj, req.action_id)) {
    // The previous ReplicaSet revision with a different image.
    to.clear();
    const std::string uid = (*obj)["metadata"].value("uid", "");
    auto rsets = kube::ListAll(client_, rs::kReplicaSets, w->ns);
    if (!rsets.ok()) {
      return Failed("list replicasets: " + ErrText(rsets.error()));
    }
    std::vector<std::pair<int64_t, std::string>> revisions;
    for (const auto& rset : rsets->items) {
      const json* owner = ControllerOf(rset);
      if (owner == nullptr || owner->value("uid", "") != uid) {
        continue;
      }
      std::string rev = FieldText(GetField(rset, "metadata.annotations[\"deployment.kubernetes.io/revision\"]"));
      std::string img = FieldText(GetField(rset, image_path));
      if (img.empty() || img == current) {
        continue;
      }
      revisions.emplace_back(rev.empty() ? 0 : std::atoll(rev.c_str()), img);
    }
    std::sort(revisions.rbegin(), revisions.rend());
    if (!revisions.empty()) {
      to = revisions.front().second;
      source = "ReplicaSet revision " + std::to_string(revisions.front().first);
    }
  }
  if ((to.empty() || to == current) && !HasAction(*obj, req.action_id)) {
    return Failed("no earlier image than " + current + " is known for container " + *name +
                  " (no stable-image annotation, no older ReplicaSet revision)");
  }
  auto baseline = RestartBaseline(*w);
  ActionResult r = MutateOnce(*w, req, [&](json& o) -> absl::StatusOr<std::vector<Change>> {
    std::string before = FieldText(GetField(o, image_path));
    if (before == to) {
      return absl::FailedPreconditionError("container " + *name + " already runs " + to);
    }
    if (auto st = SetField(o, image_path, to); !st.ok()) {
      return st;
    }
    return std::vector<Change>{{KeyOf(*w), image_path, before, to}};
  });
  if (r.detail.empty()) {
    r.detail = "image " + current + " -> " + to + " (" + source + ")";
  }
  r.verify = {VerifyKind::kWorkload, *w, baseline, 0, ""};
  return r;
}

}  // namespace kubemend::executor
