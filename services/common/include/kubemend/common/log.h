#pragma once
// Structured logs in logfmt (key=value) or JSON lines, through spdlog. One
// named logger per module. Every line about an event carries event_id and,
// when known, incident_id: use EventFields() to get them.
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace kubemend {

// format: "logfmt"; level: trace, debug, info, warn, error.
void InitLogging(const std::string& service, const std::string& level, const std::string& format);

// The named logger for a module (created on first use, shares the sinks).
std::shared_ptr<spdlog::logger> Logger(const std::string& module);

// Quotes a value for logfmt when it needs it.
std::string Q(const std::string& value);

}  // namespace kubemend
