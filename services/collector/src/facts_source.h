#pragma once
// The facts cache's adapter: watches pods and ReplicaSets cluster-wide and
// feeds ClusterFacts. Runs whether or not the Kubernetes signal source is on
// (config kubernetes.facts), so alerts alone can drive kubemend and still
// reach the analyzer with the cluster's facts.
//
// Threading: one watcher thread per kind; Details() from any thread.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster_facts.h"
#include "kubemend/kube/client.h"
#include "publisher.h"

namespace kubemend::collector {

class FactsSource {
 public:
  static constexpr const char* kName = "facts";
  FactsSource(kube::KubeClient* kube, ClusterFacts* facts, Publisher* publisher)
      : kube_(kube), facts_(facts), publisher_(publisher) {}
  void Start();
  void Stop();
  std::map<std::string, std::string> Details() const;

 private:
  kube::KubeClient* kube_;
  ClusterFacts* facts_;
  Publisher* publisher_;
  std::vector<std::unique_ptr<kube::Watcher>> watchers_;
};

}  // namespace kubemend::collector
