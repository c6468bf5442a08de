#include "gate.h"

#include <algorithm>

#include "kubemend/common/ids.h"

namespace kubemend::gate {

v1::Event Decide(const v1::Event& proposal, const GateConfig& cfg, const ProducerIdentity& who,
                 const Clock& clock) {
  v1::Event d = NewCausedEvent(v1::EVENT_TYPE_DECISION, proposal, "decision", who, clock);
  v1::SafetyDecision* dec = d.mutable_decision();
  dec->set_proposal_id(proposal.event_id());
  *dec->mutable_proposal() = proposal.proposal();
  dec->set_approver("safety-gate");
  dec->set_action_id(DerivedUuid(proposal.event_id(), "action"));
  const std::string& ns = proposal.target().namespace_();
  const auto& prot = cfg.protected_namespaces;
  if (!ns.empty() && std::find(prot.begin(), prot.end(), ns) != prot.end()) {
    dec->set_verdict(v1::VERDICT_REJECTED);
    dec->set_rule("protected-namespace");
    dec->set_reason("namespace " + ns + " is protected; kubemend never touches it");
    (*dec->mutable_compared())["namespace"] = ns;
    return d;
  }
  dec->set_verdict(v1::VERDICT_APPROVED);
  dec->set_rule("all-rules-passed");
  dec->set_reason("namespace " + (ns.empty() ? std::string("(cluster-scoped)") : ns) +
                  " is not protected");
  (*dec->mutable_compared())["namespace"] = ns;
  return d;
}

}  // namespace kubemend::gate
