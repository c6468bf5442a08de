// Policies as custom resources, the pure part: precedence between files and
// custom resources, namespace confinement, the unit built from an object,
// the status book (conditions, coalesced counters, outcomes), and the CRDs in
// deploy/k8s agreeing with the parser.
#include "policy_cr.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "catalogue.h"
#include "kubemend/common/events.h"

namespace kubemend::analyzer {
namespace {

nlohmann::json Object(const std::string& kind, const std::string& ns, const std::string& name,
                      nlohmann::json spec, int64_t generation = 1) {
  return {{"apiVersion", "kubemend.io/v1alpha1"},
          {"kind", kind},
          {"metadata",
           {{"name", name}, {"namespace", ns}, {"generation", generation}, {"resourceVersion", "100"},
            {"uid", "u-" + name}, {"managedFields", nlohmann::json::array({{{"manager", "kubectl"}}})}}},
          {"spec", std::move(spec)}};
}

nlohmann::json RestartOn(const std::string& alert) {
  return {{"triggers", {{{"alert", {{"name", alert}}}}}}, {"actions", {{{"type", "RestartPod"}}}}};
}

std::string FileDoc(const std::string& ns, const std::string& name) {
  return "apiVersion: kubemend.io/v1alpha1\nkind: HealingPolicy\nmetadata: {name: " + name + ", namespace: " + ns +
         "}\nspec: {triggers: [{alert: {name: X}}], actions: [{type: RestartPod}]}\n";
}

std::vector<std::string> Changes(const std::vector<PolicyChangeRecord>& c) {
  std::vector<std::string> out;
  for (const auto& r : c) {
    out.push_back(r.change + " " + r.ref.name());
  }
  return out;
}

const std::set<std::string> kClusterNs{"kubemend"};

TEST(PolicyPrecedenceTest, AFileWinsAContestedNameAndTheCustomResourceComesBackWhenItGoes) {
  PolicyStore store{PolicyDefaults()};
  PolicyUnit cr = UnitFromObject(Object("HealingPolicy", "shop", "restart", RestartOn("X")), kClusterNs);
  EXPECT_EQ(Changes(store.Apply({cr})), (std::vector<std::string>{"added shop/restart"}));
  EXPECT_TRUE(store.Verdicts().at(cr.origin).accepted);
  // A file defines the same name: the file takes it, the custom resource is shadowed.
  PolicyUnit file{"/etc/policies/a.yaml", FileDoc("shop", "restart"), ""};
  auto c = store.Apply({cr, file});
  EXPECT_EQ(Changes(c), (std::vector<std::string>{"removed shop/restart", "added shop/restart"}));
  EXPECT_NE(c[0].detail.find("shadowed by /etc/policies/a.yaml"), std::string::npos) << c[0].detail;
  ASSERT_EQ(store.size(), 1u);
  EXPECT_EQ(store.Current()->policies[0].ref.source(), "/etc/policies/a.yaml#0");
  OriginVerdict v = store.Verdicts().at(cr.origin);
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.reason, "NameConflict");
  EXPECT_NE(v.message.find("a policy file takes precedence over a custom resource"), std::string::npos) << v.message;
  EXPECT_TRUE(v.active.empty());
  // Nothing changed: nothing reported, however often it is polled.
  EXPECT_TRUE(store.Apply({cr, file}).empty());
  // The file goes: the custom resource is in force again.
  EXPECT_EQ(Changes(store.Apply({cr})), (std::vector<std::string>{"removed shop/restart", "added shop/restart"}));
  EXPECT_EQ(store.Current()->policies[0].ref.source(), cr.origin + "#0");
  EXPECT_TRUE(store.Verdicts().at(cr.origin).accepted);
}

TEST(PolicyPrecedenceTest, AFileThatArrivesTogetherWithTheCustomResourceWins) {
  PolicyStore store{PolicyDefaults()};
  PolicyUnit cr = UnitFromObject(Object("HealingPolicy", "shop", "restart", RestartOn("X")), kClusterNs);
  PolicyUnit file{"/p/z.yaml", FileDoc("shop", "restart"), ""};
  store.Apply({cr, file});
  ASSERT_EQ(store.size(), 1u);
  EXPECT_EQ(store.Current()->policies[0].ref.source(), "/p/z.yaml#0");
  EXPECT_EQ(store.Verdicts().at(cr.origin).reason, "NameConflict");
}

TEST(PolicyPrecedenceTest, BetweenTwoCustomResourcesTheFirstKeepsTheName) {
  PolicyStore store{PolicyDefaults()};
  nlohmann::json anomaly = {{"metric", "mem"}, {"threshold", "> 1Gi"}, {"remediation", {{"type", "restart"}}}};
  PolicyUnit hp = UnitFromObject(Object("HealingPolicy", "shop", "x", RestartOn("X")), kClusterNs);
  PolicyUnit aa = UnitFromObject(Object("AnomalyAction", "shop", "x", anomaly), kClusterNs);
  store.Apply({hp});
  auto c = store.Apply({hp, aa});
  EXPECT_EQ(Changes(c), (std::vector<std::string>{"rejected " + aa.origin}));
  EXPECT_EQ(store.Verdicts().at(aa.origin).reason, "NameConflict");
  // The holder is deleted: the other one gets the name.
  EXPECT_EQ(Changes(store.Apply({aa})), (std::vector<std::string>{"removed shop/x", "added shop/x"}));
  EXPECT_TRUE(store.Verdicts().at(aa.origin).accepted);
  EXPECT_EQ(store.Current()->policies[0].shape, "AnomalyAction");
}

TEST(PolicyConfinementTest, ANamespacedPolicyOnlyActsInItsNamespace) {
  PolicyStore store{PolicyDefaults()};
  // No selector: confined to its own namespace.
  PolicyUnit own = UnitFromObject(Object("HealingPolicy", "team-a", "own", RestartOn("X")), kClusterNs);
  EXPECT_EQ(own.confine_namespace, "team-a");
  store.Apply({own});
  ASSERT_EQ(store.size(), 1u);
  ASSERT_EQ(store.Current()->policies[0].selector.namespaces.size(), 1u);
  EXPECT_EQ(store.Current()->policies[0].selector.namespaces[0].text(), "team-a");
  // Selecting another namespace, or draining a node: refused, with the field.
  nlohmann::json other = RestartOn("X");
  other["selector"] = {{"namespaces", {"team-b"}}};
  nlohmann::json drain = {{"triggers", {{{"alert", {{"name", "X"}}}}}}, {"actions", {{{"type", "DrainNode"}}}}};
  PolicyUnit a = UnitFromObject(Object("HealingPolicy", "team-a", "other", other), kClusterNs);
  PolicyUnit b = UnitFromObject(Object("HealingPolicy", "team-a", "drain", drain), kClusterNs);
  store.Apply({own, a, b});
  EXPECT_EQ(store.size(), 1u);
  OriginVerdict va = store.Verdicts().at(a.origin), vb = store.Verdicts().at(b.origin);
  EXPECT_EQ(va.reason, "Invalid");
  EXPECT_NE(va.message.find("spec.selector.namespaces: selects \"team-b\""), std::string::npos) << va.message;
  EXPECT_NE(vb.message.find("spec.actions[0]: acts on a node"), std::string::npos) << vb.message;
  // In a cluster-policy namespace the same policies are fine.
  PolicyUnit c = UnitFromObject(Object("HealingPolicy", "kubemend", "other", other), kClusterNs);
  PolicyUnit d = UnitFromObject(Object("HealingPolicy", "kubemend", "drain", drain), kClusterNs);
  EXPECT_TRUE(c.confine_namespace.empty());
  store.Apply({own, c, d});
  EXPECT_EQ(store.size(), 3u);
}

TEST(PolicyUnitTest, StatusAndBookkeepingNeverChangeThePolicyVersion) {
  nlohmann::json o = Object("HealingPolicy", "shop", "p", RestartOn("X"));
  PolicyUnit u1 = UnitFromObject(o, kClusterNs);
  o["status"] = {{"remediationCount", 4}};
  o["metadata"]["resourceVersion"] = "101";
  o["metadata"]["labels"] = {{"team", "a"}};
  PolicyUnit u2 = UnitFromObject(o, kClusterNs);
  EXPECT_EQ(u1.text, u2.text);
  EXPECT_EQ(u1.origin, "kube:HealingPolicy/shop/p");
  o["spec"]["priority"] = 3;
  EXPECT_NE(UnitFromObject(o, kClusterNs).text, u1.text);
}

TEST(PolicyUnitTest, EverySeedKindParsesUnderOurGroup) {
  const std::map<std::string, nlohmann::json> specs = {
      {"AnomalyAction", {{"metric", "mem"}, {"threshold", "> 1Gi"}, {"remediation", {{"type", "restart"}}}}},
      {"HealthCheck", {{"targetRef", {{"kind", "Deployment"}, {"name", "api"}}}}},
      {"SLOViolation",
       {{"sloTarget", "99.9%"}, {"errorRatioQuery", "sum(rate(e[5m]))"}, {"actions", {{{"type", "alert"}}}}}},
      {"BudgetGuard", {{"budget", {{"limit", 100}}}, {"scope", {{"namespace", "shop"}}}}},
      {"CostAlert", {{"threshold", {{"absolute", 500}}}}},
      {"PredictiveScale",
       {{"forecastQuery", "sum(rate(x[5m]))"}, {"thresholdPercent", 20}, {"targetRef", {{"name", "api"}}}}},
  };
  for (const auto& k : PolicyKinds()) {
    if (k.kind == "HealingPolicy") {
      continue;
    }
    ASSERT_TRUE(specs.count(k.kind)) << k.kind;
    PolicyUnit u = UnitFromObject(Object(k.kind, "shop", "seed", specs.at(k.kind)), kClusterNs);
    ParseResult r = ParsePolicies(u.text, u.origin, PolicyDefaults());
    EXPECT_TRUE(r.errors.empty()) << k.kind << ": " << (r.errors.empty() ? "" : r.errors[0].ToString());
  }
}

TEST(CrKeyTest, FromAProposalsPolicySource) {
  auto k = CrKey::FromSource("kube:HealingPolicy/shop/restart-web#0");
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->kind, "HealingPolicy");
  EXPECT_EQ(k->ns, "shop");
  EXPECT_EQ(k->name, "restart-web");
  EXPECT_FALSE(CrKey::FromSource("/etc/kubemend/policies/default.yaml#3").has_value());
  EXPECT_FALSE(CrKey::FromSource("kube:HealingPolicy/only-one-part").has_value());
}

// ------------------------------------------------------------ status book

class StatusBookTest : public ::testing::Test {
 protected:
  TimePoint T(int s) const { return TimePoint(std::chrono::seconds(1'800'000'000 + s)); }
  // The object is observed, the store judges it, the book learns the verdict.
  void Load(const nlohmann::json& object) {
    PolicyUnit u = UnitFromObject(object, kClusterNs);
    const nlohmann::json& md = object["metadata"];
    CrKey key{object["kind"].get<std::string>(), md["namespace"].get<std::string>(), md["name"].get<std::string>()};
    book_.Observe(key, object, PolicyStore::UnitHash(u));
    units_[u.origin] = u;
    std::vector<PolicyUnit> all;
    for (const auto& [o, unit] : units_) {
      all.push_back(unit);
    }
    store_.Apply(all);
    book_.OnVerdicts(store_.Verdicts(), T(0));
  }
  v1::Event Proposal(const std::string& id, const std::string& source) {
    v1::Event e;
    e.set_event_id(id);
    e.mutable_proposal()->mutable_policy()->set_source(source);
    return e;
  }
  nlohmann::json Cond(const nlohmann::json& status, const std::string& type) {
    for (const auto& c : status["conditions"]) {
      if (c["type"] == type) {
        return c;
      }
    }
    return nullptr;
  }
  PolicyStatusBook book_;
  PolicyStore store_{PolicyDefaults()};
  std::map<std::string, PolicyUnit> units_;
  const CrKey key_{"HealingPolicy", "shop", "restart"};
};

TEST_F(StatusBookTest, AcceptedPolicyGetsConditionsWithItsGeneration) {
  Load(Object("HealingPolicy", "shop", "restart", RestartOn("X"), 3));
  auto w = book_.Pending();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].status["observedGeneration"], 3);
  EXPECT_EQ(Cond(w[0].status, "Accepted")["status"], "True");
  EXPECT_EQ(Cond(w[0].status, "Accepted")["observedGeneration"], 3);
  EXPECT_EQ(Cond(w[0].status, "Ready")["status"], "True");
  EXPECT_EQ(w[0].status["remediationCount"], 0);
  book_.Written(w[0].key, w[0].status);
  EXPECT_TRUE(book_.Pending().empty());
}

TEST_F(StatusBookTest, InvalidGenerationKeepsTheLastGoodInForceAndSaysWhy) {
  Load(Object("HealingPolicy", "shop", "restart", RestartOn("X"), 1));
  nlohmann::json bad = RestartOn("X");
  bad["actions"][0]["params"] = {{"percent", "900"}};
  bad["actions"][0]["type"] = "ScaleWorkload";
  Load(Object("HealingPolicy", "shop", "restart", bad, 2));
  auto w = book_.Pending();
  ASSERT_EQ(w.size(), 1u);
  nlohmann::json accepted = Cond(w[0].status, "Accepted"), ready = Cond(w[0].status, "Ready");
  EXPECT_EQ(accepted["status"], "False");
  EXPECT_EQ(accepted["reason"], "Invalid");
  EXPECT_EQ(accepted["observedGeneration"], 2);
  std::string msg = accepted["message"];
  EXPECT_EQ(msg.rfind("spec.actions[0].params.percent", 0), 0u) << msg;  // no origin noise in front
  EXPECT_EQ(ready["status"], "True");
  EXPECT_NE(ready["message"].get<std::string>().find("last accepted version"), std::string::npos);
}

TEST_F(StatusBookTest, ProposalsAreCountedFromTheStoredStatusAndCoalescedIntoOneWrite) {
  nlohmann::json o = Object("HealingPolicy", "shop", "restart", RestartOn("X"));
  o["status"] = {{"remediationCount", 5}, {"lastOutcome", "Succeeded"}};  // a previous analyzer's counts
  Load(o);
  for (int i = 0; i < 3; ++i) {
    book_.OnProposal(Proposal("p" + std::to_string(i), "kube:HealingPolicy/shop/restart#0"), T(10 + i));
  }
  book_.OnProposal(Proposal("f1", "/etc/policies/default.yaml#0"), T(20));  // a file policy: not ours
  auto w = book_.Pending();
  ASSERT_EQ(w.size(), 1u);  // one write for three proposals
  EXPECT_EQ(w[0].status["remediationCount"], 8);
  EXPECT_EQ(w[0].status["lastTriggered"], FormatRfc3339(T(12)));
  EXPECT_EQ(w[0].status["lastOutcome"], "Proposed");
  EXPECT_EQ(w[0].status["lastProposal"], "p2");
  book_.Written(w[0].key, w[0].status);
  // The decision and the outcome of the last proposal; one of an older proposal is ignored.
  v1::Event d;
  d.mutable_decision()->set_proposal_id("p2");
  d.mutable_decision()->set_verdict(v1::VERDICT_APPROVED);
  book_.OnDecision(d);
  v1::Event old;
  old.mutable_outcome()->set_proposal_id("p0");
  old.mutable_outcome()->set_status(v1::OUTCOME_STATUS_FAILED);
  book_.OnOutcome(old);
  v1::Event o2;
  o2.mutable_outcome()->set_proposal_id("p2");
  o2.mutable_outcome()->set_status(v1::OUTCOME_STATUS_ROLLED_BACK);
  book_.OnOutcome(o2);
  w = book_.Pending();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].status["lastOutcome"], "RolledBack");
}

TEST_F(StatusBookTest, AVerdictOnOlderTextIsNotReportedAsTheNewGeneration) {
  Load(Object("HealingPolicy", "shop", "restart", RestartOn("X"), 1));
  book_.Written(key_, book_.Pending()[0].status);
  // Generation 2 observed, but the store has not reloaded yet.
  nlohmann::json o2 = Object("HealingPolicy", "shop", "restart", RestartOn("Y"), 2);
  book_.Observe(key_, o2, PolicyStore::UnitHash(UnitFromObject(o2, kClusterNs)));
  book_.OnVerdicts(store_.Verdicts(), T(5));
  EXPECT_TRUE(book_.Pending().empty());
}

TEST_F(StatusBookTest, ForgottenObjectsGetNoWrites) {
  Load(Object("HealingPolicy", "shop", "restart", RestartOn("X")));
  book_.Retain("HealingPolicy", {});
  EXPECT_TRUE(book_.Pending().empty());
  EXPECT_EQ(book_.size(), 0u);
}

// ------------------------------------------------------------ CRDs

YAML::Node Crd(const std::string& kind) {
  std::string lower = kind;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return YAML::LoadFile(std::string(KUBEMEND_SOURCE_DIR) + "/deploy/k8s/base/crd-" + lower + ".yaml");
}

TEST(PolicyCrdTest, EveryKindHasACrdWithStatusAndTheParsersApiVersion) {
  for (const auto& k : PolicyKinds()) {
    YAML::Node crd = Crd(k.kind);
    EXPECT_EQ(crd["spec"]["group"].as<std::string>(), kPolicyGroup) << k.kind;
    EXPECT_EQ(crd["spec"]["names"]["kind"].as<std::string>(), k.kind);
    EXPECT_EQ(crd["spec"]["names"]["plural"].as<std::string>(), k.plural);
    EXPECT_EQ(crd["metadata"]["name"].as<std::string>(), k.plural + "." + kPolicyGroup);
    YAML::Node v = crd["spec"]["versions"][0];
    EXPECT_EQ(v["name"].as<std::string>(), kPolicyVersion);
    EXPECT_TRUE(v["subresources"]["status"].IsDefined()) << k.kind;
    YAML::Node st = v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"];
    for (const char* f : {"conditions", "observedGeneration", "lastTriggered", "remediationCount", "lastOutcome"}) {
      EXPECT_TRUE(st[f].IsDefined()) << k.kind << " status." << f;
    }
  }
}

TEST(PolicyCrdTest, TheActionEnumIsTheCatalogueAndItsAliases) {
  YAML::Node type = Crd("HealingPolicy")["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
                                        ["properties"]["actions"]["items"]["properties"]["type"];
  std::set<std::string> in_crd;
  for (const auto& e : type["enum"]) {
    in_crd.insert(e.as<std::string>());
  }
  for (const auto& a : Catalogue()) {
    EXPECT_TRUE(in_crd.count(a.name)) << a.name << " is in the catalogue but the CRD refuses it";
  }
  for (const auto& n : in_crd) {
    v1::ActionType t;
    EXPECT_TRUE(ParseActionName(n, &t)) << n << " is in the CRD but the parser refuses it";
  }
}

}  // namespace
}  // namespace kubemend::analyzer
