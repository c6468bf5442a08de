#include "facts_source.h"

namespace kubemend::collector {

void FactsSource::Start() {
  auto watch = [this](const kube::ResourceType& type, bool pods) {
    kube::WatchCallbacks cb;
    cb.on_sync = [this, pods](const kube::WatchSync& s) {
      pods ? facts_->SyncPods(s.items) : facts_->SyncReplicaSets(s.items);
    };
    cb.on_event = [this, pods](const kube::WatchEvent& e) {
      if (e.type == kube::WatchEventType::kBookmark) {
        return;
      }
      const bool deleted = e.type == kube::WatchEventType::kDeleted;
      pods ? facts_->OnPod(e.object, deleted) : facts_->OnReplicaSet(e.object, deleted);
    };
    std::string kind = pods ? "Pod" : "ReplicaSet";
    cb.on_error = [this, kind](const kube::Error& e) {
      publisher_->CountError(kName, kind + " watch: " + e.ToString());
    };
    watchers_.push_back(kube_->Watch(type, "", kube::WatchOptions{}, cb));
  };
  watch(kube::resources::kReplicaSets, false);
  watch(kube::resources::kPods, true);
}

void FactsSource::Stop() {
  for (auto& w : watchers_) {
    w->Stop();
  }
}

std::map<std::string, std::string> FactsSource::Details() const {
  return {{"facts.pods", std::to_string(facts_->pods())},
          {"facts.replicasets", std::to_string(facts_->replicasets())}};
}

}  // namespace kubemend::collector
