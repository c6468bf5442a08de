#include "resources.h"

#include <algorithm>
#include <stdexcept>

namespace kubesim {

namespace {

const std::vector<std::string> kAllVerbs = {"create", "delete", "deletecollection", "get",
                                            "list",   "patch",  "update",           "watch"};

SubresourceInfo status_sub() { return {"status", "", "", "", {"get", "patch", "update"}}; }
SubresourceInfo scale_sub() { return {"scale", "autoscaling", "v1", "Scale", {"get", "patch", "update"}}; }

std::vector<ResourceInfo> build() {
  std::vector<ResourceInfo> r;
  r.push_back({"", "v1", "namespaces", "namespace", "Namespace", false, {"ns"}, {}, {status_sub(), {"finalize", "", "", "", {"update"}}}, false});
  r.push_back({"", "v1", "nodes", "node", "Node", false, {"no"}, {}, {status_sub(), {"proxy", "", "", "NodeProxyOptions", {"create", "delete", "get", "patch", "update"}}}, false});
  r.push_back({"", "v1", "pods", "pod", "Pod", true, {"po"}, {"all"},
               {status_sub(),
                {"eviction", "policy", "v1", "Eviction", {"create"}},
                {"log", "", "", "Pod", {"get"}}},
               false});
  r.push_back({"", "v1", "events", "event", "Event", true, {"ev"}, {}, {}, false});
  r.push_back({"", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", true, {"pvc"}, {}, {status_sub()}, false});
  r.push_back({"apps", "v1", "deployments", "deployment", "Deployment", true, {"deploy"}, {"all"}, {status_sub(), scale_sub()}, true});
  r.push_back({"apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, {"rs"}, {"all"}, {status_sub(), scale_sub()}, true});
  r.push_back({"apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, {"sts"}, {"all"}, {status_sub(), scale_sub()}, true});
  r.push_back({"batch", "v1", "jobs", "job", "Job", true, {}, {"all"}, {status_sub()}, true});
  r.push_back({"autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", true, {"hpa"}, {"all"}, {status_sub()}, true});
  r.push_back({"storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", false, {"sc"}, {}, {}, false});
  r.push_back({"policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", true, {"pdb"}, {}, {status_sub()}, true});
  return r;
}

}  // namespace

bool ResourceInfo::has_subresource(const std::string& name) const { return subresource(name) != nullptr; }

const SubresourceInfo* ResourceInfo::subresource(const std::string& name) const {
  for (const auto& s : subresources) {
    if (s.name == name) {
      return &s;
    }
  }
  return nullptr;
}

const std::vector<ResourceInfo>& all_resources() {
  static const std::vector<ResourceInfo> kResources = build();
  return kResources;
}

const ResourceInfo* find_resource(const std::string& group, const std::string& version, const std::string& plural) {
  for (const auto& r : all_resources()) {
    if (r.group == group && r.version == version && r.plural == plural) {
      return &r;
    }
  }
  return nullptr;
}

const ResourceInfo* find_resource_by_kind(const std::string& api_version, const std::string& kind) {
  for (const auto& r : all_resources()) {
    if (r.kind == kind && (api_version.empty() || r.api_version() == api_version)) {
      return &r;
    }
  }
  return nullptr;
}

const ResourceInfo& resource_by_plural(const std::string& plural) {
  for (const auto& r : all_resources()) {
    if (r.plural == plural) {
      return r;
    }
  }
  throw std::logic_error("kube-sim: no resource type " + plural);
}

const ResourceInfo& pods_resource() {
  static const ResourceInfo& kPods = resource_by_plural("pods");
  return kPods;
}

std::vector<GroupVersions> served_groups() {
  std::vector<GroupVersions> groups;
  for (const auto& r : all_resources()) {
    bool found = false;
    for (auto& g : groups) {
      if (g.group == r.group) {
        found = true;
        if (std::find(g.versions.begin(), g.versions.end(), r.version) == g.versions.end()) {
          g.versions.push_back(r.version);
        }
      }
    }
    if (!found) {
      groups.push_back({r.group, {r.version}});
    }
  }
  return groups;
}

Json api_resource_list(const std::string& group, const std::string& version) {
  Json resources = Json::array();
  for (const auto& r : all_resources()) {
    if (r.group != group || r.version != version) {
      continue;
    }
    Json entry = {{"name", r.plural},         {"singularName", r.singular}, {"namespaced", r.namespaced},
                  {"kind", r.kind},           {"verbs", kAllVerbs},         {"storageVersionHash", safe_encode(std::to_string(fnv32a(r.plural))).substr(0, 8) + "AA="}};
    if (!r.short_names.empty()) {
      entry["shortNames"] = r.short_names;
    }
    if (!r.categories.empty()) {
      entry["categories"] = r.categories;
    }
    resources.push_back(entry);
    for (const auto& s : r.subresources) {
      Json sub = {{"name", r.plural + "/" + s.name},
                  {"singularName", ""},
                  {"namespaced", r.namespaced},
                  {"kind", s.kind.empty() ? r.kind : s.kind},
                  {"verbs", s.verbs}};
      if (!s.group.empty()) {
        sub["group"] = s.group;
        sub["version"] = s.version;
      }
      resources.push_back(sub);
    }
  }
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", group.empty() ? version : group + "/" + version},
          {"resources", resources}};
}

}  // namespace kubesim
