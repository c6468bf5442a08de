// kubemendctl drives a human approval through a real stack: the gate runs in
// manual mode, an Alertmanager webhook becomes a proposal that waits, and the
// CLI binary lists it, approves it, sees the outcome in the trail, then
// pauses the gate. It finds the endpoints and the admin token by itself
// (KUBEMEND_RUN_DIR: the kubemendctl.yaml `./kubemend up` wrote), and what it
// records is the token's subject (alice), not its --as claim (mallory).
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <thread>

#include "stack.h"

namespace kubemend::e2e {
namespace {

using std::chrono::seconds;

struct CtlResult {
  int code = -1;
  std::string out;  // stdout and stderr
};

class CtlE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Every proposal waits for a human (gate.mode = manual).
    setenv("KUBEMEND_GATE_MODE", "manual", 1);
    std::string err = stack_.Up("--operator alice");
    unsetenv("KUBEMEND_GATE_MODE");
    ASSERT_EQ(err, "") << err;
  }

  // Runs the real binary against this stack; killed after `limit_s` (a
  // tail that never sees its row must fail the test, not hang it).
  // No flags for endpoints or credentials: only KUBEMEND_RUN_DIR (and `env`).
  CtlResult Ctl(const std::string& args, int limit_s = 30, const std::string& env = "") const {
    std::string cmd = "env -u KUBEMENDCTL_TOKEN -u KUBEMENDCTL_TOKEN_FILE -u KUBEMENDCTL_CONFIG "
                      "KUBEMEND_RUN_DIR=" + stack_.run_dir() + " " + env + " timeout " +
                      std::to_string(limit_s) + " " + KUBEMENDCTL_BIN + " --as mallory " + args +
                      " 2>&1";
    CtlResult r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) {
      return r;
    }
    char buf[4096];
    size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
      r.out.append(buf, n);
    }
    int st = pclose(p);
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
  }

  Stack stack_;
};

TEST_F(CtlE2ETest, ApprovalThroughTheCliReachesTheTrail) {
  auto [code, body] = Post(stack_.CollectorUrl(), "/api/v1/alerts",
                           AlertBody("KubePodCrashLooping",
                                     {{"namespace", "shop"}, {"pod", "api-1"}, {"container", "app"}},
                                     "fp-ctl"));
  ASSERT_EQ(code, 200) << body;

  // The gate holds the proposal: pending list shows it.
  std::string proposal_id;
  CtlResult pending;
  auto until = std::chrono::steady_clock::now() + seconds(30);
  while (proposal_id.empty() && std::chrono::steady_clock::now() < until) {
    pending = Ctl("pending list -o json");
    ASSERT_EQ(pending.code, 0) << pending.out;
    auto j = nlohmann::json::parse(pending.out, nullptr, false);
    if (!j.is_discarded() && j.contains("pending") && !j["pending"].empty()) {
      proposal_id = j["pending"][0]["proposal_id"].get<std::string>();
      EXPECT_EQ(j["pending"][0]["target"]["name"], "api-1") << pending.out;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  ASSERT_FALSE(proposal_id.empty()) << "nothing pending after 30 s: " << pending.out;
  CtlResult table = Ctl("pending list");
  ASSERT_EQ(table.code, 0) << table.out;
  EXPECT_NE(table.out.find(proposal_id), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("RestartPod"), std::string::npos) << table.out;
  EXPECT_EQ(QueryLong(stack_.dsn(), "SELECT count(*) FROM audit_events WHERE event_type='outcome'"),
            0)
      << "nothing runs before the approval";

  // Refused without a token (the stack's services are locked) and with the
  // viewer's.
  CtlResult anonymous = Ctl("approve " + proposal_id + " --reason x", 30,
                            "KUBEMEND_RUN_DIR= KUBEMEND_STACK_ENV=" + stack_.run_dir() + "/stack.env");
  EXPECT_EQ(anonymous.code, 3) << anonymous.out;
  std::string viewer = stack_.AdminToken("viewer");
  ASSERT_FALSE(viewer.empty()) << "no viewer token in " << stack_.run_dir() << "/admin";
  CtlResult as_viewer = Ctl("approve " + proposal_id + " --reason x", 30, "KUBEMENDCTL_TOKEN=" + viewer);
  EXPECT_EQ(as_viewer.code, 3) << as_viewer.out;
  EXPECT_NE(as_viewer.out.find("needs role operator"), std::string::npos) << as_viewer.out;

  // Approve it; the decision it answers with causes the outcome.
  CtlResult approved = Ctl("approve " + proposal_id + " --reason 'checked the pod' -o json");
  ASSERT_EQ(approved.code, 0) << approved.out;
  auto aj = nlohmann::json::parse(approved.out, nullptr, false);
  ASSERT_FALSE(aj.is_discarded()) << approved.out;
  std::string decision_id = aj.value("decision_id", "");
  ASSERT_FALSE(decision_id.empty()) << approved.out;
  EXPECT_EQ(aj["decision"]["approver"], "alice") << "the token's subject, not --as: " << approved.out;

  long n = 0;
  ASSERT_TRUE(WaitForCount(stack_.dsn(),
                           "SELECT count(*) FROM audit_events WHERE event_type='outcome' AND "
                           "causation_id='" + decision_id + "'",
                           [](long v) { return v == 1; }, seconds(30), &n))
      << "outcome rows caused by decision " << decision_id << ": " << n;
  std::string outcome_id;
  long outcome_seq = 0;
  {
    pqxx::connection c(stack_.dsn());
    pqxx::work w(c);
    auto row = w.exec1("SELECT event_id::text, seq FROM audit_events WHERE event_type='outcome' AND "
                       "causation_id=" + w.quote(decision_id));
    outcome_id = row[0].as<std::string>();
    outcome_seq = row[1].as<long>();
    // The approval is in the trail as a decision by the authenticated human,
    // and its Control(Approval) says alice, with mallory only as the
    // client-supplied note.
    EXPECT_EQ(w.exec1("SELECT count(*) FROM audit_events WHERE event_type='decision' AND "
                      "event_id::text=" + w.quote(decision_id) + " AND verdict='approved' AND "
                      "payload_json->'decision'->>'approver'='alice'")[0]
                  .as<long>(),
              1);
    auto ctl = w.exec("SELECT payload_json->'control'->>'issued_by', "
                      "payload_json->'control'->>'client_note' FROM audit_events WHERE "
                      "event_type='control' AND payload_json->'control' ? 'approval'");
    ASSERT_EQ(ctl.size(), 1u);
    EXPECT_EQ(ctl[0][0].as<std::string>(), "alice");
    EXPECT_EQ(ctl[0][1].as<std::string>(), "mallory");
  }

  // The CLI shows it through the audit service: query, and tail from the start.
  CtlResult query = Ctl("audit query --type outcome -o json");
  ASSERT_EQ(query.code, 0) << query.out;
  EXPECT_NE(query.out.find(outcome_id), std::string::npos) << query.out;
  // (after-seq 0 would mean "from the current end".)
  CtlResult tail = Ctl("audit tail --type outcome --after-seq " + std::to_string(outcome_seq - 1) +
                       " --count 1 -o json", /*limit_s=*/20);
  ASSERT_EQ(tail.code, 0) << tail.out;
  EXPECT_NE(tail.out.find(outcome_id), std::string::npos) << tail.out;
  CtlResult gone = Ctl("pending list");
  EXPECT_EQ(gone.out.find(proposal_id), std::string::npos) << "no longer pending: " << gone.out;

  // Approving again: nothing waits under the id any more.
  CtlResult again = Ctl("approve " + proposal_id + " --reason twice");
  EXPECT_EQ(again.code, 1) << again.out;

  // The kill switch.
  CtlResult paused = Ctl("pause --reason 'e2e: stop acting'");
  ASSERT_EQ(paused.code, 0) << paused.out;
  long pauses = 0;
  EXPECT_TRUE(WaitForCount(stack_.dsn(),
                           "SELECT count(*) FROM audit_events WHERE event_type='control' AND "
                           "payload_json->'control' ? 'pause' AND "
                           "payload_json->'control'->>'issued_by'='alice' AND "
                           "payload_json->'control'->>'client_note'='mallory'",
                           [](long v) { return v == 1; }, seconds(30), &pauses))
      << "the pause in the trail, issued by alice: " << pauses;
  CtlResult mode = Ctl("mode get");
  ASSERT_EQ(mode.code, 0) << mode.out;
  EXPECT_NE(mode.out.find("mode       manual"), std::string::npos) << mode.out;
  EXPECT_NE(mode.out.find("paused     yes"), std::string::npos) << mode.out;
  CtlResult resumed = Ctl("resume --reason 'e2e: done' -o json");
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_EQ(nlohmann::json::parse(resumed.out, nullptr, false).value("paused", true), false)
      << resumed.out;
}

TEST_F(CtlE2ETest, PoliciesListValidateAndReload) {
  CtlResult list = Ctl("policies list");
  ASSERT_EQ(list.code, 0) << list.out;
  EXPECT_NE(list.out.find("NAME"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("RestartPod"), std::string::npos) << "the shipped policies: " << list.out;

  std::string bad = stack_.run_dir() + "/bad-policy.yaml";
  {
    FILE* f = fopen(bad.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("apiVersion: kubemend.io/v1alpha1\nkind: HealingPolicy\nmetadata: {name: broken}\n"
          "spec:\n  nonsense: 1\n",
          f);
    fclose(f);
  }
  CtlResult invalid = Ctl("policies validate " + bad);
  EXPECT_EQ(invalid.code, 1) << invalid.out;
  EXPECT_NE(invalid.out.find("INVALID"), std::string::npos) << invalid.out;
  EXPECT_NE(invalid.out.find("spec.nonsense"), std::string::npos) << invalid.out;
  EXPECT_NE(invalid.out.find("unknown field"), std::string::npos) << invalid.out;

  CtlResult good = Ctl("policies validate " + std::string(std::getenv("KUBEMEND_ROOT")) +
                       "/policies/default.yaml");
  EXPECT_EQ(good.code, 0) << good.out;
  EXPECT_NE(good.out.find("valid,"), std::string::npos) << good.out;

  CtlResult reload = Ctl("policies reload");
  EXPECT_EQ(reload.code, 0) << reload.out;
  EXPECT_NE(reload.out.find("policies in force"), std::string::npos) << reload.out;
}

}  // namespace
}  // namespace kubemend::e2e
