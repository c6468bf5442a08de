#include "actuator.h"
#include "actuator_internal.h"

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
      {"CronJob", kube::ResourceType{"batch", "v1", "cronjobs", true, "CronJob"}},
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

namespace detail {

ActionResult Failed(std::string error) {
  ActionResult r;
  r.status = v1::OUTCOME_STATUS_FAILED;
  r.error = std::move(error);
  return r;
}

ActionResult Refused(const Refusal& r) {
  ActionResult out;
  out.status = v1::OUTCOME_STATUS_REFUSED;
  out.error = RefusalText(r);
  out.detail = "not changed: " + r.reason;
  return out;
}

std::string ErrText(const kube::Error& e) { return e.ToString(); }

uint32_t BoundByOperator(uint32_t asked, uint32_t operator_max, const std::string& field, std::string* note) {
  if (asked == 0) {
    return operator_max;
  }
  if (asked > operator_max) {
    *note = fmt::format("; the proposal's {} {} clamped to the operator's {}", field, asked, operator_max);
    return operator_max;
  }
  return asked;
}

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

}  // namespace detail

using namespace detail;

Actuator::Actuator(kube::KubeClient& client, Notifier* notifier, Sleeper sleep, const Clock& clock,
                   ActuatorOptions options)
    : client_(client),
      notifier_(notifier),
      sleep_(std::move(sleep)),
      clock_(clock),
      options_(std::move(options)),
      guard_(client, options_.protection) {}

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

namespace {
// A 5xx or a lost connection after the request went out: the server may have
// applied the write and lost the answer.
bool MayHaveLanded(kube::ErrorKind kind) {
  return kind == kube::ErrorKind::kInternal || kind == kube::ErrorKind::kUnavailable ||
         kind == kube::ErrorKind::kTimeout || kind == kube::ErrorKind::kUnknown;
}
}  // namespace

// GET, mutate a copy, then one merge PATCH carrying the change, the marker
// and metadata.resourceVersion: the API server applies it only if the object
// has not moved on (409 otherwise: read again and retry). When the PATCH
// fails in a way that may hide a success, the marker on the live object says
// whether it was applied, so the outcome tells the truth.
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
    // The last line of defence: the live object, its owners, its namespace.
    if (auto refusal = guard_.Check(ref.type.kind, *obj)) {
      return Refused(*refusal);
    }
    json changed = *obj;
    auto c = mutate(changed);
    if (!c.ok()) {
      return Failed(StatusText(c.status()));
    }
    if (gitops_ != nullptr && ExpressibleInGit(req.action.type())) {
      // Where a GitOps controller owns the object, a live patch would be
      // reverted: the same planned change goes to Git as a pull request.
      ViaChoice via = ChooseVia(gitops_->config(), req.action.apply_via(), ref.ns, *obj);
      if (via.gitops) {
        return ProposeInGit(ref, req, *obj, std::move(*c), via);
      }
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
    if (!req.dry_run && MayHaveLanded(stored.error().kind)) {
      if (auto now = client_.Get(ref); now.ok() && HasAction(*now, req.action_id)) {
        r.changes = std::move(*c);
        r.status = v1::OUTCOME_STATUS_SUCCEEDED;
        r.detail = "applied: the API server answered \"" + last_error + "\", but " + KeyOf(ref) +
                   " carries action id " + req.action_id;
        return r;
      }
    }
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
  if (cs == nullptr || !cs->is_array() || guard_.Check(workload.type.kind, *obj)) {
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
