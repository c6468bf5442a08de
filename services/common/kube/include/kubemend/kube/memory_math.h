#pragma once

// The arithmetic behind the executor's IncreaseMemory action: how much memory
// to give a container after an OOM kill. A pure function over quantities (no
// I/O, no clock, no logging) that returns the new values with the reason.
//
// Rules:
//  - limit set: new limit = round_up(limit * (100 + percent) / 100, boundary),
//    then capped at `cap`. The request, if set, is raised so that
//    request/limit stays what it was (rounded up to the boundary, never above
//    the new limit); a Guaranteed pod (request == limit) stays Guaranteed. An
//    unset request stays unset (the API server defaults it to the limit).
//  - no limit, request set: the request is raised the same way and capped;
//    no limit is invented.
//  - neither set: kNoMemorySettings.
//  - the base value (limit, else request) already at or above the cap:
//    kAtCap. Nothing would change, so the action must not run.
// All arithmetic is on whole bytes (fractional quantities round up) in 128
// bits, so nothing overflows or rounds through floating point.

#include <cstdint>
#include <optional>
#include <string>

#include "kubemend/kube/quantity.h"
#include "kubemend/kube/result.h"

namespace kubemend::kube {

struct MemoryIncreaseInput {
  std::optional<Quantity> limit;
  std::optional<Quantity> request;
  // Increase in percent, 1..1000.
  int64_t percent = 0;
  // New values are rounded up to a multiple of this; must be >= 1 byte.
  Quantity boundary = Quantity::FromBytes(int64_t{64} << 20);
  // Nothing is ever raised above this; must be > 0.
  Quantity cap;
};

struct MemoryIncreasePlan {
  std::optional<Quantity> limit;    // unset when the container had no limit
  std::optional<Quantity> request;  // unset when the container had no request
  bool capped = false;              // the cap cut the increase short
  // One line for the audit log, e.g. "limit 256Mi -> 320Mi (+25% = 320Mi,
  // multiple of 64Mi); request 128Mi -> 192Mi (kept at 50% of the limit)".
  std::string reason;
};

enum class MemoryIncreaseError {
  kInvalidInput,      // percent/boundary/cap out of range, request > limit, ...
  kNoMemorySettings,  // neither limit nor request is set
  kAtCap,             // already at or above the cap
};

struct MemoryIncreaseFailure {
  MemoryIncreaseError code = MemoryIncreaseError::kInvalidInput;
  std::string reason;
};

Expected<MemoryIncreasePlan, MemoryIncreaseFailure> PlanMemoryIncrease(const MemoryIncreaseInput& input);

}  // namespace kubemend::kube
