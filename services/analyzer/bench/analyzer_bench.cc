// analyzer_bench: decisions per second of the analyzer's engine with ~200
// policies and a realistic signal mix (crash loops, OOM kills, metric
// conditions, node trouble, unmatched noise, resolutions, outcomes). No I/O:
// this is the ceiling of the decision logic, not of the Kafka round trip.
//   build/services/analyzer/analyzer_bench [events] [policies]
#include <time.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "engine.h"

using namespace kubemend;
using namespace kubemend::analyzer;

namespace {

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string Policies(int n) {
  std::string y;
  const char* alerts[] = {"KubePodCrashLooping", "KubePodOOMKilled", "KubeHpaMaxedOut",
                          "KubeContainerWaiting", "KubeJobFailed", "TargetDown"};
  for (int i = 0; i < n; ++i) {
    std::string ns = "team-" + std::to_string(i % 20);
    y += "---\napiVersion: kubemend.io/v1alpha1\nkind: HealingPolicy\nmetadata: {name: p" +
         std::to_string(i) + "}\nspec:\n  priority: " + std::to_string(i % 7) +
         "\n  cooldown: 2m\n  maxActionsPerHour: 1000\n  selector:\n    namespaces: [\"" + ns + "\"]\n";
    if (i % 3 == 0) {
      y += "    labelSelector: {matchLabels: {tier: web}}\n";
    }
    y += "  triggers:\n";
    switch (i % 4) {
      case 0:
        y += "    - alert: {name: " + std::string(alerts[i % 6]) + "}\n";
        break;
      case 1:
        y += "    - alert: {name: \"Kube*" + std::string(alerts[i % 6]).substr(4, 3) + "*\"}\n";
        break;
      case 2:
        y += "    - alert: {name: \"/^" + std::string(alerts[i % 6]) + "$/\"}\n";
        break;
      case 3:
        y += "    - metric: {name: cpu_ratio_" + std::to_string(i % 10) +
             ", operator: \">\", threshold: 0.9}\n";
        break;
    }
    y += "  actions: [{type: RestartPod}, {type: RolloutRestart}]\n";
  }
  return y;
}

}  // namespace

int main(int argc, char** argv) {
  int events = argc > 1 ? std::atoi(argv[1]) : 200000;
  int npol = argc > 2 ? std::atoi(argv[2]) : 200;
  PolicyStore store{PolicyDefaults()};
  auto changes = store.Apply({{"bench.yaml", Policies(npol)}});
  if (store.size() != static_cast<size_t>(npol)) {
    std::fprintf(stderr, "policies did not load: %s\n", changes.empty() ? "?" : changes[0].detail.c_str());
    return 1;
  }
  FakeClock clock;
  Engine engine(EngineConfig(), {"analyzer", "bench", "0"}, clock);
  engine.SetPolicies(store.Current());
  std::mt19937 rng(42);
  const char* alerts[] = {"KubePodCrashLooping", "KubePodOOMKilled", "KubeHpaMaxedOut",
                          "KubeContainerWaiting", "UnroutedNoise", "TargetDown"};
  std::vector<v1::Event> pending;  // proposals awaiting an outcome
  uint64_t proposals = 0, outcomes = 0, signals = 0;
  // Pre-build the inputs so the timing covers decisions only.
  std::vector<v1::Event> inputs;
  inputs.reserve(events);
  for (int i = 0; i < events; ++i) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "bench", "0"}, clock);
    int dep = static_cast<int>(rng() % 2000);
    int ns = dep % 20;
    auto* t = e.mutable_target();
    t->set_cluster("prod");
    t->set_namespace_("team-" + std::to_string(ns));
    t->set_kind("Pod");
    t->set_name("d" + std::to_string(dep) + "-" + std::to_string(rng() % 5));
    t->set_owner_kind("Deployment");
    t->set_owner_name("d" + std::to_string(dep));
    if (dep % 2 == 0) {
      (*t->mutable_labels())["tier"] = "web";
    }
    auto* s = e.mutable_signal();
    int kind = static_cast<int>(rng() % 10);
    if (kind < 7) {
      s->set_source(v1::SIGNAL_SOURCE_ALERTMANAGER);
      s->set_name(alerts[rng() % 6]);
    } else {
      s->set_source(v1::SIGNAL_SOURCE_PROMETHEUS);
      s->set_name("cpu_ratio_" + std::to_string(rng() % 10));
      s->set_has_value(true);
      s->set_value(0.8 + 0.2 * static_cast<double>(rng() % 100) / 100.0);
    }
    s->set_fingerprint(t->name() + s->name());
    s->set_status(rng() % 4 == 0 ? v1::SIGNAL_STATUS_RESOLVED : v1::SIGNAL_STATUS_FIRING);
    e.set_incident_id("prov-" + std::to_string(i));
    inputs.push_back(std::move(e));
  }
  auto start = std::chrono::steady_clock::now();
  double cpu_start = CpuSeconds();
  for (int i = 0; i < events; ++i) {
    clock.Advance(std::chrono::milliseconds(20));
    Decision d = engine.OnSignal(inputs[i]);
    ++signals;
    for (auto& e : d.out) {
      if (e.has_proposal()) {
        ++proposals;
        pending.push_back(std::move(e));
      }
    }
    // Outcomes come back for most proposals a little later.
    if (pending.size() > 50) {
      std::vector<v1::Event> next;
      for (auto& p : pending) {
        v1::Event o = NewCausedEvent(v1::EVENT_TYPE_OUTCOME, p, "o", {"executor", "bench", "0"}, clock);
        o.mutable_outcome()->set_proposal_id(p.event_id());
        o.mutable_outcome()->set_status(rng() % 3 == 0 ? v1::OUTCOME_STATUS_NOT_FIXED
                                                       : v1::OUTCOME_STATUS_SUCCEEDED);
        o.mutable_outcome()->mutable_verification()->set_attempted(true);
        o.mutable_outcome()->mutable_verification()->set_healthy(o.outcome().status() == v1::OUTCOME_STATUS_SUCCEEDED);
        Decision od = engine.OnOutcome(o);
        ++outcomes;
        for (auto& e : od.out) {
          if (e.has_proposal()) {
            ++proposals;
            next.push_back(std::move(e));
          }
        }
      }
      pending = std::move(next);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu = CpuSeconds() - cpu_start;
  auto st = engine.Stats();
  std::printf("policies=%d signals=%llu outcomes=%llu proposals=%llu escalations=%llu open_incidents=%zu\n",
              npol, static_cast<unsigned long long>(signals), static_cast<unsigned long long>(outcomes),
              static_cast<unsigned long long>(proposals), static_cast<unsigned long long>(st.escalations),
              st.open_incidents);
  // CPU time is the figure to compare: wall time includes whatever else the
  // (shared) machine runs.
  std::printf("decisions=%llu wall_seconds=%.3f cpu_seconds=%.3f decisions_per_wall_second=%.0f "
              "decisions_per_cpu_second=%.0f\n",
              static_cast<unsigned long long>(signals + outcomes), secs, cpu,
              static_cast<double>(signals + outcomes) / secs,
              static_cast<double>(signals + outcomes) / cpu);
  return 0;
}
