#pragma once
// The target an alert (or a metric series) concerns, by alert family. Upstream
// rules (kubernetes-mixin) name their alerts by what they watch: KubeNode*,
// KubeHpa*, KubePersistentVolume*, KubeDeployment*, KubePod*, ... The family's
// own label wins over the others, because a series often also carries the
// labels of the exporter that produced it (namespace/pod of kube-state-metrics
// when a ServiceMonitor relabels them onto every series). docs/signals.md has
// the table.
#include <map>
#include <string>

#include "kubemend/v1/events.pb.h"

namespace kubemend::collector {

enum class AlertFamily { kGeneric, kNode, kHpa, kPvc, kPv, kDeployment, kStatefulSet, kDaemonSet, kJob, kCronJob, kPod };

// The family of an alert name; kGeneric for names outside the table.
AlertFamily FamilyOf(const std::string& alertname);
const char* FamilyName(AlertFamily f);

// labels: the alert's (or series') labels; "alertname" picks the family.
// Precedence: the family's label (node, horizontalpodautoscaler, ...), then
// pod > deployment > statefulset > daemonset > hpa > job_name > pvc > node,
// then the namespace. exported_namespace/exported_pod/exported_container
// (Prometheus' renaming when the scrape target's own labels clash) win over
// namespace/pod/container: those are the exporter's.
v1::Target TargetFromLabels(const std::map<std::string, std::string>& labels,
                            const std::string& cluster);

}  // namespace kubemend::collector
