#include "metrics.h"

#include "controllers.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace kubesim {

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) {
    return "NaN";
  }
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<long long>(v));
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.10g", v);
  return buf;
}

// Collects samples per metric so each family is printed once with its
// HELP/TYPE header, as Prometheus requires.
class Exposition {
 public:
  void family(const std::string& name, const std::string& type, const std::string& help) {
    if (!families_.count(name)) {
      order_.push_back(name);
      families_[name] = {type, help, {}};
    }
  }
  void add(const std::string& name, const Labels& labels, double value) {
    std::string line = name;
    if (!labels.empty()) {
      line += "{";
      for (std::size_t i = 0; i < labels.size(); ++i) {
        line += (i ? "," : "") + labels[i].first + "=\"" + escape(labels[i].second) + "\"";
      }
      line += "}";
    }
    line += " " + format_value(value);
    families_[name].samples.push_back(line);
  }
  std::string str() const {
    std::string out;
    for (const auto& name : order_) {
      const auto& f = families_.at(name);
      out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
      for (const auto& s : f.samples) {
        out += s + "\n";
      }
    }
    return out;
  }

 private:
  struct Family {
    std::string type;
    std::string help;
    std::vector<std::string> samples;
  };
  std::vector<std::string> order_;
  std::map<std::string, Family> families_;
};

std::string lower_bool(const std::string& status) {
  if (status == "True") {
    return "true";
  }
  if (status == "False") {
    return "false";
  }
  return "unknown";
}

void condition_series(Exposition& x, const std::string& metric, const Labels& base, const std::string& condition,
                      const std::string& status) {
  for (const char* s : {"true", "false", "unknown"}) {
    Labels l = base;
    l.emplace_back("condition", condition);
    l.emplace_back("status", s);
    x.add(metric, l, lower_bool(status) == s ? 1 : 0);
  }
}

double quantity(const Json& object, const std::string& path, double fallback = 0) {
  const Json* q = find_path(object, path);
  return q ? parse_quantity(*q).value_or(fallback) : fallback;
}

void kube_state_metrics(Exposition& x, const ObjectStore& store, TimePoint now) {
  (void)now;
  x.family("kube_pod_info", "gauge", "Information about pod.");
  x.family("kube_pod_owner", "gauge", "Information about the Pod's owner.");
  x.family("kube_pod_created", "gauge", "Unix creation timestamp");
  x.family("kube_pod_status_phase", "gauge", "The pods current phase.");
  x.family("kube_pod_status_ready", "gauge", "Describes whether the pod is ready to serve requests.");
  x.family("kube_pod_status_scheduled", "gauge", "Describes the status of the scheduling process for the pod.");
  x.family("kube_pod_container_info", "gauge", "Information about a container in a pod.");
  x.family("kube_pod_container_status_waiting", "gauge", "Describes whether the container is currently in waiting state.");
  x.family("kube_pod_container_status_waiting_reason", "gauge", "Describes the reason the container is currently in waiting state.");
  x.family("kube_pod_container_status_running", "gauge", "Describes whether the container is currently in running state.");
  x.family("kube_pod_container_status_terminated", "gauge", "Describes whether the container is currently in terminated state.");
  x.family("kube_pod_container_status_terminated_reason", "gauge", "Describes the reason the container is currently in terminated state.");
  x.family("kube_pod_container_status_last_terminated_reason", "gauge", "Describes the last reason the container was in terminated state.");
  x.family("kube_pod_container_status_last_terminated_exitcode", "gauge", "Describes the exit code for the last container in terminated state.");
  x.family("kube_pod_container_status_ready", "gauge", "Describes whether the containers readiness check succeeded.");
  x.family("kube_pod_container_status_restarts_total", "counter", "The number of container restarts per container.");
  x.family("kube_pod_container_resource_requests", "gauge", "The number of requested request resource by a container.");
  x.family("kube_pod_container_resource_limits", "gauge", "The number of requested limit resource by a container.");
  x.family("kube_pod_deletion_timestamp", "gauge", "Unix deletion timestamp");
  for (const Json* p : store.list(pods_resource())) {
    const Json& pod = *p;
    std::string ns = namespace_of(pod);
    std::string name = name_of(pod);
    std::string uid = uid_of(pod);
    std::string node = string_at(pod, "spec.nodeName");
    Labels base = {{"namespace", ns}, {"pod", name}, {"uid", uid}};
    const Json* owner = controller_ref_of(pod);
    x.add("kube_pod_info",
          {{"namespace", ns}, {"pod", name}, {"uid", uid}, {"host_ip", string_at(pod, "status.hostIP")},
           {"pod_ip", string_at(pod, "status.podIP")}, {"node", node},
           {"created_by_kind", owner ? owner->value("kind", "") : "<none>"},
           {"created_by_name", owner ? owner->value("name", "") : "<none>"}, {"priority_class", ""},
           {"host_network", "false"}},
          1);
    x.add("kube_pod_owner",
          {{"namespace", ns}, {"pod", name}, {"uid", uid},
           {"owner_kind", owner ? owner->value("kind", "") : "<none>"},
           {"owner_name", owner ? owner->value("name", "") : "<none>"},
           {"owner_is_controller", owner ? "true" : "<none>"}},
          1);
    TimePoint created;
    if (parse_time(string_at(pod, "metadata.creationTimestamp"), created)) {
      x.add("kube_pod_created", base,
            static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(created.time_since_epoch()).count()));
    }
    TimePoint deleted;
    if (parse_time(string_at(pod, "metadata.deletionTimestamp"), deleted)) {
      x.add("kube_pod_deletion_timestamp", base,
            static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(deleted.time_since_epoch()).count()));
    }
    std::string phase = string_at(pod, "status.phase", "Pending");
    for (const char* ph : {"Pending", "Succeeded", "Failed", "Unknown", "Running"}) {
      Labels l = base;
      l.emplace_back("phase", ph);
      x.add("kube_pod_status_phase", l, phase == ph ? 1 : 0);
    }
    for (const auto& [type, metric] : {std::pair{"Ready", "kube_pod_status_ready"},
                                       std::pair{"PodScheduled", "kube_pod_status_scheduled"}}) {
      const Json* c = find_condition(pod, type);
      if (!c) {
        continue;
      }
      for (const char* s : {"true", "false", "unknown"}) {
        Labels l = base;
        l.emplace_back("condition", s);
        x.add(metric, l, lower_bool(c->value("status", "")) == s ? 1 : 0);
      }
    }
    const Json* containers = find_path(pod, "spec.containers");
    if (containers && containers->is_array()) {
      for (const auto& c : *containers) {
        std::string cname = c.value("name", "");
        for (const char* kind : {"requests", "limits"}) {
          const Json* block = find_path(c, std::string("resources.") + kind);
          if (!block || !block->is_object()) {
            continue;
          }
          for (auto it = block->begin(); it != block->end(); ++it) {
            auto v = parse_quantity(it.value());
            if (!v) {
              continue;
            }
            std::string unit = it.key() == "cpu" ? "core" : (it.key() == "memory" || it.key().find("storage") != std::string::npos ? "byte" : "integer");
            x.add(std::string("kube_pod_container_resource_") + kind,
                  {{"namespace", ns}, {"pod", name}, {"uid", uid}, {"container", cname}, {"node", node},
                   {"resource", it.key()}, {"unit", unit}},
                  *v);
          }
        }
      }
    }
    const Json* statuses = find_path(pod, "status.containerStatuses");
    if (statuses && statuses->is_array()) {
      for (const auto& cs : *statuses) {
        std::string cname = cs.value("name", "");
        Labels cl = {{"namespace", ns}, {"pod", name}, {"uid", uid}, {"container", cname}};
        Labels info = cl;
        info.emplace_back("image_spec", cs.value("image", ""));
        info.emplace_back("image", cs.value("image", ""));
        info.emplace_back("image_id", cs.value("imageID", ""));
        info.emplace_back("container_id", cs.value("containerID", ""));
        x.add("kube_pod_container_info", info, 1);
        const Json* waiting = find_path(cs, "state.waiting");
        const Json* running = find_path(cs, "state.running");
        const Json* terminated = find_path(cs, "state.terminated");
        x.add("kube_pod_container_status_waiting", cl, waiting ? 1 : 0);
        if (waiting && !string_at(*waiting, "reason").empty()) {
          Labels l = cl;
          l.emplace_back("reason", string_at(*waiting, "reason"));
          x.add("kube_pod_container_status_waiting_reason", l, 1);
        }
        x.add("kube_pod_container_status_running", cl, running ? 1 : 0);
        x.add("kube_pod_container_status_terminated", cl, terminated ? 1 : 0);
        if (terminated && !string_at(*terminated, "reason").empty()) {
          Labels l = cl;
          l.emplace_back("reason", string_at(*terminated, "reason"));
          x.add("kube_pod_container_status_terminated_reason", l, 1);
        }
        const Json* last = find_path(cs, "lastState.terminated");
        if (last) {
          Labels l = cl;
          l.emplace_back("reason", string_at(*last, "reason"));
          x.add("kube_pod_container_status_last_terminated_reason", l, 1);
          x.add("kube_pod_container_status_last_terminated_exitcode", cl,
                static_cast<double>(int_at(*last, "exitCode", 0)));
        }
        x.add("kube_pod_container_status_ready", cl, bool_at(cs, "ready") ? 1 : 0);
        x.add("kube_pod_container_status_restarts_total", cl, static_cast<double>(int_at(cs, "restartCount", 0)));
      }
    }
  }

  x.family("kube_deployment_spec_replicas", "gauge", "Number of desired pods for a deployment.");
  x.family("kube_deployment_spec_paused", "gauge", "Whether the deployment is paused and will not be processed by the deployment controller.");
  x.family("kube_deployment_status_replicas", "gauge", "The number of replicas per deployment.");
  x.family("kube_deployment_status_replicas_ready", "gauge", "The number of ready replicas per deployment.");
  x.family("kube_deployment_status_replicas_available", "gauge", "The number of available replicas per deployment.");
  x.family("kube_deployment_status_replicas_unavailable", "gauge", "The number of unavailable replicas per deployment.");
  x.family("kube_deployment_status_replicas_updated", "gauge", "The number of updated replicas per deployment.");
  x.family("kube_deployment_status_observed_generation", "gauge", "The generation observed by the deployment controller.");
  x.family("kube_deployment_metadata_generation", "gauge", "Sequence number representing a specific generation of the desired state.");
  x.family("kube_deployment_status_condition", "gauge", "The current status conditions of a deployment.");
  for (const Json* d : store.list(resource_by_plural("deployments"))) {
    Labels l = {{"namespace", namespace_of(*d)}, {"deployment", name_of(*d)}};
    x.add("kube_deployment_spec_replicas", l, static_cast<double>(int_at(*d, "spec.replicas", 1)));
    x.add("kube_deployment_spec_paused", l, bool_at(*d, "spec.paused") ? 1 : 0);
    x.add("kube_deployment_status_replicas", l, static_cast<double>(int_at(*d, "status.replicas", 0)));
    x.add("kube_deployment_status_replicas_ready", l, static_cast<double>(int_at(*d, "status.readyReplicas", 0)));
    x.add("kube_deployment_status_replicas_available", l, static_cast<double>(int_at(*d, "status.availableReplicas", 0)));
    x.add("kube_deployment_status_replicas_unavailable", l, static_cast<double>(int_at(*d, "status.unavailableReplicas", 0)));
    x.add("kube_deployment_status_replicas_updated", l, static_cast<double>(int_at(*d, "status.updatedReplicas", 0)));
    x.add("kube_deployment_status_observed_generation", l, static_cast<double>(int_at(*d, "status.observedGeneration", 0)));
    x.add("kube_deployment_metadata_generation", l, static_cast<double>(int_at(*d, "metadata.generation", 1)));
    const Json* conditions = find_path(*d, "status.conditions");
    if (conditions && conditions->is_array()) {
      for (const auto& c : *conditions) {
        Labels cl = l;
        cl.emplace_back("reason", c.value("reason", ""));
        condition_series(x, "kube_deployment_status_condition", cl, c.value("type", ""), c.value("status", ""));
      }
    }
  }

  x.family("kube_replicaset_spec_replicas", "gauge", "Number of desired pods for a ReplicaSet.");
  x.family("kube_replicaset_status_replicas", "gauge", "The number of replicas per ReplicaSet.");
  x.family("kube_replicaset_status_ready_replicas", "gauge", "The number of ready replicas per ReplicaSet.");
  x.family("kube_replicaset_owner", "gauge", "Information about the ReplicaSet's owner.");
  for (const Json* rs : store.list(resource_by_plural("replicasets"))) {
    Labels l = {{"namespace", namespace_of(*rs)}, {"replicaset", name_of(*rs)}};
    x.add("kube_replicaset_spec_replicas", l, static_cast<double>(int_at(*rs, "spec.replicas", 1)));
    x.add("kube_replicaset_status_replicas", l, static_cast<double>(int_at(*rs, "status.replicas", 0)));
    x.add("kube_replicaset_status_ready_replicas", l, static_cast<double>(int_at(*rs, "status.readyReplicas", 0)));
    const Json* owner = controller_ref_of(*rs);
    Labels ol = l;
    ol.emplace_back("owner_kind", owner ? owner->value("kind", "") : "<none>");
    ol.emplace_back("owner_name", owner ? owner->value("name", "") : "<none>");
    ol.emplace_back("owner_is_controller", owner ? "true" : "<none>");
    x.add("kube_replicaset_owner", ol, 1);
  }

  x.family("kube_statefulset_replicas", "gauge", "Number of desired pods for a StatefulSet.");
  x.family("kube_statefulset_status_replicas", "gauge", "The number of replicas per StatefulSet.");
  x.family("kube_statefulset_status_replicas_ready", "gauge", "The number of ready replicas per StatefulSet.");
  x.family("kube_statefulset_status_replicas_current", "gauge", "The number of current replicas per StatefulSet.");
  x.family("kube_statefulset_status_replicas_updated", "gauge", "The number of updated replicas per StatefulSet.");
  x.family("kube_statefulset_status_observed_generation", "gauge", "The generation observed by the StatefulSet controller.");
  x.family("kube_statefulset_metadata_generation", "gauge", "Sequence number representing a specific generation of the desired state for the StatefulSet.");
  x.family("kube_statefulset_status_current_revision", "gauge", "Indicates the version of the StatefulSet used to generate Pods in the sequence [0,currentReplicas).");
  x.family("kube_statefulset_status_update_revision", "gauge", "Indicates the version of the StatefulSet used to generate Pods in the sequence [replicas-updatedReplicas,replicas)");
  for (const Json* s : store.list(resource_by_plural("statefulsets"))) {
    Labels l = {{"namespace", namespace_of(*s)}, {"statefulset", name_of(*s)}};
    x.add("kube_statefulset_replicas", l, static_cast<double>(int_at(*s, "spec.replicas", 1)));
    x.add("kube_statefulset_status_replicas", l, static_cast<double>(int_at(*s, "status.replicas", 0)));
    x.add("kube_statefulset_status_replicas_ready", l, static_cast<double>(int_at(*s, "status.readyReplicas", 0)));
    x.add("kube_statefulset_status_replicas_current", l, static_cast<double>(int_at(*s, "status.currentReplicas", 0)));
    x.add("kube_statefulset_status_replicas_updated", l, static_cast<double>(int_at(*s, "status.updatedReplicas", 0)));
    x.add("kube_statefulset_status_observed_generation", l, static_cast<double>(int_at(*s, "status.observedGeneration", 0)));
    x.add("kube_statefulset_metadata_generation", l, static_cast<double>(int_at(*s, "metadata.generation", 1)));
    Labels cr = l;
    cr.emplace_back("revision", string_at(*s, "status.currentRevision"));
    x.add("kube_statefulset_status_current_revision", cr, 1);
    Labels ur = l;
    ur.emplace_back("revision", string_at(*s, "status.updateRevision"));
    x.add("kube_statefulset_status_update_revision", ur, 1);
  }

  x.family("kube_job_spec_completions", "gauge", "The desired number of successfully finished pods the job should be run with.");
  x.family("kube_job_status_active", "gauge", "The number of actively running pods.");
  x.family("kube_job_status_succeeded", "gauge", "The number of pods which reached Phase Succeeded.");
  x.family("kube_job_status_failed", "gauge", "The number of pods which reached Phase Failed and the reason for failure.");
  x.family("kube_job_complete", "gauge", "The job has completed its execution.");
  x.family("kube_job_failed", "gauge", "The job has failed its execution.");
  x.family("kube_job_owner", "gauge", "Information about the Job's owner.");
  for (const Json* j : store.list(resource_by_plural("jobs"))) {
    Labels l = {{"namespace", namespace_of(*j)}, {"job_name", name_of(*j)}};
    x.add("kube_job_spec_completions", l, static_cast<double>(int_at(*j, "spec.completions", 1)));
    x.add("kube_job_status_active", l, static_cast<double>(int_at(*j, "status.active", 0)));
    x.add("kube_job_status_succeeded", l, static_cast<double>(int_at(*j, "status.succeeded", 0)));
    x.add("kube_job_status_failed", l, static_cast<double>(int_at(*j, "status.failed", 0)));
    for (const auto& [type, metric] : {std::pair{"Complete", "kube_job_complete"}, std::pair{"Failed", "kube_job_failed"}}) {
      const Json* c = find_condition(*j, type);
      if (!c) {
        continue;
      }
      for (const char* s : {"true", "false", "unknown"}) {
        Labels cl = l;
        cl.emplace_back("condition", s);
        x.add(metric, cl, lower_bool(c->value("status", "")) == s ? 1 : 0);
      }
    }
    Labels ol = l;
    ol.emplace_back("owner_kind", "<none>");
    ol.emplace_back("owner_name", "<none>");
    ol.emplace_back("owner_is_controller", "<none>");
    x.add("kube_job_owner", ol, 1);
  }

  x.family("kube_horizontalpodautoscaler_info", "gauge", "Information about this autoscaler.");
  x.family("kube_horizontalpodautoscaler_spec_max_replicas", "gauge", "Upper limit for the number of pods that can be set by the autoscaler; cannot be smaller than MinReplicas.");
  x.family("kube_horizontalpodautoscaler_spec_min_replicas", "gauge", "Lower limit for the number of pods that can be set by the autoscaler, default 1.");
  x.family("kube_horizontalpodautoscaler_spec_target_metric", "gauge", "The metric specifications used by this autoscaler when calculating the desired replica count.");
  x.family("kube_horizontalpodautoscaler_status_current_replicas", "gauge", "Current number of replicas of pods managed by this autoscaler.");
  x.family("kube_horizontalpodautoscaler_status_desired_replicas", "gauge", "Desired number of replicas of pods managed by this autoscaler.");
  x.family("kube_horizontalpodautoscaler_status_condition", "gauge", "The condition of this autoscaler.");
  for (const Json* h : store.list(resource_by_plural("horizontalpodautoscalers"))) {
    Labels l = {{"namespace", namespace_of(*h)}, {"horizontalpodautoscaler", name_of(*h)}};
    Labels info = l;
    info.emplace_back("scaletargetref_api_version", string_at(*h, "spec.scaleTargetRef.apiVersion"));
    info.emplace_back("scaletargetref_kind", string_at(*h, "spec.scaleTargetRef.kind"));
    info.emplace_back("scaletargetref_name", string_at(*h, "spec.scaleTargetRef.name"));
    x.add("kube_horizontalpodautoscaler_info", info, 1);
    x.add("kube_horizontalpodautoscaler_spec_max_replicas", l, static_cast<double>(int_at(*h, "spec.maxReplicas", 1)));
    x.add("kube_horizontalpodautoscaler_spec_min_replicas", l, static_cast<double>(int_at(*h, "spec.minReplicas", 1)));
    const Json* metrics = find_path(*h, "spec.metrics");
    if (metrics && metrics->is_array()) {
      for (const auto& m : *metrics) {
        if (m.value("type", "") == "Resource") {
          Labels ml = l;
          ml.emplace_back("metric_name", string_at(m, "resource.name"));
          ml.emplace_back("metric_target_type", "utilization");
          x.add("kube_horizontalpodautoscaler_spec_target_metric", ml,
                static_cast<double>(int_at(m, "resource.target.averageUtilization", 80)));
        }
      }
    }
    x.add("kube_horizontalpodautoscaler_status_current_replicas", l, static_cast<double>(int_at(*h, "status.currentReplicas", 0)));
    x.add("kube_horizontalpodautoscaler_status_desired_replicas", l, static_cast<double>(int_at(*h, "status.desiredReplicas", 0)));
    const Json* conditions = find_path(*h, "status.conditions");
    if (conditions && conditions->is_array()) {
      for (const auto& c : *conditions) {
        condition_series(x, "kube_horizontalpodautoscaler_status_condition", l, c.value("type", ""), c.value("status", ""));
      }
    }
  }

  x.family("kube_node_info", "gauge", "Information about a cluster node.");
  x.family("kube_node_role", "gauge", "The role of a cluster node.");
  x.family("kube_node_spec_unschedulable", "gauge", "Whether a node can schedule new pods.");
  x.family("kube_node_spec_taint", "gauge", "The taint of a cluster node.");
  x.family("kube_node_status_condition", "gauge", "The condition of a cluster node.");
  x.family("kube_node_status_capacity", "gauge", "The capacity for different resources of a node.");
  x.family("kube_node_status_allocatable", "gauge", "The allocatable for different resources of a node that are available for scheduling.");
  for (const Json* n : store.list(resource_by_plural("nodes"))) {
    std::string node = name_of(*n);
    Labels l = {{"node", node}};
    std::string internal_ip;
    const Json* addresses = find_path(*n, "status.addresses");
    if (addresses && addresses->is_array()) {
      for (const auto& a : *addresses) {
        if (a.value("type", "") == "InternalIP") {
          internal_ip = a.value("address", "");
        }
      }
    }
    x.add("kube_node_info",
          {{"node", node}, {"kernel_version", string_at(*n, "status.nodeInfo.kernelVersion")},
           {"os_image", string_at(*n, "status.nodeInfo.osImage")},
           {"container_runtime_version", string_at(*n, "status.nodeInfo.containerRuntimeVersion")},
           {"kubelet_version", string_at(*n, "status.nodeInfo.kubeletVersion")},
           {"kubeproxy_version", string_at(*n, "status.nodeInfo.kubeProxyVersion")},
           {"provider_id", string_at(*n, "spec.providerID")}, {"pod_cidr", string_at(*n, "spec.podCIDR")},
           {"internal_ip", internal_ip}, {"system_uuid", string_at(*n, "status.nodeInfo.systemUUID")}},
          1);
    for (const auto& [k, v] : labels_of(*n)) {
      static const std::string kPrefix = "node-role.kubernetes.io/";
      if (k.rfind(kPrefix, 0) == 0) {
        x.add("kube_node_role", {{"node", node}, {"role", k.substr(kPrefix.size())}}, 1);
      }
    }
    x.add("kube_node_spec_unschedulable", l, bool_at(*n, "spec.unschedulable") ? 1 : 0);
    const Json* taints = find_path(*n, "spec.taints");
    if (taints && taints->is_array()) {
      for (const auto& t : *taints) {
        x.add("kube_node_spec_taint",
              {{"node", node}, {"key", t.value("key", "")}, {"value", t.value("value", "")},
               {"effect", t.value("effect", "")}},
              1);
      }
    }
    const Json* conditions = find_path(*n, "status.conditions");
    if (conditions && conditions->is_array()) {
      for (const auto& c : *conditions) {
        condition_series(x, "kube_node_status_condition", l, c.value("type", ""), c.value("status", ""));
      }
    }
    for (const char* block : {"capacity", "allocatable"}) {
      const Json* res = find_path(*n, std::string("status.") + block);
      if (!res || !res->is_object()) {
        continue;
      }
      for (auto it = res->begin(); it != res->end(); ++it) {
        auto v = parse_quantity(it.value());
        if (!v) {
          continue;
        }
        std::string unit = it.key() == "cpu" ? "core" : (it.key() == "pods" ? "integer" : "byte");
        x.add(std::string("kube_node_status_") + block, {{"node", node}, {"resource", it.key()}, {"unit", unit}}, *v);
      }
    }
  }

  x.family("kube_persistentvolumeclaim_info", "gauge", "Information about persistent volume claim.");
  x.family("kube_persistentvolumeclaim_status_phase", "gauge", "The phase the persistent volume claim is currently in.");
  x.family("kube_persistentvolumeclaim_resource_requests_storage_bytes", "gauge", "The capacity of storage requested by the persistent volume claim.");
  x.family("kube_persistentvolumeclaim_access_mode", "gauge", "The access mode(s) specified by the persistent volume claim.");
  x.family("kube_persistentvolume_capacity_bytes", "gauge", "Persistentvolume capacity in bytes.");
  for (const Json* c : store.list(resource_by_plural("persistentvolumeclaims"))) {
    Labels l = {{"namespace", namespace_of(*c)}, {"persistentvolumeclaim", name_of(*c)}};
    Labels info = l;
    info.emplace_back("storageclass", string_at(*c, "spec.storageClassName"));
    info.emplace_back("volumename", string_at(*c, "spec.volumeName"));
    info.emplace_back("volumemode", string_at(*c, "spec.volumeMode", "Filesystem"));
    x.add("kube_persistentvolumeclaim_info", info, 1);
    std::string phase = string_at(*c, "status.phase", "Pending");
    for (const char* ph : {"Lost", "Bound", "Pending"}) {
      Labels pl = l;
      pl.emplace_back("phase", ph);
      x.add("kube_persistentvolumeclaim_status_phase", pl, phase == ph ? 1 : 0);
    }
    x.add("kube_persistentvolumeclaim_resource_requests_storage_bytes", l,
          quantity(*c, "spec.resources.requests.storage"));
    const Json* modes = find_path(*c, "spec.accessModes");
    if (modes && modes->is_array()) {
      for (const auto& m : *modes) {
        Labels ml = l;
        ml.emplace_back("access_mode", m.is_string() ? m.get<std::string>() : "");
        x.add("kube_persistentvolumeclaim_access_mode", ml, 1);
      }
    }
    if (!string_at(*c, "spec.volumeName").empty() && string_at(*c, "status.phase") == "Bound") {
      x.add("kube_persistentvolume_capacity_bytes", {{"persistentvolume", string_at(*c, "spec.volumeName")}},
            quantity(*c, "status.capacity.storage"));
    }
  }

  x.family("kube_poddisruptionbudget_status_current_healthy", "gauge", "Current number of healthy pods.");
  x.family("kube_poddisruptionbudget_status_desired_healthy", "gauge", "Minimum desired number of healthy pods.");
  x.family("kube_poddisruptionbudget_status_pod_disruptions_allowed", "gauge", "Number of pod disruptions that are currently allowed.");
  x.family("kube_poddisruptionbudget_status_expected_pods", "gauge", "Total number of pods counted by this disruption budget.");
  for (const Json* p : store.list(resource_by_plural("poddisruptionbudgets"))) {
    Labels l = {{"namespace", namespace_of(*p)}, {"poddisruptionbudget", name_of(*p)}};
    x.add("kube_poddisruptionbudget_status_current_healthy", l, static_cast<double>(int_at(*p, "status.currentHealthy", 0)));
    x.add("kube_poddisruptionbudget_status_desired_healthy", l, static_cast<double>(int_at(*p, "status.desiredHealthy", 0)));
    x.add("kube_poddisruptionbudget_status_pod_disruptions_allowed", l, static_cast<double>(int_at(*p, "status.disruptionsAllowed", 0)));
    x.add("kube_poddisruptionbudget_status_expected_pods", l, static_cast<double>(int_at(*p, "status.expectedPods", 0)));
  }

  x.family("kube_namespace_status_phase", "gauge", "kubernetes namespace status phase.");
  for (const Json* n : store.list(resource_by_plural("namespaces"))) {
    std::string phase = string_at(*n, "status.phase", "Active");
    for (const char* ph : {"Active", "Terminating"}) {
      x.add("kube_namespace_status_phase", {{"namespace", name_of(*n)}, {"phase", ph}}, phase == ph ? 1 : 0);
    }
  }
}

void kubelet_metrics(Exposition& x, const ObjectStore& store, const FaultState& faults) {
  x.family("kubelet_volume_stats_capacity_bytes", "gauge", "[ALPHA] Capacity in bytes of the volume");
  x.family("kubelet_volume_stats_available_bytes", "gauge", "[ALPHA] Number of available bytes in the volume");
  x.family("kubelet_volume_stats_used_bytes", "gauge", "[ALPHA] Number of used bytes in the volume");
  x.family("kubelet_volume_stats_inodes", "gauge", "[ALPHA] Maximum number of inodes in the volume");
  x.family("kubelet_volume_stats_inodes_free", "gauge", "[ALPHA] Number of free inodes in the volume");
  x.family("kubelet_volume_stats_inodes_used", "gauge", "[ALPHA] Number of used inodes in the volume");
  for (const Json* c : store.list(resource_by_plural("persistentvolumeclaims"))) {
    if (string_at(*c, "status.phase") != "Bound") {
      continue;
    }
    Labels l = {{"namespace", namespace_of(*c)}, {"persistentvolumeclaim", name_of(*c)}};
    double capacity = quantity(*c, "status.capacity.storage");
    auto it = faults.pvc_used.find(namespace_of(*c) + "/" + name_of(*c));
    double used = it == faults.pvc_used.end() ? 0 : std::min(static_cast<double>(it->second), capacity);
    x.add("kubelet_volume_stats_capacity_bytes", l, capacity);
    x.add("kubelet_volume_stats_available_bytes", l, capacity - used);
    x.add("kubelet_volume_stats_used_bytes", l, used);
    double inodes = std::max(1.0, std::floor(capacity / 16384));
    double inodes_used = std::floor(used / 65536);
    x.add("kubelet_volume_stats_inodes", l, inodes);
    x.add("kubelet_volume_stats_inodes_used", l, inodes_used);
    x.add("kubelet_volume_stats_inodes_free", l, inodes - inodes_used);
  }
  x.family("kubelet_running_pods", "gauge", "[ALPHA] Number of pods that have a running pod sandbox");
  std::map<std::string, int> running;
  for (const Json* n : store.list(resource_by_plural("nodes"))) {
    running[name_of(*n)] = 0;
  }
  for (const Json* p : store.list(pods_resource())) {
    if (string_at(*p, "status.phase") == "Running") {
      ++running[string_at(*p, "spec.nodeName")];
    }
  }
  for (const auto& [node, count] : running) {
    x.add("kubelet_running_pods", {{"node", node}}, count);
  }
}

double container_cpu_usage(const Json& container) {
  const Json* req = find_path(container, "resources.requests.cpu");
  double request = req ? parse_quantity(*req).value_or(0) : 0;
  return request > 0 ? request * 0.1 : 0.005;
}

void cadvisor_metrics(Exposition& x, const ObjectStore& store, const FaultState& faults, TimePoint now) {
  x.family("container_memory_working_set_bytes", "gauge", "Current working set of the container in bytes");
  x.family("container_memory_usage_bytes", "gauge", "Current memory usage in bytes, including all memory regardless of when it was accessed");
  x.family("container_memory_rss", "gauge", "Size of RSS in bytes.");
  x.family("container_spec_memory_limit_bytes", "gauge", "Memory limit for the container.");
  x.family("container_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed in seconds.");
  for (const Json* p : store.list(pods_resource())) {
    const Json* statuses = find_path(*p, "status.containerStatuses");
    const Json* specs = find_path(*p, "spec.containers");
    if (!statuses || !statuses->is_array() || !specs || !specs->is_array()) {
      continue;
    }
    for (const auto& cs : *statuses) {
      const Json* running = find_path(cs, "state.running");
      if (!running) {
        continue;
      }
      std::string cname = cs.value("name", "");
      const Json* spec = nullptr;
      for (const auto& c : *specs) {
        if (c.value("name", "") == cname) {
          spec = &c;
        }
      }
      if (!spec) {
        continue;
      }
      std::string container_id = cs.value("containerID", "");
      auto sep = container_id.find("//");
      std::string short_id = sep == std::string::npos ? container_id : container_id.substr(sep + 2);
      Labels l = {{"container", cname},
                  {"id", "/kubepods/pod" + uid_of(*p) + "/" + short_id},
                  {"image", cs.value("image", "")},
                  {"name", short_id},
                  {"namespace", namespace_of(*p)},
                  {"pod", name_of(*p)}};
      double memory = static_cast<double>(container_memory_bytes(store, faults, *p, *spec));
      const Json* limit = find_path(*spec, "resources.limits.memory");
      double limit_bytes = limit ? parse_quantity(*limit).value_or(0) : 0;
      // A working set above the limit does not survive: report what the
      // cgroup allows until the OOM kill lands.
      double working_set = limit_bytes > 0 ? std::min(memory, limit_bytes) : memory;
      x.add("container_memory_working_set_bytes", l, working_set);
      x.add("container_memory_usage_bytes", l, working_set + 4096 * 256);
      x.add("container_memory_rss", l, working_set * 0.9);
      x.add("container_spec_memory_limit_bytes", l, limit_bytes);
      TimePoint started;
      double seconds = 0;
      if (parse_time(string_at(*running, "startedAt"), started)) {
        seconds = std::chrono::duration<double>(now - started).count();
      }
      x.add("container_cpu_usage_seconds_total", l, std::max(0.0, seconds) * container_cpu_usage(*spec));
    }
  }
}

void opencost_metrics(Exposition& x, const ObjectStore& store, const FaultState& faults) {
  x.family("node_cpu_hourly_cost", "gauge", "node_cpu_hourly_cost hourly cost for each cpu on this node");
  x.family("node_ram_hourly_cost", "gauge", "node_ram_hourly_cost hourly cost for each gb of ram on this node");
  x.family("node_gpu_hourly_cost", "gauge", "node_gpu_hourly_cost hourly cost for each gpu on this node");
  x.family("node_gpu_count", "gauge", "node_gpu_count count of gpu on this node");
  x.family("node_total_hourly_cost", "gauge", "node_total_hourly_cost Total node cost per hour");
  x.family("kubecost_node_is_spot", "gauge", "kubecost_node_is_spot Cloud provider info about node preemptibility");
  for (const Json* n : store.list(resource_by_plural("nodes"))) {
    std::string node = name_of(*n);
    auto labels = labels_of(*n);
    NodePrice price;
    if (auto it = faults.node_prices.find(node); it != faults.node_prices.end()) {
      price = it->second;
    }
    Labels l = {{"arch", labels["kubernetes.io/arch"]},
                {"instance", node},
                {"instance_type", labels["node.kubernetes.io/instance-type"]},
                {"node", node},
                {"provider_id", string_at(*n, "spec.providerID")},
                {"region", labels["topology.kubernetes.io/region"]}};
    double cores = quantity(*n, "status.capacity.cpu");
    double gib = quantity(*n, "status.capacity.memory") / (1024.0 * 1024 * 1024);
    x.add("node_cpu_hourly_cost", l, price.cpu_hourly);
    x.add("node_ram_hourly_cost", l, price.ram_gib_hourly);
    x.add("node_gpu_hourly_cost", l, 0);
    x.add("node_gpu_count", l, 0);
    x.add("node_total_hourly_cost", l, cores * price.cpu_hourly + gib * price.ram_gib_hourly);
    x.add("kubecost_node_is_spot", l, 0);
  }
  x.family("container_cpu_allocation", "gauge", "container_cpu_allocation Percent of a single CPU used in a minute");
  x.family("container_memory_allocation_bytes", "gauge", "container_memory_allocation_bytes Bytes of RAM used");
  for (const Json* p : store.list(pods_resource())) {
    std::string node = string_at(*p, "spec.nodeName");
    if (node.empty() || pod_is_finished(*p)) {
      continue;
    }
    const Json* specs = find_path(*p, "spec.containers");
    if (!specs || !specs->is_array()) {
      continue;
    }
    for (const auto& c : *specs) {
      Labels l = {{"container", c.value("name", "")}, {"instance", node}, {"namespace", namespace_of(*p)},
                  {"node", node}, {"pod", name_of(*p)}};
      double cpu_request = quantity(c, "resources.requests.cpu");
      double mem_request = quantity(c, "resources.requests.memory");
      double mem_usage = static_cast<double>(container_memory_bytes(store, faults, *p, c));
      x.add("container_cpu_allocation", l, std::max(cpu_request, container_cpu_usage(c)));
      x.add("container_memory_allocation_bytes", l, std::max(mem_request, mem_usage));
    }
  }
  x.family("pv_hourly_cost", "gauge", "pv_hourly_cost Cost per GB per hour on a persistent disk");
  for (const Json* c : store.list(resource_by_plural("persistentvolumeclaims"))) {
    std::string volume = string_at(*c, "spec.volumeName");
    if (volume.empty()) {
      continue;
    }
    x.add("pv_hourly_cost", {{"instance", volume}, {"persistentvolume", volume}, {"volumename", volume}},
          faults.pv_gib_hourly);
  }
}

}  // namespace

std::optional<MetricsSet> metrics_set_from(const std::string& name) {
  if (name == "kube-state-metrics") {
    return MetricsSet::kKubeStateMetrics;
  }
  if (name == "kubelet") {
    return MetricsSet::kKubelet;
  }
  if (name == "cadvisor") {
    return MetricsSet::kCadvisor;
  }
  if (name == "opencost") {
    return MetricsSet::kOpenCost;
  }
  return std::nullopt;
}

std::string render_metrics(const ObjectStore& store, const FaultState& faults, TimePoint now, MetricsSet which) {
  Exposition x;
  if (which == MetricsSet::kAll || which == MetricsSet::kKubeStateMetrics) {
    kube_state_metrics(x, store, now);
  }
  if (which == MetricsSet::kAll || which == MetricsSet::kKubelet) {
    kubelet_metrics(x, store, faults);
  }
  if (which == MetricsSet::kAll || which == MetricsSet::kCadvisor) {
    cadvisor_metrics(x, store, faults, now);
  }
  if (which == MetricsSet::kAll || which == MetricsSet::kOpenCost) {
    opencost_metrics(x, store, faults);
  }
  return x.str();
}

}  // namespace kubesim
