// kubemend-executor: approved decisions in, action outcomes out.
#include "kubemend/common/log.h"
#include "kubemend/common/stage.h"
#include "src/executor.h"

using namespace kubemend;

int main(int argc, char** argv) {
  CommonConfig common;
  ConfigSchema schema;
  AddCommonKeys(schema, &common, "executor");
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
  auto log = Logger("executor");
  Stage stage(&rt, {Topic::kDecisions}, [&](const v1::Event& in, const InMessage&)
                  -> absl::StatusOr<std::vector<Emit>> {
    auto o = executor::OutcomeFor(in, rt.identity(), rt.clock());
    if (!o) {
      return std::vector<Emit>{};
    }
    log->info("msg=\"outcome\" event_id={} incident_id={} decision={} action={} status={}",
              o->event_id(), o->incident_id(), in.event_id(),
              ActionTypeName(o->outcome().action().type()), OutcomeStatusName(o->outcome().status()));
    return std::vector<Emit>{{Topic::kOutcomes, std::move(*o)}};
  });
  return RunStageService(rt, stage);
}
