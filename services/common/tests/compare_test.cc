// The one comparison (kubemend/common/compare.h): every operator over a table
// of values, NaN and the infinities, parsing and splitting conditions.
#include "kubemend/common/compare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace kubemend {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Row {
  double value;
  const char* op;
  double threshold;
  bool holds;
};

TEST(CompareTest, TableOfOperatorsValuesNaNAndInfinity) {
  const Row rows[] = {
      {2, ">", 1, true},        {1, ">", 1, false},      {0, ">", 1, false},
      {2, ">=", 1, true},       {1, ">=", 1, true},      {0, ">=", 1, false},
      {2, "<", 1, false},       {1, "<", 1, false},      {0, "<", 1, true},
      {2, "<=", 1, false},      {1, "<=", 1, true},      {0, "<=", 1, true},
      {1, "==", 1, true},       {1.5, "==", 1, false},   {1, "!=", 1, false},
      {1.5, "!=", 1, true},     {-0.0, "==", 0.0, true},
      // NaN (no data) holds nothing, "!=" included, on either side.
      {kNaN, ">", 1, false},    {kNaN, ">=", 1, false},  {kNaN, "<", 1, false},
      {kNaN, "<=", 1, false},   {kNaN, "==", 1, false},  {kNaN, "!=", 1, false},
      {kNaN, "!=", kNaN, false}, {1, "!=", kNaN, false}, {1, "<", kNaN, false},
      // Infinities are ordinary IEEE numbers.
      {kInf, ">", 1e308, true}, {-kInf, "<", -1e308, true}, {kInf, "==", kInf, true},
      {kInf, "!=", kInf, false}, {kInf, ">=", kInf, true}, {-kInf, ">", 0, false},
  };
  for (const Row& r : rows) {
    CompareOp op;
    ASSERT_TRUE(ParseCompareOp(r.op, &op)) << r.op;
    EXPECT_EQ(Compare(r.value, op, r.threshold), r.holds) << r.value << " " << r.op << " " << r.threshold;
  }
}

TEST(CompareTest, ParseAndPrintRoundTripAndUnknownOperatorsAreRefused) {
  for (const char* s : {">", ">=", "<", "<=", "==", "!="}) {
    CompareOp op;
    ASSERT_TRUE(ParseCompareOp(s, &op)) << s;
    EXPECT_STREQ(CompareOpString(op), s);
  }
  CompareOp op = CompareOp::kLess;
  for (const char* s : {"", "=", "=>", "<>", "!", ">>", "gt", " >", "> "}) {
    EXPECT_FALSE(ParseCompareOp(s, &op)) << s;
    EXPECT_EQ(op, CompareOp::kLess) << "untouched on failure";
  }
  EXPECT_STREQ(CompareOpChoices(), "> >= < <= == !=");
}

TEST(CompareTest, SplitConditionSeparatesOperatorAndRest) {
  std::string op;
  std::string rest;
  SplitCondition("> 1Gi", &op, &rest);
  EXPECT_EQ(op, ">");
  EXPECT_EQ(rest, "1Gi");
  SplitCondition(">=0.9", &op, &rest);
  EXPECT_EQ(op, ">=");
  EXPECT_EQ(rest, "0.9");
  SplitCondition("80%", &op, &rest);
  EXPECT_EQ(op, "");
  EXPECT_EQ(rest, "80%");
  SplitCondition("=> 3", &op, &rest);  // not validated here: ParseCompareOp refuses "=>"
  EXPECT_EQ(op, "=>");
  EXPECT_EQ(rest, "3");
  SplitCondition("", &op, &rest);
  EXPECT_EQ(op, "");
  EXPECT_EQ(rest, "");
}

}  // namespace
}  // namespace kubemend
