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
    watch_errors_.fetch_add(1);
    FirstDone(kind.kind);
    if (options_.on_error) {
      options_.on_error(kind.kind + " watch: " + e.ToString());
    }
  };
  watchers_.push_back(client_->Watch(TypeOf(kind), "", kube::WatchOptions{}, std::move(cb)));
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
  for (auto& w : watchers_) {
    w->Stop();
  }
  watchers_.clear();
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
