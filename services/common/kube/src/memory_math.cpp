#include "kubemend/kube/memory_math.h"

#include <algorithm>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "int128_util.h"

namespace kubemend::kube {
namespace {

using Failure = MemoryIncreaseFailure;

Failure Invalid(std::string reason) { return {MemoryIncreaseError::kInvalidInput, std::move(reason)}; }

// ceil(a / b) for a >= 0, b > 0.
Int128 CeilDiv(Int128 a, Int128 b) { return a / b + (a % b != 0 ? 1 : 0); }

Int128 RoundUpTo(Int128 value, Int128 boundary) { return CeilDiv(value, boundary) * boundary; }

// Bytes of a positive quantity, rounded up; nullopt when unusable.
std::optional<Int128> PositiveBytes(const Quantity& q) {
  auto bytes = q.ToBytes();
  if (!bytes.ok() || *bytes <= 0) {
    return std::nullopt;
  }
  return Int128{*bytes};
}

std::string Show(Int128 bytes) {
  if (bytes > std::numeric_limits<int64_t>::max()) {
    return internal::ToString(bytes);
  }
  return Quantity::FromBytes(static_cast<int64_t>(bytes)).ToString();
}

struct Raised {
  Int128 bytes = 0;
  bool capped = false;
  std::string detail;
};

// base * (100 + percent) / 100, rounded up to the boundary, capped.
Raised Raise(Int128 base, int64_t percent, Int128 boundary, Int128 cap, const std::string& boundary_text) {
  const Int128 grown = CeilDiv(base * (100 + percent), 100);
  Raised r;
  r.bytes = RoundUpTo(grown, boundary);
  r.detail = fmt::format("+{}% = {}, multiple of {}", percent, Show(grown), boundary_text);
  if (r.bytes > cap) {
    r.bytes = cap;
    r.capped = true;
    r.detail += fmt::format(", capped at {}", Show(cap));
  }
  return r;
}

// Prefer the caller's spelling of the cap ("2G" stays "2G").
Quantity AsQuantity(Int128 bytes, Int128 cap_bytes, const Quantity& cap) {
  if (bytes == cap_bytes) {
    return cap;
  }
  return Quantity::FromBytes(static_cast<int64_t>(bytes));
}

}  // namespace

Expected<MemoryIncreasePlan, MemoryIncreaseFailure> PlanMemoryIncrease(const MemoryIncreaseInput& input) {
  if (input.percent < 1 || input.percent > 1000) {
    return Invalid(fmt::format("percent must be within 1..1000, got {}", input.percent));
  }
  const auto boundary = PositiveBytes(input.boundary);
  if (!boundary) {
    return Invalid(fmt::format("rounding boundary must be at least 1 byte, got {}", input.boundary.ToString()));
  }
  const auto cap = PositiveBytes(input.cap);
  if (!cap) {
    return Invalid(fmt::format("cap must be a positive quantity, got {}", input.cap.ToString()));
  }
  std::optional<Int128> limit;
  std::optional<Int128> request;
  if (input.limit) {
    limit = PositiveBytes(*input.limit);
    if (!limit) {
      return Invalid(fmt::format("memory limit must be positive, got {}", input.limit->ToString()));
    }
  }
  if (input.request) {
    request = PositiveBytes(*input.request);
    if (!request) {
      return Invalid(fmt::format("memory request must be positive, got {}", input.request->ToString()));
    }
  }
  if (!limit && !request) {
    return Failure{MemoryIncreaseError::kNoMemorySettings, "container sets neither a memory limit nor a request"};
  }
  if (limit && request && *request > *limit) {
    return Invalid(fmt::format("memory request {} is above the limit {}", input.request->ToString(),
                               input.limit->ToString()));
  }
  const std::string boundary_text = input.boundary.ToString();

  MemoryIncreasePlan plan;
  if (!limit) {
    if (*request >= *cap) {
      return Failure{MemoryIncreaseError::kAtCap,
                     fmt::format("memory request {} is already at or above the cap {} (no limit set)",
                                 input.request->ToString(), input.cap.ToString())};
    }
    const Raised r = Raise(*request, input.percent, *boundary, *cap, boundary_text);
    plan.request = AsQuantity(r.bytes, *cap, input.cap);
    plan.capped = r.capped;
    plan.reason = fmt::format("no memory limit set; request {} -> {} ({})", input.request->ToString(),
                              plan.request->ToString(), r.detail);
    return plan;
  }

  if (*limit >= *cap) {
    return Failure{MemoryIncreaseError::kAtCap, fmt::format("memory limit {} is already at or above the cap {}",
                                                            input.limit->ToString(), input.cap.ToString())};
  }
  const Raised r = Raise(*limit, input.percent, *boundary, *cap, boundary_text);
  plan.limit = AsQuantity(r.bytes, *cap, input.cap);
  plan.capped = r.capped;
  plan.reason = fmt::format("limit {} -> {} ({})", input.limit->ToString(), plan.limit->ToString(), r.detail);

  if (!request) {
    plan.reason += "; request unset (the API server defaults it to the limit)";
    return plan;
  }
  // Keep request/limit: new_request = request * new_limit / limit. The new
  // limit is above the old one, so this never lowers the request.
  const Int128 scaled = CeilDiv(*request * r.bytes, *limit);
  const Int128 new_request = std::min(RoundUpTo(scaled, *boundary), r.bytes);
  plan.request = AsQuantity(new_request, *cap, input.cap);
  const Int128 ratio_percent = *request * 100 / *limit;
  plan.reason += fmt::format("; request {} -> {} (kept at {}% of the limit, multiple of {}{})",
                             input.request->ToString(), plan.request->ToString(),
                             static_cast<int64_t>(ratio_percent), boundary_text,
                             new_request == r.bytes && *request != *limit ? ", clamped to the limit" : "");
  return plan;
}

}  // namespace kubemend::kube
