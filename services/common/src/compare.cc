#include "kubemend/common/compare.h"

#include <cmath>

namespace kubemend {

bool ParseCompareOp(std::string_view s, CompareOp* out) {
  struct Entry {
    std::string_view text;
    CompareOp op;
  };
  static constexpr Entry kOps[] = {{">", CompareOp::kGreater}, {">=", CompareOp::kGreaterEqual},
                                   {"<", CompareOp::kLess},    {"<=", CompareOp::kLessEqual},
                                   {"==", CompareOp::kEqual},  {"!=", CompareOp::kNotEqual}};
  for (const auto& e : kOps) {
    if (e.text == s) {
      *out = e.op;
      return true;
    }
  }
  return false;
}

const char* CompareOpString(CompareOp op) {
  switch (op) {
    case CompareOp::kGreater: return ">";
    case CompareOp::kGreaterEqual: return ">=";
    case CompareOp::kLess: return "<";
    case CompareOp::kLessEqual: return "<=";
    case CompareOp::kEqual: return "==";
    case CompareOp::kNotEqual: return "!=";
  }
  return "?";
}

const char* CompareOpChoices() { return "> >= < <= == !="; }

bool Compare(double value, CompareOp op, double threshold) {
  // Every IEEE comparison with NaN is false except !=, which would make a
  // "!= 0" condition hold on missing data: NaN holds nothing.
  if (std::isnan(value) || std::isnan(threshold)) {
    return false;
  }
  switch (op) {
    case CompareOp::kGreater: return value > threshold;
    case CompareOp::kGreaterEqual: return value >= threshold;
    case CompareOp::kLess: return value < threshold;
    case CompareOp::kLessEqual: return value <= threshold;
    case CompareOp::kEqual: return value == threshold;
    case CompareOp::kNotEqual: return value != threshold;
  }
  return false;
}

void SplitCondition(std::string_view condition, std::string* op, std::string* rest) {
  size_t i = 0;
  while (i < condition.size() && (condition[i] == '>' || condition[i] == '<' || condition[i] == '=' ||
                                  condition[i] == '!')) {
    ++i;
  }
  *op = std::string(condition.substr(0, i));
  size_t j = i;
  while (j < condition.size() && (condition[j] == ' ' || condition[j] == '\t')) {
    ++j;
  }
  *rest = std::string(condition.substr(j));
}

}  // namespace kubemend
