// TLS: the client verifies the server against the configured CA, refuses a
// server signed by another CA (without retrying), and presents a client
// certificate when configured.

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/x509_vfy.h>

#include "fake_apiserver.h"
#include "kubemend/kube/client.h"
#include "test_certs.h"

namespace kubemend::kube {
namespace {

using testing::CertAndKey;
using testing::FakeApiServer;
using testing::MakeCa;
using testing::MakeLeaf;
using testing::NoSleepOptions;
using testing::RecordedWaits;

constexpr const char* kNodePath = "/api/v1/nodes/node-1";

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new CertAndKey(MakeCa("kube-test-ca"));
    other_ca_ = new CertAndKey(MakeCa("some-other-ca"));
    server_cert_ = new CertAndKey(MakeLeaf(*ca_, "apiserver"));
    client_cert_ = new CertAndKey(MakeLeaf(*ca_, "kubemend-executor"));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete other_ca_;
    delete server_cert_;
    delete client_cert_;
  }

  // client_ca: if set, the server demands a client certificate signed by it.
  std::unique_ptr<FakeApiServer> StartServer(const CertAndKey* client_ca = nullptr) {
    X509_STORE* store = nullptr;
    if (client_ca != nullptr) {
      store = X509_STORE_new();
      X509_STORE_add_cert(store, client_ca->cert.get());  // the server takes ownership of the store
    }
    auto ssl = std::make_unique<httplib::SSLServer>(server_cert_->cert.get(), server_cert_->key.get(), store);
    auto server = std::make_unique<FakeApiServer>(std::move(ssl), /*tls=*/true);
    server->Get(kNodePath, [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"kind":"Node","apiVersion":"v1","metadata":{"name":"node-1"}})", "application/json");
    });
    server->Start();
    return server;
  }

  Result<nlohmann::json> GetNode(const ClientConfig& config) {
    auto client = NewClient(config, NoSleepOptions(waits_));
    EXPECT_TRUE(client.ok());
    return (*client)->Get(Node("node-1"));
  }

  static CertAndKey* ca_;
  static CertAndKey* other_ca_;
  static CertAndKey* server_cert_;
  static CertAndKey* client_cert_;
  std::shared_ptr<RecordedWaits> waits_ = std::make_shared<RecordedWaits>();
};

CertAndKey* TlsTest::ca_ = nullptr;
CertAndKey* TlsTest::other_ca_ = nullptr;
CertAndKey* TlsTest::server_cert_ = nullptr;
CertAndKey* TlsTest::client_cert_ = nullptr;

TEST_F(TlsTest, TrustsAServerSignedByTheConfiguredCa) {
  auto server = StartServer();
  ClientConfig config;
  config.server = server->url();
  config.ca_pem = ca_->CertPem();
  config.bearer_token = "tls-token";
  auto node = GetNode(config);
  ASSERT_TRUE(node.ok()) << node.error().ToString();
  EXPECT_EQ((*node)["metadata"]["name"], "node-1");
  EXPECT_EQ(server->RequestsTo(kNodePath).at(0).Header("Authorization"), "Bearer tls-token");
}

TEST_F(TlsTest, RefusesAServerSignedByAnotherCaWithoutRetrying) {
  auto server = StartServer();
  ClientConfig config;
  config.server = server->url();
  config.ca_pem = other_ca_->CertPem();
  config.bearer_token = "must-not-leak";
  auto node = GetNode(config);
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.error().kind, ErrorKind::kTls) << node.error().ToString();
  EXPECT_TRUE(waits_->Get().empty());
  EXPECT_TRUE(server->Requests().empty());  // no request, so no token, reached the server
}

TEST_F(TlsTest, RefusesAnUnknownServerWithTheSystemStore) {
  auto server = StartServer();
  ClientConfig config;
  config.server = server->url();  // no ca_pem: the system store does not know our CA
  auto node = GetNode(config);
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.error().kind, ErrorKind::kTls) << node.error().ToString();
}

TEST_F(TlsTest, InsecureSkipVerifyConnectsAnyway) {
  auto server = StartServer();
  ClientConfig config;
  config.server = server->url();
  config.ca_pem = other_ca_->CertPem();
  config.insecure_skip_tls_verify = true;
  auto node = GetNode(config);
  ASSERT_TRUE(node.ok()) << node.error().ToString();
}

TEST_F(TlsTest, PresentsAClientCertificate) {
  auto server = StartServer(/*client_ca=*/ca_);
  ClientConfig config;
  config.server = server->url();
  config.ca_pem = ca_->CertPem();
  config.client_cert_pem = client_cert_->CertPem();
  config.client_key_pem = client_cert_->KeyPem();
  auto node = GetNode(config);
  ASSERT_TRUE(node.ok()) << node.error().ToString();

  ClientConfig without = config;
  without.client_cert_pem.clear();
  without.client_key_pem.clear();
  auto refused = GetNode(without);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(server->RequestsTo(kNodePath).size(), 1u);
}

}  // namespace
}  // namespace kubemend::kube
