#include "errors.h"

#include <fmt/format.h>

namespace kubemend::kube::internal {
namespace {

bool MentionsDisruptionBudget(const nlohmann::json& status, const std::string& message) {
  // The eviction subresource answers 429 with a Status whose causes carry
  // reason "DisruptionBudget" (older servers: only the message says so).
  const auto details = status.find("details");
  if (details != status.end() && details->is_object()) {
    const auto causes = details->find("causes");
    if (causes != details->end() && causes->is_array()) {
      for (const auto& cause : *causes) {
        if (cause.is_object() && cause.value("reason", "") == "DisruptionBudget") {
          return true;
        }
      }
    }
  }
  return message.find("disruption budget") != std::string::npos;
}

ErrorKind KindFor(long status, const std::string& reason) {
  switch (status) {
    case 400:
    case 422:
      return ErrorKind::kInvalid;
    case 401:
      return ErrorKind::kUnauthorized;
    case 403:
      return ErrorKind::kForbidden;
    case 404:
      return ErrorKind::kNotFound;
    case 405:
    case 406:
    case 415:
      return ErrorKind::kUnsupported;
    case 409:
      return reason == "AlreadyExists" ? ErrorKind::kAlreadyExists : ErrorKind::kConflict;
    case 410:
      return ErrorKind::kGone;
    case 429:
      return ErrorKind::kTooManyRequests;
    case 500:
      return ErrorKind::kInternal;
    case 502:
    case 503:
      return ErrorKind::kUnavailable;
    case 504:
      return ErrorKind::kTimeout;
    default:
      return ErrorKind::kUnknown;
  }
}

}  // namespace

namespace {

Error FromStatusWithCode(const nlohmann::json& status, long code) {
  Error e;
  if (status.is_object()) {
    const auto reason_it = status.find("reason");
    if (reason_it != status.end() && reason_it->is_string()) {
      e.reason = reason_it->get<std::string>();
    }
    const auto message_it = status.find("message");
    if (message_it != status.end() && message_it->is_string()) {
      e.message = message_it->get<std::string>();
    }
  }
  e.http_status = static_cast<int>(code);
  e.kind = KindFor(code, e.reason);
  if (e.reason == "Expired" || e.reason == "Gone") {
    e.kind = ErrorKind::kGone;
  }
  if (code == 429 && MentionsDisruptionBudget(status, e.message)) {
    e.kind = ErrorKind::kDisruptionBudget;
  }
  if (e.message.empty()) {
    e.message = fmt::format("HTTP {}", code);
  }
  return e;
}

}  // namespace

Error ErrorFromStatus(const nlohmann::json& status, long fallback_status) {
  long code = fallback_status;
  if (status.is_object()) {
    const auto code_it = status.find("code");
    if (code_it != status.end() && code_it->is_number_integer()) {
      code = code_it->get<long>();
    }
  }
  return FromStatusWithCode(status, code);
}

Error ErrorFromHttp(long status, std::string_view body) {
  const auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && parsed.value("kind", "") == "Status") {
    return FromStatusWithCode(parsed, status);
  }
  Error e;
  e.http_status = static_cast<int>(status);
  e.kind = KindFor(status, "");
  constexpr size_t kMaxBody = 200;
  e.message = body.empty() ? fmt::format("HTTP {} with an empty body", status)
                           : fmt::format("HTTP {}: {}", status, body.substr(0, kMaxBody));
  return e;
}

}  // namespace kubemend::kube::internal
