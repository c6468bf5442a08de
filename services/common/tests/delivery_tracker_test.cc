// DeliveryTracker::OnComplete, the non-blocking wait (the collector's
// webhook answers from it): runs once, after the last report or at the
// first failure, never before.
#include <gtest/gtest.h>

#include <vector>

#include "kubemend/common/kafka.h"

namespace kubemend {
namespace {

TEST(DeliveryTrackerTest, OnCompleteRunsOnceAfterEveryReport) {
  DeliveryTracker t;
  t.Add(3);
  std::vector<absl::Status> calls;
  t.OnComplete([&](absl::Status st) { calls.push_back(st); });
  t.Done("");
  t.Done("");
  EXPECT_TRUE(calls.empty()) << "completed before the last acknowledgement";
  t.Done("");
  ASSERT_EQ(calls.size(), 1U);
  EXPECT_TRUE(calls[0].ok()) << calls[0];
}

TEST(DeliveryTrackerTest, OnCompleteFailsAtTheFirstFailedDeliveryAndOnlyOnce) {
  DeliveryTracker t;
  t.Add(2);
  std::vector<absl::Status> calls;
  t.OnComplete([&](absl::Status st) { calls.push_back(st); });
  t.Done("Local: Message timed out");
  ASSERT_EQ(calls.size(), 1U);
  EXPECT_TRUE(absl::IsUnavailable(calls[0])) << calls[0];
  EXPECT_NE(calls[0].message().find("Message timed out"), std::string::npos) << calls[0];
  t.Done("");
  EXPECT_EQ(calls.size(), 1U);
}

TEST(DeliveryTrackerTest, OnCompleteRunsAtOnceWhenAlreadyDelivered) {
  DeliveryTracker t;
  t.Add(1);
  t.Done("");
  int calls = 0;
  t.OnComplete([&](const absl::Status& st) {
    EXPECT_TRUE(st.ok());
    ++calls;
  });
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace kubemend
