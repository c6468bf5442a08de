// HealingPolicy triggers: one parser per trigger type.
#include "policy_parse.h"

namespace kubemend::analyzer::policy_parse {

namespace {

// alert: {name}: an Alertmanager alert by name, glob or /regex/.
void ParseAlertTrigger(Ctx& c, const YAML::Node& b, const std::string& p, Trigger* t) {
  c.Keys(b, p, {"name"});
  t->source = v1::SIGNAL_SOURCE_ALERTMANAGER;
  if (!At(b, "name")) {
    c.Error(p + ".name", "required: the alert name, a glob (KubePod*) or /regex/");
  } else {
    c.Pattern(At(b, "name"), p + ".name", &t->match);
  }
}

// signal: {source, name, reason}: any signal.
void ParseSignalTrigger(Ctx& c, const YAML::Node& b, const std::string& p, Trigger* t) {
  c.Keys(b, p, {"source", "name", "reason"});
  if (At(b, "source")) {
    std::string s;
    if (c.Str(At(b, "source"), p + ".source", &s) && !ParseSource(s, &t->source)) {
      c.Error(p + ".source",
              "unknown source " + s +
                  " (alertmanager, kubernetes, prometheus, healthcheck, cost, slo, forecast)");
    }
  }
  if (At(b, "name")) {
    c.Pattern(At(b, "name"), p + ".name", &t->match);
  }
  if (At(b, "reason")) {
    c.Pattern(At(b, "reason"), p + ".reason", &t->reason);
  }
  if (!At(b, "name") && !At(b, "reason") && !At(b, "source")) {
    c.Error(p, "needs at least one of source, name, reason");
  }
}

// metric: {name|query, operator, threshold, for}: a value compared and held.
void ParseMetricTrigger(Ctx& c, const YAML::Node& b, const std::string& p, Trigger* t) {
  c.Keys(b, p, {"name", "query", "operator", "threshold", "for", "duration"});
  t->source = v1::SIGNAL_SOURCE_UNSPECIFIED;
  if (At(b, "name")) {
    c.Pattern(At(b, "name"), p + ".name", &t->match);
  } else if (t->name != "metric") {
    NamePattern::Parse(t->name, &t->match).IgnoreError();
  }
  if (At(b, "query")) {
    c.Str(At(b, "query"), p + ".query", &t->query);
  }
  if (!At(b, "name") && t->query.empty()) {
    c.Error(p, "needs name (the metric signal to compare) or query (evaluated here)");
  }
  t->op = CompareOp::kGreater;
  if (std::string op; At(b, "operator") && c.Str(At(b, "operator"), p + ".operator", &op)) {
    if (!ParseCompareOp(op, &t->op)) {
      c.Error(p + ".operator", std::string("must be one of ") + CompareOpChoices() + ", got \"" + op + "\"");
    }
  }
  if (!At(b, "threshold")) {
    c.Error(p + ".threshold", "required");
  } else {
    const YAML::Node th = At(b, "threshold");
    if (!th.IsScalar() || !ParseQuantity(th.Scalar(), &t->threshold)) {
      c.Num(At(b, "threshold"), p + ".threshold", &t->threshold);
    }
  }
  const char* hold = At(b, "for") ? "for" : (At(b, "duration") ? "duration" : nullptr);
  if (hold) {
    c.Dur(At(b, hold), p + "." + hold, &t->hold);
  }
}

// healthCheck: {name, failureThreshold}: consecutive probe failures.
void ParseHealthCheckTrigger(Ctx& c, const YAML::Node& b, const std::string& p, Trigger* t) {
  c.Keys(b, p, {"name", "failureThreshold"});
  t->source = v1::SIGNAL_SOURCE_HEALTH_CHECK;
  if (At(b, "name")) {
    c.Pattern(At(b, "name"), p + ".name", &t->match);
  }
  if (At(b, "failureThreshold")) {
    c.Uint(At(b, "failureThreshold"), p + ".failureThreshold", &t->failure_threshold, 1000);
  }
}

// event: {reason, name}: a Kubernetes event.
void ParseEventTrigger(Ctx& c, const YAML::Node& b, const std::string& p, Trigger* t) {
  c.Keys(b, p, {"reason", "name"});
  t->source = v1::SIGNAL_SOURCE_KUBERNETES;
  if (!At(b, "reason")) {
    c.Error(p + ".reason", "required: the Kubernetes event reason (FailedMount, BackOff, ...)");
  } else {
    c.Pattern(At(b, "reason"), p + ".reason", &t->reason);
  }
  if (At(b, "name")) {
    c.Pattern(At(b, "name"), p + ".name", &t->match);
  }
}

// slo: {name, target, period, ...}: an SLO's error budget.
void ParseSloTrigger(Ctx& c, const YAML::Node& b, const std::string& p, Trigger* t) {
  c.Keys(b, p, {"name", "target", "period", "budgetThreshold", "errorRatioQuery",
                "burnRateThreshold"});
  t->source = v1::SIGNAL_SOURCE_SLO;
  if (!At(b, "name")) {
    c.Error(p + ".name", "required: the SLO's name");
  } else {
    c.Pattern(At(b, "name"), p + ".name", &t->match);
  }
  ParseSloSpec(c, b, p, &t->slo);
}

// forecast: {query, horizon, ...}: a Holt forecast crossing a threshold.
void ParseForecastTrigger(Ctx& c, const YAML::Node& b, const std::string& p, Trigger* t) {
  c.Keys(b, p, {"name", "query", "horizon", "lookback", "step", "threshold",
                "thresholdPercent", "alpha", "beta"});
  t->source = v1::SIGNAL_SOURCE_FORECAST;
  if (At(b, "name")) {
    c.Pattern(At(b, "name"), p + ".name", &t->match);
  } else {
    NamePattern::Parse(t->name, &t->match).IgnoreError();
  }
  ParseForecastSpec(c, b, p, &t->forecast);
  if (t->forecast.query.empty()) {
    c.Error(p + ".query", "required: the PromQL series to forecast");
  }
}

// Fact conditions beside the trigger's condition: `facts: {name: pattern}`,
// and the shorthands `lastTerminationReason`, `waitingReason` (patterns) and
// `imageChangedWithin` (a duration since the rollout changed the image).
void ParseFactConditions(Ctx& c, const YAML::Node& n, const std::string& path, Trigger* t) {
  if (At(n, "facts") && c.Map(At(n, "facts"), path + ".facts")) {
    for (const auto& kv : At(n, "facts")) {
      std::string key;
      if (!c.Key(kv.first, path + ".facts", &key)) {
        continue;
      }
      if (key == "imageChangedAt" || key == "imageChangedWithin") {
        c.Error(path + ".facts." + key, "use imageChangedWithin: <duration> beside facts");
        continue;
      }
      c.Pattern(kv.second, path + ".facts." + key, &t->facts[key]);
    }
  }
  for (const char* k : {"lastTerminationReason", "waitingReason"}) {
    if (At(n, k)) {
      c.Pattern(At(n, k), path + "." + k, &t->facts[k]);
    }
  }
  if (At(n, "imageChangedWithin")) {
    if (c.Dur(At(n, "imageChangedWithin"), path + ".imageChangedWithin",
              &t->image_changed_within) &&
        t->image_changed_within.count() <= 0) {
      c.Error(path + ".imageChangedWithin", "must be a positive duration such as 10m");
    }
  }
}

}  // namespace

void ParseTrigger(Ctx& c, const YAML::Node& n, const std::string& path, Trigger* t) {
  c.Keys(n, path, {"name", "type", "alert", "signal", "metric", "metricTrigger", "healthCheck",
                   "event", "slo", "forecast", "facts", "lastTerminationReason", "waitingReason",
                   "imageChangedWithin"});
  ParseFactConditions(c, n, path, t);
  if (At(n, "name")) {
    c.Str(At(n, "name"), path + ".name", &t->name);
  }
  static const std::vector<std::pair<const char*, Trigger::Type>> kTypes = {
      {"alert", Trigger::Type::kAlert},       {"signal", Trigger::Type::kSignal},
      {"metric", Trigger::Type::kMetric},     {"metricTrigger", Trigger::Type::kMetric},
      {"healthCheck", Trigger::Type::kHealthCheck}, {"event", Trigger::Type::kEvent},
      {"slo", Trigger::Type::kSlo},           {"forecast", Trigger::Type::kForecast}};
  const char* key = nullptr;
  for (const auto& [k, ty] : kTypes) {
    if (At(n, k)) {
      if (key) {
        c.Error(path, std::string("has both ") + key + " and " + k + "; one condition per trigger");
        return;
      }
      key = k;
      t->type = ty;
    }
  }
  if (!key) {
    c.Error(path, "needs one of alert, signal, metric, healthCheck, event, slo, forecast");
    return;
  }
  if (At(n, "type")) {
    std::string ty;
    c.Str(At(n, "type"), path + ".type", &ty);
    std::string want = std::string(key) == "metricTrigger" ? "metric" : key;
    if (ty != want) {
      c.Error(path + ".type", "says " + ty + " but the condition given is " + want);
    }
  }
  const YAML::Node& b = At(n, key);
  std::string p = path + "." + key;
  if (t->name.empty()) {
    t->name = std::string(key == std::string("metricTrigger") ? "metric" : key);
  }
  using Parser = void (*)(Ctx&, const YAML::Node&, const std::string&, Trigger*);
  static const std::map<Trigger::Type, Parser> kParsers = {
      {Trigger::Type::kAlert, ParseAlertTrigger},
      {Trigger::Type::kSignal, ParseSignalTrigger},
      {Trigger::Type::kMetric, ParseMetricTrigger},
      {Trigger::Type::kHealthCheck, ParseHealthCheckTrigger},
      {Trigger::Type::kEvent, ParseEventTrigger},
      {Trigger::Type::kSlo, ParseSloTrigger},
      {Trigger::Type::kForecast, ParseForecastTrigger}};
  kParsers.at(t->type)(c, b, p, t);
}

}  // namespace kubemend::analyzer::policy_parse
