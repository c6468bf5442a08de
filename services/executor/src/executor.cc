#include "executor.h"

namespace kubemend::executor {

std::optional<v1::Event> OutcomeFor(const v1::Event& decision, const ProducerIdentity& who,
                                    const Clock& clock) {
  const v1::SafetyDecision& d = decision.decision();
  if (d.verdict() != v1::VERDICT_APPROVED) {
    return std::nullopt;
  }
  v1::Event o = NewCausedEvent(v1::EVENT_TYPE_OUTCOME, decision, "outcome", who, clock);
  v1::ActionOutcome* out = o.mutable_outcome();
  out->set_decision_id(decision.event_id());
  out->set_proposal_id(d.proposal_id());
  out->set_action_id(d.action_id());
  *out->mutable_action() = d.proposal().action();
  out->set_status(v1::OUTCOME_STATUS_DRY_RUN);
  SetTimestamp(out->mutable_started_at(), clock.Now());
  SetTimestamp(out->mutable_finished_at(), clock.Now());
  out->mutable_verification()->set_attempted(false);
  out->mutable_verification()->set_detail("dry run: nothing was changed");
  return o;
}

}  // namespace kubemend::executor
