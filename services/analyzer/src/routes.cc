#include "routes.h"

namespace kubemend::analyzer {
namespace {

struct Route {
  const char* alert;
  v1::ActionType action;
  const char* why;
};

constexpr Route kRoutes[] = {
    {"KubePodCrashLooping", v1::ACTION_TYPE_RESTART_POD,
     "crash-looping pod: restart it so its controller recreates it"},
    {"KubePodOOMKilled", v1::ACTION_TYPE_INCREASE_MEMORY,
     "container OOM-killed: raise its memory limit"},
    {"KubeHpaMaxedOut", v1::ACTION_TYPE_ADJUST_HPA,
     "HPA at its maximum: scale up by raising maxReplicas"},
};

}  // namespace

ProposalResult ProposeFromRoutes(const v1::Event& signal, const ProducerIdentity& who,
                                 const Clock& clock) {
  const v1::Signal& s = signal.signal();
  if (s.status() != v1::SIGNAL_STATUS_FIRING) {
    return {std::nullopt, "signal is not firing"};
  }
  for (const auto& r : kRoutes) {
    if (s.name() != r.alert) {
      continue;
    }
    v1::Event p = NewCausedEvent(v1::EVENT_TYPE_PROPOSAL, signal, "proposal", who, clock);
    v1::RemediationProposal* prop = p.mutable_proposal();
    v1::Action* a = prop->mutable_action();
    a->set_type(r.action);
    switch (r.action) {
      case v1::ACTION_TYPE_RESTART_POD:
        a->mutable_restart_pod();
        break;
      case v1::ACTION_TYPE_INCREASE_MEMORY: {
        auto* m = a->mutable_increase_memory();
        m->set_percent(50);
        m->set_round_to("64Mi");
        m->set_max_limit("4Gi");
        // Memory belongs to the pod template: act on the owning workload.
        if (!signal.target().owner_kind().empty()) {
          p.mutable_target()->set_kind(signal.target().owner_kind());
          p.mutable_target()->set_name(signal.target().owner_name());
        }
        break;
      }
      case v1::ACTION_TYPE_ADJUST_HPA: {
        auto* h = a->mutable_adjust_hpa();
        h->set_percent(50);
        h->set_min_step(1);
        h->set_max_replicas_cap(50);
        break;
      }
      default:
        break;
    }
    prop->mutable_policy()->set_name("builtin-routes");
    prop->mutable_policy()->set_version("1");
    prop->mutable_policy()->set_source("built-in");
    prop->set_mode(v1::MODE_AUTOMATIC);
    prop->set_reason(r.why);
    prop->add_signal_ids(signal.event_id());
    prop->set_attempt(1);
    (*prop->mutable_facts())["alertname"] = s.name();
    return {std::move(p), std::string("route ") + r.alert + " -> " + ActionTypeName(r.action)};
  }
  return {std::nullopt, "no route for alert " + s.name()};
}

}  // namespace kubemend::analyzer
