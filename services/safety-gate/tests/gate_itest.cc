// Integration tests: the real kubemend-safety-gate binary against a real
// Kafka-protocol broker (KUBEMEND_TEST_KAFKA_BROKERS, set by ./kubemend test).
// Each test uses its own topic prefix and its own gate process.
#include "gate_itest_support.h"

namespace kubemend {
namespace {

class SafetyGateIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* b = std::getenv("KUBEMEND_TEST_KAFKA_BROKERS");
    if (!b) {
      FAIL() << "KUBEMEND_TEST_KAFKA_BROKERS is not set; run the tests through ./kubemend test";
    }
    cfg_.brokers = b;
    cfg_.topic_prefix = "gt" + NewUuid().substr(0, 8) + ".";
    auto p = Producer::Create(cfg_, "itest", nullptr);
    ASSERT_TRUE(p.ok()) << p.status();
    producer_ = std::move(*p);
  }

  v1::Event Proposal(const std::string& ns, const std::string& kind, const std::string& name,
                     v1::ActionType action) {
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_PROPOSAL, {"analyzer", "itest", "0"}, SystemClock::Instance());
    e.set_incident_id(NewUuid());
    e.mutable_target()->set_cluster("test");
    e.mutable_target()->set_namespace_(ns);
    e.mutable_target()->set_kind(kind);
    e.mutable_target()->set_name(name);
    e.mutable_proposal()->mutable_action()->set_type(action);
    e.mutable_proposal()->mutable_policy()->set_name("itest");
    return e;
  }

  void Publish(const v1::Event& e, Topic topic = Topic::kProposals) {
    auto tracker = std::make_shared<DeliveryTracker>();
    ASSERT_TRUE(producer_->Produce(TopicName(cfg_, topic), TargetKey(e.target()),
                                   e.SerializeAsString(), tracker)
                    .ok());
    ASSERT_TRUE(tracker->Wait(seconds(10)).ok());
  }

  static std::function<bool(const v1::Event&)> DecisionOn(const std::string& proposal_id,
                                                          v1::Verdict verdict) {
    return [=](const v1::Event& e) {
      return e.has_decision() && e.decision().proposal_id() == proposal_id &&
             e.decision().verdict() == verdict;
    };
  }

  KafkaConfig cfg_;
  std::unique_ptr<Producer> producer_;
};

TEST_F(SafetyGateIntegrationTest, RateLimitStillHoldsAfterARestartInsideTheWindow) {
  Watcher decisions(cfg_, {Topic::kDecisions});
  GateProcess gate(cfg_, {{"KUBEMEND_RATE_LIMITS_PER_TARGET_MAX", "2"},
                          {"KUBEMEND_RATE_LIMITS_PER_TARGET_WINDOW", "10m"}});
  ASSERT_NO_FATAL_FAILURE(gate.Start());
  for (int i = 0; i < 2; ++i) {
    v1::Event p = Proposal("shop", "Deployment", "api", v1::ACTION_TYPE_SCALE_WORKLOAD);
    p.mutable_proposal()->mutable_action()->mutable_scale_workload()->set_delta(1);
    Publish(p);
    ASSERT_TRUE(decisions.WaitFor(DecisionOn(p.event_id(), v1::VERDICT_APPROVED)))
        << "proposal " << i << " was not approved";
  }
  gate.Stop();
  ASSERT_NO_FATAL_FAILURE(gate.Start());  // a new process: all it knows comes from the log
  v1::Event third = Proposal("shop", "Deployment", "api", v1::ACTION_TYPE_SCALE_WORKLOAD);
  third.mutable_proposal()->mutable_action()->mutable_scale_workload()->set_delta(1);
  Publish(third);
  auto d = decisions.WaitFor([&](const v1::Event& e) {
    return e.has_decision() && e.decision().proposal_id() == third.event_id();
  });
  ASSERT_TRUE(d) << "no decision on the third proposal";
  EXPECT_EQ(d->decision().verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d->decision().rule(), "rate-limit-target");
  EXPECT_EQ(d->decision().compared().at("count"), "2");
  EXPECT_EQ(d->decision().reason(), "2 actions on shop/Deployment/api in the last 10m, limit 2");
  // Another target is unaffected.
  v1::Event other = Proposal("shop", "Deployment", "web", v1::ACTION_TYPE_SCALE_WORKLOAD);
  other.mutable_proposal()->mutable_action()->mutable_scale_workload()->set_delta(1);
  Publish(other);
  EXPECT_TRUE(decisions.WaitFor(DecisionOn(other.event_id(), v1::VERDICT_APPROVED)));
}

TEST_F(SafetyGateIntegrationTest, HumanApprovalThroughGrpcPublishesControlAndApprovedDecision) {
  Watcher events(cfg_, {Topic::kDecisions, Topic::kControl});
  GateProcess gate(cfg_, {});
  ASSERT_NO_FATAL_FAILURE(gate.Start());
  v1::Event p = Proposal("", "Node", "node-1", v1::ACTION_TYPE_CORDON_NODE);
  Publish(p);
  auto waiting = events.WaitFor(DecisionOn(p.event_id(), v1::VERDICT_AWAITING_APPROVAL));
  ASSERT_TRUE(waiting) << "the cordon did not wait for a human";
  EXPECT_EQ(waiting->decision().rule(), "approval-level");

  v1::ListPendingResponse pending;
  {
    grpc::ClientContext ctx;
    Bearer(ctx, "alice");
    ASSERT_TRUE(gate.admin().ListPending(&ctx, {}, &pending).ok());
  }
  ASSERT_EQ(pending.pending_size(), 1);
  EXPECT_EQ(pending.pending(0).proposal_id(), p.event_id());
  EXPECT_EQ(pending.pending(0).target().name(), "node-1");

  v1::ResolveRequest req;
  req.set_proposal_id(p.event_id());
  req.set_reason("node is flapping, cordon it");
  v1::ResolveResponse resp;
  {
    grpc::ClientContext ctx;  // no token: refused before the handler runs
    EXPECT_EQ(gate.admin().Approve(&ctx, req, &resp).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    Bearer(ctx, "vic");
    EXPECT_EQ(gate.admin().Approve(&ctx, req, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED) << "a viewer cannot approve";
  }
  // alice's token, claiming to be mallory: alice is the approver recorded,
  // mallory only a client-supplied note.
  req.set_issued_by("mallory");
  {
    grpc::ClientContext ctx;
    Bearer(ctx, "alice");
    grpc::Status st = gate.admin().Approve(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_EQ(resp.decision().verdict(), v1::VERDICT_APPROVED);
  auto approved = events.WaitFor(DecisionOn(p.event_id(), v1::VERDICT_APPROVED));
  ASSERT_TRUE(approved) << "no APPROVED decision on the decisions topic";
  EXPECT_EQ(approved->decision().approver(), "alice");
  EXPECT_EQ(approved->decision().rule(), "human-approval");
  EXPECT_EQ(approved->decision().action_id(), waiting->decision().action_id());
  EXPECT_EQ(approved->decision().proposal().action().type(), v1::ACTION_TYPE_CORDON_NODE);
  auto control = events.WaitFor([&](const v1::Event& e) {
    return e.has_control() && e.control().has_approval() &&
           e.control().approval().proposal_id() == p.event_id();
  });
  ASSERT_TRUE(control) << "no audited Control(Approval) event";
  EXPECT_EQ(control->control().issued_by(), "alice");
  EXPECT_EQ(control->control().client_note(), "mallory");
  EXPECT_EQ(approved->decision().reason().find("mallory"), std::string::npos)
      << "the claim is not the approver: " << approved->decision().reason();
  EXPECT_TRUE(control->control().approval().approve());
  EXPECT_EQ(control->control().reason(), "node is flapping, cordon it");
  {
    grpc::ClientContext ctx;
    Bearer(ctx, "alice");
    EXPECT_EQ(gate.admin().Deny(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND)
        << "an answered proposal no longer waits";
  }
}

// Issue 12: an admin change waits for the broker's acknowledgement holding
// the admin mutex, never the state mutex. Here the gate's broker (one of the
// test's own) is frozen with SIGSTOP while a Pause is published: the Pause
// waits for its ack until the delivery timeout and fails, and meanwhile the
// reads that take the state lock (GetMode, ListPending) answer at once and
// show the Pause not applied. Before the fix GetMode waited the whole timeout.
TEST_F(SafetyGateIntegrationTest, FrozenBrokerBlocksAPauseButNeverTheReads) {
  const char* root = std::getenv("KUBEMEND_ROOT");
  ASSERT_NE(root, nullptr) << "KUBEMEND_ROOT not set; run through ./kubemend test";
  const std::string dir = "/tmp/kubemend-gate-frozen-" + NewUuid().substr(0, 8);
  const std::string kafka_sh = std::string(root) + "/scripts/kafka.sh";
  ASSERT_EQ(std::system((kafka_sh + " start " + dir + " > " + dir + ".addr 2> " + dir + ".err").c_str()), 0)
      << "scripts/kafka.sh start failed; see " << dir << ".err";
  struct Broker {
    std::string stop;
    ~Broker() { (void)std::system(stop.c_str()); }
  } broker{kafka_sh + " stop " + dir + " >/dev/null 2>&1; rm -rf " + dir + " " + dir + ".addr " + dir + ".err"};
  std::ifstream addr(dir + ".addr");
  KafkaConfig cfg = cfg_;
  std::getline(addr, cfg.brokers);
  std::ifstream pid_file(dir + "/kafka/pid");
  pid_t broker_pid = 0;
  pid_file >> broker_pid;
  ASSERT_GT(broker_pid, 0);
  GateProcess gate(cfg, {{"KUBEMEND_KAFKA_DELIVERY_TIMEOUT", "6s"}});
  ASSERT_NO_FATAL_FAILURE(gate.Start());

  ASSERT_EQ(kill(broker_pid, SIGSTOP), 0);
  struct Thaw {
    pid_t pid;
    ~Thaw() { kill(pid, SIGCONT); }
  } thaw{broker_pid};
  std::atomic<bool> pause_done{false};
  grpc::Status pause_status;
  v1::PauseRequest pause;
  pause.set_issued_by("bob");
  pause.set_reason("while the broker is frozen");
  std::thread pauser([&] {
    v1::ModeResponse mode;
    grpc::ClientContext ctx;
    Bearer(ctx, "bob");
    pause_status = gate.admin().Pause(&ctx, pause, &mode);
    pause_done = true;
  });
  std::this_thread::sleep_for(seconds(1));  // the Pause now waits for its ack
  const auto t0 = std::chrono::steady_clock::now();
  v1::ModeResponse mode;
  grpc::Status st;
  {
    grpc::ClientContext ctx;
    Bearer(ctx, "bob");
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(3));
    st = gate.admin().GetMode(&ctx, {}, &mode);
  }
  v1::ListPendingResponse pending;
  grpc::Status lst;
  {
    grpc::ClientContext ctx;
    Bearer(ctx, "bob");
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(3));
    lst = gate.admin().ListPending(&ctx, {}, &pending);
  }
  const auto read_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  const bool waited = !pause_done;
  EXPECT_TRUE(st.ok()) << "GetMode waited for the frozen broker: " << st.error_message();
  EXPECT_TRUE(lst.ok()) << "ListPending waited for the frozen broker: " << lst.error_message();
  EXPECT_LT(read_ms.count(), 2000);
  EXPECT_FALSE(mode.paused()) << "the Pause was applied before the broker acknowledged it";
  EXPECT_TRUE(waited) << "the Pause did not wait for the broker (the test proves nothing)";
  pauser.join();
  std::printf("GetMode and ListPending answered in %lld ms while a Pause waited for a frozen broker\n",
              static_cast<long long>(read_ms.count()));
  EXPECT_FALSE(pause_status.ok()) << "a frozen broker cannot have acknowledged the Pause";

  kill(broker_pid, SIGCONT);
  {
    grpc::ClientContext ctx;
    Bearer(ctx, "bob");
    ASSERT_TRUE(gate.admin().GetMode(&ctx, {}, &mode).ok());
  }
  EXPECT_FALSE(mode.paused()) << "a Pause the broker never acknowledged was applied";
  // The broker is back: the same Pause goes through (retried until the broker answers again).
  bool paused = false;
  for (int i = 0; i < 20 && !paused; ++i) {
    grpc::ClientContext ctx;
    Bearer(ctx, "bob");
    paused = gate.admin().Pause(&ctx, pause, &mode).ok() && mode.paused();
    if (!paused) {
      std::this_thread::sleep_for(seconds(1));
    }
  }
  EXPECT_TRUE(paused) << "no Pause went through once the broker was thawed";
}

TEST_F(SafetyGateIntegrationTest, PauseThroughGrpcIsPublishedAndWithholdsApprovalsAcrossRestart) {
  Watcher events(cfg_, {Topic::kDecisions, Topic::kControl});
  GateProcess gate(cfg_, {});
  ASSERT_NO_FATAL_FAILURE(gate.Start());
  v1::PauseRequest pause;
  pause.set_issued_by("mallory");
  pause.set_reason("bad deploy in progress");
  v1::ModeResponse mode;
  {
    grpc::ClientContext ctx;
    Bearer(ctx, "bob");
    grpc::Status st = gate.admin().Pause(&ctx, pause, &mode);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_TRUE(mode.paused());
  auto control = events.WaitFor([&](const v1::Event& e) {
    return e.has_control() && e.control().has_pause() && e.event_id() == mode.control_id();
  });
  ASSERT_TRUE(control) << "the pause was not published as a Control event";
  EXPECT_EQ(control->control().issued_by(), "bob") << "the token's subject, not the claim";
  EXPECT_EQ(control->control().client_note(), "mallory");

  v1::Event p = Proposal("shop", "Pod", "api-1", v1::ACTION_TYPE_RESTART_POD);
  Publish(p);
  auto d = events.WaitFor([&](const v1::Event& e) {
    return e.has_decision() && e.decision().proposal_id() == p.event_id();
  });
  ASSERT_TRUE(d);
  EXPECT_EQ(d->decision().verdict(), v1::VERDICT_REJECTED);
  EXPECT_EQ(d->decision().rule(), "paused");

  // The kill switch survives a restart (rebuilt from the control topic).
  gate.Stop();
  ASSERT_NO_FATAL_FAILURE(gate.Start());
  {
    grpc::ClientContext ctx;
    Bearer(ctx, "bob");
    ASSERT_TRUE(gate.admin().GetMode(&ctx, {}, &mode).ok());
  }
  EXPECT_TRUE(mode.paused());
  v1::Event q = Proposal("shop", "Pod", "api-2", v1::ACTION_TYPE_RESTART_POD);
  Publish(q);
  auto d2 = events.WaitFor([&](const v1::Event& e) {
    return e.has_decision() && e.decision().proposal_id() == q.event_id();
  });
  ASSERT_TRUE(d2);
  EXPECT_EQ(d2->decision().rule(), "paused");

  v1::ResumeRequest resume;
  
  {
    grpc::ClientContext ctx;
    Bearer(ctx, "bob");
    ASSERT_TRUE(gate.admin().Resume(&ctx, resume, &mode).ok());
  }
  EXPECT_FALSE(mode.paused());
  v1::Event r = Proposal("shop", "Pod", "api-3", v1::ACTION_TYPE_RESTART_POD);
  Publish(r);
  EXPECT_TRUE(events.WaitFor(DecisionOn(r.event_id(), v1::VERDICT_APPROVED)));
}

TEST_F(SafetyGateIntegrationTest, UnansweredProposalExpiresWithADecision) {
  Watcher events(cfg_, {Topic::kDecisions});
  GateProcess gate(cfg_, {{"KUBEMEND_APPROVAL_TIMEOUT", "2s"}});
  ASSERT_NO_FATAL_FAILURE(gate.Start());
  v1::Event p = Proposal("", "Node", "node-2", v1::ACTION_TYPE_DRAIN_NODE);
  Publish(p);
  ASSERT_TRUE(events.WaitFor(DecisionOn(p.event_id(), v1::VERDICT_AWAITING_APPROVAL)));
  auto expired = events.WaitFor(DecisionOn(p.event_id(), v1::VERDICT_EXPIRED));
  ASSERT_TRUE(expired) << "the pending proposal never expired";
  EXPECT_EQ(expired->decision().rule(), "approval-timeout");
  EXPECT_EQ(expired->event_id(), DerivedUuid(p.event_id(), "expiry"));
  v1::ListPendingResponse pending;
  grpc::ClientContext ctx;
  Bearer(ctx, "alice");
  ASSERT_TRUE(gate.admin().ListPending(&ctx, {}, &pending).ok());
  EXPECT_EQ(pending.pending_size(), 0);
}

}  // namespace
}  // namespace kubemend

namespace kubemend {
namespace {

// A replay that misses its deadline does not fail the start: the gate stays
// up, NOT_SERVING with the reason, refuses admin calls, keeps reading with a
// longer deadline each attempt, and serves once the state is read (here: a
// pause from the control topic, in force afterwards).
TEST_F(SafetyGateIntegrationTest, ReplayPastItsDeadlineKeepsTheGateUpNotServingUntilRead) {
  for (int i = 0; i < 200; ++i) {
    v1::Event c = NewRootEvent(v1::EVENT_TYPE_CONTROL, {"itest", "itest", "0"}, SystemClock::Instance());
    c.mutable_control()->set_issued_by("bob");
    if (i == 199) {
      c.mutable_control()->mutable_pause();
    } else {
      c.mutable_control()->mutable_set_mode()->set_mode(v1::MODE_MANUAL);
    }
    ASSERT_NO_FATAL_FAILURE(Publish(c, Topic::kControl));
  }
  GateProcess gate(cfg_, {{"KUBEMEND_GATE_REPLAY_TIMEOUT", "1ms"}});
  ASSERT_NO_FATAL_FAILURE(gate.Start(/*wait_serving=*/false));
  std::string reason;
  auto until = std::chrono::steady_clock::now() + seconds(10);
  while (reason.empty() && std::chrono::steady_clock::now() < until) {
    v1::GetStatusResponse st = gate.Status();
    if (st.not_serving_reason().find("state not rebuilt") != std::string::npos) {
      reason = st.not_serving_reason();
      EXPECT_FALSE(st.serving());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(reason.empty()) << "never NOT_SERVING for the replay";
  {
    grpc::ClientContext ctx;
    Bearer(ctx, "alice");
    v1::ModeResponse mode;
    grpc::Status st = gate.admin().GetMode(&ctx, {}, &mode);
    if (!st.ok()) {  // (the replay may have finished in between)
      EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
    }
  }
  bool serving = false;
  until = std::chrono::steady_clock::now() + seconds(60);
  while (!serving && std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(gate.Alive()) << "the gate exited instead of retrying; reason was: " << reason;
    serving = gate.Status().serving();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(serving) << "still not serving: " << gate.Status().not_serving_reason();
  grpc::ClientContext ctx;
  Bearer(ctx, "alice");
  v1::ModeResponse mode;
  ASSERT_TRUE(gate.admin().GetMode(&ctx, {}, &mode).ok());
  EXPECT_TRUE(mode.paused()) << "the replayed pause is in force";
  EXPECT_EQ(mode.mode(), v1::MODE_MANUAL);
}

}  // namespace
}  // namespace kubemend
