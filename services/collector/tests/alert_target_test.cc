// Targets by alert family, from whole Alertmanager v4 webhook bodies shaped as
// kube-prometheus delivers the upstream kubernetes-mixin alerts: the series
// carry the exporter's labels (namespace/pod/container/instance of
// kube-state-metrics or the kubelet) next to the object's own.
#include <gtest/gtest.h>

#include "alertmanager.h"

namespace kubemend::collector {
namespace {

const ProducerIdentity kWho{"collector", "c-1", "0.1.0"};

std::string Body(const std::string& alert) {
  return R"({"receiver":"kubemend","status":"firing","alerts":[)" + alert +
         R"(],"groupLabels":{"namespace":"monitoring"},"commonLabels":{},"commonAnnotations":{},
  "externalURL":"http://alertmanager.monitoring:9093","version":"4",
  "groupKey":"{}/{}:{namespace=\"monitoring\"}","truncatedAlerts":0})";
}

v1::Target TargetOf(const std::string& alert) {
  FakeClock clock;
  auto events = ParseAlertmanagerWebhook(Body(alert), {"prod"}, kWho, clock);
  EXPECT_TRUE(events.ok()) << events.status();
  if (!events.ok() || events->size() != 1) {
    ADD_FAILURE() << "want one signal";
    return {};
  }
  return (*events)[0].target();
}

// kube_node_status_condition scraped from kube-state-metrics without the
// ServiceMonitor's labeldrop: the exporter's namespace/pod/container stay.
const char* kNodeNotReady = R"({"status":"firing","labels":{"alertname":"KubeNodeNotReady",
  "condition":"Ready","container":"kube-rbac-proxy-main","endpoint":"https-main",
  "instance":"10.244.1.7:8443","job":"kube-state-metrics","namespace":"monitoring",
  "node":"worker-2","pod":"kube-state-metrics-6c8f9d5b7-x2x7q","prometheus":"monitoring/k8s",
  "service":"kube-state-metrics","severity":"warning","status":"true"},
  "annotations":{"description":"worker-2 has been unready for more than 15 minutes.",
  "runbook_url":"https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubenodenotready",
  "summary":"Node is not ready."},"startsAt":"2026-12-06T05:10:30.123Z",
  "endsAt":"0001-01-01T00:00:00Z",
  "generatorURL":"http://prometheus-k8s-0:9090/graph?g0.expr=kube_node_status_condition%7Bcondition%3D%22Ready%22%7D+%3D%3D+0",
  "fingerprint":"5d6b1c0f2f1e0a9b"})";

TEST(AlertTargetTest, NodeNotReadyWithExporterLabelsTargetsTheNode) {
  v1::Target t = TargetOf(kNodeNotReady);
  EXPECT_EQ(t.kind(), "Node");
  EXPECT_EQ(t.name(), "worker-2");
  EXPECT_EQ(t.namespace_(), "") << "a Node has no namespace; monitoring is the exporter's";
  EXPECT_EQ(t.container(), "") << "kube-rbac-proxy-main is the exporter's container";
  EXPECT_EQ(t.owner_kind(), "");
  EXPECT_EQ(t.labels().at("pod"), "kube-state-metrics-6c8f9d5b7-x2x7q") << "labels are kept as they came";
}

TEST(AlertTargetTest, NodePressureAlertsTargetTheNode) {
  std::string a = kNodeNotReady;
  a.replace(a.find("KubeNodeNotReady"), 16, "KubeNodePressure");
  a.replace(a.find("\"Ready\""), 7, "\"MemoryPressure\"");
  EXPECT_EQ(TargetOf(a).kind(), "Node");
  std::string b = kNodeNotReady;
  b.replace(b.find("KubeNodeNotReady"), 16, "NodeMemoryPressure");
  EXPECT_EQ(TargetOf(b).name(), "worker-2");
  std::string c = kNodeNotReady;
  c.replace(c.find("KubeNodeNotReady"), 16, "KubeletTooManyPods");
  EXPECT_EQ(TargetOf(c).kind(), "Node");
}

TEST(AlertTargetTest, HpaAlertsTargetTheHpaNotTheExportersPod) {
  v1::Target t = TargetOf(R"({"status":"firing","labels":{"alertname":"KubeHpaMaxedOut",
    "container":"kube-rbac-proxy-main","endpoint":"https-main","horizontalpodautoscaler":"web",
    "instance":"10.244.1.7:8443","job":"kube-state-metrics","namespace":"shop",
    "pod":"kube-state-metrics-6c8f9d5b7-x2x7q","service":"kube-state-metrics","severity":"warning"},
    "annotations":{"summary":"HPA is running at max replicas"},"startsAt":"2026-12-06T05:10:30Z",
    "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"aa01"})");
  EXPECT_EQ(t.kind(), "HorizontalPodAutoscaler");
  EXPECT_EQ(t.name(), "web");
  EXPECT_EQ(t.namespace_(), "shop");
}

TEST(AlertTargetTest, PvcAlertsTargetThePvcNotTheNode) {
  v1::Target t = TargetOf(R"({"status":"firing","labels":{"alertname":"KubePersistentVolumeFillingUp",
    "endpoint":"https-metrics","instance":"172.18.0.3:10250","job":"kubelet","metrics_path":"/metrics",
    "namespace":"shop","node":"worker-1","persistentvolumeclaim":"data-db-0","service":"kubelet",
    "severity":"critical"},"annotations":{"summary":"PersistentVolume is filling up."},
    "startsAt":"2026-12-06T05:10:30Z","endsAt":"0001-01-01T00:00:00Z",
    "generatorURL":"http://prometheus:9090/graph","fingerprint":"bb02"})");
  EXPECT_EQ(t.kind(), "PersistentVolumeClaim");
  EXPECT_EQ(t.name(), "data-db-0");
  EXPECT_EQ(t.namespace_(), "shop");
  v1::Target pv = TargetOf(R"({"status":"firing","labels":{"alertname":"KubePersistentVolumeErrors",
    "job":"kube-state-metrics","namespace":"monitoring","pod":"kube-state-metrics-6c8f9d5b7-x2x7q",
    "persistentvolume":"pvc-0b1c","phase":"Failed","severity":"critical"},"annotations":{},
    "startsAt":"2026-12-06T05:10:30Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"cc03"})");
  EXPECT_EQ(pv.kind(), "PersistentVolume");
  EXPECT_EQ(pv.name(), "pvc-0b1c");
  EXPECT_EQ(pv.namespace_(), "");
}

TEST(AlertTargetTest, DeploymentAlertsTargetTheDeploymentNotTheExportersPod) {
  v1::Target t = TargetOf(R"({"status":"firing","labels":{"alertname":"KubeDeploymentReplicasMismatch",
    "container":"kube-rbac-proxy-main","deployment":"web","instance":"10.244.1.7:8443",
    "job":"kube-state-metrics","namespace":"shop","pod":"kube-state-metrics-6c8f9d5b7-x2x7q",
    "severity":"warning"},"annotations":{},"startsAt":"2026-12-06T05:10:30Z",
    "endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"dd04"})");
  EXPECT_EQ(t.kind(), "Deployment");
  EXPECT_EQ(t.name(), "web");
  EXPECT_EQ(t.namespace_(), "shop");
}

TEST(AlertTargetTest, PodAlertsPreferTheSeriesOwnLabelsOverTheScrapeTargets) {
  // honor_labels false: Prometheus renamed the series' namespace/pod/container
  // to exported_*; the plain ones are kube-state-metrics' own.
  v1::Target t = TargetOf(R"({"status":"firing","labels":{"alertname":"KubePodCrashLooping",
    "container":"kube-state-metrics","exported_container":"app","exported_namespace":"shop",
    "exported_pod":"web-7d9f8c6b5-abcde","job":"kube-state-metrics","namespace":"monitoring",
    "pod":"kube-state-metrics-6c8f9d5b7-x2x7q","reason":"CrashLoopBackOff","severity":"warning",
    "uid":"0f0e"},"annotations":{},"startsAt":"2026-12-06T05:10:30Z","endsAt":"0001-01-01T00:00:00Z",
    "generatorURL":"","fingerprint":"ee05"})");
  EXPECT_EQ(t.kind(), "Pod");
  EXPECT_EQ(t.name(), "web-7d9f8c6b5-abcde");
  EXPECT_EQ(t.namespace_(), "shop");
  EXPECT_EQ(t.container(), "app");
}

TEST(AlertTargetTest, FamiliesByName) {
  EXPECT_EQ(FamilyOf("KubeNodeNotReady"), AlertFamily::kNode);
  EXPECT_EQ(FamilyOf("KubeNodeUnreachable"), AlertFamily::kNode);
  EXPECT_EQ(FamilyOf("KubeHpaReplicasMismatch"), AlertFamily::kHpa);
  EXPECT_EQ(FamilyOf("KubePersistentVolumeInodesFillingUp"), AlertFamily::kPvc);
  EXPECT_EQ(FamilyOf("KubeStatefulSetReplicasMismatch"), AlertFamily::kStatefulSet);
  EXPECT_EQ(FamilyOf("KubeContainerWaiting"), AlertFamily::kPod);
  EXPECT_EQ(FamilyOf("HighErrorRate"), AlertFamily::kGeneric);
  // A node-family alert without a node label falls back to the generic order.
  v1::Target t = TargetFromLabels({{"alertname", "KubeletDown"}, {"namespace", "kube-system"}}, "c");
  EXPECT_EQ(t.kind(), "Namespace");
}

}  // namespace
}  // namespace kubemend::collector
