#pragma once
// Metric triggers: a PromQL instant query compared with a threshold, firing
// once the comparison has held for `for_duration` (like a Prometheus alerting
// rule, or an AnomalyAction/HealingPolicy metric trigger) and resolving when
// it no longer holds or the series disappears. One signal per series (label
// set) and change. The cost source's budgets are triggers too.
//
// TriggerEvaluator is pure: samples and the time come in, events go out.
// Not thread-safe; one poll loop owns each evaluator.
#include <absl/status/statusor.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "kubemend/common/clock.h"
#include "kubemend/common/compare.h"
#include "kubemend/common/events.h"
#include "kubemend/common/prometheus.h"

namespace kubemend::collector {

struct TriggerSpec {
  std::string name;  // the signal name (e.g. HighMemory, BudgetExceeded)
  v1::SignalSource source = v1::SIGNAL_SOURCE_PROMETHEUS;
  std::string query;
  CompareOp op = CompareOp::kGreater;
  double threshold = 0;
  Millis for_duration{0};
  v1::Severity severity = v1::SEVERITY_WARNING;
  std::string summary;  // prefix for the human line; default: the name
  // Fixed target (cost budgets); otherwise derived from each series' labels.
  std::optional<v1::Target> target;
  std::map<std::string, std::string> labels;  // added to every signal
  std::string fingerprint_prefix;            // default "prom/<name>"
  // When set, the query of each round (period-to-date cost queries depend on
  // the time); `query` is then the description shown in annotations.
  std::function<std::string(TimePoint)> query_at;
  // Non-empty: an answer with no series means "unknown" (this sentence says
  // why), never "resolved" and never 0: Evaluate is not called, Unknown is.
  std::string unknown_when_empty;
};

// Parses the `prometheus.triggers` list:
//   - name: HighMemory
//     query: 'container_memory_working_set_bytes{namespace="shop"}'
//     threshold: "> 1073741824"      # or op: ">" and threshold: 1073741824
//     for: 2m
//     severity: warning
//     summary: Memory above 1 GiB
// Errors name the entry and key: "prometheus.triggers[2].threshold: ...".
absl::StatusOr<std::vector<TriggerSpec>> ParseTriggers(const YAML::Node& node, const std::string& where);

v1::Severity ParseSeverity(const std::string& s);

class TriggerEvaluator {
 public:
  // `round`: the evaluation interval. An evaluation belongs to the round
  // floor(now / round) * round, and a series' pending start is that round's
  // time, so collector replicas evaluating on the same wall-clock grid
  // (PollLoop aligned) give one occurrence the same start, incident id and
  // event ids: DerivedUuid(fingerprint, "signal/<status>/<start ms>").
  // 0: every evaluation is its own round (now).
  TriggerEvaluator(TriggerSpec spec, std::string cluster, ProducerIdentity who, const Clock& clock,
                   Millis round = Millis(0));
  // The samples of one evaluation at clock.Now().
  std::vector<v1::Event> Evaluate(const std::vector<PromSample>& samples);
  // A round whose answer is unknown (spec.unknown_when_empty): one firing
  // `<name>Unknown` signal when it becomes unknown (resolved when a later
  // Evaluate has data); the firing/pending state of the real series is kept.
  std::vector<v1::Event> Unknown();
  const TriggerSpec& spec() const { return spec_; }

 private:
  struct SeriesState {
    TimePoint pending_since;
    bool firing = false;
    std::string incident_id;
    double last_value = 0;
    v1::Target target;
    std::map<std::string, std::string> labels;
  };
  v1::Event Build(const SeriesState& s, const std::string& fingerprint, v1::SignalStatus status) const;

  TriggerSpec spec_;
  std::string cluster_;
  ProducerIdentity who_;
  const Clock& clock_;
  Millis round_;
  std::map<std::string, SeriesState> series_;  // fingerprint → state
  std::optional<SeriesState> unknown_;         // while the answer is unknown
};

}  // namespace kubemend::collector
