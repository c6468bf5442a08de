// HorizontalPodAutoscaler, PodDisruptionBudget and PersistentVolumeClaim
// controllers, and the eviction subresource.

#include "api_error.h"
#include "controllers.h"
#include "selectors.h"

#include <algorithm>
#include <cmath>

namespace kubesim {

namespace {

const ResourceInfo* scale_target_type(const std::string& kind) {
  if (kind == "Deployment") {
    return &resource_by_plural("deployments");
  }
  if (kind == "StatefulSet") {
    return &resource_by_plural("statefulsets");
  }
  if (kind == "ReplicaSet") {
    return &resource_by_plural("replicasets");
  }
  return nullptr;
}

std::int64_t target_utilization(const Json& hpa) {
  const Json* metrics = find_path(hpa, "spec.metrics");
  if (metrics && metrics->is_array()) {
    for (const auto& m : *metrics) {
      if (m.value("type", "") == "Resource") {
        return int_at(m, "resource.target.averageUtilization", 80);
      }
    }
  }
  return 80;
}

std::string target_resource_name(const Json& hpa) {
  const Json* metrics = find_path(hpa, "spec.metrics");
  if (metrics && metrics->is_array()) {
    for (const auto& m : *metrics) {
      if (m.value("type", "") == "Resource") {
        return string_at(m, "resource.name", "cpu");
      }
    }
  }
  return "cpu";
}

struct PdbView {
  std::int64_t expected = 0;
  std::int64_t healthy = 0;
  std::int64_t desired = 0;
  std::int64_t allowed = 0;
};

std::vector<Json> pods_for_pdb(const ObjectStore& store, const Json& pdb) {
  std::vector<Json> out;
  LabelSelector selector = LabelSelector::from_json(find_path(pdb, "spec.selector"));
  for (const Json* p : store.list(pods_resource(), namespace_of(pdb))) {
    if (selector.matches(labels_of(*p))) {
      out.push_back(*p);
    }
  }
  return out;
}

PdbView compute_pdb(const ObjectStore& store, const Json& pdb) {
  PdbView v;
  std::vector<Json> pods = pods_for_pdb(store, pdb);
  const Json* min_available = find_path(pdb, "spec.minAvailable");
  const Json* max_unavailable = find_path(pdb, "spec.maxUnavailable");
  for (const auto& p : pods) {
    if (!pod_is_terminating(p) && pod_is_ready(p)) {
      ++v.healthy;
    }
  }
  bool needs_scale = max_unavailable || (min_available && min_available->is_string());
  if (!needs_scale) {
    for (const auto& p : pods) {
      if (!pod_is_terminating(p)) {
        ++v.expected;
      }
    }
  } else {
    // Sum the scale of the pods' controllers, like the disruption controller.
    std::set<std::string> seen;
    for (const auto& p : pods) {
      const Json* ref = controller_ref_of(p);
      if (!ref) {
        ++v.expected;
        continue;
      }
      std::string kind = ref->value("kind", "");
      std::string owner = ref->value("name", "");
      if (kind == "ReplicaSet") {
        const Json* rs = store.get(resource_by_plural("replicasets"), namespace_of(p), owner);
        const Json* rs_owner = rs ? controller_ref_of(*rs) : nullptr;
        if (rs_owner && rs_owner->value("kind", "") == "Deployment") {
          kind = "Deployment";
          owner = rs_owner->value("name", "");
        }
      }
      if (!seen.insert(kind + "/" + owner).second) {
        continue;
      }
      const ResourceInfo* type = scale_target_type(kind);
      const Json* controller = type ? store.get(*type, namespace_of(p), owner) : nullptr;
      v.expected += controller ? int_at(*controller, "spec.replicas", 1) : 1;
    }
  }
  if (min_available) {
    v.desired = scaled_int_or_percent(*min_available, v.expected, true).value_or(0);
  } else if (max_unavailable) {
    v.desired = v.expected - scaled_int_or_percent(*max_unavailable, v.expected, true).value_or(0);
  }
  v.desired = std::max<std::int64_t>(v.desired, 0);
  v.allowed = std::max<std::int64_t>(v.healthy - v.desired, 0);
  if (v.expected <= 0 && !min_available) {
    v.allowed = 0;
  }
  return v;
}

}  // namespace

void Controllers::sync_hpas() {
  const ResourceInfo& hpas = resource_by_plural("horizontalpodautoscalers");
  std::vector<Json> list;
  for (const Json* h : api_.store().list(hpas)) {
    list.push_back(*h);
  }
  EventSource source{"horizontal-pod-autoscaler", ""};
  for (Json& hpa : list) {
    const Json original = hpa;
    std::string ns = namespace_of(hpa);
    std::string now = now_text();
    std::string kind = string_at(hpa, "spec.scaleTargetRef.kind");
    std::string target_name = string_at(hpa, "spec.scaleTargetRef.name");
    const ResourceInfo* type = scale_target_type(kind);
    const Json* target = type ? api_.store().get(*type, ns, target_name) : nullptr;
    hpa["status"]["observedGeneration"] = int_at(hpa, "metadata.generation", 1);
    if (!target) {
      std::string why = "the HPA controller was unable to get the target's current scale: " +
                        (type ? type->plural + "/scale." + type->group : kind) + " \"" + target_name + "\" not found";
      if (set_condition(hpa, "AbleToScale", "False", "FailedGetScale", why, now)) {
        events_.record(hpa, "Warning", "FailedGetScale", why, source);
      }
      if (hpa != original) {
        write(hpas, hpa);
      }
      continue;
    }
    std::int64_t min = int_at(hpa, "spec.minReplicas", 1);
    std::int64_t max = int_at(hpa, "spec.maxReplicas", 1);
    std::int64_t current = int_at(*target, "spec.replicas", 1);
    std::int64_t target_util = target_utilization(hpa);
    std::string resource = target_resource_name(hpa);
    auto load_it = faults_.hpa_load.find(ns + "/" + name_of(hpa));
    std::optional<double> load;
    if (load_it != faults_.hpa_load.end()) {
      load = load_it->second;
    } else if (config_.hpa_steady_by_default) {
      load = static_cast<double>(target_util);
    }
    std::int64_t desired = current;
    std::string reason;
    if (current == 0 && min > 0) {
      set_condition(hpa, "ScalingActive", "False", "ScalingDisabled",
                    "scaling is disabled since the replica count of the target is zero", now);
      desired = 0;
    } else {
      if (current > max) {
        desired = max;
        reason = "Current number of replicas above Spec.MaxReplicas";
      } else if (current < min) {
        desired = min;
        reason = "Current number of replicas below Spec.MinReplicas";
      } else if (load) {
        double ratio = *load / static_cast<double>(target_util);
        if (std::fabs(ratio - 1.0) > 0.1) {
          desired = static_cast<std::int64_t>(std::ceil(ratio * static_cast<double>(current)));
          reason = std::string(resource) + " resource utilization (percentage of request) " +
                   (ratio > 1 ? "above" : "below") + " target";
        }
      }
      if (load) {
        set_condition(hpa, "ScalingActive", "True", "ValidMetricFound",
                      "the HPA was able to successfully calculate a replica count from " + resource +
                          " resource utilization (percentage of request)",
                      now);
      } else {
        set_condition(hpa, "ScalingActive", "False", "FailedGetResourceMetric",
                      "the HPA was unable to compute the replica count: failed to get " + resource +
                          " utilization: unable to get metrics for resource " + resource,
                      now);
      }
      if (desired > max) {
        desired = max;
        set_condition(hpa, "ScalingLimited", "True", "TooManyReplicas",
                      "the desired replica count is more than the maximum replica count", now);
      } else if (desired < min) {
        desired = min;
        set_condition(hpa, "ScalingLimited", "True", "TooFewReplicas",
                      "the desired replica count is less than the minimum replica count", now);
      } else {
        set_condition(hpa, "ScalingLimited", "False", "DesiredWithinRange",
                      "the desired count is within the acceptable range", now);
      }
      // Scale-down stabilisation: use the highest recommendation of the
      // window (behavior.scaleDown.stabilizationWindowSeconds, default 300).
      std::int64_t window = int_at(hpa, "spec.behavior.scaleDown.stabilizationWindowSeconds", 300);
      auto& history = hpa_recommendations_[uid_of(hpa)];
      history.emplace_back(this->now(), desired);
      while (!history.empty() && this->now() - history.front().first > std::chrono::seconds(window)) {
        history.pop_front();
      }
      if (desired < current) {
        std::int64_t stabilized = desired;
        for (const auto& [when, value] : history) {
          stabilized = std::max(stabilized, value);
        }
        desired = std::min(stabilized, current);
      }
    }
    if (desired != current && desired >= 0) {
      try {
        Json scaled = *target;
        scaled["spec"]["replicas"] = desired;
        api_.update(*type, ns, target_name, scaled, "");
        hpa["status"]["lastScaleTime"] = now;
        set_condition(hpa, "AbleToScale", "True", "SucceededRescale",
                      "the HPA controller was able to update the target scale to " + std::to_string(desired), now);
        events_.record(hpa, "Normal", "SuccessfulRescale",
                       "New size: " + std::to_string(desired) + "; reason: " + reason, source);
      } catch (const ApiError& e) {
        set_condition(hpa, "AbleToScale", "False", "FailedUpdateScale",
                      std::string("the HPA controller was unable to update the target scale: ") + e.what(), now);
      }
    } else {
      set_condition(hpa, "AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size", now);
    }
    const Json* fresh_target = api_.store().get(*type, ns, target_name);
    hpa["status"]["currentReplicas"] =
        fresh_target ? int_at(*fresh_target, "status.replicas", int_at(*fresh_target, "spec.replicas", 0)) : current;
    hpa["status"]["desiredReplicas"] = desired;
    if (load) {
      hpa["status"]["currentMetrics"] = Json::array(
          {{{"type", "Resource"},
            {"resource",
             {{"name", resource},
              {"current",
               {{"averageUtilization", static_cast<std::int64_t>(std::llround(*load))},
                {"averageValue", std::to_string(static_cast<std::int64_t>(std::llround(*load * 5))) + "m"}}}}}}});
    } else {
      hpa["status"].erase("currentMetrics");
    }
    // Conventional order: AbleToScale, ScalingActive, ScalingLimited.
    Json& conditions = hpa["status"]["conditions"];
    static const std::vector<std::string> kOrder = {"AbleToScale", "ScalingActive", "ScalingLimited"};
    std::stable_sort(conditions.begin(), conditions.end(), [](const Json& a, const Json& b) {
      return std::find(kOrder.begin(), kOrder.end(), a.value("type", "")) <
             std::find(kOrder.begin(), kOrder.end(), b.value("type", ""));
    });
    if (hpa != original) {
      write(hpas, hpa);
    }
  }
}

void Controllers::sync_pdbs() {
  const ResourceInfo& pdbs = resource_by_plural("poddisruptionbudgets");
  std::vector<Json> list;
  for (const Json* p : api_.store().list(pdbs)) {
    list.push_back(*p);
  }
  std::string now = now_text();
  for (Json& pdb : list) {
    const Json original = pdb;
    PdbView v = compute_pdb(api_.store(), pdb);
    Json& status = pdb["status"];
    if (!status.is_object()) {
      status = Json::object();
    }
    status["observedGeneration"] = int_at(pdb, "metadata.generation", 1);
    // Evicted pods are deleted at once here, so no disruption stays pending.
    status.erase("disruptedPods");
    status["expectedPods"] = v.expected;
    status["currentHealthy"] = v.healthy;
    status["desiredHealthy"] = v.desired;
    status["disruptionsAllowed"] = v.allowed;
    if (v.allowed > 0) {
      set_condition(pdb, "DisruptionAllowed", "True", "SufficientPods", "", now);
    } else {
      set_condition(pdb, "DisruptionAllowed", "False", "InsufficientPods", "", now);
    }
    if (pdb != original) {
      write(pdbs, pdb);
    }
  }
}

void Controllers::sync_pvcs() {
  const ResourceInfo& pvcs = resource_by_plural("persistentvolumeclaims");
  const ResourceInfo& classes = resource_by_plural("storageclasses");
  std::vector<Json> list;
  for (const Json* p : api_.store().list(pvcs)) {
    list.push_back(*p);
  }
  std::string now = now_text();
  for (Json& pvc : list) {
    if (find_path(pvc, "metadata.deletionTimestamp")) {
      continue;
    }
    const Json original = pvc;
    std::string ns = namespace_of(pvc);
    std::string class_name = string_at(pvc, "spec.storageClassName");
    const Json* sc = class_name.empty() ? nullptr : api_.store().get(classes, "", class_name);
    std::string provisioner = sc ? string_at(*sc, "provisioner", "kube-sim.kubemend.io/hostpath") : "";
    EventSource source{"persistentvolume-controller", ""};
    const Json* request = find_path(pvc, "spec.resources.requests.storage");
    if (string_at(pvc, "status.phase") != "Bound") {
      pvc["status"]["phase"] = "Pending";
      if (!sc) {
        std::string why = class_name.empty() ? "no persistent volumes available for this claim and no storage class is set"
                                             : "storageclass.storage.k8s.io \"" + class_name + "\" not found";
        if (pvc != original) {
          write(pvcs, pvc);
        }
        events_.record(pvc, "Warning", "ProvisioningFailed", why, source);
        continue;
      }
      if (string_at(*sc, "volumeBindingMode", "Immediate") == "WaitForFirstConsumer") {
        bool consumed = false;
        for (const Json* pod : api_.store().list(pods_resource(), ns)) {
          const Json* volumes = find_path(*pod, "spec.volumes");
          if (volumes && volumes->is_array()) {
            for (const auto& v : *volumes) {
              consumed = consumed || string_at(v, "persistentVolumeClaim.claimName") == name_of(pvc);
            }
          }
        }
        if (!consumed) {
          if (pvc != original) {
            write(pvcs, pvc);
          }
          events_.record(pvc, "Normal", "WaitForFirstConsumer",
                         "waiting for first consumer to be created before binding", source);
          continue;
        }
      }
      std::string volume = "pvc-" + uid_of(pvc);
      pvc["spec"]["volumeName"] = volume;
      pvc["status"]["phase"] = "Bound";
      pvc["status"]["accessModes"] = pvc["spec"].value("accessModes", Json::array());
      pvc["status"]["capacity"] = {{"storage", request ? *request : Json("1Gi")}};
      Json& annotations = pvc["metadata"]["annotations"];
      if (!annotations.is_object()) {
        annotations = Json::object();
      }
      annotations["pv.kubernetes.io/bind-completed"] = "yes";
      annotations["pv.kubernetes.io/bound-by-controller"] = "yes";
      annotations["volume.beta.kubernetes.io/storage-provisioner"] = provisioner;
      annotations["volume.kubernetes.io/storage-provisioner"] = provisioner;
      write(pvcs, pvc);
      events_.record(pvc, "Normal", "ProvisioningSucceeded",
                     "Successfully provisioned volume " + volume + " using " + provisioner, {provisioner, ""});
      continue;
    }
    // Expansion: capacity follows a grown request (admission already
    // checked that the class allows it).
    const Json* capacity = find_path(pvc, "status.capacity.storage");
    auto want = request ? parse_quantity(*request) : std::nullopt;
    auto have = capacity ? parse_quantity(*capacity) : std::nullopt;
    if (want && have && *want > *have && sc && bool_at(*sc, "allowVolumeExpansion")) {
      pvc["status"]["capacity"]["storage"] = *request;
      pvc["status"]["allocatedResources"] = {{"storage", *request}};
      write(pvcs, pvc);
      events_.record(pvc, "Normal", "Resizing", "External resizer is resizing volume " + string_at(pvc, "spec.volumeName"),
                     {"external-resizer " + provisioner, ""});
      events_.record(pvc, "Normal", "VolumeResizeSuccessful", "resize volume \"" + string_at(pvc, "spec.volumeName") +
                                                                  "\" by resizer \"" + provisioner + "\" finished successfully",
                     {"external-resizer " + provisioner, ""});
    } else if (pvc != original) {
      write(pvcs, pvc);
    }
  }
}

Json evict_pod(ObjectApi& api, Controllers& controllers, const std::string& ns, const std::string& name,
               const Json& eviction, bool dry_run) {
  const ResourceInfo& pods = pods_resource();
  const Json pod = api.get(pods, ns, name);
  if (eviction.is_object()) {
    std::string body_name = string_at(eviction, "metadata.name");
    if (!body_name.empty() && body_name != name) {
      throw ApiError::bad_request("name in URL does not match name in Eviction object");
    }
  }
  DeleteOptions options;
  if (const Json* opts = find_path(eviction, "deleteOptions"); opts && opts->is_object()) {
    if (opts->contains("gracePeriodSeconds") && (*opts)["gracePeriodSeconds"].is_number_integer()) {
      options.grace_period_seconds = (*opts)["gracePeriodSeconds"].get<std::int64_t>();
    }
    options.precondition_uid = string_at(*opts, "preconditions.uid");
    options.precondition_rv = string_at(*opts, "preconditions.resourceVersion");
  }
  options.dry_run = dry_run;
  Json created = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Success"},
                  {"code", 201}};
  std::string phase = string_at(pod, "status.phase");
  if (pod_is_terminating(pod) || phase == "Pending" || phase == "Succeeded" || phase == "Failed") {
    api.remove(pods, ns, name, options);
    return created;
  }
  const ResourceInfo& pdbs = resource_by_plural("poddisruptionbudgets");
  controllers.sync_pdbs();
  std::vector<Json> matching;
  for (const Json* pdb : api.store().list(pdbs, ns)) {
    LabelSelector selector = LabelSelector::from_json(find_path(*pdb, "spec.selector"));
    if (selector.matches(labels_of(pod))) {
      matching.push_back(*pdb);
    }
  }
  if (matching.size() > 1) {
    throw ApiError::internal("This pod has more than one PodDisruptionBudget, which the eviction subresource does "
                             "not support.");
  }
  if (matching.size() == 1) {
    Json pdb = matching.front();
    std::int64_t allowed = int_at(pdb, "status.disruptionsAllowed", 0);
    std::int64_t healthy = int_at(pdb, "status.currentHealthy", 0);
    std::int64_t desired = int_at(pdb, "status.desiredHealthy", 0);
    bool unhealthy_pod = !pod_is_ready(pod);
    bool always_allow = string_at(pdb, "spec.unhealthyPodEvictionPolicy", "IfHealthyBudget") == "AlwaysAllow";
    bool permitted = unhealthy_pod ? (always_allow || healthy >= desired) : allowed > 0;
    if (!permitted) {
      throw ApiError::too_many_requests(
          "Cannot evict pod as it would violate the pod's disruption budget.",
          {{"DisruptionBudget", "The disruption budget " + name_of(pdb) + " needs " + std::to_string(desired) +
                                    " healthy pods and has " + std::to_string(healthy) + " currently",
            ""}});
    }
    if (!dry_run && !unhealthy_pod) {
      pdb["status"]["disruptionsAllowed"] = allowed - 1;
      pdb["status"]["disruptedPods"][name] = format_time(api.clock().now());
      api.store().replace(pdbs, pdb, false);
    }
  }
  api.remove(pods, ns, name, options);
  return created;
}

}  // namespace kubesim
