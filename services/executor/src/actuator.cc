#include "actuator.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <ctime>

#include "kubemend/common/events.h"
#include "kubemend/kube/memory_math.h"

namespace kubemend::executor {

using nlohmann::json;
namespace rs = kube::resources;

std::string Rfc3339(TimePoint t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<kube::ResourceType> TypeForKind(const std::string& kind) {
  static const std::map<std::string, kube::ResourceType> kTypes = {
      {"Pod", rs::kPods},
      {"Node", rs::kNodes},
      {"Deployment", rs::kDeployments},
      {"StatefulSet", rs::kStatefulSets},
      {"ReplicaSet", rs::kReplicaSets},
      {"DaemonSet", rs::kDaemonSets},
      {"Job", rs::kJobs},
      {"PersistentVolumeClaim", rs::kPersistentVolumeClaims},
      {"HorizontalPodAutoscaler", rs::kHorizontalPodAutoscalers},
  };
  auto it = kTypes.find(kind);
  if (it == kTypes.end()) {
    return std::nullopt;
  }
  return it->second;
}

absl::StatusOr<kube::ObjectRef> RefFromKey(const std::string& key) {
  size_t a = key.find('/');
  size_t b = a == std::string::npos ? a : key.find('/', a + 1);
  if (b == std::string::npos) {
    return absl::InvalidArgumentError("object key \"" + key + "\" is not Kind/namespace/name");
  }
  auto type = TypeForKind(key.substr(0, a));
  if (!type) {
    return absl::InvalidArgumentError("object key \"" + key + "\": unsupported kind");
  }
  return kube::ObjectRef{*type, key.substr(a + 1, b - a - 1), key.substr(b + 1), {}};
}

std::string KeyOf(const kube::ObjectRef& ref) { return ObjectKey(ref.type.kind, ref.ns, ref.name); }

namespace {

ActionResult Failed(std::string error) {
  ActionResult r;
  r.status = v1::OUTCOME_STATUS_FAILED;
  r.error = std::move(error);
  return r;
}

std::string ErrText(const kube::Error& e) { return e.ToString(); }

// The controller owner reference of an object, if any.
const json* ControllerOf(const json& obj) {
  const json* refs = GetField(obj, "metadata.ownerReferences");
  if (refs == nullptr || !refs->is_array()) {
    return nullptr;
  }
  for (const auto& r : *refs) {
    if (r.value("controller", false)) {
      return &r;
    }
  }
  return nullptr;
}

// The container the action concerns: the named one, else the only/first.
absl::StatusOr<std::string> PickContainer(const json& workload, const std::string& wanted) {
  const json* cs = GetField(workload, "spec.template.spec.containers");
  if (cs == nullptr || !cs->is_array() || cs->empty()) {
    return absl::FailedPreconditionError("the workload has no containers");
  }
  if (wanted.empty()) {
    return (*cs)[0].value("name", "");
  }
  for (const auto& c : *cs) {
    if (c.value("name", "") == wanted) {
      return wanted;
    }
  }
  return absl::FailedPreconditionError("the workload has no container named " + wanted);
}

int64_t TotalRestarts(const json& pod) {
  int64_t n = 0;
  const json* st = GetField(pod, "status.containerStatuses");
  if (st != nullptr && st->is_array()) {
    for (const auto& c : *st) {
      n += c.value("restartCount", int64_t{0});
    }
  }
  return n;
}

std::string StatusText(const absl::Status& st) { return std::string(st.message()); }

}  // namespace

Actuator::Actuator(kube::KubeClient& client, Notifier* notifier, Sleeper sleep, const Clock& clock,
                   ActuatorOptions options)
    : client_(client), notifier_(notifier), sleep_(std::move(sleep)), clock_(clock), options_(std::move(options)) {}

absl::StatusOr<kube::ObjectRef> Actuator::ResolveWorkload(const v1::Target& t) {
  if (t.kind() == "Deployment" || t.kind() == "StatefulSet") {
    return kube::ObjectRef{*TypeForKind(t.kind()), t.namespace_(), t.name(), {}};
  }
  if ((t.owner_kind() == "Deployment" || t.owner_kind() == "StatefulSet") && !t.owner_name().empty()) {
    return kube::ObjectRef{*TypeForKind(t.owner_kind()), t.namespace_(), t.owner_name(), {}};
  }
  if (t.kind() != "Pod" && t.kind() != "ReplicaSet") {
    return absl::InvalidArgumentError("target kind " + t.kind() +
                                      " is not a Deployment, StatefulSet or a pod they own");
  }
  kube::ObjectRef cur{*TypeForKind(t.kind()), t.namespace_(), t.name(), {}};
  for (int depth = 0; depth < 3; ++depth) {
    if (cur.type.kind == "Deployment" || cur.type.kind == "StatefulSet") {
      return cur;
    }
    auto obj = client_.Get(cur);
    if (!obj.ok()) {
      return absl::UnavailableError("cannot read " + KeyOf(cur) + ": " + ErrText(obj.error()));
    }
    const json* owner = ControllerOf(*obj);
    if (owner == nullptr) {
      return absl::FailedPreconditionError(KeyOf(cur) + " has no controller owner");
    }
    auto type = TypeForKind(owner->value("kind", ""));
    if (!type) {
      return absl::FailedPreconditionError(KeyOf(cur) + " is owned by a " + owner->value("kind", "") +
                                           ", not a Deployment or StatefulSet");
    }
    cur = kube::ObjectRef{*type, t.namespace_(), owner->value("name", ""), {}};
  }
  return absl::FailedPreconditionError("ownership chain of " + TargetKey(t) + " is too deep");
}

absl::StatusOr<std::string> Actuator::LockKey(const ActionRequest& req) {
  const v1::Target& t = req.target;
  switch (req.action.type()) {
    case v1::ACTION_TYPE_ROLLOUT_RESTART:
    case v1::ACTION_TYPE_SCALE_WORKLOAD:
    case v1::ACTION_TYPE_INCREASE_MEMORY:
    case v1::ACTION_TYPE_ROLLBACK_IMAGE: {
      auto w = ResolveWorkload(t);
      if (!w.ok()) {
        return w.status();
      }
      return KeyOf(*w);
    }
    case v1::ACTION_TYPE_DELETE_COMPLETED_JOBS:
      return ObjectKey("Namespace", "", t.namespace_());
    case v1::ACTION_TYPE_NOTIFY:
      return "Notify/" + req.incident_id;
    default:
      return ObjectKey(t.kind(), t.kind() == "Node" ? "" : t.namespace_(), t.name());
  }
}

// GET, mutate a copy, then one merge PATCH carrying the change, the marker
// and metadata.resourceVersion: the API server applies it only if the object
// has not moved on (409 otherwise: read again and retry).
ActionResult Actuator::MutateOnce(const kube::ObjectRef& ref, const ActionRequest& req, const FieldMutate& mutate) {
  kube::PatchOptions po;
  po.dry_run = req.dry_run;
  po.field_manager = "kubemend-executor";
  std::string last_error;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto obj = client_.Get(ref);
    if (!obj.ok()) {
      return Failed("get " + KeyOf(ref) + ": " + ErrText(obj.error()));
    }
    ActionResult r;
    if (HasAction(*obj, req.action_id)) {
      if (auto prior = FindAction(*obj, req.action_id)) {
        r.changes = prior->changes;
      }
      r.status = v1::OUTCOME_STATUS_DUPLICATE;
      r.detail = "action id " + req.action_id + " is already recorded on " + KeyOf(ref);
      return r;
    }
    json changed = *obj;
    auto c = mutate(changed);
    if (!c.ok()) {
      return Failed(StatusText(c.status()));
    }
    RecordAction(changed, {req.action_id, ActionTypeName(req.action.type()), Rfc3339(clock_.Now()), *c});
    json patch = MergePatchFor(*obj, changed);
    patch["metadata"]["resourceVersion"] = (*obj)["metadata"].value("resourceVersion", "");
    auto stored = client_.Patch(ref, kube::PatchType::kMergePatch, patch, po);
    if (stored.ok()) {
      r.changes = std::move(*c);
      r.status = req.dry_run ? v1::OUTCOME_STATUS_DRY_RUN : v1::OUTCOME_STATUS_SUCCEEDED;
      return r;
    }
    last_error = ErrText(stored.error());
    if (stored.error().kind != kube::ErrorKind::kConflict) {
      break;
    }
  }
  return Failed("patch " + KeyOf(ref) + ": " + last_error);
}

std::map<std::string, int64_t> Actuator::RestartBaseline(const kube::ObjectRef& workload) {
  std::map<std::string, int64_t> out;
  auto w = client_.Get(workload);
  if (!w.ok()) {
    return out;
  }
  const json* sel = GetField(*w, "spec.selector");
  if (sel == nullptr) {
    return out;
  }
  auto s = SelectorString(*sel);
  if (!s.ok()) {
    return out;
  }
  kube::ListOptions lo;
  lo.label_selector = *s;
  auto pods = kube::ListAll(client_, rs::kPods, workload.ns, lo);
  if (!pods.ok()) {
    return out;
  }
  for (const auto& p : pods->items) {
    out[p["metadata"].value("uid", "")] = TotalRestarts(p);
  }
  return out;
}

ActionResult Actuator::Apply(const ActionRequest& req) {
  switch (req.action.type()) {
    case v1::ACTION_TYPE_RESTART_POD:
      return RestartPod(req);
    case v1::ACTION_TYPE_ROLLOUT_RESTART:
      return RolloutRestart(req);
    case v1::ACTION_TYPE_SCALE_WORKLOAD:
      return Scale(req);
    case v1::ACTION_TYPE_INCREASE_MEMORY:
      return IncreaseMemory(req);
    case v1::ACTION_TYPE_ROLLBACK_IMAGE:
      return RollbackImage(req);
    case v1::ACTION_TYPE_CORDON_NODE:
      return Cordon(req, true);
    case v1::ACTION_TYPE_UNCORDON_NODE:
      return Cordon(req, false);
    case v1::ACTION_TYPE_DRAIN_NODE:
      return Drain(req);
    case v1::ACTION_TYPE_EXPAND_PVC:
      return ExpandPvc(req);
    case v1::ACTION_TYPE_ADJUST_HPA:
      return AdjustHpa(req);
    case v1::ACTION_TYPE_DELETE_COMPLETED_JOBS:
      return DeleteCompletedJobs(req);
    case v1::ACTION_TYPE_NOTIFY:
      return Notify(req);
    default:
      return Failed("the executor does not run " + ActionTypeName(req.action.type()));
  }
}

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
  uint32_t cap = p.max_replicas() ? p.max_replicas() : options_.scale_max_replicas;
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
    obj["spec"]["replicas"] = plan->to;
    return std::vector<Change>{{KeyOf(*w), "spec.replicas", std::to_string(current), std::to_string(plan->to)}};
  });
  r.detail = r.detail.empty() ? "replicas " + reason : r.detail;
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
  auto cap = kube::Quantity::Parse(p.max_limit().empty() ? options_.memory_max : p.max_limit());
  if (!cap.ok()) {
    return Failed("max_limit: " + cap.error().message);
  }
  in.cap = *cap;
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
    r.detail = reason;
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
// completes and a finished one reports DUPLICATE.
ActionResult Actuator::Drain(const ActionRequest& req) {
  kube::ObjectRef node = kube::Node(req.target.name());
  ActionResult r = MutateOnce(node, req, [&](json& obj) -> absl::StatusOr<std::vector<Change>> {
    std::string before = FieldText(GetField(obj, "spec.unschedulable"));
    obj["spec"]["unschedulable"] = true;
    return std::vector<Change>{{KeyOf(node), "spec.unschedulable", before, "true"}};
  });
  if (r.status == v1::OUTCOME_STATUS_FAILED) {
    return r;
  }
  bool replay = r.status == v1::OUTCOME_STATUS_DUPLICATE;
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
  std::vector<std::string> skipped;
  std::vector<std::string> blocked;
  int evicted = 0;
  for (const auto& pod : pods->items) {
    const json& md = pod["metadata"];
    std::string key = KeyOf(kube::Pod(md.value("namespace", ""), md.value("name", "")));
    const json* owner = ControllerOf(pod);
    std::string phase = FieldText(GetField(pod, "status.phase"));
    if (md.contains("deletionTimestamp") || phase == "Succeeded" || phase == "Failed") {
      continue;
    }
    if (owner != nullptr && owner->value("kind", "") == "DaemonSet") {
      continue;  // the DaemonSet controller would put it straight back
    }
    if (GetField(pod, "metadata.annotations[\"kubernetes.io/config.mirror\"]") != nullptr) {
      continue;  // static pod: the API server cannot remove it
    }
    if (owner == nullptr) {
      skipped.push_back(key + " (no controller)");
      continue;
    }
    bool empty_dir = false;
    if (const json* vols = GetField(pod, "spec.volumes"); vols != nullptr && vols->is_array()) {
      for (const auto& v : *vols) {
        empty_dir = empty_dir || v.contains("emptyDir");
      }
    }
    if (empty_dir && !p.delete_emptydir_data()) {
      skipped.push_back(key + " (emptyDir data; delete_emptydir_data is off)");
      continue;
    }
    kube::EvictOptions eo;
    eo.dry_run = req.dry_run;
    kube::ObjectRef pod_ref = kube::Pod(md.value("namespace", ""), md.value("name", ""));
    while (true) {
      auto ev = client_.Evict(pod_ref, eo);
      if (ev.ok() || ev.error().kind == kube::ErrorKind::kNotFound) {
        ++evicted;
        r.changes.push_back({key, kObjectPath, "uid=" + md.value("uid", ""), ""});
        break;
      }
      if ((ev.error().kind == kube::ErrorKind::kDisruptionBudget ||
           ev.error().kind == kube::ErrorKind::kTooManyRequests) &&
          clock_.Now() + options_.eviction_retry < deadline) {
        sleep_(options_.eviction_retry);
        continue;
      }
      blocked.push_back(key + " (" + ErrText(ev.error()) + ")");
      break;
    }
  }
  r.detail = fmt::format("evicted {} pod(s){}{}", evicted,
                         skipped.empty() ? "" : fmt::format("; skipped {}", fmt::join(skipped, ", ")),
                         blocked.empty() ? "" : fmt::format("; not evicted before the timeout: {}",
                                                            fmt::join(blocked, ", ")));
  if (!skipped.empty() || !blocked.empty()) {
    r.status = v1::OUTCOME_STATUS_FAILED;
    r.error = "drain incomplete: " + r.detail;
  } else if (replay) {
    r.status = evicted > 0 ? v1::OUTCOME_STATUS_SUCCEEDED : v1::OUTCOME_STATUS_DUPLICATE;
    if (evicted > 0) {
      r.detail = "resumed an interrupted drain: " + r.detail;
    }
  }
  r.verify.kind = VerifyKind::kNodeDrained;
  r.verify.ref = node;
  return r;
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
  std::optional<kube::Quantity> max;
  if (!p.max_size().empty()) {
    auto q = kube::Quantity::Parse(p.max_size());
    if (!q.ok()) {
      return Failed("max_size: " + q.error().message);
    }
    max = *q;
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
  r.detail = r.detail.empty() ? reason : r.detail;
  r.verify.kind = VerifyKind::kPvc;
  r.verify.ref = ref;
  r.verify.expect_size = to;
  return r;
}

ActionResult Actuator::AdjustHpa(const ActionRequest& req) {
  kube::ObjectRef ref{rs::kHorizontalPodAutoscalers, req.target.namespace_(), req.target.name(), {}};
  const v1::AdjustHPA& p = req.action.adjust_hpa();
  std::string reason;
  int64_t to = 0;
  ActionResult r = MutateOnce(ref, req, [&](json& obj) -> absl::StatusOr<std::vector<Change>> {
    const json* cur = GetField(obj, "spec.maxReplicas");
    if (cur == nullptr || !cur->is_number_integer()) {
      return absl::FailedPreconditionError("the HPA has no spec.maxReplicas");
    }
    auto plan = PlanCountIncrease(cur->get<int64_t>(), p.percent() ? p.percent() : options_.scale_percent,
                                  p.min_step() ? p.min_step() : options_.scale_min_step,
                                  p.max_replicas_cap() ? p.max_replicas_cap() : options_.hpa_max_cap, 0);
    if (!plan.ok()) {
      return plan.status();
    }
    reason = plan->reason;
    to = plan->to;
    obj["spec"]["maxReplicas"] = plan->to;
    return std::vector<Change>{{KeyOf(ref), "spec.maxReplicas", std::to_string(plan->from), std::to_string(to)}};
  });
  r.detail = r.detail.empty() ? "maxReplicas " + reason : r.detail;
  r.verify.kind = VerifyKind::kHpa;
  r.verify.ref = ref;
  r.verify.expect_count = to;
  return r;
}

// DeleteCompletedJobs has no marker: each delete carries the job's uid as a
// precondition, so a replay cannot delete anything twice; the executor's
// outcome index reports the replay as DUPLICATE.
ActionResult Actuator::DeleteCompletedJobs(const ActionRequest& req) {
  const std::string& ns = req.target.namespace_();
  if (ns.empty()) {
    return Failed("DeleteCompletedJobs needs a namespace");
  }
  uint32_t older = req.action.delete_completed_jobs().older_than_seconds();
  if (older == 0) {
    older = options_.jobs_older_than_seconds;
  }
  auto jobs = kube::ListAll(client_, rs::kJobs, ns);
  if (!jobs.ok()) {
    return Failed("list jobs: " + ErrText(jobs.error()));
  }
  std::string cutoff = Rfc3339(clock_.Now() - std::chrono::seconds(older));
  ActionResult r;
  r.status = req.dry_run ? v1::OUTCOME_STATUS_DRY_RUN : v1::OUTCOME_STATUS_SUCCEEDED;
  std::vector<std::string> failures;
  for (const auto& job : jobs->items) {
    bool complete = false;
    if (const json* conds = GetField(job, "status.conditions"); conds != nullptr && conds->is_array()) {
      for (const auto& c : *conds) {
        complete = complete || (c.value("type", "") == "Complete" && c.value("status", "") == "True");
      }
    }
    std::string done = FieldText(GetField(job, "status.completionTime"));
    // RFC 3339 UTC strings of one format compare in time order.
    if (!complete || done.empty() || done.substr(0, 19) >= cutoff.substr(0, 19)) {
      continue;
    }
    const json& md = job["metadata"];
    kube::DeleteOptions d;
    d.dry_run = req.dry_run;
    d.precondition_uid = md.value("uid", "");
    d.propagation_policy = kube::PropagationPolicy::kBackground;
    kube::ObjectRef ref{rs::kJobs, ns, md.value("name", ""), {}};
    auto del = client_.Delete(ref, d);
    if (!del.ok() && del.error().kind != kube::ErrorKind::kNotFound) {
      failures.push_back(ref.name + ": " + ErrText(del.error()));
      continue;
    }
    r.changes.push_back({KeyOf(ref), kObjectPath, "completed " + done, ""});
  }
  r.detail = fmt::format("deleted {} job(s) completed before {}", r.changes.size(), cutoff);
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

ActionResult Actuator::Undo(const std::string& rollback_id, const std::vector<Change>& changes, bool dry_run) {
  std::map<std::string, std::vector<Change>> by_object;
  std::vector<std::string> order;
  std::vector<std::string> irreversible;
  for (const auto& c : changes) {
    if (c.path == kObjectPath) {
      irreversible.push_back(c.object);
      continue;
    }
    if (!by_object.count(c.object)) {
      order.push_back(c.object);
    }
    by_object[c.object].push_back(c);
  }
  if (order.empty()) {
    return Failed(irreversible.empty() ? "nothing to undo: the action recorded no changes"
                                       : fmt::format("cannot undo: {} deleted or evicted", fmt::join(irreversible, ", ")));
  }
  ActionResult total;
  total.status = v1::OUTCOME_STATUS_DUPLICATE;
  for (const auto& key : order) {
    auto ref = RefFromKey(key);
    if (!ref.ok()) {
      return Failed(StatusText(ref.status()));
    }
    ActionRequest req;
    req.action_id = rollback_id;
    req.action.set_type(v1::ACTION_TYPE_UNSPECIFIED);
    req.dry_run = dry_run;
    const auto& list = by_object[key];
    ActionResult r = MutateOnce(*ref, req, [&](json& obj) -> absl::StatusOr<std::vector<Change>> {
      std::vector<Change> out;
      for (auto it = list.rbegin(); it != list.rend(); ++it) {
        const json* cur = GetField(obj, it->path);
        std::string now = FieldText(cur);
        auto value = FieldFromText(it->before, cur);
        if (!value.ok()) {
          return value.status();
        }
        if (auto st = SetField(obj, it->path, *value); !st.ok()) {
          return st;
        }
        out.push_back({key, it->path, now, it->before});
      }
      return out;
    });
    if (r.status == v1::OUTCOME_STATUS_FAILED) {
      r.changes.insert(r.changes.begin(), total.changes.begin(), total.changes.end());
      return r;
    }
    if (r.status != v1::OUTCOME_STATUS_DUPLICATE) {
      total.status = r.status;
    }
    total.changes.insert(total.changes.end(), r.changes.begin(), r.changes.end());
    if (ref->type.kind == "Deployment" || ref->type.kind == "StatefulSet") {
      total.verify = {VerifyKind::kWorkload, *ref, RestartBaseline(*ref), 0, ""};
    }
  }
  if (total.status == v1::OUTCOME_STATUS_SUCCEEDED) {
    total.status = v1::OUTCOME_STATUS_ROLLED_BACK;
  }
  if (!irreversible.empty()) {
    total.detail = fmt::format("not undone (deleted or evicted): {}", fmt::join(irreversible, ", "));
  }
  return total;
}

void Actuator::RecordStableImages(const kube::ObjectRef& workload) {
  auto obj = client_.Get(workload);
  if (!obj.ok()) {
    return;
  }
  const json* cs = GetField(*obj, "spec.template.spec.containers");
  if (cs == nullptr || !cs->is_array()) {
    return;
  }
  json patch = {{"metadata", {{"annotations", json::object()}}}};
  bool any = false;
  for (const auto& c : *cs) {
    std::string key = kStableImagePrefix + c.value("name", "");
    std::string img = c.value("image", "");
    if (FieldText(GetField(*obj, "metadata.annotations[\"" + key + "\"]")) != img) {
      patch["metadata"]["annotations"][key] = img;
      any = true;
    }
  }
  if (any) {
    (void)client_.Patch(workload, kube::PatchType::kMergePatch, patch);
  }
}

std::optional<HistoryEntry> Actuator::HistoryOn(const kube::ObjectRef& ref, const std::string& action_id) {
  auto obj = client_.Get(ref);
  if (!obj.ok()) {
    return std::nullopt;
  }
  return FindAction(*obj, action_id);
}

}  // namespace kubemend::executor
