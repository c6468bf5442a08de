// Property tests: tens of thousands of random proposals (targets, actions,
// modes, timings, outcomes, pauses, mode changes, budget signals, human
// answers, restarts) against the pure core. Whatever happens, the gate never
// approves a protected target or a never-allowed action, never approves while
// paused or in monitor mode, and its own approvals never exceed a rate limit
// or the in-flight cap, counted independently here from the decisions it
// emitted. Seeded: the seed is printed; KUBEMEND_PROPERTY_SEED replays one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "gate.h"
#include "kubemend/common/ids.h"

namespace kubemend::gate {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

const ProducerIdentity kWho{"safety-gate", "prop", "0"};

struct Approval {
  TimePoint at;
  std::string target;
  std::string ns;
  std::string workload;
  std::string action_id;
};

class Model {
 public:
  explicit Model(const GateConfig& cfg) : cfg_(cfg) {}

  // Counts earlier approvals (plus this one) inside `window` ending at `at`.
  int64_t CountIn(const std::function<bool(const Approval&)>& match, TimePoint at, Millis window) const {
    int64_t n = 0;
    for (auto it = approvals_.rbegin(); it != approvals_.rend(); ++it) {
      if (it->at <= at - window) {
        break;
      }
      n += match(*it) ? 1 : 0;
    }
    return n;
  }
  int64_t InFlight(TimePoint at) const {
    int64_t n = 0;
    for (auto it = approvals_.rbegin(); it != approvals_.rend(); ++it) {
      if (it->at <= at - cfg_.in_flight_timeout) {
        break;
      }
      n += finished_.count(it->action_id) ? 0 : 1;
    }
    return n;
  }
  void Add(Approval a) { approvals_.push_back(std::move(a)); }
  void Finish(const std::string& id) { finished_.insert(id); }
  const std::vector<Approval>& approvals() const { return approvals_; }

 private:
  GateConfig cfg_;
  std::vector<Approval> approvals_;
  std::set<std::string> finished_;
};

GateConfig PropertyConfig() {
  GateConfig c = DefaultGateConfig();
  c.protected_namespaces.insert(c.own_namespace);
  c.protected_labels["app.kubernetes.io/managed-by"] = "Helm";
  c.per_target = {1, minutes(10)};
  c.per_namespace = {4, minutes(10)};
  c.cluster = {8, minutes(10)};
  c.workload_budget = {2, minutes(180)};
  c.max_in_flight = 7;
  c.in_flight_timeout = minutes(20);
  c.max_disrupted_share = 0.5;
  c.breaker = {0.6, 6, minutes(15), minutes(5), 2};
  c.approval_timeout = minutes(15);
  c.escalate_on_timeout = true;
  c.freeze_windows.push_back(*ParseWindow("Sun 02:00-04:00"));
  return c;
}

void RunProperty(uint64_t seed, int steps, std::map<std::string, int>& rules) {
  std::mt19937_64 rng(seed);
  auto pick = [&](auto& v) -> const auto& { return v[rng() % v.size()]; };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };

  const std::vector<std::string> namespaces = {"shop", "blog", "payments", ""};
  const std::vector<std::string> protected_ns = {"kube-system", "kubemend", "monitoring", "cert-manager"};
  const std::vector<std::string> kinds = {"Pod", "Pod", "Deployment", "StatefulSet", "Node", "Job",
                                          "HorizontalPodAutoscaler", "PersistentVolumeClaim"};
  const std::vector<std::string> protected_kinds = {"ServiceAccount", "ClusterRole", "PersistentVolume",
                                                    "CustomResourceDefinition", "Namespace"};
  const std::vector<v1::ActionType> auto_actions = {
      v1::ACTION_TYPE_RESTART_POD, v1::ACTION_TYPE_RESTART_POD, v1::ACTION_TYPE_ROLLOUT_RESTART,
      v1::ACTION_TYPE_SCALE_WORKLOAD, v1::ACTION_TYPE_INCREASE_MEMORY, v1::ACTION_TYPE_ADJUST_HPA,
      v1::ACTION_TYPE_DELETE_COMPLETED_JOBS, v1::ACTION_TYPE_NOTIFY};
  const std::vector<std::string> names = {"api", "web", "db"};
  const std::vector<v1::Mode> modes = {v1::MODE_UNSPECIFIED, v1::MODE_MONITOR, v1::MODE_DRY_RUN,
                                       v1::MODE_AUTOMATIC,   v1::MODE_MANUAL,  v1::MODE_LIMITED};
  const std::vector<v1::OutcomeStatus> statuses = {
      v1::OUTCOME_STATUS_SUCCEEDED, v1::OUTCOME_STATUS_SUCCEEDED, v1::OUTCOME_STATUS_FAILED,
      v1::OUTCOME_STATUS_NOT_FIXED, v1::OUTCOME_STATUS_DRY_RUN,   v1::OUTCOME_STATUS_SKIPPED};

  GateConfig cfg = PropertyConfig();
  FakeClock clock;
  auto gate = std::make_unique<Gate>(cfg, kWho, clock);
  Model model(cfg);
  std::vector<v1::Event> log;  // what a restarted gate replays
  std::vector<v1::Event> open_decisions;
  bool paused = false;
  v1::Mode global = cfg.mode;
  int approvals = 0;
  int restarts = 0;

  auto publish = [&](const v1::Event& e) {
    gate->Observe(e);
    log.push_back(e);
  };
  auto record = [&](const v1::Event& d, const v1::Event* proposal) {
    const auto& dec = d.decision();
    const v1::Target& t = d.target();
    if (dec.verdict() != v1::VERDICT_APPROVED) {
      return;
    }
    // Invariants that hold for every approval, human or not.
    ASSERT_FALSE(cfg.protected_namespaces.count(t.namespace_()))
        << "approved a protected namespace: " << d.DebugString();
    ASSERT_FALSE(cfg.protected_kinds.count(t.kind())) << "approved a protected kind: " << d.DebugString();
    for (const auto& [k, v] : cfg.protected_labels) {
      auto it = t.labels().find(k);
      ASSERT_FALSE(it != t.labels().end() && it->second == v) << "approved a protected label";
    }
    ASSERT_FALSE(cfg.never_actions.count(dec.proposal().action().type()))
        << "approved a never-allowed action: " << d.DebugString();
    ASSERT_FALSE(paused) << "approved while paused: " << d.DebugString();
    ASSERT_NE(global, v1::MODE_MONITOR) << "approved in monitor mode";
    ASSERT_NE(dec.proposal().mode(), v1::MODE_MONITOR) << "approved a monitor-mode proposal";
    if (dec.dry_run()) {
      return;
    }
    ++approvals;
    TimePoint at = FromTimestamp(d.occurred_at());
    Approval a{at, TargetKey(t), t.namespace_(), WorkloadKey(t), dec.action_id()};
    if (proposal != nullptr && dec.approver() == kGateApprover) {
      // Limits the gate itself enforces (a human may knowingly exceed them).
      ASSERT_LT(model.CountIn([&](const Approval& x) { return x.target == a.target; }, at,
                              cfg.per_target.window),
                cfg.per_target.max)
          << "per-target limit exceeded: " << d.DebugString();
      if (!a.ns.empty()) {
        ASSERT_LT(model.CountIn([&](const Approval& x) { return x.ns == a.ns; }, at,
                                cfg.per_namespace.window),
                  cfg.per_namespace.max)
            << "per-namespace limit exceeded";
      }
      ASSERT_LT(model.CountIn([](const Approval&) { return true; }, at, cfg.cluster.window),
                cfg.cluster.max)
          << "cluster limit exceeded";
      ASSERT_LT(model.CountIn([&](const Approval& x) { return x.workload == a.workload; }, at,
                              cfg.workload_budget.window),
                cfg.workload_budget.max)
          << "workload budget exceeded";
      ASSERT_LT(model.InFlight(at), cfg.max_in_flight) << "in-flight cap exceeded";
    }
    model.Add(a);
    open_decisions.push_back(d);
  };

  for (int step = 0; step < steps; ++step) {
    clock.Advance(Millis(std::uniform_int_distribution<int64_t>(0, 30000)(rng)));
    int what = static_cast<int>(rng() % 100);
    if (what < 70) {
      v1::Event p = NewRootEvent(v1::EVENT_TYPE_PROPOSAL, {"analyzer", "a", "0"}, clock);
      v1::Target* t = p.mutable_target();
      t->set_namespace_(chance(0.85) ? pick(namespaces) : pick(protected_ns));
      t->set_kind(chance(0.9) ? pick(kinds) : pick(protected_kinds));
      t->set_name(pick(names) + "-" + std::to_string(rng() % 2));
      if (t->kind() == "Pod" && chance(0.8)) {
        t->set_owner_kind(chance(0.5) ? "Deployment" : "StatefulSet");
        t->set_owner_name(pick(names));
      }
      if (chance(0.04)) {
        (*t->mutable_labels())["kubemend.io/protected"] = chance(0.7) ? "true" : "false";
      }
      if (chance(0.04)) {
        (*t->mutable_labels())["app.kubernetes.io/managed-by"] = chance(0.7) ? "Helm" : "kustomize";
      }
      v1::RemediationProposal* pr = p.mutable_proposal();
      pr->mutable_action()->set_type(chance(0.75) ? pick(auto_actions)
                                                  : static_cast<v1::ActionType>(rng() % 18));
      if (pr->action().type() == v1::ACTION_TYPE_SCALE_WORKLOAD) {
        pr->mutable_action()->mutable_scale_workload()->set_delta(static_cast<int32_t>(rng() % 7) - 3);
      }
      pr->set_mode(chance(0.75) ? v1::MODE_UNSPECIFIED : pick(modes));
      pr->set_requires_approval(chance(0.05));
      pr->set_escalation(chance(0.05));
      pr->mutable_policy()->set_name(chance(0.5) ? "crashloop" : "oom");
      if (chance(0.7)) {
        (*pr->mutable_facts())["replicas"] = std::to_string(rng() % 10);
      }
      if (chance(0.3)) {
        (*pr->mutable_facts())["disruptionsAllowed"] = std::to_string(rng() % 2);
      }
      v1::Event d = gate->Decide(p);
      ASSERT_EQ(d.event_id(), DerivedUuid(p.event_id(), "decision"));
      ASSERT_FALSE(d.decision().rule().empty());
      ASSERT_FALSE(d.decision().reason().empty());
      log.push_back(d);
      rules[d.decision().rule()]++;
      record(d, &p);
      if (chance(0.05)) {  // redelivery: same decision, not counted again
        v1::Event again = gate->Decide(p);
        ASSERT_EQ(again.event_id(), d.event_id());
      }
    } else if (what < 88 && !open_decisions.empty()) {
      size_t i = rng() % open_decisions.size();
      v1::Event o = NewCausedEvent(v1::EVENT_TYPE_OUTCOME, open_decisions[i], "outcome",
                                   {"executor", "e", "0"}, clock);
      o.mutable_outcome()->set_action_id(open_decisions[i].decision().action_id());
      o.mutable_outcome()->set_decision_id(open_decisions[i].event_id());
      o.mutable_outcome()->set_status(pick(statuses));
      model.Finish(o.outcome().action_id());
      open_decisions.erase(open_decisions.begin() + static_cast<long>(i));
      publish(o);
    } else if (what < 90) {
      v1::Control c;
      c.set_issued_by("prop");
      int kind = static_cast<int>(rng() % 10);
      if (kind == 0) {
        c.mutable_pause();
        paused = true;
      } else if (kind < 4) {
        c.mutable_resume();
        paused = false;
      } else if (kind < 7) {
        v1::Mode m = chance(0.5) ? v1::MODE_AUTOMATIC : pick(modes);
        if (m == v1::MODE_UNSPECIFIED) {
          m = v1::MODE_AUTOMATIC;
        }
        c.mutable_set_mode()->set_mode(m);
        global = m;
      } else {
        c.mutable_set_mode()->set_mode(pick(modes));
        c.mutable_set_mode()->set_scope("oom");
      }
      auto e = gate->MakeControl(c);
      ASSERT_TRUE(e.ok()) << e.status();
      publish(*e);
    } else if (what < 91) {
      v1::Event s = NewRootEvent(v1::EVENT_TYPE_SIGNAL, {"collector", "c", "0"}, clock);
      s.mutable_target()->set_namespace_(pick(namespaces));
      s.mutable_signal()->set_source(v1::SIGNAL_SOURCE_COST);
      s.mutable_signal()->set_name("BudgetExceeded");
      s.mutable_signal()->set_status(chance(0.5) ? v1::SIGNAL_STATUS_FIRING : v1::SIGNAL_STATUS_RESOLVED);
      publish(s);
    } else if (what < 96) {
      auto pending = gate->ListPending();
      if (pending.empty()) {
        continue;
      }
      const Pending& p = pending[rng() % pending.size()];
      auto r = gate->Resolve(p.decision.decision().proposal_id(), chance(0.6), "human", "because");
      if (!r.ok()) {
        ASSERT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
        continue;
      }
      for (const auto& e : *r) {
        publish(e);
        if (e.has_decision()) {
          record(e, nullptr);
        }
      }
    } else if (what < 99) {
      for (const auto& e : gate->DueTimeouts()) {
        ASSERT_NE(e.decision().verdict(), v1::VERDICT_APPROVED);
        publish(e);
      }
    } else if (what == 99 && rng() % 10 == 0) {
      // Restart: a new gate rebuilt from the log must keep every promise.
      auto rebuilt = std::make_unique<Gate>(cfg, kWho, clock);
      for (const auto& e : log) {
        rebuilt->Observe(e);
      }
      ASSERT_EQ(rebuilt->paused(), gate->paused());
      ASSERT_EQ(rebuilt->global_mode(), gate->global_mode());
      ASSERT_EQ(rebuilt->ListPending().size(), gate->ListPending().size());
      ASSERT_EQ(rebuilt->breaker_state(), gate->breaker_state());
      gate = std::move(rebuilt);
      ++restarts;
    }
  }
  EXPECT_GT(approvals, steps / 50) << "the property run approved too little to mean anything";
  std::cout << "seed=" << seed << " steps=" << steps << " approvals=" << approvals
            << " restarts=" << restarts << "\n";
}

uint64_t Seed(uint64_t salt) {
  if (const char* s = std::getenv("KUBEMEND_PROPERTY_SEED")) {
    return std::strtoull(s, nullptr, 10);
  }
  return std::random_device{}() ^ (salt << 32);
}

TEST(SafetyGatePropertyTest, NeverApprovesProtectedOrNeverAllowedAndNeverExceedsALimit) {
  std::map<std::string, int> rules;
  for (uint64_t i = 0; i < 3; ++i) {
    uint64_t seed = Seed(i);
    std::cout << "property seed " << seed << " (replay with KUBEMEND_PROPERTY_SEED=" << seed << ")\n";
    SCOPED_TRACE("seed " + std::to_string(seed));
    RunProperty(seed, 12000, rules);
    if (HasFatalFailure()) {
      return;
    }
  }
  for (const auto& [rule, n] : rules) {
    std::cout << rule << "=" << n << " ";
  }
  std::cout << "\n";
  // The run must have reached the limits it claims to check.
  for (const char* rule : {"rate-limit-target", "rate-limit-namespace", "rate-limit-cluster",
                           "workload-budget", "blast-radius-in-flight", "protected-namespace",
                           "protected-kind", "protected-label", "never-allowed-action", "paused",
                           "all-rules-passed"}) {
    EXPECT_GT(rules[rule], 0) << "the random runs never reached rule " << rule;
  }
}

}  // namespace
}  // namespace kubemend::gate
