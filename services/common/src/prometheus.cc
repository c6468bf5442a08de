#include "kubemend/common/prometheus.h"

#include <httplib.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace kubemend {
namespace {

using nlohmann::json;

std::string Seconds3(int64_t ms) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ms) / 1000.0);
  return buf;
}

absl::StatusOr<double> ParseValue(const json& pair, TimePoint* at) {
  if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number() || !pair[1].is_string()) {
    return absl::DataLossError("Prometheus value is not [time, \"number\"]");
  }
  *at = TimePoint(Millis(static_cast<int64_t>(std::llround(pair[0].get<double>() * 1000.0))));
  const std::string s = pair[1].get<std::string>();
  if (s == "NaN") {
    return std::nan("");
  }
  if (s == "+Inf") {
    return INFINITY;
  }
  if (s == "-Inf") {
    return -INFINITY;
  }
  char* end = nullptr;
  double v = strtod(s.c_str(), &end);
  if (s.empty() || end == s.c_str() || *end != '\0') {
    return absl::DataLossError("Prometheus value \"" + s + "\" is not a number");
  }
  return v;
}

std::map<std::string, std::string> LabelsOf(const json& metric) {
  std::map<std::string, std::string> out;
  if (metric.is_object()) {
    for (auto it = metric.begin(); it != metric.end(); ++it) {
      if (it.value().is_string()) {
        out[it.key()] = it.value().get<std::string>();
      }
    }
  }
  return out;
}

// The API's error envelope → a status carrying Prometheus' own message.
absl::Status ErrorOf(const json& root) {
  const std::string err = root.contains("error") && root["error"].is_string() ? root["error"].get<std::string>()
                                                                              : "unknown error";
  const std::string type = root.contains("errorType") && root["errorType"].is_string()
                               ? root["errorType"].get<std::string>()
                               : "";
  if (type == "bad_data" || type == "execution") {
    return absl::InvalidArgumentError("Prometheus rejected the query (" + type + "): " + err);
  }
  if (type == "timeout") {
    return absl::DeadlineExceededError("Prometheus timed out evaluating the query: " + err);
  }
  if (type == "not_found") {
    return absl::NotFoundError("Prometheus: " + err);
  }
  return absl::UnavailableError("Prometheus: " + (type.empty() ? "" : type + ": ") + err);
}

absl::StatusOr<json> Data(const std::string& body, const char* want_type) {
  json root = json::parse(body, nullptr, false);
  if (root.is_discarded() || !root.is_object()) {
    return absl::DataLossError("Prometheus answer is not JSON");
  }
  if (!root.contains("status") || root["status"] != "success") {
    return ErrorOf(root);
  }
  if (!root.contains("data") || !root["data"].is_object()) {
    return absl::DataLossError("Prometheus answer has no data");
  }
  json data = root["data"];
  const std::string rt = data.contains("resultType") && data["resultType"].is_string()
                             ? data["resultType"].get<std::string>()
                             : "";
  if (rt != want_type && !(std::string(want_type) == "vector" && rt == "scalar")) {
    return absl::DataLossError("Prometheus result type is \"" + rt + "\", expected \"" + want_type + "\"");
  }
  if (!data.contains("result")) {
    return absl::DataLossError("Prometheus answer has no result");
  }
  return data;
}

}  // namespace

absl::StatusOr<std::vector<PromSample>> ParseInstantResponse(const std::string& body) {
  auto data = Data(body, "vector");
  if (!data.ok()) {
    return data.status();
  }
  std::vector<PromSample> out;
  const json& result = (*data)["result"];
  if ((*data)["resultType"] == "scalar") {
    PromSample s;
    auto v = ParseValue(result, &s.at);
    if (!v.ok()) {
      return v.status();
    }
    s.value = *v;
    out.push_back(s);
    return out;
  }
  if (!result.is_array()) {
    return absl::DataLossError("Prometheus vector result is not an array");
  }
  for (const auto& r : result) {
    if (!r.is_object() || !r.contains("value")) {
      return absl::DataLossError("Prometheus vector element has no value");
    }
    PromSample s;
    s.labels = LabelsOf(r.value("metric", json()));
    auto v = ParseValue(r["value"], &s.at);
    if (!v.ok()) {
      return v.status();
    }
    s.value = *v;
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<std::vector<PromSeries>> ParseRangeResponse(const std::string& body) {
  auto data = Data(body, "matrix");
  if (!data.ok()) {
    return data.status();
  }
  std::vector<PromSeries> out;
  const json& result = (*data)["result"];
  if (!result.is_array()) {
    return absl::DataLossError("Prometheus matrix result is not an array");
  }
  for (const auto& r : result) {
    if (!r.is_object() || !r.contains("values") || !r["values"].is_array()) {
      return absl::DataLossError("Prometheus matrix element has no values");
    }
    PromSeries s;
    s.labels = LabelsOf(r.value("metric", json()));
    for (const auto& p : r["values"]) {
      TimePoint at;
      auto v = ParseValue(p, &at);
      if (!v.ok()) {
        return v.status();
      }
      s.points.emplace_back(at, *v);
    }
    out.push_back(std::move(s));
  }
  return out;
}

PrometheusClient::PrometheusClient(std::string base_url, Millis timeout)
    : base_url_(std::move(base_url)), timeout_(timeout) {
  while (!base_url_.empty() && base_url_.back() == '/') {
    base_url_.pop_back();
  }
  // "http://host:port/prefix" → the client's origin and the path prefix.
  const auto scheme_end = base_url_.find("://");
  const auto path_start = base_url_.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  origin_ = path_start == std::string::npos ? base_url_ : base_url_.substr(0, path_start);
  prefix_ = path_start == std::string::npos ? "" : base_url_.substr(path_start);
}

absl::StatusOr<std::string> PrometheusClient::Post(const std::string& path,
                                                   const std::map<std::string, std::string>& params) const {
  httplib::Client cli(origin_);
  const auto secs = timeout_.count() / 1000;
  const auto usecs = (timeout_.count() % 1000) * 1000;
  cli.set_connection_timeout(secs, usecs);
  cli.set_read_timeout(secs, usecs);
  cli.set_write_timeout(secs, usecs);
  httplib::Params p(params.begin(), params.end());
  auto res = cli.Post((prefix_ + path).c_str(), p);
  if (!res) {
    if (res.error() == httplib::Error::Read) {
      return absl::DeadlineExceededError("Prometheus at " + base_url_ + " gave no answer within " +
                                         std::to_string(timeout_.count()) + " ms");
    }
    return absl::UnavailableError("Prometheus at " + base_url_ + " unreachable: " + httplib::to_string(res.error()));
  }
  if (res->status == 200) {
    return res->body;
  }
  // The API answers its errors (400, 422, 503, ...) with a JSON envelope
  // naming the cause: let the decoder turn it into the status.
  json root = json::parse(res->body, nullptr, false);
  if (root.is_object() && root.contains("status") && root["status"] == "error") {
    return res->body;
  }
  const std::string what = "Prometheus at " + base_url_ + " answered HTTP " + std::to_string(res->status) + " for " +
                           prefix_ + path;
  if (res->status == 404) {
    return absl::NotFoundError(what + ": no Prometheus API there (is the path prefix right?)");
  }
  if (res->status == 401 || res->status == 403) {
    return absl::PermissionDeniedError(what);
  }
  return absl::UnavailableError(what);
}

absl::StatusOr<std::vector<PromSample>> PrometheusClient::Query(const std::string& promql, TimePoint at) const {
  std::map<std::string, std::string> params{{"query", promql}};
  if (at.time_since_epoch().count() != 0) {
    params["time"] = Seconds3(ToUnixMillis(at));
  }
  auto body = Post("/api/v1/query", params);
  if (!body.ok()) {
    return body.status();
  }
  return ParseInstantResponse(*body);
}

absl::StatusOr<std::vector<PromSeries>> PrometheusClient::QueryRange(const std::string& promql, TimePoint start,
                                                                     TimePoint end, Millis step) const {
  auto body = Post("/api/v1/query_range", {{"query", promql},
                                           {"start", Seconds3(ToUnixMillis(start))},
                                           {"end", Seconds3(ToUnixMillis(end))},
                                           {"step", Seconds3(std::max<int64_t>(1, step.count()))}});
  if (!body.ok()) {
    return body.status();
  }
  return ParseRangeResponse(*body);
}

}  // namespace kubemend
