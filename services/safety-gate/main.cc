// kubemend-safety-gate: proposals in, decisions out (approved, rejected or
// awaiting a human), each naming its rule and the values it compared. main
// only wires: config, runtime, the gate service (stage + state follower +
// timeouts + SafetyGateAdmin), the notifications, then waits for SIGTERM.
#include <cstdio>

#include "kubemend/common/log.h"
#include "kubemend/common/runtime.h"
#include "src/gate_config.h"
#include "src/approval_watch.h"
#include "src/gate_service.h"
#include "src/notify_service.h"

using namespace kubemend;

int main(int argc, char** argv) {
  CommonConfig common;
  gate::GateConfigKeys keys;
  gate::notify::NotifyConfigKeys notify_keys;
  ConfigSchema schema;
  AddCommonKeys(schema, &common, "safety-gate");
  keys.Register(schema);
  notify_keys.Register(schema);
  gate::KubeApprovalConfig kube_approvals;
  kube_approvals.Register(schema);
  std::string path;
  int code = 0;
  if (!ParseArgs(argc, argv, "safety-gate", schema, &path, &code)) {
    return code;
  }
  if (auto st = schema.Load(path, EnvFromProcess()); !st.ok()) {
    fprintf(stderr, "kubemend-safety-gate: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  auto cfg = keys.Build();
  if (!cfg.ok()) {
    fprintf(stderr, "kubemend-safety-gate: config %s: %s\n", path.empty() ? "(defaults)" : path.c_str(),
            std::string(cfg.status().message()).c_str());
    return 2;
  }
  auto notify_cfg = notify_keys.Build(EnvFromProcess());
  if (!notify_cfg.ok()) {
    fprintf(stderr, "kubemend-safety-gate: config %s: %s\n", path.empty() ? "(defaults)" : path.c_str(),
            std::string(notify_cfg.status().message()).c_str());
    return 2;
  }
  ServiceRuntime rt("safety-gate", common);
  auto log = Logger("main");
  gate::GateService svc(&rt, *cfg);
  if (auto st = svc.Init(); !st.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
    return 1;
  }
  // Notifications: their own consumers and threads, apart from deciding.
  gate::notify::NotifyService notify(&rt, *notify_cfg, NewCurlWebhookPoster(notify_cfg->timeout));
  if (auto st = notify.Init(); !st.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
    return 1;
  }
  rt.AddGrpcService(svc.admin());
  if (auto st = rt.Start(); !st.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
    return 1;
  }
  svc.Start();
  notify.Start();
  // Approvals given in Kubernetes (HealingAction spec.approval), when a
  // cluster is configured; an explicit kubeconfig that does not work is bad config.
  std::string kube_source;
  auto kube = gate::ApprovalClient(kube_approvals, &kube_source);
  std::unique_ptr<gate::ApprovalWatch> approvals;
  if (kube) {
    approvals = std::make_unique<gate::ApprovalWatch>(
        *kube, [&svc](const v1::ResolveRequest& req, bool approve, const std::string& who) {
          return svc.Resolve(req, approve, who);
        },
        kube_approvals.admission_policy);
    approvals->Start();
    log->info("msg=\"watching HealingActions for approvals from Kubernetes\" source={}", Q(kube_source));
  } else if (!kube_approvals.kubeconfig.empty()) {
    log->error("msg=\"cannot use gate.kube.kubeconfig\" error={}", Q(kube_source));
    svc.Stop();
    return 2;
  } else {
    log->info("msg=\"approvals from Kubernetes off\" reason={}", Q(kube_source));
  }
  rt.WaitForShutdown();
  if (approvals) {
    approvals->Stop();
  }
  notify.Stop();
  svc.Stop();
  if (auto p = rt.producer(); p.ok()) {
    (void)(*p)->Flush(std::chrono::seconds(5));
  }
  log->info("msg=\"stopped\"");
  return 0;
}
