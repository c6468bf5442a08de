// libFuzzer target for the Alertmanager webhook parser (clang only):
//   build/services/collector/collector_webhook_fuzz services/collector/fuzz/corpus -max_total_time=300
// The corpus is replayed by collector_unit_test (FuzzCorpusTest) with any compiler.
#include <cstddef>
#include <cstdint>
#include <string>

#include "alertmanager.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const kubemend::ProducerIdentity who{"collector", "fuzz", "0"};
  static const kubemend::FakeClock clock;
  auto r = kubemend::collector::ParseAlertmanagerWebhook(std::string(reinterpret_cast<const char*>(data), size),
                                                         {"fuzz"}, who, clock);
  if (!r.ok() && r.status().message().empty()) {
    __builtin_trap();  // every refusal must say why
  }
  return 0;
}
