#pragma once
// The gate's adapters around the pure core: the proposals stage transform,
// the state follower, the approval-timeout loop and the SafetyGateAdmin gRPC
// service. One mutex serialises every call into the core. Events that an
// operator or a timeout causes are published first and applied to the core
// only once the broker acknowledged them, so the state never runs ahead of
// the log it is rebuilt from.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gate.h"
#include "kubemend/common/stage.h"
#include "kubemend/v1/safety_gate_admin.grpc.pb.h"
#include "kubemend/common/log_follower.h"

namespace kubemend::gate {

class GateService {
 public:
  GateService(ServiceRuntime* rt, GateConfig cfg);

  // Creates the stage and registers health, gauges and status.
  absl::Status Init();
  // On its own thread: replays the log into the core (retrying, NOT_SERVING
  // with the reason until it completes), then runs the stage, the follower
  // and the timeout loop until Stop().
  void Start();
  void Stop();

  grpc::Service* admin() { return admin_.get(); }

  // --- called by the gRPC service (any thread) ---
  // `who` is the caller's authenticated subject; req.issued_by() is only a
  // client-supplied note.
  absl::StatusOr<v1::ResolveResponse> Resolve(const v1::ResolveRequest& req, bool approve,
                                              const std::string& who);
  absl::StatusOr<v1::ModeResponse> Control(v1::Control control);
  v1::ModeResponse Mode();
  v1::ListPendingResponse ListPending();
  // OK once the state is rebuilt; Unavailable with the reason before.
  absl::Status Ready() const;

 private:
  absl::StatusOr<std::vector<Emit>> OnProposal(const v1::Event& in);
  absl::Status ReplayOnce(Millis timeout);
  bool RebuildState();  // false when stopped first
  void RegisterGaugesAndStatus();
  // Publishes events and applies them once acknowledged. The caller holds
  // admin_mu_ (one admin change at a time) but NOT mu_: the wait for the
  // broker never blocks deciding proposals or following the log.
  absl::Status PublishAndApply(const std::vector<Emit>& events);
  void TimeoutLoop();
  void CountDecision(const v1::Event& d);
  void FillModeLocked(v1::ModeResponse* out);

  ServiceRuntime* rt_;
  std::mutex admin_mu_;  // serialises Resolve, Control and timeouts (held across publishing)
  std::mutex mu_;        // the gate's state (never held across publishing)
  mutable std::mutex state_mu_;
  bool state_ready_ = false;                     // guarded by state_mu_
  std::string state_detail_ = "state not rebuilt from the event log yet";  // guarded by state_mu_
  Gate gate_;
  std::unique_ptr<Stage> stage_;
  std::unique_ptr<LogFollower> follower_;       // created by the state thread
  std::atomic<LogFollower*> follower_ptr_{nullptr};  // for Stop() on another thread
  std::unique_ptr<grpc::Service> admin_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  Gauge* pending_gauge_ = nullptr;
  Gauge* in_flight_gauge_ = nullptr;
  Gauge* paused_gauge_ = nullptr;
};

}  // namespace kubemend::gate
