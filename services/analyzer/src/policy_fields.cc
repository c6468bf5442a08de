// Field parsers shared by every policy shape (see policy_parse.h).
#include "policy_parse.h"

#include "catalogue.h"

namespace kubemend::analyzer::policy_parse {

YAML::Node At(const YAML::Node& n, const std::string& key) {
  if (n.IsMap()) {
    return n[key];
  }
  const YAML::Node empty(YAML::NodeType::Map);
  return empty[key];
}

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

bool ParseCondition(Ctx& c, const YAML::Node& n, const std::string& path, CompareOp* op,
                    double* threshold) {
  std::string s;
  if (!c.Str(n, path, &s)) {
    return false;
  }
  std::string op_text;
  std::string rest;
  SplitCondition(s, &op_text, &rest);
  if (op_text.empty()) {
    op_text = ">";
  }
  bool pct = !rest.empty() && rest.back() == '%';
  if (pct) {
    rest.pop_back();
  }
  if (!ParseCompareOp(op_text, op) || !ParseQuantity(rest, threshold)) {
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
  if (At(n, "kind")) {
    c.Str(At(n, "kind"), path + ".kind", &kind);
  }
  std::string name;
  if (!At(n, "name") || !c.Str(At(n, "name"), path + ".name", &name) || name.empty()) {
    c.Error(path + ".name", "required");
    return false;
  }
  std::string ns = dflt_ns;
  if (At(n, "namespace")) {
    c.Str(At(n, "namespace"), path + ".namespace", &ns);
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
  if (At(n, "namespaces")) {
    std::vector<std::string> l;
    c.StrList(At(n, "namespaces"), path + ".namespaces", &l);
    for (size_t i = 0; i < l.size(); ++i) {
      NamePattern p;
      if (auto st = NamePattern::Parse(l[i], &p); !st.ok()) {
        c.Error(path + ".namespaces[" + std::to_string(i) + "]", std::string(st.message()));
      }
      sel->namespaces.push_back(p);
    }
  }
  if (At(n, "kinds")) {
    c.StrList(At(n, "kinds"), path + ".kinds", &sel->kinds);
  }
  if (At(n, "resources")) {  // kubeskippy's shape: [{apiVersion, kind}]
    const auto& r = At(n, "resources");
    if (!r.IsSequence()) {
      c.Error(path + ".resources", "must be a list of {apiVersion, kind}");
    } else {
      for (size_t i = 0; i < r.size(); ++i) {
        std::string p = path + ".resources[" + std::to_string(i) + "]";
        c.Keys(r[i], p, {"apiVersion", "kind"});
        std::string k;
        if (At(r[i], "kind") && c.Str(At(r[i], "kind"), p + ".kind", &k)) {
          sel->kinds.push_back(k);
        } else {
          c.Error(p + ".kind", "required");
        }
      }
    }
  }
  if (At(n, "labelSelector")) {
    const auto& ls = At(n, "labelSelector");
    std::string p = path + ".labelSelector";
    c.Keys(ls, p, {"matchLabels", "matchExpressions"});
    if (At(ls, "matchLabels")) {
      c.StrMap(At(ls, "matchLabels"), p + ".matchLabels", &sel->match_labels);
    }
    if (At(ls, "matchExpressions")) {
      const auto& me = At(ls, "matchExpressions");
      if (!me.IsSequence()) {
        c.Error(p + ".matchExpressions", "must be a list");
        return;
      }
      for (size_t i = 0; i < me.size(); ++i) {
        std::string q = p + ".matchExpressions[" + std::to_string(i) + "]";
        c.Keys(me[i], q, {"key", "operator", "values"});
        LabelRequirement r;
        if (!At(me[i], "key") || !c.Str(At(me[i], "key"), q + ".key", &r.key)) {
          c.Error(q + ".key", "required");
        }
        if (!At(me[i], "operator") || !c.Str(At(me[i], "operator"), q + ".operator", &r.op) ||
            (r.op != "In" && r.op != "NotIn" && r.op != "Exists" && r.op != "DoesNotExist")) {
          c.Error(q + ".operator", "must be In, NotIn, Exists or DoesNotExist");
        }
        if (At(me[i], "values")) {
          c.StrList(At(me[i], "values"), q + ".values", &r.values);
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
  if (At(n, "target")) {
    double t = 0;
    if (c.Num(At(n, "target"), path + ".target", &t)) {
      if (t > 1 && t < 100) {
        t /= 100;  // 99.9 written without %
      }
      if (!(t > 0 && t < 1)) {
        c.Error(path + ".target", "must be between 0 and 100% exclusive (e.g. 99.9%)");
      }
      s->target = t;
    }
  }
  if (At(n, "period")) {
    c.Dur(At(n, "period"), path + ".period", &s->period);
  }
  if (At(n, "budgetThreshold")) {
    if (c.Num(At(n, "budgetThreshold"), path + ".budgetThreshold", &s->budget_threshold) &&
        (s->budget_threshold < 0 || s->budget_threshold > 1)) {
      c.Error(path + ".budgetThreshold", "must be a share between 0 and 1 (e.g. 0.1 or 10%)");
    }
  }
  if (At(n, "errorRatioQuery")) {
    c.Str(At(n, "errorRatioQuery"), path + ".errorRatioQuery", &s->error_ratio_query);
  }
  if (At(n, "burnRateThreshold")) {
    c.Num(At(n, "burnRateThreshold"), path + ".burnRateThreshold", &s->burn_rate_threshold);
  }
  // The analyzer evaluates the query itself; nothing else publishes SLO
  // signals, so an SLO without one could never fire.
  if (s->error_ratio_query.empty()) {
    c.Error(path + ".errorRatioQuery",
            "required: the PromQL error ratio (0..1) the analyzer evaluates; nothing else "
            "publishes SLO signals, so without it this SLO could never fire");
  }
}

void ParseForecastSpec(Ctx& c, const YAML::Node& n, const std::string& path, ForecastSpec* f) {
  if (At(n, "query")) {
    c.Str(At(n, "query"), path + ".query", &f->query);
  }
  if (At(n, "horizon")) {
    c.Dur(At(n, "horizon"), path + ".horizon", &f->horizon);
  }
  if (At(n, "lookback")) {
    c.Dur(At(n, "lookback"), path + ".lookback", &f->lookback);
  }
  if (At(n, "step")) {
    c.Dur(At(n, "step"), path + ".step", &f->step);
  }
  if (At(n, "threshold")) {
    c.Num(At(n, "threshold"), path + ".threshold", &f->threshold);
  }
  if (At(n, "thresholdPercent")) {
    c.Num(At(n, "thresholdPercent"), path + ".thresholdPercent", &f->threshold_percent);
  }
  if (At(n, "alpha")) {
    c.Num(At(n, "alpha"), path + ".alpha", &f->alpha);
  }
  if (At(n, "beta")) {
    c.Num(At(n, "beta"), path + ".beta", &f->beta);
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


void ParseActionNode(Ctx& c, const YAML::Node& n, const std::string& path, PolicyAction* a) {
  c.Keys(n, path, {"name", "type", "params", "on", "verify", "verifyTimeout",
                   "rollbackOnFailedVerification", "restartAction", "apply"});
  std::string type;
  if (!At(n, "type") || !c.Str(At(n, "type"), path + ".type", &type)) {
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
  if (At(n, "restartAction")) {  // kubeskippy: strategy rolling = a rollout restart
    c.Map(At(n, "restartAction"), path + ".restartAction");
    std::string strategy;
    if (At(At(n, "restartAction"), "strategy")) {
      c.Str(At(At(n, "restartAction"), "strategy"), path + ".restartAction.strategy", &strategy);
    }
    if (strategy == "rolling") {
      at = v1::ACTION_TYPE_ROLLOUT_RESTART;
    }
  }
  std::map<std::string, std::string> params;
  if (At(n, "params")) {
    c.StrMap(At(n, "params"), path + ".params", &params);
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
  if (At(n, "on")) {
    std::string on;
    ActOn o = ActOn::kSelf;
    if (c.Str(At(n, "on"), path + ".on", &on) && !ParseActOn(on, &o)) {
      c.Error(path + ".on", "must be self, pod, owner, node or hpa");
    } else {
      a->on = o;
    }
  }
  if (At(n, "verify")) {
    bool v = false;
    c.Bool(At(n, "verify"), path + ".verify", &v);
    a->action.set_verify(v);
  }
  if (At(n, "verifyTimeout")) {
    Millis d{0};
    if (c.Dur(At(n, "verifyTimeout"), path + ".verifyTimeout", &d)) {
      a->action.set_verify_timeout_seconds(static_cast<uint32_t>(d.count() / 1000));
    }
  }
  if (At(n, "rollbackOnFailedVerification")) {
    bool v = false;
    c.Bool(At(n, "rollbackOnFailedVerification"), path + ".rollbackOnFailedVerification", &v);
    a->action.set_rollback_on_failed_verification(v);
  }
  if (At(n, "apply")) {  // GitOps mode per policy (docs/gitops.md)
    std::string via;
    if (c.Str(At(n, "apply"), path + ".apply", &via)) {
      if (via == "gitops") {
        a->action.set_apply_via(v1::APPLY_VIA_GITOPS);
      } else if (via == "live") {
        a->action.set_apply_via(v1::APPLY_VIA_LIVE);
      } else if (via != "auto") {
        c.Error(path + ".apply", "must be auto, gitops or live");
      }
    }
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

PolicyAction Simple(v1::ActionType t, std::map<std::string, std::string> params,
                    std::optional<ActOn> on) {
  PolicyAction a;
  FillAction(t, params, &a.action).IgnoreError();
  a.on = on;
  return a;
}

}  // namespace kubemend::analyzer::policy_parse
