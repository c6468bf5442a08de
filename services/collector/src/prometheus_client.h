#pragma once
// A small client for the Prometheus HTTP API (/api/v1/query and
// /api/v1/query_range), used by the collector's metric triggers and cost
// source and reusable by the analyzer. Only depends on cpp-httplib and
// nlohmann::json; nothing collector-specific.
//
// Errors: Unavailable when Prometheus cannot be reached or answers 5xx/503;
// InvalidArgument when it rejects the query (bad_data, 400/422: the message is
// Prometheus' own error text); DataLoss (sic: undecodable) when the answer is
// not the JSON the API documents. Thread-safe: each call opens its own
// connection.
#include <absl/status/statusor.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "kubemend/common/clock.h"

namespace kubemend::collector {

struct PromSample {
  std::map<std::string, std::string> labels;  // __name__ included when present
  double value = 0;
  TimePoint at;
};

struct PromSeries {
  std::map<std::string, std::string> labels;
  std::vector<std::pair<TimePoint, double>> points;
};

class PrometheusClient {
 public:
  // `base_url` like "http://127.0.0.1:9090" (a path prefix is kept).
  PrometheusClient(std::string base_url, Millis timeout);
  // Instant query at `at` (unset: Prometheus' now). Scalars come back as one
  // sample without labels.
  absl::StatusOr<std::vector<PromSample>> Query(const std::string& promql, TimePoint at = {}) const;
  absl::StatusOr<std::vector<PromSeries>> QueryRange(const std::string& promql, TimePoint start, TimePoint end,
                                                     Millis step) const;
  const std::string& base_url() const { return base_url_; }

 private:
  absl::StatusOr<std::string> Get(const std::string& path, const std::map<std::string, std::string>& params) const;
  std::string base_url_;
  Millis timeout_;
};

// Decoders, separate for tests: a /api/v1/query or /query_range body.
absl::StatusOr<std::vector<PromSample>> ParseInstantResponse(const std::string& body);
absl::StatusOr<std::vector<PromSeries>> ParseRangeResponse(const std::string& body);

}  // namespace kubemend::collector
