#pragma once

// Tunables of the simulation. Real Kubernetes waits seconds to minutes for
// most of these; tests shrink them so a crash loop or an eviction happens
// within a test's budget. All can be changed at run time via /sim/v1/config.

#include "clock.h"

#include <cstdint>
#include <string>

namespace kubesim {

struct SimConfig {
  // A scheduled pod's containers leave ContainerCreating after this long.
  Millis pod_start_delay{0};
  // A container with a fault (bad image, memory over its limit) runs this
  // long before it dies.
  Millis crash_after{1000};
  // Kubelet crash-loop back-off: base doubles per restart up to max
  // (kubelet: 10s and 5m).
  Millis backoff_base{10000};
  Millis backoff_max{300000};
  // How long a Job's pod runs before it exits 0, unless the pod (template)
  // carries the kube-sim.kubemend.io/run-ms annotation.
  Millis job_duration{2000};
  // A NotReady node's pods get Ready=False after this long
  // (node-monitor-grace-period).
  Millis node_monitor_grace{1000};
  // How long a FailedScheduling event waits before it is repeated.
  Millis scheduler_event_interval{10000};
  // Events older than this are deleted (the API server's --event-ttl).
  Millis event_ttl{3600000};
  // Default CPU utilisation of HPAs that have no load set: equal to the
  // target, so they hold their size.
  bool hpa_steady_by_default = true;
};

// Annotation that makes a pod exit 0 after N milliseconds of running.
inline constexpr const char* kRunMsAnnotation = "kube-sim.kubemend.io/run-ms";

}  // namespace kubesim
