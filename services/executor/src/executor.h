#pragma once
// The executor's decision handling. In this first version it never touches
// the Kubernetes API: an approved decision is recorded as a dry-run outcome.
#include <optional>

#include "kubemend/common/clock.h"
#include "kubemend/common/events.h"

namespace kubemend::executor {

// The outcome for a decision, or nothing when the decision is not an
// approval (rejections and held proposals have no outcome).
std::optional<v1::Event> OutcomeFor(const v1::Event& decision, const ProducerIdentity& who,
                                    const Clock& clock);

}  // namespace kubemend::executor
