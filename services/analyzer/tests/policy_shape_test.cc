// Shape mistakes in policy files (a scalar where a mapping belongs, a list of
// strings for actions, a map as a threshold, ...) are refused with file,
// document and field path; nothing throws, and the store keeps the last good
// set. Also replays the libFuzzer corpus (fuzz/corpus) through the parser.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "admin_service.h"
#include "policy.h"

namespace kubemend::analyzer {
namespace {

std::string Doc(const std::string& spec) {
  return "apiVersion: kubemend.io/v1alpha1\nkind: HealingPolicy\nmetadata: {name: p}\nspec:\n" + spec;
}

const char* kGoodSpec =
    "  triggers: [{alert: {name: KubePodCrashLooping}}]\n"
    "  actions: [{type: RestartPod}]\n";

std::string AllErrors(const ParseResult& r) {
  std::string all;
  for (const auto& e : r.errors) {
    all += e.ToString() + "\n";
  }
  return all;
}

struct ShapeCase {
  const char* what;
  std::string text;
  std::string want;  // a substring of the rendered errors
};

TEST(PolicyShapeTest, EveryShapeMistakeIsAnErrorWithItsPathNeverAnException) {
  const std::string good = Doc(kGoodSpec);
  const std::vector<ShapeCase> cases = {
      {"a list of strings for actions",
       Doc("  triggers: [{alert: {name: X}}]\n  actions: [RestartPod]\n"),
       "f.yaml: document 1: spec.actions[0]: must be a mapping"},
      {"a map as a metric threshold",
       Doc("  triggers: [{metric: {name: m, threshold: {a: 1}}}]\n  actions: [{type: RestartPod}]\n"),
       "f.yaml: document 1: spec.triggers[0].metric.threshold: must be a number"},
      {"a scalar where the selector mapping belongs",
       Doc("  selector: shop\n" + std::string(kGoodSpec)), "spec.selector: must be a mapping"},
      {"a scalar trigger", Doc("  triggers: [KubePodCrashLooping]\n  actions: [{type: RestartPod}]\n"),
       "spec.triggers[0]: must be a mapping"},
      {"a scalar alert body", Doc("  triggers: [{alert: KubePodCrashLooping}]\n  actions: [{type: RestartPod}]\n"),
       "spec.triggers[0].alert: must be a mapping"},
      {"a list as an alert name",
       Doc("  triggers: [{alert: {name: [a, b]}}]\n  actions: [{type: RestartPod}]\n"),
       "spec.triggers[0].alert.name: must be a string"},
      {"a scalar restartAction",
       Doc("  triggers: [{alert: {name: X}}]\n  actions: [{type: RestartPod, restartAction: rolling}]\n"),
       "spec.actions[0].restartAction: must be a mapping"},
      {"a scalar loopBreaker", Doc("  loopBreaker: 3\n" + std::string(kGoodSpec)),
       "spec.loopBreaker: must be a mapping"},
      {"a scalar advice", Doc("  advice: true\n" + std::string(kGoodSpec)), "spec.advice: must be a mapping"},
      {"a non-string key", Doc("  triggers: [{alert: {[x]: y}}]\n  actions: [{type: RestartPod}]\n"),
       "spec.triggers[0].alert: has a key that is not a string"},
      {"a map as params", Doc("  triggers: [{alert: {name: X}}]\n  actions: [{type: ScaleWorkload, params: {percent: {a: 1}}}]\n"),
       "spec.actions[0].params.percent: must be a scalar"},
      {"matchExpressions of scalars",
       Doc("  selector: {labelSelector: {matchExpressions: [env]}}\n" + std::string(kGoodSpec)),
       "spec.selector.labelSelector.matchExpressions[0]: must be a mapping"},
      {"resources of scalars", Doc("  selector: {resources: [Deployment]}\n" + std::string(kGoodSpec)),
       "spec.selector.resources[0]: must be a mapping"},
      {"a list as metadata name", "apiVersion: kubemend.io/v1alpha1\nkind: HealingPolicy\nmetadata: {name: [a]}\nspec: {}\n",
       "metadata.name"},
      {"a seed with a scalar remediation",
       "apiVersion: aiops.prophet.io/v1alpha1\nkind: AnomalyAction\nmetadata: {name: a}\n"
       "spec: {metric: m, threshold: '> 1', remediation: restart}\n",
       "spec.remediation: must be a mapping"},
      {"a seed with a map as a metric name",
       "apiVersion: aiops.prophet.io/v1alpha1\nkind: BudgetGuard\nmetadata: {name: b}\n"
       "spec: {metric: {a: 1}, budget: {limit: 10}}\n",
       "spec.metric: must be a string"},
      {"a seed with a list as webhookUrl",
       "apiVersion: aiops.prophet.io/v1alpha1\nkind: AnomalyAction\nmetadata: {name: a}\n"
       "spec: {metric: m, threshold: '> 1', remediation: {type: alert}, webhookUrl: [x]}\n",
       "spec.webhookUrl: URLs are not accepted"},
      {"a seed with a map as channel",
       "apiVersion: aiops.prophet.io/v1alpha1\nkind: CostAlert\nmetadata: {name: c}\n"
       "spec: {threshold: {absolute: 5}, channel: {a: 1}}\n",
       "spec.channel: must be a string"},
      {"a seed with a scalar nodePoolRef and a list name",
       "apiVersion: aiops.prophet.io/v1alpha1\nkind: PredictiveScale\nmetadata: {name: f}\n"
       "spec: {forecastQuery: up, thresholdPercent: 20, nodePoolRef: {name: [x]}}\n",
       "spec.nodePoolRef.name: must be a string"},
      {"a seed with a map as enableChaos",
       "apiVersion: aiops.prophet.io/v1alpha1\nkind: SLOViolation\nmetadata: {name: s}\n"
       "spec: {actions: [{type: alert}], enableChaos: {a: 1}}\n",
       "spec.enableChaos: must be a string"},
  };
  for (const auto& tc : cases) {
    // The bad document is the second of the file: the index must say so.
    const std::string text = good + "---\n" + tc.text;
    ParseResult r;
    ASSERT_NO_THROW(r = ParsePolicies(text, "f.yaml", PolicyDefaults{})) << tc.what;
    EXPECT_TRUE(r.policies.empty()) << tc.what << ": a bad document rejects the whole file";
    std::string all = AllErrors(r);
    EXPECT_NE(all.find(tc.want), std::string::npos) << tc.what << "\n" << all;
    EXPECT_EQ(all.find(kParserGap), std::string::npos) << tc.what << ": caught only by the backstop\n" << all;
    for (const auto& e : r.errors) {
      EXPECT_EQ(e.document, 1) << tc.what << ": " << e.ToString();
    }
  }
}

TEST(PolicyShapeTest, TheStoreKeepsTheLastGoodSetWhenAnEditHasAShapeMistake) {
  PolicyStore store{PolicyDefaults{}};
  auto c = store.Apply({{"p.yaml", Doc(kGoodSpec)}});
  ASSERT_EQ(store.size(), 1u);
  c = store.Apply({{"p.yaml", Doc("  triggers: [{alert: {name: X}}]\n  actions: [RestartPod]\n")}});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].change, "rejected");
  EXPECT_NE(c[0].detail.find("p.yaml: document 0: spec.actions[0]: must be a mapping"), std::string::npos)
      << c[0].detail;
  EXPECT_NE(c[0].detail.find("keeping the last good version"), std::string::npos);
  ASSERT_EQ(store.size(), 1u);
  EXPECT_EQ(store.Current()->policies[0].actions.size(), 1u);
}

TEST(PolicyShapeTest, ValidateAnswersWithTheSameMessageTheLoaderLogs) {
  const std::string text = Doc("  triggers: [{alert: {name: X}}]\n  actions: [RestartPod]\n");
  auto loaded = ParsePolicies(text, "p.yaml", PolicyDefaults{});
  ASSERT_FALSE(loaded.errors.empty());
  v1::ValidatePoliciesResponse r;
  ASSERT_NO_THROW(r = ValidatePolicyText(text, "p.yaml", PolicyDefaults{}));
  EXPECT_FALSE(r.valid());
  ASSERT_EQ(static_cast<size_t>(r.errors_size()), loaded.errors.size());
  for (size_t i = 0; i < loaded.errors.size(); ++i) {
    const auto& e = r.errors(static_cast<int>(i));
    EXPECT_EQ(e.document(), loaded.errors[i].document);
    EXPECT_EQ(e.path(), loaded.errors[i].path);
    EXPECT_EQ(e.message(), loaded.errors[i].message);
  }
  EXPECT_EQ(r.errors(0).path(), "spec.actions[0]");
  EXPECT_EQ(r.errors(0).message(), "must be a mapping");
}

TEST(PolicyShapeTest, ACustomResourceDocumentWithAShapeMistakeIsRefusedNotThrown) {
  YAML::Node doc = YAML::Load(Doc("  triggers: [{alert: {name: X}}]\n  actions: [RestartPod]\n"));
  ParseResult r;
  ASSERT_NO_THROW(r = ParsePolicyNode(doc, "kube:shop/p", 0, PolicyDefaults{}));
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].path, "spec.actions[0]");
}

// yaml-cpp 0.7 loops forever on a document starting with ',' (found by the
// fuzzer); such text is refused before it reaches the parser. Without the
// guard this test hangs until ctest's timeout.
TEST(PolicyShapeTest, TextThatWouldHangYamlCppIsRefused) {
  for (const std::string& text : {std::string(","), std::string(" ,a"), std::string("# c\n,"),
                                 std::string("--- ,"), Doc(kGoodSpec) + "---\n,x\n",
                                 std::string("- 1\n, period:  1\n- 2stratey\n"),
                                 // '[' inside a plain scalar opens no flow collection
                                 std::string("- a[\n, period: 1"), std::string("x: b{c\n, y\n")}) {
    auto r = ParsePolicies(text, "f.yaml", PolicyDefaults{});
    ASSERT_EQ(r.errors.size(), 1u) << text;
    EXPECT_NE(r.errors[0].message.find("cannot start with ','"), std::string::npos) << r.errors[0].ToString();
  }
  // A comma elsewhere is fine, also leading a line inside a flow collection.
  auto ok = ParsePolicies(Doc("  triggers: [{alert: {name: X}}\n    , {alert: {name: Y}}]\n"
                              "  actions: [{type: RestartPod}]  # [not counted\n"),
                          "f.yaml", PolicyDefaults{});
  EXPECT_TRUE(ok.errors.empty()) << ok.errors[0].ToString();
}

// The policy fuzzer's out-of-memory lead: std::regex copies the atom of a
// counted repetition, so 60 names like "/a{99990}/" in 1 KB took 300 MB and
// 12 s to load. Such a pattern is refused, named, before it is compiled; the
// same input is in fuzz/corpus (bac79e79...).
TEST(PolicyShapeTest, RegexThatCompilesToAHugeAutomatonIsRefused) {
  std::string names;
  for (int i = 0; i < 60; ++i) {
    names += std::string(i ? "," : "") + "\"/a{99990}/\"";
  }
  auto t0 = std::chrono::steady_clock::now();
  auto r = ParsePolicies(Doc("  selector: {namespaces: [" + names + "]}\n"
                             "  triggers: [{alert: {name: X}}]\n  actions: [{type: RestartPod}]\n"),
                         "f.yaml", PolicyDefaults{});
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(r.errors.size(), 60u);
  EXPECT_EQ(r.errors[0].path, "spec.selector.namespaces[0]");
  EXPECT_NE(r.errors[0].message.find("regular expression /a{99990}/ is too large once compiled"),
            std::string::npos)
      << r.errors[0].ToString();
  EXPECT_LT(took, std::chrono::seconds(2)) << "the patterns were compiled";
  for (const char* bad : {"/(a{40}){40}/", "/((ab){20}c){20}/", "/[a-z]{2000}/"}) {
    NamePattern p;
    EXPECT_FALSE(NamePattern::Parse(bad, &p).ok()) << bad;
  }
  for (const char* fine : {"/^Kube(Pod|Deployment).*(Crash|OOM)/", "/a{1,20}b{3}/", "/[{]{2}/"}) {
    NamePattern p;
    EXPECT_TRUE(NamePattern::Parse(fine, &p).ok()) << fine;
  }
  NamePattern p;
  EXPECT_FALSE(NamePattern::Parse("/" + std::string(600, 'a') + "/", &p).ok());
  EXPECT_FALSE(ParsePolicies(std::string(kMaxPolicyText + 1, '#'), "big.yaml", PolicyDefaults{}).errors.empty());
}

// Replays fuzz/corpus (grown by analyzer_policy_fuzz, see the README) with the
// normal compiler: every input parses or is refused with a located error.
TEST(PolicyFuzzCorpusTest, EveryCorpusInputParsesOrIsRefusedWithALocatedError) {
  size_t n = 0, accepted = 0;
  for (const auto& entry : std::filesystem::directory_iterator(KUBEMEND_POLICY_FUZZ_CORPUS)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    ParseResult r;
    ASSERT_NO_THROW(r = ParsePolicies(ss.str(), "corpus", PolicyDefaults{})) << entry.path();
    if (r.errors.empty()) {
      ++accepted;
    }
    for (const auto& e : r.errors) {
      EXPECT_FALSE(e.message.empty()) << entry.path();
      EXPECT_EQ(e.message.find(kParserGap), std::string::npos) << entry.path() << ": " << e.ToString();
    }
    ++n;
  }
  EXPECT_GE(n, 20u) << "corpus missing at " << KUBEMEND_POLICY_FUZZ_CORPUS;
  EXPECT_GE(accepted, 5u);
}

}  // namespace
}  // namespace kubemend::analyzer
