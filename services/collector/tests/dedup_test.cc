#include "dedup.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace kubemend::collector {
namespace {

std::string TempPath(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("kubemend-dedup-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto p = dir / name;
  std::filesystem::remove(p);
  return p.string();
}

TEST(DedupStoreTest, OnlyChangesOfStatusArePublished) {
  FakeClock clock;
  auto s = DedupStore::Open("", Millis(1000), clock);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE((*s)->ShouldPublish("a", v1::SIGNAL_STATUS_FIRING));
  ASSERT_TRUE((*s)->Record("a", v1::SIGNAL_STATUS_FIRING).ok());
  EXPECT_FALSE((*s)->ShouldPublish("a", v1::SIGNAL_STATUS_FIRING));
  EXPECT_TRUE((*s)->ShouldPublish("a", v1::SIGNAL_STATUS_RESOLVED));
  EXPECT_TRUE((*s)->ShouldPublish("b", v1::SIGNAL_STATUS_RESOLVED));
  ASSERT_TRUE((*s)->Record("a", v1::SIGNAL_STATUS_RESOLVED).ok());
  EXPECT_TRUE((*s)->ShouldPublish("a", v1::SIGNAL_STATUS_FIRING));
}

TEST(DedupStoreTest, StateSurvivesReopenAndTornLines) {
  FakeClock clock;
  const std::string path = TempPath("survive");
  {
    auto s = DedupStore::Open(path, Millis(60'000), clock);
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE((*s)->Record("k8s/Pod/shop/web-1/app/OOMKilled", v1::SIGNAL_STATUS_FIRING).ok());
    ASSERT_TRUE((*s)->Record("fp with space", v1::SIGNAL_STATUS_FIRING).ok());
    ASSERT_TRUE((*s)->Record("gone", v1::SIGNAL_STATUS_RESOLVED).ok());
  }
  {
    std::ofstream torn(path, std::ios::app);
    torn << "firing half-writ";  // a crash mid-line
  }
  auto s = DedupStore::Open(path, Millis(60'000), clock);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE((*s)->ShouldPublish("k8s/Pod/shop/web-1/app/OOMKilled", v1::SIGNAL_STATUS_FIRING));
  EXPECT_FALSE((*s)->ShouldPublish("fp with space", v1::SIGNAL_STATUS_FIRING));
  EXPECT_FALSE((*s)->ShouldPublish("gone", v1::SIGNAL_STATUS_RESOLVED));
  EXPECT_EQ((*s)->FiringWithPrefix("k8s/Pod/"), std::vector<std::string>{"k8s/Pod/shop/web-1/app/OOMKilled"});
}

TEST(DedupStoreTest, ResolvedEntriesAreForgottenAfterTheirTime) {
  FakeClock clock;
  const std::string path = TempPath("forget");
  {
    auto s = DedupStore::Open(path, Millis(1000), clock);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Record("old", v1::SIGNAL_STATUS_RESOLVED).ok());
    ASSERT_TRUE((*s)->Record("still", v1::SIGNAL_STATUS_FIRING).ok());
  }
  clock.Advance(Millis(5000));
  auto s = DedupStore::Open(path, Millis(1000), clock);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->size(), 1u);
  EXPECT_FALSE((*s)->ShouldPublish("still", v1::SIGNAL_STATUS_FIRING));
}

TEST(DedupStoreTest, UnwritableDirectoryIsAClearError) {
  FakeClock clock;
  auto s = DedupStore::Open("/nonexistent-dir/x/collector.dedup", Millis(1000), clock);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("dedup.state_file"), std::string::npos);
}

}  // namespace
}  // namespace kubemend::collector
