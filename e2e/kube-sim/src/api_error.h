#pragma once

// ApiError is the one error type of the simulator core: it carries exactly
// what goes into a Kubernetes `Status` object (code, reason, message,
// details). The core throws it where a request cannot proceed (not found,
// conflict, invalid...), and the request handler turns it into the HTTP
// response in one place, so no path can leak a crash or an HTML error to a
// client.

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace kubesim {

using Json = nlohmann::json;

struct StatusCause {
  std::string reason;   // e.g. "FieldValueInvalid"
  std::string message;  // e.g. "Invalid value: -1: must be greater than or equal to 0"
  std::string field;    // e.g. "spec.replicas"
};

class ApiError : public std::runtime_error {
 public:
  ApiError(int code, std::string reason, std::string message);

  int code() const { return code_; }
  const std::string& reason() const { return reason_; }
  Json details() const { return details_; }
  ApiError& with_details(Json details);

  // The `Status` object (kind Status, apiVersion v1) a real API server sends.
  Json to_status() const;

  // `qualified` is "pods" or "deployments.apps": resource plus group.
  static ApiError not_found(const std::string& qualified, const std::string& name);
  static ApiError already_exists(const std::string& qualified, const std::string& name);
  static ApiError conflict(const std::string& qualified, const std::string& name, const std::string& why);
  // `kind_qualified` is "Pod" or "Deployment.apps".
  static ApiError invalid(const std::string& kind_qualified, const std::string& name,
                          const std::vector<StatusCause>& causes);
  static ApiError bad_request(const std::string& message);
  static ApiError forbidden(const std::string& qualified, const std::string& name, const std::string& why);
  static ApiError gone(const std::string& message);
  static ApiError too_many_requests(const std::string& message, const std::vector<StatusCause>& causes);
  static ApiError method_not_allowed(const std::string& message);
  static ApiError unsupported_media_type(const std::string& content_type);
  static ApiError unauthorized();
  static ApiError internal(const std::string& message);

 private:
  int code_;
  std::string reason_;
  Json details_;
};

}  // namespace kubesim
