#pragma once

// A minimal OpenAPI v3 description: the /openapi/v3 index and one document
// per group/version listing each resource's paths, the GVK extension and the
// query parameters. kubectl reads it to learn that the server does
// server-side field validation (fieldValidation on PATCH) before `create`
// and `apply`; without it kubectl refuses to validate and stops. Schemas
// are not described, so kubectl falls back to its built-in types for
// strategic merge patches, which is what it does for any server whose
// schema it cannot use.

#include "json_util.h"

#include <optional>
#include <string>

namespace kubesim {

Json openapi_v3_index();
// `group_version` as in the index ("api/v1", "apis/apps/v1"); nullopt if
// not served.
std::optional<Json> openapi_v3_document(const std::string& group_version);

}  // namespace kubesim
