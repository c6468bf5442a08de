#pragma once
// Turns the policies' own queries (SLO error ratios, forecasts, metric
// conditions with a `query`) into Signals: the evaluator fetches range data
// through a MetricSource, does the arithmetic (slo.h), and emits a firing
// signal when a condition starts to hold (and every repeat interval while it
// holds) and a resolved one when it stops. The signals go to the signals
// topic like any other, so they are audited, replayed and matched by the
// same engine.
//
// Evaluate() is called from one thread (the evaluator loop); the state it
// keeps (which conditions fire) is that thread's.
#include <absl/status/statusor.h>

#include <map>
#include <string>
#include <vector>

#include "kubemend/common/clock.h"
#include "kubemend/common/events.h"
#include "kubemend/common/prometheus.h"
#include "policy.h"
#include "slo.h"

namespace kubemend::analyzer {

struct Series {
  std::map<std::string, std::string> labels;
  std::vector<Sample> samples;
};

class MetricSource {
 public:
  virtual ~MetricSource() = default;
  virtual absl::StatusOr<std::vector<Series>> QueryRange(const std::string& query, int64_t start_ms,
                                                         int64_t end_ms, Millis step) = 0;
};

// The MetricSource of the running analyzer: the project's one Prometheus
// client (kubemend/common/prometheus.h), whose errors it passes on.
class PrometheusMetricSource final : public MetricSource {
 public:
  explicit PrometheusMetricSource(const PrometheusClient* client) : client_(client) {}
  absl::StatusOr<std::vector<Series>> QueryRange(const std::string& query, int64_t start_ms,
                                                 int64_t end_ms, Millis step) override;

 private:
  const PrometheusClient* client_;
};

class Evaluator {
 public:
  Evaluator(MetricSource* source, ProducerIdentity who, const Clock& clock, Millis repeat);
  // Signals to publish now; `errors` gets one line per query that failed.
  std::vector<v1::Event> Evaluate(const PolicySet& set, std::vector<std::string>* errors);

 private:
  struct State {
    bool firing = false;
    TimePoint last_sent;
    TimePoint since;
    std::string incident_id;
  };
  void Emit(const std::string& fp, bool firing, const v1::Target& target, v1::SignalSource src,
            const std::string& name, double value, double threshold, const std::string& summary,
            const std::map<std::string, std::string>& labels,
            const std::map<std::string, std::string>& annotations, std::vector<v1::Event>* out,
            Millis held = Millis(0));
  void AddReplicaFacts(int64_t now_ms, v1::Event* e, std::vector<std::string>* errors);
  MetricSource* source_;
  ProducerIdentity who_;
  const Clock& clock_;
  Millis repeat_;
  std::map<std::string, State> state_;
};

// The target a series is about: the policy's fixed target, else from the
// series labels (namespace + deployment/statefulset/pod, or node).
v1::Target TargetFromSeries(const Policy& p, const std::map<std::string, std::string>& labels);

}  // namespace kubemend::analyzer
