#pragma once
// Objects for the executor's unit tests: a Deployment shop/web with its
// ReplicaSets and pods, nodes, an HPA, a PVC and storage classes.
#include "fake_kube.h"

namespace kubemend::executor::testing {

namespace rs = kube::resources;
using nlohmann::json;

inline json DeploymentJson(const std::string& image, const std::string& limit, const std::string& request,
                           int replicas = 2) {
  json c = {{"name", "app"}, {"image", image}, {"resources", json::object()}};
  if (!limit.empty()) {
    c["resources"]["limits"]["memory"] = limit;
  }
  if (!request.empty()) {
    c["resources"]["requests"]["memory"] = request;
  }
  return {{"metadata", {{"name", "web"}, {"namespace", "shop"}, {"uid", "dep-uid"}, {"generation", 1}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", "web"}}}}},
            {"template", {{"metadata", {{"labels", {{"app", "web"}}}}}, {"spec", {{"containers", json::array({c})}}}}}}},
          {"status",
           {{"observedGeneration", 1}, {"replicas", replicas}, {"updatedReplicas", replicas}, {"readyReplicas", replicas}}}};
}

inline json ReplicaSetJson(const std::string& name, const std::string& image, int revision) {
  return {{"metadata",
           {{"name", name},
            {"namespace", "shop"},
            {"uid", name + "-uid"},
            {"annotations", {{"deployment.kubernetes.io/revision", std::to_string(revision)}}},
            {"ownerReferences", json::array({{{"kind", "Deployment"}, {"name", "web"}, {"uid", "dep-uid"}, {"controller", true}}})}}},
          {"spec", {{"template", {{"spec", {{"containers", json::array({{{"name", "app"}, {"image", image}}})}}}}}}}};
}

inline json PodJson(const std::string& name, const std::string& owner_kind, const std::string& owner,
                    const std::string& node = "n1", int restarts = 0) {
  json p = {{"metadata", {{"name", name}, {"namespace", "shop"}, {"labels", {{"app", "web"}}}}},
            {"spec", {{"nodeName", node}, {"containers", json::array({{{"name", "app"}}})}}},
            {"status", {{"phase", "Running"}, {"containerStatuses", json::array({{{"name", "app"}, {"restartCount", restarts}}})}}}};
  if (!owner_kind.empty()) {
    p["metadata"]["ownerReferences"] = json::array({{{"kind", owner_kind}, {"name", owner}, {"controller", true}}});
  }
  return p;
}

// Deployment shop/web (image v2, 256Mi/128Mi), ReplicaSets for v1 (rev 1)
// and v2 (rev 2), pods web-1 and web-2 owned by the v2 ReplicaSet.
inline void SeedWeb(FakeKube& k, const std::string& limit = "256Mi", const std::string& request = "128Mi") {
  k.Put(rs::kDeployments, DeploymentJson("shop/web:v2", limit, request));
  k.Put(rs::kReplicaSets, ReplicaSetJson("web-v1", "shop/web:v1", 1));
  k.Put(rs::kReplicaSets, ReplicaSetJson("web-v2", "shop/web:v2", 2));
  k.Put(rs::kPods, PodJson("web-1", "ReplicaSet", "web-v2"));
  k.Put(rs::kPods, PodJson("web-2", "ReplicaSet", "web-v2"));
}

inline v1::Target PodTarget(const std::string& name = "web-1") {
  v1::Target t;
  t.set_namespace_("shop");
  t.set_kind("Pod");
  t.set_name(name);
  return t;
}

inline v1::Target NodeTarget(const std::string& name) {
  v1::Target t;
  t.set_kind("Node");
  t.set_name(name);
  return t;
}

}  // namespace kubemend::executor::testing
