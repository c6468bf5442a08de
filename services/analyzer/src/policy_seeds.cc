// The seed shapes (aiops.prophet.io/v1alpha1): AnomalyAction, HealthCheck,
// SLOViolation/SLOEnforcer, BudgetGuard, CostAlert, PredictiveScale.
#include "policy_parse.h"

namespace kubemend::analyzer::policy_parse {

// --------------------------------------------------------- seed shapes

void ParseAnomalyAction(Ctx& c, const YAML::Node& spec, Policy* p) {
  c.Keys(spec, "spec", {"source", "metric", "threshold", "remediation", "target", "k8sgpt",
                        "webhookUrl", "notifyChannel"});
  Trigger t;
  t.type = Trigger::Type::kMetric;
  t.name = "anomaly";
  t.source = v1::SIGNAL_SOURCE_PROMETHEUS;
  if (At(spec, "source")) {
    std::string s;
    if (c.Str(At(spec, "source"), "spec.source", &s) && !ParseSource(s, &t.source)) {
      c.Error("spec.source", "must be prometheus, grafana-ml or otel");
    }
  }
  if (!At(spec, "metric")) {
    c.Error("spec.metric", "required: the metric whose signal triggers this");
  } else {
    c.Pattern(At(spec, "metric"), "spec.metric", &t.match);
  }
  if (!At(spec, "threshold")) {
    c.Error("spec.threshold", "required, e.g. \"> 1Gi\"");
  } else {
    ParseCondition(c, At(spec, "threshold"), "spec.threshold", &t.op, &t.threshold);
  }
  p->triggers.push_back(t);
  std::string resource_type = "Pod";
  if (At(spec, "target")) {
    const auto& tg = At(spec, "target");
    c.Keys(tg, "spec.target", {"namespace", "labels", "resourceType"});
    if (At(tg, "namespace")) {
      NamePattern np;
      c.Pattern(At(tg, "namespace"), "spec.target.namespace", &np);
      p->selector.namespaces.push_back(np);
    }
    if (At(tg, "labels")) {
      c.StrMap(At(tg, "labels"), "spec.target.labels", &p->selector.match_labels);
    }
    if (At(tg, "resourceType")) {
      c.Str(At(tg, "resourceType"), "spec.target.resourceType", &resource_type);
    }
    p->selector.kinds.push_back(resource_type);
  }
  const auto& r = At(spec, "remediation");
  if (!r) {
    c.Error("spec.remediation", "required");
    return;
  }
  c.Keys(r, "spec.remediation", {"type", "podSelector", "requireApproval", "cooldownSeconds"});
  std::string type;
  if (!At(r, "type") || !c.Str(At(r, "type"), "spec.remediation.type", &type)) {
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
  if (At(r, "podSelector")) {
    c.StrMap(At(r, "podSelector"), "spec.remediation.podSelector", &p->selector.match_labels);
  }
  if (At(r, "requireApproval")) {
    c.Bool(At(r, "requireApproval"), "spec.remediation.requireApproval", &p->require_approval);
    if (p->require_approval) {
      p->mode = v1::MODE_MANUAL;
    }
  }
  if (At(r, "cooldownSeconds")) {
    c.Dur(At(r, "cooldownSeconds"), "spec.remediation.cooldownSeconds", &p->cooldown);
  }
  if (At(spec, "k8sgpt")) {
    c.Map(At(spec, "k8sgpt"), "spec.k8sgpt");
  }
  if (At(spec, "k8sgpt") && At(At(spec, "k8sgpt"), "enabled")) {
    c.Bool(At(At(spec, "k8sgpt"), "enabled"), "spec.k8sgpt.enabled", &p->advice);
  }
  if (const YAML::Node w = At(spec, "webhookUrl");
      w && !w.IsNull() && !(w.IsScalar() && w.Scalar().empty())) {
    c.Error("spec.webhookUrl",
            "URLs are not accepted in policies; name a webhook from the executor's config in "
            "spec.notifyChannel instead");
  }
  if (At(spec, "notifyChannel")) {
    c.Str(At(spec, "notifyChannel"), "spec.notifyChannel", &p->escalation_channel);
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
  if (At(spec, "failureThreshold")) {
    c.Uint(At(spec, "failureThreshold"), "spec.failureThreshold", &t.failure_threshold, 1000);
  }
  p->triggers.push_back(t);
  v1::Target target;
  if (!At(spec, "targetRef")) {
    c.Error("spec.targetRef", "required: {kind: Deployment|StatefulSet|Pod, name}");
    return;
  }
  if (!ParseTargetRef(c, At(spec, "targetRef"), "spec.targetRef", "Deployment", p->namespace_, &target)) {
    return;
  }
  if (target.kind() != "Deployment" && target.kind() != "StatefulSet" && target.kind() != "Pod") {
    c.Error("spec.targetRef.kind", "must be Deployment, StatefulSet or Pod");
  }
  p->fixed_target = target;
  p->selector.namespaces.emplace_back();
  NamePattern::Parse(target.namespace_(), &p->selector.namespaces.back()).IgnoreError();
  std::string action = "restart";
  if (At(spec, "remediation")) {
    const auto& r = At(spec, "remediation");
    c.Keys(r, "spec.remediation", {"action", "recoveryPlanRef", "requireApproval"});
    if (At(r, "action")) {
      c.Str(At(r, "action"), "spec.remediation.action", &action);
    }
    if (At(r, "requireApproval")) {
      c.Bool(At(r, "requireApproval"), "spec.remediation.requireApproval", &p->require_approval);
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
  if (At(spec, "sloName")) {
    c.Str(At(spec, "sloName"), "spec.sloName", &slo_name);
  }
  NamePattern::Parse(slo_name, &t.match).IgnoreError();
  YAML::Node s;
  if (At(spec, "sloTarget")) {
    s["target"] = At(spec, "sloTarget");
  }
  if (At(spec, "errorBudgetThreshold")) {
    s["budgetThreshold"] = At(spec, "errorBudgetThreshold");
  }
  if (At(spec, "errorRatioQuery")) {
    s["errorRatioQuery"] = At(spec, "errorRatioQuery");
  }
  if (At(spec, "period")) {
    s["period"] = At(spec, "period");
  }
  if (At(spec, "burnRateThreshold")) {
    s["burnRateThreshold"] = At(spec, "burnRateThreshold");
  }
  ParseSloSpec(c, s, "spec", &t.slo);
  p->triggers.push_back(t);
  bool chaos = false;
  if (At(spec, "enableChaos") && c.Bool(At(spec, "enableChaos"), "spec.enableChaos", &chaos) && chaos) {
    c.Error("spec.enableChaos", "kubemend does not run chaos experiments on SLO violations; "
                                "remove it or set it to false");
  }
  bool has_hpa = false;
  if (At(spec, "hpaRef")) {
    v1::Target t2;
    if (ParseTargetRef(c, At(spec, "hpaRef"), "spec.hpaRef", "HorizontalPodAutoscaler", p->namespace_, &t2)) {
      p->fixed_target = t2;
      has_hpa = true;
    }
  } else if (At(spec, "targetRef")) {
    v1::Target t2;
    if (ParseTargetRef(c, At(spec, "targetRef"), "spec.targetRef", "Deployment", p->namespace_, &t2)) {
      p->fixed_target = t2;
    }
  }
  const auto& acts = At(spec, "actions");
  if (!acts || !acts.IsSequence() || acts.size() == 0) {
    c.Error("spec.actions", "required: e.g. [{type: scale, value: increase}, {type: alert}]");
    return;
  }
  for (size_t i = 0; i < acts.size(); ++i) {
    std::string path = "spec.actions[" + std::to_string(i) + "]";
    c.Keys(acts[i], path, {"type", "value"});
    std::string type, value;
    if (!At(acts[i], "type") || !c.Str(At(acts[i], "type"), path + ".type", &type)) {
      c.Error(path + ".type", "required: scale, alert or rollback");
      continue;
    }
    if (At(acts[i], "value")) {
      c.Str(At(acts[i], "value"), path + ".value", &value);
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
  t.op = CompareOp::kGreater;
  if (At(spec, "metric")) {
    c.Pattern(At(spec, "metric"), "spec.metric", &t.match);
  }
  if (!At(spec, "budget")) {
    c.Error("spec.budget", "required: {limit: 1000, currency: USD, period: monthly}");
  } else {
    const auto& b = At(spec, "budget");
    c.Keys(b, "spec.budget", {"limit", "amount", "currency", "period", "unit"});
    const char* key = At(b, "limit") ? "limit" : (At(b, "amount") ? "amount" : nullptr);
    if (!key) {
      c.Error("spec.budget.limit", "required");
    } else if (c.Num(At(b, key), std::string("spec.budget.") + key, &t.threshold) && t.threshold <= 0) {
      c.Error(std::string("spec.budget.") + key, "must be positive");
    }
    // The limit is compared only with cost signals of the same period and
    // currency (the collector's budget labels): a monthly limit against an
    // hourly run-rate, or EUR against USD, never matches.
    std::string period = "monthly", currency = "USD";
    if (At(b, "period")) {
      c.Str(At(b, "period"), "spec.budget.period", &period);
    }
    if (period != "hourly" && period != "daily" && period != "monthly") {
      c.Error("spec.budget.period", "must be hourly, daily or monthly, not " + period);
    }
    if (At(b, "currency")) {
      c.Str(At(b, "currency"), "spec.budget.currency", &currency);
    }
    NamePattern::Parse(period, &t.labels["period"]).IgnoreError();
    NamePattern::Parse(currency, &t.labels["currency"]).IgnoreError();
  }
  if (At(spec, "scope")) {
    const auto& s = At(spec, "scope");
    c.Keys(s, "spec.scope", {"namespace", "namespaces", "cluster"});
    if (At(s, "namespace")) {
      NamePattern np;
      if (c.Pattern(At(s, "namespace"), "spec.scope.namespace", &np)) {
        p->selector.namespaces.push_back(np);
        v1::Target tg;
        tg.set_kind("Namespace");
        tg.set_name(np.text());
        p->fixed_target = tg;
      }
    }
  }
  p->triggers.push_back(t);
  std::vector<std::string> acts;
  if (At(spec, "actions")) {
    c.StrList(At(spec, "actions"), "spec.actions", &acts);
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
  t.op = CompareOp::kGreater;
  if (At(spec, "metric")) {
    c.Pattern(At(spec, "metric"), "spec.metric", &t.match);
  }
  if (!At(spec, "threshold")) {
    c.Error("spec.threshold", "required: {absolute: 500}");
  } else {
    const auto& th = At(spec, "threshold");
    c.Keys(th, "spec.threshold", {"percentIncrease", "absolute"});
    if (At(th, "percentIncrease") && At(th, "absolute")) {
      c.Error("spec.threshold", "give percentIncrease or absolute, not both");
    } else if (At(th, "percentIncrease")) {
      // Refused rather than accepted and silent: it could never fire.
      c.Error("spec.threshold.percentIncrease",
              "not supported: nothing in kubemend measures a cost increase, so this alert could "
              "never fire; use {absolute: <cost>} (compared with the collector's cost signals)");
    } else if (At(th, "absolute")) {
      c.Num(At(th, "absolute"), "spec.threshold.absolute", &t.threshold);
    } else {
      c.Error("spec.threshold", "needs percentIncrease or absolute");
    }
  }
  if (At(spec, "scope")) {
    const auto& s = At(spec, "scope");
    c.Keys(s, "spec.scope", {"kind", "namespace", "name"});
    std::string kind = "namespace";
    if (At(s, "kind")) {
      c.Str(At(s, "kind"), "spec.scope.kind", &kind);
    }
    if (kind != "workload" && kind != "namespace" && kind != "cluster") {
      c.Error("spec.scope.kind", "must be workload, namespace or cluster");
    }
    if (At(s, "namespace")) {
      NamePattern np;
      c.Pattern(At(s, "namespace"), "spec.scope.namespace", &np);
      p->selector.namespaces.push_back(np);
    }
  }
  p->triggers.push_back(t);
  std::map<std::string, std::string> params = {{"message", "cost alert " + p->name}};
  if (At(spec, "channel")) {
    c.Str(At(spec, "channel"), "spec.channel", &params["channel"]);
  }
  p->actions.push_back(Simple(v1::ACTION_TYPE_NOTIFY, params));
}

void ParsePredictiveScale(Ctx& c, const YAML::Node& spec, Policy* p) {
  c.Keys(spec, "spec", {"forecastQuery", "nodePoolRef", "horizon", "thresholdPercent", "action",
                        "grafanaEndpoint", "targetRef", "lookback", "step", "maxReplicas"});
  Trigger t;
  t.type = Trigger::Type::kForecast;
  t.name = p->name;
  t.source = v1::SIGNAL_SOURCE_FORECAST;
  NamePattern::Parse(p->name, &t.match).IgnoreError();
  if (!At(spec, "forecastQuery")) {
    c.Error("spec.forecastQuery", "required");
  } else {
    std::string q;
    c.Str(At(spec, "forecastQuery"), "spec.forecastQuery", &q);
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
  if (At(spec, "horizon")) {
    f["horizon"] = At(spec, "horizon");
  }
  if (At(spec, "lookback")) {
    f["lookback"] = At(spec, "lookback");
  }
  if (At(spec, "step")) {
    f["step"] = At(spec, "step");
  }
  if (!At(spec, "thresholdPercent")) {
    c.Error("spec.thresholdPercent", "required: act when the forecast exceeds now by this many percent");
  } else {
    f["thresholdPercent"] = At(spec, "thresholdPercent");
  }
  ParseForecastSpec(c, f, "spec", &t.forecast);
  p->triggers.push_back(t);
  std::string action = "provision";
  if (At(spec, "action")) {
    c.Str(At(spec, "action"), "spec.action", &action);
  }
  if (action != "provision" && action != "consolidate" && action != "adjust") {
    c.Error("spec.action", "must be provision, consolidate or adjust");
  }
  if (At(spec, "targetRef")) {
    v1::Target tg;
    if (ParseTargetRef(c, At(spec, "targetRef"), "spec.targetRef", "Deployment", p->namespace_, &tg)) {
      p->fixed_target = tg;
      if (action == "consolidate") {
        c.Error("spec.action", "consolidate with a targetRef would scale a workload down ahead of "
                               "demand; kubemend only scales ahead upwards");
      }
      // The step is sized from each forecast signal (Engine::SizeFromForecast);
      // thresholdPercent is only the fallback when a signal lacks the numbers.
      std::map<std::string, std::string> params = {
          {"percent", std::to_string(std::clamp<int>(static_cast<int>(t.forecast.threshold_percent), 1, 300))}};
      if (At(spec, "maxReplicas")) {
        double max = 0;
        if (c.Num(At(spec, "maxReplicas"), "spec.maxReplicas", &max) && (max < 1 || max > 200)) {
          c.Error("spec.maxReplicas", "must be 1..200");
        }
        params["maxReplicas"] = std::to_string(static_cast<int>(max));
      }
      p->actions.push_back(Simple(v1::ACTION_TYPE_SCALE_WORKLOAD, params, ActOn::kSelf));
      p->forecast_sizing = true;
    }
  } else {
    // Karpenter NodePools are not in the action catalogue: tell a human.
    std::string pool = "default";
    if (At(spec, "nodePoolRef")) {
      c.Keys(At(spec, "nodePoolRef"), "spec.nodePoolRef", {"name", "apiVersion", "kind"});
      if (At(At(spec, "nodePoolRef"), "name")) {
        c.Str(At(At(spec, "nodePoolRef"), "name"), "spec.nodePoolRef.name", &pool);
      }
    }
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

}  // namespace kubemend::analyzer::policy_parse
