#include "logging.h"

namespace kubemend::kube::internal {

std::shared_ptr<spdlog::logger> Log() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("kube")) {
      return existing;
    }
    auto base = spdlog::default_logger();
    auto created = std::make_shared<spdlog::logger>("kube", base->sinks().begin(), base->sinks().end());
    created->set_level(base->level());
    try {
      spdlog::register_logger(created);
    } catch (const spdlog::spdlog_ex&) {
      // Registered concurrently by someone else: use theirs.
      if (auto existing = spdlog::get("kube")) {
        return existing;
      }
    }
    return created;
  }();
  return logger;
}

}  // namespace kubemend::kube::internal
