// Replays the libFuzzer corpus (services/collector/fuzz/corpus) through the
// webhook parser with the normal compiler: every input either parses or is
// refused with a clear InvalidArgument reason; nothing crashes or hangs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "alertmanager.h"

namespace kubemend::collector {
namespace {

TEST(FuzzCorpusTest, EveryCorpusInputParsesOrIsRefusedClearly) {
  const ProducerIdentity who{"collector", "fuzz", "0"};
  FakeClock clock;
  size_t n = 0;
  size_t accepted = 0;
  for (const auto& entry : std::filesystem::directory_iterator(KUBEMEND_FUZZ_CORPUS)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto r = ParseAlertmanagerWebhook(ss.str(), {"fuzz"}, who, clock);
    if (r.ok()) {
      ++accepted;
      for (const auto& e : *r) {
        EXPECT_FALSE(e.signal().fingerprint().empty()) << entry.path();
        EXPECT_FALSE(e.signal().name().empty()) << entry.path();
      }
    } else {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << entry.path();
      EXPECT_FALSE(r.status().message().empty()) << entry.path();
    }
    ++n;
  }
  EXPECT_GE(n, 10u) << "corpus missing at " << KUBEMEND_FUZZ_CORPUS;
  EXPECT_GE(accepted, 1u);
}

}  // namespace
}  // namespace kubemend::collector
