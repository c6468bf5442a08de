// safety_gate_bench: decisions per second of the safety gate's pure core with
// every rule on (protected targets, never-allow, levels per namespace, modes,
// rate limits, workload budget, breaker fed by outcomes, in-flight and
// disruption caps, freeze and risky windows, budget guard). No broker: this
// is the ceiling the Kafka stage is compared with.
//   build/services/safety-gate/safety_gate_bench [proposals] [seed]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <random>

#include "gate.h"

using namespace kubemend;
using namespace kubemend::gate;

int main(int argc, char** argv) {
  size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 300000;
  uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  std::mt19937_64 rng(seed);

  GateConfig cfg = DefaultGateConfig();
  cfg.protected_namespaces.insert(cfg.own_namespace);
  cfg.protected_labels["app.kubernetes.io/managed-by"] = "Helm";
  cfg.namespace_levels["payments"][v1::ACTION_TYPE_RESTART_POD] = Level::kConfirm;
  cfg.freeze_windows.push_back(*ParseWindow("Sat 02:00-04:00"));
  cfg.freeze_windows.push_back(*ParseWindow("2027-11-26T00:00Z/2027-11-29T00:00Z"));
  cfg.risky_windows.push_back(*ParseWindow("* 00:00-24:00"));

  FakeClock clock;
  Gate g(cfg, {"safety-gate", "bench", "0"}, clock);

  // Proposals built up front so that the loop measures deciding only.
  const char* nss[] = {"shop", "blog", "payments", "search", "kube-system", "batch", ""};
  const char* kinds[] = {"Pod", "Pod", "Deployment", "StatefulSet", "Node", "Job", "ServiceAccount"};
  const v1::ActionType actions[] = {v1::ACTION_TYPE_RESTART_POD, v1::ACTION_TYPE_RESTART_POD,
                                    v1::ACTION_TYPE_ROLLOUT_RESTART, v1::ACTION_TYPE_SCALE_WORKLOAD,
                                    v1::ACTION_TYPE_INCREASE_MEMORY, v1::ACTION_TYPE_CORDON_NODE,
                                    v1::ACTION_TYPE_DELETE_COMPLETED_JOBS, v1::ACTION_TYPE_DELETE_WORKLOAD};
  std::vector<v1::Event> proposals;
  proposals.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_PROPOSAL, {"analyzer", "bench", "0"}, clock);
    e.set_incident_id("inc");
    v1::Target* t = e.mutable_target();
    t->set_namespace_(nss[rng() % 7]);
    t->set_kind(kinds[rng() % 7]);
    t->set_name("w" + std::to_string(rng() % 500));
    if (t->kind() == "Pod") {
      t->set_owner_kind("Deployment");
      t->set_owner_name("d" + std::to_string(rng() % 200));
    }
    auto* p = e.mutable_proposal();
    p->mutable_action()->set_type(actions[rng() % 8]);
    p->mutable_policy()->set_name("p" + std::to_string(rng() % 5));
    (*p->mutable_facts())["replicas"] = std::to_string(rng() % 12);
    proposals.push_back(std::move(e));
  }

  std::map<std::string, uint64_t> rules;
  std::vector<v1::Event> open;
  uint64_t outcomes = 0;
  uint64_t expired = 0;
  auto start = std::chrono::steady_clock::now();
  std::clock_t cpu_start = std::clock();
  for (size_t i = 0; i < n; ++i) {
    clock.Advance(Millis(50));  // 20 proposals per simulated second
    v1::Event d = g.Decide(proposals[i]);
    rules[d.decision().rule()]++;
    if (d.decision().verdict() == v1::VERDICT_APPROVED && !d.decision().dry_run()) {
      open.push_back(std::move(d));
    }
    if (i % 20 == 0) {  // once a simulated second, like the service's timeout loop
      for (const auto& e : g.DueTimeouts()) {
        g.Observe(e);
        ++expired;
      }
    }
    if (!open.empty() && (i % 3 == 0)) {
      v1::Event o;
      o.set_event_id(open.back().event_id() + "-o");
      o.set_type(v1::EVENT_TYPE_OUTCOME);
      *o.mutable_occurred_at() = open.back().occurred_at();
      SetTimestamp(o.mutable_occurred_at(), clock.Now());
      o.mutable_outcome()->set_action_id(open.back().decision().action_id());
      o.mutable_outcome()->set_status(rng() % 4 == 0 ? v1::OUTCOME_STATUS_FAILED
                                                     : v1::OUTCOME_STATUS_SUCCEEDED);
      g.Observe(o);
      open.pop_back();
      ++outcomes;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  std::printf(
      "safety_gate_bench: %zu decisions (+%llu outcomes, %llu timeouts) in %.3f s = %.0f decisions/s "
      "wall, %.0f decisions per CPU-second (one thread; seed %llu)\n",
      n, static_cast<unsigned long long>(outcomes), static_cast<unsigned long long>(expired), secs,
      static_cast<double>(n) / secs, static_cast<double>(n) / cpu, static_cast<unsigned long long>(seed));
  for (const auto& [rule, count] : rules) {
    std::printf("  %-24s %llu\n", rule.c_str(), static_cast<unsigned long long>(count));
  }
  return 0;
}
