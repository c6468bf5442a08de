#pragma once

// Small helpers over nlohmann::json for the shapes Kubernetes objects have.
// None of them throw on a missing or mistyped field: objects come from
// clients, and a field that is absent or of the wrong type reads as empty.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace kubesim {

using Json = nlohmann::json;

// Follows a dotted path ("spec.template.metadata") through objects;
// nullptr when any step is missing or not an object.
const Json* find_path(const Json& root, std::string_view dotted);
std::string string_at(const Json& root, std::string_view dotted, const std::string& fallback = "");
std::int64_t int_at(const Json& root, std::string_view dotted, std::int64_t fallback = 0);
bool bool_at(const Json& root, std::string_view dotted, bool fallback = false);

// Returns the object at `dotted`, creating empty objects on the way (and
// replacing non-objects). For building status blocks.
Json& ensure_path(Json& root, std::string_view dotted);

std::map<std::string, std::string> string_map(const Json* node);
std::map<std::string, std::string> labels_of(const Json& object);

inline std::string name_of(const Json& o) { return string_at(o, "metadata.name"); }
inline std::string namespace_of(const Json& o) { return string_at(o, "metadata.namespace"); }
inline std::string uid_of(const Json& o) { return string_at(o, "metadata.uid"); }

// Kubernetes resource quantities ("100m", "128Mi", "1.5Gi", "2e3", 3).
// Returns the value in base units (cores, bytes) or nullopt when malformed.
std::optional<double> parse_quantity(const Json& value);
std::optional<double> parse_quantity(std::string_view text);
// Formats bytes the way the API server canonicalises binary quantities when
// they are exact ("1Gi", "512Mi"), falling back to a plain integer.
std::string format_bytes_quantity(std::int64_t bytes);

// An IntOrString that is either an absolute count or a percentage of
// `total` (maxSurge, maxUnavailable, minAvailable). round_up picks ceil.
std::optional<std::int64_t> scaled_int_or_percent(const Json& value, std::int64_t total, bool round_up);

// The object's condition of the given type, or nullptr.
const Json* find_condition(const Json& object, const std::string& type);
// Sets a condition in status.conditions, keeping lastTransitionTime when the
// status does not change (as controllers do). Returns true if anything moved.
bool set_condition(Json& object, const std::string& type, const std::string& status, const std::string& reason,
                   const std::string& message, const std::string& now, bool with_probe_time = false,
                   bool with_update_time = false);

// FNV-1a 32-bit, as used for pod-template-hash.
std::uint32_t fnv32a(std::string_view data);
// k8s.io/apimachinery rand.SafeEncodeString: maps digits onto the
// consonant alphabet so hashes cannot spell words.
std::string safe_encode(const std::string& s);

}  // namespace kubesim
