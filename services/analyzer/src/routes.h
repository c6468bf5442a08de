#pragma once
// The analyzer's first decision logic: a built-in route table from alert
// name to remediation. Pure: the caller supplies identity and clock.
// (Healing policies replace this table; see docs/policies.md when present.)
#include <optional>
#include <string>

#include "kubemend/common/clock.h"
#include "kubemend/common/events.h"

namespace kubemend::analyzer {

struct ProposalResult {
  std::optional<v1::Event> proposal;
  std::string reason;  // why there is or is not a proposal
};

ProposalResult ProposeFromRoutes(const v1::Event& signal, const ProducerIdentity& who,
                                 const Clock& clock);

}  // namespace kubemend::analyzer
