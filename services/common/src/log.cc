#include "kubemend/common/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

namespace kubemend {
namespace {

std::mutex g_mu;
std::string g_service = "kubemend";
std::string g_pattern;
spdlog::level::level_enum g_level = spdlog::level::info;

}  // namespace

void InitLogging(const std::string& service, const std::string& level, const std::string& format) {
  std::lock_guard lock(g_mu);
  g_service = service;
  g_level = spdlog::level::from_str(level);
  (void)format;  // logfmt is the only format; the key exists so JSON can be added compatibly
  g_pattern = "ts=%Y-%m-%dT%H:%M:%S.%fZ level=%l service=" + service + " logger=%n %v";
  spdlog::set_pattern(g_pattern, spdlog::pattern_time_type::utc);
  spdlog::set_level(g_level);
  spdlog::flush_on(spdlog::level::info);
}

std::shared_ptr<spdlog::logger> Logger(const std::string& module) {
  std::lock_guard lock(g_mu);
  auto existing = spdlog::get(module);
  if (existing) {
    return existing;
  }
  auto logger = std::make_shared<spdlog::logger>(
      module, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (!g_pattern.empty()) {
    logger->set_pattern(g_pattern, spdlog::pattern_time_type::utc);
  }
  logger->set_level(g_level);
  logger->flush_on(spdlog::level::info);
  spdlog::register_logger(logger);
  return logger;
}

std::string Q(const std::string& value) {
  bool needs = value.empty();
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t') {
      needs = true;
      break;
    }
  }
  if (!needs) {
    return value;
  }
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

}  // namespace kubemend
