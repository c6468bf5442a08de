#include "policy_kube.h"

namespace kubemend::analyzer {

kube::ResourceType KubePolicySync::TypeOf(const PolicyKind& k) {
  return {kPolicyGroup, kPolicyVersion, k.plural, true, k.kind};
}

void KubePolicySync::Start() {
  for (const auto& k : PolicyKinds()) {
    Watch(k);
  }
}

void KubePolicySync::Watch(const PolicyKind& kind) {
  const std::string prefix = std::string(kKubeOriginPrefix) + kind.kind + "/";
  auto key_of = [kind](const nlohmann::json& o) {
    const nlohmann::json md = o.value("metadata", nlohmann::json::object());
    return CrKey{kind.kind, md.value("namespace", ""), md.value("name", "")};
  };
  kube::WatchCallbacks cb;
  cb.on_sync = [this, prefix, kind, key_of](const kube::WatchSync& s) {
    std::vector<PolicyUnit> units;
    std::set<CrKey> present;
    for (const auto& item : s.items) {
      CrKey key = key_of(item);
      units.push_back(UnitFromObject(item, options_.cluster_namespaces));
      book_->Observe(key, item, PolicyStore::UnitHash(units.back()));
      present.insert(key);
    }
    source_->Replace(prefix, std::move(units));
    book_->Retain(kind.kind, present);
    Present(kind);
    FirstDone(kind.kind);
  };
  cb.on_event = [this, key_of](const kube::WatchEvent& e) {
    if (e.type == kube::WatchEventType::kBookmark) {
      return;
    }
    CrKey key = key_of(e.object);
    if (e.type == kube::WatchEventType::kDeleted) {
      source_->Remove(key.Origin());
      book_->Forget(key);
      return;
    }
    PolicyUnit u = UnitFromObject(e.object, options_.cluster_namespaces);
    book_->Observe(key, e.object, PolicyStore::UnitHash(u));
    source_->Upsert(std::move(u));
  };
  cb.on_error = [this, kind](const kube::Error& e) {
    FirstDone(kind.kind);
    if (e.kind == kube::ErrorKind::kNotFound) {
      Absent(kind, e);
      return;
    }
    watch_errors_.fetch_add(1);
    if (options_.on_error) {
      options_.on_error(kind.kind + " watch: " + e.ToString());
    }
  };
  // Under the lock: a 404 on the new watcher's thread (Absent) waits until
  // the watcher is in the map, so it can stop it.
  std::lock_guard<std::mutex> l(watch_mu_);
  watchers_[kind.kind] = client_->Watch(TypeOf(kind), "", kube::WatchOptions{}, std::move(cb));
}

// On the watcher's thread: the CRD is not installed. Say so once, stop this
// watch (from inside its callback Stop() only asks), and let RecheckAbsent
// look again later instead of the watch's 30 s backoff forever.
void KubePolicySync::Absent(const PolicyKind& kind, const kube::Error& e) {
  bool first = false;
  {
    std::lock_guard<std::mutex> l(watch_mu_);
    first = absent_.count(kind.kind) == 0;
    absent_[kind.kind] = std::chrono::steady_clock::now();
    if (auto w = watchers_.find(kind.kind); w != watchers_.end() && w->second) {
      w->second->Stop();
    }
  }
  if (first && options_.on_info) {
    const auto mins = std::chrono::duration_cast<std::chrono::minutes>(options_.absent_recheck).count();
    options_.on_info(kind.kind + " policies are off: the CRD " + kind.plural + "." + kPolicyGroup +
                     " is not installed (" + e.ToString() +
                     "); install it from deploy/k8s/base or the Helm chart's crds/; looking again every " +
                     (mins > 0 ? std::to_string(mins) + "m"
                               : std::to_string(options_.absent_recheck.count()) + "ms"));
  }
}

void KubePolicySync::Present(const PolicyKind& kind) {
  bool was_absent = false;
  {
    std::lock_guard<std::mutex> l(watch_mu_);
    was_absent = absent_.erase(kind.kind) > 0;
  }
  if (was_absent && options_.on_info) {
    options_.on_info("the CRD " + kind.plural + "." + kPolicyGroup + " is installed now: " + kind.kind +
                     " policies load");
  }
}

int KubePolicySync::RecheckAbsent(std::chrono::steady_clock::time_point now) {
  std::vector<std::unique_ptr<kube::Watcher>> old;
  std::vector<const PolicyKind*> due;
  {
    std::lock_guard<std::mutex> l(watch_mu_);
    for (const auto& k : PolicyKinds()) {
      auto a = absent_.find(k.kind);
      if (a == absent_.end() || now - a->second < options_.absent_recheck) {
        continue;
      }
      a->second = now;  // the new watch's 404, if any, sets it again
      if (auto w = watchers_.find(k.kind); w != watchers_.end()) {
        old.push_back(std::move(w->second));
        watchers_.erase(w);
      }
      due.push_back(&k);
    }
  }
  old.clear();  // stopped and joined outside the lock
  for (const auto* k : due) {
    Watch(*k);
  }
  return static_cast<int>(due.size());
}

std::vector<std::string> KubePolicySync::AbsentKinds() const {
  std::lock_guard<std::mutex> l(watch_mu_);
  std::vector<std::string> out;
  for (const auto& [k, at] : absent_) {
    out.push_back(k);
  }
  return out;
}

void KubePolicySync::FirstDone(const std::string& kind) {
  std::lock_guard<std::mutex> l(first_mu_);
  if (first_done_.insert(kind).second) {
    first_cv_.notify_all();
  }
}

bool KubePolicySync::WaitForFirstList(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(first_mu_);
  return first_cv_.wait_for(l, timeout, [&] { return first_done_.size() >= PolicyKinds().size(); });
}

void KubePolicySync::Stop() {
  std::map<std::string, std::unique_ptr<kube::Watcher>> stopping;
  {
    std::lock_guard<std::mutex> l(watch_mu_);
    stopping.swap(watchers_);
  }
  for (auto& [k, w] : stopping) {
    if (w) {
      w->Stop();
    }
  }
}

int KubePolicySync::FlushStatus(std::vector<std::string>* errors) {
  int written = 0;
  for (auto& w : book_->Pending()) {
    const PolicyKind* kind = nullptr;
    for (const auto& k : PolicyKinds()) {
      kind = k.kind == w.key.kind ? &k : kind;
    }
    if (kind == nullptr) {
      continue;
    }
    kube::ObjectRef ref{TypeOf(*kind), w.key.ns, w.key.name, "status"};
    kube::PatchOptions po;
    po.field_manager = options_.field_manager;
    auto r = client_->Patch(ref, kube::PatchType::kMergePatch, nlohmann::json{{"status", w.status}}, po);
    if (r.ok()) {
      book_->Written(w.key, w.status);
      ++written;
    } else if (r.error().kind == kube::ErrorKind::kNotFound) {
      book_->Forget(w.key);  // deleted meanwhile; the watch says so soon
    } else {
      errors->push_back(w.key.kind + " " + w.key.ns + "/" + w.key.name + ": status: " + r.error().ToString());
    }
  }
  return written;
}

}  // namespace kubemend::analyzer
