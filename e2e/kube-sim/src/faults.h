#pragma once

// FaultState: what the /sim/v1 API has injected (memory use, bad images,
// node outages, HPA load, volume fill levels, prices, exec scripts). The
// controllers read it on every tick; it never talks to the network. Values
// are plain data so tests can set them directly.

#include "json_util.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kubesim {

class ObjectStore;

// A workload reference: "deployment/web" in a namespace. Kinds:
// deployment, statefulset, job, replicaset, pod.
struct WorkloadRef {
  std::string ns;
  std::string kind;
  std::string name;
};

struct MemoryFault {
  WorkloadRef workload;
  std::string container;  // empty: every container of the workload's pods
  std::int64_t bytes = 0;
};

struct ImageFault {
  // "crash": the container starts and exits with exit_code after
  // SimConfig::crash_after. "pull": the image cannot be pulled
  // (ErrImagePull / ImagePullBackOff).
  std::string mode = "crash";
  int exit_code = 1;
};

struct NodeFault {
  // "Unknown" (kubelet stopped posting status, the usual node crash) or
  // "False" (kubelet reports NotReady).
  std::string ready_status = "Unknown";
};

struct NodePrice {
  double cpu_hourly = 0.031611;     // per core-hour
  double ram_gib_hourly = 0.004237;  // per GiB-hour
};

// One scripted answer for `kubectl exec` on a pod/container whose command
// line starts with `command_prefix`.
struct ExecScript {
  WorkloadRef target;  // kind "pod" or a workload
  std::string container;
  std::vector<std::string> command;  // empty matches any command
  std::string stdout_text;
  std::string stderr_text;
  int exit_code = 0;
};

struct FaultState {
  std::vector<MemoryFault> memory;
  std::map<std::string, ImageFault> images;   // image reference → fault
  std::map<std::string, NodeFault> nodes;     // node name → outage
  std::map<std::string, double> hpa_load;     // "ns/name" → CPU utilisation %
  std::map<std::string, std::int64_t> pvc_used;  // "ns/name" → bytes used
  std::map<std::string, NodePrice> node_prices;  // node → prices
  double pv_gib_hourly = 0.04 / 730.0;         // $0.04 per GiB-month
  std::vector<ExecScript> exec_scripts;

  void clear() { *this = FaultState{}; }
  Json to_json() const;
};

// Top-level workload owning a pod (pod → ReplicaSet → Deployment).
WorkloadRef workload_of(const ObjectStore& store, const Json& pod);
bool workload_matches(const ObjectStore& store, const WorkloadRef& ref, const Json& pod);

// The memory working set of a container: the injected value, or a quiet
// baseline (half the request/limit, 32Mi without either).
std::int64_t container_memory_bytes(const ObjectStore& store, const FaultState& faults, const Json& pod,
                                    const Json& container);
bool memory_fault_applies(const ObjectStore& store, const FaultState& faults, const Json& pod,
                          const std::string& container);

}  // namespace kubesim
