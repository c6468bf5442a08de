#include "alert_target.h"

#include <cctype>
#include <utility>
#include <vector>

namespace kubemend::collector {
namespace {

struct KindLabel {
  const char* label;
  const char* kind;
};

// Most specific first: the order for alerts outside any family.
constexpr KindLabel kGenericOrder[] = {
    {"pod", "Pod"},
    {"deployment", "Deployment"},
    {"statefulset", "StatefulSet"},
    {"daemonset", "DaemonSet"},
    {"horizontalpodautoscaler", "HorizontalPodAutoscaler"},
    {"job_name", "Job"},
    {"persistentvolumeclaim", "PersistentVolumeClaim"},
    {"node", "Node"},
};

bool StartsWith(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// The label that names a family's object (nullptr: generic order).
const KindLabel* FamilyLabel(AlertFamily f) {
  static const std::map<AlertFamily, KindLabel> k = {
      {AlertFamily::kNode, {"node", "Node"}},
      {AlertFamily::kHpa, {"horizontalpodautoscaler", "HorizontalPodAutoscaler"}},
      {AlertFamily::kPvc, {"persistentvolumeclaim", "PersistentVolumeClaim"}},
      {AlertFamily::kPv, {"persistentvolume", "PersistentVolume"}},
      {AlertFamily::kDeployment, {"deployment", "Deployment"}},
      {AlertFamily::kStatefulSet, {"statefulset", "StatefulSet"}},
      {AlertFamily::kDaemonSet, {"daemonset", "DaemonSet"}},
      {AlertFamily::kJob, {"job_name", "Job"}},
      {AlertFamily::kCronJob, {"cronjob", "CronJob"}},
      {AlertFamily::kPod, {"pod", "Pod"}},
  };
  auto it = k.find(f);
  return it == k.end() ? nullptr : &it->second;
}

bool ClusterScoped(const std::string& kind) {
  return kind == "Node" || kind == "PersistentVolume" || kind == "Namespace";
}

}  // namespace

AlertFamily FamilyOf(const std::string& a) {
  // Prefixes of the kubernetes-mixin and node-mixin alert names; longest first
  // where one is a prefix of another.
  static const std::vector<std::pair<const char*, AlertFamily>> kPrefixes = {
      {"KubePersistentVolumeErrors", AlertFamily::kPv},
      {"KubePersistentVolume", AlertFamily::kPvc},
      {"KubeHpa", AlertFamily::kHpa},
      {"KubeNode", AlertFamily::kNode},
      {"Kubelet", AlertFamily::kNode},
      {"Node", AlertFamily::kNode},
      {"KubeDeployment", AlertFamily::kDeployment},
      {"KubeStatefulSet", AlertFamily::kStatefulSet},
      {"KubeDaemonSet", AlertFamily::kDaemonSet},
      {"KubeJob", AlertFamily::kJob},
      {"KubeCronJob", AlertFamily::kCronJob},
      {"KubePod", AlertFamily::kPod},
      {"KubeContainer", AlertFamily::kPod},
      {"CPUThrottlingHigh", AlertFamily::kPod},
  };
  for (const auto& [p, f] : kPrefixes) {
    if (StartsWith(a, p)) {
      return f;
    }
  }
  // Node conditions under other names (NodeMemoryPressure, DiskPressure, ...).
  if (a.find("Pressure") != std::string::npos || a.find("NodeNotReady") != std::string::npos) {
    return AlertFamily::kNode;
  }
  return AlertFamily::kGeneric;
}

const char* FamilyName(AlertFamily f) {
  switch (f) {
    case AlertFamily::kNode: return "node";
    case AlertFamily::kHpa: return "hpa";
    case AlertFamily::kPvc: return "pvc";
    case AlertFamily::kPv: return "pv";
    case AlertFamily::kDeployment: return "deployment";
    case AlertFamily::kStatefulSet: return "statefulset";
    case AlertFamily::kDaemonSet: return "daemonset";
    case AlertFamily::kJob: return "job";
    case AlertFamily::kCronJob: return "cronjob";
    case AlertFamily::kPod: return "pod";
    case AlertFamily::kGeneric: break;
  }
  return "generic";
}

v1::Target TargetFromLabels(const std::map<std::string, std::string>& l, const std::string& cluster) {
  v1::Target t;
  t.set_cluster(cluster);
  // exported_X is the series' own X when the scrape target's X clashed.
  auto get = [&](const std::string& k) {
    for (const std::string& key : {"exported_" + k, k}) {
      auto it = l.find(key);
      if (it != l.end() && !it->second.empty()) {
        return it->second;
      }
    }
    return std::string();
  };
  t.set_namespace_(get("namespace"));
  t.set_container(get("container"));
  auto name_it = l.find("alertname");
  const KindLabel* family = FamilyLabel(FamilyOf(name_it == l.end() ? "" : name_it->second));
  if (family && !get(family->label).empty()) {
    t.set_kind(family->kind);
    t.set_name(get(family->label));
  }
  for (const auto& kl : kGenericOrder) {
    if (!t.kind().empty()) {
      break;
    }
    if (std::string v = get(kl.label); !v.empty()) {
      t.set_kind(kl.kind);
      t.set_name(v);
    }
  }
  if (t.kind().empty() && !t.namespace_().empty()) {
    t.set_kind("Namespace");
    t.set_name(t.namespace_());
  }
  if (ClusterScoped(t.kind())) {
    t.set_namespace_("");
  }
  if (t.kind() != "Pod") {
    t.set_container("");  // a container label on a node or HPA series is the exporter's
  }
  for (const char* owner : {"deployment", "statefulset", "daemonset"}) {
    std::string v = get(owner);
    if (!v.empty() && t.kind() == "Pod") {
      std::string k = owner;
      k[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(k[0])));
      t.set_owner_kind(k == "Statefulset" ? "StatefulSet" : k == "Daemonset" ? "DaemonSet" : k);
      t.set_owner_name(v);
      break;
    }
  }
  for (const auto& [k, v] : l) {
    (*t.mutable_labels())[k] = v;
  }
  return t;
}

}  // namespace kubemend::collector
