#pragma once
// The typed action catalogue: every action a policy or the LLM adviser may
// name, its parameters and their bounds. Policies and adviser replies both go
// through FillAction, so a bound checked here holds for every proposal.
// Pure; no I/O.
#include <absl/status/status.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kubemend/v1/events.pb.h"

namespace kubemend::analyzer {

struct ParamSpec {
  enum class Kind { kUint, kInt, kString, kBool, kQuantity };
  std::string name;  // camelCase, as written in policies and replies
  Kind kind;
  int64_t min = 0;
  int64_t max = 0;
  std::string help;
};

// Where an action applies, relative to the incident's subject.
enum class ActOn { kSelf, kPod, kOwner, kNode, kHpa };

struct ActionSpec {
  v1::ActionType type;
  std::string name;  // ActionTypeName
  std::vector<ParamSpec> params;
  ActOn default_on;
  bool never_runs = false;  // the safety gate refuses it by rule
  std::string summary;
};

const std::vector<ActionSpec>& Catalogue();
const ActionSpec* FindAction(v1::ActionType type);
// Accepts catalogue names (RestartPod) and the seed shapes' aliases
// (restart, scale, alert, notify, rollback, throttle-scaling, ...).
bool ParseActionName(const std::string& name, v1::ActionType* out);

// Sets action->type and its typed params from string values. Unknown
// parameters, values of the wrong kind and values outside the bounds are
// errors naming the parameter ("param percent: 900 is above the maximum 300").
absl::Status FillAction(v1::ActionType type, const std::map<std::string, std::string>& params,
                        v1::Action* action);

// Parses a Kubernetes quantity (64Mi, 1Gi, 500m, 1e3) to a double; false if malformed.
bool ParseQuantity(const std::string& text, double* out);

// One line per action: name, parameters with bounds. For docs and the prompt.
std::string DescribeCatalogue(const std::vector<v1::ActionType>& allowed);

}  // namespace kubemend::analyzer
