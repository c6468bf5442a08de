#include "cluster_facts.h"

#include <algorithm>

#include "kubemend/common/protection.h"

namespace kubemend::collector {
namespace {

using nlohmann::json;

constexpr const char* kRevision = "deployment.kubernetes.io/revision";

const json& At(const json& j, const char* k) {
  static const json kNull;
  if (!j.is_object()) {
    return kNull;
  }
  auto it = j.find(k);
  return it == j.end() ? kNull : *it;
}

std::string Str(const json& j, const char* k) {
  const json& v = At(j, k);
  return v.is_string() ? v.get<std::string>() : "";
}

int64_t Int(const json& j, const char* k) {
  const json& v = At(j, k);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

// The controlling owner reference: (kind, name), empty when none.
std::pair<std::string, std::string> Controller(const json& meta) {
  const json& refs = At(meta, "ownerReferences");
  if (refs.is_array()) {
    for (const auto& r : refs) {
      if (At(r, "controller").is_boolean() && At(r, "controller").get<bool>()) {
        return {Str(r, "kind"), Str(r, "name")};
      }
    }
  }
  return {};
}

}  // namespace

ClusterFacts::Pod ClusterFacts::ReadPod(const json& pod) const {
  Pod p;
  const json& meta = At(pod, "metadata");
  std::tie(p.owner_kind, p.owner_name) = Controller(meta);
  const json& spec = At(pod, "spec");
  p.node = Str(spec, "nodeName");
  const json& containers = At(spec, "containers");
  if (containers.is_array()) {
    for (const auto& c : containers) {
      Container info;
      info.image = Str(c, "image");
      const json& res = At(c, "resources");
      info.memory_limit = Str(At(res, "limits"), "memory");
      info.memory_request = Str(At(res, "requests"), "memory");
      p.containers.emplace_back(Str(c, "name"), info);
    }
  }
  const json& statuses = At(At(pod, "status"), "containerStatuses");
  if (statuses.is_array()) {
    for (const auto& s : statuses) {
      std::string name = Str(s, "name");
      auto it = std::find_if(p.containers.begin(), p.containers.end(),
                             [&](const auto& c) { return c.first == name; });
      if (it == p.containers.end()) {
        continue;
      }
      Container& c = it->second;
      c.has_status = true;
      c.restarts = Int(s, "restartCount");
      c.waiting_reason = Str(At(At(s, "state"), "waiting"), "reason");
      const json& last = At(At(s, "lastState"), "terminated");
      if (last.is_object()) {
        c.has_last = true;
        c.last_reason = Str(last, "reason");
        c.last_exit = Int(last, "exitCode");
      }
    }
  }
  return p;
}

void ClusterFacts::SyncPods(const std::vector<json>& items) {
  std::map<std::string, Pod> fresh;
  for (const auto& p : items) {
    const json& meta = At(p, "metadata");
    fresh[Key(Str(meta, "namespace"), Str(meta, "name"))] = ReadPod(p);
  }
  std::lock_guard<std::mutex> l(mu_);
  pods_ = std::move(fresh);
}

void ClusterFacts::OnPod(const json& pod, bool deleted) {
  const json& meta = At(pod, "metadata");
  std::string key = Key(Str(meta, "namespace"), Str(meta, "name"));
  Pod p = ReadPod(pod);
  const TimePoint now = clock_.Now();
  std::lock_guard<std::mutex> l(mu_);
  // Deleted pods are kept a while (late alerts), then forgotten.
  while (!deleted_pods_.empty() && deleted_pods_.front().first <= now - kDeletedPodKept) {
    auto it = pods_.find(deleted_pods_.front().second);
    if (it != pods_.end() && it->second.deleted) {
      pods_.erase(it);
    }
    deleted_pods_.pop_front();
  }
  if (deleted) {
    p.deleted = true;
    deleted_pods_.emplace_back(now, key);
  }
  pods_[key] = std::move(p);
}

void ClusterFacts::PutReplicaSet(const json& rs, bool from_watch) {
  const json& meta = At(rs, "metadata");
  std::string key = Key(Str(meta, "namespace"), Str(meta, "name"));
  ReplicaSet r;
  auto [kind, name] = Controller(meta);
  if (kind == "Deployment") {
    r.deployment = name;
  }
  std::string rev = Str(At(meta, "annotations"), kRevision);
  r.revision = rev.empty() ? 0 : std::strtoll(rev.c_str(), nullptr, 10);
  const json& containers = At(At(At(At(rs, "spec"), "template"), "spec"), "containers");
  if (containers.is_array()) {
    for (const auto& c : containers) {
      r.images[Str(c, "name")] = Str(c, "image");
    }
  }
  r.since = Str(meta, "creationTimestamp");
  auto old = replicasets_.find(key);
  if (old != replicasets_.end() && old->second.revision == r.revision) {
    r.since = old->second.since;
  } else if (from_watch && old != replicasets_.end()) {
    // An older ReplicaSet made current again (a rollback, or a rollout back
    // to a template seen before): its revision moved now, not at creation.
    r.since = FormatRfc3339(clock_.Now());
  }
  if (r.since.empty()) {
    r.since = FormatRfc3339(clock_.Now());
  }
  replicasets_[key] = std::move(r);
}

void ClusterFacts::SyncReplicaSets(const std::vector<json>& items) {
  std::lock_guard<std::mutex> l(mu_);
  // Entries already held keep the `since` of revisions seen before a relist.
  std::map<std::string, bool> present;
  for (const auto& rs : items) {
    const json& meta = At(rs, "metadata");
    present[Key(Str(meta, "namespace"), Str(meta, "name"))] = true;
    PutReplicaSet(rs, false);
  }
  for (auto it = replicasets_.begin(); it != replicasets_.end();) {
    it = present.count(it->first) ? std::next(it) : replicasets_.erase(it);
  }
}

void ClusterFacts::OnReplicaSet(const json& rs, bool deleted) {
  std::lock_guard<std::mutex> l(mu_);
  if (deleted) {
    const json& meta = At(rs, "metadata");
    replicasets_.erase(Key(Str(meta, "namespace"), Str(meta, "name")));
    return;
  }
  PutReplicaSet(rs, true);
}

void ClusterFacts::SyncDeployments(const std::vector<json>& items) {
  std::map<std::string, int64_t> fresh;
  for (const auto& d : items) {
    const json& meta = At(d, "metadata");
    const json& r = At(At(d, "spec"), "replicas");
    fresh[Key(Str(meta, "namespace"), Str(meta, "name"))] = r.is_number_integer() ? r.get<int64_t>() : 1;
  }
  std::lock_guard<std::mutex> l(mu_);
  deployment_replicas_ = std::move(fresh);
}

void ClusterFacts::OnDeployment(const json& d, bool deleted) {
  const json& meta = At(d, "metadata");
  std::string key = Key(Str(meta, "namespace"), Str(meta, "name"));
  const json& r = At(At(d, "spec"), "replicas");
  std::lock_guard<std::mutex> l(mu_);
  if (deleted) {
    deployment_replicas_.erase(key);
  } else {
    deployment_replicas_[key] = r.is_number_integer() ? r.get<int64_t>() : 1;  // the API's default
  }
}

namespace {
// The Namespace's kubemend.io/remediate value (annotation first, then label), "" when unset.
std::string RemediateValue(const json& ns) {
  const json& meta = At(ns, "metadata");
  std::string v = Str(At(meta, "annotations"), kRemediateKey);
  return v.empty() ? Str(At(meta, "labels"), kRemediateKey) : v;
}
}  // namespace

void ClusterFacts::SyncNamespaces(const std::vector<json>& items) {
  std::map<std::string, std::string> fresh;
  for (const auto& ns : items) {
    if (std::string v = RemediateValue(ns); !v.empty()) {
      fresh[Str(At(ns, "metadata"), "name")] = v;
    }
  }
  std::lock_guard<std::mutex> l(mu_);
  namespace_optout_ = std::move(fresh);
}

void ClusterFacts::OnNamespace(const json& ns, bool deleted) {
  std::string name = Str(At(ns, "metadata"), "name");
  std::string v = deleted ? "" : RemediateValue(ns);
  std::lock_guard<std::mutex> l(mu_);
  if (v.empty()) {
    namespace_optout_.erase(name);
  } else {
    namespace_optout_[name] = v;
  }
}

void ClusterFacts::AddPodFacts(const Pod& pod, const std::string& want,
                               std::map<std::string, std::string>* facts,
                               std::string* container) const {
  auto& f = *facts;
  if (!pod.owner_kind.empty()) {
    f["ownerKind"] = pod.owner_kind;
    f["ownerName"] = pod.owner_name;
  }
  if (!pod.node.empty()) {
    f["node"] = pod.node;
  }
  if (pod.deleted) {
    f["podDeleted"] = "true";
  }
  const Container* c = nullptr;
  for (const auto& [name, info] : pod.containers) {
    if (want.empty() ? (!c || info.restarts > c->restarts) : name == want) {
      c = &info;
      *container = name;
    }
  }
  if (!c) {
    return;
  }
  f["container"] = *container;
  f["image"] = c->image;
  if (!c->memory_limit.empty()) {
    f["memoryLimit"] = c->memory_limit;
  }
  if (!c->memory_request.empty()) {
    f["memoryRequest"] = c->memory_request;
  }
  if (!c->has_status) {
    return;
  }
  f["restartCount"] = std::to_string(c->restarts);
  if (!c->waiting_reason.empty()) {
    f["waitingReason"] = c->waiting_reason;
  }
  if (c->has_last) {
    f["lastTerminationReason"] = c->last_reason;
    f["lastExitCode"] = std::to_string(c->last_exit);
  }
}

void ClusterFacts::AddRolloutFacts(const std::string& ns, const std::string& deployment,
                                   const std::string& want,
                                   std::map<std::string, std::string>* facts) const {
  std::vector<const ReplicaSet*> revs;
  const std::string prefix = ns + "/";
  for (auto it = replicasets_.lower_bound(prefix);
       it != replicasets_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (it->second.deployment == deployment && it->second.revision > 0) {
      revs.push_back(&it->second);
    }
  }
  if (revs.empty()) {
    return;
  }
  std::sort(revs.begin(), revs.end(),
            [](const ReplicaSet* a, const ReplicaSet* b) { return a->revision > b->revision; });
  const ReplicaSet& cur = *revs.front();
  std::string container = want;
  if (container.empty() && cur.images.size() == 1) {
    container = cur.images.begin()->first;
  }
  auto img = cur.images.find(container);
  (*facts)["revision"] = std::to_string(cur.revision);
  if (img == cur.images.end()) {
    return;
  }
  // imageHistory: every distinct image of the older revisions, newest first
  // (the only images a RollbackImage may pick); previousImage is its head.
  std::vector<std::string> history;
  for (size_t i = 1; i < revs.size() && history.size() < kImageHistoryMax; ++i) {
    auto old = revs[i]->images.find(container);
    if (old == revs[i]->images.end() || old->second == img->second || old->second.empty() ||
        std::find(history.begin(), history.end(), old->second) != history.end()) {
      continue;
    }
    if (history.empty()) {
      (*facts)["previousImage"] = old->second;
      (*facts)["imageChangedAt"] = cur.since;
    }
    history.push_back(old->second);
  }
  if (!history.empty()) {
    std::string joined;
    for (const auto& h : history) {
      joined += (joined.empty() ? "" : ",") + h;
    }
    (*facts)["imageHistory"] = joined;
  }
}

bool ClusterFacts::Enrich(v1::Event* e) const {
  v1::Target* t = e->mutable_target();
  std::map<std::string, std::string> facts;
  std::string container = t->container();
  std::lock_guard<std::mutex> l(mu_);
  std::string deployment;
  if (t->kind() == "Pod") {
    auto it = pods_.find(Key(t->namespace_(), t->name()));
    if (it != pods_.end()) {
      AddPodFacts(it->second, t->container(), &facts, &container);
      std::string kind = it->second.owner_kind, name = it->second.owner_name;
      if (kind == "ReplicaSet") {
        auto rs = replicasets_.find(Key(t->namespace_(), name));
        if (rs != replicasets_.end() && !rs->second.deployment.empty()) {
          kind = "Deployment";
          name = rs->second.deployment;
        }
      }
      if (!kind.empty()) {
        facts["ownerKind"] = kind;
        facts["ownerName"] = name;
        if (t->owner_kind().empty()) {
          t->set_owner_kind(kind);
          t->set_owner_name(name);
        }
      }
    }
    if (t->owner_kind() == "Deployment") {
      deployment = t->owner_name();
    }
  } else if (t->kind() == "Deployment") {
    deployment = t->name();
  }
  if (!deployment.empty()) {
    AddRolloutFacts(t->namespace_(), deployment, container, &facts);
    if (auto d = deployment_replicas_.find(Key(t->namespace_(), deployment)); d != deployment_replicas_.end()) {
      facts["replicas"] = std::to_string(d->second);
    }
  }
  if (auto ns = namespace_optout_.find(t->namespace_()); !t->namespace_().empty() && ns != namespace_optout_.end()) {
    facts["namespaceRemediate"] = ns->second;
  }
  if (facts.empty()) {
    return false;
  }
  auto& out = *e->mutable_signal()->mutable_facts();
  for (auto& [k, v] : facts) {
    out[k] = std::move(v);
  }
  return true;
}

size_t ClusterFacts::pods() const {
  std::lock_guard<std::mutex> l(mu_);
  return static_cast<size_t>(
      std::count_if(pods_.begin(), pods_.end(), [](const auto& p) { return !p.second.deleted; }));
}

size_t ClusterFacts::deployments() const {
  std::lock_guard<std::mutex> l(mu_);
  return deployment_replicas_.size();
}

size_t ClusterFacts::replicasets() const {
  std::lock_guard<std::mutex> l(mu_);
  return replicasets_.size();
}

}  // namespace kubemend::collector
