#pragma once
// The one comparison of a value with a threshold, for every place that holds
// a condition like "> 0.9": the collector's metric triggers and cost budgets,
// the analyzer's policy triggers (matched against a signal's value, and the
// policies' own `query` conditions).
//
// NaN: a NaN value (Prometheus' "no data", 0/0) satisfies NO comparison, not
// even "!=": a condition on a NaN never holds, so a NaN never fires nor keeps
// an alert firing. ±Inf compare as IEEE numbers (+Inf > 1e308 holds).
// Pure functions, thread-safe.
#include <string>
#include <string_view>

namespace kubemend {

enum class CompareOp { kGreater, kGreaterEqual, kLess, kLessEqual, kEqual, kNotEqual };

// ">", ">=", "<", "<=", "==", "!=" → the operator; false (out untouched) for
// anything else, so the caller can name its own file and field in the error.
bool ParseCompareOp(std::string_view s, CompareOp* out);
// The operator as written in configuration (">=", ...).
const char* CompareOpString(CompareOp op);
// What ParseCompareOp accepts, for error messages: "> >= < <= == !=".
const char* CompareOpChoices();
// value <op> threshold; false whenever value or threshold is NaN.
bool Compare(double value, CompareOp op, double threshold);

// Splits a condition written as one string (`"> 1Gi"`, `">=0.9"`, `"80%"`)
// into the operator characters it starts with (`op`, "" when none; not
// validated) and the rest with leading blanks removed (`rest`).
void SplitCondition(std::string_view condition, std::string* op, std::string* rest);

}  // namespace kubemend
