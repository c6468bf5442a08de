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

TEST(DedupStoreTest, AFiringAlertThatStartedAgainIsANewOccurrence) {
  FakeClock clock;
  auto s = DedupStore::Open("", Millis(1000), clock);
  ASSERT_TRUE(s.ok());
  const int64_t t1 = 1767225600000, t2 = t1 + 600'000;
  ASSERT_TRUE((*s)->Record("am1", v1::SIGNAL_STATUS_FIRING, t1).ok());
  EXPECT_FALSE((*s)->ShouldPublish("am1", v1::SIGNAL_STATUS_FIRING, t1)) << "a repeat notification";
  EXPECT_TRUE((*s)->ShouldPublish("am1", v1::SIGNAL_STATUS_FIRING, t2)) << "resolve missed, fired again";
  EXPECT_FALSE((*s)->ShouldPublish("am1", v1::SIGNAL_STATUS_FIRING, 0)) << "no start known: status decides";
}

TEST(DedupStoreTest, MemoryIsBoundedFiringAndEventEntriesAreForgotten) {
  FakeClock clock;
  DedupStore::Limits l;
  l.forget_after = Millis(1000);
  l.forget_firing_after = Millis(10'000);
  l.max_entries = 1500;
  const std::string path = TempPath("bounded");
  auto s = DedupStore::Open(path, l, clock);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Record("k8s/Event/uid-1", v1::SIGNAL_STATUS_FIRING).ok());
  ASSERT_TRUE((*s)->Record("long-firing", v1::SIGNAL_STATUS_FIRING, 5).ok());
  clock.Advance(Millis(2000));
  // 3,000 distinct fingerprints: pruning keeps at most max_entries, oldest first.
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE((*s)->Record("fp-" + std::to_string(i), v1::SIGNAL_STATUS_FIRING).ok());
    clock.Advance(Millis(1));
  }
  EXPECT_LE((*s)->size(), 1500u);
  EXPECT_FALSE((*s)->ShouldPublish("fp-2999", v1::SIGNAL_STATUS_FIRING)) << "the newest stay";
  EXPECT_TRUE((*s)->ShouldPublish("fp-0", v1::SIGNAL_STATUS_FIRING)) << "the oldest went";
  EXPECT_TRUE((*s)->ShouldPublish("k8s/Event/uid-1", v1::SIGNAL_STATUS_FIRING))
      << "a Warning event's fingerprint is forgotten after forget_after though it never resolves";
  // Reopen: the compacted file holds the same bounded state, starts_at included.
  s->reset();
  clock.Advance(Millis(20'000));
  auto r = DedupStore::Open(path, l, clock);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->size(), 0u) << "every firing entry is older than forget_firing_after now";
}

TEST(DedupStoreTest, CompactionKeepsStartsAtAndReadsTheOldFormat) {
  FakeClock clock;
  const std::string path = TempPath("format");
  {
    std::ofstream old(path);
    old << "firing legacy " << ToUnixMillis(clock.Now()) << "\n";  // written before starts_at was kept
  }
  {
    auto s = DedupStore::Open(path, Millis(60'000), clock);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_FALSE((*s)->ShouldPublish("legacy", v1::SIGNAL_STATUS_FIRING, 42));
    ASSERT_TRUE((*s)->Record("new", v1::SIGNAL_STATUS_FIRING, 1000).ok());
  }
  auto s = DedupStore::Open(path, Millis(60'000), clock);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)->ShouldPublish("new", v1::SIGNAL_STATUS_FIRING, 1000));
  EXPECT_TRUE((*s)->ShouldPublish("new", v1::SIGNAL_STATUS_FIRING, 2000));
}

TEST(DedupStoreTest, UnwritableDirectoryIsAClearError) {
  FakeClock clock;
  auto s = DedupStore::Open("/nonexistent-dir/x/collector.dedup", Millis(1000), clock);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("dedup.state_file"), std::string::npos);
}

}  // namespace
}  // namespace kubemend::collector
