// The actuator's GitOps side: a planned change as a pull request instead of a
// live patch, and, after the merge, whether the live object got it.
#include "actuator.h"
#include "actuator_internal.h"

#include "kubemend/common/events.h"

namespace kubemend::executor {

using nlohmann::json;
using namespace detail;

ActionResult Actuator::ProposeInGit(const kube::ObjectRef& ref, const ActionRequest& req, const json& live,
                                    std::vector<Change> changes, const ViaChoice& via) {
  ActionResult r;
  if (req.dry_run) {
    r.status = v1::OUTCOME_STATUS_DRY_RUN;
    r.changes = std::move(changes);
    r.detail = "GitOps (" + via.reason + "): dry run, no pull request opened";
    return r;
  }
  GitOpsRequest g;
  g.action_id = req.action_id;
  g.action_name = ActionTypeName(req.action.type());
  g.incident_id = req.incident_id;
  g.object_key = KeyOf(ref);
  g.kind = ref.type.kind;
  g.ns = ref.ns;
  g.name = ref.name;
  g.changes = changes;
  g.why = req.why;
  g.rule = req.rule;
  g.policy = req.policy;
  g.evidence = req.evidence;
  g.managed_by = ManagedBy(live);
  g.chart = ChartRendered(live);
  GitOpsResult res = gitops_->Propose(g);
  r.status = res.status;
  r.error = res.error;
  r.pull = res.pull;
  r.detail = "GitOps (" + via.reason + ")" + (res.detail.empty() ? "" : ": " + res.detail);
  if (res.status == v1::OUTCOME_STATUS_PENDING_MERGE) {
    r.changes = std::move(changes);  // proposed; verified against the live object after the merge
  }
  return r;
}

absl::StatusOr<bool> Actuator::LiveMatches(const std::vector<Change>& changes, std::string* detail) {
  std::map<std::string, json> objects;
  for (const auto& c : changes) {
    if (!objects.count(c.object)) {
      auto ref = RefFromKey(c.object);
      if (!ref.ok()) {
        return ref.status();
      }
      auto obj = client_.Get(*ref);
      if (!obj.ok()) {
        return absl::UnavailableError("get " + c.object + ": " + ErrText(obj.error()));
      }
      objects[c.object] = std::move(*obj);
    }
    std::string have = FieldText(GetField(objects[c.object], c.path));
    bool same = have == c.after;
    if (!same) {
      auto a = kube::Quantity::Parse(have);
      auto b = kube::Quantity::Parse(c.after);
      same = a.ok() && b.ok() && *a == *b;
    }
    if (!same) {
      *detail = c.object + " " + c.path + " is " + (have.empty() ? "unset" : have) + ", the merged change sets " +
                c.after;
      return false;
    }
  }
  *detail = "the live object holds the merged change";
  return true;
}

VerifyPlan Actuator::PlanAfterMerge(const v1::ActionOutcome& o) {
  VerifyPlan plan;
  if (o.changes_size() == 0) {
    return plan;
  }
  auto ref = RefFromKey(o.changes(0).object());
  if (!ref.ok()) {
    return plan;
  }
  plan.ref = *ref;
  switch (o.action().type()) {
    case v1::ACTION_TYPE_ADJUST_HPA:
      plan.kind = VerifyKind::kHpa;
      plan.expect_count = std::atoll(o.changes(0).after().c_str());
      break;
    case v1::ACTION_TYPE_EXPAND_PVC:
      plan.kind = VerifyKind::kPvc;
      plan.expect_size = o.changes(0).after();
      break;
    default:
      plan.kind = VerifyKind::kWorkload;
      plan.restarts = RestartBaseline(*ref);
      break;
  }
  return plan;
}

}  // namespace kubemend::executor
