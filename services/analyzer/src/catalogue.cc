#include "catalogue.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "kubemend/common/events.h"

namespace kubemend::analyzer {
namespace {

using K = ParamSpec::Kind;

std::vector<ActionSpec> MakeCatalogue() {
  return {
      {v1::ACTION_TYPE_RESTART_POD, "RestartPod", {}, ActOn::kPod, false,
       "delete one pod so its controller recreates it"},
      {v1::ACTION_TYPE_ROLLOUT_RESTART, "RolloutRestart", {}, ActOn::kOwner, false,
       "rolling restart of a Deployment/StatefulSet/DaemonSet"},
      {v1::ACTION_TYPE_SCALE_WORKLOAD,
       "ScaleWorkload",
       {{"percent", K::kUint, 1, 300, "increase by this share of current replicas"},
        {"minStep", K::kUint, 1, 20, "but by at least this many"},
        {"maxReplicas", K::kUint, 1, 200, "never above this"},
        {"delta", K::kInt, -20, 20, "explicit change instead of percent"}},
       ActOn::kOwner, false, "change a workload's replica count"},
      {v1::ACTION_TYPE_INCREASE_MEMORY,
       "IncreaseMemory",
       {{"percent", K::kUint, 1, 200, "raise the limit by this share"},
        {"roundTo", K::kQuantity, 1, INT64_MAX, "round up to a multiple of this quantity"},
        {"maxLimit", K::kQuantity, 1, INT64_MAX, "never above this quantity"}},
       ActOn::kOwner, false, "raise a container's memory limit and request"},
      {v1::ACTION_TYPE_ROLLBACK_IMAGE,
       "RollbackImage",
       {{"toImage", K::kString, 0, 512, "image to roll back to (default: last stable)"}},
       ActOn::kOwner, false, "roll a workload back to its last stable image"},
      {v1::ACTION_TYPE_CORDON_NODE, "CordonNode", {}, ActOn::kNode, false,
       "mark a node unschedulable"},
      {v1::ACTION_TYPE_UNCORDON_NODE, "UncordonNode", {}, ActOn::kNode, false,
       "mark a node schedulable again"},
      {v1::ACTION_TYPE_DRAIN_NODE,
       "DrainNode",
       {{"timeoutSeconds", K::kUint, 30, 3600, "give up after this long"},
        {"deleteEmptydirData", K::kBool, 0, 1, "allow evicting pods with emptyDir"}},
       ActOn::kNode, false, "cordon and evict a node's pods"},
      {v1::ACTION_TYPE_EXPAND_PVC,
       "ExpandPVC",
       {{"percent", K::kUint, 1, 200, "grow by this share"},
        {"maxSize", K::kQuantity, 1, INT64_MAX, "never above this quantity"}},
       ActOn::kSelf, false, "grow a PersistentVolumeClaim"},
      {v1::ACTION_TYPE_ADJUST_HPA,
       "AdjustHPA",
       {{"percent", K::kUint, 1, 300, "raise maxReplicas by this share"},
        {"minStep", K::kUint, 1, 20, "but by at least this many"},
        {"maxReplicasCap", K::kUint, 1, 500, "never above this"}},
       ActOn::kHpa, false, "raise an HPA's maxReplicas"},
      {v1::ACTION_TYPE_DELETE_COMPLETED_JOBS,
       "DeleteCompletedJobs",
       {{"olderThanSeconds", K::kUint, 600, 30 * 86400, "only jobs finished this long ago"}},
       ActOn::kSelf, false, "delete finished Jobs"},
      {v1::ACTION_TYPE_NOTIFY,
       "Notify",
       {{"channel", K::kString, 0, 128, "a named webhook from the executor's config"},
        {"message", K::kString, 0, 2000, "text for humans"}},
       ActOn::kSelf, false, "tell a human"},
      {v1::ACTION_TYPE_DELETE_WORKLOAD, "DeleteWorkload", {}, ActOn::kOwner, true,
       "never run: refused by the safety gate"},
      {v1::ACTION_TYPE_CHANGE_RBAC, "ChangeRBAC", {}, ActOn::kSelf, true,
       "never run: refused by the safety gate"},
      {v1::ACTION_TYPE_DELETE_PERSISTENT_VOLUME, "DeletePersistentVolume", {}, ActOn::kSelf, true,
       "never run: refused by the safety gate"},
      {v1::ACTION_TYPE_EVICT_LOW_PRIORITY_PODS, "EvictLowPriorityPods", {}, ActOn::kSelf, true,
       "never run: refused by the safety gate"},
      {v1::ACTION_TYPE_THROTTLE_SCALING, "ThrottleScaling", {}, ActOn::kSelf, true,
       "never run: refused by the safety gate"},
  };
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool ParseInt(const std::string& s, int64_t* out) {
  if (s.empty()) {
    return false;
  }
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') {
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

const std::vector<ActionSpec>& Catalogue() {
  static const std::vector<ActionSpec> c = MakeCatalogue();
  return c;
}

const ActionSpec* FindAction(v1::ActionType type) {
  for (const auto& a : Catalogue()) {
    if (a.type == type) {
      return &a;
    }
  }
  return nullptr;
}

bool ParseActionName(const std::string& name, v1::ActionType* out) {
  if (ParseActionType(name, out)) {
    return true;
  }
  static const std::map<std::string, v1::ActionType> kAliases = {
      {"restart", v1::ACTION_TYPE_RESTART_POD},
      {"restart-pod", v1::ACTION_TYPE_RESTART_POD},
      {"rollout-restart", v1::ACTION_TYPE_ROLLOUT_RESTART},
      {"scale", v1::ACTION_TYPE_SCALE_WORKLOAD},
      {"scale-up", v1::ACTION_TYPE_SCALE_WORKLOAD},
      {"increase-memory", v1::ACTION_TYPE_INCREASE_MEMORY},
      {"rollback", v1::ACTION_TYPE_ROLLBACK_IMAGE},
      {"rollback-image", v1::ACTION_TYPE_ROLLBACK_IMAGE},
      {"cordon", v1::ACTION_TYPE_CORDON_NODE},
      {"uncordon", v1::ACTION_TYPE_UNCORDON_NODE},
      {"drain", v1::ACTION_TYPE_DRAIN_NODE},
      {"expand-pvc", v1::ACTION_TYPE_EXPAND_PVC},
      {"adjust-hpa", v1::ACTION_TYPE_ADJUST_HPA},
      {"delete-completed-jobs", v1::ACTION_TYPE_DELETE_COMPLETED_JOBS},
      {"alert", v1::ACTION_TYPE_NOTIFY},
      {"notify", v1::ACTION_TYPE_NOTIFY},
      {"throttle-scaling", v1::ACTION_TYPE_THROTTLE_SCALING},
      {"evict-low-priority", v1::ACTION_TYPE_EVICT_LOW_PRIORITY_PODS},
  };
  auto it = kAliases.find(Lower(name));
  if (it == kAliases.end()) {
    return false;
  }
  *out = it->second;
  return true;
}

bool ParseQuantity(const std::string& text, double* out) {
  static const std::pair<const char*, double> kSuffixes[] = {
      {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
      {"k", 1e3},     {"M", 1e6},        {"G", 1e9},           {"T", 1e12},
      {"m", 1e-3},
  };
  if (text.empty()) {
    return false;
  }
  std::string num = text;
  double mult = 1;
  for (const auto& [suf, m] : kSuffixes) {
    size_t n = std::string(suf).size();
    if (text.size() > n && text.compare(text.size() - n, n, suf) == 0) {
      num = text.substr(0, text.size() - n);
      mult = m;
      break;
    }
  }
  char* end = nullptr;
  double v = std::strtod(num.c_str(), &end);
  if (end == num.c_str() || *end != '\0' || !std::isfinite(v) || v < 0) {
    return false;
  }
  *out = v * mult;
  return true;
}

absl::Status FillAction(v1::ActionType type, const std::map<std::string, std::string>& params,
                        v1::Action* action) {
  const ActionSpec* spec = FindAction(type);
  if (spec == nullptr) {
    return absl::InvalidArgumentError("action type " + std::to_string(type) +
                                      " is not in the catalogue");
  }
  std::map<std::string, int64_t> ints;
  std::map<std::string, std::string> strs;
  std::map<std::string, bool> bools;
  for (const auto& [k, v] : params) {
    auto it = std::find_if(spec->params.begin(), spec->params.end(),
                           [&](const ParamSpec& p) { return p.name == k; });
    if (it == spec->params.end()) {
      std::string known;
      for (const auto& p : spec->params) {
        known += (known.empty() ? "" : ", ") + p.name;
      }
      return absl::InvalidArgumentError("param " + k + ": " + spec->name +
                                        " has no such parameter (known: " +
                                        (known.empty() ? "none" : known) + ")");
    }
    switch (it->kind) {
      case K::kUint:
      case K::kInt: {
        int64_t n = 0;
        if (!ParseInt(v, &n)) {
          return absl::InvalidArgumentError("param " + k + ": \"" + v + "\" is not an integer");
        }
        if (n < it->min) {
          return absl::InvalidArgumentError("param " + k + ": " + v + " is below the minimum " +
                                            std::to_string(it->min));
        }
        if (n > it->max) {
          return absl::InvalidArgumentError("param " + k + ": " + v + " is above the maximum " +
                                            std::to_string(it->max));
        }
        ints[k] = n;
        break;
      }
      case K::kBool:
        if (v != "true" && v != "false") {
          return absl::InvalidArgumentError("param " + k + ": \"" + v + "\" is not true/false");
        }
        bools[k] = v == "true";
        break;
      case K::kQuantity: {
        double q = 0;
        if (!ParseQuantity(v, &q) || q <= 0) {
          return absl::InvalidArgumentError("param " + k + ": \"" + v +
                                            "\" is not a positive quantity (e.g. 64Mi, 4Gi)");
        }
        strs[k] = v;
        break;
      }
      case K::kString:
        if (static_cast<int64_t>(v.size()) > it->max) {
          return absl::InvalidArgumentError("param " + k + ": longer than " +
                                            std::to_string(it->max) + " characters");
        }
        strs[k] = v;
        break;
    }
  }
  auto u = [&](const char* k, uint32_t dflt) {
    auto it = ints.find(k);
    return it == ints.end() ? dflt : static_cast<uint32_t>(it->second);
  };
  auto s = [&](const char* k, const char* dflt) {
    auto it = strs.find(k);
    return it == strs.end() ? std::string(dflt) : it->second;
  };
  action->set_type(type);
  switch (type) {
    case v1::ACTION_TYPE_RESTART_POD:
      action->mutable_restart_pod();
      break;
    case v1::ACTION_TYPE_ROLLOUT_RESTART:
      action->mutable_rollout_restart();
      break;
    case v1::ACTION_TYPE_SCALE_WORKLOAD: {
      auto* p = action->mutable_scale_workload();
      p->set_percent(u("percent", ints.count("delta") ? 0 : 50));
      p->set_min_step(u("minStep", 1));
      p->set_max_replicas(u("maxReplicas", 20));
      p->set_delta(static_cast<int32_t>(ints.count("delta") ? ints["delta"] : 0));
      break;
    }
    case v1::ACTION_TYPE_INCREASE_MEMORY: {
      auto* p = action->mutable_increase_memory();
      p->set_percent(u("percent", 50));
      p->set_round_to(s("roundTo", "64Mi"));
      p->set_max_limit(s("maxLimit", "4Gi"));
      break;
    }
    case v1::ACTION_TYPE_ROLLBACK_IMAGE:
      action->mutable_rollback_image()->set_to_image(s("toImage", ""));
      break;
    case v1::ACTION_TYPE_CORDON_NODE:
      action->mutable_cordon_node();
      break;
    case v1::ACTION_TYPE_UNCORDON_NODE:
      action->mutable_uncordon_node();
      break;
    case v1::ACTION_TYPE_DRAIN_NODE: {
      auto* p = action->mutable_drain_node();
      p->set_timeout_seconds(u("timeoutSeconds", 300));
      p->set_delete_emptydir_data(bools.count("deleteEmptydirData") && bools["deleteEmptydirData"]);
      break;
    }
    case v1::ACTION_TYPE_EXPAND_PVC: {
      auto* p = action->mutable_expand_pvc();
      p->set_percent(u("percent", 50));
      p->set_max_size(s("maxSize", "100Gi"));
      break;
    }
    case v1::ACTION_TYPE_ADJUST_HPA: {
      auto* p = action->mutable_adjust_hpa();
      p->set_percent(u("percent", 50));
      p->set_min_step(u("minStep", 1));
      p->set_max_replicas_cap(u("maxReplicasCap", 50));
      break;
    }
    case v1::ACTION_TYPE_DELETE_COMPLETED_JOBS:
      action->mutable_delete_completed_jobs()->set_older_than_seconds(
          u("olderThanSeconds", 86400));
      break;
    case v1::ACTION_TYPE_NOTIFY: {
      auto* p = action->mutable_notify();
      p->set_channel(s("channel", "default"));
      p->set_message(s("message", ""));
      break;
    }
    default:
      break;  // never-run actions carry no parameters
  }
  return absl::OkStatus();
}

std::string DescribeCatalogue(const std::vector<v1::ActionType>& allowed) {
  std::string out;
  for (const auto& a : Catalogue()) {
    if (std::find(allowed.begin(), allowed.end(), a.type) == allowed.end()) {
      continue;
    }
    out += "- " + a.name + ": " + a.summary;
    for (const auto& p : a.params) {
      out += "; " + p.name;
      switch (p.kind) {
        case K::kUint:
        case K::kInt:
          out += " integer " + std::to_string(p.min) + ".." + std::to_string(p.max);
          break;
        case K::kBool:
          out += " true|false";
          break;
        case K::kQuantity:
          out += " quantity";
          break;
        case K::kString:
          out += " string";
          break;
      }
    }
    out += "\n";
  }
  return out;
}

}  // namespace kubemend::analyzer
