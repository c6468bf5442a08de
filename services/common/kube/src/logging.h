#pragma once

#include <memory>

#include <spdlog/spdlog.h>

namespace kubemend::kube::internal {

// The library's named logger, "kube". It shares the default logger's sinks
// and level unless the service registered its own "kube" logger first.
std::shared_ptr<spdlog::logger> Log();

}  // namespace kubemend::kube::internal
