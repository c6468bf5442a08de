#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <httplib.h>

#include <thread>

#include "kubemend/v1/admin.grpc.pb.h"
#include "src/probe.h"

namespace kubemend::healthcheck {
namespace {

std::vector<std::string> Args(std::initializer_list<const char*> a) { return {a.begin(), a.end()}; }

TEST(ProbeArgsTest, DefaultsToLocalGrpcPort) {
  ProbeOptions o;
  ASSERT_EQ(ParseProbeArgs({}, &o), "");
  EXPECT_EQ(o.grpc_addr, "127.0.0.1:9000");
  EXPECT_EQ(o.grpc_service, "");
  EXPECT_EQ(o.timeout, std::chrono::seconds(3));
}

TEST(ProbeArgsTest, ReadsEveryFlag) {
  ProbeOptions o;
  ASSERT_EQ(ParseProbeArgs(Args({"--grpc", "10.0.0.1:9001", "--service", "kubemend.v1.DataIntegrity",
                                 "--timeout", "500ms"}),
                           &o),
            "");
  EXPECT_EQ(o.grpc_addr, "10.0.0.1:9001");
  EXPECT_EQ(o.grpc_service, "kubemend.v1.DataIntegrity");
  EXPECT_EQ(o.timeout, std::chrono::milliseconds(500));
  ASSERT_EQ(ParseProbeArgs(Args({"--http", "https://kube-sim:6443/healthz", "--insecure"}), &o), "");
  EXPECT_EQ(o.grpc_addr, "");
  EXPECT_TRUE(o.insecure_tls);
}

TEST(ProbeArgsTest, RejectsBadCommandLines) {
  ProbeOptions o;
  EXPECT_NE(ParseProbeArgs(Args({"--grpc"}), &o), "");
  EXPECT_NE(ParseProbeArgs(Args({"--grpc", "no-port"}), &o), "");
  EXPECT_NE(ParseProbeArgs(Args({"--http", "ftp://x"}), &o), "");
  EXPECT_NE(ParseProbeArgs(Args({"--timeout", "soon"}), &o), "");
  EXPECT_NE(ParseProbeArgs(Args({"--timeout", "0s"}), &o), "");
  EXPECT_NE(ParseProbeArgs(Args({"--grpc", "a:1", "--http", "http://b/"}), &o), "");
  EXPECT_NE(ParseProbeArgs(Args({"--verbose"}), &o), "");
}

// A real gRPC server with the default health service, as every kubemend
// service runs it.
class GrpcProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    // A server needs one synchronous service besides health to start.
    b.RegisterService(&admin_);
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    opts_.grpc_addr = "127.0.0.1:" + std::to_string(port_);
  }
  void TearDown() override { server_->Shutdown(); }

  int port_ = 0;
  kubemend::v1::Admin::Service admin_;
  std::unique_ptr<grpc::Server> server_;
  ProbeOptions opts_;
};

TEST_F(GrpcProbeTest, HealthyOnlyWhileServing) {
  server_->GetHealthCheckService()->SetServingStatus(false);
  ProbeResult r = Check(opts_);
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.detail, "NOT_SERVING");
  server_->GetHealthCheckService()->SetServingStatus(true);
  r = Check(opts_);
  EXPECT_TRUE(r.healthy);
  EXPECT_EQ(r.detail, "SERVING");
}

TEST_F(GrpcProbeTest, AsksForTheNamedService) {
  server_->GetHealthCheckService()->SetServingStatus(true);
  server_->GetHealthCheckService()->SetServingStatus("kubemend.v1.DataIntegrity", false);
  opts_.grpc_service = "kubemend.v1.DataIntegrity";
  EXPECT_FALSE(Check(opts_).healthy);
  opts_.grpc_service = "no.such.Service";
  ProbeResult r = Check(opts_);
  EXPECT_FALSE(r.healthy);
  EXPECT_NE(r.detail.find("unknown health service"), std::string::npos) << r.detail;
}

TEST_F(GrpcProbeTest, UnreachableIsUnhealthy) {
  server_->Shutdown();
  opts_.timeout = std::chrono::milliseconds(300);
  ProbeResult r = Check(opts_);
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.detail.rfind("unreachable: ", 0), 0u) << r.detail;
}

TEST(HttpProbeTest, TwoHundredsAreHealthy) {
  httplib::Server s;
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
  s.Get("/down", [](const httplib::Request&, httplib::Response& res) { res.status = 503; });
  int port = s.bind_to_any_port("127.0.0.1");
  std::thread t([&] { s.listen_after_bind(); });
  ProbeOptions o;
  o.http_url = "http://127.0.0.1:" + std::to_string(port) + "/healthz";
  ProbeResult ok = Check(o);
  o.http_url = "http://127.0.0.1:" + std::to_string(port) + "/down";
  ProbeResult down = Check(o);
  s.stop();
  t.join();
  EXPECT_TRUE(ok.healthy) << ok.detail;
  EXPECT_FALSE(down.healthy);
  EXPECT_EQ(down.detail, "HTTP 503");
  o.timeout = std::chrono::milliseconds(300);
  ProbeResult gone = Check(o);
  EXPECT_FALSE(gone.healthy);
  EXPECT_EQ(gone.detail.rfind("unreachable: ", 0), 0u) << gone.detail;
}

}  // namespace
}  // namespace kubemend::healthcheck
