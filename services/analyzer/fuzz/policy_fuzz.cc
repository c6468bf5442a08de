// libFuzzer target for the policy parser (clang): every input must parse or be
// refused with a located error; an exception or the parser's backstop message
// (kParserGap: a YAML shape the field readers did not check) is a crash.
//   scripts/fuzz-policies.sh [seconds]   (builds with clang, runs, grows fuzz/corpus)
// The corpus is replayed by analyzer_unit_test (PolicyFuzzCorpusTest).
#include <cstddef>
#include <cstdint>
#include <string>

#include "policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const kubemend::analyzer::PolicyDefaults defaults;
  auto r = kubemend::analyzer::ParsePolicies(std::string(reinterpret_cast<const char*>(data), size),
                                             "fuzz", defaults);
  for (const auto& e : r.errors) {
    if (e.message.empty() || e.message.rfind(kubemend::analyzer::kParserGap, 0) == 0) {
      __builtin_trap();
    }
  }
  return 0;
}
