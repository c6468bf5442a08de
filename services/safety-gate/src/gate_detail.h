#pragma once
// Helpers shared by the gate's translation units: gate_rules.cc (the rules a
// proposal is decided by) and gate.cc (decisions, approvals, state). Not part
// of the gate's interface.
#include <optional>
#include <string>

#include "gate.h"

namespace kubemend::gate::detail {

// Higher = more restrictive; UNSPECIFIED has no say.
inline int ModeRank(v1::Mode m) {
  switch (m) {
    case v1::MODE_AUTOMATIC:
      return 0;
    case v1::MODE_LIMITED:
      return 1;
    case v1::MODE_MANUAL:
      return 2;
    case v1::MODE_DRY_RUN:
      return 3;
    case v1::MODE_MONITOR:
      return 4;
    default:
      return -1;
  }
}

inline bool IsScaleDown(const v1::Action& a) {
  return a.type() == v1::ACTION_TYPE_SCALE_WORKLOAD && a.scale_workload().delta() < 0;
}

// Capacity reductions count as disruptive: a scale-down removes pods, a
// throttle lowers an HPA's ceiling, evictions move pods.
inline bool IsDisruptive(const v1::Action& a) {
  if (IsScaleDown(a)) {
    return true;
  }
  switch (a.type()) {
    case v1::ACTION_TYPE_THROTTLE_SCALING:
    case v1::ACTION_TYPE_RESTART_POD:
    case v1::ACTION_TYPE_ROLLOUT_RESTART:
    case v1::ACTION_TYPE_INCREASE_MEMORY:
    case v1::ACTION_TYPE_ROLLBACK_IMAGE:
    case v1::ACTION_TYPE_EVICT_LOW_PRIORITY_PODS:
      return true;
    default:
      return false;
  }
}

inline bool IsScaleUp(const v1::Action& a) {
  if (a.type() == v1::ACTION_TYPE_ADJUST_HPA) {
    return true;
  }
  if (a.type() != v1::ACTION_TYPE_SCALE_WORKLOAD) {
    return false;
  }
  const auto& s = a.scale_workload();
  if (s.delta() != 0) {
    return s.delta() > 0;
  }
  return true;  // percent / min_step only ever grow
}

inline std::optional<int64_t> Fact(const v1::RemediationProposal& p, const std::string& key) {
  auto it = p.facts().find(key);
  int64_t v = 0;
  if (it == p.facts().end() || !absl::SimpleAtoi(it->second, &v)) {
    return std::nullopt;
  }
  return v;
}

inline int64_t PodsAffected(const v1::RemediationProposal& p) {
  if (!IsDisruptive(p.action())) {
    return 0;
  }
  if (IsScaleDown(p.action())) {
    return -int64_t{p.action().scale_workload().delta()};  // every removed pod
  }
  auto v = Fact(p, "pods_affected");
  return v && *v > 0 ? *v : 1;
}

inline std::string NsOrCluster(const std::string& ns) { return ns.empty() ? "(cluster-scoped)" : ns; }

}  // namespace kubemend::gate::detail
