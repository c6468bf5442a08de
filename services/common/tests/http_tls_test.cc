// The HTTP port over TLS (http.tls.*), checked with curl, a TLS client we did
// not write: the collector's webhook, /metrics and /healthz are served by this
// listener.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "kubemend/common/ids.h"
#include "kubemend/common/runtime.h"

namespace kubemend {
namespace {

// Runs a shell command; its stdout, and its exit code in *code.
std::string Shell(const std::string& cmd, int* code) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *code = -1;
    return out;
  }
  char buf[512];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    out.append(buf, n);
  }
  int st = pclose(p);
  *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

class HttpTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/httptls_" + NewUuid().substr(0, 8);
    int code = 0;
    Shell("mkdir -p " + dir_ + " && cd " + dir_ +
              " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 "
              "-subj /CN=test-ca >/dev/null 2>&1"
              " && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost "
              ">/dev/null 2>&1"
              " && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > san.ext"
              " && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem "
              "-days 1 -extfile san.ext >/dev/null 2>&1",
          &code);
    ASSERT_EQ(code, 0) << "openssl could not make test certificates";
    Shell("command -v curl", &code);
    ASSERT_EQ(code, 0) << "curl is missing (scripts/install-deps.sh installs it)";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  CommonConfig Config() const {
    CommonConfig cfg;
    cfg.grpc_listen = "127.0.0.1:0";
    cfg.http_listen = "127.0.0.1:0";
    cfg.admin.insecure_no_auth = true;
    cfg.admin.publish_denials = false;
    cfg.http_tls_cert_file = dir_ + "/srv.pem";
    cfg.http_tls_key_file = dir_ + "/srv.key";
    return cfg;
  }
  std::string dir_;
};

TEST_F(HttpTlsTest, CurlPostsOverTlsAndPlainHttpIsRefused) {
  ServiceRuntime rt("tlstest", Config());
  rt.ConfigureHttp([](httplib::Server& s) {
    s.Post("/api/v1/alerts", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content("got " + req.body, "text/plain");
    });
  });
  ASSERT_TRUE(rt.Start().ok());
  std::string port = std::to_string(rt.http_port());
  int code = 0;
  std::string out = Shell("curl -sS --max-time 10 --cacert " + dir_ + "/ca.pem -X POST -d '{\"v\":4}' https://127.0.0.1:" +
                              port + "/api/v1/alerts 2>&1",
                          &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, "got {\"v\":4}");
  out = Shell("curl -sS --max-time 10 --cacert " + dir_ + "/ca.pem -o /dev/null -w '%{http_code}' https://localhost:" +
                  port + "/metrics 2>&1",
              &code);
  EXPECT_EQ(out, "200") << "the name in the certificate works too";
  Shell("curl -sS --max-time 10 -o /dev/null https://127.0.0.1:" + port + "/metrics 2>/dev/null", &code);
  EXPECT_EQ(code, 60) << "an untrusted certificate is refused by the client";
  out = Shell("curl -sS --max-time 10 -o /dev/null -w '%{http_code}' http://127.0.0.1:" + port + "/metrics 2>/dev/null",
              &code);
  EXPECT_NE(code, 0) << "plain HTTP gets no answer: " << out;
  EXPECT_NE(out, "200");
}

TEST_F(HttpTlsTest, HalfAConfigurationOrUnreadableFilesFailTheStartNamingTheKey) {
  CommonConfig cfg = Config();
  cfg.http_tls_key_file = "";
  absl::Status st = ServiceRuntime("tlstest", cfg).Start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("http.tls.key_file"), std::string::npos) << st;
  cfg = Config();
  cfg.http_tls_cert_file = dir_ + "/missing.pem";
  st = ServiceRuntime("tlstest", cfg).Start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("http.tls.cert_file"), std::string::npos) << st;
  cfg = Config();
  cfg.http_tls_key_file = dir_ + "/ca.pem";  // not a key
  st = ServiceRuntime("tlstest", cfg).Start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("http.tls.cert_file"), std::string::npos) << st;
}

}  // namespace
}  // namespace kubemend
