#include "cli.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kubemend/v1/safety_gate_admin.grpc.pb.h"

namespace kubemend::ctl {
namespace {

struct Result {
  int code;
  std::string out, err;
};

Result Ctl(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "kubemendctl");
  std::ostringstream out, err;
  int code = Run(args, env, out, err);
  return {code, out.str(), err.str()};
}

TEST(KubemendctlTest, EveryCommandHasHelp) {
  for (const char* cmd : {"status", "incidents list", "incidents show", "audit query",
                          "audit tail", "audit verify", "actions list", "approve", "deny",
                          "pending list", "pause", "resume", "mode get", "mode set",
                          "policies list", "policies validate", "policies reload",
                          "actions rollback"}) {
    std::vector<std::string> args;
    std::istringstream in(cmd);
    for (std::string w; in >> w;) {
      args.push_back(w);
    }
    args.push_back("--help");
    Result r = Ctl(args);
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find("usage: kubemendctl " + std::string(cmd)), std::string::npos) << r.out;
  }
  Result top = Ctl({"--help"});
  EXPECT_EQ(top.code, 0);
  EXPECT_NE(top.out.find("Exit codes"), std::string::npos);
}

TEST(KubemendctlTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Ctl({}).code, kUsage);
  EXPECT_EQ(Ctl({"frobnicate"}).code, kUsage);
  EXPECT_EQ(Ctl({"audit", "query", "--bogus", "1"}).code, kUsage);
  EXPECT_EQ(Ctl({"status", "-o", "xml"}).code, kUsage);
  Result r = Ctl({"status", "--endpoint", "nosuch=1.2.3.4:5"});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_NE(r.err.find("SERVICE=HOST:PORT"), std::string::npos);
  EXPECT_EQ(Ctl({"incidents", "show"}, {{"KUBEMENDCTL_AUDIT_ADDR", "127.0.0.1:1"}}).code, kUsage);
  EXPECT_EQ(Ctl({"audit", "verify"}).code, kUsage) << "no audit endpoint known";
}

TEST(KubemendctlTest, FlagsAndNumbersGetClearErrors) {
  Result v = Ctl({"version"});
  EXPECT_EQ(v.code, kOk);
  EXPECT_EQ(v.out, "kubemendctl " + CtlVersion() + "\n");
  std::map<std::string, std::string> audit = {{"KUBEMENDCTL_AUDIT_ADDR", "127.0.0.1:1"}};
  Result seq = Ctl({"audit", "query", "--after-seq", "abc"}, audit);
  EXPECT_EQ(seq.code, kUsage);
  EXPECT_NE(seq.err.find("--after-seq wants a sequence number, got 'abc'"), std::string::npos) << seq.err;
  EXPECT_EQ(Ctl({"audit", "tail", "--count", "x1"}, audit).code, kUsage);
  EXPECT_EQ(Ctl({"incidents", "list", "--limit", "ten"}, audit).code, kUsage);
  Result ca = Ctl({"audit", "verify", "--tls-ca", "/nonexistent/ca.pem"}, audit);
  EXPECT_EQ(ca.code, kUsage);
  EXPECT_NE(ca.err.find("--tls-ca /nonexistent/ca.pem: cannot read"), std::string::npos) << ca.err;
  Result t = Ctl({"audit", "verify", "--timeout", "soon"}, audit);
  EXPECT_EQ(t.code, kUsage);
  EXPECT_NE(t.err.find("--timeout wants a duration such as 5s"), std::string::npos) << t.err;
  // -n on a command that does not filter by namespace is refused, not ignored.
  Result n = Ctl({"pending", "list", "-n", "shop"}, audit);
  EXPECT_EQ(n.code, kUsage);
  EXPECT_NE(n.err.find("unknown flag --namespace (this command does not filter by namespace)"), std::string::npos)
      << n.err;
  EXPECT_EQ(Ctl({"status", "-oxml"}).code, kUsage);
  int64_t ms = 0;
  ASSERT_TRUE(ParseDurationMs("5s", &ms));
  EXPECT_EQ(ms, 5000);
  ASSERT_TRUE(ParseDurationMs("250ms", &ms));
  EXPECT_EQ(ms, 250);
  ASSERT_TRUE(ParseDurationMs("1500", &ms));
  EXPECT_EQ(ms, 1500);
  EXPECT_FALSE(ParseDurationMs("5x", &ms));
  EXPECT_FALSE(ParseDurationMs("-5s", &ms));
  int64_t n64 = 0;
  EXPECT_FALSE(ParseInt64("99999999999999999999", &n64));
  EXPECT_FALSE(ParseInt64("12a", &n64));
}

TEST(KubemendctlTest, MutatingCommandsCheckTheirArgumentsBeforeCallingAnything) {
  // No endpoint is known: each of these must fail on its arguments first.
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  for (const auto& c : std::vector<Case>{
           {{"approve", "--reason", "ok"}, "PROPOSAL_ID"},
           {{"approve", "p-1", "p-2", "--reason", "ok"}, "PROPOSAL_ID"},
           {{"approve", "p-1"}, "--reason is required"},
           {{"deny", "p-1", "--reason", ""}, "--reason is required"},
           {{"mode", "set", "--reason", "x"}, "exactly one MODE"},
           {{"mode", "set", "turbo", "--reason", "x"}, "unknown mode 'turbo'"},
           {{"mode", "set", "clear", "--reason", "x"}, "unknown mode 'clear'"},
           {{"mode", "set", "manual"}, "--reason is required"},
           {{"pause", "now"}, "takes no arguments"},
           {{"pending", "list", "extra"}, "takes no arguments"},
           {{"policies", "validate"}, "exactly one FILE"},
           {{"actions", "rollback", "a-1"}, "--reason is required"},
           {{"actions", "rollback", "--reason", "x"}, "ACTION_ID"},
           {{"approve", "p-1", "--reason", "ok", "--as", ""}, "--as wants a name"},
       }) {
    Result r = Ctl(c.args);
    EXPECT_EQ(r.code, kUsage) << c.args[0] << " " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
  }
  // --as is global (scripts set it once), not a typo-catcher for reads.
  EXPECT_EQ(Ctl({"mode", "get", "--as", "bob"}).code, kUsage) << "still: no endpoint";
  EXPECT_NE(Ctl({"mode", "get", "--as", "bob"}).err.find("no endpoint"), std::string::npos);
  // Valid arguments but no endpoint: a usage error naming how to give one.
  Result r = Ctl({"approve", "p-1", "--reason", "ok"});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_NE(r.err.find("KUBEMENDCTL_SAFETY_GATE_ADDR"), std::string::npos) << r.err;
  r = Ctl({"policies", "validate", "/nonexistent/p.yaml"}, {{"KUBEMENDCTL_ANALYZER_ADDR", "x:1"}});
  EXPECT_EQ(r.code, kError);
  EXPECT_NE(r.err.find("cannot read /nonexistent/p.yaml"), std::string::npos) << r.err;
}

TEST(KubemendctlTest, ModeNamesReadAsOperatorsTypeThem) {
  v1::Mode m = v1::MODE_UNSPECIFIED;
  ASSERT_TRUE(ParseMode("dryrun", false, &m));
  EXPECT_EQ(m, v1::MODE_DRY_RUN);
  ASSERT_TRUE(ParseMode("Manual", false, &m));
  EXPECT_EQ(m, v1::MODE_MANUAL);
  EXPECT_FALSE(ParseMode("unspecified", false, &m));
  EXPECT_FALSE(ParseMode("", false, &m));
  ASSERT_TRUE(ParseMode("clear", true, &m));
  EXPECT_EQ(m, v1::MODE_UNSPECIFIED);
  EXPECT_EQ(ModeName(v1::MODE_DRY_RUN), "dry_run");
  EXPECT_EQ(ActionName(v1::ACTION_TYPE_ROLLOUT_RESTART), "RolloutRestart");
  EXPECT_EQ(OutcomeName(v1::OUTCOME_STATUS_ROLLED_BACK), "rolled_back");
}

// A safety gate that records what it was asked.
class FakeGate final : public v1::SafetyGateAdmin::Service {
 public:
  grpc::Status Approve(grpc::ServerContext*, const v1::ResolveRequest* req,
                       v1::ResolveResponse* out) override {
    last = *req;
    if (req->proposal_id() == "gone") {
      return {grpc::StatusCode::NOT_FOUND, "nothing waits under proposal gone"};
    }
    out->set_decision_id("d-1");
    out->mutable_decision()->set_verdict(v1::VERDICT_APPROVED);
    out->mutable_decision()->set_approver("olga");  // the gate's authenticated subject
    out->set_control_id("c-1");
    return grpc::Status::OK;
  }
  grpc::Status SetMode(grpc::ServerContext*, const v1::SetModeRequest* req,
                       v1::ModeResponse* out) override {
    set_mode = *req;
    out->set_mode(v1::MODE_AUTOMATIC);
    (*out->mutable_policy_modes())[req->scope()] = req->mode();
    return grpc::Status::OK;
  }
  grpc::Status Pause(grpc::ServerContext* ctx, const v1::PauseRequest* req,
                     v1::ModeResponse* out) override {
    pause = *req;
    auto it = ctx->client_metadata().find("authorization");
    authorization = it == ctx->client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
    out->set_mode(v1::MODE_AUTOMATIC);
    out->set_paused(true);
    return grpc::Status::OK;
  }
  v1::ResolveRequest last;
  v1::SetModeRequest set_mode;
  v1::PauseRequest pause;
  std::string authorization;  // of the last Pause
};

class KubemendctlGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&gate_);
    server_ = b.BuildAndStart();
    ASSERT_NE(port, 0);
    env_ = {{"KUBEMENDCTL_SAFETY_GATE_ADDR", "127.0.0.1:" + std::to_string(port)},
            {"USER", "carol"}};
  }
  void TearDown() override { server_->Shutdown(); }
  FakeGate gate_;
  std::unique_ptr<grpc::Server> server_;
  std::map<std::string, std::string> env_;
};

// Who approved is the gate's business (the token's subject): the CLI sends
// no name of its own, not even $USER; --as is only a note, and the output
// shows the approver the gate recorded.
TEST_F(KubemendctlGateTest, ApproveSendsOnlyTheAsNoteAndShowsTheRecordedApprover) {
  Result r = Ctl({"approve", "p-1", "--reason", "looks right"}, env_);
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(gate_.last.proposal_id(), "p-1");
  EXPECT_EQ(gate_.last.issued_by(), "") << "no claim without --as";
  EXPECT_EQ(gate_.last.reason(), "looks right");
  EXPECT_NE(r.out.find("approved p-1 by olga"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decision  d-1 (approved)"), std::string::npos) << r.out;
  r = Ctl({"approve", "p-2", "--reason", "ok", "--as", "alice", "-o", "json"}, env_);
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(gate_.last.issued_by(), "alice");
  EXPECT_NE(r.out.find("\"decision_id\": \"d-1\""), std::string::npos) << r.out;
  r = Ctl({"approve", "gone", "--reason", "ok"}, env_);
  EXPECT_EQ(r.code, kError);
  EXPECT_NE(r.err.find("nothing waits under proposal gone"), std::string::npos) << r.err;
}

// A `./kubemend up` stack is found with no flag: KUBEMEND_RUN_DIR names the
// run dir whose kubemendctl.yaml holds the endpoints and the token file.
// Flags beat KUBEMENDCTL_* variables, which beat the file.
TEST_F(KubemendctlGateTest, FindsTheStackAndItsTokenThroughKubemendRunDir) {
  std::string run = ::testing::TempDir() + "/run_" + std::to_string(getpid());
  std::filesystem::create_directories(run + "/admin");
  std::ofstream(run + "/admin/carol.token") << "file-token\n";
  std::ofstream(run + "/kubemendctl.yaml")
      << "endpoints:\n  safety-gate: " << env_.at("KUBEMENDCTL_SAFETY_GATE_ADDR")
      << "\ntoken_file: " << run << "/admin/carol.token\n";
  std::map<std::string, std::string> env = {{"KUBEMEND_RUN_DIR", run}};
  Result r = Ctl({"pause", "--reason", "found it"}, env);
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(gate_.authorization, "Bearer file-token");
  env["KUBEMENDCTL_TOKEN"] = "env-token";
  ASSERT_EQ(Ctl({"pause"}, env).code, kOk);
  EXPECT_EQ(gate_.authorization, "Bearer env-token") << "the environment beats the file";
  ASSERT_EQ(Ctl({"pause", "--token", "flag-token"}, env).code, kOk);
  EXPECT_EQ(gate_.authorization, "Bearer flag-token") << "a flag beats the environment";
  Result gone = Ctl({"pause"}, {{"KUBEMEND_RUN_DIR", run + "/nope"}});
  EXPECT_EQ(gone.code, kUsage);
  EXPECT_NE(gone.err.find("is the stack up?"), std::string::npos) << gone.err;
  std::filesystem::remove_all(run);
}

TEST_F(KubemendctlGateTest, PauseWithAScopePutsThatPolicyInMonitorMode) {
  Result r = Ctl({"pause", "--reason", "incident review"}, env_);
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(gate_.pause.reason(), "incident review");
  EXPECT_NE(r.out.find("paused     yes"), std::string::npos) << r.out;
  r = Ctl({"pause", "--scope", "restart-crashloop"}, env_);
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(gate_.set_mode.scope(), "restart-crashloop");
  EXPECT_EQ(gate_.set_mode.mode(), v1::MODE_MONITOR);
  EXPECT_NE(r.out.find("restart-crashloop  monitor"), std::string::npos) << r.out;
  r = Ctl({"mode", "set", "dry-run", "--reason", "canary"}, env_);
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(gate_.set_mode.mode(), v1::MODE_DRY_RUN);
  EXPECT_EQ(gate_.set_mode.scope(), "");
  r = Ctl({"resume", "--scope", "restart-crashloop", "--reason", "done"}, env_);
  ASSERT_EQ(r.code, kOk) << r.err;
  EXPECT_EQ(gate_.set_mode.mode(), v1::MODE_UNSPECIFIED) << "clears the override";
}

TEST(KubemendctlTest, UnreachableServiceExitsFour) {
  std::string env_file = ::testing::TempDir() + "/stack.env";
  std::ofstream(env_file) << "KUBEMEND_PG_DSN='x'\nKUBEMEND_AUDIT_GRPC=127.0.0.1:1\n";
  Result r = Ctl({"audit", "verify", "--timeout", "2000"}, {{"KUBEMEND_STACK_ENV", env_file}});
  EXPECT_EQ(r.code, kUnavailable) << r.err;
  Result s = Ctl({"status", "--stack-env", env_file, "--timeout", "2000"});
  EXPECT_EQ(s.code, kUnavailable);
  EXPECT_NE(s.out.find("unreachable"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("no endpoint"), std::string::npos) << "other services: not configured";
}

TEST(KubemendctlTest, EndpointsAndTokensComeFromTheConfigFileUnderHome) {
  // A fresh folder per run: /tmp outlives test runs on the same machine.
  std::string home = ::testing::TempDir() + "/home_cfg_" + std::to_string(getpid());
  std::filesystem::remove_all(home);
  std::filesystem::create_directories(home + "/.config/kubemend");
  std::filesystem::remove(home + "/.config/kubemend/token");  // left by an earlier run
  std::ofstream(home + "/.config/kubemend/kubemendctl.yaml")
      << "endpoints:\n  audit: 127.0.0.1:1\ntoken_file: ~/.config/kubemend/token\n";
  // The token file is missing: a clear usage error naming it, so the config was read.
  Result r = Ctl({"audit", "verify"}, {{"HOME", home}});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_NE(r.err.find(home + "/.config/kubemend/token"), std::string::npos) << r.err;
  std::ofstream(home + "/.config/kubemend/token") << "secret\n";
  r = Ctl({"audit", "verify", "--timeout", "2000"}, {{"HOME", home}});
  EXPECT_EQ(r.code, kUnavailable) << "endpoint from the config file: " << r.err;
  // Flags beat the config file.
  r = Ctl({"audit", "verify", "--endpoint", "audit=", "--timeout", "2000"}, {{"HOME", home}});
  EXPECT_EQ(r.code, kUsage) << r.err;
}

TEST(KubemendctlTest, SinceTakesDurationsAndDates) {
  int64_t s = 0;
  ASSERT_TRUE(ParseSince("2h", 10000, &s));
  EXPECT_EQ(s, 10000 - 7200);
  ASSERT_TRUE(ParseSince("2026-01-01", 0, &s));
  EXPECT_EQ(s, 1767225600);
  EXPECT_FALSE(ParseSince("yesterday", 0, &s));
}

}  // namespace
}  // namespace kubemend::ctl
