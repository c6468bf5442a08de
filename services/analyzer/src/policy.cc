#include "policy.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "kubemend/common/config.h"
#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"

namespace kubemend::analyzer {

std::string PolicyError::ToString() const {
  std::string s = origin + ": document " + std::to_string(document);
  if (!path.empty()) {
    s += ": " + path;
  }
  return s + ": " + message;
}

// ------------------------------------------------------------- NamePattern

absl::Status NamePattern::Parse(const std::string& text, NamePattern* out) {
  out->text_ = text;
  out->re_.reset();
  if (text.empty() || text == "*") {
    out->kind_ = Kind::kAny;
  } else if (text.size() >= 2 && text.front() == '/' && text.back() == '/') {
    try {
      out->re_ = std::make_shared<const std::regex>(text.substr(1, text.size() - 2),
                                                    std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      return absl::InvalidArgumentError("bad regular expression " + text + ": " + e.what());
    }
    out->kind_ = Kind::kRegex;
  } else if (text.find_first_of("*?") != std::string::npos) {
    out->kind_ = Kind::kGlob;
  } else {
    out->kind_ = Kind::kExact;
  }
  return absl::OkStatus();
}

namespace {
bool GlobMatch(const char* p, const char* s) {
  // Iterative glob with backtracking on the last star.
  const char* star = nullptr;
  const char* ss = nullptr;
  while (*s) {
    if (*p == '?' || *p == *s) {
      ++p;
      ++s;
    } else if (*p == '*') {
      star = p++;
      ss = s;
    } else if (star) {
      p = star + 1;
      s = ++ss;
    } else {
      return false;
    }
  }
  while (*p == '*') {
    ++p;
  }
  return *p == '\0';
}
}  // namespace

bool NamePattern::Matches(const std::string& s) const {
  switch (kind_) {
    case Kind::kAny:
      return true;
    case Kind::kExact:
      return s == text_;
    case Kind::kGlob:
      return GlobMatch(text_.c_str(), s.c_str());
    case Kind::kRegex:
      return std::regex_search(s, *re_);
  }
  return false;
}

// ------------------------------------------------------------- parsing

namespace {

class Ctx {
 public:
  Ctx(std::string origin, int doc, std::vector<PolicyError>* errors)
      : origin_(std::move(origin)), doc_(doc), errors_(errors) {}
  void Error(const std::string& path, const std::string& msg) {
    errors_->push_back({origin_, doc_, path, msg});
  }
  bool failed() const { return !errors_->empty(); }

  // Rejects keys not in `allowed` (typos must not pass silently).
  void Keys(const YAML::Node& n, const std::string& path, std::initializer_list<const char*> allowed) {
    if (!n.IsMap()) {
      Error(path, "must be a mapping");
      return;
    }
    for (const auto& kv : n) {
      std::string k = kv.first.as<std::string>();
      bool ok = false;
      std::string list;
      for (const char* a : allowed) {
        ok = ok || k == a;
        list += (list.empty() ? "" : ", ") + std::string(a);
      }
      if (!ok) {
        Error(Join(path, k), "unknown field (allowed here: " + list + ")");
      }
    }
  }
  static std::string Join(const std::string& path, const std::string& k) {
    return path.empty() ? k : path + "." + k;
  }
  bool Str(const YAML::Node& n, const std::string& path, std::string* out) {
    if (!n.IsScalar()) {
      Error(path, "must be a string");
      return false;
    }
    *out = n.as<std::string>();
    return true;
  }
  bool Num(const YAML::Node& n, const std::string& path, double* out) {
    std::string s;
    if (!n.IsScalar()) {
      Error(path, "must be a number");
      return false;
    }
    s = n.as<std::string>();
    bool pct = !s.empty() && s.back() == '%';
    if (pct) {
      s.pop_back();
    }
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || !std::isfinite(v)) {
      Error(path, "\"" + n.as<std::string>() + "\" is not a number");
      return false;
    }
    *out = pct ? v / 100.0 : v;
    return true;
  }
  bool Uint(const YAML::Node& n, const std::string& path, uint32_t* out, uint32_t max) {
    double v = 0;
    if (!Num(n, path, &v)) {
      return false;
    }
    if (v < 0 || v != std::floor(v) || v > max) {
      Error(path, "must be a whole number between 0 and " + std::to_string(max));
      return false;
    }
    *out = static_cast<uint32_t>(v);
    return true;
  }
  bool Bool(const YAML::Node& n, const std::string& path, bool* out) {
    std::string s;
    if (!Str(n, path, &s)) {
      return false;
    }
    if (s != "true" && s != "false") {
      Error(path, "must be true or false");
      return false;
    }
    *out = s == "true";
    return true;
  }
  // "5m", "30s", "1h" or a bare number of seconds (seeds write cooldownSeconds).
  bool Dur(const YAML::Node& n, const std::string& path, Millis* out, bool bare_is_seconds = true) {
    std::string s;
    if (!Str(n, path, &s)) {
      return false;
    }
    bool bare = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (bare && bare_is_seconds) {
      *out = Millis(std::stoll(s) * 1000);
      return true;
    }
    if (auto st = ParseDuration(s, out); !st.ok()) {
      Error(path, "\"" + s + "\" is not a duration (e.g. 30s, 5m, 1h, 30d)");
      return false;
    }
    return true;
  }
  bool Pattern(const YAML::Node& n, const std::string& path, NamePattern* out) {
    std::string s;
    if (!Str(n, path, &s)) {
      return false;
    }
    if (auto st = NamePattern::Parse(s, out); !st.ok()) {
      Error(path, std::string(st.message()));
      return false;
    }
    return true;
  }
  bool StrMap(const YAML::Node& n, const std::string& path, std::map<std::string, std::string>* out) {
    if (!n.IsMap()) {
      Error(path, "must be a mapping");
      return false;
    }
    for (const auto& kv : n) {
      std::string k = kv.first.as<std::string>();
      if (!kv.second.IsScalar()) {
        Error(Join(path, k), "must be a scalar");
        return false;
      }
      (*out)[k] = kv.second.as<std::string>();
    }
    return true;
  }
  bool StrList(const YAML::Node& n, const std::string& path, std::vector<std::string>* out) {
    if (n.IsScalar()) {
      out->push_back(n.as<std::string>());
      return true;
    }
    if (!n.IsSequence()) {
      Error(path, "must be a list of strings");
      return false;
    }
    for (size_t i = 0; i < n.size(); ++i) {
      std::string s;
      if (!Str(n[i], path + "[" + std::to_string(i) + "]", &s)) {
        return false;
      }
      out->push_back(s);
    }
    return true;
  }
  const std::string& origin() const { return origin_; }
  int doc() const { return doc_; }

 private:
  std::string origin_;
  int doc_;
  std::vector<PolicyError>* errors_;
};

bool ParseActOn(const std::string& s, ActOn* out) {
  static const std::map<std::string, ActOn> k = {{"self", ActOn::kSelf}, {"pod", ActOn::kPod},
                                                 {"owner", ActOn::kOwner}, {"node", ActOn::kNode},
                                                 {"hpa", ActOn::kHpa}};
  auto it = k.find(s);
  if (it == k.end()) {
    return false;
  }
  *out = it->second;
  return true;
}

bool ParseSource(const std::string& s, v1::SignalSource* out) {
  static const std::map<std::string, v1::SignalSource> k = {
      {"alertmanager", v1::SIGNAL_SOURCE_ALERTMANAGER}, {"kubernetes", v1::SIGNAL_SOURCE_KUBERNETES},
      {"prometheus", v1::SIGNAL_SOURCE_PROMETHEUS},     {"healthcheck", v1::SIGNAL_SOURCE_HEALTH_CHECK},
      {"health-check", v1::SIGNAL_SOURCE_HEALTH_CHECK}, {"cost", v1::SIGNAL_SOURCE_COST},
      {"slo", v1::SIGNAL_SOURCE_SLO},                   {"forecast", v1::SIGNAL_SOURCE_FORECAST},
      {"grafana-ml", v1::SIGNAL_SOURCE_PROMETHEUS},     {"otel", v1::SIGNAL_SOURCE_PROMETHEUS},
  };
  auto it = k.find(s);
  if (it == k.end()) {
    return false;
  }
  *out = it->second;
  return true;
}

bool ValidOp(const std::string& op) {
  return op == ">" || op == ">=" || op == "<" || op == "<=" || op == "==" || op == "!=";
}

// "> 1Gi", ">=0.9", "< 10%": an operator and a quantity.
bool ParseCondition(Ctx& c, const YAML::Node& n, const std::string& path, std::string* op,
                    double* threshold) {
  std::string s;
  if (!c.Str(n, path, &s)) {
    return false;
  }
  size_t i = 0;
  while (i < s.size() && (s[i] == '>' || s[i] == '<' || s[i] == '=' || s[i] == '!')) {
    ++i;
  }
  *op = s.substr(0, i);
  if (op->empty()) {
    *op = ">";
  }
  std::string rest = s.substr(i);
  rest.erase(0, rest.find_first_not_of(' '));
  bool pct = !rest.empty() && rest.back() == '%';
  if (pct) {
    rest.pop_back();
  }
  if (!ValidOp(*op) || !ParseQuantity(rest, threshold)) {
    c.Error(path, "\"" + s + "\" is not a condition like \"> 1Gi\" or \">= 0.9\"");
    return false;
  }
  if (pct) {
    *threshold /= 100.0;
  }
  return true;
}

bool ParseTargetRef(Ctx& c, const YAML::Node& n, const std::string& path, const std::string& dflt_kind,
                    const std::string& dflt_ns, v1::Target* out) {
  c.Keys(n, path, {"kind", "name", "namespace", "apiVersion"});
  std::string kind = dflt_kind;
  if (n["kind"]) {
    c.Str(n["kind"], path + ".kind", &kind);
  }
  std::string name;
  if (!n["name"] || !c.Str(n["name"], path + ".name", &name) || name.empty()) {
    c.Error(path + ".name", "required");
    return false;
  }
  std::string ns = dflt_ns;
  if (n["namespace"]) {
    c.Str(n["namespace"], path + ".namespace", &ns);
  }
  if (kind.empty()) {
    c.Error(path + ".kind", "required");
    return false;
  }
  out->set_kind(kind);
  out->set_name(name);
  out->set_namespace_(kind == "Node" || kind == "Namespace" ? "" : ns);
  return true;
}

void ParseSelector(Ctx& c, const YAML::Node& n, const std::string& path, Selector* sel) {
  c.Keys(n, path, {"namespaces", "kinds", "resources", "labelSelector"});
  if (n["namespaces"]) {
    std::vector<std::string> l;
    c.StrList(n["namespaces"], path + ".namespaces", &l);
    for (size_t i = 0; i < l.size(); ++i) {
      NamePattern p;
      if (auto st = NamePattern::Parse(l[i], &p); !st.ok()) {
        c.Error(path + ".namespaces[" + std::to_string(i) + "]", std::string(st.message()));
      }
      sel->namespaces.push_back(p);
    }
  }
  if (n["kinds"]) {
    c.StrList(n["kinds"], path + ".kinds", &sel->kinds);
  }
  if (n["resources"]) {  // kubeskippy's shape: [{apiVersion, kind}]
    const auto& r = n["resources"];
    if (!r.IsSequence()) {
      c.Error(path + ".resources", "must be a list of {apiVersion, kind}");
    } else {
      for (size_t i = 0; i < r.size(); ++i) {
        std::string p = path + ".resources[" + std::to_string(i) + "]";
        c.Keys(r[i], p, {"apiVersion", "kind"});
        std::string k;
        if (r[i]["kind"] && c.Str(r[i]["kind"], p + ".kind", &k)) {
          sel->kinds.push_back(k);
        } else {
          c.Error(p + ".kind", "required");
        }
      }
    }
  }
  if (n["labelSelector"]) {
    const auto& ls = n["labelSelector"];
    std::string p = path + ".labelSelector";
    c.Keys(ls, p, {"matchLabels", "matchExpressions"});
    if (ls["matchLabels"]) {
      c.StrMap(ls["matchLabels"], p + ".matchLabels", &sel->match_labels);
    }
    if (ls["matchExpressions"]) {
      const auto& me = ls["matchExpressions"];
      if (!me.IsSequence()) {
        c.Error(p + ".matchExpressions", "must be a list");
        return;
      }
      for (size_t i = 0; i < me.size(); ++i) {
        std::string q = p + ".matchExpressions[" + std::to_string(i) + "]";
        c.Keys(me[i], q, {"key", "operator", "values"});
        LabelRequirement r;
        if (!me[i]["key"] || !c.Str(me[i]["key"], q + ".key", &r.key)) {
          c.Error(q + ".key", "required");
        }
        if (!me[i]["operator"] || !c.Str(me[i]["operator"], q + ".operator", &r.op) ||
            (r.op != "In" && r.op != "NotIn" && r.op != "Exists" && r.op != "DoesNotExist")) {
          c.Error(q + ".operator", "must be In, NotIn, Exists or DoesNotExist");
        }
        if (me[i]["values"]) {
          c.StrList(me[i]["values"], q + ".values", &r.values);
        }
        if ((r.op == "In" || r.op == "NotIn") && r.values.empty()) {
          c.Error(q + ".values", "In and NotIn need at least one value");
        }
        sel->match_expressions.push_back(r);
      }
    }
  }
}

void ParseSloSpec(Ctx& c, const YAML::Node& n, const std::string& path, SloSpec* s) {
  if (n["target"]) {
    double t = 0;
    if (c.Num(n["target"], path + ".target", &t)) {
      if (t > 1 && t < 100) {
        t /= 100;  // 99.9 written without %
      }
      if (!(t > 0 && t < 1)) {
        c.Error(path + ".target", "must be between 0 and 100% exclusive (e.g. 99.9%)");
      }
      s->target = t;
    }
  }
  if (n["period"]) {
    c.Dur(n["period"], path + ".period", &s->period);
  }
  if (n["budgetThreshold"]) {
    if (c.Num(n["budgetThreshold"], path + ".budgetThreshold", &s->budget_threshold) &&
        (s->budget_threshold < 0 || s->budget_threshold > 1)) {
      c.Error(path + ".budgetThreshold", "must be a share between 0 and 1 (e.g. 0.1 or 10%)");
    }
  }
  if (n["errorRatioQuery"]) {
    c.Str(n["errorRatioQuery"], path + ".errorRatioQuery", &s->error_ratio_query);
  }
  if (n["burnRateThreshold"]) {
    c.Num(n["burnRateThreshold"], path + ".burnRateThreshold", &s->burn_rate_threshold);
  }
}

void ParseForecastSpec(Ctx& c, const YAML::Node& n, const std::string& path, ForecastSpec* f) {
  if (n["query"]) {
    c.Str(n["query"], path + ".query", &f->query);
  }
  if (n["horizon"]) {
    c.Dur(n["horizon"], path + ".horizon", &f->horizon);
  }
  if (n["lookback"]) {
    c.Dur(n["lookback"], path + ".lookback", &f->lookback);
  }
  if (n["step"]) {
    c.Dur(n["step"], path + ".step", &f->step);
  }
  if (n["threshold"]) {
    c.Num(n["threshold"], path + ".threshold", &f->threshold);
  }
  if (n["thresholdPercent"]) {
    c.Num(n["thresholdPercent"], path + ".thresholdPercent", &f->threshold_percent);
  }
  if (n["alpha"]) {
    c.Num(n["alpha"], path + ".alpha", &f->alpha);
  }
  if (n["beta"]) {
    c.Num(n["beta"], path + ".beta", &f->beta);
  }
  if (f->alpha <= 0 || f->alpha > 1 || f->beta <= 0 || f->beta > 1) {
    c.Error(path, "alpha and beta must be in (0, 1]");
  }
  if (f->threshold == 0 && f->threshold_percent == 0) {
    c.Error(path, "needs threshold (absolute) or thresholdPercent (increase over now)");
  }
  if (f->step.count() <= 0 || f->lookback < f->step * 4) {
    c.Error(path + ".lookback", "must cover at least 4 steps");
  }
}

void ParseTrigger(Ctx& c, const YAML::Node& n, const std::string& path, Trigger* t) {
  c.Keys(n, path, {"name", "type", "alert", "signal", "metric", "metricTrigger", "healthCheck",
                   "event", "slo", "forecast"});
  if (n["name"]) {
    c.Str(n["name"], path + ".name", &t->name);
  }
  static const std::vector<std::pair<const char*, Trigger::Type>> kTypes = {
      {"alert", Trigger::Type::kAlert},       {"signal", Trigger::Type::kSignal},
      {"metric", Trigger::Type::kMetric},     {"metricTrigger", Trigger::Type::kMetric},
      {"healthCheck", Trigger::Type::kHealthCheck}, {"event", Trigger::Type::kEvent},
      {"slo", Trigger::Type::kSlo},           {"forecast", Trigger::Type::kForecast}};
  const char* key = nullptr;
  for (const auto& [k, ty] : kTypes) {
    if (n[k]) {
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
  if (n["type"]) {
    std::string ty;
    c.Str(n["type"], path + ".type", &ty);
    std::string want = std::string(key) == "metricTrigger" ? "metric" : key;
    if (ty != want) {
      c.Error(path + ".type", "says " + ty + " but the condition given is " + want);
    }
  }
  const YAML::Node& b = n[key];
  std::string p = path + "." + key;
  if (t->name.empty()) {
    t->name = std::string(key == std::string("metricTrigger") ? "metric" : key);
  }
  switch (t->type) {
    case Trigger::Type::kAlert:
      c.Keys(b, p, {"name"});
      t->source = v1::SIGNAL_SOURCE_ALERTMANAGER;
      if (!b["name"]) {
        c.Error(p + ".name", "required: the alert name, a glob (KubePod*) or /regex/");
      } else {
        c.Pattern(b["name"], p + ".name", &t->match);
      }
      break;
    case Trigger::Type::kSignal: {
      c.Keys(b, p, {"source", "name", "reason"});
      if (b["source"]) {
        std::string s;
        if (c.Str(b["source"], p + ".source", &s) && !ParseSource(s, &t->source)) {
          c.Error(p + ".source",
                  "unknown source " + s +
                      " (alertmanager, kubernetes, prometheus, healthcheck, cost, slo, forecast)");
        }
      }
      if (b["name"]) {
        c.Pattern(b["name"], p + ".name", &t->match);
      }
      if (b["reason"]) {
        c.Pattern(b["reason"], p + ".reason", &t->reason);
      }
      if (!b["name"] && !b["reason"] && !b["source"]) {
        c.Error(p, "needs at least one of source, name, reason");
      }
      break;
    }
    case Trigger::Type::kMetric: {
      c.Keys(b, p, {"name", "query", "operator", "threshold", "for", "duration"});
      t->source = v1::SIGNAL_SOURCE_UNSPECIFIED;
      if (b["name"]) {
        c.Pattern(b["name"], p + ".name", &t->match);
      } else if (t->name != "metric") {
        NamePattern::Parse(t->name, &t->match).IgnoreError();
      }
      if (b["query"]) {
        c.Str(b["query"], p + ".query", &t->query);
      }
      if (!b["name"] && t->query.empty()) {
        c.Error(p, "needs name (the metric signal to compare) or query (evaluated here)");
      }
      t->op = ">";
      if (b["operator"]) {
        c.Str(b["operator"], p + ".operator", &t->op);
        if (!ValidOp(t->op)) {
          c.Error(p + ".operator", "must be one of > >= < <= == !=");
        }
      }
      if (!b["threshold"]) {
        c.Error(p + ".threshold", "required");
      } else {
        std::string s = b["threshold"].as<std::string>();
        if (!ParseQuantity(s, &t->threshold)) {
          c.Num(b["threshold"], p + ".threshold", &t->threshold);
        }
      }
      const char* hold = b["for"] ? "for" : (b["duration"] ? "duration" : nullptr);
      if (hold) {
        c.Dur(b[hold], p + "." + hold, &t->hold);
      }
      break;
    }
    case Trigger::Type::kHealthCheck:
      c.Keys(b, p, {"name", "failureThreshold"});
      t->source = v1::SIGNAL_SOURCE_HEALTH_CHECK;
      if (b["name"]) {
        c.Pattern(b["name"], p + ".name", &t->match);
      }
      if (b["failureThreshold"]) {
        c.Uint(b["failureThreshold"], p + ".failureThreshold", &t->failure_threshold, 1000);
      }
      break;
    case Trigger::Type::kEvent:
      c.Keys(b, p, {"reason", "name"});
      t->source = v1::SIGNAL_SOURCE_KUBERNETES;
      if (!b["reason"]) {
        c.Error(p + ".reason", "required: the Kubernetes event reason (FailedMount, BackOff, ...)");
      } else {
        c.Pattern(b["reason"], p + ".reason", &t->reason);
      }
      if (b["name"]) {
        c.Pattern(b["name"], p + ".name", &t->match);
      }
      break;
    case Trigger::Type::kSlo:
      c.Keys(b, p, {"name", "target", "period", "budgetThreshold", "errorRatioQuery",
                    "burnRateThreshold"});
      t->source = v1::SIGNAL_SOURCE_SLO;
      if (!b["name"]) {
        c.Error(p + ".name", "required: the SLO's name");
      } else {
        c.Pattern(b["name"], p + ".name", &t->match);
      }
      ParseSloSpec(c, b, p, &t->slo);
      break;
    case Trigger::Type::kForecast:
      c.Keys(b, p, {"name", "query", "horizon", "lookback", "step", "threshold",
                    "thresholdPercent", "alpha", "beta"});
      t->source = v1::SIGNAL_SOURCE_FORECAST;
      if (b["name"]) {
        c.Pattern(b["name"], p + ".name", &t->match);
      } else {
        NamePattern::Parse(t->name, &t->match).IgnoreError();
      }
      ParseForecastSpec(c, b, p, &t->forecast);
      if (t->forecast.query.empty()) {
        c.Error(p + ".query", "required: the PromQL series to forecast");
      }
      break;
  }
}

void ParseActionNode(Ctx& c, const YAML::Node& n, const std::string& path, PolicyAction* a) {
  c.Keys(n, path, {"name", "type", "params", "on", "verify", "verifyTimeout",
                   "rollbackOnFailedVerification", "restartAction"});
  std::string type;
  if (!n["type"] || !c.Str(n["type"], path + ".type", &type)) {
    c.Error(path + ".type", "required (RestartPod, RolloutRestart, ScaleWorkload, ...)");
    return;
  }
  v1::ActionType at;
  if (!ParseActionName(type, &at)) {
    std::string names;
    for (const auto& s : Catalogue()) {
      names += (names.empty() ? "" : ", ") + s.name;
    }
    c.Error(path + ".type", "unknown action " + type + " (known: " + names + ")");
    return;
  }
  if (n["restartAction"]) {  // kubeskippy: strategy rolling = a rollout restart
    std::string strategy;
    if (n["restartAction"]["strategy"]) {
      c.Str(n["restartAction"]["strategy"], path + ".restartAction.strategy", &strategy);
    }
    if (strategy == "rolling") {
      at = v1::ACTION_TYPE_ROLLOUT_RESTART;
    }
  }
  std::map<std::string, std::string> params;
  if (n["params"]) {
    c.StrMap(n["params"], path + ".params", &params);
  }
  if (auto st = FillAction(at, params, &a->action); !st.ok()) {
    std::string m(st.message());
    std::string field = path + ".params";
    if (m.rfind("param ", 0) == 0) {
      size_t colon = m.find(':');
      field += "." + m.substr(6, colon - 6);
      m = m.substr(colon + 2);
    }
    c.Error(field, m);
    return;
  }
  if (n["on"]) {
    std::string on;
    ActOn o = ActOn::kSelf;
    if (c.Str(n["on"], path + ".on", &on) && !ParseActOn(on, &o)) {
      c.Error(path + ".on", "must be self, pod, owner, node or hpa");
    } else {
      a->on = o;
    }
  }
  if (n["verify"]) {
    bool v = false;
    c.Bool(n["verify"], path + ".verify", &v);
    a->action.set_verify(v);
  }
  if (n["verifyTimeout"]) {
    Millis d{0};
    if (c.Dur(n["verifyTimeout"], path + ".verifyTimeout", &d)) {
      a->action.set_verify_timeout_seconds(static_cast<uint32_t>(d.count() / 1000));
    }
  }
  if (n["rollbackOnFailedVerification"]) {
    bool v = false;
    c.Bool(n["rollbackOnFailedVerification"], path + ".rollbackOnFailedVerification", &v);
    a->action.set_rollback_on_failed_verification(v);
  }
}

void ParseMode(Ctx& c, const YAML::Node& n, const std::string& path, v1::Mode* m) {
  std::string s;
  if (!c.Str(n, path, &s)) {
    return;
  }
  if (s == "dry-run") {
    s = "dryrun";
  }
  if (!kubemend::ParseMode(s, m) || *m == v1::MODE_LIMITED) {
    c.Error(path, "must be monitor, dryrun, automatic or manual");
  }
}

PolicyAction Simple(v1::ActionType t, std::map<std::string, std::string> params = {},
                    std::optional<ActOn> on = std::nullopt) {
  PolicyAction a;
  FillAction(t, params, &a.action).IgnoreError();
  a.on = on;
  return a;
}

// --------------------------------------------------------- HealingPolicy

void ParseHealingPolicy(Ctx& c, const YAML::Node& spec, Policy* p) {
  c.Keys(spec, "spec", {"mode", "priority", "cooldown", "maxActionsPerHour", "loopBreaker",
                        "selector", "triggers", "actions", "requireApproval", "advice",
                        "escalation", "target"});
  if (spec["mode"]) {
    ParseMode(c, spec["mode"], "spec.mode", &p->mode);
  }
  if (spec["priority"]) {
    double v = 0;
    if (c.Num(spec["priority"], "spec.priority", &v)) {
      p->priority = static_cast<int32_t>(v);
    }
  }
  if (spec["cooldown"]) {
    c.Dur(spec["cooldown"], "spec.cooldown", &p->cooldown);
  }
  if (spec["maxActionsPerHour"]) {
    c.Uint(spec["maxActionsPerHour"], "spec.maxActionsPerHour", &p->max_actions_per_hour, 1000000);
  }
  if (spec["loopBreaker"]) {
    const auto& lb = spec["loopBreaker"];
    c.Keys(lb, "spec.loopBreaker", {"maxAttempts", "window"});
    if (lb["maxAttempts"]) {
      c.Uint(lb["maxAttempts"], "spec.loopBreaker.maxAttempts", &p->loop_max_attempts, 100);
      if (p->loop_max_attempts == 0) {
        c.Error("spec.loopBreaker.maxAttempts", "must be at least 1");
      }
    }
    if (lb["window"]) {
      c.Dur(lb["window"], "spec.loopBreaker.window", &p->loop_window);
    }
  }
  if (spec["requireApproval"]) {
    c.Bool(spec["requireApproval"], "spec.requireApproval", &p->require_approval);
  }
  if (spec["advice"]) {
    c.Keys(spec["advice"], "spec.advice", {"enabled"});
    if (spec["advice"]["enabled"]) {
      c.Bool(spec["advice"]["enabled"], "spec.advice.enabled", &p->advice);
    }
  }
  if (spec["escalation"]) {
    c.Keys(spec["escalation"], "spec.escalation", {"channel"});
    if (spec["escalation"]["channel"]) {
      c.Str(spec["escalation"]["channel"], "spec.escalation.channel", &p->escalation_channel);
    }
  }
  if (spec["target"]) {
    v1::Target t;
    if (ParseTargetRef(c, spec["target"], "spec.target", "", p->namespace_, &t)) {
      p->fixed_target = t;
    }
  }
  if (spec["selector"]) {
    ParseSelector(c, spec["selector"], "spec.selector", &p->selector);
  }
  const auto& tr = spec["triggers"];
  if (!tr || !tr.IsSequence() || tr.size() == 0) {
    c.Error("spec.triggers", "required: a non-empty list of triggers");
  } else {
    for (size_t i = 0; i < tr.size(); ++i) {
      Trigger t;
      ParseTrigger(c, tr[i], "spec.triggers[" + std::to_string(i) + "]", &t);
      p->triggers.push_back(std::move(t));
    }
  }
  const auto& ac = spec["actions"];
  if (!ac || !ac.IsSequence() || ac.size() == 0) {
    c.Error("spec.actions", "required: a non-empty, ordered list of actions");
  } else {
    for (size_t i = 0; i < ac.size(); ++i) {
      PolicyAction a;
      ParseActionNode(c, ac[i], "spec.actions[" + std::to_string(i) + "]", &a);
      p->actions.push_back(std::move(a));
    }
  }
}

// --------------------------------------------------------- seed shapes

void ParseAnomalyAction(Ctx& c, const YAML::Node& spec, Policy* p) {
  c.Keys(spec, "spec", {"source", "metric", "threshold", "remediation", "target", "k8sgpt",
                        "webhookUrl", "notifyChannel"});
  Trigger t;
  t.type = Trigger::Type::kMetric;
  t.name = "anomaly";
  t.source = v1::SIGNAL_SOURCE_PROMETHEUS;
  if (spec["source"]) {
    std::string s;
    if (c.Str(spec["source"], "spec.source", &s) && !ParseSource(s, &t.source)) {
      c.Error("spec.source", "must be prometheus, grafana-ml or otel");
    }
  }
  if (!spec["metric"]) {
    c.Error("spec.metric", "required: the metric whose signal triggers this");
  } else {
    c.Pattern(spec["metric"], "spec.metric", &t.match);
  }
  if (!spec["threshold"]) {
    c.Error("spec.threshold", "required, e.g. \"> 1Gi\"");
  } else {
    ParseCondition(c, spec["threshold"], "spec.threshold", &t.op, &t.threshold);
  }
  p->triggers.push_back(t);
  std::string resource_type = "Pod";
  if (spec["target"]) {
    const auto& tg = spec["target"];
    c.Keys(tg, "spec.target", {"namespace", "labels", "resourceType"});
    if (tg["namespace"]) {
      NamePattern np;
      c.Pattern(tg["namespace"], "spec.target.namespace", &np);
      p->selector.namespaces.push_back(np);
    }
    if (tg["labels"]) {
      c.StrMap(tg["labels"], "spec.target.labels", &p->selector.match_labels);
    }
    if (tg["resourceType"]) {
      c.Str(tg["resourceType"], "spec.target.resourceType", &resource_type);
    }
    p->selector.kinds.push_back(resource_type);
  }
  const auto& r = spec["remediation"];
  if (!r) {
    c.Error("spec.remediation", "required");
    return;
  }
  c.Keys(r, "spec.remediation", {"type", "podSelector", "requireApproval", "cooldownSeconds"});
  std::string type;
  if (!r["type"] || !c.Str(r["type"], "spec.remediation.type", &type)) {
    c.Error("spec.remediation.type", "required: restart, scale or alert");
  } else if (type == "restart") {
    p->actions.push_back(Simple(resource_type == "Pod" ? v1::ACTION_TYPE_RESTART_POD
                                                       : v1::ACTION_TYPE_ROLLOUT_RESTART));
  } else if (type == "scale") {
    p->actions.push_back(Simple(v1::ACTION_TYPE_SCALE_WORKLOAD, {{"percent", "50"}}));
  } else if (type == "alert") {
    p->actions.push_back(Simple(v1::ACTION_TYPE_NOTIFY,
                                {{"message", "anomaly " + p->name + " on {target}"}}));
  } else {
    c.Error("spec.remediation.type", "must be restart, scale or alert, not " + type);
  }
  if (r["podSelector"]) {
    c.StrMap(r["podSelector"], "spec.remediation.podSelector", &p->selector.match_labels);
  }
  if (r["requireApproval"]) {
    c.Bool(r["requireApproval"], "spec.remediation.requireApproval", &p->require_approval);
    if (p->require_approval) {
      p->mode = v1::MODE_MANUAL;
    }
  }
  if (r["cooldownSeconds"]) {
    c.Dur(r["cooldownSeconds"], "spec.remediation.cooldownSeconds", &p->cooldown);
  }
  if (spec["k8sgpt"] && spec["k8sgpt"]["enabled"]) {
    c.Bool(spec["k8sgpt"]["enabled"], "spec.k8sgpt.enabled", &p->advice);
  }
  if (spec["webhookUrl"] && !spec["webhookUrl"].as<std::string>().empty()) {
    c.Error("spec.webhookUrl",
            "URLs are not accepted in policies; name a webhook from the executor's config in "
            "spec.notifyChannel instead");
  }
  if (spec["notifyChannel"]) {
    c.Str(spec["notifyChannel"], "spec.notifyChannel", &p->escalation_channel);
  }
}

void ParseHealthCheck(Ctx& c, const YAML::Node& spec, Policy* p) {
  c.Keys(spec, "spec", {"targetRef", "probe", "probes", "interval", "timeout", "failureThreshold",
                        "remediation", "recoveryPlanRef"});
  Trigger t;
  t.type = Trigger::Type::kHealthCheck;
  t.name = "health-check";
  t.source = v1::SIGNAL_SOURCE_HEALTH_CHECK;
  NamePattern::Parse(p->name, &t.match).IgnoreError();
  t.failure_threshold = 3;
  if (spec["failureThreshold"]) {
    c.Uint(spec["failureThreshold"], "spec.failureThreshold", &t.failure_threshold, 1000);
  }
  p->triggers.push_back(t);
  v1::Target target;
  if (!spec["targetRef"]) {
    c.Error("spec.targetRef", "required: {kind: Deployment|StatefulSet|Pod, name}");
    return;
  }
  if (!ParseTargetRef(c, spec["targetRef"], "spec.targetRef", "Deployment", p->namespace_, &target)) {
    return;
  }
  if (target.kind() != "Deployment" && target.kind() != "StatefulSet" && target.kind() != "Pod") {
    c.Error("spec.targetRef.kind", "must be Deployment, StatefulSet or Pod");
  }
  p->fixed_target = target;
  p->selector.namespaces.emplace_back();
  NamePattern::Parse(target.namespace_(), &p->selector.namespaces.back()).IgnoreError();
  std::string action = "restart";
  if (spec["remediation"]) {
    const auto& r = spec["remediation"];
    c.Keys(r, "spec.remediation", {"action", "recoveryPlanRef", "requireApproval"});
    if (r["action"]) {
      c.Str(r["action"], "spec.remediation.action", &action);
    }
    if (r["requireApproval"]) {
      c.Bool(r["requireApproval"], "spec.remediation.requireApproval", &p->require_approval);
    }
  }
  if (action == "restart") {
    p->actions.push_back(Simple(target.kind() == "Pod" ? v1::ACTION_TYPE_RESTART_POD
                                                       : v1::ACTION_TYPE_ROLLOUT_RESTART,
                                {}, ActOn::kSelf));
  } else if (action == "alert") {
    p->actions.push_back(Simple(v1::ACTION_TYPE_NOTIFY,
                                {{"message", "health check " + p->name + " failing"}}));
  } else if (action == "none") {
    p->mode = v1::MODE_MONITOR;
    p->actions.push_back(Simple(v1::ACTION_TYPE_NOTIFY,
                                {{"message", "health check " + p->name + " failing"}}));
  } else if (action == "trigger-recovery-plan") {
    c.Error("spec.remediation.action",
            "trigger-recovery-plan is not supported: write the recovery plan as a HealingPolicy "
            "with a healthCheck trigger named " + p->name + " and ordered actions");
  } else {
    c.Error("spec.remediation.action", "must be restart, alert or none, not " + action);
  }
}

void ParseSloViolation(Ctx& c, const YAML::Node& spec, Policy* p) {
  c.Keys(spec, "spec", {"sloName", "sloTarget", "errorBudgetThreshold", "actions", "hpaRef",
                        "targetRef", "enableChaos", "errorRatioQuery", "period",
                        "burnRateThreshold"});
  Trigger t;
  t.type = Trigger::Type::kSlo;
  t.name = "slo";
  t.source = v1::SIGNAL_SOURCE_SLO;
  std::string slo_name = p->name;
  if (spec["sloName"]) {
    c.Str(spec["sloName"], "spec.sloName", &slo_name);
  }
  NamePattern::Parse(slo_name, &t.match).IgnoreError();
  YAML::Node s;
  if (spec["sloTarget"]) {
    s["target"] = spec["sloTarget"];
  }
  if (spec["errorBudgetThreshold"]) {
    s["budgetThreshold"] = spec["errorBudgetThreshold"];
  }
  if (spec["errorRatioQuery"]) {
    s["errorRatioQuery"] = spec["errorRatioQuery"];
  }
  if (spec["period"]) {
    s["period"] = spec["period"];
  }
  if (spec["burnRateThreshold"]) {
    s["burnRateThreshold"] = spec["burnRateThreshold"];
  }
  ParseSloSpec(c, s, "spec", &t.slo);
  p->triggers.push_back(t);
  if (spec["enableChaos"] && spec["enableChaos"].as<std::string>() == "true") {
    c.Error("spec.enableChaos", "kubemend does not run chaos experiments on SLO violations; "
                                "remove it or set it to false");
  }
  bool has_hpa = false;
  if (spec["hpaRef"]) {
    v1::Target t2;
    if (ParseTargetRef(c, spec["hpaRef"], "spec.hpaRef", "HorizontalPodAutoscaler", p->namespace_, &t2)) {
      p->fixed_target = t2;
      has_hpa = true;
    }
  } else if (spec["targetRef"]) {
    v1::Target t2;
    if (ParseTargetRef(c, spec["targetRef"], "spec.targetRef", "Deployment", p->namespace_, &t2)) {
      p->fixed_target = t2;
    }
  }
  const auto& acts = spec["actions"];
  if (!acts || !acts.IsSequence() || acts.size() == 0) {
    c.Error("spec.actions", "required: e.g. [{type: scale, value: increase}, {type: alert}]");
    return;
  }
  for (size_t i = 0; i < acts.size(); ++i) {
    std::string path = "spec.actions[" + std::to_string(i) + "]";
    c.Keys(acts[i], path, {"type", "value"});
    std::string type, value;
    if (!acts[i]["type"] || !c.Str(acts[i]["type"], path + ".type", &type)) {
      c.Error(path + ".type", "required: scale, alert or rollback");
      continue;
    }
    if (acts[i]["value"]) {
      c.Str(acts[i]["value"], path + ".value", &value);
    }
    if (type == "scale") {
      if (!value.empty() && value != "increase") {
        c.Error(path + ".value", "only increase is supported for an SLO violation");
      }
      p->actions.push_back(has_hpa ? Simple(v1::ACTION_TYPE_ADJUST_HPA, {{"percent", "50"}}, ActOn::kSelf)
                                   : Simple(v1::ACTION_TYPE_SCALE_WORKLOAD, {{"percent", "50"}}));
    } else if (type == "alert") {
      p->actions.push_back(Simple(v1::ACTION_TYPE_NOTIFY,
                                  {{"message", "SLO " + slo_name + " error budget low"}}));
    } else if (type == "rollback") {
      p->actions.push_back(Simple(v1::ACTION_TYPE_ROLLBACK_IMAGE));
    } else {
      c.Error(path + ".type", "must be scale, alert or rollback, not " + type);
    }
  }
}

void ParseBudgetGuard(Ctx& c, const YAML::Node& spec, Policy* p) {
  c.Keys(spec, "spec", {"budget", "scope", "actions", "metric", "source"});
  Trigger t;
  t.type = Trigger::Type::kMetric;
  t.name = "budget";
  t.source = v1::SIGNAL_SOURCE_COST;
  t.op = ">";
  NamePattern::Parse(spec["metric"] ? spec["metric"].as<std::string>() : "*", &t.match)
      .IgnoreError();
  if (!spec["budget"]) {
    c.Error("spec.budget", "required: {limit: 1000, currency: USD, period: monthly}");
  } else {
    const auto& b = spec["budget"];
    c.Keys(b, "spec.budget", {"limit", "amount", "currency", "period", "unit"});
    const char* key = b["limit"] ? "limit" : (b["amount"] ? "amount" : nullptr);
    if (!key) {
      c.Error("spec.budget.limit", "required");
    } else if (c.Num(b[key], std::string("spec.budget.") + key, &t.threshold) && t.threshold <= 0) {
      c.Error(std::string("spec.budget.") + key, "must be positive");
    }
  }
  if (spec["scope"]) {
    const auto& s = spec["scope"];
    c.Keys(s, "spec.scope", {"namespace", "namespaces", "cluster"});
    if (s["namespace"]) {
      NamePattern np;
      c.Pattern(s["namespace"], "spec.scope.namespace", &np);
      p->selector.namespaces.push_back(np);
      v1::Target tg;
      tg.set_kind("Namespace");
      tg.set_name(s["namespace"].as<std::string>());
      p->fixed_target = tg;
    }
  }
  p->triggers.push_back(t);
  std::vector<std::string> acts;
  if (spec["actions"]) {
    c.StrList(spec["actions"], "spec.actions", &acts);
  } else {
    acts = {"notify"};
  }
  for (size_t i = 0; i < acts.size(); ++i) {
    std::string path = "spec.actions[" + std::to_string(i) + "]";
    if (acts[i] == "notify") {
      p->actions.push_back(Simple(v1::ACTION_TYPE_NOTIFY, {{"message", "budget " + p->name + " exceeded"}}));
    } else if (acts[i] == "throttle-scaling") {
      p->actions.push_back(Simple(v1::ACTION_TYPE_THROTTLE_SCALING));
    } else if (acts[i] == "evict-low-priority") {
      p->actions.push_back(Simple(v1::ACTION_TYPE_EVICT_LOW_PRIORITY_PODS));
    } else {
      c.Error(path, "must be notify, throttle-scaling or evict-low-priority, not " + acts[i]);
    }
  }
  p->mode = v1::MODE_MANUAL;  // money decisions wait for a human
}

void ParseCostAlert(Ctx& c, const YAML::Node& spec, Policy* p) {
  c.Keys(spec, "spec", {"threshold", "scope", "channel", "metric"});
  Trigger t;
  t.type = Trigger::Type::kMetric;
  t.name = "cost";
  t.source = v1::SIGNAL_SOURCE_COST;
  t.op = ">";
  NamePattern::Parse(spec["metric"] ? spec["metric"].as<std::string>() : "*", &t.match)
      .IgnoreError();
  if (!spec["threshold"]) {
    c.Error("spec.threshold", "required: {percentIncrease: 20} or {absolute: 500}");
  } else {
    const auto& th = spec["threshold"];
    c.Keys(th, "spec.threshold", {"percentIncrease", "absolute"});
    if (th["percentIncrease"] && th["absolute"]) {
      c.Error("spec.threshold", "give percentIncrease or absolute, not both");
    } else if (th["percentIncrease"]) {
      c.Num(th["percentIncrease"], "spec.threshold.percentIncrease", &t.threshold);
      NamePattern::Parse(spec["metric"] ? spec["metric"].as<std::string>() : "cost_increase_percent",
                         &t.match).IgnoreError();
    } else if (th["absolute"]) {
      c.Num(th["absolute"], "spec.threshold.absolute", &t.threshold);
    } else {
      c.Error("spec.threshold", "needs percentIncrease or absolute");
    }
  }
  if (spec["scope"]) {
    const auto& s = spec["scope"];
    c.Keys(s, "spec.scope", {"kind", "namespace", "name"});
    std::string kind = "namespace";
    if (s["kind"]) {
      c.Str(s["kind"], "spec.scope.kind", &kind);
    }
    if (kind != "workload" && kind != "namespace" && kind != "cluster") {
      c.Error("spec.scope.kind", "must be workload, namespace or cluster");
    }
    if (s["namespace"]) {
      NamePattern np;
      c.Pattern(s["namespace"], "spec.scope.namespace", &np);
      p->selector.namespaces.push_back(np);
    }
  }
  p->triggers.push_back(t);
  std::map<std::string, std::string> params = {{"message", "cost alert " + p->name}};
  if (spec["channel"]) {
    params["channel"] = spec["channel"].as<std::string>();
  }
  p->actions.push_back(Simple(v1::ACTION_TYPE_NOTIFY, params));
}

void ParsePredictiveScale(Ctx& c, const YAML::Node& spec, Policy* p) {
  c.Keys(spec, "spec", {"forecastQuery", "nodePoolRef", "horizon", "thresholdPercent", "action",
                        "grafanaEndpoint", "targetRef", "lookback", "step"});
  Trigger t;
  t.type = Trigger::Type::kForecast;
  t.name = p->name;
  t.source = v1::SIGNAL_SOURCE_FORECAST;
  NamePattern::Parse(p->name, &t.match).IgnoreError();
  if (!spec["forecastQuery"]) {
    c.Error("spec.forecastQuery", "required");
  } else {
    std::string q;
    c.Str(spec["forecastQuery"], "spec.forecastQuery", &q);
    // Grafana ML's ml_forecast(<query>, <horizon>): we forecast the inner query ourselves.
    const std::string kMl = "ml_forecast(";
    if (q.rfind(kMl, 0) == 0 && q.back() == ')') {
      std::string inner = q.substr(kMl.size(), q.size() - kMl.size() - 1);
      int depth = 0;
      size_t cut = std::string::npos;
      for (size_t i = 0; i < inner.size(); ++i) {
        depth += inner[i] == '(' ? 1 : inner[i] == ')' ? -1 : 0;
        if (inner[i] == ',' && depth == 0) {
          cut = i;
        }
      }
      q = cut == std::string::npos ? inner : inner.substr(0, cut);
    }
    t.forecast.query = q;
  }
  YAML::Node f;
  f["threshold"] = "0";
  if (spec["horizon"]) {
    f["horizon"] = spec["horizon"];
  }
  if (spec["lookback"]) {
    f["lookback"] = spec["lookback"];
  }
  if (spec["step"]) {
    f["step"] = spec["step"];
  }
  if (!spec["thresholdPercent"]) {
    c.Error("spec.thresholdPercent", "required: act when the forecast exceeds now by this many percent");
  } else {
    f["thresholdPercent"] = spec["thresholdPercent"];
  }
  ParseForecastSpec(c, f, "spec", &t.forecast);
  p->triggers.push_back(t);
  std::string action = "provision";
  if (spec["action"]) {
    c.Str(spec["action"], "spec.action", &action);
  }
  if (action != "provision" && action != "consolidate" && action != "adjust") {
    c.Error("spec.action", "must be provision, consolidate or adjust");
  }
  if (spec["targetRef"]) {
    v1::Target tg;
    if (ParseTargetRef(c, spec["targetRef"], "spec.targetRef", "Deployment", p->namespace_, &tg)) {
      p->fixed_target = tg;
      if (action == "consolidate") {
        c.Error("spec.action", "consolidate with a targetRef would scale a workload down ahead of "
                               "demand; kubemend only scales ahead upwards");
      }
      p->actions.push_back(Simple(
          v1::ACTION_TYPE_SCALE_WORKLOAD,
          {{"percent", std::to_string(std::clamp<int>(
                           static_cast<int>(t.forecast.threshold_percent), 1, 300))}},
          ActOn::kSelf));
    }
  } else {
    // Karpenter NodePools are not in the action catalogue: tell a human.
    std::string pool = spec["nodePoolRef"] && spec["nodePoolRef"]["name"]
                           ? spec["nodePoolRef"]["name"].as<std::string>()
                           : "default";
    p->actions.push_back(Simple(v1::ACTION_TYPE_NOTIFY,
                                {{"message", "forecast " + p->name + ": " + action +
                                                 " capacity for node pool " + pool}}));
    if (!p->fixed_target) {
      v1::Target tg;
      tg.set_kind("NodePool");
      tg.set_name(pool);
      p->fixed_target = tg;
    }
  }
}

struct Shape {
  const char* kind;
  std::vector<std::string> api_versions;
  void (*parse)(Ctx&, const YAML::Node&, Policy*);
};

const std::vector<Shape>& Shapes() {
  static const std::vector<Shape> k = {
      {"HealingPolicy", {"kubemend.io/v1alpha1", "kubeskippy.io/v1alpha1"}, ParseHealingPolicy},
      {"AnomalyAction", {"aiops.prophet.io/v1alpha1"}, ParseAnomalyAction},
      {"HealthCheck", {"aiops.prophet.io/v1alpha1"}, ParseHealthCheck},
      {"SLOViolation", {"aiops.prophet.io/v1alpha1"}, ParseSloViolation},
      {"SLOEnforcer", {"aiops.prophet.io/v1alpha1"}, ParseSloViolation},
      {"BudgetGuard", {"aiops.prophet.io/v1alpha1"}, ParseBudgetGuard},
      {"CostAlert", {"aiops.prophet.io/v1alpha1"}, ParseCostAlert},
      {"PredictiveScale", {"aiops.prophet.io/v1alpha1"}, ParsePredictiveScale},
  };
  return k;
}

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  for (char ch : s) {
    if (!(std::islower(static_cast<unsigned char>(ch)) || std::isdigit(static_cast<unsigned char>(ch)) ||
          ch == '-' || ch == '.')) {
      return false;
    }
  }
  return std::isalnum(static_cast<unsigned char>(s.front())) &&
         std::isalnum(static_cast<unsigned char>(s.back()));
}

}  // namespace

ParseResult ParsePolicyNode(const YAML::Node& doc, const std::string& origin, int index,
                            const PolicyDefaults& defaults) {
  ParseResult out;
  Ctx c(origin, index, &out.errors);
  if (!doc.IsMap()) {
    c.Error("", "a policy document must be a mapping with apiVersion, kind, metadata, spec");
    return out;
  }
  c.Keys(doc, "", {"apiVersion", "kind", "metadata", "spec", "status"});
  std::string api, kind;
  if (!doc["apiVersion"] || !c.Str(doc["apiVersion"], "apiVersion", &api)) {
    c.Error("apiVersion", "required (kubemend.io/v1alpha1)");
  }
  if (!doc["kind"] || !c.Str(doc["kind"], "kind", &kind)) {
    c.Error("kind", "required (HealingPolicy)");
    return out;
  }
  const Shape* shape = nullptr;
  std::string kinds;
  for (const auto& s : Shapes()) {
    kinds += (kinds.empty() ? "" : ", ") + std::string(s.kind);
    if (kind == s.kind) {
      shape = &s;
    }
  }
  if (!shape) {
    c.Error("kind", "unknown kind " + kind + " (known: " + kinds + ")");
    return out;
  }
  if (std::find(shape->api_versions.begin(), shape->api_versions.end(), api) ==
      shape->api_versions.end()) {
    c.Error("apiVersion", kind + " must have apiVersion " + shape->api_versions.front() +
                              ", not " + api);
  }
  Policy p;
  p.shape = kind;
  p.cooldown = defaults.cooldown;
  p.max_actions_per_hour = defaults.max_actions_per_hour;
  p.loop_max_attempts = defaults.loop_max_attempts;
  p.loop_window = defaults.loop_window;
  p.escalation_channel = defaults.escalation_channel;
  const auto& md = doc["metadata"];
  if (!md || !md.IsMap()) {
    c.Error("metadata", "required: {name: ...}");
    return out;
  }
  if (!md["name"] || !c.Str(md["name"], "metadata.name", &p.name) || !ValidName(p.name)) {
    c.Error("metadata.name", "required: lowercase letters, digits, '-' and '.'");
  }
  if (md["namespace"]) {
    c.Str(md["namespace"], "metadata.namespace", &p.namespace_);
  }
  if (!doc["spec"] || !doc["spec"].IsMap()) {
    c.Error("spec", "required");
    return out;
  }
  shape->parse(c, doc["spec"], &p);
  if (c.failed()) {
    return out;
  }
  // A policy needs a target to act on: the incident's subject or a fixed one.
  for (size_t i = 0; i < p.actions.size(); ++i) {
    if (p.actions[i].on == ActOn::kHpa && p.fixed_target &&
        p.fixed_target->kind() != "HorizontalPodAutoscaler") {
      c.Error("spec.actions[" + std::to_string(i) + "].on",
              "hpa needs spec.target to be a HorizontalPodAutoscaler");
    }
  }
  if (c.failed()) {
    return out;
  }
  YAML::Emitter em;
  em << doc;
  p.ref.set_name(p.namespace_.empty() ? p.name : p.namespace_ + "/" + p.name);
  p.ref.set_version(Sha256Hex(em.c_str()).substr(0, 16));
  p.ref.set_source(origin + "#" + std::to_string(index));
  out.policies.push_back(std::move(p));
  return out;
}

ParseResult ParsePolicies(const std::string& text, const std::string& origin,
                          const PolicyDefaults& defaults) {
  ParseResult out;
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    out.errors.push_back({origin, 0, "", std::string("not valid YAML: ") + e.what()});
    return out;
  }
  std::set<std::string> names;
  int index = 0;
  for (const auto& d : docs) {
    if (d.IsNull()) {
      ++index;
      continue;  // an empty document between separators
    }
    ParseResult r = ParsePolicyNode(d, origin, index, defaults);
    out.errors.insert(out.errors.end(), r.errors.begin(), r.errors.end());
    for (auto& p : r.policies) {
      if (!names.insert(p.ref.name()).second) {
        out.errors.push_back({origin, index, "metadata.name",
                              "policy " + p.ref.name() + " is defined twice in this file"});
      }
      out.policies.push_back(std::move(p));
    }
    ++index;
  }
  if (!out.errors.empty()) {
    out.policies.clear();  // rejected whole: never half-applied
  }
  return out;
}

// ------------------------------------------------------------- matching

namespace {

bool Compare(double v, const std::string& op, double t) {
  if (op == ">") return v > t;
  if (op == ">=") return v >= t;
  if (op == "<") return v < t;
  if (op == "<=") return v <= t;
  if (op == "==") return v == t;
  if (op == "!=") return v != t;
  return false;
}

const std::string* Label(const v1::Event& e, const std::string& key) {
  auto it = e.target().labels().find(key);
  if (it != e.target().labels().end()) {
    return &it->second;
  }
  it = e.signal().labels().find(key);
  if (it != e.signal().labels().end()) {
    return &it->second;
  }
  return nullptr;
}

std::string MatchSelector(const Selector& sel, const v1::Event& e, bool explain) {
  const v1::Target& t = e.target();
  if (!sel.namespaces.empty()) {
    bool ok = false;
    for (const auto& p : sel.namespaces) {
      ok = ok || (!t.namespace_().empty() && p.Matches(t.namespace_()));
    }
    if (!ok) {
      if (!explain) {
        return "-";
      }
      return "namespace " + (t.namespace_().empty() ? std::string("(cluster)") : t.namespace_()) +
             " not selected";
    }
  }
  if (!sel.kinds.empty()) {
    bool ok = false;
    for (const auto& k : sel.kinds) {
      ok = ok || k == t.kind() || k == t.owner_kind();
    }
    if (!ok) {
      return explain ? "kind " + t.kind() + " not selected" : "-";
    }
  }
  for (const auto& [k, v] : sel.match_labels) {
    const std::string* have = Label(e, k);
    if (!have || *have != v) {
      return explain ? "label " + k + "=" + v + " not present" : "-";
    }
  }
  for (const auto& r : sel.match_expressions) {
    const std::string* have = Label(e, r.key);
    bool in = have && std::find(r.values.begin(), r.values.end(), *have) != r.values.end();
    bool ok = (r.op == "Exists" && have) || (r.op == "DoesNotExist" && !have) ||
              (r.op == "In" && in) || (r.op == "NotIn" && !in);
    if (!ok) {
      return explain ? "label expression " + r.key + " " + r.op + " not satisfied" : "-";
    }
  }
  return "";
}

bool SourceOk(v1::SignalSource want, v1::SignalSource have) {
  return want == v1::SIGNAL_SOURCE_UNSPECIFIED || have == v1::SIGNAL_SOURCE_UNSPECIFIED ||
         want == have;
}

std::string MatchTrigger(const Trigger& t, const v1::Event& e, int64_t now_ms, bool explain) {
  const v1::Signal& s = e.signal();
  if (!SourceOk(t.source, s.source())) {
    return "source differs";
  }
  if (!t.match.Matches(s.name())) {
    return explain ? "name " + s.name() + " does not match " + t.match.text() : "-";
  }
  if (!t.reason.empty() && !t.reason.Matches(s.reason())) {
    return explain ? "reason " + s.reason() + " does not match " + t.reason.text() : "-";
  }
  switch (t.type) {
    case Trigger::Type::kMetric: {
      if (!s.has_value()) {
        return "signal carries no value";
      }
      if (!Compare(s.value(), t.op, t.threshold)) {
        return "value " + std::to_string(s.value()) + " not " + t.op + " " +
               std::to_string(t.threshold);
      }
      if (t.hold.count() > 0) {
        int64_t since = s.has_starts_at() ? ToUnixMillis(FromTimestamp(s.starts_at()))
                                          : ToUnixMillis(FromTimestamp(e.occurred_at()));
        if (now_ms - since < t.hold.count()) {
          return "condition held " + std::to_string((now_ms - since) / 1000) + "s, needs " +
                 std::to_string(t.hold.count() / 1000) + "s";
        }
      }
      return "";
    }
    case Trigger::Type::kHealthCheck: {
      if (t.failure_threshold > 0) {
        double failures = s.has_value() ? s.value() : 0;
        if (const std::string* f = Label(e, "failures")) {
          failures = std::atof(f->c_str());
        }
        if (failures < t.failure_threshold) {
          return "failures " + std::to_string(static_cast<int>(failures)) + " below threshold " +
                 std::to_string(t.failure_threshold);
        }
      }
      return "";
    }
    default:
      return "";
  }
}

}  // namespace

MatchResult MatchPolicy(const Policy& p, const v1::Event& signal, int64_t now_ms, bool explain) {
  MatchResult r;
  if (std::string why = MatchSelector(p.selector, signal, explain); !why.empty()) {
    r.reason = why;
    return r;
  }
  std::string first;
  for (const auto& t : p.triggers) {
    std::string why = MatchTrigger(t, signal, now_ms, explain);
    if (why.empty()) {
      r.matched = true;
      r.trigger = &t;
      r.reason = "trigger " + t.name + " matched";
      return r;
    }
    if (first.empty() && explain) {
      first = "trigger " + t.name + ": " + why;
    }
  }
  r.reason = first;
  return r;
}

// ------------------------------------------------------------- the store

std::vector<PolicyChangeRecord> PolicyStore::Apply(const std::vector<PolicyUnit>& units) {
  std::vector<PolicyChangeRecord> changes;
  std::map<std::string, const PolicyUnit*> by_origin;
  for (const auto& u : units) {
    by_origin[u.origin] = &u;
  }
  // Removed origins.
  for (auto it = origins_.begin(); it != origins_.end();) {
    if (by_origin.count(it->first)) {
      ++it;
      continue;
    }
    for (const auto& p : it->second.good) {
      changes.push_back({p.ref, "removed", "source " + it->first + " is gone"});
    }
    it = origins_.erase(it);
  }
  bool changed = !changes.empty();
  for (const auto& [origin, unit] : by_origin) {
    std::string hash = Sha256Hex(unit->text);
    OriginState& st = origins_[origin];
    if (st.text_hash == hash) {
      continue;
    }
    st.text_hash = hash;
    ParseResult r = ParsePolicies(unit->text, origin, defaults_);
    // Names must be unique across origins.
    if (r.errors.empty()) {
      for (const auto& p : r.policies) {
        for (const auto& [o2, st2] : origins_) {
          if (o2 == origin) {
            continue;
          }
          for (const auto& q : st2.good) {
            if (q.ref.name() == p.ref.name()) {
              r.errors.push_back({origin, 0, "metadata.name",
                                  "policy " + p.ref.name() + " is already defined in " + o2});
            }
          }
        }
      }
    }
    if (!r.errors.empty()) {
      std::string detail;
      for (const auto& e : r.errors) {
        detail += (detail.empty() ? "" : "; ") + e.ToString();
      }
      v1::PolicyRef ref;
      ref.set_name(origin);
      ref.set_version(hash.substr(0, 16));
      ref.set_source(origin);
      changes.push_back({ref, "rejected",
                         detail + (st.good.empty() ? "" : " (keeping the last good version)")});
      continue;
    }
    std::map<std::string, const Policy*> old;
    for (const auto& p : st.good) {
      old[p.ref.name()] = &p;
    }
    for (const auto& p : r.policies) {
      auto it = old.find(p.ref.name());
      if (it == old.end()) {
        changes.push_back({p.ref, "added", p.shape + " from " + p.ref.source()});
      } else {
        if (it->second->ref.version() != p.ref.version()) {
          changes.push_back({p.ref, "updated",
                             "version " + it->second->ref.version() + " -> " + p.ref.version()});
        }
        old.erase(it);
      }
    }
    for (const auto& [name, p] : old) {
      changes.push_back({p->ref, "removed", "no longer in " + origin});
    }
    st.good = std::move(r.policies);
    changed = true;
  }
  if (changed) {
    auto set = std::make_shared<PolicySet>();
    for (const auto& [o, st] : origins_) {
      set->policies.insert(set->policies.end(), st.good.begin(), st.good.end());
    }
    std::stable_sort(set->policies.begin(), set->policies.end(), [](const Policy& a, const Policy& b) {
      if (a.priority != b.priority) {
        return a.priority > b.priority;
      }
      return a.ref.name() < b.ref.name();
    });
    std::lock_guard<std::mutex> l(mu_);
    current_ = std::move(set);
  }
  return changes;
}

}  // namespace kubemend::analyzer
