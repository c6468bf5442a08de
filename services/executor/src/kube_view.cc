#include "kube_view.h"

#include <google/protobuf/util/json_util.h>

#include <map>

namespace kubemend::executor {
namespace {

const std::map<std::string, int>& Ranks() {
  static const std::map<std::string, int> r = {
      {"Pending", 0},   {"Approved", 1}, {"InProgress", 2}, {"Succeeded", 3}, {"Failed", 3}, {"Denied", 3},
      {"Refused", 3},   {"Skipped", 3},  {"Expired", 3},    {"RolledBack", 4}};
  return r;
}

// The action's parameters as strings (spec.params), e.g. {"percent": "50"}.
nlohmann::json Params(const v1::Action& a) {
  nlohmann::json out = nlohmann::json::object();
  std::string text;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = false;
  if (!google::protobuf::util::MessageToJsonString(a, &text, o).ok()) {
    return out;
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) {
    return out;
  }
  for (auto& [k, v] : j.items()) {
    if (k == "type") {
      continue;
    }
    if (v.is_object()) {  // the oneof with this action's parameters
      for (auto& [pk, pv] : v.items()) {
        out[pk] = pv.is_string() ? pv.get<std::string>() : pv.dump();
      }
    } else {
      out[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
  }
  return out;
}

std::string TargetRef(const v1::Target& t) {
  return t.kind() + "/" + (t.namespace_().empty() ? "" : t.namespace_() + "/") + t.name();
}

nlohmann::json TargetJson(const v1::Target& t) {
  nlohmann::json j = {{"kind", t.kind()}, {"name", t.name()}};
  if (!t.namespace_().empty()) {
    j["namespace"] = t.namespace_();
  }
  if (!t.owner_kind().empty()) {
    j["ownerKind"] = t.owner_kind();
    j["ownerName"] = t.owner_name();
  }
  return j;
}

// The object as first created: labels to select by, the proposal in spec.
ViewUpdate Base(const v1::Event& e, const std::string& action_id, const std::string& proposal_id,
                const v1::Action& action, const std::string& own_ns) {
  ViewUpdate u;
  u.target = e.target();
  u.ref = kube::ObjectRef{kube::resources::kHealingActions, HealingActionNamespace(e.target(), own_ns),
                          HealingActionName(action_id), {}};
  nlohmann::json spec = {{"actionId", action_id},
                         {"proposalId", proposal_id},
                         {"action", ActionTypeName(action.type())},
                         {"params", Params(action)},
                         {"target", TargetJson(e.target())}};
  if (!e.incident_id().empty()) {
    spec["incidentId"] = e.incident_id();
  }
  u.object = {{"apiVersion", kube::resources::kHealingActions.ApiVersion()},
              {"kind", "HealingAction"},
              {"metadata",
               {{"name", u.ref.name},
                {"namespace", u.ref.ns},
                {"labels",
                 {{"app.kubernetes.io/managed-by", "kubemend"},
                  {"kubemend.io/action", ActionTypeName(action.type())}}}}},
              {"spec", spec}};
  u.status = {{"targetRef", TargetRef(e.target())}};
  return u;
}

std::string ApproveHint(const ViewUpdate& u) {
  return "; answer with: kubectl kubemend approve " + u.ref.name + " -n " + u.ref.ns + " (or deny)";
}

nlohmann::json Changes(const v1::ActionOutcome& o) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : o.changes()) {
    out.push_back({{"object", c.object()}, {"path", c.path()}, {"before", c.before()}, {"after", c.after()}});
  }
  return out;
}

std::string ChangesText(const v1::ActionOutcome& o) {
  std::string s;
  for (const auto& c : o.changes()) {
    s += (s.empty() ? "" : ", ") + c.path() + ": " + (c.before().empty() ? "-" : c.before()) + " -> " + c.after();
  }
  return s.empty() ? "no field changed" : s;
}

}  // namespace

int PhaseRank(const std::string& phase) {
  auto it = Ranks().find(phase);
  return it == Ranks().end() ? -1 : it->second;
}

bool TerminalPhase(const std::string& phase) { return PhaseRank(phase) >= 3; }

std::string HealingActionName(const std::string& action_id) {
  std::string n;
  for (char c : action_id) {
    n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return n;
}

std::string HealingActionNamespace(const v1::Target& target, const std::string& own_ns) {
  return target.namespace_().empty() ? own_ns : target.namespace_();
}

ViewUpdate ViewOfDecision(const v1::Event& decision, const std::string& own_ns) {
  const v1::SafetyDecision& d = decision.decision();
  const v1::RemediationProposal& p = d.proposal();
  ViewUpdate u = Base(decision, d.action_id(), d.proposal_id(), p.action(), own_ns);
  u.object["spec"]["reason"] = p.reason();
  u.object["spec"]["policy"] = p.policy().name();
  const std::string action = ActionTypeName(p.action().type());
  const std::string proposed = action + " proposed by policy " + p.policy().name() + ": " + p.reason();
  u.status["rule"] = d.rule();
  u.status["message"] = d.reason();
  u.status["decisionId"] = decision.event_id();
  u.status["decidedAt"] = FormatRfc3339(FromTimestamp(decision.recorded_at()));
  if (decision.has_occurred_at()) {
    u.status["proposedAt"] = FormatRfc3339(FromTimestamp(decision.occurred_at()));
  }
  const bool by_human = d.rule() == "human-approval" || d.rule() == "human-denial";
  switch (d.verdict()) {
    case v1::VERDICT_AWAITING_APPROVAL:
      u.status["phase"] = "Pending";
      if (d.has_expires_at()) {
        u.status["expiresAt"] = FormatRfc3339(FromTimestamp(d.expires_at()));
      }
      u.events.push_back({kube::EventType::kNormal, reasons::kProposed,
                          proposed + "; waiting for a human (" + d.rule() + ": " + d.reason() + ")" + ApproveHint(u)});
      break;
    case v1::VERDICT_APPROVED:
      u.status["phase"] = "Approved";
      u.status["approver"] = d.approver();
      u.status["dryRun"] = d.dry_run();
      if (!by_human) {
        u.events.push_back({kube::EventType::kNormal, reasons::kProposed, proposed});
      }
      u.events.push_back({kube::EventType::kNormal, reasons::kApproved,
                          action + " approved by " + d.approver() + " (rule " + d.rule() + ")" +
                              (d.dry_run() ? ", as a dry run" : "")});
      break;
    case v1::VERDICT_EXPIRED:
      u.status["phase"] = "Expired";
      u.events.push_back({kube::EventType::kWarning, reasons::kExpired, action + " expired: " + d.reason()});
      break;
    case v1::VERDICT_REJECTED:
    default:
      if (d.rule() == "human-denial") {
        u.status["phase"] = "Denied";
        u.status["approver"] = d.approver();
        u.events.push_back({kube::EventType::kWarning, reasons::kDenied, action + " " + d.reason()});
      } else if (d.rule() == "paused" || d.rule() == "mode-monitor" || d.rule() == "mode-limited") {
        u.status["phase"] = "Skipped";
        u.events.push_back(
            {kube::EventType::kNormal, reasons::kSkipped, proposed + "; skipped (rule " + d.rule() + "): " + d.reason()});
      } else {
        u.status["phase"] = "Refused";
        u.events.push_back({kube::EventType::kWarning, reasons::kRefused,
                            proposed + "; refused (rule " + d.rule() + "): " + d.reason()});
      }
      break;
  }
  return u;
}

ViewUpdate ViewOfStart(const v1::Event& decision, TimePoint at, const std::string& own_ns) {
  const v1::SafetyDecision& d = decision.decision();
  ViewUpdate u = Base(decision, d.action_id(), d.proposal_id(), d.proposal().action(), own_ns);
  u.object["spec"]["reason"] = d.proposal().reason();
  u.object["spec"]["policy"] = d.proposal().policy().name();
  u.status["phase"] = "InProgress";
  u.status["approver"] = d.approver();
  u.status["startedAt"] = FormatRfc3339(at);
  return u;
}

std::optional<ViewUpdate> ViewOfOutcome(const v1::Event& outcome, const std::string& own_ns) {
  const v1::ActionOutcome& o = outcome.outcome();
  const std::string action = ActionTypeName(o.action().type());
  if (o.status() == v1::OUTCOME_STATUS_DUPLICATE || o.status() == v1::OUTCOME_STATUS_UNSPECIFIED) {
    return std::nullopt;
  }
  if (o.status() == v1::OUTCOME_STATUS_ROLLED_BACK) {
    // The rollback's outcome finishes the view of the action it undid.
    const std::string undone = o.rolls_back_action_id().empty() ? o.action_id() : o.rolls_back_action_id();
    ViewUpdate u = Base(outcome, undone, o.proposal_id(), o.action(), own_ns);
    u.status["phase"] = "RolledBack";
    u.status["outcome"] = OutcomeStatusName(o.status());
    u.status["message"] = "rolled back: " + ChangesText(o) + (o.error().empty() ? "" : " (" + o.error() + ")");
    u.status["finishedAt"] = FormatRfc3339(FromTimestamp(o.finished_at()));
    u.events.push_back({kube::EventType::kWarning, reasons::kRolledBack,
                        action + " rolled back (" + ChangesText(o) + ")" +
                            (o.verification().detail().empty() ? "" : ": " + o.verification().detail())});
    return u;
  }
  ViewUpdate u = Base(outcome, o.action_id(), o.proposal_id(), o.action(), own_ns);
  u.status["outcome"] = OutcomeStatusName(o.status());
  u.status["changes"] = Changes(o);
  if (o.has_started_at()) {
    u.status["startedAt"] = FormatRfc3339(FromTimestamp(o.started_at()));
  }
  if (o.has_finished_at()) {
    u.status["finishedAt"] = FormatRfc3339(FromTimestamp(o.finished_at()));
  }
  const std::string detail = o.verification().detail();
  switch (o.status()) {
    case v1::OUTCOME_STATUS_SUCCEEDED:
    case v1::OUTCOME_STATUS_DRY_RUN: {
      const bool dry = o.status() == v1::OUTCOME_STATUS_DRY_RUN;
      u.status["phase"] = "Succeeded";
      u.status["dryRun"] = dry;
      u.status["message"] = (dry ? "dry run: " : "") + ChangesText(o) + (detail.empty() ? "" : "; " + detail);
      u.events.push_back({kube::EventType::kNormal, reasons::kApplied,
                          action + (dry ? " applied as a dry run: " : " applied: ") + ChangesText(o)});
      if (o.verification().attempted() && o.verification().healthy()) {
        u.events.push_back({kube::EventType::kNormal, reasons::kVerified, action + " verified: " + detail});
      }
      break;
    }
    case v1::OUTCOME_STATUS_NOT_FIXED:
      u.status["phase"] = "Failed";
      u.status["message"] = "applied but not fixed: " + detail;
      u.events.push_back({kube::EventType::kNormal, reasons::kApplied, action + " applied: " + ChangesText(o)});
      u.events.push_back({kube::EventType::kWarning, reasons::kNotFixed, action + " did not fix it: " + detail});
      break;
    case v1::OUTCOME_STATUS_SKIPPED:
      u.status["phase"] = "Skipped";
      u.status["message"] = o.error().empty() ? detail : o.error();
      u.events.push_back({kube::EventType::kNormal, reasons::kSkipped,
                          action + " skipped: " + (o.error().empty() ? detail : o.error())});
      break;
    case v1::OUTCOME_STATUS_REFUSED:
      u.status["phase"] = "Refused";
      u.status["rule"] = "live-protection";
      u.status["message"] = o.error();
      u.events.push_back({kube::EventType::kWarning, reasons::kRefused,
                          action + " refused on the live object (rule live-protection): " + o.error()});
      break;
    case v1::OUTCOME_STATUS_FAILED:
    default:
      u.status["phase"] = "Failed";
      u.status["message"] = o.error();
      u.events.push_back({kube::EventType::kWarning, reasons::kFailed, action + " failed: " + o.error()});
      break;
  }
  return u;
}

std::optional<kube::ResourceType> ResourceTypeOfKind(const std::string& kind) {
  namespace r = kube::resources;
  for (const kube::ResourceType* t : {&r::kPods, &r::kNodes, &r::kPersistentVolumeClaims, &r::kDeployments,
                                      &r::kReplicaSets, &r::kStatefulSets, &r::kDaemonSets, &r::kJobs,
                                      &r::kHorizontalPodAutoscalers, &r::kNamespaces}) {
    if (t->kind == kind) {
      return *t;
    }
  }
  return std::nullopt;
}

kube::InvolvedObject EventObjectFor(const v1::Target& t) {
  const bool use_owner = !t.owner_kind().empty() && !t.owner_name().empty() && ResourceTypeOfKind(t.owner_kind());
  const std::string kind = use_owner ? t.owner_kind() : t.kind();
  const std::string name = use_owner ? t.owner_name() : t.name();
  auto type = ResourceTypeOfKind(kind);
  kube::InvolvedObject o;
  o.kind = kind;
  o.name = name;
  o.ns = type && !type->namespaced ? "" : t.namespace_();
  o.api_version = type ? type->ApiVersion() : "v1";
  return o;
}

bool ExpiredView(const nlohmann::json& object, TimePoint now, Millis retention) {
  const auto& status = object.value("status", nlohmann::json::object());
  if (!TerminalPhase(status.value("phase", ""))) {
    return false;
  }
  TimePoint last{};
  for (const char* k : {"finishedAt", "decidedAt"}) {
    TimePoint t;
    if (status.contains(k) && status[k].is_string() && ParseRfc3339(status[k].get<std::string>(), &t) && t > last) {
      last = t;
    }
  }
  if (last == TimePoint{}) {
    TimePoint created;
    if (!ParseRfc3339(object["metadata"].value("creationTimestamp", ""), &created)) {
      return false;
    }
    last = created;
  }
  return now - last > retention;
}

}  // namespace kubemend::executor
