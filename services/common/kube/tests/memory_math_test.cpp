#include "kubemend/kube/memory_math.h"

#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace kubemend::kube {
namespace {

Quantity Q(const char* text) {
  auto q = Quantity::Parse(text);
  EXPECT_TRUE(q.ok()) << text;
  return q.ok() ? *q : Quantity();
}

std::optional<Quantity> Opt(const char* text) {
  if (text == nullptr) {
    return std::nullopt;
  }
  return Q(text);
}

MemoryIncreaseInput Input(const char* limit, const char* request, int64_t percent, const char* cap) {
  MemoryIncreaseInput in;
  in.limit = Opt(limit);
  in.request = Opt(request);
  in.percent = percent;
  in.cap = Q(cap);
  return in;
}

struct PlanCase {
  const char* limit;
  const char* request;
  int64_t percent;
  const char* cap;
  const char* want_limit;    // nullptr: unset
  const char* want_request;  // nullptr: unset
  bool want_capped;
};

constexpr PlanCase kPlanCases[] = {
    // 256Mi * 1.25 = 320Mi, already a multiple of 64Mi; request keeps 50%.
    {"256Mi", "128Mi", 25, "4Gi", "320Mi", "192Mi", false},
    // 256Mi * 1.5 = 384Mi; request 50% = 192Mi exactly.
    {"256Mi", "128Mi", 50, "4Gi", "384Mi", "192Mi", false},
    // 100Mi * 1.2 = 120Mi -> 128Mi; request 100Mi -> 128Mi (Guaranteed stays).
    {"100Mi", "100Mi", 20, "4Gi", "128Mi", "128Mi", false},
    // 200Mi * 1.5 = 300Mi -> 320Mi; request 100Mi*320/200 = 160Mi -> 192Mi.
    {"200Mi", "100Mi", 50, "4Gi", "320Mi", "192Mi", false},
    // Small ratio: 1Gi * 1.1 = 1126.4Mi -> 1152Mi; 10Mi * 1152/1024 = 11.25Mi -> 64Mi.
    {"1Gi", "10Mi", 10, "4Gi", "1152Mi", "64Mi", false},
    // Decimal inputs: 500M * 1.5 = 750M = 715.26Mi -> 768Mi.
    {"500M", "250M", 50, "4Gi", "768Mi", "384Mi", false},
    // Fractional quantities round up to whole bytes first.
    {"1.5Gi", "1Gi", 100, "8Gi", "3Gi", "2Gi", false},
    // Capped: 3Gi * 1.5 = 4.5Gi > 4Gi; request 2Gi*4/3 = 2.67Gi -> 2752Mi.
    {"3Gi", "2Gi", 50, "4Gi", "4Gi", "2752Mi", true},
    // Capped with a request equal to the limit: both land on the cap.
    {"3Gi", "3Gi", 50, "4Gi", "4Gi", "4Gi", true},
    // The cap keeps the caller's spelling.
    {"1G", "1G", 100, "1500M", "1500M", "1500M", true},
    // No request: stays unset.
    {"256Mi", nullptr, 25, "4Gi", "320Mi", nullptr, false},
    // No limit: only the request rises.
    {nullptr, "256Mi", 25, "4Gi", nullptr, "320Mi", false},
    {nullptr, "3Gi", 50, "4Gi", nullptr, "4Gi", true},
    // Tiny values still land on the boundary.
    {"1Mi", "1Mi", 1, "4Gi", "64Mi", "64Mi", false},
    // Already a multiple: 64Mi * 2 = 128Mi exactly.
    {"64Mi", "32Mi", 100, "4Gi", "128Mi", "64Mi", false},
    // Maximum percent.
    {"64Mi", "64Mi", 1000, "4Gi", "704Mi", "704Mi", false},
};

TEST(MemoryMathTest, PlansFollowTheTable) {
  for (const auto& c : kPlanCases) {
    SCOPED_TRACE(testing::Message() << "limit=" << (c.limit ? c.limit : "-") << " request="
                                    << (c.request ? c.request : "-") << " percent=" << c.percent
                                    << " cap=" << c.cap);
    auto plan = PlanMemoryIncrease(Input(c.limit, c.request, c.percent, c.cap));
    ASSERT_TRUE(plan.ok()) << plan.error().reason;
    ASSERT_EQ(plan->limit.has_value(), c.want_limit != nullptr);
    if (c.want_limit) {
      EXPECT_EQ(plan->limit->ToString(), c.want_limit);
    }
    ASSERT_EQ(plan->request.has_value(), c.want_request != nullptr);
    if (c.want_request) {
      EXPECT_EQ(plan->request->ToString(), c.want_request);
    }
    EXPECT_EQ(plan->capped, c.want_capped);
    EXPECT_FALSE(plan->reason.empty());
  }
}

TEST(MemoryMathTest, InvariantsHoldOverAGrid) {
  // Every combination: the new limit is a multiple of the boundary or the
  // cap, grows, never passes the cap; the request never passes the new limit
  // and never shrinks.
  const int64_t mi = int64_t{1} << 20;
  const int64_t cap = 8192 * mi;
  for (int64_t limit_mi : {1, 63, 64, 65, 100, 127, 500, 1000, 4095, 8000}) {
    for (int64_t request_pct : {1, 10, 33, 50, 99, 100}) {
      for (int64_t percent : {1, 5, 10, 25, 50, 100, 333, 1000}) {
        const int64_t limit = limit_mi * mi;
        const int64_t request = std::max<int64_t>(1, limit * request_pct / 100);
        MemoryIncreaseInput in;
        in.limit = Quantity::FromBytes(limit);
        in.request = Quantity::FromBytes(request);
        in.percent = percent;
        in.cap = Quantity::FromBytes(cap);
        auto plan = PlanMemoryIncrease(in);
        ASSERT_TRUE(plan.ok()) << plan.error().reason;
        const int64_t new_limit = *plan->limit->ToBytes();
        const int64_t new_request = *plan->request->ToBytes();
        EXPECT_GT(new_limit, limit);
        EXPECT_LE(new_limit, cap);
        EXPECT_TRUE(new_limit % (64 * mi) == 0 || new_limit == cap) << new_limit;
        EXPECT_GE(new_limit * 100, std::min(cap * 100, limit * (100 + percent)));
        EXPECT_LE(new_request, new_limit);
        EXPECT_GE(new_request, request);
        EXPECT_TRUE(new_request % (64 * mi) == 0 || new_request == new_limit) << new_request;
        // The ratio is kept or rounded up, never lowered.
        EXPECT_GE(static_cast<Int128>(new_request) * limit, static_cast<Int128>(request) * new_limit);
        EXPECT_EQ(plan->capped, limit * (100 + percent) > cap * 100 ||
                                    (limit * (100 + percent) + 99) / 100 > cap - cap % (64 * mi));
      }
    }
  }
}

TEST(MemoryMathTest, RefusesAtCap) {
  for (const auto& [limit, request] : {std::pair<const char*, const char*>{"4Gi", "1Gi"}, {"5Gi", nullptr},
                                       {nullptr, "4Gi"}, {"4096Mi", "4096Mi"}}) {
    auto plan = PlanMemoryIncrease(Input(limit, request, 25, "4Gi"));
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.error().code, MemoryIncreaseError::kAtCap);
    EXPECT_NE(plan.error().reason.find("cap 4Gi"), std::string::npos) << plan.error().reason;
  }
}

TEST(MemoryMathTest, RefusesWithoutMemorySettings) {
  auto plan = PlanMemoryIncrease(Input(nullptr, nullptr, 25, "4Gi"));
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, MemoryIncreaseError::kNoMemorySettings);
}

TEST(MemoryMathTest, RejectsInvalidInput) {
  auto expect_invalid = [](MemoryIncreaseInput in, const char* needle) {
    auto plan = PlanMemoryIncrease(in);
    ASSERT_FALSE(plan.ok()) << needle;
    EXPECT_EQ(plan.error().code, MemoryIncreaseError::kInvalidInput);
    EXPECT_NE(plan.error().reason.find(needle), std::string::npos) << plan.error().reason;
  };
  expect_invalid(Input("1Gi", "512Mi", 0, "4Gi"), "percent");
  expect_invalid(Input("1Gi", "512Mi", -5, "4Gi"), "percent");
  expect_invalid(Input("1Gi", "512Mi", 1001, "4Gi"), "percent");
  expect_invalid(Input("1Gi", "2Gi", 25, "4Gi"), "above the limit");
  expect_invalid(Input("1Gi", "512Mi", 25, "0"), "cap");
  expect_invalid(Input("0", "0", 25, "4Gi"), "limit must be positive");
  expect_invalid(Input("1Gi", "-1", 25, "4Gi"), "request must be positive");
  auto in = Input("1Gi", "512Mi", 25, "4Gi");
  in.boundary = Q("0");
  expect_invalid(in, "boundary");
}

TEST(MemoryMathTest, HonoursACustomBoundary) {
  auto in = Input("1000Mi", "500Mi", 10, "4Gi");
  in.boundary = Q("1Mi");
  auto plan = PlanMemoryIncrease(in);
  ASSERT_TRUE(plan.ok()) << plan.error().reason;
  EXPECT_EQ(plan->limit->ToString(), "1100Mi");
  EXPECT_EQ(plan->request->ToString(), "550Mi");
}

TEST(MemoryMathTest, ReasonNamesOldAndNewValues) {
  auto plan = PlanMemoryIncrease(Input("256Mi", "128Mi", 25, "4Gi"));
  ASSERT_TRUE(plan.ok());
  EXPECT_NE(plan->reason.find("limit 256Mi -> 320Mi"), std::string::npos) << plan->reason;
  EXPECT_NE(plan->reason.find("request 128Mi -> 192Mi"), std::string::npos) << plan->reason;
  EXPECT_NE(plan->reason.find("50%"), std::string::npos) << plan->reason;
}

}  // namespace
}  // namespace kubemend::kube
