#pragma once

// How a Kubernetes resource is addressed on the wire: group, version, plural
// and whether it lives in a namespace; plus constants for the kinds kubemend
// watches and acts on.

#include <string>
#include <string_view>

namespace kubemend::kube {

struct ResourceType {
  std::string group;    // "" for the core group ("/api/v1")
  std::string version;  // "v1"
  std::string plural;   // "deployments"
  bool namespaced = true;
  std::string kind;  // "Deployment"; used in logs and for request bodies

  // "apps/v1" or "v1".
  [[nodiscard]] std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
};

// One object, or one of its subresources ("status", "scale", "eviction").
struct ObjectRef {
  ResourceType type;
  std::string ns;  // empty for cluster-scoped types
  std::string name;
  std::string subresource;

  [[nodiscard]] ObjectRef Subresource(std::string_view sub) const {
    ObjectRef r = *this;
    r.subresource = std::string(sub);
    return r;
  }
};

namespace resources {
inline const ResourceType kPods{"", "v1", "pods", true, "Pod"};
inline const ResourceType kNodes{"", "v1", "nodes", false, "Node"};
inline const ResourceType kEvents{"", "v1", "events", true, "Event"};
inline const ResourceType kNamespaces{"", "v1", "namespaces", false, "Namespace"};
inline const ResourceType kPersistentVolumeClaims{"", "v1", "persistentvolumeclaims", true, "PersistentVolumeClaim"};
inline const ResourceType kDeployments{"apps", "v1", "deployments", true, "Deployment"};
inline const ResourceType kReplicaSets{"apps", "v1", "replicasets", true, "ReplicaSet"};
inline const ResourceType kStatefulSets{"apps", "v1", "statefulsets", true, "StatefulSet"};
inline const ResourceType kDaemonSets{"apps", "v1", "daemonsets", true, "DaemonSet"};
inline const ResourceType kJobs{"batch", "v1", "jobs", true, "Job"};
inline const ResourceType kHorizontalPodAutoscalers{"autoscaling", "v2", "horizontalpodautoscalers", true,
                                                    "HorizontalPodAutoscaler"};
inline const ResourceType kStorageClasses{"storage.k8s.io", "v1", "storageclasses", false, "StorageClass"};
inline const ResourceType kPodDisruptionBudgets{"policy", "v1", "poddisruptionbudgets", true,
                                                "PodDisruptionBudget"};
// kubemend's own: one object per remediation (deploy/k8s/base/crd-healingaction.yaml).
inline const ResourceType kHealingActions{"kubemend.io", "v1alpha1", "healingactions", true, "HealingAction"};
inline const ResourceType kValidatingAdmissionPolicies{"admissionregistration.k8s.io", "v1",
                                                       "validatingadmissionpolicies", false,
                                                       "ValidatingAdmissionPolicy"};
inline const ResourceType kValidatingAdmissionPolicyBindings{"admissionregistration.k8s.io", "v1",
                                                             "validatingadmissionpolicybindings", false,
                                                             "ValidatingAdmissionPolicyBinding"};
}  // namespace resources

// Shorthands: Pod("ns", "name"), Deployment("ns", "name"), Node("name").
inline ObjectRef Pod(std::string ns, std::string name) { return {resources::kPods, std::move(ns), std::move(name), {}}; }
inline ObjectRef Node(std::string name) { return {resources::kNodes, {}, std::move(name), {}}; }
inline ObjectRef Deployment(std::string ns, std::string name) {
  return {resources::kDeployments, std::move(ns), std::move(name), {}};
}
inline ObjectRef StatefulSet(std::string ns, std::string name) {
  return {resources::kStatefulSets, std::move(ns), std::move(name), {}};
}
inline ObjectRef ReplicaSet(std::string ns, std::string name) {
  return {resources::kReplicaSets, std::move(ns), std::move(name), {}};
}

// "/api/v1/namespaces/ns/pods"; "/apis/apps/v1/deployments" when ns is empty.
std::string CollectionPath(const ResourceType& type, std::string_view ns);
// "/apis/apps/v1/namespaces/ns/deployments/name[/subresource]".
std::string ObjectPath(const ObjectRef& ref);
// Percent-encodes a query parameter value or a path segment.
std::string UrlEncode(std::string_view text);

}  // namespace kubemend::kube
