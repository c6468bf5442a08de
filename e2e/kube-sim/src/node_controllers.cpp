// Node lifecycle, scheduler and kubelet simulation.

#include "api_error.h"
#include "controllers.h"
#include "selectors.h"

#include <algorithm>
#include <cmath>

namespace kubesim {

namespace {

const ResourceInfo& nodes_resource() { return resource_by_plural("nodes"); }

bool toleration_matches(const Json& toleration, const Json& taint) {
  std::string effect = toleration.value("effect", "");
  if (!effect.empty() && effect != taint.value("effect", "")) {
    return false;
  }
  std::string key = toleration.value("key", "");
  if (toleration.value("operator", "Equal") == "Exists") {
    return key.empty() || key == taint.value("key", "");
  }
  return key == taint.value("key", "") && toleration.value("value", "") == taint.value("value", "");
}

const Json* matching_toleration(const Json& pod, const Json& taint) {
  const Json* tolerations = find_path(pod, "spec.tolerations");
  if (!tolerations || !tolerations->is_array()) {
    return nullptr;
  }
  for (const auto& t : *tolerations) {
    if (t.is_object() && toleration_matches(t, taint)) {
      return &t;
    }
  }
  return nullptr;
}

bool node_term_matches(const Json& term, const Json& node) {
  auto labels = labels_of(node);
  const Json* exprs = find_path(term, "matchExpressions");
  if (exprs && exprs->is_array()) {
    for (const auto& e : *exprs) {
      std::string key = e.value("key", "");
      std::string op = e.value("operator", "");
      std::vector<std::string> values;
      if (e.contains("values") && e["values"].is_array()) {
        for (const auto& v : e["values"]) {
          if (v.is_string()) {
            values.push_back(v.get<std::string>());
          }
        }
      }
      auto it = labels.find(key);
      bool has = it != labels.end();
      bool in = has && std::find(values.begin(), values.end(), it->second) != values.end();
      bool ok = true;
      if (op == "In") {
        ok = in;
      } else if (op == "NotIn") {
        ok = !in;
      } else if (op == "Exists") {
        ok = has;
      } else if (op == "DoesNotExist") {
        ok = !has;
      } else if (op == "Gt" || op == "Lt") {
        try {
          long long actual = has ? std::stoll(it->second) : 0;
          long long bound = values.empty() ? 0 : std::stoll(values.front());
          ok = has && (op == "Gt" ? actual > bound : actual < bound);
        } catch (const std::exception&) {
          ok = false;
        }
      }
      if (!ok) {
        return false;
      }
    }
  }
  const Json* fields = find_path(term, "matchFields");
  if (fields && fields->is_array()) {
    for (const auto& f : *fields) {
      if (f.value("key", "") == "metadata.name" && f.value("operator", "") == "In" && f.contains("values")) {
        const Json& values = f["values"];
        if (std::find(values.begin(), values.end(), name_of(node)) == values.end()) {
          return false;
        }
      }
    }
  }
  return true;
}

bool node_affinity_matches(const Json& pod, const Json& node) {
  auto selector = string_map(find_path(pod, "spec.nodeSelector"));
  auto labels = labels_of(node);
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) {
      return false;
    }
  }
  const Json* terms =
      find_path(pod, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");
  if (!terms || !terms->is_array() || terms->empty()) {
    return true;
  }
  return std::any_of(terms->begin(), terms->end(), [&](const Json& t) { return node_term_matches(t, node); });
}

double pod_request(const Json& pod, const char* resource) {
  double total = 0;
  const Json* containers = find_path(pod, "spec.containers");
  if (containers && containers->is_array()) {
    for (const auto& c : *containers) {
      const Json* q = find_path(c, std::string("resources.requests.") + resource);
      if (q) {
        total += parse_quantity(*q).value_or(0);
      }
    }
  }
  return total;
}

double node_allocatable(const Json& node, const char* resource, double fallback) {
  const Json* q = find_path(node, std::string("status.allocatable.") + resource);
  if (!q) {
    q = find_path(node, std::string("status.capacity.") + resource);
  }
  return q ? parse_quantity(*q).value_or(fallback) : fallback;
}

std::string node_internal_ip(const Json& node) {
  const Json* addresses = find_path(node, "status.addresses");
  if (addresses && addresses->is_array()) {
    for (const auto& a : *addresses) {
      if (a.value("type", "") == "InternalIP") {
        return a.value("address", "");
      }
    }
  }
  return "10.0.0.1";
}

std::string pod_ref(const Json& pod) { return name_of(pod) + "_" + namespace_of(pod) + "(" + uid_of(pod) + ")"; }

std::string container_field_path(const std::string& name) { return "spec.containers{" + name + "}"; }

}  // namespace

bool Controllers::node_ready(const Json& node) const {
  if (faults_.nodes.count(name_of(node))) {
    return false;
  }
  const Json* ready = find_condition(node, "Ready");
  return ready && ready->value("status", "") == "True";
}

void Controllers::sync_nodes() {
  std::vector<Json> nodes;
  for (const Json* n : api_.store().list(nodes_resource())) {
    nodes.push_back(*n);
  }
  std::string now = now_text();
  for (Json& node : nodes) {
    const Json original = node;
    std::string name = name_of(node);
    auto fault = faults_.nodes.find(name);
    bool was_ready = [&] {
      const Json* c = find_condition(original, "Ready");
      return c && c->value("status", "") == "True";
    }();
    EventSource kubelet{"kubelet", name};
    EventSource node_controller{"node-controller", ""};
    auto heartbeat = [&](const char* type) {
      for (auto& c : node["status"]["conditions"]) {
        if (c.value("type", "") == type && !c.contains("lastHeartbeatTime")) {
          c["lastHeartbeatTime"] = now;
        }
      }
    };
    std::string ready_status = "True";
    if (fault == faults_.nodes.end()) {
      set_condition(node, "MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", now);
      set_condition(node, "DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now);
      set_condition(node, "PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", now);
      set_condition(node, "Ready", "True", "KubeletReady", "kubelet is posting ready status", now);
    } else if (fault->second.ready_status == "False") {
      ready_status = "False";
      set_condition(node, "Ready", "False", "KubeletNotReady",
                    "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady", now);
    } else {
      ready_status = "Unknown";
      for (const char* type : {"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"}) {
        set_condition(node, type, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.", now);
      }
    }
    for (const char* type : {"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"}) {
      heartbeat(type);
    }
    if (node != original) {
      for (auto& c : node["status"]["conditions"]) {
        const Json* before = find_condition(original, c.value("type", ""));
        if (!before || *before != c) {
          c["lastHeartbeatTime"] = now;
        }
      }
    }
    // Taints the node lifecycle controller owns.
    bool unschedulable = bool_at(node, "spec.unschedulable");
    Json taints = Json::array();
    const Json* existing = find_path(node, "spec.taints");
    auto time_added = [&](const std::string& key, const std::string& effect) -> Json {
      if (existing && existing->is_array()) {
        for (const auto& t : *existing) {
          if (t.value("key", "") == key && t.value("effect", "") == effect && t.contains("timeAdded")) {
            return t["timeAdded"];
          }
        }
      }
      return now;
    };
    static const char* kManaged[] = {"node.kubernetes.io/unschedulable", "node.kubernetes.io/not-ready",
                                     "node.kubernetes.io/unreachable"};
    if (existing && existing->is_array()) {
      for (const auto& t : *existing) {
        std::string key = t.value("key", "");
        if (std::find(std::begin(kManaged), std::end(kManaged), key) == std::end(kManaged)) {
          taints.push_back(t);
        }
      }
    }
    if (unschedulable) {
      taints.push_back({{"key", "node.kubernetes.io/unschedulable"}, {"effect", "NoSchedule"},
                        {"timeAdded", time_added("node.kubernetes.io/unschedulable", "NoSchedule")}});
    }
    if (ready_status != "True") {
      std::string key = ready_status == "False" ? "node.kubernetes.io/not-ready" : "node.kubernetes.io/unreachable";
      taints.push_back({{"key", key}, {"effect", "NoSchedule"}});
      taints.push_back({{"key", key}, {"effect", "NoExecute"}, {"timeAdded", time_added(key, "NoExecute")}});
    }
    if (taints.empty()) {
      if (node.contains("spec") && node["spec"].is_object()) {
        node["spec"].erase("taints");
      }
    } else {
      node["spec"]["taints"] = taints;
    }
    bool was_unschedulable = [&] {
      const Json* t = find_path(original, "spec.taints");
      if (!t || !t->is_array()) {
        return false;
      }
      return std::any_of(t->begin(), t->end(), [](const Json& x) {
        return x.value("key", "") == "node.kubernetes.io/unschedulable";
      });
    }();
    if (node != original) {
      write(nodes_resource(), node);
    }
    if (was_ready && ready_status != "True") {
      events_.record(node, "Normal", "NodeNotReady", "Node " + name + " status is now: NodeNotReady", node_controller);
    } else if (!was_ready && ready_status == "True" && find_condition(original, "Ready")) {
      events_.record(node, "Normal", "NodeReady", "Node " + name + " status is now: NodeReady", kubelet);
    }
    if (unschedulable && !was_unschedulable) {
      events_.record(node, "Normal", "NodeNotSchedulable", "Node " + name + " status is now: NodeNotSchedulable",
                     kubelet);
    } else if (!unschedulable && was_unschedulable) {
      events_.record(node, "Normal", "NodeSchedulable", "Node " + name + " status is now: NodeSchedulable", kubelet);
    }

    if (ready_status == "True") {
      node_not_ready_since_.erase(name);
      continue;
    }
    auto since = node_not_ready_since_.emplace(name, this->now()).first->second;
    std::vector<Json> pods;
    for (const Json* p : api_.store().list(pods_resource())) {
      if (string_at(*p, "spec.nodeName") == name) {
        pods.push_back(*p);
      }
    }
    for (Json& pod : pods) {
      if (pod_is_finished(pod)) {
        continue;
      }
      if (this->now() - since >= config_.node_monitor_grace && pod_is_ready(pod)) {
        // MarkPodsNotReady: the kubelet is gone, so the controller flips
        // Ready on its behalf.
        set_condition(pod, "Ready", "False", "", "", now);
        write(pods_resource(), pod);
        events_.record(pod, "Warning", "NodeNotReady", "Node is not ready", node_controller);
      }
      if (pod_is_terminating(pod)) {
        continue;
      }
      // Taint-based eviction after the pod's tolerationSeconds.
      for (const auto& taint : node["spec"]["taints"]) {
        if (taint.value("effect", "") != "NoExecute") {
          continue;
        }
        const Json* toleration = matching_toleration(pod, taint);
        bool evict = toleration == nullptr;
        if (toleration && toleration->contains("tolerationSeconds")) {
          TimePoint added;
          if (parse_time(taint.value("timeAdded", now), added)) {
            evict = this->now() >= added + std::chrono::seconds(int_at(*toleration, "tolerationSeconds", 0));
          }
        }
        if (evict) {
          events_.record(pod, "Normal", "TaintManagerEviction",
                         "Marking for deletion Pod " + namespace_of(pod) + "/" + name_of(pod),
                         {"taint-eviction-controller", ""});
          try {
            api_.remove(pods_resource(), namespace_of(pod), name_of(pod), DeleteOptions{});
          } catch (const ApiError&) {
          }
          break;
        }
      }
    }
  }
}

void Controllers::schedule_pods() {
  std::vector<Json> nodes;
  for (const Json* n : api_.store().list(nodes_resource())) {
    nodes.push_back(*n);
  }
  struct Usage {
    double cpu = 0;
    double memory = 0;
    int pods = 0;
  };
  std::map<std::string, Usage> usage;
  std::vector<Json> pending;
  for (const Json* p : api_.store().list(pods_resource())) {
    std::string node = string_at(*p, "spec.nodeName");
    if (!node.empty()) {
      if (!pod_is_finished(*p)) {
        usage[node].cpu += pod_request(*p, "cpu");
        usage[node].memory += pod_request(*p, "memory");
        usage[node].pods += 1;
      }
    } else if (!pod_is_terminating(*p) && !pod_is_finished(*p)) {
      pending.push_back(*p);
    }
  }
  std::sort(pending.begin(), pending.end(), [](const Json& a, const Json& b) {
    return string_at(a, "metadata.creationTimestamp") < string_at(b, "metadata.creationTimestamp");
  });
  const ResourceInfo& pvcs = resource_by_plural("persistentvolumeclaims");
  const ResourceInfo& classes = resource_by_plural("storageclasses");
  EventSource source{"default-scheduler", ""};
  std::string now = now_text();
  for (Json& pod : pending) {
    std::map<std::string, int> reasons;
    std::string volume_problem;
    const Json* volumes = find_path(pod, "spec.volumes");
    if (volumes && volumes->is_array()) {
      for (const auto& v : *volumes) {
        std::string claim = string_at(v, "persistentVolumeClaim.claimName");
        if (claim.empty()) {
          continue;
        }
        const Json* pvc = api_.store().get(pvcs, namespace_of(pod), claim);
        if (!pvc) {
          volume_problem = "persistentvolumeclaim \"" + claim + "\" not found";
          break;
        }
        if (string_at(*pvc, "status.phase") != "Bound") {
          const Json* sc = api_.store().get(classes, "", string_at(*pvc, "spec.storageClassName"));
          if (!sc || string_at(*sc, "volumeBindingMode", "Immediate") != "WaitForFirstConsumer") {
            volume_problem = "pod has unbound immediate PersistentVolumeClaims";
            break;
          }
        }
      }
    }
    const Json* best = nullptr;
    double best_score = 0;
    double cpu = pod_request(pod, "cpu");
    double memory = pod_request(pod, "memory");
    if (volume_problem.empty()) {
      for (const Json& node : nodes) {
        std::string name = name_of(node);
        const Usage& used = usage[name];
        if (bool_at(node, "spec.unschedulable") &&
            !matching_toleration(pod, Json{{"key", "node.kubernetes.io/unschedulable"}, {"effect", "NoSchedule"}})) {
          ++reasons["node(s) were unschedulable"];
          continue;
        }
        bool tainted = false;
        const Json* taints = find_path(node, "spec.taints");
        if (taints && taints->is_array()) {
          for (const auto& t : *taints) {
            std::string effect = t.value("effect", "");
            if ((effect == "NoSchedule" || effect == "NoExecute") && !matching_toleration(pod, t) &&
                t.value("key", "") != "node.kubernetes.io/unschedulable") {
              ++reasons["node(s) had untolerated taint {" + t.value("key", "") + ": " + t.value("value", "") + "}"];
              tainted = true;
              break;
            }
          }
        }
        if (tainted) {
          continue;
        }
        if (!node_ready(node)) {
          ++reasons["node(s) were not ready"];
          continue;
        }
        if (!node_affinity_matches(pod, node)) {
          ++reasons["node(s) didn't match Pod's node affinity/selector"];
          continue;
        }
        double alloc_cpu = node_allocatable(node, "cpu", 4);
        double alloc_mem = node_allocatable(node, "memory", 16.0 * (1LL << 30));
        double alloc_pods = node_allocatable(node, "pods", 110);
        bool fits = true;
        if (used.cpu + cpu > alloc_cpu + 1e-9) {
          ++reasons["Insufficient cpu"];
          fits = false;
        }
        if (used.memory + memory > alloc_mem + 0.5) {
          ++reasons["Insufficient memory"];
          fits = false;
        }
        if (used.pods + 1 > alloc_pods) {
          ++reasons["Too many pods"];
          fits = false;
        }
        if (!fits) {
          continue;
        }
        double score = ((used.cpu + cpu) / alloc_cpu + (used.memory + memory) / alloc_mem) / 2 +
                       (used.pods + 1) / alloc_pods * 0.01;
        if (!best || score < best_score - 1e-12) {
          best = &node;
          best_score = score;
        }
      }
    }
    if (best) {
      std::string node_name = name_of(*best);
      pod["spec"]["nodeName"] = node_name;
      set_condition(pod, "PodScheduled", "True", "", "", now, true);
      write(pods_resource(), pod);
      usage[node_name].cpu += cpu;
      usage[node_name].memory += memory;
      usage[node_name].pods += 1;
      last_sched_event_.erase(uid_of(pod));
      events_.record(pod, "Normal", "Scheduled",
                     "Successfully assigned " + namespace_of(pod) + "/" + name_of(pod) + " to " + node_name, source);
      continue;
    }
    std::string message;
    std::size_t n = nodes.size();
    if (!volume_problem.empty()) {
      message = "0/" + std::to_string(n) + " nodes are available: " + volume_problem +
                ". preemption: 0/" + std::to_string(n) + " nodes are available: " + std::to_string(n) +
                " Preemption is not helpful for scheduling.";
    } else if (n == 0) {
      message = "no nodes available to schedule pods";
    } else {
      message = "0/" + std::to_string(n) + " nodes are available: ";
      bool first = true;
      for (const auto& [reason, count] : reasons) {
        message += (first ? "" : ", ") + std::to_string(count) + " " + reason;
        first = false;
      }
      message += ". preemption: 0/" + std::to_string(n) + " nodes are available: " + std::to_string(n) +
                 " Preemption is not helpful for scheduling.";
    }
    bool changed = set_condition(pod, "PodScheduled", "False", "Unschedulable", message, now, true);
    if (changed) {
      write(pods_resource(), pod);
    }
    auto last = last_sched_event_.find(uid_of(pod));
    if (changed || last == last_sched_event_.end() || this->now() - last->second >= config_.scheduler_event_interval) {
      events_.record(pod, "Warning", "FailedScheduling", message, source);
      last_sched_event_[uid_of(pod)] = this->now();
    }
  }
}

void Controllers::finish_pod_termination(const Json& pod) {
  api_.finalize_delete(pods_resource(), namespace_of(pod), name_of(pod));
  pods_.erase(uid_of(pod));
}

void Controllers::run_kubelets() {
  std::map<std::string, Json> nodes;
  for (const Json* n : api_.store().list(nodes_resource())) {
    nodes[name_of(*n)] = *n;
  }
  std::vector<Json> pods;
  std::set<std::string> live;
  for (const Json* p : api_.store().list(pods_resource())) {
    pods.push_back(*p);
    live.insert(uid_of(*p));
  }
  for (const Json& pod : pods) {
    std::string node_name = string_at(pod, "spec.nodeName");
    if (node_name.empty()) {
      if (pod_is_terminating(pod)) {
        finish_pod_termination(pod);
      }
      continue;
    }
    auto node = nodes.find(node_name);
    if (node == nodes.end()) {
      // Pod GC: pods bound to a node that no longer exists are removed.
      finish_pod_termination(pod);
      continue;
    }
    if (!node_ready(node->second)) {
      continue;  // the kubelet is down: nothing on this node changes
    }
    sync_kubelet_pod(pod, node->second);
  }
  for (auto it = pods_.begin(); it != pods_.end();) {
    it = live.count(it->first) ? std::next(it) : pods_.erase(it);
  }
}

void Controllers::sync_kubelet_pod(const Json& original, const Json& node) {
  Json pod = original;
  std::string uid = uid_of(pod);
  std::string node_name = name_of(node);
  EventSource kubelet{"kubelet", node_name};
  TimePoint t = now();
  std::string now = format_time(t);
  auto [rt_it, fresh] = pods_.try_emplace(uid);
  PodRuntime& rt = rt_it->second;
  if (fresh) {
    rt.start_time = t;
    std::string cidr = string_at(node, "spec.podCIDR", "10.244.0.0/24");
    std::string prefix = cidr.substr(0, cidr.rfind('.') + 1);
    int& last = next_ip_[node_name];
    last = last >= 254 ? 2 : std::max(last + 1, 2);
    rt.pod_ip = prefix + std::to_string(last);
  }
  const Json* containers = find_path(pod, "spec.containers");
  if (!containers || !containers->is_array()) {
    return;
  }
  if (pod_is_terminating(pod)) {
    for (const auto& c : *containers) {
      auto it = rt.containers.find(c.value("name", ""));
      if (it != rt.containers.end() && it->second.phase == ContainerRuntime::Phase::kRunning) {
        events_.record(pod, "Normal", "Killing", "Stopping container " + it->first, kubelet,
                       container_field_path(it->first));
      }
    }
    finish_pod_termination(pod);
    return;
  }
  if (pod_is_finished(pod)) {
    return;
  }
  std::string restart_policy = string_at(pod, "spec.restartPolicy", "Always");
  std::int64_t run_ms = -1;
  const Json* annotations = find_path(pod, "metadata.annotations");
  if (annotations && annotations->is_object() && annotations->contains(kRunMsAnnotation)) {
    const Json& v = (*annotations)[kRunMsAnnotation];
    try {
      run_ms = v.is_number() ? v.get<std::int64_t>() : std::stoll(v.get<std::string>());
    } catch (const std::exception&) {
      run_ms = -1;
    }
  }

  auto new_container_id = [&] { return "containerd://" + api_.random().hex(64); };
  auto memory_over_limit = [&](const Json& c) {
    const Json* limit = find_path(c, "resources.limits.memory");
    if (!limit) {
      return false;
    }
    auto bytes = parse_quantity(*limit);
    return bytes && static_cast<double>(container_memory_bytes(api_.store(), faults_, pod, c)) > *bytes;
  };
  auto plan_death = [&](ContainerRuntime& cr, const Json& c) {
    cr.die_at.reset();
    auto fault = faults_.images.find(cr.image);
    if (fault != faults_.images.end() && fault->second.mode == "crash") {
      cr.die_at = cr.started_at + config_.crash_after;
      cr.exit_code = fault->second.exit_code;
      cr.exit_reason = "Error";
    } else if (memory_over_limit(c)) {
      cr.die_at = cr.started_at + config_.crash_after;
      cr.exit_code = 137;
      cr.exit_reason = "OOMKilled";
    } else if (run_ms >= 0) {
      cr.die_at = cr.started_at + Millis(run_ms);
      cr.exit_code = 0;
      cr.exit_reason = "Completed";
    }
  };
  auto start = [&](ContainerRuntime& cr, const Json& c) {
    std::string name = c.value("name", "");
    cr.phase = ContainerRuntime::Phase::kRunning;
    cr.started_at = t;
    cr.since = t;
    cr.container_id = new_container_id();
    cr.terminated = Json();
    plan_death(cr, c);
    std::string fp = container_field_path(name);
    events_.record(pod, "Normal", "Pulled", "Container image \"" + cr.image + "\" already present on machine", kubelet,
                   fp);
    events_.record(pod, "Normal", "Created", "Created container " + name, kubelet, fp);
    events_.record(pod, "Normal", "Started", "Started container " + name, kubelet, fp);
  };
  auto restart = [&](ContainerRuntime& cr, const Json& c) {
    cr.last_terminated = cr.terminated;
    cr.restart_count += 1;
    start(cr, c);
  };

  for (const auto& c : *containers) {
    std::string name = c.value("name", "");
    std::string image = c.value("image", "");
    auto [cit, new_container] = rt.containers.try_emplace(name);
    ContainerRuntime& cr = cit->second;
    if (new_container) {
      cr.image = image;
      cr.since = t;
    }
    std::string fp = container_field_path(name);
    if (cr.image != image) {
      // kubectl set image on a bare pod: the kubelet restarts the container.
      if (cr.phase == ContainerRuntime::Phase::kRunning) {
        events_.record(pod, "Normal", "Killing", "Container " + name + " definition changed, will be restarted",
                       kubelet, fp);
        cr.terminated = {{"exitCode", 0},
                         {"reason", "Completed"},
                         {"startedAt", format_time(cr.started_at)},
                         {"finishedAt", now},
                         {"containerID", cr.container_id}};
      }
      cr.image = image;
      if (cr.phase != ContainerRuntime::Phase::kCreating) {
        cr.backoff_step = 0;
        restart(cr, c);
        continue;
      }
    }
    auto fault = faults_.images.find(cr.image);
    bool pull_fault = fault != faults_.images.end() && fault->second.mode == "pull";
    switch (cr.phase) {
      case ContainerRuntime::Phase::kCreating:
        if (t - cr.since < config_.pod_start_delay) {
          break;
        }
        if (pull_fault) {
          cr.phase = ContainerRuntime::Phase::kPullBackOff;
          cr.since = t;
          cr.backoff_step = 0;
          cr.backoff_until = t;
          cr.exit_reason = "ErrImagePull";
          events_.record(pod, "Normal", "Pulling", "Pulling image \"" + cr.image + "\"", kubelet, fp);
          events_.record(pod, "Warning", "Failed",
                         "Failed to pull image \"" + cr.image + "\": rpc error: code = NotFound desc = failed to pull "
                         "and unpack image \"" + cr.image + "\": not found",
                         kubelet, fp);
          events_.record(pod, "Warning", "Failed", "Error: ErrImagePull", kubelet, fp);
        } else {
          start(cr, c);
        }
        break;
      case ContainerRuntime::Phase::kRunning: {
        // Faults injected while the container runs take effect now.
        if (!cr.die_at || cr.exit_reason == "Completed") {
          std::optional<TimePoint> previous = cr.die_at;
          std::string previous_reason = cr.exit_reason;
          int previous_code = cr.exit_code;
          plan_death(cr, c);
          if (cr.die_at && cr.exit_reason != "Completed") {
            cr.die_at = std::max(*cr.die_at, t);
          } else {
            cr.die_at = previous;
            cr.exit_reason = previous_reason;
            cr.exit_code = previous_code;
          }
        } else if (cr.exit_reason == "OOMKilled" && !memory_over_limit(c)) {
          plan_death(cr, c);  // usage dropped back under the limit
        } else if (cr.exit_reason == "Error" && (fault == faults_.images.end() || fault->second.mode != "crash")) {
          plan_death(cr, c);  // the image was marked good again
        }
        if (cr.die_at && t >= *cr.die_at) {
          cr.phase = ContainerRuntime::Phase::kTerminated;
          cr.since = t;
          cr.terminated = {{"exitCode", cr.exit_code},
                           {"reason", cr.exit_reason},
                           {"startedAt", format_time(cr.started_at)},
                           {"finishedAt", now},
                           {"containerID", cr.container_id}};
          if (cr.exit_reason == "OOMKilled") {
            std::int64_t usage = container_memory_bytes(api_.store(), faults_, pod, c);
            events_.record(node, "Warning", "OOMKilling",
                           "Memory cgroup out of memory: Killed process " + std::to_string(1000 + fnv32a(cr.container_id) % 30000) +
                               " (" + name + ") total-vm:" + std::to_string(usage / 1024 + 4096) +
                               "kB, anon-rss:" + std::to_string(usage / 1024) +
                               "kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:256kB oom_score_adj:" +
                               std::string(string_at(pod, "status.qosClass") == "Guaranteed" ? "-997" : "999"),
                           {"kernel-monitor", node_name});
          }
          // A long healthy run resets the kubelet's back-off.
          if (t - cr.started_at > 2 * config_.backoff_max) {
            cr.backoff_step = 0;
          }
        }
        break;
      }
      case ContainerRuntime::Phase::kTerminated: {
        if (t <= cr.since) {
          break;  // report the terminated state for at least one pass
        }
        bool should_restart = restart_policy == "Always" || (restart_policy == "OnFailure" && cr.exit_code != 0);
        if (!should_restart) {
          cr.phase = ContainerRuntime::Phase::kDone;
          break;
        }
        if (cr.backoff_step == 0) {
          cr.backoff_step = 1;
          restart(cr, c);
          break;
        }
        auto delay = config_.backoff_base * (1LL << std::min(cr.backoff_step - 1, 20));
        if (delay > config_.backoff_max) {
          delay = config_.backoff_max;
        }
        cr.phase = ContainerRuntime::Phase::kBackOff;
        cr.since = t;
        cr.backoff_until = t + delay;
        cr.backoff_step += 1;
        cr.last_terminated = cr.terminated;
        events_.record(pod, "Warning", "BackOff", "Back-off restarting failed container " + name + " in pod " + pod_ref(pod),
                       kubelet, fp);
        break;
      }
      case ContainerRuntime::Phase::kBackOff:
        if (t >= cr.backoff_until) {
          cr.terminated = cr.last_terminated;
          restart(cr, c);
        }
        break;
      case ContainerRuntime::Phase::kPullBackOff:
        if (!pull_fault) {
          start(cr, c);
          break;
        }
        if (cr.exit_reason == "ErrImagePull" && t > cr.since) {
          auto delay = config_.backoff_base * (1LL << std::min(cr.backoff_step, 20));
          if (delay > config_.backoff_max) {
            delay = config_.backoff_max;
          }
          cr.exit_reason = "ImagePullBackOff";
          cr.backoff_until = t + delay;
          cr.backoff_step += 1;
          events_.record(pod, "Normal", "BackOff", "Back-off pulling image \"" + cr.image + "\"", kubelet, fp);
          events_.record(pod, "Warning", "Failed", "Error: ImagePullBackOff", kubelet, fp);
        } else if (cr.exit_reason == "ImagePullBackOff" && t >= cr.backoff_until) {
          cr.exit_reason = "ErrImagePull";
          cr.since = t;
          events_.record(pod, "Normal", "Pulling", "Pulling image \"" + cr.image + "\"", kubelet, fp);
          events_.record(pod, "Warning", "Failed", "Error: ErrImagePull", kubelet, fp);
        }
        break;
      case ContainerRuntime::Phase::kDone:
        break;
    }
  }

  // Status from the runtime state.
  Json statuses = Json::array();
  std::vector<std::string> unready;
  bool all_done = true;
  bool all_succeeded = true;
  bool any_started = false;
  for (const auto& c : *containers) {
    std::string name = c.value("name", "");
    const ContainerRuntime& cr = rt.containers[name];
    Json state;
    bool ready = false;
    switch (cr.phase) {
      case ContainerRuntime::Phase::kCreating:
        state = {{"waiting", {{"reason", "ContainerCreating"}}}};
        break;
      case ContainerRuntime::Phase::kRunning:
        state = {{"running", {{"startedAt", format_time(cr.started_at)}}}};
        ready = true;
        break;
      case ContainerRuntime::Phase::kTerminated:
      case ContainerRuntime::Phase::kDone:
        state = {{"terminated", cr.terminated}};
        break;
      case ContainerRuntime::Phase::kBackOff: {
        auto delay = std::chrono::duration_cast<std::chrono::seconds>(cr.backoff_until - cr.since).count();
        state = {{"waiting",
                  {{"reason", "CrashLoopBackOff"},
                   {"message", "back-off " + std::to_string(std::max<long long>(delay, 1)) +
                                   "s restarting failed container=" + name + " pod=" + pod_ref(pod)}}}};
        break;
      }
      case ContainerRuntime::Phase::kPullBackOff:
        state = {{"waiting",
                  {{"reason", cr.exit_reason},
                   {"message", cr.exit_reason == "ErrImagePull"
                                   ? "failed to pull and unpack image \"" + cr.image + "\": not found"
                                   : "Back-off pulling image \"" + cr.image + "\""}}}};
        break;
    }
    if (cr.phase != ContainerRuntime::Phase::kDone) {
      all_done = false;
    } else if (cr.exit_code != 0) {
      all_succeeded = false;
    }
    if (cr.phase != ContainerRuntime::Phase::kCreating && cr.phase != ContainerRuntime::Phase::kPullBackOff) {
      any_started = true;
    }
    if (!ready) {
      unready.push_back(name);
    }
    Json status = {{"name", name},
                   {"image", cr.image},
                   {"imageID", ""},
                   {"ready", ready},
                   {"started", cr.phase == ContainerRuntime::Phase::kRunning},
                   {"restartCount", cr.restart_count},
                   {"state", state},
                   {"lastState", cr.last_terminated.is_null() ? Json::object()
                                                              : Json{{"terminated", cr.last_terminated}}}};
    if (!cr.container_id.empty()) {
      status["containerID"] = cr.container_id;
      std::string repo = cr.image.substr(0, cr.image.find('@'));
      auto colon = repo.rfind(':');
      if (colon != std::string::npos && repo.find('/', colon) == std::string::npos) {
        repo = repo.substr(0, colon);
      }
      status["imageID"] = repo + "@sha256:" + std::to_string(fnv32a(cr.image)) + std::string(56, '0');
    }
    statuses.push_back(status);
  }
  Json& st = pod["status"];
  if (!st.is_object()) {
    st = Json::object();
  }
  std::string phase = "Pending";
  if (all_done) {
    phase = all_succeeded ? "Succeeded" : "Failed";
  } else if (any_started) {
    phase = "Running";
  }
  st["phase"] = phase;
  st["hostIP"] = node_internal_ip(node);
  st["hostIPs"] = Json::array({{{"ip", node_internal_ip(node)}}});
  st["podIP"] = rt.pod_ip;
  st["podIPs"] = Json::array({{{"ip", rt.pod_ip}}});
  st["startTime"] = format_time(rt.start_time);
  st["containerStatuses"] = statuses;
  const Json* inits = find_path(pod, "spec.initContainers");
  if (inits && inits->is_array() && !inits->empty()) {
    // Init containers are simulated as having completed at pod start.
    Json init_statuses = Json::array();
    for (const auto& c : *inits) {
      init_statuses.push_back({{"name", c.value("name", "")},
                               {"image", c.value("image", "")},
                               {"imageID", ""},
                               {"ready", true},
                               {"started", false},
                               {"restartCount", 0},
                               {"state",
                                {{"terminated",
                                  {{"exitCode", 0},
                                   {"reason", "Completed"},
                                   {"startedAt", format_time(rt.start_time)},
                                   {"finishedAt", format_time(rt.start_time)}}}}},
                               {"lastState", Json::object()}});
    }
    st["initContainerStatuses"] = init_statuses;
  }
  set_condition(pod, "PodReadyToStartContainers", "True", "", "", now, true);
  set_condition(pod, "Initialized", "True", "", "", now, true);
  if (phase == "Succeeded" || phase == "Failed") {
    set_condition(pod, "Ready", "False", "PodCompleted", "", now, true);
    set_condition(pod, "ContainersReady", "False", "PodCompleted", "", now, true);
  } else if (unready.empty()) {
    set_condition(pod, "Ready", "True", "", "", now, true);
    set_condition(pod, "ContainersReady", "True", "", "", now, true);
  } else {
    std::string list;
    for (std::size_t i = 0; i < unready.size(); ++i) {
      list += (i ? " " : "") + unready[i];
    }
    set_condition(pod, "Ready", "False", "ContainersNotReady", "containers with unready status: [" + list + "]", now,
                  true);
    set_condition(pod, "ContainersReady", "False", "ContainersNotReady",
                  "containers with unready status: [" + list + "]", now, true);
  }
  set_condition(pod, "PodScheduled", "True", "", "", now, true);
  // Keep the conventional order of pod conditions.
  static const std::vector<std::string> kOrder = {"PodReadyToStartContainers", "Initialized", "Ready",
                                                  "ContainersReady", "PodScheduled"};
  Json& conditions = pod["status"]["conditions"];
  std::stable_sort(conditions.begin(), conditions.end(), [](const Json& a, const Json& b) {
    auto ia = std::find(kOrder.begin(), kOrder.end(), a.value("type", ""));
    auto ib = std::find(kOrder.begin(), kOrder.end(), b.value("type", ""));
    return ia < ib;
  });
  if (pod != original) {
    write(pods_resource(), pod);
  }
}

}  // namespace kubesim
