// kubectl-kubemend (the kubectl plugin name), `kube approve|deny` against a
// stand-in kubectl that records what it is asked, and the completion
// scripts, exercised by a real bash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli.h"

namespace kubemend::ctl {
namespace {

struct Result {
  int code;
  std::string out, err;
};

Result Ctl(const std::string& argv0, std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), argv0);
  std::ostringstream out, err;
  int code = Run(args, env, out, err);
  return {code, out.str(), err.str()};
}

std::string Shell(const std::string& cmd) {
  FILE* f = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while (f != nullptr && (n = fread(buf, 1, sizeof buf, f)) > 0) {
    out.append(buf, n);
  }
  if (f != nullptr) {
    pclose(f);
  }
  return out;
}

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kubemendctl-plugin-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // A kubectl that answers like the API server would and logs each call.
  std::string FakeKubectl(const std::string& patch_answer, int patch_code, const std::string& gate_state) {
    std::string path = dir_ + "/kubectl";
    std::ofstream(path) << "#!/bin/bash\n"
                           "echo \"$*\" >>" << dir_ << "/calls\n"
                           "case \"$*\" in\n"
                           "  *'auth whoami'*) echo -n alice ;;\n"
                           "  *'get healingactions'*) echo '{\"items\":[{\"metadata\":{\"name\":\"5f0c9e1a-aaaa\","
                           "\"namespace\":\"shop\"}},{\"metadata\":{\"name\":\"77d1e2b3-bbbb\",\"namespace\":\"web\"}}]}' ;;\n"
                           "  *patch*) echo '" << patch_answer << "' >&2; exit " << patch_code << " ;;\n"
                           "  *'get healingaction 5f0c9e1a-aaaa'*) echo '{\"status\":{\"phase\":\"Pending\""
                        << (gate_state.empty() ? "" : ",\"approval\":{\"state\":\"" + gate_state +
                                                          "\",\"message\":\"approved by kubernetes:alice\"}")
                        << "}}' ;;\n"
                           "esac\n";
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
    return path;
  }
  std::string Calls() {
    std::ifstream in(dir_ + "/calls");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string dir_;
};

TEST_F(PluginTest, UnderThePluginNameItIsKubectlKubemend) {
  Result r = Ctl("/usr/local/bin/kubectl-kubemend", {"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("usage: kubectl kubemend "), std::string::npos) << r.out;
  Result h = Ctl("kubectl-kubemend", {"approve", "--help"});
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("usage: kubectl kubemend kube approve NAME"), std::string::npos) << h.out;
  // As kubemendctl, approve is still the gRPC one (by proposal id).
  Result g = Ctl("kubemendctl", {"approve", "--help"});
  EXPECT_NE(g.out.find("PROPOSAL_ID"), std::string::npos) << g.out;
}

TEST_F(PluginTest, ApproveSetsSpecApprovalInTheUsersOwnNameAndReportsTheGate) {
  std::string k = FakeKubectl("healingaction.kubemend.io/5f0c9e1a-aaaa patched", 0, "Accepted");
  Result r = Ctl("kubectl-kubemend", {"approve", "5f0c", "--reason", "safe now", "--kubeconfig", "/k"},
                 {{"KUBEMENDCTL_KUBECTL", k}});
  EXPECT_EQ(r.code, kOk) << r.err;
  EXPECT_NE(r.out.find("healingaction shop/5f0c9e1a-aaaa: approve by alice recorded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("safety-gate: Accepted: approved by kubernetes:alice"), std::string::npos) << r.out;
  std::string calls = Calls();
  EXPECT_NE(calls.find("--kubeconfig=/k auth whoami"), std::string::npos) << calls;
  EXPECT_NE(calls.find("patch healingaction 5f0c9e1a-aaaa -n shop --type merge -p "
                       "{\"spec\":{\"approval\":{\"decision\":\"approve\",\"reason\":\"safe now\",\"user\":\"alice\"}}}"),
            std::string::npos)
      << calls;
}

TEST_F(PluginTest, KubernetesRefusalsExitThree) {
  std::string k = FakeKubectl(
      "Error from server (Forbidden): healingactions.kubemend.io \"5f0c9e1a-aaaa\" is forbidden: User \"bob\" "
      "cannot patch resource",
      1, "");
  Result r = Ctl("kubectl-kubemend", {"deny", "5f0c9e1a-aaaa", "-n", "shop"}, {{"KUBEMENDCTL_KUBECTL", k}});
  EXPECT_EQ(r.code, kDenied) << r.err;
  EXPECT_NE(r.err.find("is forbidden"), std::string::npos) << r.err;
}

TEST_F(PluginTest, ANameMustBeUnique) {
  std::string k = FakeKubectl("", 0, "");
  Result none = Ctl("kubectl-kubemend", {"approve", "0000"}, {{"KUBEMENDCTL_KUBECTL", k}});
  EXPECT_EQ(none.code, kError);
  EXPECT_NE(none.err.find("no HealingAction named 0000"), std::string::npos) << none.err;
  Result usage = Ctl("kubectl-kubemend", {"approve"}, {{"KUBEMENDCTL_KUBECTL", k}});
  EXPECT_EQ(usage.code, kUsage);
}

TEST_F(PluginTest, GateSilenceIsUnavailable) {
  std::string k = FakeKubectl("patched", 0, "");
  Result r = Ctl("kubectl-kubemend", {"approve", "5f0c", "--wait", "500ms"}, {{"KUBEMENDCTL_KUBECTL", k}});
  EXPECT_EQ(r.code, kUnavailable) << r.err;
  EXPECT_NE(r.err.find("has not answered"), std::string::npos) << r.err;
}

TEST_F(PluginTest, BashCompletesCommandsAndFlags) {
  Result r = Ctl("kubemendctl", {"completion", "bash"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::ofstream(dir_ + "/c.bash") << r.out;
  auto complete = [&](const std::string& words, int cword) {
    return Shell("bash -c 'source " + dir_ + "/c.bash; COMP_WORDS=(" + words + "); COMP_CWORD=" +
                 std::to_string(cword) + "; _kubemendctl; echo \"${COMPREPLY[*]}\"'");
  };
  EXPECT_EQ(complete("kubemendctl ap", 1), "approve\n");
  EXPECT_EQ(complete("kubemendctl kube ''", 2), "approve deny\n");
  EXPECT_EQ(complete("kubemendctl audit v", 2), "verify\n");
  EXPECT_NE(complete("kubemendctl approve --r", 2).find("--reason"), std::string::npos);
  EXPECT_EQ(complete("kubectl-kubemend -o json compl", 3), "completion\n");
  EXPECT_EQ(Shell("bash -c 'source " + dir_ + "/c.bash; complete -p kubectl-kubemend'"),
            "complete -F _kubemendctl kubectl-kubemend\n");
  Result z = Ctl("kubemendctl", {"completion", "zsh"});
  EXPECT_NE(z.out.find("bashcompinit"), std::string::npos);
  EXPECT_EQ(Ctl("kubemendctl", {"completion", "fish"}).code, kUsage);
}

TEST_F(PluginTest, KubectlsPluginCompletionGetsCobrasFormat) {
  Result r = Ctl("/usr/bin/kubectl_complete-kubemend", {"ap"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "approve\n:4\n");
  Result f = Ctl("kubectl_complete-kubemend", {"approve", "x", "--re"});
  EXPECT_EQ(f.out, "--reason\n:4\n") << "as the plugin, approve is the Kubernetes one";
  Result all = Ctl("kubectl_complete-kubemend", {""});
  EXPECT_NE(all.out.find("status\n"), std::string::npos) << all.out;
}

}  // namespace
}  // namespace kubemend::ctl
