#pragma once

// Turning API server answers into Error values.

#include <string_view>

#include <nlohmann/json.hpp>

#include "kubemend/kube/result.h"

namespace kubemend::kube::internal {

// From an HTTP status and the response body (usually a metav1.Status).
Error ErrorFromHttp(long status, std::string_view body);
// From a metav1.Status object, e.g. the object of a watch ERROR event.
// fallback_status is used when the object carries no code.
Error ErrorFromStatus(const nlohmann::json& status, long fallback_status);

}  // namespace kubemend::kube::internal
