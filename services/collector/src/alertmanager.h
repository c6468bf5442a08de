#pragma once
// Alertmanager webhook (payload version 4) → Signal events. Pure: no I/O,
// time and identity are passed in. Malformed input is an InvalidArgument
// whose message says what is wrong, for the 400 reply.
#include <absl/status/statusor.h>

#include <string>
#include <vector>

#include "kubemend/common/clock.h"
#include "alert_target.h"
#include "kubemend/common/events.h"

namespace kubemend::collector {

struct WebhookOptions {
  std::string cluster;  // cluster name put on every target
};

absl::StatusOr<std::vector<v1::Event>> ParseAlertmanagerWebhook(const std::string& body,
                                                                const WebhookOptions& opts,
                                                                const ProducerIdentity& who,
                                                                const Clock& clock);

// ParseRfc3339 (kubemend/common/events.h) reads Alertmanager's timestamps.


}  // namespace kubemend::collector
