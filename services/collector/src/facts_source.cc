#include "facts_source.h"

namespace kubemend::collector {

void FactsSource::Start() {
  // One watch per kind; `sync` takes a full list, `apply` one watch event.
  using Sync = void (ClusterFacts::*)(const std::vector<nlohmann::json>&);
  using Apply = void (ClusterFacts::*)(const nlohmann::json&, bool);
  auto watch = [this](const kube::ResourceType& type, Sync sync, Apply apply) {
    kube::WatchCallbacks cb;
    cb.on_sync = [this, sync](const kube::WatchSync& s) { (facts_->*sync)(s.items); };
    cb.on_event = [this, apply](const kube::WatchEvent& e) {
      if (e.type == kube::WatchEventType::kBookmark) {
        return;
      }
      (facts_->*apply)(e.object, e.type == kube::WatchEventType::kDeleted);
    };
    std::string kind = type.kind;
    cb.on_error = [this, kind](const kube::Error& e) {
      publisher_->CountError(kName, kind + " watch: " + e.ToString());
    };
    watchers_.push_back(kube_->Watch(type, "", kube::WatchOptions{}, cb));
  };
  watch(kube::resources::kNamespaces, &ClusterFacts::SyncNamespaces, &ClusterFacts::OnNamespace);
  watch(kube::resources::kDeployments, &ClusterFacts::SyncDeployments, &ClusterFacts::OnDeployment);
  watch(kube::resources::kReplicaSets, &ClusterFacts::SyncReplicaSets, &ClusterFacts::OnReplicaSet);
  watch(kube::resources::kPods, &ClusterFacts::SyncPods, &ClusterFacts::OnPod);
}

void FactsSource::Stop() {
  for (auto& w : watchers_) {
    w->Stop();
  }
}

std::map<std::string, std::string> FactsSource::Details() const {
  return {{"facts.pods", std::to_string(facts_->pods())},
          {"facts.replicasets", std::to_string(facts_->replicasets())},
          {"facts.deployments", std::to_string(facts_->deployments())}};
}

}  // namespace kubemend::collector
