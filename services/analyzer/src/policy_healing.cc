// The HealingPolicy shape (kubemend.io/v1alpha1, kubeskippy.io/v1alpha1).
#include "policy_parse.h"

namespace kubemend::analyzer::policy_parse {

// --------------------------------------------------------- HealingPolicy

void ParseHealingPolicy(Ctx& c, const YAML::Node& spec, Policy* p) {
  c.Keys(spec, "spec", {"mode", "priority", "cooldown", "maxActionsPerHour", "loopBreaker",
                        "selector", "triggers", "actions", "requireApproval", "advice",
                        "escalation", "target"});
  if (At(spec, "mode")) {
    ParseMode(c, At(spec, "mode"), "spec.mode", &p->mode);
  }
  if (At(spec, "priority")) {
    double v = 0;
    if (c.Num(At(spec, "priority"), "spec.priority", &v)) {
      p->priority = static_cast<int32_t>(v);
    }
  }
  if (At(spec, "cooldown")) {
    c.Dur(At(spec, "cooldown"), "spec.cooldown", &p->cooldown);
  }
  if (At(spec, "maxActionsPerHour")) {
    c.Uint(At(spec, "maxActionsPerHour"), "spec.maxActionsPerHour", &p->max_actions_per_hour, 1000000);
  }
  if (At(spec, "loopBreaker")) {
    const auto& lb = At(spec, "loopBreaker");
    c.Keys(lb, "spec.loopBreaker", {"maxAttempts", "window"});
    if (At(lb, "maxAttempts")) {
      c.Uint(At(lb, "maxAttempts"), "spec.loopBreaker.maxAttempts", &p->loop_max_attempts, 100);
      if (p->loop_max_attempts == 0) {
        c.Error("spec.loopBreaker.maxAttempts", "must be at least 1");
      }
    }
    if (At(lb, "window")) {
      c.Dur(At(lb, "window"), "spec.loopBreaker.window", &p->loop_window);
    }
  }
  if (At(spec, "requireApproval")) {
    c.Bool(At(spec, "requireApproval"), "spec.requireApproval", &p->require_approval);
  }
  if (At(spec, "advice")) {
    c.Keys(At(spec, "advice"), "spec.advice", {"enabled"});
    if (At(At(spec, "advice"), "enabled")) {
      c.Bool(At(At(spec, "advice"), "enabled"), "spec.advice.enabled", &p->advice);
    }
  }
  if (At(spec, "escalation")) {
    c.Keys(At(spec, "escalation"), "spec.escalation", {"channel"});
    if (At(At(spec, "escalation"), "channel")) {
      c.Str(At(At(spec, "escalation"), "channel"), "spec.escalation.channel", &p->escalation_channel);
    }
  }
  if (At(spec, "target")) {
    v1::Target t;
    if (ParseTargetRef(c, At(spec, "target"), "spec.target", "", p->namespace_, &t)) {
      p->fixed_target = t;
    }
  }
  if (At(spec, "selector")) {
    ParseSelector(c, At(spec, "selector"), "spec.selector", &p->selector);
  }
  const auto& tr = At(spec, "triggers");
  if (!tr || !tr.IsSequence() || tr.size() == 0) {
    c.Error("spec.triggers", "required: a non-empty list of triggers");
  } else {
    for (size_t i = 0; i < tr.size(); ++i) {
      Trigger t;
      ParseTrigger(c, tr[i], "spec.triggers[" + std::to_string(i) + "]", &t);
      p->triggers.push_back(std::move(t));
    }
  }
  const auto& ac = At(spec, "actions");
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

}  // namespace kubemend::analyzer::policy_parse
