#pragma once
// Builders shared by the analyzer's unit tests.
#include <string>

#include "kubemend/common/clock.h"
#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"

namespace kubemend::analyzer::testing {

inline const ProducerIdentity kCollector{"collector", "c-1", "0.1.0"};
inline const ProducerIdentity kAnalyzer{"analyzer", "a-1", "0.1.0"};
inline const ProducerIdentity kExecutor{"executor", "e-1", "0.1.0"};

// A firing alert signal about pod `pod` of Deployment `owner` in `ns`.
inline v1::Event PodSignal(const Clock& clock, const std::string& name, const std::string& pod,
                           const std::string& owner = "api", const std::string& ns = "shop",
                           v1::SignalStatus status = v1::SIGNAL_STATUS_FIRING) {
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_SIGNAL, kCollector, clock);
  e.set_incident_id("prov-" + pod + "-" + name);
  auto* t = e.mutable_target();
  t->set_cluster("c1");
  t->set_namespace_(ns);
  t->set_kind("Pod");
  t->set_name(pod);
  if (!owner.empty()) {
    t->set_owner_kind("Deployment");
    t->set_owner_name(owner);
  }
  auto* s = e.mutable_signal();
  s->set_source(v1::SIGNAL_SOURCE_ALERTMANAGER);
  s->set_name(name);
  s->set_fingerprint(Sha256Hex(ns + pod + name).substr(0, 16));
  s->set_status(status);
  s->set_severity(v1::SEVERITY_WARNING);
  SetTimestamp(s->mutable_starts_at(), clock.Now());
  return e;
}

inline v1::Event Outcome(const Clock& clock, const v1::Event& proposal, v1::OutcomeStatus status,
                         bool verified_healthy = false) {
  v1::Event e = NewCausedEvent(v1::EVENT_TYPE_OUTCOME, proposal, "outcome-" + NewUuid(), kExecutor, clock);
  auto* o = e.mutable_outcome();
  o->set_proposal_id(proposal.event_id());
  o->set_status(status);
  *o->mutable_action() = proposal.proposal().action();
  o->mutable_verification()->set_attempted(verified_healthy || status == v1::OUTCOME_STATUS_NOT_FIXED);
  o->mutable_verification()->set_healthy(verified_healthy);
  return e;
}

}  // namespace kubemend::analyzer::testing
