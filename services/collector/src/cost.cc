#include "cost.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <set>

#include "kubemend/common/config.h"

namespace kubemend::collector {
namespace {

constexpr int64_t kResolutionSeconds = 300;  // the period-to-date subquery's step
// Prometheus aligns a subquery's steps to multiples of the step since the
// epoch, so the period's first step is the mark at its start. The range
// reaches this much before the start, so that the mark still counts when the
// query runs a little after the instant it was built for (sub-second, clock
// differences), and less than a step, so the mark before the period never does.
constexpr int64_t kSlackSeconds = 30;
const char kPricesPresent[] = " and on() count(node_cpu_hourly_cost)";

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
        static const std::set<std::string> kKeys{"name",  "namespace", "workload", "selector", "monthly",
                                                 "daily", "hourly",    "for",      "currency"};
        std::string k = it->first.as<std::string>();
        if (kKeys.count(k) == 0) {
          return bad(k, "unknown key (expected name, namespace, workload|selector, monthly|daily|hourly, for, currency)");
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
      if (n["selector"]) {
        if (!b.workload_kind.empty()) {
          return bad("selector", "give workload or selector, not both");
        }
        if (!n["selector"].IsMap() || n["selector"].size() == 0) {
          return bad("selector", "must be a map of pod labels, e.g. {team: checkout}");
        }
        for (auto it = n["selector"].begin(); it != n["selector"].end(); ++it) {
          b.selector[it->first.as<std::string>()] = it->second.as<std::string>();
        }
      }
      int periods = 0;
      for (const char* p : {"hourly", "daily", "monthly"}) {
        if (n[p]) {
          ++periods;
          b.period = p;
        }
      }
      if (periods != 1) {
        return bad("monthly", periods == 0 ? "a budget needs one of monthly:, daily: or hourly:"
                                           : "give one of monthly, daily or hourly, not several");
      }
      b.amount = n[b.period].as<double>();
      if (b.amount <= 0) {
        return bad(b.period, "must be > 0");
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
  } else if (!b.selector.empty()) {
    // kube-state-metrics exports pod labels as label_<name>, every
    // character outside [a-zA-Z0-9_] turned into "_".
    std::string sel = ns;
    for (const auto& [k, v] : b.selector) {
      std::string name = "label_";
      for (char c : k) {
        name += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
      }
      sel += "," + name + "=\"" + Esc(v) + "\"";
    }
    pods = "max by (namespace, pod) (kube_pod_labels{" + sel + "})";
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
  if (pods.empty() && b.selector.empty()) {
    // Volumes bound to the namespace's claims: price per GiB-hour × size.
    std::string pv = "sum(max by (persistentvolume) (pv_hourly_cost) * on (persistentvolume) max by "
                     "(persistentvolume) (kube_persistentvolume_capacity_bytes) / 1073741824 * on (persistentvolume) "
                     "group_left() max by (persistentvolume) (label_replace(kube_persistentvolumeclaim_info{" + ns +
                     "}, \"persistentvolume\", \"$1\", \"volumename\", \"(.*)\")))";
    q += " + (" + pv + " or vector(0))";
  }
  // No prices, no cost: without OpenCost's node prices the answer is empty
  // (unknown), not the 0 the `or vector(0)` parts would give.
  return "(" + q + ")" + kPricesPresent;
}

int64_t PeriodElapsedSeconds(const std::string& period, TimePoint now) {
  if (period == "hourly") {
    return 0;
  }
  const std::time_t t = static_cast<std::time_t>(ToUnixMillis(now) / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  int64_t secs = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
  if (period == "monthly") {
    secs += static_cast<int64_t>(tm.tm_mday - 1) * 86400;
  }
  return secs;
}

std::string CostQuery(const Budget& b, TimePoint now) {
  const std::string hourly = HourlyCostQuery(b);
  if (b.period == "hourly") {
    return hourly;
  }
  // Spend = ∑ run-rate × step over the period so far: each 5m sample of the
  // hourly rate stands for 300/3600 of an hour. Without prices now the spend
  // is unknown too, not the sum of the hours that still had them.
  const int64_t range = PeriodElapsedSeconds(b.period, now) + kSlackSeconds;
  return "(sum_over_time((" + hourly + ")[" + std::to_string(range) + "s:" + std::to_string(kResolutionSeconds) +
         "s]) * " + std::to_string(kResolutionSeconds) + " / 3600)" + kPricesPresent;
}

TriggerSpec BudgetTrigger(const Budget& b) {
  TriggerSpec t;
  t.name = "BudgetExceeded";
  t.source = v1::SIGNAL_SOURCE_COST;
  t.query = b.period == "hourly" ? HourlyCostQuery(b)
                                  : b.period + "-to-date spend: sum_over_time of the hourly cost since the start of the "
                                               "UTC " + (b.period == "daily" ? "day" : "month");
  Budget copy = b;
  t.query_at = [copy](TimePoint now) { return CostQuery(copy, now); };
  t.unknown_when_empty = "Prometheus has no OpenCost price metrics (node_cpu_hourly_cost), so the cost of budget " +
                         b.name + " cannot be computed";
  t.op = CompareOp::kGreater;
  t.threshold = b.amount;
  t.for_duration = b.for_duration;
  t.severity = v1::SEVERITY_WARNING;
  const char* unit = b.period == "hourly" ? "/hour" : (b.period == "daily" ? " today" : " this month");
  t.summary = "Cost of budget " + b.name + " (" + b.currency + unit + ") above budget";
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
  t.labels = {{"budget", b.name}, {"period", b.period}, {"currency", b.currency}};
  if (!b.workload_kind.empty()) {
    t.labels["workload"] = b.workload_kind + "/" + b.workload_name;
  }
  t.labels["namespace"] = b.ns;
  t.fingerprint_prefix = "cost/" + b.name;
  return t;
}

}  // namespace kubemend::collector
