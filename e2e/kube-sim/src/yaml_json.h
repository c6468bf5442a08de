#pragma once

// YAML (one or many documents, as kubectl accepts) to JSON, with YAML 1.1
// scalar typing for plain scalars (true/false, null, integers, floats) and
// quoted scalars kept as strings. Throws ApiError(400) on a parse error.

#include "json_util.h"

#include <string>
#include <vector>

namespace kubesim {

std::vector<Json> parse_yaml_documents(const std::string& text);
// JSON if it parses as JSON, else YAML; `kind: List` documents are
// flattened into their items. Empty documents are skipped.
std::vector<Json> parse_manifests(const std::string& text);

}  // namespace kubesim
