#pragma once
// Verification: after an action, poll the object until it is healthy and
// has stayed healthy for `stable_for`, or the deadline passes. "Healthy" per
// kind:
//  - workload: the rollout is complete (observedGeneration caught up,
//    updated/ready replicas == spec.replicas) and no pod of it has restarted
//    (an OOM kill or a crash) since the action: pods seen before the action
//    keep their restart count, new pods have none;
//  - node: cordoned / schedulable as asked; drained: only DaemonSet, mirror
//    and finished pods are left on it;
//  - HPA: its desired replica count is below the new maximum (no longer capped);
//  - PVC: status.capacity.storage reached the requested size.
// Time only through the injected Clock and Sleeper: tests never sleep.
#include "actuator.h"

namespace kubemend::executor {

struct VerifierOptions {
  Millis poll_interval{1000};
  Millis stable_for{10000};
};

class Verifier {
 public:
  Verifier(kube::KubeClient& client, Sleeper sleep, const Clock& clock, VerifierOptions options);
  v1::Verification Verify(const VerifyPlan& plan, Millis timeout);
  // One look: "" when healthy, else what is not.
  std::string Check(const VerifyPlan& plan);

 private:
  std::string CheckWorkload(const VerifyPlan& plan);
  kube::KubeClient& client_;
  Sleeper sleep_;
  const Clock& clock_;
  VerifierOptions options_;
};

}  // namespace kubemend::executor
