#include "api_error.h"
#include "selectors.h"

#include <gtest/gtest.h>

namespace kubesim {
namespace {

using Labels = std::map<std::string, std::string>;

TEST(LabelSelectorTest, EqualityForms) {
  auto s = LabelSelector::parse("app=web,tier==front");
  EXPECT_TRUE(s.matches({{"app", "web"}, {"tier", "front"}, {"x", "y"}}));
  EXPECT_FALSE(s.matches({{"app", "web"}}));
  EXPECT_FALSE(s.matches({{"app", "db"}, {"tier", "front"}}));
}

TEST(LabelSelectorTest, NotEqualsMatchesMissingKey) {
  auto s = LabelSelector::parse("app!=web");
  EXPECT_TRUE(s.matches({}));
  EXPECT_TRUE(s.matches({{"app", "db"}}));
  EXPECT_FALSE(s.matches({{"app", "web"}}));
}

TEST(LabelSelectorTest, SetBased) {
  auto s = LabelSelector::parse("env in (prod, staging),tier notin (cache)");
  EXPECT_TRUE(s.matches({{"env", "prod"}}));
  EXPECT_TRUE(s.matches({{"env", "staging"}, {"tier", "web"}}));
  EXPECT_FALSE(s.matches({{"env", "dev"}}));
  EXPECT_FALSE(s.matches({{"env", "prod"}, {"tier", "cache"}}));
  EXPECT_FALSE(s.matches({}));
}

TEST(LabelSelectorTest, ExistsAndDoesNotExist) {
  auto s = LabelSelector::parse("canary,!legacy");
  EXPECT_TRUE(s.matches({{"canary", ""}}));
  EXPECT_FALSE(s.matches({{"canary", "x"}, {"legacy", "1"}}));
  EXPECT_FALSE(s.matches({}));
}

TEST(LabelSelectorTest, GreaterAndLessThan) {
  auto s = LabelSelector::parse("gen>2,gen<10");
  EXPECT_TRUE(s.matches({{"gen", "5"}}));
  EXPECT_FALSE(s.matches({{"gen", "2"}}));
  EXPECT_FALSE(s.matches({{"gen", "abc"}}));
}

TEST(LabelSelectorTest, EmptyMatchesEverything) {
  EXPECT_TRUE(LabelSelector::parse("").matches({{"a", "b"}}));
  EXPECT_TRUE(LabelSelector::parse("  ").empty());
}

TEST(LabelSelectorTest, RejectsMalformed) {
  EXPECT_THROW(LabelSelector::parse("app in (a,b"), ApiError);
  EXPECT_THROW(LabelSelector::parse("app=we b"), ApiError);
  EXPECT_THROW(LabelSelector::parse("a,,b"), ApiError);
  EXPECT_THROW(LabelSelector::parse("x>y"), ApiError);
  try {
    LabelSelector::parse("app in (a,b");
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), 400);
  }
}

TEST(LabelSelectorTest, FromJsonMatchLabelsAndExpressions) {
  Json sel = Json::parse(R"({"matchLabels":{"app":"web"},
      "matchExpressions":[{"key":"env","operator":"In","values":["prod","qa"]},{"key":"old","operator":"DoesNotExist"}]})");
  auto s = LabelSelector::from_json(&sel);
  EXPECT_TRUE(s.matches({{"app", "web"}, {"env", "qa"}}));
  EXPECT_FALSE(s.matches({{"app", "web"}, {"env", "qa"}, {"old", "1"}}));
  EXPECT_EQ(s.to_string(), "app=web,env in (prod,qa),!old");
}

TEST(LabelSelectorTest, NullSelectorMatchesNothingEmptyMatchesAll) {
  EXPECT_FALSE(LabelSelector::from_json(nullptr).matches({{"a", "b"}}));
  Json empty = Json::object();
  EXPECT_TRUE(LabelSelector::from_json(&empty).matches({{"a", "b"}}));
}

TEST(FieldSelectorTest, ParsesOperators) {
  auto f = FieldSelector::parse("metadata.name=web,spec.nodeName!=node-1,status.phase==Running");
  ASSERT_EQ(f.requirements().size(), 3u);
  EXPECT_EQ(f.requirements()[0].field, "metadata.name");
  EXPECT_FALSE(f.requirements()[0].negate);
  EXPECT_TRUE(f.requirements()[1].negate);
  EXPECT_EQ(f.requirements()[2].value, "Running");
  EXPECT_THROW(FieldSelector::parse("nonsense"), ApiError);
}

}  // namespace
}  // namespace kubesim
