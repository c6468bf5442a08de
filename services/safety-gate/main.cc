// kubemend-safety-gate: proposals in, decisions out (approved, rejected or
// awaiting a human), each naming its rule and reason.
#include "kubemend/common/log.h"
#include "kubemend/common/stage.h"
#include "src/gate.h"

using namespace kubemend;

int main(int argc, char** argv) {
  CommonConfig common;
  gate::GateConfig cfg;
  ConfigSchema schema;
  AddCommonKeys(schema, &common, "safety-gate");
  schema.Add("protected.namespaces", &cfg.protected_namespaces,
             "namespaces kubemend never touches");
  std::string path;
  int code = 0;
  if (!ParseArgs(argc, argv, "safety-gate", schema, &path, &code)) {
    return code;
  }
  if (auto st = schema.Load(path, EnvFromProcess()); !st.ok()) {
    fprintf(stderr, "kubemend-safety-gate: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  ServiceRuntime rt("safety-gate", common);
  auto log = Logger("gate");
  Stage stage(&rt, {Topic::kProposals}, [&](const v1::Event& in, const InMessage&)
                  -> absl::StatusOr<std::vector<Emit>> {
    v1::Event d = gate::Decide(in, cfg, rt.identity(), rt.clock());
    log->info("msg=\"decision\" event_id={} incident_id={} proposal={} verdict={} rule={} reason={}",
              d.event_id(), d.incident_id(), in.event_id(), VerdictName(d.decision().verdict()),
              d.decision().rule(), Q(d.decision().reason()));
    return std::vector<Emit>{{Topic::kDecisions, std::move(d)}};
  });
  return RunStageService(rt, stage);
}
