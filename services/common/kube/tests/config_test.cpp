#include "kubemend/kube/config.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace kubemend::kube {
namespace {

namespace fs = std::filesystem;

// base64 of "-----CA PEM-----\n", "-----CERT PEM-----\n", "-----KEY PEM-----\n".
constexpr const char* kCaData = "LS0tLS1DQSBQRU0tLS0tLQo=";
constexpr const char* kCertData = "LS0tLS1DRVJUIFBFTS0tLS0tCg==";
constexpr const char* kKeyData = "LS0tLS1LRVkgUEVNLS0tLS0K";

class ConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("kube-config-test-" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& contents) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << contents;
    return path.string();
  }

  EnvLookup Env(std::map<std::string, std::string> vars) {
    return [vars](const std::string& name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) {
        return std::nullopt;
      }
      return it->second;
    };
  }

  Result<ClientConfig> Load(const std::string& path, const std::string& context = "") {
    KubeconfigOptions options;
    options.path = path;
    options.context = context;
    options.env = Env({});
    return LoadKubeconfig(options);
  }

  fs::path dir_;
};

const std::string kTwoContexts = std::string(R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://dev.example:6443/
    certificate-authority-data: )") + kCaData + R"(
- name: prod-cluster
  cluster:
    server: https://prod.example:6443
    certificate-authority: certs/prod-ca.crt
users:
- name: dev-user
  user:
    token: dev-token
- name: prod-user
  user:
    client-certificate-data: )" + kCertData + R"(
    client-key-data: )" + kKeyData + R"(
contexts:
- name: dev
  context:
    cluster: dev-cluster
    user: dev-user
    namespace: team-a
- name: prod
  context:
    cluster: prod-cluster
    user: prod-user
)";

TEST_F(ConfigTest, LoadsCurrentContextWithTokenAndCaData) {
  auto config = Load(Write("config", kTwoContexts));
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->server, "https://dev.example:6443");  // trailing slash dropped
  EXPECT_EQ(config->ca_pem, "-----CA PEM-----\n");
  EXPECT_EQ(config->bearer_token, "dev-token");
  EXPECT_TRUE(config->client_cert_pem.empty());
  EXPECT_EQ(config->default_namespace, "team-a");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
  EXPECT_NE(config->source.find("context=dev"), std::string::npos);
  EXPECT_EQ(config->source.find("dev-token"), std::string::npos);
}

TEST_F(ConfigTest, SwitchesToANamedContextWithClientCertAndCaFile) {
  Write("certs/prod-ca.crt", "-----PROD CA-----\n");
  auto config = Load(Write("config", kTwoContexts), "prod");
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->server, "https://prod.example:6443");
  EXPECT_EQ(config->ca_pem, "-----PROD CA-----\n");  // relative to the kubeconfig's directory
  EXPECT_EQ(config->client_cert_pem, "-----CERT PEM-----\n");
  EXPECT_EQ(config->client_key_pem, "-----KEY PEM-----\n");
  EXPECT_TRUE(config->bearer_token.empty());
  EXPECT_EQ(config->default_namespace, "default");
}

TEST_F(ConfigTest, UnknownContextListsTheKnownOnes) {
  auto config = Load(Write("config", kTwoContexts), "staging");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().kind, ErrorKind::kConfig);
  EXPECT_NE(config.error().message.find("context \"staging\" not found (known: dev, prod)"), std::string::npos)
      << config.error().message;
}

TEST_F(ConfigTest, MissingCaFileNamesFileAndField) {
  auto config = Load(Write("config", kTwoContexts), "prod");  // certs/prod-ca.crt not written
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("clusters[\"prod-cluster\"]: certificate-authority"), std::string::npos)
      << config.error().message;
  EXPECT_NE(config.error().message.find("prod-ca.crt"), std::string::npos) << config.error().message;
}

struct BadCase {
  const char* name;
  std::string yaml;
  const char* needle;
};

TEST_F(ConfigTest, RejectsBrokenFilesNamingTheField) {
  const std::string head = "apiVersion: v1\nkind: Config\ncurrent-context: c\n";
  const std::string ctx = "contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n";
  const std::string cluster = "clusters:\n- name: k\n  cluster:\n    server: https://k:6443\n";
  const BadCase cases[] = {
      {"no server", head + ctx + "clusters:\n- name: k\n  cluster: {}\nusers:\n- name: u\n  user: {token: t}\n",
       "clusters[\"k\"]: missing server"},
      {"bad scheme",
       head + ctx + "clusters:\n- name: k\n  cluster:\n    server: k:6443\nusers:\n- name: u\n  user: {token: t}\n",
       "must start with https://"},
      {"no current context", "apiVersion: v1\n" + ctx + cluster, "no current-context"},
      {"missing cluster entry", head + ctx + "users:\n- name: u\n  user: {token: t}\n",
       "cluster \"k\" not found"},
      {"missing user entry", head + ctx + cluster, "user \"u\" not found"},
      {"bad base64", head + ctx + cluster + "users:\n- name: u\n  user:\n    client-certificate-data: '!!!'\n",
       "users[\"u\"]: client-certificate-data is not valid base64"},
      {"cert without key",
       head + ctx + cluster + "users:\n- name: u\n  user:\n    client-certificate-data: " + kCertData + "\n",
       "client-key(-data)"},
      {"token and basic", head + ctx + cluster + "users:\n- name: u\n  user: {token: t, username: a, password: b}\n",
       "not both"},
      {"exec plugin", head + ctx + cluster + "users:\n- name: u\n  user:\n    exec: {command: aws}\n",
       "exec and auth-provider"},
      {"entry without name", head + ctx + cluster + "users:\n- user: {token: t}\n", "users[0]: missing name"},
      {"not yaml", "clusters: [", "not valid YAML"},
      {"insecure not bool",
       head + ctx +
           "clusters:\n- name: k\n  cluster:\n    server: https://k\n    insecure-skip-tls-verify: maybe\n" +
           "users:\n- name: u\n  user: {token: t}\n",
       "insecure-skip-tls-verify must be true or false"},
  };
  for (const auto& c : cases) {
    const std::string path = Write("bad-config", c.yaml);
    auto config = Load(path);
    ASSERT_FALSE(config.ok()) << c.name;
    EXPECT_EQ(config.error().kind, ErrorKind::kConfig) << c.name;
    EXPECT_NE(config.error().message.find(c.needle), std::string::npos) << c.name << ": " << config.error().message;
    EXPECT_NE(config.error().message.find(path), std::string::npos) << c.name << ": " << config.error().message;
  }
}

TEST_F(ConfigTest, ReadsTokenFileBasicAuthAndInsecure) {
  Write("tok", "file-token\n");
  const std::string yaml = R"(current-context: a
clusters:
- name: k
  cluster: {server: "https://k:6443", insecure-skip-tls-verify: true}
users:
- name: t
  user: {tokenFile: tok}
- name: b
  user: {username: alice, password: secret}
contexts:
- name: a
  context: {cluster: k, user: t}
- name: b
  context: {cluster: k, user: b}
)";
  const std::string path = Write("config", yaml);
  auto a = Load(path);
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_EQ(a->bearer_token, "file-token");
  EXPECT_EQ(a->bearer_token_file, (dir_ / "tok").string());
  EXPECT_TRUE(a->insecure_skip_tls_verify);
  auto b = Load(path, "b");
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  EXPECT_EQ(b->username, "alice");
  EXPECT_EQ(b->password, "secret");
  EXPECT_TRUE(b->bearer_token.empty());
}

TEST_F(ConfigTest, KubeconfigEnvListMergesFirstWins) {
  const std::string first = Write("one", R"(current-context: from-one
clusters:
- name: k
  cluster: {server: "https://one:6443"}
users:
- name: u
  user: {token: one-token}
contexts:
- name: from-one
  context: {cluster: k, user: u}
)");
  const std::string second = Write("two", R"(current-context: from-two
clusters:
- name: k
  cluster: {server: "https://two:6443"}
- name: k2
  cluster: {server: "https://two-only:6443"}
users:
- name: u
  user: {token: two-token}
contexts:
- name: from-two
  context: {cluster: k2, user: u}
)");
  KubeconfigOptions options;
  options.env = Env({{"KUBECONFIG", first + ":" + (dir_ / "missing").string() + ":" + second}});
  auto merged = LoadKubeconfig(options);
  ASSERT_TRUE(merged.ok()) << merged.error().ToString();
  EXPECT_EQ(merged->server, "https://one:6443");
  EXPECT_EQ(merged->bearer_token, "one-token");
  options.context = "from-two";
  auto other = LoadKubeconfig(options);
  ASSERT_TRUE(other.ok()) << other.error().ToString();
  EXPECT_EQ(other->server, "https://two-only:6443");
  EXPECT_EQ(other->bearer_token, "one-token");  // user "u" came from the first file
}

TEST_F(ConfigTest, FallsBackToHomeKubeConfig) {
  Write("home/.kube/config", kTwoContexts);
  KubeconfigOptions options;
  options.env = Env({{"HOME", (dir_ / "home").string()}});
  auto config = LoadKubeconfig(options);
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->bearer_token, "dev-token");

  options.env = Env({{"HOME", (dir_ / "nobody").string()}});
  auto missing = LoadKubeconfig(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find(".kube/config"), std::string::npos) << missing.error().message;
}

TEST_F(ConfigTest, InClusterReadsServiceAccount) {
  Write("sa/token", "sa-token\n");
  Write("sa/ca.crt", "-----CLUSTER CA-----\n");
  Write("sa/namespace", "kubemend-system");
  InClusterOptions options;
  options.root = (dir_ / "sa").string();
  options.env = Env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}});
  auto config = LoadInClusterConfig(options);
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(config->bearer_token, "sa-token");
  EXPECT_EQ(config->bearer_token_file, (dir_ / "sa" / "token").string());
  EXPECT_EQ(config->ca_pem, "-----CLUSTER CA-----\n");
  EXPECT_EQ(config->default_namespace, "kubemend-system");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
}

TEST_F(ConfigTest, InClusterBracketsIpv6AndDefaultsNamespace) {
  Write("sa/token", "t");
  Write("sa/ca.crt", "ca");
  InClusterOptions options;
  options.root = (dir_ / "sa").string();
  options.env = Env({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "6443"}});
  auto config = LoadInClusterConfig(options);
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->server, "https://[fd00::1]:6443");
  EXPECT_EQ(config->default_namespace, "default");
}

TEST_F(ConfigTest, InClusterErrorsNameWhatIsMissing) {
  InClusterOptions options;
  options.root = (dir_ / "sa").string();
  options.env = Env({});
  auto no_env = LoadInClusterConfig(options);
  ASSERT_FALSE(no_env.ok());
  EXPECT_NE(no_env.error().message.find("KUBERNETES_SERVICE_HOST"), std::string::npos);

  options.env = Env({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}});
  auto no_token = LoadInClusterConfig(options);
  ASSERT_FALSE(no_token.ok());
  EXPECT_NE(no_token.error().message.find((dir_ / "sa" / "token").string()), std::string::npos)
      << no_token.error().message;

  Write("sa/token", "t");
  auto no_ca = LoadInClusterConfig(options);
  ASSERT_FALSE(no_ca.ok());
  EXPECT_NE(no_ca.error().message.find("ca.crt"), std::string::npos) << no_ca.error().message;
}

TEST_F(ConfigTest, DefaultConfigPrefersInCluster) {
  Write("home/.kube/config", kTwoContexts);
  auto from_file = LoadDefaultConfig(Env({{"HOME", (dir_ / "home").string()}}));
  ASSERT_TRUE(from_file.ok()) << from_file.error().ToString();
  EXPECT_EQ(from_file->server, "https://dev.example:6443");
  // With the service env set, in-cluster is chosen (and fails here: no token
  // at the real path, which proves the branch was taken).
  auto in_cluster = LoadDefaultConfig(Env({{"HOME", (dir_ / "home").string()},
                                           {"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                                           {"KUBERNETES_SERVICE_PORT", "443"}}));
  if (!fs::exists("/var/run/secrets/kubernetes.io/serviceaccount/token")) {
    ASSERT_FALSE(in_cluster.ok());
    EXPECT_NE(in_cluster.error().message.find("in-cluster"), std::string::npos);
  }
}

}  // namespace
}  // namespace kubemend::kube
