#include "cost.h"

#include <set>

#include "kubemend/common/config.h"

namespace kubemend::collector {
namespace {

constexpr double kHoursPerMonth = 730;

// PromQL string literal contents: Kubernetes names never need it, but a
// config typo must not break out of the selector.
std::string Esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<Budget>> ParseBudgets(const YAML::Node& node, const std::string& where) {
  std::vector<Budget> out;
  if (!node || node.IsNull()) {
    return out;
  }
  if (!node.IsSequence()) {
    return absl::InvalidArgumentError(where + ": must be a list of budgets");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& n = node[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    auto bad = [&](const std::string& key, const std::string& why) {
      return absl::InvalidArgumentError(at + "." + key + ": " + why);
    };
    if (!n.IsMap()) {
      return absl::InvalidArgumentError(at + ": must be a map");
    }
    Budget b;
    try {
      for (auto it = n.begin(); it != n.end(); ++it) {
        static const std::set<std::string> kKeys{"name", "namespace", "workload", "monthly", "hourly", "for", "currency"};
        std::string k = it->first.as<std::string>();
        if (kKeys.count(k) == 0) {
          return bad(k, "unknown key (expected name, namespace, workload, monthly|hourly, for, currency)");
        }
      }
      b.ns = n["namespace"] ? n["namespace"].as<std::string>() : "";
      if (b.ns.empty()) {
        return bad("namespace", "required");
      }
      if (n["workload"]) {
        std::string w = n["workload"].as<std::string>();
        auto slash = w.find('/');
        if (slash == std::string::npos || slash == 0 || slash + 1 == w.size()) {
          return bad("workload", "must be Kind/name, e.g. Deployment/web");
        }
        b.workload_kind = w.substr(0, slash);
        b.workload_name = w.substr(slash + 1);
        static const std::set<std::string> kKinds{"Deployment", "StatefulSet", "DaemonSet", "Job"};
        if (kKinds.count(b.workload_kind) == 0) {
          return bad("workload", "kind must be Deployment, StatefulSet, DaemonSet or Job, got " + b.workload_kind);
        }
      }
      if (n["monthly"] && n["hourly"]) {
        return bad("monthly", "give monthly or hourly, not both");
      }
      if (!n["monthly"] && !n["hourly"]) {
        return bad("monthly", "a budget needs monthly: or hourly:");
      }
      b.monthly = static_cast<bool>(n["monthly"]);
      b.amount = (b.monthly ? n["monthly"] : n["hourly"]).as<double>();
      if (b.amount <= 0) {
        return bad(b.monthly ? "monthly" : "hourly", "must be > 0");
      }
      if (n["for"]) {
        if (auto st = ParseDuration(n["for"].as<std::string>(), &b.for_duration); !st.ok()) {
          return bad("for", std::string(st.message()));
        }
      }
      b.currency = n["currency"] ? n["currency"].as<std::string>() : "USD";
      b.name = n["name"] ? n["name"].as<std::string>()
                         : b.ns + (b.workload_name.empty() ? "" : "/" + b.workload_kind + "/" + b.workload_name);
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(at + ": " + e.what());
    }
    if (!names.insert(b.name).second) {
      return bad("name", "duplicate budget name \"" + b.name + "\"");
    }
    out.push_back(std::move(b));
  }
  return out;
}

std::string HourlyCostQuery(const Budget& b) {
  const std::string ns = "namespace=\"" + Esc(b.ns) + "\"";
  std::string pods;  // a (namespace, pod) vector restricting containers to the workload
  if (b.workload_kind == "Deployment") {
    pods = "max by (namespace, pod) (kube_pod_owner{" + ns +
           ",owner_kind=\"ReplicaSet\"} * on (namespace, owner_name) group_left() max by (namespace, owner_name) "
           "(label_replace(kube_replicaset_owner{" + ns + ",owner_kind=\"Deployment\",owner_name=\"" +
           Esc(b.workload_name) + "\"}, \"owner_name\", \"$1\", \"replicaset\", \"(.*)\")))";
  } else if (!b.workload_kind.empty()) {
    pods = "max by (namespace, pod) (kube_pod_owner{" + ns + ",owner_kind=\"" + Esc(b.workload_kind) +
           "\",owner_name=\"" + Esc(b.workload_name) + "\"})";
  }
  auto restrict = [&](const std::string& metric) {
    std::string sel = metric + "{" + ns + "}";
    return pods.empty() ? sel : "(" + sel + " * on (namespace, pod) group_left() " + pods + ")";
  };
  std::string cpu = "sum(sum by (node) (" + restrict("container_cpu_allocation") +
                    ") * on (node) group_left() max by (node) (node_cpu_hourly_cost))";
  std::string ram = "sum(sum by (node) (" + restrict("container_memory_allocation_bytes") +
                    ") / 1073741824 * on (node) group_left() max by (node) (node_ram_hourly_cost))";
  std::string q = "(" + cpu + " or vector(0)) + (" + ram + " or vector(0))";
  if (pods.empty()) {
    // Volumes bound to the namespace's claims: price per GiB-hour × size.
    std::string pv = "sum(max by (persistentvolume) (pv_hourly_cost) * on (persistentvolume) max by "
                     "(persistentvolume) (kube_persistentvolume_capacity_bytes) / 1073741824 * on (persistentvolume) "
                     "group_left() max by (persistentvolume) (label_replace(kube_persistentvolumeclaim_info{" + ns +
                     "}, \"persistentvolume\", \"$1\", \"volumename\", \"(.*)\")))";
    q += " + (" + pv + " or vector(0))";
  }
  return q;
}

TriggerSpec BudgetTrigger(const Budget& b) {
  TriggerSpec t;
  t.name = "BudgetExceeded";
  t.source = v1::SIGNAL_SOURCE_COST;
  std::string q = HourlyCostQuery(b);
  t.query = b.monthly ? "(" + q + ") * " + std::to_string(static_cast<int>(kHoursPerMonth)) : q;
  t.op = CompareOp::kGreater;
  t.threshold = b.amount;
  t.for_duration = b.for_duration;
  t.severity = v1::SEVERITY_WARNING;
  t.summary = "Cost of budget " + b.name + " (" + b.currency + (b.monthly ? "/month" : "/hour") + ") above budget";
  v1::Target target;
  target.set_namespace_(b.ns);
  if (b.workload_kind.empty()) {
    target.set_kind("Namespace");
    target.set_name(b.ns);
  } else {
    target.set_kind(b.workload_kind);
    target.set_name(b.workload_name);
  }
  t.target = target;
  t.labels = {{"budget", b.name}, {"period", b.monthly ? "monthly" : "hourly"}, {"currency", b.currency}};
  if (!b.workload_kind.empty()) {
    t.labels["workload"] = b.workload_kind + "/" + b.workload_name;
  }
  t.labels["namespace"] = b.ns;
  t.fingerprint_prefix = "cost/" + b.name;
  return t;
}

}  // namespace kubemend::collector
