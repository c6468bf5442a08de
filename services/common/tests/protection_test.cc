#include "kubemend/common/protection.h"

#include <gtest/gtest.h>

namespace kubemend {
namespace {

ProtectionRules Rules() {
  ProtectionRules r;
  r.namespaces = {"kube-system", "kubemend"};
  r.kinds = {"Secret"};
  r.labels = {{"kubemend.io/protected", "true"}, {"tier", "*"}};
  r.annotations = {{"example.com/frozen", "yes"}};
  return r;
}

TEST(ProtectionTest, EachRuleNamesItself) {
  auto rule = [](ObjectMeta m) {
    auto r = CheckProtection(m, Rules());
    return r ? r->rule : std::string("none");
  };
  EXPECT_EQ(rule({"Deployment", "shop", "web", {}, {}}), "none");
  EXPECT_EQ(rule({"Deployment", "kube-system", "coredns", {}, {}}), "protected-namespace");
  EXPECT_EQ(rule({"Namespace", "", "kubemend", {}, {}}), "protected-namespace");
  EXPECT_EQ(rule({"Secret", "shop", "s", {}, {}}), "protected-kind");
  EXPECT_EQ(rule({"Deployment", "shop", "web", {{"kubemend.io/protected", "true"}}, {}}), "protected-label");
  EXPECT_EQ(rule({"Deployment", "shop", "web", {{"kubemend.io/protected", "no"}}, {}}), "none");
  EXPECT_EQ(rule({"Deployment", "shop", "web", {{"tier", "anything"}}, {}}), "protected-label");
  EXPECT_EQ(rule({"Deployment", "shop", "web", {}, {{"example.com/frozen", "yes"}}}), "protected-annotation");
  EXPECT_EQ(rule({"Deployment", "shop", "web", {}, {{"kubemend.io/remediate", "false"}}}), "opted-out");
  EXPECT_EQ(rule({"Deployment", "shop", "web", {{"kubemend.io/remediate", "False"}}, {}}), "opted-out");
  EXPECT_EQ(rule({"Deployment", "shop", "web", {}, {{"kubemend.io/remediate", "true"}}}), "none");
  EXPECT_EQ(rule({"Namespace", "", "shop", {}, {{"kubemend.io/remediate", "false"}}}), "namespace-opted-out");
}

TEST(ProtectionTest, ReasonNamesTheObjectAndTheKey) {
  auto r = CheckProtection({"Deployment", "shop", "web", {}, {{"kubemend.io/remediate", "false"}}}, Rules());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "Deployment/shop/web opted out of remediation (annotation kubemend.io/remediate=\"false\")");
  auto n = CheckProtection({"Node", "", "n1", {{"kubemend.io/protected", "true"}}, {}}, Rules());
  ASSERT_TRUE(n);
  EXPECT_EQ(n->reason, "Node/n1 carries the protecting label kubemend.io/protected=true; kubemend never touches it");
}

}  // namespace
}  // namespace kubemend
