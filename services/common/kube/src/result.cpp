#include "kubemend/kube/result.h"

#include <fmt/format.h>

namespace kubemend::kube {

std::string_view ToString(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalid:
      return "invalid";
    case ErrorKind::kUnauthorized:
      return "unauthorized";
    case ErrorKind::kForbidden:
      return "forbidden";
    case ErrorKind::kNotFound:
      return "not_found";
    case ErrorKind::kUnsupported:
      return "unsupported";
    case ErrorKind::kConflict:
      return "conflict";
    case ErrorKind::kAlreadyExists:
      return "already_exists";
    case ErrorKind::kGone:
      return "gone";
    case ErrorKind::kTooManyRequests:
      return "too_many_requests";
    case ErrorKind::kDisruptionBudget:
      return "disruption_budget";
    case ErrorKind::kInternal:
      return "internal";
    case ErrorKind::kUnavailable:
      return "unavailable";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kTls:
      return "tls";
    case ErrorKind::kConfig:
      return "config";
    case ErrorKind::kDecode:
      return "decode";
    case ErrorKind::kCancelled:
      return "cancelled";
    case ErrorKind::kUnknown:
      return "unknown";
  }
  return "unknown";
}

bool Error::IsRetryable() const {
  switch (kind) {
    case ErrorKind::kTooManyRequests:
    case ErrorKind::kUnavailable:
    case ErrorKind::kTimeout:
    case ErrorKind::kInternal:
      return true;
    default:
      return false;
  }
}

std::string Error::ToString() const {
  std::string out(kube::ToString(kind));
  if (http_status != 0) {
    out += fmt::format(" (HTTP {}{}{})", http_status, reason.empty() ? "" : " ", reason);
  }
  if (!message.empty()) {
    out += ": ";
    out += message;
  }
  return out;
}

Error MakeError(ErrorKind kind, std::string message) {
  Error e;
  e.kind = kind;
  e.message = std::move(message);
  return e;
}

}  // namespace kubemend::kube
