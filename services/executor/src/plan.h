#pragma once
// The executor's pure arithmetic and bookkeeping: how far to scale, how much
// to grow a volume, where a field lives in an object, and the action-id
// annotations that make every change happen at most once per action id.
// No I/O, no clock, no logging: callers pass everything in and get a value
// that carries its reason.
#include <absl/status/statusor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kubemend/kube/quantity.h"

namespace kubemend::executor {

// Annotations the executor maintains on the objects it changes.
inline constexpr char kLastActionAnnotation[] = "kubemend.io/last-action-id";
// JSON array, newest first, at most kHistoryLimit entries: every action id
// applied to this object with the before/after values (rollback reads them
// when the outcomes topic has lost them).
inline constexpr char kHistoryAnnotation[] = "kubemend.io/action-history";
inline constexpr size_t kHistoryLimit = 8;
// kubemend.io/last-stable-image.<container>: the image last verified healthy.
inline constexpr char kStableImagePrefix[] = "kubemend.io/last-stable-image.";
inline constexpr char kRestartedAtAnnotation[] = "kubectl.kubernetes.io/restartedAt";
// A change whose path is this is a deletion or eviction: it cannot be undone.
inline constexpr char kObjectPath[] = "(object)";

// One field change on one object. `object` is "Kind/namespace/name".
struct Change {
  std::string object;
  std::string path;    // see GetField for the syntax
  std::string before;  // "" = the field was absent
  std::string after;   // "" = the field was removed / the object deleted
  friend bool operator==(const Change&, const Change&) = default;
};

// ---------------------------------------------------------------- counts

struct CountPlan {
  int64_t from = 0;
  int64_t to = 0;
  bool capped = false;
  std::string reason;
};

// Replicas (ScaleWorkload) or maxReplicas (AdjustHPA): `delta` != 0 is an
// explicit change (negative scales down, never below 0); otherwise up by
// ceil(current * percent / 100), at least min_step and at least 1, never above
// `cap` (0 = no cap). FailedPrecondition when nothing would change (already at
// the cap), InvalidArgument for a percent above 1000 or a negative current.
absl::StatusOr<CountPlan> PlanCountIncrease(int64_t current, uint32_t percent, uint32_t min_step,
                                            uint32_t cap, int32_t delta);

// ---------------------------------------------------------------- storage

struct StoragePlan {
  kube::Quantity from;
  kube::Quantity to;
  bool capped = false;
  std::string reason;
};

// ExpandPVC: size * (100 + percent) / 100 rounded up to a whole GiB (1Mi for
// volumes under 1Gi), never above `max_size` (unset = no cap).
// FailedPrecondition when already at the cap, InvalidArgument for percent 0
// or above 1000.
absl::StatusOr<StoragePlan> PlanStorageIncrease(const kube::Quantity& size, uint32_t percent,
                                                const std::optional<kube::Quantity>& max_size);

// ---------------------------------------------------------------- fields

// Paths are dot-separated keys with two selectors:
//   containers[app]            the element of an array whose .name is "app"
//   annotations["a.b/c"]       a map key that contains dots or slashes
// e.g. spec.template.spec.containers[app].resources.limits.memory.
struct PathSegment {
  std::string key;
  bool by_name = false;  // containers[app]: key is the array, name the element
  std::string name;
};
absl::StatusOr<std::vector<PathSegment>> ParseFieldPath(const std::string& path);
// The value at `path`, or nullptr if any part is missing.
const nlohmann::json* GetField(const nlohmann::json& object, const std::string& path);
// Sets the value, creating missing maps (not missing array elements:
// InvalidArgument). A null value removes the key.
absl::Status SetField(nlohmann::json& object, const std::string& path, const nlohmann::json& value);

// A field value as FieldChange text: strings as they are, numbers and bools
// as JSON, absent as "".
std::string FieldText(const nlohmann::json* value);
// Text back to a value of the same type as `like` (the current value):
// "" = null (remove), a number if `like` is a number, a bool if a bool.
absl::StatusOr<nlohmann::json> FieldFromText(const std::string& text, const nlohmann::json* like);

// ---------------------------------------------------------------- history

struct HistoryEntry {
  std::string action_id;
  std::string action;  // "IncreaseMemory", "Rollback", ...
  std::string at;      // RFC 3339
  std::vector<Change> changes;
};

// True when `action_id` is the object's last action or in its history.
bool HasAction(const nlohmann::json& object, const std::string& action_id);
std::optional<HistoryEntry> FindAction(const nlohmann::json& object, const std::string& action_id);
// Sets last-action-id and prepends the entry to the bounded history.
void RecordAction(nlohmann::json& object, const HistoryEntry& entry);

// The RFC 7386 merge patch that turns `from` into `to` (arrays replaced whole,
// removed keys as null).
nlohmann::json MergePatchFor(const nlohmann::json& from, const nlohmann::json& to);

// "Deployment/shop/web"; cluster-scoped: "Node//n1".
std::string ObjectKey(const std::string& kind, const std::string& ns, const std::string& name);

// matchLabels of a label selector object as "a=b,c=d" (matchExpressions with
// In of one value are included; other expressions are refused).
absl::StatusOr<std::string> SelectorString(const nlohmann::json& selector);

}  // namespace kubemend::executor
