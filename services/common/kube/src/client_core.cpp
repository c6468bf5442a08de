#include "client_core.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "errors.h"
#include "logging.h"

namespace kubemend::kube::internal {
namespace {

bool IsIdempotent(const std::string& method) { return method == "GET" || method == "PUT" || method == "DELETE"; }

bool IsRetryableStatus(long status) { return status == 429 || status == 500 || status == 502 || status == 503 || status == 504; }

}  // namespace

std::string Query(std::initializer_list<std::pair<std::string_view, std::string>> params) {
  std::string out;
  for (const auto& [key, value] : params) {
    if (value.empty()) {
      continue;
    }
    out += out.empty() ? "?" : "&";
    out += key;
    out += "=";
    out += UrlEncode(value);
  }
  return out;
}

ClientCore::ClientCore(std::shared_ptr<Transport> transport) : transport_(std::move(transport)) {}

double ClientCore::Random() {
  const auto& random = transport_->options().random;
  if (random) {
    return random();
  }
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

std::chrono::milliseconds ClientCore::Jitter(std::chrono::milliseconds d) {
  const double j = std::clamp(transport_->options().retry.jitter, 0.0, 1.0);
  const double factor = 1.0 - j + 2.0 * j * Random();
  return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(d.count()) * factor));
}

std::chrono::milliseconds ClientCore::Backoff(int attempt) {
  const auto& retry = transport_->options().retry;
  auto wait = retry.initial_backoff;
  for (int i = 1; i < attempt && wait < retry.max_backoff; ++i) {
    wait *= 2;
  }
  return Jitter(std::min(wait, retry.max_backoff));
}

void ClientCore::Sleep(std::chrono::milliseconds d) {
  const auto& sleep = transport_->options().sleep;
  if (sleep) {
    sleep(d);
  } else {
    std::this_thread::sleep_for(d);
  }
}

Result<HttpResponse> ClientCore::Call(const HttpRequest& request) {
  const auto& retry = transport_->options().retry;
  const int max_attempts = std::max(1, retry.max_attempts);
  const bool idempotent = IsIdempotent(request.method);
  for (int attempt = 1;; ++attempt) {
    const auto started = std::chrono::steady_clock::now();
    auto result = transport_->Perform(request);
    const auto elapsed_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    Error error;
    bool retryable = false;
    std::optional<std::chrono::milliseconds> retry_after;
    if (result.ok()) {
      const long status = result->status;
      if (status >= 200 && status < 300) {
        Log()->debug("event=request method={} target={} status={} attempt={} duration_ms={}", request.method,
                     request.target, status, attempt, elapsed_ms);
        return std::move(result).value();
      }
      error = ErrorFromHttp(status, result->body);
      retry_after = result->retry_after;
      // 429 means "not processed"; a 5xx may have been applied, so only an
      // idempotent request is repeated unless the server asked for a retry.
      retryable = IsRetryableStatus(status) && error.kind != ErrorKind::kDisruptionBudget &&
                  (status == 429 || idempotent || retry_after.has_value());
    } else {
      const TransportFailure& failure = result.error();
      error = failure.error;
      retryable = (error.kind == ErrorKind::kUnavailable || error.kind == ErrorKind::kTimeout) &&
                  (idempotent || !failure.request_sent);
    }
    if (!retryable || attempt >= max_attempts) {
      Log()->debug("event=request_failed method={} target={} kind={} status={} attempt={} retryable={}",
                   request.method, request.target, ToString(error.kind), error.http_status, attempt, retryable);
      return error;
    }
    const auto wait = retry_after ? std::min(*retry_after, retry.max_retry_after) : Backoff(attempt);
    Log()->warn("event=request_retry method={} target={} kind={} status={} attempt={} max_attempts={} wait_ms={} "
                "retry_after={} message=\"{}\"",
                request.method, request.target, ToString(error.kind), error.http_status, attempt, max_attempts,
                wait.count(), retry_after.has_value(), error.message);
    Sleep(wait);
  }
}

Result<nlohmann::json> ClientCore::CallJson(const HttpRequest& request) {
  auto response = Call(request);
  if (!response.ok()) {
    return response.error();
  }
  auto parsed = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return MakeError(ErrorKind::kDecode, fmt::format("{} {}: response is not JSON: {}", request.method,
                                                     request.target, response->body.substr(0, 200)));
  }
  return parsed;
}

Result<ObjectList> ClientCore::ListPage(const ResourceType& type, std::string_view ns, const ListOptions& options) {
  HttpRequest request;
  request.method = "GET";
  request.target = CollectionPath(type, ns) +
                   Query({{"labelSelector", options.label_selector},
                          {"fieldSelector", options.field_selector},
                          {"limit", options.limit > 0 ? std::to_string(options.limit) : ""},
                          {"continue", options.continue_token},
                          {"resourceVersion", options.resource_version}});
  auto body = CallJson(request);
  if (!body.ok()) {
    return body.error();
  }
  const auto items = body->find("items");
  if (!body->is_object() || (items != body->end() && !items->is_array() && !items->is_null())) {
    return MakeError(ErrorKind::kDecode, fmt::format("GET {}: not a list", request.target));
  }
  ObjectList list;
  if (items != body->end() && items->is_array()) {
    list.items.reserve(items->size());
    for (auto& item : *items) {
      // Items of a typed list carry no kind/apiVersion; add them so every
      // object handed out is self-describing.
      if (item.is_object()) {
        if (!item.contains("kind") && !type.kind.empty()) {
          item["kind"] = type.kind;
        }
        if (!item.contains("apiVersion")) {
          item["apiVersion"] = type.ApiVersion();
        }
      }
      list.items.push_back(std::move(item));
    }
  }
  const auto metadata = body->find("metadata");
  if (metadata != body->end() && metadata->is_object()) {
    list.resource_version = metadata->value("resourceVersion", "");
    list.continue_token = metadata->value("continue", "");
  }
  return list;
}

}  // namespace kubemend::kube::internal
