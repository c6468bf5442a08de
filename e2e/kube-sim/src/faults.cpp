#include "faults.h"

#include "resources.h"
#include "store.h"

#include <cctype>

namespace kubesim {

namespace {

const Json* controller_ref(const Json& object) {
  const Json* refs = find_path(object, "metadata.ownerReferences");
  if (!refs || !refs->is_array()) {
    return nullptr;
  }
  for (const auto& ref : *refs) {
    if (ref.value("controller", false)) {
      return &ref;
    }
  }
  return nullptr;
}

std::string lower(std::string s) {
  for (auto& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

const MemoryFault* find_memory_fault(const ObjectStore& store, const FaultState& faults, const Json& pod,
                                     const std::string& container) {
  const MemoryFault* found = nullptr;
  for (const auto& f : faults.memory) {
    if ((f.container.empty() || f.container == container) && workload_matches(store, f.workload, pod)) {
      // A container-specific fault beats a workload-wide one.
      if (!found || (!f.container.empty() && found->container.empty())) {
        found = &f;
      }
    }
  }
  return found;
}

}  // namespace

Json FaultState::to_json() const {
  Json out = {{"memory", Json::array()}, {"images", Json::object()},   {"nodes", Json::object()},
              {"hpaLoad", Json::object()}, {"pvcUsedBytes", Json::object()}, {"nodePrices", Json::object()},
              {"pvGiBHourly", pv_gib_hourly}, {"exec", Json::array()}};
  for (const auto& m : memory) {
    out["memory"].push_back({{"namespace", m.workload.ns},
                             {"workload", m.workload.kind + "/" + m.workload.name},
                             {"container", m.container},
                             {"bytes", m.bytes}});
  }
  for (const auto& [image, f] : images) {
    out["images"][image] = {{"mode", f.mode}, {"exitCode", f.exit_code}};
  }
  for (const auto& [node, f] : nodes) {
    out["nodes"][node] = {{"ready", false}, {"status", f.ready_status}};
  }
  for (const auto& [key, load] : hpa_load) {
    out["hpaLoad"][key] = load;
  }
  for (const auto& [key, used] : pvc_used) {
    out["pvcUsedBytes"][key] = used;
  }
  for (const auto& [node, p] : node_prices) {
    out["nodePrices"][node] = {{"cpuHourly", p.cpu_hourly}, {"ramGiBHourly", p.ram_gib_hourly}};
  }
  for (const auto& e : exec_scripts) {
    out["exec"].push_back({{"namespace", e.target.ns},
                           {"target", e.target.kind + "/" + e.target.name},
                           {"container", e.container},
                           {"command", e.command},
                           {"stdout", e.stdout_text},
                           {"stderr", e.stderr_text},
                           {"exitCode", e.exit_code}});
  }
  return out;
}

WorkloadRef workload_of(const ObjectStore& store, const Json& pod) {
  WorkloadRef ref{namespace_of(pod), "pod", name_of(pod)};
  const Json* owner = controller_ref(pod);
  if (!owner) {
    return ref;
  }
  ref.kind = lower(owner->value("kind", ""));
  ref.name = owner->value("name", "");
  if (ref.kind == "replicaset") {
    const Json* rs = store.get(resource_by_plural("replicasets"), ref.ns, ref.name);
    const Json* rs_owner = rs ? controller_ref(*rs) : nullptr;
    if (rs_owner && rs_owner->value("kind", "") == "Deployment") {
      ref.kind = "deployment";
      ref.name = rs_owner->value("name", "");
    }
  }
  return ref;
}

bool workload_matches(const ObjectStore& store, const WorkloadRef& ref, const Json& pod) {
  if (!ref.ns.empty() && ref.ns != namespace_of(pod)) {
    return false;
  }
  std::string kind = lower(ref.kind);
  if (kind == "pod") {
    return ref.name == name_of(pod);
  }
  WorkloadRef top = workload_of(store, pod);
  if (top.kind == kind && top.name == ref.name) {
    return true;
  }
  // A ReplicaSet reference also matches pods of a Deployment's ReplicaSet.
  if (kind == "replicaset") {
    const Json* owner = controller_ref(pod);
    return owner && owner->value("kind", "") == "ReplicaSet" && owner->value("name", "") == ref.name;
  }
  return false;
}

std::int64_t container_memory_bytes(const ObjectStore& store, const FaultState& faults, const Json& pod,
                                    const Json& container) {
  std::string name = container.value("name", "");
  if (const MemoryFault* f = find_memory_fault(store, faults, pod, name)) {
    return f->bytes;
  }
  const Json* request = find_path(container, "resources.requests.memory");
  const Json* limit = find_path(container, "resources.limits.memory");
  auto base = request ? parse_quantity(*request) : (limit ? parse_quantity(*limit) : std::nullopt);
  return base ? static_cast<std::int64_t>(*base / 2) : 32LL * 1024 * 1024;
}

bool memory_fault_applies(const ObjectStore& store, const FaultState& faults, const Json& pod,
                          const std::string& container) {
  return find_memory_fault(store, faults, pod, container) != nullptr;
}

}  // namespace kubesim
