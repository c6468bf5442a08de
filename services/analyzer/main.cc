// kubemend-analyzer: signals in, remediation proposals out.
#include "kubemend/common/log.h"
#include "kubemend/common/stage.h"
#include "src/routes.h"

using namespace kubemend;

int main(int argc, char** argv) {
  CommonConfig common;
  ConfigSchema schema;
  AddCommonKeys(schema, &common, "analyzer");
  std::string path;
  int code = 0;
  if (!ParseArgs(argc, argv, "analyzer", schema, &path, &code)) {
    return code;
  }
  if (auto st = schema.Load(path, EnvFromProcess()); !st.ok()) {
    fprintf(stderr, "kubemend-analyzer: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  ServiceRuntime rt("analyzer", common);
  auto log = Logger("analyzer");
  Stage stage(&rt, {Topic::kSignals}, [&](const v1::Event& in, const InMessage&)
                  -> absl::StatusOr<std::vector<Emit>> {
    auto result = analyzer::ProposeFromRoutes(in, rt.identity(), rt.clock());
    if (!result.proposal) {
      log->info("msg=\"no proposal\" event_id={} incident_id={} reason={}", in.event_id(),
                in.incident_id(), Q(result.reason));
      return std::vector<Emit>{};
    }
    log->info("msg=\"proposal\" event_id={} incident_id={} cause={} reason={}",
              result.proposal->event_id(), in.incident_id(), in.event_id(), Q(result.reason));
    return std::vector<Emit>{{Topic::kProposals, std::move(*result.proposal)}};
  });
  return RunStageService(rt, stage);
}
