#include "kube_state.h"

#include "alertmanager.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/protection.h"

namespace kubemend::collector {
namespace {

using nlohmann::json;

const json& Field(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) {
    return kNull;
  }
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string Str(const json& j, const char* key) {
  const json& v = Field(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

int64_t Int(const json& j, const char* key) {
  const json& v = Field(j, key);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

bool Bool(const json& j, const char* key) {
  const json& v = Field(j, key);
  return v.is_boolean() && v.get<bool>();
}

std::map<std::string, std::string> Labels(const json& meta) {
  std::map<std::string, std::string> out;
  const json& l = Field(meta, "labels");
  if (l.is_object()) {
    for (auto it = l.begin(); it != l.end(); ++it) {
      if (it.value().is_string()) {
        out[it.key()] = it.value().get<std::string>();
      }
    }
  }
  return out;
}

std::string Fp(const std::string& key, const std::string& container, const std::string& name) {
  return "k8s/" + key + (container.empty() ? "" : "/" + container) + "/" + name;
}

// The object's identity for observations: its uid, else (objects written
// without one, e.g. by hand to a simulator) namespace/name@creation.
std::string ObjectId(const json& meta) {
  const std::string uid = Str(meta, "uid");
  return !uid.empty() ? uid
                      : Str(meta, "namespace") + "/" + Str(meta, "name") + "@" + Str(meta, "creationTimestamp");
}

// When the container's last termination ended, as the kubelet wrote it: the
// same instant in `state.terminated` (before the restart) and in
// `lastState.terminated` (after it), so it names one OOM kill whichever of
// the two a watcher saw first. Falls back to the restart count.
std::string TerminationId(const json& cs, int64_t restarts) {
  for (const char* where : {"state", "lastState"}) {
    const json& t = Field(Field(cs, where), "terminated");
    if (!Str(t, "finishedAt").empty()) {
      return "finished=" + Str(t, "finishedAt");
    }
  }
  return "restarts=" + std::to_string(restarts);
}

}  // namespace

std::string PodKey(const json& obj) {
  const json& meta = Field(obj, "metadata");
  std::string kind = Str(obj, "kind");
  std::string ns = Str(meta, "namespace");
  return kind + "/" + (ns.empty() ? "" : ns + "/") + Str(meta, "name");
}

KubeStateTracker::KubeStateTracker(KubeStateOptions options, ProducerIdentity who, const Clock& clock,
                                   OwnerLookup owners)
    : opt_(std::move(options)), who_(std::move(who)), clock_(clock), owners_(std::move(owners)) {}

size_t KubeStateTracker::active() const {
  size_t n = 0;
  for (const auto& [k, m] : active_) {
    n += m.size();
  }
  return n;
}

v1::Target KubeStateTracker::PodTarget(const json& pod) {
  const json& meta = Field(pod, "metadata");
  v1::Target t;
  t.set_cluster(opt_.cluster);
  t.set_namespace_(Str(meta, "namespace"));
  t.set_kind("Pod");
  t.set_name(Str(meta, "name"));
  for (const auto& [k, v] : Labels(meta)) {
    (*t.mutable_labels())[k] = v;
  }
  // The per-object opt-out travels with the event so the gate sees it too
  // (the executor re-reads it on the live object).
  if (const json& ann = Field(meta, "annotations"); ann.is_object() && ann.contains(kRemediateKey) &&
                                                    ann[kRemediateKey].is_string()) {
    (*t.mutable_labels())[kRemediateKey] = ann[kRemediateKey].get<std::string>();
  }
  const json& refs = Field(meta, "ownerReferences");
  if (refs.is_array()) {
    for (const auto& r : refs) {
      if (!Bool(r, "controller")) {
        continue;
      }
      std::string kind = Str(r, "kind");
      std::string name = Str(r, "name");
      if (owners_ && kind == "ReplicaSet") {
        auto [ok, on] = owners_(t.namespace_(), kind, name);
        if (!ok.empty()) {
          kind = ok;
          name = on;
        }
      }
      t.set_owner_kind(kind);
      t.set_owner_name(name);
      break;
    }
  }
  return t;
}

std::vector<KubeCondition> KubeStateTracker::PodConditions(const std::string& key, PodMemo& memo) {
  std::vector<KubeCondition> out;
  const json& pod = memo.pod;
  const json& meta = Field(pod, "metadata");
  const json& status = Field(pod, "status");
  const std::string pod_name = Str(meta, "namespace") + "/" + Str(meta, "name");
  const std::string uid = ObjectId(meta);
  const int64_t now = ToUnixMillis(clock_.Now());
  static const std::map<std::string, Active> kNone;
  auto found = active_.find(key);
  const auto& active = found == active_.end() ? kNone : found->second;

  const std::string phase = Str(status, "phase");
  if (phase == "Pending") {
    TimePoint created;
    if (ParseRfc3339(Str(meta, "creationTimestamp"), &created)) {
      int64_t age = now - ToUnixMillis(created);
      if (age > opt_.pending_timeout.count()) {
        KubeCondition c;
        c.name = "PodStuckPending";
        c.fingerprint = Fp(key, "", c.name);
        c.observation = uid;  // a pod is Pending once
        const json& conds = Field(status, "conditions");
        if (conds.is_array()) {
          for (const auto& pc : conds) {
            if (Str(pc, "type") == "PodScheduled" && Str(pc, "status") == "False") {
              c.reason = Str(pc, "reason");
            }
          }
        }
        c.summary = "Pod " + pod_name + " has been Pending for " + std::to_string(age / 1000) + "s" +
                    (c.reason.empty() ? "" : " (" + c.reason + ")");
        c.has_value = true;
        c.value = static_cast<double>(age) / 1000.0;
        c.threshold = static_cast<double>(opt_.pending_timeout.count()) / 1000.0;
        out.push_back(c);
      }
    }
  }

  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const json& statuses = Field(status, list);
    if (!statuses.is_array()) {
      continue;
    }
    for (const auto& cs : statuses) {
      const std::string container = Str(cs, "name");
      const bool ready = Bool(cs, "ready");
      const json& state = Field(cs, "state");
      const std::string waiting = Str(Field(state, "waiting"), "reason");
      const int64_t restarts = Int(cs, "restartCount");
      // Conditions that flap with the kubelet's back-off (waiting → running →
      // terminated → waiting) stay firing until the container has been ready
      // for recovery_stable.
      if (!ready) {
        memo.ready_since.erase(container);
      } else if (memo.ready_since.count(container) == 0) {
        memo.ready_since[container] = now;
      }
      const bool stable = ready && now - memo.ready_since[container] >= opt_.recovery_stable.count();
      auto keep_sticky = [&](const KubeCondition& c) {
        auto it = active.find(c.fingerprint);
        if (it != active.end() && !stable) {
          out.push_back(it->second.condition);
        }
      };

      // OOMKilled: the container's most recent termination was an OOM kill.
      std::string term_reason = Str(Field(state, "terminated"), "reason");
      if (term_reason.empty()) {
        term_reason = Str(Field(Field(cs, "lastState"), "terminated"), "reason");
      }
      if (term_reason == "OOMKilled") {
        KubeCondition c;
        c.name = "OOMKilled";
        c.reason = "OOMKilled";
        c.container = container;
        c.fingerprint = Fp(key, container, c.name);
        c.observation = uid + "/" + TerminationId(cs, restarts);
        c.severity = v1::SEVERITY_CRITICAL;
        c.summary = "Container " + container + " of pod " + pod_name + " was OOM-killed (restarts: " +
                    std::to_string(restarts) + ")";
        c.has_value = true;
        c.value = static_cast<double>(restarts);
        out.push_back(c);
      }

      // CrashLoopBackOff: fires on the waiting reason and stays firing while
      // the container flips between running and back-off, until it is ready.
      {
        KubeCondition c;
        c.name = "CrashLoopBackOff";
        c.reason = "CrashLoopBackOff";
        c.container = container;
        c.fingerprint = Fp(key, container, c.name);
        c.observation = uid + "/restarts=" + std::to_string(restarts);
        c.severity = v1::SEVERITY_WARNING;
        c.sticky_until_ready = true;
        c.summary = "Container " + container + " of pod " + pod_name + " is in CrashLoopBackOff (restarts: " +
                    std::to_string(restarts) + ")";
        c.has_value = true;
        c.value = static_cast<double>(restarts);
        if (waiting == "CrashLoopBackOff") {
          out.push_back(c);
        } else {
          keep_sticky(c);
        }
      }

      {
        KubeCondition c;
        c.name = "ImagePullBackOff";
        c.reason = waiting;
        c.container = container;
        c.fingerprint = Fp(key, container, c.name);
        c.sticky_until_ready = true;
        std::string image = Str(cs, "image");
        c.observation = uid + "/image=" + image;
        c.summary = "Container " + container + " of pod " + pod_name + " cannot pull image " + image;
        if (waiting == "ImagePullBackOff" || waiting == "ErrImagePull" || waiting == "InvalidImageName") {
          out.push_back(c);
        } else {
          keep_sticky(c);
        }
      }

      // Restart burst: restartCount grew by restart_burst_count or more
      // within the window.
      auto& samples = memo.restarts[container];
      if (samples.empty() || samples.back().second != restarts) {
        samples.emplace_back(now, restarts);
      }
      // Keep at most one sample from before the window: the count at the
      // window's start. Without one, restarts count from the first sighting.
      while (samples.size() >= 2 && samples[1].first <= now - opt_.restart_burst_window.count()) {
        samples.erase(samples.begin());
      }
      const int64_t grew = restarts - samples.front().second;
      if (grew >= opt_.restart_burst_count) {
        KubeCondition c;
        c.name = "RestartBurst";
        c.reason = "RestartBurst";
        c.container = container;
        c.fingerprint = Fp(key, container, c.name);
        c.observation = uid + "/restarts=" + std::to_string(restarts);
        c.summary = "Container " + container + " of pod " + pod_name + " restarted " + std::to_string(grew) +
                    " times in " + std::to_string(opt_.restart_burst_window.count() / 1000) + "s";
        c.has_value = true;
        c.value = static_cast<double>(grew);
        c.threshold = static_cast<double>(opt_.restart_burst_count);
        out.push_back(c);
      }
    }
  }
  return out;
}

std::vector<KubeCondition> KubeStateTracker::NodeConditions(const json& node) const {
  std::vector<KubeCondition> out;
  const std::string key = PodKey(node);
  const std::string name = Str(Field(node, "metadata"), "name");
  const std::string uid = ObjectId(Field(node, "metadata"));
  const json& conds = Field(Field(node, "status"), "conditions");
  if (!conds.is_array()) {
    return out;
  }
  for (const auto& c : conds) {
    const std::string type = Str(c, "type");
    const std::string st = Str(c, "status");
    KubeCondition k;
    k.reason = Str(c, "reason");
    if (type == "Ready" && st != "True") {
      k.name = "NodeNotReady";
      k.severity = v1::SEVERITY_CRITICAL;
      k.summary = "Node " + name + " is not ready (Ready=" + st + (k.reason.empty() ? "" : ", " + k.reason) + ")";
    } else if ((type == "MemoryPressure" || type == "DiskPressure" || type == "PIDPressure") && st == "True") {
      k.name = "Node" + type;
      k.summary = "Node " + name + " has " + type;
    } else {
      continue;
    }
    k.fingerprint = Fp(key, "", k.name);
    // A kubelet (or the node controller) sets lastTransitionTime when the
    // status flips: one transition, one occurrence.
    k.observation = uid + "/" + type + "=" + st + "@" + Str(c, "lastTransitionTime");
    out.push_back(k);
  }
  return out;
}

v1::Event KubeStateTracker::Build(const KubeCondition& c, const v1::Target& target, v1::SignalStatus status,
                                  const std::string& incident_id, const std::string& observation) const {
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_SIGNAL, who_, clock_);
  if (!observation.empty()) {
    e.set_event_id(DerivedUuid(c.fingerprint, std::string(status == v1::SIGNAL_STATUS_RESOLVED ? "signal/resolved/"
                                                                                                 : "signal/firing/") +
                                                   observation));
  }
  e.set_incident_id(incident_id);
  *e.mutable_target() = target;
  if (!c.container.empty()) {
    e.mutable_target()->set_container(c.container);
  }
  v1::Signal* s = e.mutable_signal();
  s->set_source(v1::SIGNAL_SOURCE_KUBERNETES);
  s->set_name(c.name);
  s->set_reason(c.reason);
  s->set_fingerprint(c.fingerprint);
  s->set_status(status);
  s->set_severity(c.severity);
  s->set_summary(status == v1::SIGNAL_STATUS_RESOLVED ? "Resolved: " + c.summary : c.summary);
  s->set_has_value(c.has_value);
  s->set_value(c.value);
  s->set_threshold(c.threshold);
  for (const auto& [k, v] : target.labels()) {
    (*s->mutable_labels())[k] = v;
  }
  if (!target.namespace_().empty()) {
    (*s->mutable_labels())["namespace"] = target.namespace_();
  }
  if (status == v1::SIGNAL_STATUS_FIRING) {
    SetTimestamp(s->mutable_starts_at(), clock_.Now());
  } else {
    SetTimestamp(s->mutable_ends_at(), clock_.Now());
  }
  return e;
}

std::vector<v1::Event> KubeStateTracker::Diff(const std::string& key, const v1::Target& target,
                                              const std::vector<KubeCondition>& now) {
  std::vector<v1::Event> out;
  auto& act = active_[key];
  std::set<std::string> present;
  for (const auto& c : now) {
    present.insert(c.fingerprint);
    if (act.count(c.fingerprint) != 0) {
      act[c.fingerprint].condition = c;  // latest value for the resolved summary
      continue;
    }
    std::string incident = DerivedUuid(c.fingerprint, "incident/" + c.observation);
    act[c.fingerprint] = {c, target, incident, c.observation};
    out.push_back(Build(c, target, v1::SIGNAL_STATUS_FIRING, incident, c.observation));
  }
  for (auto it = act.begin(); it != act.end();) {
    if (present.count(it->first) == 0) {
      out.push_back(Build(it->second.condition, it->second.target, v1::SIGNAL_STATUS_RESOLVED, it->second.incident_id,
                          it->second.observation));
      it = act.erase(it);
    } else {
      ++it;
    }
  }
  if (act.empty()) {
    active_.erase(key);
  }
  return out;
}

std::vector<v1::Event> KubeStateTracker::ResolveAll(const std::string& key) {
  std::vector<v1::Event> out;
  auto it = active_.find(key);
  if (it == active_.end()) {
    return out;
  }
  for (const auto& [fp, a] : it->second) {
    out.push_back(Build(a.condition, a.target, v1::SIGNAL_STATUS_RESOLVED, a.incident_id, a.observation));
  }
  active_.erase(it);
  return out;
}

std::vector<v1::Event> KubeStateTracker::OnPod(const json& pod, bool deleted) {
  json obj = pod;
  if (obj.is_object() && !obj.contains("kind")) {
    obj["kind"] = "Pod";
  }
  const std::string key = PodKey(obj);
  if (deleted) {
    pods_.erase(key);
    return ResolveAll(key);
  }
  auto& memo = pods_[key];
  memo.pod = obj;
  auto conds = PodConditions(key, memo);
  v1::Target target;
  auto it = active_.find(key);
  if (!conds.empty() || it != active_.end()) {
    target = PodTarget(obj);
  }
  return Diff(key, target, conds);
}

std::vector<v1::Event> KubeStateTracker::OnNode(const json& node, bool deleted) {
  json obj = node;
  if (obj.is_object() && !obj.contains("kind")) {
    obj["kind"] = "Node";
  }
  const std::string key = PodKey(obj);
  if (deleted) {
    return ResolveAll(key);
  }
  v1::Target t;
  t.set_cluster(opt_.cluster);
  t.set_kind("Node");
  t.set_name(Str(Field(obj, "metadata"), "name"));
  for (const auto& [k, v] : Labels(Field(obj, "metadata"))) {
    (*t.mutable_labels())[k] = v;
  }
  return Diff(key, t, NodeConditions(obj));
}

std::vector<v1::Event> KubeStateTracker::OnEvent(const json& ev, bool deleted) {
  std::vector<v1::Event> out;
  const json& meta = Field(ev, "metadata");
  const std::string uid = Str(meta, "uid").empty() ? Str(meta, "namespace") + "/" + Str(meta, "name") : Str(meta, "uid");
  if (deleted) {
    seen_events_.erase(uid);
    return out;
  }
  if (Str(ev, "type") != "Warning" || seen_events_.count(uid) != 0) {
    return out;
  }
  seen_events_.insert(uid);
  const json& inv = Field(ev, "involvedObject");
  v1::Target t;
  t.set_cluster(opt_.cluster);
  t.set_kind(Str(inv, "kind"));
  t.set_name(Str(inv, "name"));
  t.set_namespace_(Str(inv, "namespace"));
  if (t.kind() == "Node") {
    t.set_namespace_("");
  }
  KubeCondition c;
  c.name = Str(ev, "reason").empty() ? "WarningEvent" : Str(ev, "reason");
  c.reason = c.name;
  c.fingerprint = "k8s/Event/" + uid;
  c.summary = t.kind() + " " + (t.namespace_().empty() ? "" : t.namespace_() + "/") + t.name() + ": " +
              Str(ev, "message");
  c.has_value = Int(ev, "count") > 0;
  c.value = static_cast<double>(Int(ev, "count"));
  // One signal per Event object (its uid is the observation), also after a
  // relist or a restart.
  v1::Event e = Build(c, t, v1::SIGNAL_STATUS_FIRING, DerivedUuid(c.fingerprint, "incident"), "event=" + uid);
  (*e.mutable_signal()->mutable_labels())["event_type"] = "Warning";
  out.push_back(std::move(e));
  return out;
}

std::vector<v1::Event> KubeStateTracker::SyncPods(const std::vector<json>& items) {
  std::vector<v1::Event> out;
  std::set<std::string> keys;
  for (const auto& p : items) {
    json obj = p;
    if (obj.is_object() && !obj.contains("kind")) {
      obj["kind"] = "Pod";
    }
    keys.insert(PodKey(obj));
    auto ev = OnPod(obj, false);
    out.insert(out.end(), ev.begin(), ev.end());
  }
  std::vector<std::string> gone;
  for (const auto& [k, memo] : pods_) {
    if (keys.count(k) == 0) {
      gone.push_back(k);
    }
  }
  for (const auto& [k, m] : active_) {
    if (k.rfind("Pod/", 0) == 0 && keys.count(k) == 0) {
      gone.push_back(k);
    }
  }
  for (const auto& k : gone) {
    pods_.erase(k);
    auto ev = ResolveAll(k);
    out.insert(out.end(), ev.begin(), ev.end());
  }
  return out;
}

std::vector<v1::Event> KubeStateTracker::SyncNodes(const std::vector<json>& items) {
  std::vector<v1::Event> out;
  std::set<std::string> keys;
  for (const auto& n : items) {
    json obj = n;
    if (obj.is_object() && !obj.contains("kind")) {
      obj["kind"] = "Node";
    }
    keys.insert(PodKey(obj));
    auto ev = OnNode(obj, false);
    out.insert(out.end(), ev.begin(), ev.end());
  }
  std::vector<std::string> gone;
  for (const auto& [k, m] : active_) {
    if (k.rfind("Node/", 0) == 0 && keys.count(k) == 0) {
      gone.push_back(k);
    }
  }
  for (const auto& k : gone) {
    auto ev = ResolveAll(k);
    out.insert(out.end(), ev.begin(), ev.end());
  }
  return out;
}

std::vector<v1::Event> KubeStateTracker::SyncEvents(const std::vector<json>& items) {
  std::vector<v1::Event> out;
  for (const auto& e : items) {
    auto ev = OnEvent(e, false);
    out.insert(out.end(), ev.begin(), ev.end());
  }
  return out;
}

std::vector<v1::Event> KubeStateTracker::Tick() {
  std::vector<v1::Event> out;
  std::vector<std::string> keys;
  for (const auto& [k, memo] : pods_) {
    keys.push_back(k);
  }
  for (const auto& k : keys) {
    auto& memo = pods_[k];
    auto conds = PodConditions(k, memo);
    auto it = active_.find(k);
    if (conds.empty() && it == active_.end()) {
      continue;
    }
    auto ev = Diff(k, PodTarget(memo.pod), conds);
    out.insert(out.end(), ev.begin(), ev.end());
  }
  return out;
}

std::vector<v1::Event> KubeStateTracker::ResolveStale(const std::string& kind,
                                                      const std::vector<std::string>& firing) {
  std::vector<v1::Event> out;
  const std::string prefix = "k8s/" + kind + "/";
  for (const auto& fp : firing) {
    if (fp.rfind(prefix, 0) != 0) {
      continue;
    }
    bool known = false;
    for (const auto& [k, m] : active_) {
      if (m.count(fp) != 0) {
        known = true;
        break;
      }
    }
    if (known) {
      continue;
    }
    // k8s/<Kind>/<ns>/<name>[/<container>]/<Condition>
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      size_t slash = fp.find('/', start);
      parts.push_back(fp.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
      if (slash == std::string::npos) {
        break;
      }
      start = slash + 1;
    }
    KubeCondition c;
    c.fingerprint = fp;
    c.name = parts.back();
    v1::Target t;
    t.set_cluster(opt_.cluster);
    t.set_kind(kind);
    if (kind == "Node" && parts.size() >= 4) {
      t.set_name(parts[2]);
    } else if (parts.size() >= 5) {
      t.set_namespace_(parts[2]);
      t.set_name(parts[3]);
      if (parts.size() >= 6) {
        c.container = parts[4];
      }
    }
    c.summary = c.name + " on " + TargetString(t) + " cleared while the collector was not watching";
    out.push_back(Build(c, t, v1::SIGNAL_STATUS_RESOLVED, DerivedUuid(fp, "incident/stale"), ""));
  }
  return out;
}

}  // namespace kubemend::collector
