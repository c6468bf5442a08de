#include "evaluator.h"

#include <cmath>

#include "kubemend/common/ids.h"

namespace kubemend::analyzer {

absl::StatusOr<std::vector<Series>> PrometheusMetricSource::QueryRange(const std::string& query,
                                                                       int64_t start_ms, int64_t end_ms,
                                                                       Millis step) {
  auto r = client_->QueryRange(query, TimePoint(Millis(start_ms)), TimePoint(Millis(end_ms)), step);
  if (!r.ok()) {
    return r.status();
  }
  std::vector<Series> out;
  out.reserve(r->size());
  for (auto& ps : *r) {
    Series s;
    s.labels = std::move(ps.labels);
    s.samples.reserve(ps.points.size());
    for (const auto& [at, v] : ps.points) {
      s.samples.push_back({ToUnixMillis(at), v});
    }
    out.push_back(std::move(s));
  }
  return out;
}

v1::Target TargetFromSeries(const Policy& p, const std::map<std::string, std::string>& labels) {
  if (p.fixed_target) {
    return *p.fixed_target;
  }
  v1::Target t;
  auto get = [&](const char* k) {
    auto it = labels.find(k);
    return it == labels.end() ? std::string() : it->second;
  };
  t.set_namespace_(get("namespace"));
  for (const auto& [label, kind] : std::vector<std::pair<const char*, const char*>>{
           {"deployment", "Deployment"}, {"statefulset", "StatefulSet"}, {"pod", "Pod"},
           {"persistentvolumeclaim", "PersistentVolumeClaim"}, {"horizontalpodautoscaler", "HorizontalPodAutoscaler"}}) {
    if (!get(label).empty()) {
      t.set_kind(kind);
      t.set_name(get(label));
      return t;
    }
  }
  if (!get("node").empty()) {
    t.set_namespace_("");
    t.set_kind("Node");
    t.set_name(get("node"));
    return t;
  }
  if (!t.namespace_().empty()) {
    t.set_kind("Namespace");
    t.set_name(t.namespace_());
    t.set_namespace_("");
    return t;
  }
  t.set_kind("Cluster");
  t.set_name("cluster");
  return t;
}

Evaluator::Evaluator(MetricSource* source, ProducerIdentity who, const Clock& clock, Millis repeat)
    : source_(source), who_(std::move(who)), clock_(clock), repeat_(repeat) {}

void Evaluator::Emit(const std::string& fp, bool firing, const v1::Target& target,
                     v1::SignalSource src, const std::string& name, double value, double threshold,
                     const std::string& summary, const std::map<std::string, std::string>& labels,
                     const std::map<std::string, std::string>& annotations,
                     std::vector<v1::Event>* out, Millis held) {
  TimePoint now = clock_.Now();
  State& st = state_[fp];
  if (firing == st.firing && (!firing || now - st.last_sent < repeat_)) {
    return;  // nothing new
  }
  if (!firing && !st.firing) {
    return;
  }
  if (firing && !st.firing) {
    st.since = now - held;
    st.incident_id = DerivedUuid(fp, std::to_string(ToUnixMillis(now)));
  }
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_SIGNAL, who_, clock_);
  e.set_incident_id(st.incident_id);
  *e.mutable_target() = target;
  v1::Signal* s = e.mutable_signal();
  s->set_source(src);
  s->set_name(name);
  s->set_fingerprint(fp);
  s->set_status(firing ? v1::SIGNAL_STATUS_FIRING : v1::SIGNAL_STATUS_RESOLVED);
  s->set_severity(v1::SEVERITY_WARNING);
  s->set_has_value(true);
  s->set_value(value);
  s->set_threshold(threshold);
  s->set_summary(summary);
  for (const auto& [k, v] : labels) {
    (*s->mutable_labels())[k] = v;
  }
  for (const auto& [k, v] : annotations) {
    (*s->mutable_annotations())[k] = v;
  }
  SetTimestamp(s->mutable_starts_at(), st.since);
  if (!firing) {
    SetTimestamp(s->mutable_ends_at(), now);
  }
  st.firing = firing;
  st.last_sent = now;
  out->push_back(std::move(e));
}

namespace {
std::string Fmt(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}
std::string LabelsKey(const std::map<std::string, std::string>& l) {
  std::string s;
  for (const auto& [k, v] : l) {
    s += k + "=" + v + ",";
  }
  return s;
}
}  // namespace

// The workload's current replica count, for PredictiveScale's sizing: the
// spec count kube-state-metrics exports, as the fact `replicas` (the same
// key the collector's cluster facts use). No series: no fact, and the
// engine says the count is unknown.
void Evaluator::AddReplicaFacts(int64_t now_ms, v1::Event* e, std::vector<std::string>* errors) {
  const v1::Target& t = e->target();
  std::string metric, label;
  if (t.kind() == "Deployment") {
    metric = "kube_deployment_spec_replicas", label = "deployment";
  } else if (t.kind() == "StatefulSet") {
    metric = "kube_statefulset_replicas", label = "statefulset";
  } else {
    return;
  }
  auto quote = [](const std::string& v) {
    std::string q;
    for (char ch : v) {
      q += ch == '"' || ch == '\\' ? std::string("\\") + ch : std::string(1, ch);
    }
    return q;
  };
  const std::string query = "max(" + metric + "{namespace=\"" + quote(t.namespace_()) + "\"," + label +
                            "=\"" + quote(t.name()) + "\"})";
  auto r = source_->QueryRange(query, now_ms - 300000, now_ms, Millis(60000));
  if (!r.ok()) {
    errors->push_back(TargetString(t) + ": replicas: " + std::string(r.status().message()));
    return;
  }
  if (r->empty() || r->back().samples.empty()) {
    return;
  }
  double v = r->back().samples.back().v;
  if (!(v >= 0) || v > 100000) {
    return;
  }
  auto& facts = *e->mutable_signal()->mutable_facts();
  facts["replicas"] = std::to_string(static_cast<int64_t>(v));
  facts["replicasFrom"] = metric;
}

std::vector<v1::Event> Evaluator::Evaluate(const PolicySet& set, std::vector<std::string>* errors) {
  std::vector<v1::Event> out;
  int64_t now = ToUnixMillis(clock_.Now());
  for (const auto& p : set.policies) {
    for (const auto& t : p.triggers) {
      std::string base = p.ref.name() + "|" + t.name + "|";
      if (t.type == Trigger::Type::kSlo && !t.slo.error_ratio_query.empty()) {
        Millis step = std::max<Millis>(Millis(60000), t.slo.period / 10000);
        auto r = source_->QueryRange(t.slo.error_ratio_query, now - t.slo.period.count(), now, step);
        if (!r.ok()) {
          errors->push_back(p.ref.name() + ": " + std::string(r.status().message()));
          continue;
        }
        for (const auto& s : *r) {
          BudgetStatus b = ComputeBudget(s.samples, t.slo.target, t.slo.period, now);
          bool fire = b.remaining < t.slo.budget_threshold ||
                      (t.slo.burn_rate_threshold > 0 && b.burn_long >= t.slo.burn_rate_threshold &&
                       b.burn_short >= t.slo.burn_rate_threshold) ||
                      (t.slo.burn_rate_threshold == 0 && b.alert == "page");
          std::map<std::string, std::string> ann = {
              {"error_budget_remaining", Fmt(b.remaining)},
              {"burn_rate_short", Fmt(b.burn_short)},
              {"burn_rate_long", Fmt(b.burn_long)},
              {"burn_alert", b.alert.empty() ? "none" : b.alert + " (" + b.rule + ")"},
              {"time_to_exhaustion_seconds",
               b.time_to_exhaustion ? std::to_string(b.time_to_exhaustion->count() / 1000) : "never"}};
          Emit(Sha256Hex(base + LabelsKey(s.labels)).substr(0, 32), fire, TargetFromSeries(p, s.labels),
               v1::SIGNAL_SOURCE_SLO, t.match.text(), b.remaining, t.slo.budget_threshold,
               "SLO " + t.match.text() + ": error budget remaining " + Fmt(b.remaining * 100) +
                   "%, burn " + Fmt(b.burn_long) + "x",
               s.labels, ann, &out);
        }
      } else if (t.type == Trigger::Type::kForecast && !t.forecast.query.empty()) {
        auto r = source_->QueryRange(t.forecast.query, now - t.forecast.lookback.count(), now,
                                     t.forecast.step);
        if (!r.ok()) {
          errors->push_back(p.ref.name() + ": " + std::string(r.status().message()));
          continue;
        }
        for (const auto& s : *r) {
          if (s.samples.empty()) {
            continue;
          }
          double current = s.samples.back().v;
          double threshold = t.forecast.threshold > 0 ? t.forecast.threshold
                                                      : current * (1 + t.forecast.threshold_percent / 100.0);
          auto f = HoltForecast(s.samples, t.forecast.alpha, t.forecast.beta, t.forecast.step,
                                t.forecast.horizon, threshold);
          if (!f) {
            continue;
          }
          std::map<std::string, std::string> ann = {
              {"forecast_peak", Fmt(f->peak)}, {"trend_per_step", Fmt(f->trend)},
              {"current", Fmt(f->current)},
              {"crosses_in_seconds", f->crosses_in ? std::to_string(f->crosses_in->count() / 1000) : "never"}};
          size_t before = out.size();
          Emit(Sha256Hex(base + LabelsKey(s.labels)).substr(0, 32), f->exceeds,
               TargetFromSeries(p, s.labels), v1::SIGNAL_SOURCE_FORECAST, t.match.text(), f->peak,
               threshold,
               "forecast " + t.match.text() + ": peak " + Fmt(f->peak) + " within the horizon vs threshold " +
                   Fmt(threshold),
               s.labels, ann, &out);
          if (out.size() > before && out.back().signal().status() == v1::SIGNAL_STATUS_FIRING) {
            AddReplicaFacts(now, &out.back(), errors);
          }
        }
      } else if (t.type == Trigger::Type::kMetric && !t.query.empty()) {
        Millis window = std::max<Millis>(t.hold, Millis(60000));
        auto r = source_->QueryRange(t.query, now - window.count(), now, Millis(std::max<int64_t>(15000, window.count() / 20)));
        if (!r.ok()) {
          errors->push_back(p.ref.name() + ": " + std::string(r.status().message()));
          continue;
        }
        for (const auto& s : *r) {
          bool all = !s.samples.empty();
          for (const auto& x : s.samples) {
            all = all && Compare(x.v, t.op, t.threshold);
          }
          double last = s.samples.empty() ? 0 : s.samples.back().v;
          std::string name = t.match.empty() || t.match.text() == "*" ? t.name : t.match.text();
          Emit(Sha256Hex(base + LabelsKey(s.labels)).substr(0, 32), all, TargetFromSeries(p, s.labels),
               v1::SIGNAL_SOURCE_PROMETHEUS, name, last, t.threshold,
               name + " " + Fmt(last) + " " + CompareOpString(t.op) + " " + Fmt(t.threshold) + " for " +
                   std::to_string(window.count() / 1000) + "s",
               s.labels, {{"query", t.query}}, &out, window);
        }
      }
    }
  }
  return out;
}

}  // namespace kubemend::analyzer
