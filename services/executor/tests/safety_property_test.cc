// Safety property of the executor: whatever approved decisions arrive (random
// action types, targets, parameters, replays and rollbacks), no protected
// object is ever changed: not in a protected namespace, not carrying a
// protecting label or annotation, not opted out (kubemend.io/remediate:
// "false" on the object, an owner or its namespace), not owned by such an
// object. The cluster is the in-memory API server (FakeKube); the check is
// byte-for-byte on every protected object (resourceVersion included, so any
// write would show). Failures print the seed and the step.
#include <gtest/gtest.h>

#include <random>

#include "actuator.h"
#include "executor.h"
#include "fixtures.h"
#include "kubemend/common/ids.h"

namespace kubemend::executor {
namespace {

using namespace testing;
using nlohmann::json;

const ProducerIdentity kWho{"executor", "e-prop", "0.1.0"};

struct World {
  FakeKube kube;
  std::vector<kube::ObjectRef> protected_refs;  // must never change
  std::vector<v1::Target> targets;              // what decisions aim at

  void Add(const kube::ResourceType& type, json obj, bool is_protected) {
    kube.Put(type, obj);
    const json& md = obj["metadata"];
    kube::ObjectRef ref{type, type.namespaced ? md.value("namespace", "") : "", md.value("name", ""), {}};
    if (is_protected) {
      protected_refs.push_back(ref);
    }
    v1::Target t;
    t.set_namespace_(ref.ns);
    t.set_kind(type.kind);
    t.set_name(ref.name);
    targets.push_back(t);
  }

  // A Deployment with one ReplicaSet and `pods` pods on n1/n2.
  void Workload(const std::string& ns, const std::string& name, json labels, json annotations, bool is_protected,
                int pods, json pod_annotations = json::object()) {
    json d = DeploymentJson(name + ":v2", "256Mi", "128Mi", pods);
    d["metadata"] = {{"name", name}, {"namespace", ns}, {"uid", ns + "-" + name}, {"generation", 1},
                     {"labels", labels}, {"annotations", annotations}};
    d["spec"]["selector"]["matchLabels"] = {{"app", name}};
    d["spec"]["template"]["metadata"]["labels"] = {{"app", name}};
    Add(rs::kDeployments, d, is_protected);
    json rset = ReplicaSetJson(name + "-v2", name + ":v2", 2);
    rset["metadata"]["namespace"] = ns;
    rset["metadata"]["ownerReferences"][0]["name"] = name;
    rset["metadata"]["ownerReferences"][0]["uid"] = ns + "-" + name;
    Add(rs::kReplicaSets, rset, is_protected);
    for (int i = 0; i < pods; ++i) {
      json p = PodJson(name + "-" + std::to_string(i), "ReplicaSet", name + "-v2", i % 2 ? "n2" : "n1");
      p["metadata"]["namespace"] = ns;
      p["metadata"]["labels"] = {{"app", name}};
      bool pod_protected = is_protected;
      if (i == 0 && !pod_annotations.empty()) {
        p["metadata"]["annotations"] = pod_annotations;
        pod_protected = true;
      }
      Add(rs::kPods, p, pod_protected);
    }
  }

  void Seed() {
    kube.Put(rs::kNamespaces, {{"metadata", {{"name", "frozen"}, {"annotations", {{kRemediateKey, "false"}}}}}});
    kube.Put(rs::kNamespaces, {{"metadata", {{"name", "shop"}}}});
    kube.Put(rs::kStorageClasses, {{"metadata", {{"name", "elastic"}}}, {"allowVolumeExpansion", true}});
    Add(rs::kNodes, {{"metadata", {{"name", "n1"}}}, {"spec", json::object()}}, false);
    Add(rs::kNodes, {{"metadata", {{"name", "n2"}, {"labels", {{"kubemend.io/protected", "true"}}}}},
                     {"spec", json::object()}},
        true);
    // Unprotected, except one opted-out pod of web.
    Workload("shop", "web", json::object(), json::object(), false, 3, {{kRemediateKey, "false"}});
    Workload("shop", "api", json::object(), json::object(), false, 2);
    // Protected in every way the rules know.
    Workload("kube-system", "coredns", json::object(), json::object(), true, 2);
    Workload("kubemend", "kubemend-executor", json::object(), json::object(), true, 1);
    Workload("frozen", "legacy", json::object(), json::object(), true, 2);
    Workload("shop", "locked", {{"kubemend.io/protected", "true"}}, json::object(), true, 2);
    Workload("shop", "optout", json::object(), {{kRemediateKey, "false"}}, true, 2);
    Workload("shop", "frozen-by-annotation", json::object(), {{"example.com/frozen", "yes"}}, true, 2);
    auto hpa = [](const std::string& name, json annotations) {
      return json{{"metadata", {{"name", name}, {"namespace", "shop"}, {"annotations", annotations}}},
                  {"spec", {{"minReplicas", 1}, {"maxReplicas", 4}}}};
    };
    Add(rs::kHorizontalPodAutoscalers, hpa("web", json::object()), false);
    Add(rs::kHorizontalPodAutoscalers, hpa("locked", {{kRemediateKey, "false"}}), true);
    auto pvc = [](const std::string& name, json labels) {
      return json{{"metadata", {{"name", name}, {"namespace", "shop"}, {"labels", labels}}},
                  {"spec", {{"storageClassName", "elastic"}, {"resources", {{"requests", {{"storage", "10Gi"}}}}}}}};
    };
    Add(rs::kPersistentVolumeClaims, pvc("data", json::object()), false);
    Add(rs::kPersistentVolumeClaims, pvc("ledger", {{"kubemend.io/protected", "true"}}), true);
    auto job = [](const std::string& ns, const std::string& name, json labels) {
      return json{{"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
                  {"status",
                   {{"conditions", json::array({{{"type", "Complete"}, {"status", "True"}}})},
                    {"completionTime", "2025-11-01T00:00:00Z"}}}};
    };
    Add(rs::kJobs, job("shop", "report-1", {{"app", "report"}}), false);
    Add(rs::kJobs, job("shop", "report-keep", {{"kubemend.io/protected", "true"}}), true);
    Add(rs::kJobs, job("kube-system", "sys-1", json::object()), true);
    Add(rs::kJobs, job("frozen", "old-1", json::object()), true);
    for (const std::string ns : {"shop", "kube-system", "frozen", "kubemend"}) {
      v1::Target t;
      t.set_namespace_(ns);
      t.set_kind("Namespace");
      t.set_name(ns);
      targets.push_back(t);
    }
  }
};

v1::Action RandomAction(std::mt19937& rng) {
  static const std::vector<v1::ActionType> kTypes = {
      v1::ACTION_TYPE_RESTART_POD,    v1::ACTION_TYPE_ROLLOUT_RESTART, v1::ACTION_TYPE_SCALE_WORKLOAD,
      v1::ACTION_TYPE_INCREASE_MEMORY, v1::ACTION_TYPE_ROLLBACK_IMAGE, v1::ACTION_TYPE_CORDON_NODE,
      v1::ACTION_TYPE_UNCORDON_NODE,  v1::ACTION_TYPE_DRAIN_NODE,      v1::ACTION_TYPE_EXPAND_PVC,
      v1::ACTION_TYPE_ADJUST_HPA,     v1::ACTION_TYPE_DELETE_COMPLETED_JOBS};
  v1::Action a;
  a.set_type(kTypes[rng() % kTypes.size()]);
  switch (a.type()) {
    case v1::ACTION_TYPE_SCALE_WORKLOAD:
      a.mutable_scale_workload()->set_delta(static_cast<int32_t>(rng() % 41) - 20);
      break;
    case v1::ACTION_TYPE_INCREASE_MEMORY:
      a.mutable_increase_memory()->set_percent(1 + rng() % 200);
      break;
    case v1::ACTION_TYPE_ROLLBACK_IMAGE:
      a.mutable_rollback_image()->set_to_image("img:v" + std::to_string(rng() % 3));
      break;
    case v1::ACTION_TYPE_DRAIN_NODE:
      a.mutable_drain_node()->set_timeout_seconds(5);
      a.mutable_drain_node()->set_delete_emptydir_data(true);
      break;
    case v1::ACTION_TYPE_DELETE_COMPLETED_JOBS:
      if (rng() % 2) {
        a.mutable_delete_completed_jobs()->set_label_selector("app=report");
      }
      break;
    default:
      break;
  }
  return a;
}

TEST(ExecutorSafetyPropertyTest, RandomApprovedDecisionsNeverChangeAProtectedObject) {
  int refused = 0;
  int changed = 0;
  for (uint32_t seed = 1; seed <= 25; ++seed) {
    World w;
    w.Seed();
    std::map<std::string, json> before;
    for (const auto& ref : w.protected_refs) {
      before[KeyOf(ref)] = w.kube.Object(ref);
    }
    FakeClock clock;
    ActuatorOptions ao;
    ao.protection = DefaultProtectionRules();
    ao.protection.namespaces.insert("kubemend");
    ao.protection.annotations["example.com/frozen"] = "yes";
    Actuator actuator(w.kube, nullptr, [&](Millis d) { clock.Advance(d); }, clock, ao);
    Executor ex(&actuator, nullptr, clock, kWho, ExecutorOptions{});
    std::mt19937 rng(seed);
    std::vector<std::string> applied;
    for (int step = 0; step < 80; ++step) {
      if (!applied.empty() && rng() % 8 == 0) {
        (void)ex.Rollback(applied[rng() % applied.size()], "property test");
      } else {
        v1::Event e = NewRootEvent(v1::EVENT_TYPE_DECISION, {"safety-gate", "g", "0"}, clock);
        *e.mutable_target() = w.targets[rng() % w.targets.size()];
        if (e.target().kind() == "Pod" && rng() % 2) {
          e.mutable_target()->set_owner_kind("Deployment");  // sometimes the event names the owner
          e.mutable_target()->set_owner_name(e.target().name().substr(0, e.target().name().rfind('-')));
        }
        e.mutable_decision()->set_verdict(v1::VERDICT_APPROVED);
        // Replays of an earlier id now and then.
        std::string id = !applied.empty() && rng() % 6 == 0 ? applied[rng() % applied.size()]
                                                             : "a-" + std::to_string(seed) + "-" + std::to_string(step);
        e.mutable_decision()->set_action_id(id);
        *e.mutable_decision()->mutable_proposal()->mutable_action() = RandomAction(rng);
        for (const auto& o : ex.HandleDecision(e)) {
          refused += o.outcome().status() == v1::OUTCOME_STATUS_REFUSED;
          if (o.outcome().status() == v1::OUTCOME_STATUS_SUCCEEDED) {
            ++changed;
            applied.push_back(id);
          }
        }
      }
      clock.Advance(Millis(1000));
      for (const auto& ref : w.protected_refs) {
        ASSERT_TRUE(w.kube.Exists(ref)) << "seed " << seed << " step " << step << ": " << KeyOf(ref) << " is gone";
        ASSERT_EQ(w.kube.Object(ref), before[KeyOf(ref)])
            << "seed " << seed << " step " << step << ": protected " << KeyOf(ref) << " changed";
      }
    }
  }
  // Not vacuous: the runs both changed unprotected objects and refused.
  EXPECT_GT(changed, 100);
  EXPECT_GT(refused, 100);
}

}  // namespace
}  // namespace kubemend::executor
