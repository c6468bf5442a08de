#pragma once

// The three PATCH flavours the API server accepts, as pure functions over
// JSON. Each returns the patched document or throws ApiError (400 for a
// patch that is not well formed, 422 for one that cannot apply).

#include "json_util.h"

#include <string>

namespace kubesim {

// application/merge-patch+json (RFC 7386): objects merge, null deletes,
// everything else (lists included) replaces.
Json apply_merge_patch(const Json& original, const Json& patch);

// application/strategic-merge-patch+json for the built-in types: like a
// merge patch, but lists whose Go field carries a patchMergeKey (containers
// and env by name, volumeMounts by mountPath, ports by containerPort,
// conditions by type, ...) merge element by element, `finalizers` merges as
// a set, and the directives $patch (replace/delete/merge), $retainKeys,
// $setElementOrder/<list> and $deleteFromPrimitiveList/<list> are honoured.
Json apply_strategic_merge_patch(const Json& original, const Json& patch);

// application/json-patch+json (RFC 6902): add, remove, replace, move, copy,
// test. A failed `test` is a 422, like the API server answers.
Json apply_json_patch(const Json& original, const Json& patch);

// The patchMergeKey of a list field in the built-in types, or "" when the
// list is atomic. Exposed for tests.
std::string strategic_merge_key(const std::string& field, const Json& sample_element);

}  // namespace kubesim
