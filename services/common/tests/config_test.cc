#include "kubemend/common/config.h"

#include <gtest/gtest.h>

namespace kubemend {
namespace {

struct Cfg {
  std::string brokers = "localhost:9092";
  int64_t batch = 100;
  bool dry = false;
  std::chrono::milliseconds timeout{1000};
  std::vector<std::string> namespaces;
  std::map<std::string, std::string> props;
  std::string mode = "automatic";
};

ConfigSchema Schema(Cfg* c) {
  ConfigSchema s;
  s.Add("kafka.brokers", &c->brokers, "brokers");
  s.Add("kafka.properties", &c->props, "props");
  s.Add("audit.batch_size", &c->batch, "batch", 1, 10000);
  s.Add("dry_run", &c->dry, "dry");
  s.Add("timeout", &c->timeout, "timeout");
  s.Add("protected.namespaces", &c->namespaces, "ns");
  s.AddEnum("mode", &c->mode, {"monitor", "automatic"}, "mode");
  return s;
}

TEST(ConfigTest, YamlValuesThenEnvironmentOverrides) {
  Cfg c;
  auto s = Schema(&c);
  auto st = s.LoadYaml(YAML::Load("kafka: {brokers: a:1, properties: {acks: all}}\n"
                                  "audit: {batch_size: 50}\ndry_run: true\ntimeout: 2s\n"
                                  "protected: {namespaces: [kube-system, x]}\n"),
                       "test.yaml",
                       {{"KUBEMEND_KAFKA_BROKERS", "b:2"}, {"KUBEMEND_PROTECTED_NAMESPACES", "p, q"}});
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(c.brokers, "b:2");
  EXPECT_EQ(c.batch, 50);
  EXPECT_TRUE(c.dry);
  EXPECT_EQ(c.timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(c.namespaces, (std::vector<std::string>{"p", "q"}));
  EXPECT_EQ(c.props["acks"], "all");
}

TEST(ConfigTest, RejectsUnknownKeyNamingIt) {
  Cfg c;
  auto s = Schema(&c);
  auto st = s.LoadYaml(YAML::Load("kafka: {brokerz: a}\n"), "svc.yaml", {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("kafka.brokerz"), std::string::npos) << st;
  EXPECT_NE(st.message().find("svc.yaml"), std::string::npos) << st;
}

TEST(ConfigTest, RejectsBadValuesWithTheReason) {
  Cfg c;
  auto s = Schema(&c);
  EXPECT_FALSE(s.LoadYaml(YAML::Load("audit: {batch_size: lots}"), "f", {}).ok());
  EXPECT_FALSE(s.LoadYaml(YAML::Load("audit: {batch_size: 0}"), "f", {}).ok());
  EXPECT_FALSE(s.LoadYaml(YAML::Load("timeout: 5 parsecs"), "f", {}).ok());
  auto st = s.LoadYaml(YAML::Load("mode: yolo"), "f", {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("monitor, automatic"), std::string::npos) << st;
  st = s.LoadYaml(YAML::Node(), "f", {{"KUBEMEND_DRY_RUN", "maybe"}});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("KUBEMEND_DRY_RUN"), std::string::npos) << st;
}

TEST(ConfigTest, EnvNames) {
  EXPECT_EQ(EnvNameForKey("kafka.topic_prefix"), "KUBEMEND_KAFKA_TOPIC_PREFIX");
  EXPECT_EQ(EnvNameForKey("safety-gate.x"), "KUBEMEND_SAFETY_GATE_X");
}

TEST(ConfigTest, Durations) {
  std::chrono::milliseconds d;
  ASSERT_TRUE(ParseDuration("250ms", &d).ok());
  EXPECT_EQ(d.count(), 250);
  ASSERT_TRUE(ParseDuration("1.5m", &d).ok());
  EXPECT_EQ(d.count(), 90000);
  ASSERT_TRUE(ParseDuration("1d", &d).ok());
  EXPECT_EQ(d.count(), 86400000);
  EXPECT_FALSE(ParseDuration("-1s", &d).ok());
  EXPECT_FALSE(ParseDuration("s", &d).ok());
}

}  // namespace
}  // namespace kubemend
