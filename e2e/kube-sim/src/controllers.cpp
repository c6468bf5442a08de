#include "controllers.h"

#include "api_error.h"

#include <set>

namespace kubesim {

const Json* controller_ref_of(const Json& object) {
  const Json* refs = find_path(object, "metadata.ownerReferences");
  if (!refs || !refs->is_array()) {
    return nullptr;
  }
  for (const auto& ref : *refs) {
    if (ref.is_object() && ref.value("controller", false)) {
      return &ref;
    }
  }
  return nullptr;
}

bool is_controlled_by(const Json& object, const std::string& owner_uid) {
  const Json* ref = controller_ref_of(object);
  return ref && ref->value("uid", "") == owner_uid;
}

bool pod_is_terminating(const Json& pod) { return find_path(pod, "metadata.deletionTimestamp") != nullptr; }

bool pod_is_finished(const Json& pod) {
  std::string phase = string_at(pod, "status.phase");
  return phase == "Succeeded" || phase == "Failed";
}

bool pod_is_active(const Json& pod) { return !pod_is_terminating(pod) && !pod_is_finished(pod); }

bool pod_is_ready(const Json& pod) {
  const Json* ready = find_condition(pod, "Ready");
  return ready && ready->value("status", "") == "True";
}

Json owner_reference(const Json& owner, bool controller) {
  Json ref = {{"apiVersion", owner.value("apiVersion", "")},
              {"kind", owner.value("kind", "")},
              {"name", name_of(owner)},
              {"uid", uid_of(owner)}};
  if (controller) {
    ref["controller"] = true;
    ref["blockOwnerDeletion"] = true;
  }
  return ref;
}

std::string template_hash(const Json& tmpl) {
  return safe_encode(std::to_string(fnv32a(tmpl.dump())));
}

void Controllers::step() {
  sync_nodes();
  sync_namespaces();
  collect_garbage();
  sync_hpas();
  sync_deployments();
  sync_replicasets();
  sync_statefulsets();
  sync_jobs();
  sync_pvcs();
  schedule_pods();
  run_kubelets();
  sync_pdbs();
  expire_events();
}

void Controllers::reset() {
  pods_.clear();
  next_ip_.clear();
  last_sched_event_.clear();
  hpa_recommendations_.clear();
  node_not_ready_since_.clear();
  events_.forget_all();
}

void Controllers::write(const ResourceInfo& r, const Json& object) {
  try {
    api_.store().replace(r, object, false);
  } catch (const ApiError&) {
    // Deleted during this pass; the next pass sees the new state.
  }
}

Json Controllers::create_pod_from_template(const Json& owner, const ResourceInfo& owner_type, const Json& tmpl,
                                           const std::string& name, const Json& extra_labels) {
  (void)owner_type;
  Json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}};
  Json meta = tmpl.value("metadata", Json::object());
  if (!meta.is_object()) {
    meta = Json::object();
  }
  meta.erase("name");
  meta.erase("namespace");
  meta.erase("creationTimestamp");
  meta["name"] = name;
  Json& labels = meta["labels"];
  if (!labels.is_object()) {
    labels = Json::object();
  }
  for (auto it = extra_labels.begin(); it != extra_labels.end(); ++it) {
    labels[it.key()] = it.value();
  }
  meta["ownerReferences"] = Json::array({owner_reference(owner, true)});
  pod["metadata"] = meta;
  pod["spec"] = tmpl.value("spec", Json::object());
  return api_.create(pods_resource(), namespace_of(owner), std::move(pod));
}

void Controllers::sync_namespaces() {
  const ResourceInfo& namespaces = resource_by_plural("namespaces");
  std::vector<Json> terminating;
  for (const Json* ns : api_.store().list(namespaces)) {
    if (find_path(*ns, "metadata.deletionTimestamp")) {
      terminating.push_back(*ns);
    }
  }
  for (const Json& ns : terminating) {
    std::string name = name_of(ns);
    for (const auto& type : all_resources()) {
      if (!type.namespaced) {
        continue;
      }
      std::vector<std::string> names;
      for (const Json* o : api_.store().list(type, name)) {
        names.push_back(name_of(*o));
      }
      for (const auto& n : names) {
        api_.finalize_delete(type, name, n);
      }
    }
    api_.finalize_delete(namespaces, "", name);
  }
}

void Controllers::collect_garbage() {
  std::set<std::string> uids;
  for (const auto& type : all_resources()) {
    for (const Json* o : api_.store().list(type)) {
      uids.insert(uid_of(*o));
    }
  }
  struct Doomed {
    const ResourceInfo* type;
    std::string ns;
    std::string name;
  };
  std::vector<Doomed> orphans;
  std::map<std::string, int> dependents;  // owner uid → live dependents
  for (const auto& type : all_resources()) {
    for (const Json* o : api_.store().list(type)) {
      const Json* refs = find_path(*o, "metadata.ownerReferences");
      if (!refs || !refs->is_array() || refs->empty()) {
        continue;
      }
      bool any_owner_alive = false;
      for (const auto& ref : *refs) {
        std::string uid = ref.value("uid", "");
        if (uids.count(uid)) {
          any_owner_alive = true;
          ++dependents[uid];
        }
      }
      if (!any_owner_alive && !find_path(*o, "metadata.deletionTimestamp")) {
        orphans.push_back({&type, namespace_of(*o), name_of(*o)});
      }
    }
  }
  for (const auto& d : orphans) {
    try {
      api_.remove(*d.type, d.ns, d.name, DeleteOptions{"Background", std::nullopt, "", "", false});
    } catch (const ApiError&) {
    }
  }
  // Foreground deletion: the owner waits, with its foregroundDeletion
  // finalizer, until its dependents are gone.
  for (const auto& type : all_resources()) {
    std::vector<Json> waiting;
    for (const Json* o : api_.store().list(type)) {
      const Json* fin = find_path(*o, "metadata.finalizers");
      if (find_path(*o, "metadata.deletionTimestamp") && fin && fin->is_array() &&
          std::find(fin->begin(), fin->end(), "foregroundDeletion") != fin->end()) {
        waiting.push_back(*o);
      }
    }
    for (Json& owner : waiting) {
      std::string uid = uid_of(owner);
      if (dependents[uid] > 0) {
        for (const auto& dep_type : all_resources()) {
          std::vector<std::pair<std::string, std::string>> deps;
          for (const Json* o : api_.store().list(dep_type)) {
            if (is_controlled_by(*o, uid) && !find_path(*o, "metadata.deletionTimestamp")) {
              deps.emplace_back(namespace_of(*o), name_of(*o));
            }
          }
          for (const auto& [ns, name] : deps) {
            try {
              api_.remove(dep_type, ns, name, DeleteOptions{"Foreground", std::nullopt, "", "", false});
            } catch (const ApiError&) {
            }
          }
        }
        continue;
      }
      Json& fin = owner["metadata"]["finalizers"];
      fin.erase(std::remove(fin.begin(), fin.end(), "foregroundDeletion"), fin.end());
      if (fin.empty()) {
        api_.finalize_delete(type, namespace_of(owner), name_of(owner));
      } else {
        write(type, owner);
      }
    }
  }
}

void Controllers::expire_events() {
  const ResourceInfo& events = resource_by_plural("events");
  TimePoint cutoff = now() - config_.event_ttl;
  std::vector<std::pair<std::string, std::string>> expired;
  for (const Json* e : api_.store().list(events)) {
    TimePoint last;
    std::string stamp = string_at(*e, "lastTimestamp", string_at(*e, "metadata.creationTimestamp"));
    if (parse_time(stamp, last) && last < cutoff) {
      expired.emplace_back(namespace_of(*e), name_of(*e));
    }
  }
  for (const auto& [ns, name] : expired) {
    api_.finalize_delete(events, ns, name);
  }
}

}  // namespace kubesim
