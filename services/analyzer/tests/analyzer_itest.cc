// Integration tests: the real kubemend-analyzer binary against the broker
// from KUBEMEND_TEST_KAFKA_BROKERS (set by ./kubemend test). Each test uses
// its own topic prefix, consumer group and policy folder.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "kubemend/v1/analyzer_admin.grpc.pb.h"
#include "replay.h"

namespace kubemend::analyzer {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

const ProducerIdentity kTest{"collector", "itest", "0"};

class AnalyzerProcess {
 public:
  AnalyzerProcess(const KafkaConfig& kc, const std::string& group, const fs::path& dir)
      : kc_(kc), group_(group), dir_(dir) {}
  ~AnalyzerProcess() { Stop(); }

  bool Start() {
    ready_ = dir_ / ("ready-" + NewUuid().substr(0, 6));
    pid_ = fork();
    if (pid_ == 0) {
      setenv("KUBEMEND_KAFKA_BROKERS", kc_.brokers.c_str(), 1);
      setenv("KUBEMEND_KAFKA_TOPIC_PREFIX", kc_.topic_prefix.c_str(), 1);
      setenv("KUBEMEND_KAFKA_GROUP_ID", group_.c_str(), 1);
      setenv("KUBEMEND_GRPC_LISTEN", "127.0.0.1:0", 1);
      setenv("KUBEMEND_HTTP_LISTEN", "127.0.0.1:0", 1);
      setenv("KUBEMEND_RUNTIME_READY_FILE", ready_.c_str(), 1);
      setenv("KUBEMEND_INSTANCE", "analyzer-itest", 1);
      // The admin API is locked without tokens.
      setenv("KUBEMEND_ADMIN_TOKENS", "viewer:itest:itest-viewer-token", 1);
      setenv("KUBEMEND_ANALYZER_POLICY_PATHS", (dir_ / "policies").c_str(), 1);
      setenv("KUBEMEND_ANALYZER_POLICY_POLL_INTERVAL", "200ms", 1);
      std::string log = (dir_ / "analyzer.log").string();
      freopen(log.c_str(), "a", stdout);
      freopen(log.c_str(), "a", stderr);
      execl(KUBEMEND_ANALYZER_BIN, KUBEMEND_ANALYZER_BIN, nullptr);
      _exit(127);
    }
    auto until = std::chrono::steady_clock::now() + seconds(60);
    while (std::chrono::steady_clock::now() < until) {
      if (fs::exists(ready_) && fs::file_size(ready_) > 0) {
        std::ifstream in(ready_);
        std::string s((std::istreambuf_iterator<char>(in)), {});
        auto at = s.find("\"grpc\":\"");
        grpc_ = s.substr(at + 8, s.find('"', at + 8) - at - 8);
        return true;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  v1::GetAnalyzerStateResponse State() {
    auto ch = grpc::CreateChannel(grpc_, grpc::InsecureChannelCredentials());
    auto stub = v1::AnalyzerAdmin::NewStub(ch);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(5));
    ctx.AddMetadata("authorization", "Bearer itest-viewer-token");
    v1::GetAnalyzerStateRequest req;
    v1::GetAnalyzerStateResponse resp;
    auto st = stub->GetState(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }
  std::string Log() const {
    std::ifstream in(dir_ / "analyzer.log");
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

 private:
  KafkaConfig kc_;
  std::string group_;
  fs::path dir_;
  fs::path ready_;
  std::string grpc_;
  pid_t pid_ = -1;
};

class AnalyzerItest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* b = std::getenv("KUBEMEND_TEST_KAFKA_BROKERS");
    if (!b) {
      FAIL() << "KUBEMEND_TEST_KAFKA_BROKERS is not set; run the tests through ./kubemend test";
    }
    kc_.brokers = b;
    kc_.topic_prefix = "ta" + NewUuid().substr(0, 8) + ".";
    dir_ = fs::temp_directory_path() / ("kubemend-analyzer-itest-" + NewUuid().substr(0, 8));
    fs::create_directories(dir_ / "policies");
    auto p = Producer::Create(kc_, "itest", nullptr);
    ASSERT_TRUE(p.ok()) << p.status();
    producer_ = std::move(*p);
    // Create the topics the analyzer subscribes to before it starts.
    for (Topic t : {Topic::kSignals, Topic::kDecisions, Topic::kOutcomes, Topic::kProposals,
                    Topic::kControl}) {
      Publish(t, "warmup", "not an event");
    }
  }
  void TearDown() override {
    analyzer_.reset();
    if (HasFailure()) {
      std::cerr << "analyzer log kept in " << dir_ << "\n";
    } else {
      fs::remove_all(dir_);
    }
  }
  void Publish(Topic t, const std::string& key, const std::string& bytes) {
    auto tracker = std::make_shared<DeliveryTracker>();
    ASSERT_TRUE(producer_->Produce(TopicName(kc_, t), key, bytes, tracker).ok());
    ASSERT_TRUE(tracker->Wait(seconds(10)).ok());
  }
  void Publish(Topic t, const v1::Event& e, const std::string& key = "") {
    Publish(t, key.empty() ? TargetKey(e.target()) : key, e.SerializeAsString());
  }
  void WritePolicy(const std::string& text) {
    std::ofstream(dir_ / "policies" / "itest.yaml") << text;
  }
  void StartAnalyzer() {
    analyzer_ = std::make_unique<AnalyzerProcess>(kc_, group_, dir_);
    ASSERT_TRUE(analyzer_->Start()) << "analyzer did not start:\n" << analyzer_->Log();
  }
  v1::Event Signal(const std::string& name, const std::string& pod, const std::string& owner) {
    FakeClock clock(SystemClock::Instance().Now());
    v1::Event e = NewRootEvent(v1::EVENT_TYPE_SIGNAL, kTest, clock);
    e.set_incident_id("prov-" + NewUuid().substr(0, 8));
    e.mutable_target()->set_namespace_("shop");
    e.mutable_target()->set_kind("Pod");
    e.mutable_target()->set_name(pod);
    e.mutable_target()->set_owner_kind("Deployment");
    e.mutable_target()->set_owner_name(owner);
    e.mutable_signal()->set_source(v1::SIGNAL_SOURCE_ALERTMANAGER);
    e.mutable_signal()->set_name(name);
    e.mutable_signal()->set_fingerprint(Sha256Hex(name + pod).substr(0, 16));
    e.mutable_signal()->set_status(v1::SIGNAL_STATUS_FIRING);
    return e;
  }
  v1::Event Outcome(const v1::Event& proposal, v1::OutcomeStatus status, bool healthy) {
    v1::Event e = NewCausedEvent(v1::EVENT_TYPE_OUTCOME, proposal, "outcome", {"executor", "itest", "0"},
                                 SystemClock::Instance());
    e.mutable_outcome()->set_proposal_id(proposal.event_id());
    e.mutable_outcome()->set_status(status);
    *e.mutable_outcome()->mutable_action() = proposal.proposal().action();
    e.mutable_outcome()->mutable_verification()->set_attempted(true);
    e.mutable_outcome()->mutable_verification()->set_healthy(healthy);
    return e;
  }
  // Everything on `topic` now, in recorded order.
  std::vector<v1::Event> Read(Topic topic) {
    ReplayStats st;
    auto r = ReadLog(kc_, {topic}, 0, seconds(20), &st);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::vector<v1::Event>{};
  }
  // Waits until `pred` holds for the events on `topic`.
  std::vector<v1::Event> WaitFor(Topic topic, const std::function<bool(const std::vector<v1::Event>&)>& pred,
                                 seconds deadline = seconds(60)) {
    auto until = std::chrono::steady_clock::now() + deadline;
    std::vector<v1::Event> got;
    while (std::chrono::steady_clock::now() < until) {
      got = Read(topic);
      if (pred(got)) {
        return got;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ADD_FAILURE() << "timed out waiting on " << TopicName(kc_, topic) << "; analyzer log:\n"
                  << (analyzer_ ? analyzer_->Log() : "");
    return got;
  }
  static std::vector<v1::Event> Proposals(const std::vector<v1::Event>& all) {
    std::vector<v1::Event> out;
    for (const auto& e : all) {
      if (e.has_proposal()) {
        out.push_back(e);
      }
    }
    return out;
  }

  KafkaConfig kc_;
  std::string group_ = "kubemend-analyzer-itest-" + NewUuid().substr(0, 8);
  fs::path dir_;
  std::unique_ptr<Producer> producer_;
  std::unique_ptr<AnalyzerProcess> analyzer_;
};

TEST_F(AnalyzerItest, PolicyFileDrivesAProposalAndItsChangeIsAudited) {
  WritePolicy(R"(
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: itest-scale}
spec:
  triggers: [{alert: {name: "Itest*"}}]
  actions: [{type: ScaleWorkload, params: {percent: 25, maxReplicas: 8}}]
)");
  StartAnalyzer();
  v1::Event s = Signal("ItestTooBusy", "api-1", "api");
  Publish(Topic::kSignals, s);
  auto got = WaitFor(Topic::kProposals, [](const auto& ev) { return !Proposals(ev).empty(); });
  auto ps = Proposals(got);
  ASSERT_EQ(ps.size(), 1u);
  const auto& p = ps[0];
  EXPECT_EQ(p.proposal().action().type(), v1::ACTION_TYPE_SCALE_WORKLOAD);
  EXPECT_EQ(p.proposal().action().scale_workload().percent(), 25u);
  EXPECT_EQ(p.target().kind(), "Deployment");
  EXPECT_EQ(p.target().name(), "api");
  EXPECT_EQ(p.incident_id(), s.incident_id());
  EXPECT_EQ(p.causation_id(), s.event_id());
  EXPECT_EQ(p.proposal().policy().name(), "itest-scale");
  EXPECT_EQ(p.proposal().policy().version().size(), 16u);
  ASSERT_EQ(p.proposal().signal_ids_size(), 1);
  EXPECT_EQ(p.proposal().signal_ids(0), s.event_id());
  auto controls = Read(Topic::kControl);
  bool added = false;
  for (const auto& c : controls) {
    if (c.has_control() && c.control().has_policy_change() &&
        c.control().policy_change().policy().name() == "itest-scale") {
      added = c.control().policy_change().change() == "added" &&
              c.control().policy_change().policy().version() == p.proposal().policy().version();
    }
  }
  EXPECT_TRUE(added) << "no PolicyChange added event for itest-scale on the control topic";
  // A broken edit is rejected (audited) and the policy keeps working.
  WritePolicy("apiVersion: kubemend.io/v1alpha1\nkind: HealingPolicy\nmetadata: {name: itest-scale}\nspec: {}\n");
  WaitFor(Topic::kControl, [](const auto& ev) {
    for (const auto& c : ev) {
      if (c.has_control() && c.control().has_policy_change() &&
          c.control().policy_change().change() == "rejected") {
        return c.control().policy_change().detail().find("spec.triggers") != std::string::npos;
      }
    }
    return false;
  });
  EXPECT_EQ(analyzer_->State().policies_size(), 1);
}

TEST_F(AnalyzerItest, LoopBreakingEscalatesInsteadOfRepeating) {
  WritePolicy(R"(
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: itest-restart}
spec:
  cooldown: 0s
  loopBreaker: {maxAttempts: 2, window: 1h}
  escalation: {channel: oncall}
  triggers: [{alert: {name: ItestCrashLoop}}]
  actions: [{type: RestartPod}]
)");
  StartAnalyzer();
  Publish(Topic::kSignals, Signal("ItestCrashLoop", "web-1", "web"));
  for (size_t n = 1; n <= 2; ++n) {
    auto ps = Proposals(WaitFor(Topic::kProposals, [n](const auto& ev) { return Proposals(ev).size() >= n; }));
    ASSERT_GE(ps.size(), n);
    const auto& p = ps[n - 1];
    ASSERT_EQ(p.proposal().action().type(), v1::ACTION_TYPE_RESTART_POD);
    EXPECT_EQ(p.proposal().attempt(), n);
    Publish(Topic::kOutcomes, Outcome(p, v1::OUTCOME_STATUS_NOT_FIXED, false));
  }
  auto ps = Proposals(WaitFor(Topic::kProposals, [](const auto& ev) { return Proposals(ev).size() >= 3; }));
  ASSERT_EQ(ps.size(), 3u);
  const auto& esc = ps[2];
  EXPECT_TRUE(esc.proposal().escalation());
  EXPECT_TRUE(esc.proposal().requires_approval());
  EXPECT_EQ(esc.proposal().action().type(), v1::ACTION_TYPE_NOTIFY);
  EXPECT_EQ(esc.proposal().action().notify().channel(), "oncall");
  EXPECT_EQ(esc.incident_id(), ps[0].incident_id());
  // A repeat of the alert neither restarts again nor re-escalates.
  // Same Kafka key: the marker is processed after the repeat.
  Publish(Topic::kSignals, Signal("ItestCrashLoop", "web-2", "web"), "same-partition");
  v1::Event marker = Signal("ItestCrashLoop", "other-1", "other");
  Publish(Topic::kSignals, marker, "same-partition");
  auto all = Proposals(WaitFor(Topic::kProposals, [&](const auto& ev) {
    for (const auto& e : ev) {
      if (e.causation_id() == marker.event_id()) {
        return true;
      }
    }
    return false;
  }));
  size_t on_web = 0;
  for (const auto& e : all) {
    on_web += e.proposal().facts().at("incident_key").find("/web") != std::string::npos;
  }
  EXPECT_EQ(on_web, 3u);
}

TEST_F(AnalyzerItest, RestartKeepsACooldown) {
  WritePolicy(R"(
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: itest-cool}
spec:
  cooldown: 1h
  triggers: [{alert: {name: ItestCool}}]
  actions: [{type: RolloutRestart}]
)");
  StartAnalyzer();
  v1::Event s = Signal("ItestCool", "api-1", "api");
  Publish(Topic::kSignals, s);
  auto ps = Proposals(WaitFor(Topic::kProposals, [](const auto& ev) { return !Proposals(ev).empty(); }));
  ASSERT_EQ(ps.size(), 1u);
  Publish(Topic::kOutcomes, Outcome(ps[0], v1::OUTCOME_STATUS_SUCCEEDED, true));
  WaitFor(Topic::kControl, [](const auto& ev) {
    for (const auto& c : ev) {
      if (c.has_control() && c.control().has_incident_closed()) {
        return c.control().incident_closed().classification() == "fixed_by_action";
      }
    }
    return false;
  });
  analyzer_->Stop();
  StartAnalyzer();
  auto state = analyzer_->State();
  // The restart re-read the same policy file: no second "added" in the audit trail.
  size_t added = 0;
  for (const auto& c : Read(Topic::kControl)) {
    added += c.has_control() && c.control().has_policy_change() &&
             c.control().policy_change().policy().name() == "itest-cool" &&
             c.control().policy_change().change() == "added";
  }
  EXPECT_EQ(added, 1u);
  EXPECT_GT(state.replayed_events(), 0u);
  bool cooling = false;
  for (const auto& c : state.cooldowns()) {
    cooling = cooling || (c.policy() == "itest-cool" && c.subject().find("/shop/Deployment/api") != std::string::npos);
  }
  EXPECT_TRUE(cooling) << state.DebugString();
  // The alert fires again right after the restart: still cooling down. A
  // marker on another deployment, on the same partition behind it, proves the
  // analyzer got past the repeat without proposing.
  v1::Event again = Signal("ItestCool", "api-2", "api");
  v1::Event marker = Signal("ItestCool", "other-1", "other");
  Publish(Topic::kSignals, again, "same-partition");
  Publish(Topic::kSignals, marker, "same-partition");
  auto all = Proposals(WaitFor(Topic::kProposals, [&](const auto& ev) {
    for (const auto& e : ev) {
      if (e.causation_id() == marker.event_id()) {
        return true;
      }
    }
    return false;
  }));
  for (const auto& e : all) {
    EXPECT_NE(e.causation_id(), again.event_id()) << "proposed during the cooldown after a restart";
  }
  EXPECT_EQ(all.size(), 2u);
}

// analyzer.max_cooldowns through the binary (env override): with room for
// one cooldown, a second workload is refused at_capacity in the trail, with
// the bound named, instead of forgetting the first one's cooldown.
TEST_F(AnalyzerItest, FullCooldownMapRefusesWithTheBoundInTheTrail) {
  WritePolicy(R"(
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: itest-cap}
spec:
  cooldown: 1h
  triggers: [{alert: {name: ItestCap}}]
  actions: [{type: RolloutRestart}]
)");
  setenv("KUBEMEND_ANALYZER_MAX_COOLDOWNS", "1", 1);  // inherited by the analyzer's fork
  StartAnalyzer();
  unsetenv("KUBEMEND_ANALYZER_MAX_COOLDOWNS");
  v1::Event first = Signal("ItestCap", "api-1", "api");
  v1::Event second = Signal("ItestCap", "web-1", "web");
  Publish(Topic::kSignals, first, "same-partition");
  Publish(Topic::kSignals, second, "same-partition");
  std::string reason;
  WaitFor(Topic::kControl, [&](const auto& ev) {
    for (const auto& c : ev) {
      if (c.has_control() && c.control().has_no_action() &&
          c.control().no_action().signal_id() == second.event_id()) {
        EXPECT_EQ(c.control().no_action().category(), "at_capacity");
        reason = c.control().no_action().reason();
        return true;
      }
    }
    return false;
  });
  EXPECT_NE(reason.find("analyzer.max_cooldowns=1"), std::string::npos) << reason;
  auto ps = Proposals(WaitFor(Topic::kProposals, [](const auto& ev) { return !Proposals(ev).empty(); }));
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].causation_id(), first.event_id());
}

}  // namespace
}  // namespace kubemend::analyzer
