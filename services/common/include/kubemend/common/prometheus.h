#pragma once
// The one client for the Prometheus HTTP API (/api/v1/query and
// /api/v1/query_range) in kubemend: the collector's metric triggers and cost
// budgets, and the analyzer's policy queries (SLO, forecast, metric `query`).
//
// Base URL: "http://host:9090", or with the path prefix Prometheus serves
// under (--web.route-prefix, or a reverse proxy): "http://host/prometheus".
// Queries go as POST forms, so long PromQL stays out of the URL. No TLS and
// no authentication (neither service had them; put a local proxy in front).
//
// Values: "NaN", "+Inf" and "-Inf" are the IEEE values. Prometheus never
// returns stale samples through the API (a staleness marker ends a series),
// so there is nothing to filter here.
//
// Errors, each with Prometheus' own error text when it sent one:
//   InvalidArgument    it rejected the query (400 bad_data, 422 execution:
//                      a parse error, many-to-many matching, ...);
//   DeadlineExceeded   the query timed out in Prometheus (errorType timeout)
//                      or no answer came within the client's timeout;
//   Unavailable        unreachable, 503 (overloaded, shutting down), other 5xx;
//   NotFound           404: no Prometheus API under this base URL (a prefix
//                      missing or extra);
//   PermissionDenied   401/403 (an authenticating proxy in front);
//   DataLoss           the answer is not the JSON the API documents.
// Thread-safe: each call opens its own connection.
#include <absl/status/statusor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kubemend/common/clock.h"

namespace kubemend {

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
  // `timeout`: connect and read each, per query.
  PrometheusClient(std::string base_url, Millis timeout);
  // Instant query at `at` (the epoch: Prometheus' now). A scalar result comes
  // back as one sample without labels; a string result is DataLoss.
  absl::StatusOr<std::vector<PromSample>> Query(const std::string& promql, TimePoint at = {}) const;
  // Range query over [start, end] every `step` (millisecond precision).
  absl::StatusOr<std::vector<PromSeries>> QueryRange(const std::string& promql, TimePoint start, TimePoint end,
                                                     Millis step) const;
  const std::string& base_url() const { return base_url_; }

 private:
  absl::StatusOr<std::string> Post(const std::string& path, const std::map<std::string, std::string>& params) const;
  std::string base_url_;  // without trailing '/'
  std::string origin_;    // scheme://host:port
  std::string prefix_;    // "" or "/prefix"
  Millis timeout_;
};

// Decoders of a /api/v1/query or /query_range body (any HTTP status: the
// error JSON of a 4xx/5xx is decoded into the error above).
absl::StatusOr<std::vector<PromSample>> ParseInstantResponse(const std::string& body);
absl::StatusOr<std::vector<PromSeries>> ParseRangeResponse(const std::string& body);

}  // namespace kubemend
