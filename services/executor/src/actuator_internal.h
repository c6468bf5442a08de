#pragma once
// Helpers shared by the Actuator's translation units (actuator.cc: lookup,
// the one-update write, undo; actuator_workload.cc: actions on Deployments
// and StatefulSets; actuator_cluster.cc: nodes, volumes, HPAs, jobs,
// notifications). Not part of the executor's interface.
#include "actuator.h"
#include "guard.h"

namespace kubemend::executor::detail {

using nlohmann::json;

ActionResult Failed(std::string error);
// Outcome REFUSED with the rule and the reason.
ActionResult Refused(const Refusal& r);
std::string ErrText(const kube::Error& e);
// The controller owner reference of an object, if any.
const json* ControllerOf(const json& obj);
// The container the action concerns: the named one, else the only/first.
absl::StatusOr<std::string> PickContainer(const json& workload, const std::string& wanted);
int64_t TotalRestarts(const json& pod);
std::string StatusText(const absl::Status& st);
// Operator caps win: the proposal's own bound `asked` when it is set and at
// most `operator_max`, else `operator_max`; a larger ask is clamped and *note
// gets "; the proposal's <field> N clamped to the operator's M".
uint32_t BoundByOperator(uint32_t asked, uint32_t operator_max, const std::string& field, std::string* note);

}  // namespace kubemend::executor::detail
