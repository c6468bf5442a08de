#include "cluster.h"

#include "api_error.h"
#include "yaml_json.h"

namespace kubesim {

Cluster::Cluster(Clock& clock, Random& random, ClusterOptions options)
    : clock_(clock),
      random_(random),
      options_(std::move(options)),
      hub_(options_.watch_history),
      store_(hub_),
      api_(store_, clock_, random_, options_.strategy),
      events_(api_),
      controllers_(api_, faults_, options_.sim, events_) {}

Json Cluster::default_node(int index) const {
  std::string name = "node-" + std::to_string(index);
  std::string ip = "10.0.0." + std::to_string(10 + index);
  Json capacity = {{"cpu", "4"},          {"memory", "16Gi"},          {"pods", "110"},
                   {"ephemeral-storage", "100Gi"}, {"hugepages-1Gi", "0"}, {"hugepages-2Mi", "0"}};
  Json allocatable = capacity;
  allocatable["cpu"] = "3800m";
  allocatable["memory"] = "15Gi";
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata",
           {{"name", name},
            {"labels",
             {{"kubernetes.io/hostname", name},
              {"kubernetes.io/os", "linux"},
              {"kubernetes.io/arch", "amd64"},
              {"beta.kubernetes.io/os", "linux"},
              {"beta.kubernetes.io/arch", "amd64"},
              {"node.kubernetes.io/instance-type", "sim.standard-4"},
              {"topology.kubernetes.io/region", "sim-region-1"},
              {"topology.kubernetes.io/zone", std::string("sim-region-1") + static_cast<char>('a' + (index - 1) % 3)}}}}},
          {"spec",
           {{"podCIDR", "10.244." + std::to_string(index) + ".0/24"},
            {"podCIDRs", Json::array({"10.244." + std::to_string(index) + ".0/24"})},
            {"providerID", "kube-sim://" + name}}},
          {"status",
           {{"capacity", capacity},
            {"allocatable", allocatable},
            {"addresses", Json::array({{{"type", "InternalIP"}, {"address", ip}}, {{"type", "Hostname"}, {"address", name}}})},
            {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", 10250}}}}},
            {"nodeInfo",
             {{"architecture", "amd64"},
              {"bootID", "00000000-0000-0000-0000-00000000000" + std::to_string(index % 10)},
              {"containerRuntimeVersion", "containerd://1.7.24"},
              {"kernelVersion", "6.1.0-28-amd64"},
              {"kubeProxyVersion", "v1.32.0"},
              {"kubeletVersion", "v1.32.0"},
              {"machineID", "kube-sim-" + name},
              {"operatingSystem", "linux"},
              {"osImage", "Debian GNU/Linux 12 (bookworm)"},
              {"systemUUID", "kube-sim-" + name}}}}}};
}

void Cluster::bootstrap() {
  std::lock_guard lock(mutex_);
  const ResourceInfo& namespaces = resource_by_plural("namespaces");
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    if (!store_.get(namespaces, "", ns)) {
      api_.create(namespaces, "", Json{{"metadata", {{"name", ns}}}});
    }
  }
  std::vector<Json> seed = options_.seed.empty() ? std::vector<Json>{} : parse_manifests(options_.seed);
  bool seed_has_nodes = std::any_of(seed.begin(), seed.end(), [](const Json& d) {
    return d.is_object() && d.value("kind", "") == "Node";
  });
  if (!seed_has_nodes) {
    for (int i = 1; i <= options_.default_nodes; ++i) {
      api_.create(resource_by_plural("nodes"), "", default_node(i), {false, true});
    }
  }
  const ResourceInfo& classes = resource_by_plural("storageclasses");
  if (!store_.get(classes, "", "standard")) {
    api_.create(classes, "",
                Json{{"metadata",
                      {{"name", "standard"},
                       {"annotations", {{"storageclass.kubernetes.io/is-default-class", "true"}}}}},
                     {"provisioner", "kube-sim.kubemend.io/hostpath"},
                     {"allowVolumeExpansion", true},
                     {"volumeBindingMode", "Immediate"}});
  }
  apply_manifests(seed);
  controllers_.step();
}

void Cluster::reset() {
  {
    std::lock_guard lock(mutex_);
    for (const auto& type : all_resources()) {
      std::vector<std::pair<std::string, std::string>> keys;
      for (const Json* o : store_.list(type)) {
        keys.emplace_back(namespace_of(*o), name_of(*o));
      }
      for (const auto& [ns, name] : keys) {
        api_.finalize_delete(type, ns, name);
      }
    }
    faults_.clear();
    controllers_.reset();
  }
  bootstrap();
}

void Cluster::tick() {
  std::lock_guard lock(mutex_);
  controllers_.step();
}

std::vector<Json> Cluster::apply_manifests(const std::vector<Json>& documents) {
  std::vector<Json> stored;
  const ResourceInfo& namespaces = resource_by_plural("namespaces");
  for (const Json& doc : documents) {
    if (!doc.is_object()) {
      throw ApiError::bad_request("each manifest must be an object with apiVersion and kind");
    }
    const ResourceInfo* r = find_resource_by_kind(doc.value("apiVersion", ""), doc.value("kind", ""));
    if (!r) {
      throw ApiError::bad_request("no kind \"" + doc.value("kind", "") + "\" is registered for version \"" +
                                  doc.value("apiVersion", "") + "\"");
    }
    std::string ns = r->namespaced ? string_at(doc, "metadata.namespace", "default") : "";
    if (r->namespaced && !store_.get(namespaces, "", ns)) {
      api_.create(namespaces, "", Json{{"metadata", {{"name", ns}}}});
    }
    std::string name = string_at(doc, "metadata.name");
    if (!name.empty() && store_.get(*r, ns, name)) {
      Json copy = doc;
      copy["metadata"].erase("resourceVersion");
      stored.push_back(api_.update(*r, ns, name, copy, "", {false, doc.contains("status")}));
    } else {
      stored.push_back(api_.create(*r, ns, doc, {false, true}));
    }
  }
  return stored;
}

}  // namespace kubesim
