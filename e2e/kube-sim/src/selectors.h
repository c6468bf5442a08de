#pragma once

// Label and field selectors with the grammar and semantics of
// k8s.io/apimachinery/pkg/labels and pkg/fields. Parsing errors come back as
// ApiError 400, the way the API server rejects a bad ?labelSelector=.

#include "json_util.h"

#include <map>
#include <string>
#include <vector>

namespace kubesim {

class LabelSelector {
 public:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist, kGreaterThan, kLessThan };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };

  // Matches everything.
  LabelSelector() = default;

  // "app=web,tier in (a,b),!legacy"; throws ApiError(400) on bad syntax.
  static LabelSelector parse(const std::string& text);
  // A metav1.LabelSelector object (matchLabels / matchExpressions). A null
  // or absent selector yields `nothing` = true, which matches no object, as
  // the API's LabelSelectorAsSelector does for nil.
  static LabelSelector from_json(const Json* selector);

  bool matches(const std::map<std::string, std::string>& labels) const;
  bool empty() const { return requirements_.empty() && !nothing_; }
  bool matches_nothing() const { return nothing_; }
  // Canonical text form ("app=web,tier in (a,b)"), as in Scale.status.selector.
  std::string to_string() const;
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
  bool nothing_ = false;
};

class FieldSelector {
 public:
  struct Requirement {
    std::string field;
    bool negate;
    std::string value;
  };

  static FieldSelector parse(const std::string& text);
  bool empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace kubesim
