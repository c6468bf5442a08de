#pragma once
// The safety gate's decision logic. Pure: a proposal in, a decision out, the
// decision naming the rule that decided and the values it compared.
#include <set>
#include <string>

#include "kubemend/common/clock.h"
#include "kubemend/common/events.h"

namespace kubemend::gate {

struct GateConfig {
  std::vector<std::string> protected_namespaces = {"kube-system", "kube-public", "kube-node-lease"};
};

v1::Event Decide(const v1::Event& proposal, const GateConfig& cfg, const ProducerIdentity& who,
                 const Clock& clock);

}  // namespace kubemend::gate
