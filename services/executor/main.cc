// kubemend-executor: approved decisions in, Kubernetes changes and action
// outcomes out. Wiring only; see src/service.h.
#include <cstdio>

#include "src/service.h"

using namespace kubemend;

int main(int argc, char** argv) {
  CommonConfig common;
  executor::ExecutorConfig cfg;
  ConfigSchema schema;
  AddCommonKeys(schema, &common, "executor");
  executor::AddExecutorKeys(schema, &cfg);
  std::string path;
  int code = 0;
  if (!ParseArgs(argc, argv, "executor", schema, &path, &code)) {
    return code;
  }
  if (auto st = schema.Load(path, EnvFromProcess()); !st.ok()) {
    fprintf(stderr, "kubemend-executor: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  ServiceRuntime rt("executor", common);
  return executor::RunExecutorService(rt, cfg);
}
