// Deployment, ReplicaSet, StatefulSet and Job controllers.

#include "api_error.h"
#include "controllers.h"
#include "selectors.h"

#include <algorithm>
#include <cmath>

namespace kubesim {

namespace {

constexpr const char* kRevision = "deployment.kubernetes.io/revision";
constexpr const char* kHashLabel = "pod-template-hash";

std::int64_t revision_of(const Json& rs) {
  std::string text;
  const Json* annotations = find_path(rs, "metadata.annotations");
  if (annotations && annotations->is_object()) {
    text = annotations->value(kRevision, "");
  }
  try {
    return text.empty() ? 0 : std::stoll(text);
  } catch (const std::exception&) {
    return 0;
  }
}

Json template_without_hash(const Json& tmpl) {
  Json copy = tmpl;
  if (copy.contains("metadata") && copy["metadata"].contains("labels") && copy["metadata"]["labels"].is_object()) {
    copy["metadata"]["labels"].erase(kHashLabel);
    if (copy["metadata"]["labels"].empty()) {
      copy["metadata"].erase("labels");
    }
  }
  return copy;
}

std::vector<Json> pods_controlled_by(const ObjectStore& store, const Json& owner) {
  std::vector<Json> out;
  std::string uid = uid_of(owner);
  for (const Json* p : store.list(pods_resource(), namespace_of(owner))) {
    if (is_controlled_by(*p, uid)) {
      out.push_back(*p);
    }
  }
  return out;
}

const ResourceInfo& replicasets() { return resource_by_plural("replicasets"); }

}  // namespace

void Controllers::sync_deployments() {
  std::vector<Json> deployments;
  for (const Json* d : api_.store().list(resource_by_plural("deployments"))) {
    deployments.push_back(*d);
  }
  for (const Json& d : deployments) {
    if (find_path(d, "metadata.deletionTimestamp")) {
      continue;
    }
    try {
      sync_deployment(d);
    } catch (const ApiError&) {
      // Invalid template or a race with a delete: the next pass retries.
    }
  }
}

void Controllers::sync_deployment(const Json& original) {
  const ResourceInfo& deployments = resource_by_plural("deployments");
  Json d = original;
  std::string ns = namespace_of(d);
  std::string uid = uid_of(d);
  std::int64_t replicas = int_at(d, "spec.replicas", 1);
  const Json tmpl = d["spec"].value("template", Json::object());
  bool paused = bool_at(d, "spec.paused");
  EventSource source{"deployment-controller", ""};

  std::vector<Json> owned;
  for (const Json* rs : api_.store().list(replicasets(), ns)) {
    if (is_controlled_by(*rs, uid)) {
      owned.push_back(*rs);
    }
  }
  std::int64_t max_revision = 0;
  Json* new_rs = nullptr;
  for (auto& rs : owned) {
    max_revision = std::max(max_revision, revision_of(rs));
    if (!new_rs && template_without_hash(rs["spec"].value("template", Json::object())) == tmpl) {
      new_rs = &rs;
    }
  }
  bool created_new = false;
  std::string new_rs_name;
  if (!new_rs && !paused) {
    std::string hash = template_hash(tmpl);
    Json rs_tmpl = tmpl;
    ensure_path(rs_tmpl, "metadata")["labels"][kHashLabel] = hash;
    Json selector = d["spec"].value("selector", Json::object());
    selector["matchLabels"][kHashLabel] = hash;
    Json labels = tmpl.contains("metadata") ? tmpl["metadata"].value("labels", Json::object()) : Json::object();
    labels[kHashLabel] = hash;
    // Start at full size when nothing older is running; otherwise the
    // rolling update below grows it step by step.
    bool others_running = std::any_of(owned.begin(), owned.end(),
                                      [](const Json& rs) { return int_at(rs, "spec.replicas", 0) > 0; });
    std::int64_t initial = others_running || string_at(d, "spec.strategy.type", "RollingUpdate") == "Recreate"
                               ? 0
                               : replicas;
    Json rs = {{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"metadata",
                {{"name", name_of(d) + "-" + hash},
                 {"labels", labels},
                 {"annotations",
                  {{kRevision, std::to_string(max_revision + 1)},
                   {"deployment.kubernetes.io/desired-replicas", std::to_string(replicas)},
                   {"deployment.kubernetes.io/max-replicas", std::to_string(replicas)}}},
                 {"ownerReferences", Json::array({owner_reference(d, true)})}}},
               {"spec", {{"replicas", initial}, {"selector", selector}, {"template", rs_tmpl}}}};
    if (const Json* mrs = find_path(d, "spec.minReadySeconds")) {
      rs["spec"]["minReadySeconds"] = *mrs;
    }
    Json stored = api_.create(replicasets(), ns, std::move(rs));
    created_new = true;
    if (initial > 0) {
      events_.record(d, "Normal", "ScalingReplicaSet",
                     "Scaled up replica set " + name_of(stored) + " from 0 to " + std::to_string(initial), source);
    }
    owned.push_back(stored);
    new_rs = &owned.back();
    max_revision += 1;
  } else if (new_rs && revision_of(*new_rs) < max_revision && !paused) {
    // Rolling back to an older template: the old ReplicaSet becomes newest.
    (*new_rs)["metadata"]["annotations"][kRevision] = std::to_string(max_revision + 1);
    max_revision += 1;
    write(replicasets(), *new_rs);
  }
  if (new_rs) {
    new_rs_name = name_of(*new_rs);
    d["metadata"]["annotations"][kRevision] = std::to_string(revision_of(*new_rs));
  }

  auto scale_rs = [&](Json& rs, std::int64_t to) {
    std::int64_t from = int_at(rs, "spec.replicas", 0);
    if (from == to) {
      return;
    }
    rs["spec"]["replicas"] = to;
    rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = std::to_string(replicas);
    write(replicasets(), rs);
    events_.record(d, "Normal", "ScalingReplicaSet",
                   std::string(to > from ? "Scaled up" : "Scaled down") + " replica set " + name_of(rs) + " from " +
                       std::to_string(from) + " to " + std::to_string(to),
                   source);
  };

  std::int64_t surge = 0;
  std::int64_t unavailable = 0;
  if (string_at(d, "spec.strategy.type", "RollingUpdate") == "RollingUpdate") {
    const Json* ms = find_path(d, "spec.strategy.rollingUpdate.maxSurge");
    const Json* mu = find_path(d, "spec.strategy.rollingUpdate.maxUnavailable");
    surge = ms ? scaled_int_or_percent(*ms, replicas, true).value_or(1) : 1;
    unavailable = mu ? scaled_int_or_percent(*mu, replicas, false).value_or(0) : 0;
    if (surge == 0 && unavailable == 0) {
      unavailable = 1;
    }
  }

  if (!paused && new_rs) {
    std::vector<Json*> old_sets;
    for (auto& rs : owned) {
      if (&rs != new_rs) {
        old_sets.push_back(&rs);
      }
    }
    std::sort(old_sets.begin(), old_sets.end(),
              [](const Json* a, const Json* b) { return revision_of(*a) < revision_of(*b); });
    bool old_active = std::any_of(old_sets.begin(), old_sets.end(),
                                  [](const Json* rs) { return int_at(*rs, "spec.replicas", 0) > 0; });
    if (string_at(d, "spec.strategy.type", "RollingUpdate") == "Recreate") {
      for (Json* rs : old_sets) {
        scale_rs(*rs, 0);
      }
      // Recreate: the new pods start only once every old pod is gone.
      std::size_t old_pods = 0;
      for (Json* rs : old_sets) {
        old_pods += pods_controlled_by(api_.store(), *rs).size();
      }
      if (old_pods == 0) {
        scale_rs(*new_rs, replicas);
      }
    } else if (!old_active) {
      scale_rs(*new_rs, replicas);
    } else {
      std::int64_t total = 0;
      for (auto& rs : owned) {
        total += int_at(rs, "spec.replicas", 0);
      }
      std::int64_t new_size = int_at(*new_rs, "spec.replicas", 0);
      if (new_size > replicas) {
        scale_rs(*new_rs, replicas);
      } else if (new_size < replicas) {
        std::int64_t room = replicas + surge - total;
        std::int64_t up = std::min(room, replicas - new_size);
        if (up > 0) {
          scale_rs(*new_rs, new_size + up);
          total += up;
        }
      }
      std::int64_t min_available = replicas - unavailable;
      std::int64_t new_unavailable =
          int_at(*new_rs, "spec.replicas", 0) - int_at(*new_rs, "status.availableReplicas", 0);
      std::int64_t max_scale_down = total - min_available - std::max<std::int64_t>(new_unavailable, 0);
      // Old replicas that are not available go first: removing them costs
      // no availability.
      for (Json* rs : old_sets) {
        if (max_scale_down <= 0) {
          break;
        }
        std::int64_t size = int_at(*rs, "spec.replicas", 0);
        std::int64_t unhealthy = size - int_at(*rs, "status.availableReplicas", 0);
        std::int64_t cut = std::min({unhealthy, max_scale_down, size});
        if (cut > 0) {
          scale_rs(*rs, size - cut);
          max_scale_down -= cut;
          total -= cut;
        }
      }
      std::int64_t available = 0;
      for (auto& rs : owned) {
        available += std::min(int_at(rs, "status.availableReplicas", 0), int_at(rs, "spec.replicas", 0));
      }
      std::int64_t budget = std::min(available - min_available, total - min_available);
      for (Json* rs : old_sets) {
        if (budget <= 0) {
          break;
        }
        std::int64_t size = int_at(*rs, "spec.replicas", 0);
        std::int64_t cut = std::min(size, budget);
        if (cut > 0) {
          scale_rs(*rs, size - cut);
          budget -= cut;
        }
      }
    }
    // Revision history: keep revisionHistoryLimit scaled-down old sets.
    std::int64_t limit = int_at(d, "spec.revisionHistoryLimit", 10);
    std::vector<Json*> idle;
    for (Json* rs : old_sets) {
      if (int_at(*rs, "spec.replicas", 0) == 0 && int_at(*rs, "status.replicas", 0) == 0) {
        idle.push_back(rs);
      }
    }
    for (std::size_t i = 0; static_cast<std::int64_t>(idle.size() - i) > limit; ++i) {
      api_.remove(replicasets(), ns, name_of(*idle[i]), DeleteOptions{"Background", std::nullopt, "", "", false});
    }
  }

  // Status from the ReplicaSets as they are now.
  std::int64_t status_replicas = 0;
  std::int64_t ready = 0;
  std::int64_t available = 0;
  std::int64_t updated = 0;
  for (const Json* rs : api_.store().list(replicasets(), ns)) {
    if (!is_controlled_by(*rs, uid)) {
      continue;
    }
    status_replicas += int_at(*rs, "status.replicas", 0);
    ready += int_at(*rs, "status.readyReplicas", 0);
    available += int_at(*rs, "status.availableReplicas", 0);
    if (name_of(*rs) == new_rs_name) {
      updated = int_at(*rs, "status.replicas", 0);
    }
  }
  Json& status = d["status"];
  if (!status.is_object()) {
    status = Json::object();
  }
  // Zero counts are omitted from status, so absent reads as 0.
  bool progressed = int_at(original, "status.updatedReplicas", 0) != updated ||
                    int_at(original, "status.availableReplicas", 0) != available ||
                    int_at(original, "status.readyReplicas", 0) != ready;
  status["observedGeneration"] = int_at(d, "metadata.generation", 1);
  status["replicas"] = status_replicas;
  status["updatedReplicas"] = updated;
  status["readyReplicas"] = ready;
  status["availableReplicas"] = available;
  if (replicas - available > 0) {
    status["unavailableReplicas"] = replicas - available;
  } else {
    status.erase("unavailableReplicas");
  }
  for (const char* zero : {"readyReplicas", "availableReplicas", "updatedReplicas", "replicas"}) {
    if (status[zero] == 0) {
      status.erase(zero);
    }
  }
  std::string now = now_text();
  if (available >= replicas - unavailable) {
    set_condition(d, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now,
                  false, true);
  } else {
    set_condition(d, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.",
                  now, false, true);
  }
  bool complete = updated == replicas && status_replicas == replicas && available == replicas;
  if (paused) {
    set_condition(d, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now, false, true);
  } else if (complete && !new_rs_name.empty()) {
    set_condition(d, "Progressing", "True", "NewReplicaSetAvailable",
                  "ReplicaSet \"" + new_rs_name + "\" has successfully progressed.", now, false, true);
  } else if (created_new) {
    set_condition(d, "Progressing", "True", "NewReplicaSetCreated", "Created new replica set \"" + new_rs_name + "\"",
                  now, false, true);
  } else if (!new_rs_name.empty()) {
    const Json* progressing = find_condition(d, "Progressing");
    TimePoint last_update;
    bool timed_out = false;
    std::int64_t deadline = int_at(d, "spec.progressDeadlineSeconds", 600);
    if (progressing && parse_time(progressing->value("lastUpdateTime", ""), last_update) && !progressed) {
      timed_out = this->now() - last_update > std::chrono::seconds(deadline);
    }
    bool already_failed = progressing && progressing->value("reason", "") == "ProgressDeadlineExceeded";
    if (timed_out || (already_failed && !progressed)) {
      if (set_condition(d, "Progressing", "False", "ProgressDeadlineExceeded",
                        "ReplicaSet \"" + new_rs_name + "\" has timed out progressing.", now, false, true)) {
        events_.record(d, "Warning", "ProgressDeadlineExceeded",
                       "Deployment \"" + name_of(d) + "\" has timed out progressing.", source);
      }
    } else {
      set_condition(d, "Progressing", "True", "ReplicaSetUpdated",
                    "ReplicaSet \"" + new_rs_name + "\" is progressing.", now, false, true);
      if (progressed) {
        for (auto& c : d["status"]["conditions"]) {
          if (c.value("type", "") == "Progressing") {
            c["lastUpdateTime"] = now;
          }
        }
      }
    }
  }
  if (d != original) {
    write(deployments, d);
  }
}

void Controllers::sync_replicasets() {
  std::vector<Json> sets;
  for (const Json* rs : api_.store().list(replicasets())) {
    sets.push_back(*rs);
  }
  EventSource source{"replicaset-controller", ""};
  for (Json& rs : sets) {
    if (find_path(rs, "metadata.deletionTimestamp")) {
      continue;
    }
    std::vector<Json> pods = pods_controlled_by(api_.store(), rs);
    std::vector<Json> active;
    for (auto& p : pods) {
      if (pod_is_active(p)) {
        active.push_back(p);
      }
    }
    std::int64_t want = int_at(rs, "spec.replicas", 1);
    std::int64_t have = static_cast<std::int64_t>(active.size());
    const Json tmpl = rs["spec"].value("template", Json::object());
    for (std::int64_t i = have; i < want; ++i) {
      std::string name = name_of(rs) + "-" + api_.random().suffix(5);
      try {
        Json pod = create_pod_from_template(rs, replicasets(), tmpl, name, Json::object());
        events_.record(rs, "Normal", "SuccessfulCreate", "Created pod: " + name, source);
        active.push_back(pod);
      } catch (const ApiError& e) {
        events_.record(rs, "Warning", "FailedCreate", std::string("Error creating: ") + e.what(), source);
        break;
      }
    }
    if (have > want) {
      // Delete the least valuable pods first: unscheduled, pending, not
      // ready, then the youngest (controller.ActivePods ordering).
      auto rank = [](const Json& p) {
        int r = 0;
        if (string_at(p, "spec.nodeName").empty()) {
          r = 0;
        } else if (string_at(p, "status.phase") == "Pending") {
          r = 1;
        } else if (!pod_is_ready(p)) {
          r = 2;
        } else {
          r = 3;
        }
        return r;
      };
      std::sort(active.begin(), active.end(), [&](const Json& a, const Json& b) {
        if (rank(a) != rank(b)) {
          return rank(a) < rank(b);
        }
        return string_at(a, "metadata.creationTimestamp") > string_at(b, "metadata.creationTimestamp");
      });
      for (std::int64_t i = 0; i < have - want; ++i) {
        const Json& victim = active[static_cast<std::size_t>(i)];
        try {
          api_.remove(pods_resource(), namespace_of(victim), name_of(victim), DeleteOptions{});
          events_.record(rs, "Normal", "SuccessfulDelete", "Deleted pod: " + name_of(victim), source);
        } catch (const ApiError&) {
        }
      }
    }
    // Status reflects the pods as they are (after this pass's creations and
    // deletions are visible next pass, like the informer-driven original).
    std::int64_t replicas = 0;
    std::int64_t ready = 0;
    for (const Json& p : pods_controlled_by(api_.store(), rs)) {
      if (!pod_is_active(p)) {
        continue;
      }
      ++replicas;
      if (pod_is_ready(p)) {
        ++ready;
      }
    }
    const Json* stored = api_.store().get(replicasets(), namespace_of(rs), name_of(rs));
    if (!stored) {
      continue;
    }
    Json updated = *stored;
    Json status = {{"replicas", replicas},
                   {"fullyLabeledReplicas", replicas},
                   {"readyReplicas", ready},
                   {"availableReplicas", ready},
                   {"observedGeneration", int_at(updated, "metadata.generation", 1)}};
    for (const char* zero : {"readyReplicas", "availableReplicas", "fullyLabeledReplicas"}) {
      if (status[zero] == 0) {
        status.erase(zero);
      }
    }
    updated["status"] = status;
    if (updated != *stored) {
      write(replicasets(), updated);
    }
  }
}

void Controllers::sync_statefulsets() {
  const ResourceInfo& statefulsets = resource_by_plural("statefulsets");
  const ResourceInfo& pvcs = resource_by_plural("persistentvolumeclaims");
  std::vector<Json> sets;
  for (const Json* s : api_.store().list(statefulsets)) {
    sets.push_back(*s);
  }
  EventSource source{"statefulset-controller", ""};
  for (Json& sts : sets) {
    if (find_path(sts, "metadata.deletionTimestamp")) {
      continue;
    }
    std::string ns = namespace_of(sts);
    std::string name = name_of(sts);
    std::int64_t replicas = int_at(sts, "spec.replicas", 1);
    bool ordered = string_at(sts, "spec.podManagementPolicy", "OrderedReady") == "OrderedReady";
    const Json tmpl = sts["spec"].value("template", Json::object());
    std::string update_revision = name + "-" + template_hash(tmpl);
    std::map<std::int64_t, Json> by_ordinal;
    for (Json& p : pods_controlled_by(api_.store(), sts)) {
      std::string pod_name = name_of(p);
      std::string prefix = name + "-";
      if (pod_name.rfind(prefix, 0) != 0) {
        continue;
      }
      try {
        by_ordinal[std::stoll(pod_name.substr(prefix.size()))] = p;
      } catch (const std::exception&) {
      }
    }
    bool any_terminating = std::any_of(by_ordinal.begin(), by_ordinal.end(),
                                       [](const auto& kv) { return pod_is_terminating(kv.second); });
    // Create missing ordinals in order; OrderedReady waits for each to be
    // Running and Ready before the next.
    for (std::int64_t i = 0; i < replicas; ++i) {
      auto it = by_ordinal.find(i);
      if (it != by_ordinal.end()) {
        if (ordered && (!pod_is_ready(it->second) || pod_is_terminating(it->second))) {
          break;
        }
        continue;
      }
      if (ordered && any_terminating) {
        break;
      }
      std::string pod_name = name + "-" + std::to_string(i);
      Json pod_tmpl = tmpl;
      Json& spec = pod_tmpl["spec"];
      spec["hostname"] = pod_name;
      if (!string_at(sts, "spec.serviceName").empty()) {
        spec["subdomain"] = string_at(sts, "spec.serviceName");
      }
      const Json* claims = find_path(sts, "spec.volumeClaimTemplates");
      if (claims && claims->is_array()) {
        for (const auto& claim : *claims) {
          std::string claim_name = string_at(claim, "metadata.name") + "-" + pod_name;
          if (!api_.store().get(pvcs, ns, claim_name)) {
            Json pvc = {{"apiVersion", "v1"},
                        {"kind", "PersistentVolumeClaim"},
                        {"metadata", {{"name", claim_name}, {"labels", tmpl.contains("metadata") ? tmpl["metadata"].value("labels", Json::object()) : Json::object()}}},
                        {"spec", claim.value("spec", Json::object())}};
            try {
              api_.create(pvcs, ns, std::move(pvc));
              events_.record(sts, "Normal", "SuccessfulCreate",
                             "create Claim " + claim_name + " Pod " + pod_name + " in StatefulSet " + name + " success",
                             source);
            } catch (const ApiError& e) {
              events_.record(sts, "Warning", "FailedCreate", e.what(), source);
            }
          }
          Json& volumes = spec["volumes"];
          if (!volumes.is_array()) {
            volumes = Json::array();
          }
          volumes.push_back({{"name", string_at(claim, "metadata.name")},
                             {"persistentVolumeClaim", {{"claimName", claim_name}}}});
        }
      }
      Json extra = {{"controller-revision-hash", update_revision},
                    {"statefulset.kubernetes.io/pod-name", pod_name},
                    {"apps.kubernetes.io/pod-index", std::to_string(i)}};
      try {
        create_pod_from_template(sts, statefulsets, pod_tmpl, pod_name, extra);
        events_.record(sts, "Normal", "SuccessfulCreate",
                       "create Pod " + pod_name + " in StatefulSet " + name + " successful", source);
      } catch (const ApiError& e) {
        events_.record(sts, "Warning", "FailedCreate", e.what(), source);
        break;
      }
      if (ordered) {
        break;
      }
    }
    // Scale down from the highest ordinal, one at a time when ordered.
    for (auto it = by_ordinal.rbegin(); it != by_ordinal.rend(); ++it) {
      if (it->first < replicas) {
        break;
      }
      if (pod_is_terminating(it->second)) {
        if (ordered) {
          break;
        }
        continue;
      }
      api_.remove(pods_resource(), ns, name_of(it->second), DeleteOptions{});
      events_.record(sts, "Normal", "SuccessfulDelete",
                     "delete Pod " + name_of(it->second) + " in StatefulSet " + name + " successful", source);
      if (ordered) {
        break;
      }
    }
    // Rolling update: replace the highest outdated pod once all are ready.
    std::int64_t partition = int_at(sts, "spec.updateStrategy.rollingUpdate.partition", 0);
    bool all_ready = static_cast<std::int64_t>(by_ordinal.size()) >= replicas;
    for (std::int64_t i = 0; i < replicas && all_ready; ++i) {
      auto it = by_ordinal.find(i);
      all_ready = it != by_ordinal.end() && pod_is_ready(it->second) && !pod_is_terminating(it->second);
    }
    if (string_at(sts, "spec.updateStrategy.type", "RollingUpdate") == "RollingUpdate" && all_ready) {
      for (std::int64_t i = replicas - 1; i >= partition; --i) {
        const Json& p = by_ordinal[i];
        if (labels_of(p)["controller-revision-hash"] != update_revision) {
          api_.remove(pods_resource(), ns, name_of(p), DeleteOptions{});
          events_.record(sts, "Normal", "SuccessfulDelete",
                         "delete Pod " + name_of(p) + " in StatefulSet " + name + " successful", source);
          break;
        }
      }
    }
    std::int64_t count = 0;
    std::int64_t ready = 0;
    std::int64_t updated = 0;
    for (const Json& p : pods_controlled_by(api_.store(), sts)) {
      if (!pod_is_active(p)) {
        continue;
      }
      ++count;
      if (pod_is_ready(p)) {
        ++ready;
      }
      if (labels_of(p)["controller-revision-hash"] == update_revision) {
        ++updated;
      }
    }
    const Json* stored = api_.store().get(statefulsets, ns, name);
    if (!stored) {
      continue;
    }
    Json next = *stored;
    std::string current_revision = string_at(next, "status.currentRevision", update_revision);
    if (updated == count && count == replicas) {
      current_revision = update_revision;
    }
    next["status"] = {{"observedGeneration", int_at(next, "metadata.generation", 1)},
                      {"replicas", count},
                      {"readyReplicas", ready},
                      {"availableReplicas", ready},
                      {"currentReplicas", current_revision == update_revision ? updated : count - updated},
                      {"updatedReplicas", updated},
                      {"currentRevision", current_revision},
                      {"updateRevision", update_revision},
                      {"collisionCount", 0}};
    if (next != *stored) {
      write(statefulsets, next);
    }
  }
}

void Controllers::sync_jobs() {
  const ResourceInfo& jobs = resource_by_plural("jobs");
  std::vector<Json> list;
  for (const Json* j : api_.store().list(jobs)) {
    list.push_back(*j);
  }
  EventSource source{"job-controller", ""};
  for (Json& job : list) {
    if (find_path(job, "metadata.deletionTimestamp")) {
      continue;
    }
    std::string ns = namespace_of(job);
    std::string now = now_text();
    const Json original = job;
    std::vector<Json> pods = pods_controlled_by(api_.store(), job);
    std::int64_t succeeded = 0;
    std::int64_t failed = 0;
    std::int64_t ready = 0;
    std::vector<Json> active;
    for (auto& p : pods) {
      std::string phase = string_at(p, "status.phase");
      if (phase == "Succeeded") {
        ++succeeded;
      } else if (phase == "Failed") {
        ++failed;
      } else if (!pod_is_terminating(p)) {
        active.push_back(p);
        if (pod_is_ready(p)) {
          ++ready;
        }
      }
    }
    // Finished pods may have been deleted by hand: counts never go down.
    succeeded = std::max(succeeded, int_at(job, "status.succeeded", 0));
    failed = std::max(failed, int_at(job, "status.failed", 0));
    bool finished = false;
    for (const char* type : {"Complete", "Failed"}) {
      const Json* c = find_condition(job, type);
      finished = finished || (c && c->value("status", "") == "True");
    }
    std::int64_t completions = int_at(job, "spec.completions", 1);
    std::int64_t parallelism = int_at(job, "spec.parallelism", 1);
    std::int64_t backoff_limit = int_at(job, "spec.backoffLimit", 6);
    Json& status = job["status"];
    if (!status.is_object()) {
      status = Json::object();
    }
    if (!status.contains("startTime") && !bool_at(job, "spec.suspend")) {
      status["startTime"] = now;
    }
    auto kill_active = [&] {
      for (const Json& p : active) {
        api_.remove(pods_resource(), ns, name_of(p), DeleteOptions{});
      }
      active.clear();
      ready = 0;
    };
    if (!finished) {
      std::int64_t deadline = int_at(job, "spec.activeDeadlineSeconds", 0);
      TimePoint started;
      if (succeeded >= completions) {
        set_condition(job, "SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods",
                      now, true);
        set_condition(job, "Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods", now,
                      true);
        status["completionTime"] = now;
        kill_active();
        events_.record(job, "Normal", "Completed", "Job completed", source);
      } else if (failed > backoff_limit) {
        set_condition(job, "FailureTarget", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                      now, true);
        set_condition(job, "Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit", now,
                      true);
        kill_active();
        events_.record(job, "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit", source);
      } else if (deadline > 0 && parse_time(string_at(job, "status.startTime"), started) &&
                 this->now() - started > std::chrono::seconds(deadline)) {
        set_condition(job, "FailureTarget", "True", "DeadlineExceeded", "Job was active longer than specified deadline",
                      now, true);
        set_condition(job, "Failed", "True", "DeadlineExceeded", "Job was active longer than specified deadline", now,
                      true);
        kill_active();
        events_.record(job, "Warning", "DeadlineExceeded", "Job was active longer than specified deadline", source);
      } else if (bool_at(job, "spec.suspend")) {
        kill_active();
      } else {
        std::int64_t want = std::min(parallelism, completions - succeeded);
        Json tmpl = job["spec"].value("template", Json::object());
        Json& annotations = ensure_path(tmpl, "metadata")["annotations"];
        if (!annotations.is_object()) {
          annotations = Json::object();
        }
        const Json* job_annotations = find_path(job, "metadata.annotations");
        if (!annotations.contains(kRunMsAnnotation)) {
          annotations[kRunMsAnnotation] =
              job_annotations && job_annotations->is_object() && job_annotations->contains(kRunMsAnnotation)
                  ? (*job_annotations)[kRunMsAnnotation]
                  : Json(std::to_string(config_.job_duration.count()));
        }
        for (auto i = static_cast<std::int64_t>(active.size()); i < want; ++i) {
          std::string name = name_of(job) + "-" + api_.random().suffix(5);
          try {
            active.push_back(create_pod_from_template(job, jobs, tmpl, name, Json::object()));
            events_.record(job, "Normal", "SuccessfulCreate", "Created pod: " + name, source);
          } catch (const ApiError& e) {
            events_.record(job, "Warning", "FailedCreate", std::string("Error creating: ") + e.what(), source);
            break;
          }
        }
      }
    }
    status["active"] = static_cast<std::int64_t>(active.size());
    status["ready"] = ready;
    status["terminating"] = 0;
    status["uncountedTerminatedPods"] = Json::object();
    if (succeeded > 0) {
      status["succeeded"] = succeeded;
    }
    if (failed > 0) {
      status["failed"] = failed;
    }
    if (status["active"] == 0) {
      status.erase("active");
    }
    if (job != original) {
      write(jobs, job);
    }
  }
}

}  // namespace kubesim
