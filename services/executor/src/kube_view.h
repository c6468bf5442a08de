#pragma once
// What kubemend is doing, as Kubernetes shows it: one HealingAction object per
// decided proposal (deploy/k8s/base/crd-healingaction.yaml) and Events on the
// workload it concerns. The trail stays the source of truth; this is a view.
//
// This file is the pure half: decision / start / outcome events in, the
// object to create, the status to merge and the Events to record out. No
// I/O; KubeView (kube_view_writer.h) performs them.
//
// Lifecycle (status.phase):
//   Pending (waits for a human) -> Approved -> InProgress -> Succeeded | Failed
//   Succeeded | Failed -> RolledBack (a rollback of this action)
//   or, decided against: Denied (a human), Refused (a rule; status.rule),
//   Skipped (paused, monitor or limited mode), Expired (no human answered).
// A phase never moves backwards (PhaseRank): a late or redelivered event
// changes nothing once a later phase is shown.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kubemend/common/clock.h"
#include "kubemend/common/events.h"
#include "kubemend/kube/event_recorder.h"
#include "kubemend/kube/resources.h"

namespace kubemend::executor {

// The Event reasons (CamelCase, as Kubernetes components write them).
namespace reasons {
inline constexpr char kProposed[] = "RemediationProposed";
inline constexpr char kApproved[] = "RemediationApproved";
inline constexpr char kDenied[] = "RemediationDenied";
inline constexpr char kRefused[] = "RemediationRefused";
inline constexpr char kSkipped[] = "RemediationSkipped";
inline constexpr char kExpired[] = "RemediationExpired";
inline constexpr char kApplied[] = "RemediationApplied";
inline constexpr char kVerified[] = "RemediationVerified";
inline constexpr char kNotFixed[] = "RemediationNotFixed";
inline constexpr char kFailed[] = "RemediationFailed";
inline constexpr char kRolledBack[] = "RemediationRolledBack";
}  // namespace reasons

struct EventNote {
  kube::EventType type = kube::EventType::kNormal;
  std::string reason;
  std::string message;
};

struct ViewUpdate {
  kube::ObjectRef ref;     // the HealingAction
  nlohmann::json object;   // created as this when missing (metadata + spec)
  nlohmann::json status;   // merged into .status (always carries phase)
  std::vector<EventNote> events;
  v1::Target target;       // the Events go on its workload (EventObjectFor)
};

// Rank of a phase for "never backwards"; -1 for an unknown/absent phase.
int PhaseRank(const std::string& phase);
bool TerminalPhase(const std::string& phase);

// The object's name: the action id (a UUID, a valid Kubernetes name).
std::string HealingActionName(const std::string& action_id);
// Target namespace, or own_ns for cluster-scoped targets (Nodes).
std::string HealingActionNamespace(const v1::Target& target, const std::string& own_ns);

// The view of a safety decision (every verdict).
ViewUpdate ViewOfDecision(const v1::Event& decision, const std::string& own_ns);
// An approved decision the executor starts applying now.
ViewUpdate ViewOfStart(const v1::Event& decision, TimePoint at, const std::string& own_ns);
// The view of an outcome; nullopt for DUPLICATE (nothing new happened).
std::optional<ViewUpdate> ViewOfOutcome(const v1::Event& outcome, const std::string& own_ns);

// The object the Events are recorded on: a pod's owning workload when the
// collector named it (that is what `kubectl describe deploy/x` shows), else
// the target itself. uid is left empty (the writer reads it).
kube::InvolvedObject EventObjectFor(const v1::Target& target);
// The ResourceType for a kind kubemend acts on; nullopt for unknown kinds.
std::optional<kube::ResourceType> ResourceTypeOfKind(const std::string& kind);

// True when a HealingAction (as listed) is finished and its last change is
// older than `retention` before `now`: the garbage collector deletes it.
bool ExpiredView(const nlohmann::json& object, TimePoint now, Millis retention);

}  // namespace kubemend::executor
