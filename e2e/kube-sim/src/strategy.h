#pragma once

// Per-kind API semantics that the real API server applies on every write:
// defaulting (imagePullPolicy, strategy, revisionHistoryLimit, ...),
// validation (422 Invalid with field causes), and which parts of an object
// a write may change (spec vs status subresource, immutable fields). Pure
// functions over JSON; no store access.

#include "resources.h"

#include <string>

namespace kubesim {

struct StrategyOptions {
  // DefaultTolerationSeconds admission: not-ready/unreachable NoExecute
  // tolerations added to every pod (the API server's
  // --default-not-ready-toleration-seconds, 300 by default).
  std::int64_t default_toleration_seconds = 300;
};

// Fills defaults in place. Safe to call twice.
void apply_defaults(const ResourceInfo& r, Json& object, const StrategyOptions& options);

// Throws ApiError(422) listing every problem found. `old` is the stored
// object on update, nullptr on create.
void validate_object(const ResourceInfo& r, const Json& object, const Json* old);

// What the main resource endpoint may write: status comes from the stored
// object (or is dropped on create) for types with a status subresource.
void prepare_for_create(const ResourceInfo& r, Json& object);
void prepare_for_update(const ResourceInfo& r, Json& object, const Json& old);
// For PUT/PATCH on .../status: only status is taken from the new object.
Json merge_status_update(const Json& incoming, const Json& old);

// DNS-1123 subdomain (most names) and label (namespaces, container names).
bool is_dns_subdomain(const std::string& name);
bool is_dns_label(const std::string& name);

}  // namespace kubesim
