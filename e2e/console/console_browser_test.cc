// The operator console, end to end in a real browser: a stack on kube-sim
// with the gate in manual mode and explicit operator/viewer tokens;
// console_test.mjs drives chromium through it (webhook -> live incident ->
// timeline with a hostile annotation rendered as text -> viewer refused ->
// operator approves by clicking -> healed outcome). This side then checks
// the trail for what the browser claimed.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sstream>

#include "kubemend/common/ids.h"
#include "stack.h"

namespace kubemend::e2e {
namespace {

std::pair<int, std::string> Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) {
    return {-1, "popen failed"};
  }
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    out.append(buf, n);
  }
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string SimUrl(const std::string& run_dir) {
  std::ifstream in(run_dir + "/kube-sim.ready");
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  return j.is_discarded() ? "" : j.value("http_url", "");
}

class ConsoleBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto [rc, path] = Shell(std::string(ENSURE_NPM) + " playwright-core@1.65.2");
    ASSERT_EQ(rc, 0) << "cannot install playwright-core: " << path;
    node_path_ = path.substr(path.rfind('\n', path.size() - 2) + 1);
    while (!node_path_.empty() && node_path_.back() == '\n') {
      node_path_.pop_back();
    }
    ASSERT_EQ(Shell("test -x /usr/bin/chromium").first, 0)
        << "Debian's chromium is missing: scripts/install-deps.sh test";
    operator_token_ = "op-" + NewUuid() + NewUuid();
    viewer_token_ = "view-" + NewUuid() + NewUuid();
    setenv("KUBEMEND_ADMIN_TOKENS",
           ("operator:alice:" + operator_token_ + ",viewer:victor:" + viewer_token_).c_str(), 1);
    setenv("KUBEMEND_GATE_MODE", "manual", 1);
    setenv("KUBEMEND_EXECUTOR_VERIFY_STABLE_FOR", "3s", 1);
    std::string err = stack_.Up("--sim");
    unsetenv("KUBEMEND_ADMIN_TOKENS");
    unsetenv("KUBEMEND_GATE_MODE");
    unsetenv("KUBEMEND_EXECUTOR_VERIFY_STABLE_FOR");
    ASSERT_EQ(err, "") << err;
  }

  Stack stack_;
  std::string node_path_, operator_token_, viewer_token_;
};

TEST_F(ConsoleBrowserTest, IncidentTimelineApprovalAndHostileAnnotationInChromium) {
  std::string sim = SimUrl(stack_.run_dir());
  ASSERT_FALSE(sim.empty()) << "kube-sim did not publish its URL";
  std::string cmd = "cd " + stack_.run_dir() + " && timeout 240 env NODE_PATH='" + node_path_ +
                    "' CONSOLE_URL=http://" + stack_.Env("KUBEMEND_AUDIT_HTTP") +
                    " COLLECTOR_URL=" + stack_.CollectorUrl() + " SIM_URL=" + sim +
                    " OPERATOR_TOKEN=" + operator_token_ + " VIEWER_TOKEN=" + viewer_token_ +
                    " ARTIFACT_DIR=" + ARTIFACT_DIR + " node " + CONSOLE_TEST_JS;
  auto [rc, out] = Shell(cmd);
  ASSERT_EQ(rc, 0) << out << "\nlogs: " << stack_.run_dir() << "/logs";
  auto at = out.rfind("RESULT ");
  ASSERT_NE(at, std::string::npos) << out;
  auto result = nlohmann::json::parse(out.substr(at + 7, out.find('\n', at) - at - 7));
  std::cout << "console: load " << result["load_ms"] << " ms, " << result["transfer_bytes"]
            << " bytes in " << result["requests"] << " requests (DOMContentLoaded "
            << result["dcl_ms"] << " ms)\n";

  // What the browser showed is what the trail holds.
  pqxx::connection c(stack_.dsn());
  pqxx::work w(c);
  std::string decision = result.value("decision_id", "");
  auto d = w.exec("SELECT payload_json->'decision'->>'approver', verdict, incident_id::text "
                  "FROM audit_events WHERE event_type='decision' AND event_id::text=" +
                  w.quote(decision));
  ASSERT_EQ(d.size(), 1u) << "decision " << decision << " not in the trail";
  EXPECT_EQ(d[0][0].as<std::string>(), "alice") << "issued_by is the token's subject";
  EXPECT_EQ(d[0][1].as<std::string>(), "approved");
  EXPECT_EQ(d[0][2].as<std::string>(), result.value("incident_id", ""));
  EXPECT_EQ(w.exec1("SELECT count(*) FROM audit_events WHERE event_type='outcome' AND "
                    "outcome_status='succeeded' AND causation_id=" + w.quote(decision))[0]
                .as<long>(),
            1);
  // The viewer's refused approve was published as a denied admin call.
  EXPECT_GE(w.exec1("SELECT count(*) FROM audit_events WHERE event_type='control' AND "
                    "payload_json->'control'->>'issued_by'='victor' AND "
                    "payload_json->'control'->>'reason' LIKE '%permission_denied%'")[0]
                .as<long>(),
            1);
}

}  // namespace
}  // namespace kubemend::e2e
