#include "api_error.h"

namespace kubesim {

namespace {

// Splits "deployments.apps" into {"deployments", "apps"}.
std::pair<std::string, std::string> split_qualified(const std::string& qualified) {
  auto dot = qualified.find('.');
  if (dot == std::string::npos) {
    return {qualified, ""};
  }
  return {qualified.substr(0, dot), qualified.substr(dot + 1)};
}

Json details_for(const std::string& qualified, const std::string& name) {
  auto [resource, group] = split_qualified(qualified);
  Json d = {{"name", name}, {"kind", resource}};
  if (!group.empty()) {
    d["group"] = group;
  }
  return d;
}

}  // namespace

ApiError::ApiError(int code, std::string reason, std::string message)
    : std::runtime_error(std::move(message)), code_(code), reason_(std::move(reason)) {}

ApiError& ApiError::with_details(Json details) {
  details_ = std::move(details);
  return *this;
}

Json ApiError::to_status() const {
  Json status = {{"kind", "Status"},
                 {"apiVersion", "v1"},
                 {"metadata", Json::object()},
                 {"status", "Failure"},
                 {"message", what()},
                 {"code", code_}};
  if (!reason_.empty()) {
    status["reason"] = reason_;
  }
  if (!details_.is_null()) {
    status["details"] = details_;
  }
  return status;
}

ApiError ApiError::not_found(const std::string& qualified, const std::string& name) {
  return ApiError(404, "NotFound", qualified + " \"" + name + "\" not found")
      .with_details(details_for(qualified, name));
}

ApiError ApiError::already_exists(const std::string& qualified, const std::string& name) {
  return ApiError(409, "AlreadyExists", qualified + " \"" + name + "\" already exists")
      .with_details(details_for(qualified, name));
}

ApiError ApiError::conflict(const std::string& qualified, const std::string& name, const std::string& why) {
  return ApiError(409, "Conflict", "Operation cannot be fulfilled on " + qualified + " \"" + name + "\": " + why)
      .with_details(details_for(qualified, name));
}

ApiError ApiError::invalid(const std::string& kind_qualified, const std::string& name,
                           const std::vector<StatusCause>& causes) {
  std::string message = kind_qualified + " \"" + name + "\" is invalid: ";
  Json json_causes = Json::array();
  for (std::size_t i = 0; i < causes.size(); ++i) {
    if (i > 0) {
      message += ", ";
    }
    message += causes[i].field + ": " + causes[i].message;
    json_causes.push_back({{"reason", causes[i].reason}, {"message", causes[i].message}, {"field", causes[i].field}});
  }
  if (causes.size() > 1) {
    // The API server brackets multiple causes.
    std::string joined;
    for (std::size_t i = 0; i < causes.size(); ++i) {
      joined += (i ? ", " : "") + causes[i].field + ": " + causes[i].message;
    }
    message = kind_qualified + " \"" + name + "\" is invalid: [" + joined + "]";
  }
  auto dot = kind_qualified.find('.');
  Json details = {{"name", name},
                  {"kind", dot == std::string::npos ? kind_qualified : kind_qualified.substr(0, dot)},
                  {"causes", json_causes}};
  if (dot != std::string::npos) {
    details["group"] = kind_qualified.substr(dot + 1);
  }
  return ApiError(422, "Invalid", message).with_details(details);
}

ApiError ApiError::bad_request(const std::string& message) { return ApiError(400, "BadRequest", message); }

ApiError ApiError::forbidden(const std::string& qualified, const std::string& name, const std::string& why) {
  std::string message = qualified + " \"" + name + "\" is forbidden: " + why;
  return ApiError(403, "Forbidden", message).with_details(details_for(qualified, name));
}

ApiError ApiError::gone(const std::string& message) { return ApiError(410, "Expired", message); }

ApiError ApiError::too_many_requests(const std::string& message, const std::vector<StatusCause>& causes) {
  Json json_causes = Json::array();
  for (const auto& c : causes) {
    json_causes.push_back({{"reason", c.reason}, {"message", c.message}});
  }
  return ApiError(429, "TooManyRequests", message).with_details({{"causes", json_causes}});
}

ApiError ApiError::method_not_allowed(const std::string& message) {
  return ApiError(405, "MethodNotAllowed", message);
}

ApiError ApiError::unsupported_media_type(const std::string& content_type) {
  return ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media "
                                               "types include: application/json-patch+json, "
                                               "application/merge-patch+json, "
                                               "application/strategic-merge-patch+json (got " +
                                                   content_type + ")");
}

ApiError ApiError::unauthorized() { return ApiError(401, "Unauthorized", "Unauthorized"); }

ApiError ApiError::internal(const std::string& message) {
  return ApiError(500, "InternalError", "Internal error occurred: " + message);
}

}  // namespace kubesim
