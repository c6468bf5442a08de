#pragma once
// Small helpers shared by the analyzer engine's translation units
// (engine.cc: incidents and outcomes; engine_propose.cc: policy matching and
// building proposals). Not part of the engine's interface.
#include <string>

#include "engine.h"

namespace kubemend::analyzer::engine_detail {

inline std::string Ms(Millis d) {
  int64_t s = d.count() / 1000;
  if (s % 3600 == 0 && s > 0) {
    return std::to_string(s / 3600) + "h";
  }
  if (s % 60 == 0 && s > 0) {
    return std::to_string(s / 60) + "m";
  }
  return std::to_string(s) + "s";
}

inline bool IsWorkloadKind(const std::string& k) {
  return k == "Deployment" || k == "StatefulSet" || k == "DaemonSet" || k == "ReplicaSet" ||
         k == "Job" || k == "CronJob";
}

// A duration the engine wrote into a proposal's facts in milliseconds
// (loop_window_ms, cooldown_ms); negative when absent or malformed.
Millis FactMillis(const v1::RemediationProposal& p, const std::string& key);

inline v1::Target NodeTarget(const std::string& cluster, const std::string& node) {
  v1::Target t;
  t.set_cluster(cluster);
  t.set_kind("Node");
  t.set_name(node);
  return t;
}

}  // namespace kubemend::analyzer::engine_detail
