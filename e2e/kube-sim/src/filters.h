#pragma once

// Which objects a list or watch returns: namespace, label selector, field
// selector (with the per-resource field set the API server supports; any
// other field label is a 400), and an optional exact name.

#include "resources.h"
#include "selectors.h"

#include <optional>
#include <string>

namespace kubesim {

struct ObjectFilter {
  std::string ns;    // "" = all namespaces
  std::string name;  // "" = any
  LabelSelector labels;
  FieldSelector fields;

  bool matches(const ResourceInfo& r, const Json& object) const;
};

// Throws ApiError(400) "field label not supported" for fields the real API
// server would reject for this resource.
void validate_field_selector(const ResourceInfo& r, const FieldSelector& fields);
// The string value of a selectable field of an object.
std::optional<std::string> field_value(const ResourceInfo& r, const Json& object, const std::string& field);

}  // namespace kubesim
