#include "cli.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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
  EXPECT_EQ(Ctl({"status", "-o", "yaml"}).code, kUsage);
  Result r = Ctl({"status", "--endpoint", "nosuch=1.2.3.4:5"});
  EXPECT_EQ(r.code, kUsage);
  EXPECT_NE(r.err.find("SERVICE=HOST:PORT"), std::string::npos);
  EXPECT_EQ(Ctl({"incidents", "show"}, {{"KUBEMENDCTL_AUDIT_ADDR", "127.0.0.1:1"}}).code, kUsage);
  EXPECT_EQ(Ctl({"audit", "verify"}).code, kUsage) << "no audit endpoint known";
}

TEST(KubemendctlTest, CommandsOfServicesNotInThisBuildFailClearly) {
  Result r = Ctl({"approve", "p-1", "--reason", "ok"});
  EXPECT_EQ(r.code, kError);
  EXPECT_NE(r.err.find("not available in this build"), std::string::npos);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(Ctl({"mode", "set", "manual"}).code, kError);
  EXPECT_EQ(Ctl({"policies", "reload"}).code, kError);
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
