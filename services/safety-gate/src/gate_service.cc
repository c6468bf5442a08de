#include "gate_service.h"

#include "kubemend/common/auth.h"
#include "kubemend/common/log.h"

namespace kubemend::gate {
namespace {

grpc::Status ToGrpc(const absl::Status& st) {
  switch (st.code()) {
    case absl::StatusCode::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, std::string(st.message())};
    case absl::StatusCode::kNotFound:
      return {grpc::StatusCode::NOT_FOUND, std::string(st.message())};
    case absl::StatusCode::kFailedPrecondition:
      return {grpc::StatusCode::FAILED_PRECONDITION, std::string(st.message())};
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnavailable:
      return {grpc::StatusCode::UNAVAILABLE, std::string(st.message())};
    default:
      return {grpc::StatusCode::INTERNAL, std::string(st.message())};
  }
}

class AdminImpl final : public v1::SafetyGateAdmin::Service {
 public:
  explicit AdminImpl(GateService* svc) : svc_(svc) {}
  grpc::Status ListPending(grpc::ServerContext*, const v1::ListPendingRequest*,
                           v1::ListPendingResponse* out) override {
    if (auto st = svc_->Ready(); !st.ok()) {
      return ToGrpc(st);
    }
    *out = svc_->ListPending();
    return grpc::Status::OK;
  }
  grpc::Status Approve(grpc::ServerContext* ctx, const v1::ResolveRequest* req,
                       v1::ResolveResponse* out) override {
    return Resolve(*req, true, CallerSubject(ctx), out);
  }
  grpc::Status Deny(grpc::ServerContext* ctx, const v1::ResolveRequest* req,
                    v1::ResolveResponse* out) override {
    return Resolve(*req, false, CallerSubject(ctx), out);
  }
  // The issuer recorded is the authenticated subject; what the client says
  // (issued_by in the request, kubemendctl --as) is kept as a note.
  grpc::Status Pause(grpc::ServerContext* ctx, const v1::PauseRequest* req,
                     v1::ModeResponse* out) override {
    v1::Control c = Issued(ctx, req->issued_by(), req->reason());
    c.mutable_pause();
    return Control(std::move(c), out);
  }
  grpc::Status Resume(grpc::ServerContext* ctx, const v1::ResumeRequest* req,
                      v1::ModeResponse* out) override {
    v1::Control c = Issued(ctx, req->issued_by(), req->reason());
    c.mutable_resume();
    return Control(std::move(c), out);
  }
  grpc::Status SetMode(grpc::ServerContext* ctx, const v1::SetModeRequest* req,
                       v1::ModeResponse* out) override {
    v1::Control c = Issued(ctx, req->issued_by(), req->reason());
    c.mutable_set_mode()->set_mode(req->mode());
    c.mutable_set_mode()->set_scope(req->scope());
    return Control(std::move(c), out);
  }
  grpc::Status GetMode(grpc::ServerContext*, const v1::GetModeRequest*,
                       v1::ModeResponse* out) override {
    if (auto st = svc_->Ready(); !st.ok()) {
      return ToGrpc(st);
    }
    *out = svc_->Mode();
    return grpc::Status::OK;
  }

 private:
  static v1::Control Issued(grpc::ServerContext* ctx, const std::string& note,
                            const std::string& reason) {
    v1::Control c;
    c.set_issued_by(CallerSubject(ctx));
    c.set_client_note(note);
    c.set_reason(reason);
    return c;
  }
  grpc::Status Resolve(const v1::ResolveRequest& req, bool approve, const std::string& who,
                       v1::ResolveResponse* out) {
    auto r = svc_->Resolve(req, approve, who);
    if (!r.ok()) {
      return ToGrpc(r.status());
    }
    *out = *r;
    return grpc::Status::OK;
  }
  grpc::Status Control(v1::Control c, v1::ModeResponse* out) {
    auto r = svc_->Control(std::move(c));
    if (!r.ok()) {
      return ToGrpc(r.status());
    }
    *out = *r;
    return grpc::Status::OK;
  }
  GateService* svc_;
};

}  // namespace

GateService::GateService(ServiceRuntime* rt, GateConfig cfg)
    : rt_(rt), gate_(std::move(cfg), rt->identity(), rt->clock()) {
  admin_ = std::make_unique<AdminImpl>(this);
  auto& m = rt_->metrics();
  pending_gauge_ = &m.GetGauge("kubemend_gate_pending_approvals", "Proposals waiting for a human");
  in_flight_gauge_ = &m.GetGauge("kubemend_gate_in_flight_actions",
                                 "Approved actions without an outcome yet");
  paused_gauge_ = &m.GetGauge("kubemend_gate_paused", "1 while the kill switch is on");
}

absl::Status GateService::Init() {
  stage_ = std::make_unique<Stage>(rt_, std::vector<Topic>{Topic::kProposals},
                                   [this](const v1::Event& in, const InMessage&) {
                                     return OnProposal(in);
                                   });
  if (auto st = stage_->Init(); !st.ok()) {
    return st;
  }
  // NOT_SERVING, with the reason, until the state is rebuilt (RebuildState).
  rt_->AddHealthCheck("state", [this]() -> std::string {
    std::lock_guard lock(state_mu_);
    return state_ready_ ? "" : state_detail_;
  });
  RegisterGaugesAndStatus();
  return absl::OkStatus();
}

absl::Status GateService::Ready() const {
  std::lock_guard lock(state_mu_);
  return state_ready_ ? absl::OkStatus() : absl::UnavailableError(state_detail_);
}

absl::Status GateService::ReplayOnce(Millis timeout) {
  const KafkaConfig& kc = rt_->config().kafka;
  if (!follower_) {
    std::vector<std::string> topics = {TopicName(kc, Topic::kDecisions), TopicName(kc, Topic::kOutcomes),
                                       TopicName(kc, Topic::kControl), TopicName(kc, Topic::kSignals)};
    auto f = LogFollower::Create(kc, topics, "kubemend-safety-gate-state-" + rt_->config().instance,
                                 std::chrono::seconds(30));
    if (!f.ok()) {
      return f.status();
    }
    follower_ = std::move(*f);
    // Of the signals the gate keeps only cost budgets (Gate::Observes); the
    // others are skipped undecoded when the collector marked their source.
    follower_->OnlyWithHeader(kSignalSourceHeader, {v1::SignalSource_Name(v1::SIGNAL_SOURCE_COST)});
    follower_ptr_ = follower_.get();
  }
  // Control is replayed from the beginning (a pause or mode change stays in
  // force however old); the rest from the look-back, which covers every
  // window and timeout the rules use.
  std::map<std::string, TimePoint> since;
  Millis lookback = gate_.config().replay_lookback;
  if (lookback.count() > 0) {
    TimePoint from = rt_->clock().Now() - lookback;
    since[TopicName(kc, Topic::kDecisions)] = from;
    since[TopicName(kc, Topic::kOutcomes)] = from;
    since[TopicName(kc, Topic::kSignals)] = from;
  }
  auto started = std::chrono::steady_clock::now();
  auto events = follower_->Replay(since, timeout, &Gate::Observes);
  if (!events.ok()) {
    return events.status();
  }
  std::lock_guard lock(mu_);
  for (const auto& e : *events) {
    gate_.Observe(e);
  }
  Logger("gate")->info(
      "msg=\"state rebuilt from the event log\" events={} skipped={} paused={} mode={} pending={} "
      "in_flight={} breaker={} took_ms={}",
      events->size(), follower_->skipped(), gate_.paused(), ModeName(gate_.global_mode()),
      gate_.ListPending().size(), gate_.in_flight(), BreakerStateName(gate_.breaker_state()),
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
          .count());
  return absl::OkStatus();
}

// Fail closed, and never give up: until a replay completes the gate decides
// nothing and answers no admin call; it stays up NOT_SERVING with the
// reason, and retries with a longer deadline each time.
bool GateService::RebuildState() {
  auto log = Logger("gate");
  for (int attempt = 1; !stop_; ++attempt) {
    Millis timeout = ReplayAttemptTimeout(gate_.config().replay_timeout, attempt);
    absl::Status st = ReplayOnce(timeout);
    std::lock_guard lock(state_mu_);
    if (st.ok()) {
      state_ready_ = true;
      return true;
    }
    state_detail_ = "state not rebuilt from the event log yet (attempt " + std::to_string(attempt) +
                    ", deadline " + std::to_string(timeout.count()) + " ms): " +
                    std::string(st.message()) + "; deciding nothing until it is, still reading";
    log->error("msg=\"state not rebuilt; deciding nothing, retrying\" attempt={} timeout_ms={} error={}",
               attempt, timeout.count(), Q(std::string(st.message())));
    for (int i = 0; i < 10 && !stop_; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return false;
}

void GateService::RegisterGaugesAndStatus() {
  Gauge& breaker_open = rt_->metrics().GetGauge(
      "kubemend_gate_breaker_open", "1 while the circuit breaker stops automatic approvals");
  Gauge& paused = rt_->metrics().GetGauge("kubemend_gate_paused", "1 while the kill switch is on");
  Gauge& pending = rt_->metrics().GetGauge("kubemend_gate_pending_approvals",
                                           "Proposals waiting for a human");
  Gauge& in_flight = rt_->metrics().GetGauge("kubemend_gate_in_flight",
                                             "Approved actions without an outcome yet");
  rt_->AddPeriodic([this, &breaker_open, &paused, &pending, &in_flight] {
    std::lock_guard lock(mu_);
    for (const auto& [map, n] : gate_.StateSizes()) {
      rt_->metrics()
          .GetGauge("kubemend_gate_state_entries",
                    "Entries of each of the gate's state maps (bounds: gate.state.*, the windows)",
                    {{"map", map}})
          .Set(static_cast<double>(n));
    }
    breaker_open.Set(gate_.breaker_state() == BreakerState::kOpen ? 1 : 0);
    paused.Set(gate_.paused() ? 1 : 0);
    pending.Set(static_cast<double>(gate_.ListPending().size()));
    in_flight.Set(static_cast<double>(gate_.in_flight()));
  });
  rt_->SetStatusHook([this](v1::GetStatusResponse* out) {
    std::lock_guard lock(mu_);
    out->set_mode(gate_.global_mode());
    out->set_paused(gate_.paused());
    (*out->mutable_details())["breaker"] = BreakerStateName(gate_.breaker_state());
    (*out->mutable_details())["pending_approvals"] = std::to_string(gate_.ListPending().size());
    (*out->mutable_details())["in_flight"] = std::to_string(gate_.in_flight());
  });
}

void GateService::Start() {
  // The stage, the follower and the timeouts start once the state is read.
  threads_.emplace_back([this] {
    if (!RebuildState()) {
      return;
    }
    std::thread stage([this] { stage_->Run(); });
    std::thread timeouts([this] { TimeoutLoop(); });
    follower_->Follow([this](const v1::Event& e) {
      std::lock_guard lock(mu_);
      gate_.Observe(e);
    });
    stage.join();
    timeouts.join();
  });
}

void GateService::Stop() {
  stop_ = true;
  if (stage_) {
    stage_->Stop();
  }
  // The follower appears once a replay attempt created it: keep stopping it
  // until the state thread is done.
  std::atomic<bool> done{false};
  std::thread stopper([this, &done] {
    while (!done) {
      if (LogFollower* f = follower_ptr_.load()) {
        f->Stop();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  for (auto& t : threads_) {
    t.join();
  }
  done = true;
  stopper.join();
  threads_.clear();
}

void GateService::CountDecision(const v1::Event& d) {
  rt_->metrics()
      .GetCounter("kubemend_gate_decisions_total", "Decisions by verdict and rule",
                  {{"verdict", VerdictName(d.decision().verdict())}, {"rule", d.decision().rule()}})
      .Inc();
  Logger("gate")->info(
      "msg=\"decision\" event_id={} incident_id={} proposal={} target={} action={} verdict={} "
      "rule={} approver={} dry_run={} reason={}",
      d.event_id(), d.incident_id(), d.decision().proposal_id(), Q(TargetString(d.target())),
      ActionTypeName(d.decision().proposal().action().type()), VerdictName(d.decision().verdict()),
      d.decision().rule(), Q(d.decision().approver()), d.decision().dry_run(),
      Q(d.decision().reason()));
}

absl::StatusOr<std::vector<Emit>> GateService::OnProposal(const v1::Event& in) {
  v1::Event d;
  {
    std::lock_guard lock(mu_);
    d = gate_.Decide(in);
    pending_gauge_->Set(static_cast<double>(gate_.ListPending().size()));
    in_flight_gauge_->Set(static_cast<double>(gate_.in_flight()));
  }
  CountDecision(d);
  return std::vector<Emit>{{Topic::kDecisions, std::move(d)}};
}

absl::Status GateService::PublishAndApply(const std::vector<Emit>& events) {
  if (events.empty()) {
    return absl::OkStatus();
  }
  if (auto st = stage_->Publish(events); !st.ok()) {
    return st;
  }
  std::lock_guard lock(mu_);
  for (const auto& e : events) {
    gate_.Observe(e.event);
    if (e.event.has_decision()) {
      CountDecision(e.event);
    }
  }
  pending_gauge_->Set(static_cast<double>(gate_.ListPending().size()));
  paused_gauge_->Set(gate_.paused() ? 1 : 0);
  return absl::OkStatus();
}

void GateService::TimeoutLoop() {
  auto log = Logger("gate");
  while (!stop_) {
    for (int i = 0; i < 10 && !stop_; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::lock_guard admin(admin_mu_);
    std::vector<Emit> out;
    {
      std::lock_guard lock(mu_);
      for (auto& e : gate_.DueTimeouts()) {
        out.push_back({Topic::kDecisions, std::move(e)});
      }
      if (auto b = gate_.DueBreakerAnnouncement()) {
        out.push_back({Topic::kControl, std::move(*b)});
      }
    }
    if (auto st = PublishAndApply(out); !st.ok()) {
      log->warn("msg=\"cannot publish approval timeouts or the breaker's opening, will retry\" error={}",
                Q(std::string(st.message())));
    }
  }
}

absl::StatusOr<v1::ResolveResponse> GateService::Resolve(const v1::ResolveRequest& req,
                                                         bool approve, const std::string& who) {
  if (auto st = Ready(); !st.ok()) {
    return st;
  }
  std::lock_guard admin(admin_mu_);
  absl::StatusOr<std::vector<v1::Event>> events;
  {
    std::lock_guard lock(mu_);
    events = gate_.Resolve(req.proposal_id(), approve, who, req.reason(), req.issued_by());
  }
  if (!events.ok()) {
    return events.status();
  }
  std::vector<Emit> out;
  v1::ResolveResponse resp;
  for (const auto& e : *events) {
    if (e.has_control()) {
      out.push_back({Topic::kControl, e});
      resp.set_control_id(e.event_id());
    } else {
      out.push_back({Topic::kDecisions, e});
      resp.set_decision_id(e.event_id());
      *resp.mutable_decision() = e.decision();
    }
  }
  if (auto st = PublishAndApply(out); !st.ok()) {
    return st;
  }
  Logger("gate")->info(
      "msg=\"human answer\" proposal={} approve={} issued_by={} client_note={} reason={}",
      req.proposal_id(), approve, Q(who), Q(req.issued_by()), Q(req.reason()));
  return resp;
}

absl::StatusOr<v1::ModeResponse> GateService::Control(v1::Control control) {
  if (auto st = Ready(); !st.ok()) {
    return st;
  }
  std::lock_guard admin(admin_mu_);
  absl::StatusOr<v1::Event> e;
  {
    std::lock_guard lock(mu_);
    e = gate_.MakeControl(std::move(control));
  }
  if (!e.ok()) {
    return e.status();
  }
  if (auto st = PublishAndApply({{Topic::kControl, *e}}); !st.ok()) {
    return st;
  }
  std::lock_guard lock(mu_);
  Logger("gate")->warn("msg=\"control\" event_id={} issued_by={} client_note={} reason={} command={}",
                       e->event_id(), Q(e->control().issued_by()), Q(e->control().client_note()),
                       Q(e->control().reason()),
                       Q(e->control().ShortDebugString()));
  v1::ModeResponse out;
  FillModeLocked(&out);
  out.set_control_id(e->event_id());
  return out;
}

void GateService::FillModeLocked(v1::ModeResponse* out) {
  out->set_mode(gate_.global_mode());
  out->set_paused(gate_.paused());
  for (const auto& [policy, mode] : gate_.policy_modes()) {
    (*out->mutable_policy_modes())[policy] = mode;
  }
  out->set_breaker(BreakerStateName(gate_.breaker_state()));
  out->set_in_flight(static_cast<uint32_t>(gate_.in_flight()));
  out->set_pending(static_cast<uint32_t>(gate_.ListPending().size()));
}

v1::ModeResponse GateService::Mode() {
  std::lock_guard lock(mu_);
  v1::ModeResponse out;
  FillModeLocked(&out);
  return out;
}

v1::ListPendingResponse GateService::ListPending() {
  std::lock_guard lock(mu_);
  v1::ListPendingResponse out;
  for (const auto& p : gate_.ListPending()) {
    auto* o = out.add_pending();
    const auto& d = p.decision.decision();
    o->set_proposal_id(d.proposal_id());
    o->set_decision_id(p.decision.event_id());
    o->set_incident_id(p.decision.incident_id());
    *o->mutable_target() = p.decision.target();
    *o->mutable_proposal() = d.proposal();
    o->set_rule(d.rule());
    o->set_reason(d.reason());
    for (const auto& [k, v] : d.compared()) {
      (*o->mutable_compared())[k] = v;
    }
    SetTimestamp(o->mutable_queued_at(), p.queued_at);
    SetTimestamp(o->mutable_expires_at(), p.expires_at);
    o->set_escalated(p.escalated);
  }
  return out;
}

}  // namespace kubemend::gate
