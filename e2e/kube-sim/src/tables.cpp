#include "tables.h"

#include <algorithm>

namespace kubesim {

namespace {

Json column(const std::string& name, const std::string& type, const std::string& description, int priority = 0,
            const std::string& format = "") {
  return {{"name", name}, {"type", type}, {"format", format}, {"description", description}, {"priority", priority}};
}

Json name_column() {
  return column("Name", "string",
                "Name must be unique within a namespace. Is required when creating resources, although some "
                "resources may allow a client to request the generation of an appropriate name automatically.",
                0, "name");
}

Json age_column() {
  return column("Age", "string",
                "CreationTimestamp is a timestamp representing the server time when this object was created.");
}

std::string age_since(const std::string& stamp, TimePoint now) {
  TimePoint t;
  if (stamp.empty() || !parse_time(stamp, t)) {
    return "<unknown>";
  }
  return human_duration(std::chrono::duration_cast<std::chrono::seconds>(now - t));
}

std::string or_none(const std::string& s) { return s.empty() ? "<none>" : s; }

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    out += (i ? sep : "") + parts[i];
  }
  return out;
}

std::vector<std::string> container_field(const Json& object, const char* spec_path, const char* field) {
  std::vector<std::string> out;
  const Json* containers = find_path(object, spec_path);
  if (containers && containers->is_array()) {
    for (const auto& c : *containers) {
      out.push_back(c.value(field, ""));
    }
  }
  return out;
}

std::string selector_text(const Json* selector) {
  if (!selector || !selector->is_object()) {
    return "<none>";
  }
  std::vector<std::string> parts;
  for (const auto& [k, v] : string_map(find_path(*selector, "matchLabels"))) {
    parts.push_back(k + "=" + v);
  }
  const Json* exprs = find_path(*selector, "matchExpressions");
  if (exprs && exprs->is_array()) {
    for (const auto& e : *exprs) {
      std::string op = e.value("operator", "");
      std::vector<std::string> values;
      if (e.contains("values") && e["values"].is_array()) {
        for (const auto& v : e["values"]) {
          values.push_back(v.is_string() ? v.get<std::string>() : v.dump());
        }
      }
      std::string key = e.value("key", "");
      if (op == "In") {
        parts.push_back(key + " in (" + join(values, ",") + ")");
      } else if (op == "NotIn") {
        parts.push_back(key + " notin (" + join(values, ",") + ")");
      } else if (op == "Exists") {
        parts.push_back(key);
      } else if (op == "DoesNotExist") {
        parts.push_back("!" + key);
      }
    }
  }
  return parts.empty() ? "<none>" : join(parts, ",");
}

std::string int_or_string_text(const Json* v) {
  if (!v) {
    return "N/A";
  }
  return v->is_string() ? v->get<std::string>() : v->dump();
}

std::string access_modes_text(const Json* modes) {
  std::vector<std::string> out;
  if (modes && modes->is_array()) {
    for (const auto& m : *modes) {
      std::string s = m.is_string() ? m.get<std::string>() : "";
      if (s == "ReadWriteOnce") {
        out.push_back("RWO");
      } else if (s == "ReadOnlyMany") {
        out.push_back("ROX");
      } else if (s == "ReadWriteMany") {
        out.push_back("RWX");
      } else if (s == "ReadWriteOncePod") {
        out.push_back("RWOP");
      }
    }
  }
  return join(out, ",");
}

Json pod_cells(const Json& pod, TimePoint now) {
  std::int64_t total = 0;
  std::int64_t ready = 0;
  const Json* spec_containers = find_path(pod, "spec.containers");
  if (spec_containers && spec_containers->is_array()) {
    total = static_cast<std::int64_t>(spec_containers->size());
  }
  std::int64_t restarts = 0;
  TimePoint last_restart{};
  const Json* statuses = find_path(pod, "status.containerStatuses");
  if (statuses && statuses->is_array()) {
    for (const auto& cs : *statuses) {
      restarts += int_at(cs, "restartCount", 0);
      TimePoint finished;
      if (parse_time(string_at(cs, "lastState.terminated.finishedAt"), finished) && finished > last_restart) {
        last_restart = finished;
      }
      if (bool_at(cs, "ready") && find_path(cs, "state.running")) {
        ++ready;
      }
    }
  }
  std::string restarts_text = std::to_string(restarts);
  if (restarts != 0 && last_restart != TimePoint{}) {
    restarts_text += " (" + human_duration(std::chrono::duration_cast<std::chrono::seconds>(now - last_restart)) +
                     " ago)";
  }
  std::string gates = "<none>";
  const Json* readiness_gates = find_path(pod, "spec.readinessGates");
  if (readiness_gates && readiness_gates->is_array() && !readiness_gates->empty()) {
    gates = "0/" + std::to_string(readiness_gates->size());
  }
  return Json::array({name_of(pod), std::to_string(ready) + "/" + std::to_string(total), pod_status_reason(pod),
                      restarts_text, age_since(string_at(pod, "metadata.creationTimestamp"), now),
                      or_none(string_at(pod, "status.podIP")), or_none(string_at(pod, "spec.nodeName")),
                      or_none(string_at(pod, "status.nominatedNodeName")), gates});
}

std::string node_status(const Json& node) {
  const Json* ready = find_condition(node, "Ready");
  std::string status = "Unknown";
  if (ready) {
    status = ready->value("status", "") == "True" ? "Ready" : "NotReady";
  }
  if (bool_at(node, "spec.unschedulable")) {
    status += ",SchedulingDisabled";
  }
  return status;
}

std::string node_roles(const Json& node) {
  std::vector<std::string> roles;
  for (const auto& [k, v] : labels_of(node)) {
    static const std::string kPrefix = "node-role.kubernetes.io/";
    if (k.rfind(kPrefix, 0) == 0 && k.size() > kPrefix.size()) {
      roles.push_back(k.substr(kPrefix.size()));
    } else if (k == "kubernetes.io/role" && !v.empty()) {
      roles.push_back(v);
    }
  }
  std::sort(roles.begin(), roles.end());
  roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
  return roles.empty() ? "<none>" : join(roles, ",");
}

std::string node_address(const Json& node, const std::string& type) {
  const Json* addresses = find_path(node, "status.addresses");
  if (addresses && addresses->is_array()) {
    for (const auto& a : *addresses) {
      if (a.value("type", "") == type) {
        return a.value("address", "");
      }
    }
  }
  return "<none>";
}

std::string job_status(const Json& job) {
  auto is_true = [&](const char* type) {
    const Json* c = find_condition(job, type);
    return c && c->value("status", "") == "True";
  };
  if (is_true("Complete")) {
    return "Complete";
  }
  if (is_true("Failed")) {
    return "Failed";
  }
  if (find_path(job, "metadata.deletionTimestamp")) {
    return "Terminating";
  }
  if (is_true("FailureTarget")) {
    return "FailureTarget";
  }
  if (is_true("SuccessCriteriaMet")) {
    return "SuccessCriteriaMet";
  }
  if (is_true("Suspended")) {
    return "Suspended";
  }
  return "Running";
}

std::string hpa_targets(const Json& hpa) {
  std::vector<std::string> parts;
  const Json* metrics = find_path(hpa, "spec.metrics");
  const Json* current = find_path(hpa, "status.currentMetrics");
  if (metrics && metrics->is_array()) {
    for (std::size_t i = 0; i < metrics->size(); ++i) {
      const Json& m = (*metrics)[i];
      if (m.value("type", "") != "Resource") {
        parts.push_back("<unknown>");
        continue;
      }
      std::string name = string_at(m, "resource.name", "cpu");
      std::string target = std::to_string(int_at(m, "resource.target.averageUtilization", 80)) + "%";
      std::string value = "<unknown>";
      if (current && current->is_array() && i < current->size()) {
        const Json* util = find_path((*current)[i], "resource.current.averageUtilization");
        if (util && util->is_number()) {
          value = std::to_string(util->get<std::int64_t>()) + "%";
        }
      }
      parts.push_back(name + ": " + value + "/" + target);
    }
  }
  return parts.empty() ? "<none>" : join(parts, ", ");
}

Json cells_for(const ResourceInfo& r, const Json& o, TimePoint now) {
  std::string age = age_since(string_at(o, "metadata.creationTimestamp"), now);
  const std::string& kind = r.kind;
  if (kind == "Pod") {
    return pod_cells(o, now);
  }
  if (kind == "Deployment") {
    return Json::array({name_of(o),
                        std::to_string(int_at(o, "status.readyReplicas", 0)) + "/" +
                            std::to_string(int_at(o, "spec.replicas", 1)),
                        int_at(o, "status.updatedReplicas", 0), int_at(o, "status.availableReplicas", 0), age,
                        join(container_field(o, "spec.template.spec.containers", "name"), ","),
                        join(container_field(o, "spec.template.spec.containers", "image"), ","),
                        selector_text(find_path(o, "spec.selector"))});
  }
  if (kind == "ReplicaSet") {
    return Json::array({name_of(o), int_at(o, "spec.replicas", 1), int_at(o, "status.replicas", 0),
                        int_at(o, "status.readyReplicas", 0), age,
                        join(container_field(o, "spec.template.spec.containers", "name"), ","),
                        join(container_field(o, "spec.template.spec.containers", "image"), ","),
                        selector_text(find_path(o, "spec.selector"))});
  }
  if (kind == "StatefulSet") {
    return Json::array({name_of(o),
                        std::to_string(int_at(o, "status.readyReplicas", 0)) + "/" +
                            std::to_string(int_at(o, "spec.replicas", 1)),
                        age, join(container_field(o, "spec.template.spec.containers", "name"), ","),
                        join(container_field(o, "spec.template.spec.containers", "image"), ",")});
  }
  if (kind == "Job") {
    TimePoint start;
    TimePoint end = now;
    std::string duration;
    if (parse_time(string_at(o, "status.startTime"), start)) {
      parse_time(string_at(o, "status.completionTime"), end);
      duration = human_duration(std::chrono::duration_cast<std::chrono::seconds>(end - start));
    }
    return Json::array({name_of(o), job_status(o),
                        std::to_string(int_at(o, "status.succeeded", 0)) + "/" +
                            std::to_string(int_at(o, "spec.completions", 1)),
                        duration, age, join(container_field(o, "spec.template.spec.containers", "name"), ","),
                        join(container_field(o, "spec.template.spec.containers", "image"), ","),
                        selector_text(find_path(o, "spec.selector"))});
  }
  if (kind == "HorizontalPodAutoscaler") {
    return Json::array({name_of(o),
                        string_at(o, "spec.scaleTargetRef.kind") + "/" + string_at(o, "spec.scaleTargetRef.name"),
                        hpa_targets(o), std::to_string(int_at(o, "spec.minReplicas", 1)), int_at(o, "spec.maxReplicas", 1),
                        int_at(o, "status.currentReplicas", 0), age});
  }
  if (kind == "PersistentVolumeClaim") {
    std::string phase = find_path(o, "metadata.deletionTimestamp") ? "Terminating" : string_at(o, "status.phase");
    return Json::array({name_of(o), phase, string_at(o, "spec.volumeName"),
                        string_at(o, "status.capacity.storage"), access_modes_text(find_path(o, "status.accessModes")),
                        string_at(o, "spec.storageClassName"),
                        string_at(o, "spec.volumeAttributesClassName", "<unset>"), age,
                        string_at(o, "spec.volumeMode", "Filesystem")});
  }
  if (kind == "StorageClass") {
    std::string name = name_of(o);
    const Json* annotations = find_path(o, "metadata.annotations");
    if (annotations && annotations->is_object() &&
        annotations->value("storageclass.kubernetes.io/is-default-class", "") == "true") {
      name += " (default)";
    }
    return Json::array({name, string_at(o, "provisioner"), string_at(o, "reclaimPolicy", "Delete"),
                        string_at(o, "volumeBindingMode", "Immediate"), bool_at(o, "allowVolumeExpansion"), age});
  }
  if (kind == "PodDisruptionBudget") {
    return Json::array({name_of(o), int_or_string_text(find_path(o, "spec.minAvailable")),
                        int_or_string_text(find_path(o, "spec.maxUnavailable")),
                        int_at(o, "status.disruptionsAllowed", 0), age});
  }
  if (kind == "Node") {
    return Json::array({name_of(o), node_status(o), node_roles(o), age, string_at(o, "status.nodeInfo.kubeletVersion"),
                        node_address(o, "InternalIP"), node_address(o, "ExternalIP"),
                        string_at(o, "status.nodeInfo.osImage", "<unknown>"),
                        string_at(o, "status.nodeInfo.kernelVersion", "<unknown>"),
                        string_at(o, "status.nodeInfo.containerRuntimeVersion", "<unknown>")});
  }
  if (kind == "Namespace") {
    return Json::array({name_of(o), string_at(o, "status.phase", "Active"), age});
  }
  if (kind == "Event") {
    std::string last = string_at(o, "lastTimestamp", string_at(o, "eventTime", string_at(o, "metadata.creationTimestamp")));
    std::string first = string_at(o, "firstTimestamp", last);
    std::string object_kind = string_at(o, "involvedObject.kind");
    std::transform(object_kind.begin(), object_kind.end(), object_kind.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string source = string_at(o, "source.component", string_at(o, "reportingComponent"));
    if (!string_at(o, "source.host").empty()) {
      source += ", " + string_at(o, "source.host");
    }
    return Json::array({age_since(last, now), string_at(o, "type"), string_at(o, "reason"),
                        object_kind + "/" + string_at(o, "involvedObject.name"), string_at(o, "involvedObject.fieldPath"),
                        source, string_at(o, "message"), age_since(first, now), int_at(o, "count", 1), name_of(o)});
  }
  return Json::array({name_of(o), age});
}

}  // namespace

IncludeObject include_object_from(const std::string& value) {
  if (value == "None") {
    return IncludeObject::kNone;
  }
  if (value == "Object") {
    return IncludeObject::kObject;
  }
  return IncludeObject::kMetadata;
}

std::string pod_status_reason(const Json& pod) {
  std::string reason = string_at(pod, "status.phase");
  if (!string_at(pod, "status.reason").empty()) {
    reason = string_at(pod, "status.reason");
  }
  bool initializing = false;
  const Json* inits = find_path(pod, "status.initContainerStatuses");
  const Json* init_specs = find_path(pod, "spec.initContainers");
  if (inits && inits->is_array()) {
    std::size_t i = 0;
    for (const auto& cs : *inits) {
      const Json* term = find_path(cs, "state.terminated");
      const Json* wait = find_path(cs, "state.waiting");
      if (term && int_at(*term, "exitCode", 0) == 0) {
        ++i;
        continue;
      }
      initializing = true;
      if (term) {
        std::string r = string_at(*term, "reason");
        reason = "Init:" + (r.empty() ? "ExitCode:" + std::to_string(int_at(*term, "exitCode", 0)) : r);
      } else if (wait && !string_at(*wait, "reason").empty() && string_at(*wait, "reason") != "PodInitializing") {
        reason = "Init:" + string_at(*wait, "reason");
      } else {
        reason = "Init:" + std::to_string(i) + "/" +
                 std::to_string(init_specs && init_specs->is_array() ? init_specs->size() : inits->size());
      }
      break;
    }
  }
  const Json* initialized = find_condition(pod, "Initialized");
  bool init_true = initialized && initialized->value("status", "") == "True";
  if (!initializing || init_true) {
    bool has_running = false;
    const Json* statuses = find_path(pod, "status.containerStatuses");
    if (statuses && statuses->is_array()) {
      for (auto it = statuses->rbegin(); it != statuses->rend(); ++it) {
        const Json& cs = *it;
        const Json* wait = find_path(cs, "state.waiting");
        const Json* term = find_path(cs, "state.terminated");
        if (wait && !string_at(*wait, "reason").empty()) {
          reason = string_at(*wait, "reason");
        } else if (term && !string_at(*term, "reason").empty()) {
          reason = string_at(*term, "reason");
        } else if (term) {
          std::int64_t signal = int_at(*term, "signal", 0);
          reason = signal != 0 ? "Signal:" + std::to_string(signal)
                               : "ExitCode:" + std::to_string(int_at(*term, "exitCode", 0));
        } else if (bool_at(cs, "ready") && find_path(cs, "state.running")) {
          has_running = true;
        }
      }
    }
    if (reason == "Completed" && has_running) {
      const Json* ready = find_condition(pod, "Ready");
      reason = ready && ready->value("status", "") == "True" ? "Running" : "NotReady";
    }
  }
  if (find_path(pod, "metadata.deletionTimestamp")) {
    reason = string_at(pod, "status.reason") == "NodeLost" ? "Unknown" : "Terminating";
  }
  return reason;
}

Json table_columns(const ResourceInfo& r) {
  const std::string& kind = r.kind;
  Json cols = Json::array({name_column()});
  if (kind == "Pod") {
    cols.push_back(column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."));
    cols.push_back(column("Status", "string", "The aggregate status of the containers in this pod."));
    cols.push_back(column("Restarts", "string",
                          "The number of times the containers in this pod have been restarted and when the last "
                          "container in this pod has restarted."));
    cols.push_back(age_column());
    cols.push_back(column("IP", "string", "IP address allocated to the pod. Routable at least within the cluster.", 1));
    cols.push_back(column("Node", "string", "NodeName is a request to schedule this pod onto a specific node.", 1));
    cols.push_back(column("Nominated Node", "string",
                          "nominatedNodeName is set only when this pod preempts other pods on the node.", 1));
    cols.push_back(column("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness.", 1));
  } else if (kind == "Deployment") {
    cols.push_back(column("Ready", "string", "Number of the pod with ready state"));
    cols.push_back(column("Up-to-date", "integer", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."));
    cols.push_back(column("Available", "integer", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."));
    cols.push_back(age_column());
    cols.push_back(column("Containers", "string", "Names of each container in the template.", 1));
    cols.push_back(column("Images", "string", "Images referenced by each container in the template.", 1));
    cols.push_back(column("Selector", "string", "Label selector for pods.", 1));
  } else if (kind == "ReplicaSet") {
    cols.push_back(column("Desired", "integer", "Replicas is the number of desired replicas."));
    cols.push_back(column("Current", "integer", "Replicas is the most recently observed number of replicas."));
    cols.push_back(column("Ready", "integer", "The number of ready replicas for this replica set."));
    cols.push_back(age_column());
    cols.push_back(column("Containers", "string", "Names of each container in the template.", 1));
    cols.push_back(column("Images", "string", "Images referenced by each container in the template.", 1));
    cols.push_back(column("Selector", "string", "Selector is a label query over pods that should match the replica count.", 1));
  } else if (kind == "StatefulSet") {
    cols.push_back(column("Ready", "string", "Number of the pod with ready state"));
    cols.push_back(age_column());
    cols.push_back(column("Containers", "string", "Names of each container in the template.", 1));
    cols.push_back(column("Images", "string", "Images referenced by each container in the template.", 1));
  } else if (kind == "Job") {
    cols.push_back(column("Status", "string", "Status of the job."));
    cols.push_back(column("Completions", "string", "The completion status of the job."));
    cols.push_back(column("Duration", "string", "Time required to complete the job."));
    cols.push_back(age_column());
    cols.push_back(column("Containers", "string", "Names of each container in the template.", 1));
    cols.push_back(column("Images", "string", "Images referenced by each container in the template.", 1));
    cols.push_back(column("Selector", "string", "A label query over pods that should match the pod count.", 1));
  } else if (kind == "HorizontalPodAutoscaler") {
    cols.push_back(column("Reference", "string", "reference to scaled resource"));
    cols.push_back(column("Targets", "string", "the current and target values of the metrics"));
    cols.push_back(column("MinPods", "string", "minReplicas is the lower limit for the number of replicas."));
    cols.push_back(column("MaxPods", "integer", "maxReplicas is the upper limit for the number of replicas."));
    cols.push_back(column("Replicas", "integer", "currentReplicas is current number of replicas of pods managed by this autoscaler."));
    cols.push_back(age_column());
  } else if (kind == "PersistentVolumeClaim") {
    cols.push_back(column("Status", "string", "phase represents the current phase of PersistentVolumeClaim."));
    cols.push_back(column("Volume", "string", "volumeName is the binding reference to the PersistentVolume backing this claim."));
    cols.push_back(column("Capacity", "string", "capacity represents the actual resources of the underlying volume."));
    cols.push_back(column("Access Modes", "string", "accessModes contains the actual access modes the volume backing the PVC has."));
    cols.push_back(column("StorageClass", "string", "storageClassName is the name of the StorageClass required by the claim."));
    cols.push_back(column("VolumeAttributesClass", "string", "volumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim."));
    cols.push_back(age_column());
    cols.push_back(column("VolumeMode", "string", "volumeMode defines what type of volume is required by the claim.", 1));
  } else if (kind == "StorageClass") {
    cols.push_back(column("Provisioner", "string", "provisioner indicates the type of the provisioner."));
    cols.push_back(column("ReclaimPolicy", "string", "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class."));
    cols.push_back(column("VolumeBindingMode", "string", "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound."));
    cols.push_back(column("AllowVolumeExpansion", "string", "allowVolumeExpansion shows whether the storage class allow volume expand."));
    cols.push_back(age_column());
  } else if (kind == "PodDisruptionBudget") {
    cols.push_back(column("Min Available", "string", "The minimum number of pods that must be available simultaneously."));
    cols.push_back(column("Max Unavailable", "string", "The maximum number of pods that may be unavailable simultaneously."));
    cols.push_back(column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."));
    cols.push_back(age_column());
  } else if (kind == "Node") {
    cols.push_back(column("Status", "string", "The status of the node"));
    cols.push_back(column("Roles", "string", "The roles of the node"));
    cols.push_back(age_column());
    cols.push_back(column("Version", "string", "Kubelet Version reported by the node."));
    cols.push_back(column("Internal-IP", "string", "List of addresses reachable to the node. Queried from cloud provider, if available.", 1));
    cols.push_back(column("External-IP", "string", "List of addresses reachable to the node. Queried from cloud provider, if available.", 1));
    cols.push_back(column("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1));
    cols.push_back(column("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1));
    cols.push_back(column("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).", 1));
  } else if (kind == "Namespace") {
    cols.push_back(column("Status", "string", "The status of the namespace"));
    cols.push_back(age_column());
  } else if (kind == "Event") {
    cols = Json::array({column("Last Seen", "string", "Time when this Event was last seen"),
                        column("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future."),
                        column("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
                        column("Object", "string", "The object that this event is about."),
                        column("Subobject", "string", "The subobject that this event is about.", 1),
                        column("Source", "string", "The component reporting this event. Should be a short machine understandable string.", 1),
                        column("Message", "string", "A human-readable description of the status of this operation."),
                        column("First Seen", "string", "The time at which the event was first recorded.", 1),
                        column("Count", "string", "The number of times this event has occurred.", 1),
                        column("Name", "string", "Name of the event.", 1, "name")});
  } else {
    cols.push_back(age_column());
  }
  return cols;
}

Json table_row(const ResourceInfo& r, const Json& object, TimePoint now, IncludeObject include) {
  Json row = {{"cells", cells_for(r, object, now)}};
  if (include == IncludeObject::kObject) {
    row["object"] = object;
  } else if (include == IncludeObject::kMetadata) {
    row["object"] = {{"kind", "PartialObjectMetadata"},
                     {"apiVersion", "meta.k8s.io/v1"},
                     {"metadata", object.value("metadata", Json::object())}};
  }
  return row;
}

Json make_table(const ResourceInfo& r, const std::vector<const Json*>& objects, TimePoint now, IncludeObject include,
                const std::string& resource_version, bool with_columns) {
  Json rows = Json::array();
  for (const Json* o : objects) {
    rows.push_back(table_row(r, *o, now, include));
  }
  Json table = {{"kind", "Table"},
                {"apiVersion", "meta.k8s.io/v1"},
                {"metadata", {{"resourceVersion", resource_version}}},
                {"columnDefinitions", with_columns ? table_columns(r) : Json::array()},
                {"rows", rows}};
  return table;
}

}  // namespace kubesim
