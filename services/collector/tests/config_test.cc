#include "collector_config.h"

#include <gtest/gtest.h>

namespace kubemend::collector {
namespace {

absl::Status Load(const std::string& yaml, CollectorConfig* cfg, const Env& env = {}) {
  ConfigSchema schema;
  AddCollectorKeys(schema, cfg);
  if (auto st = schema.LoadYaml(YAML::Load(yaml), "test.yaml", env); !st.ok()) {
    return st;
  }
  return FinishCollectorConfig(cfg, env);
}

TEST(CollectorConfigTest, ShippedConfigLoads) {
  CollectorConfig cfg;
  ConfigSchema schema;
  AddCollectorKeys(schema, &cfg);
  ASSERT_TRUE(schema.Load(std::string(KUBEMEND_FUZZ_CORPUS) + "/../../config.yaml", {}).ok());
  ASSERT_TRUE(FinishCollectorConfig(&cfg, {}).ok());
  EXPECT_TRUE(cfg.webhook.enabled);
  EXPECT_FALSE(cfg.kube_enabled);  // auto, and no kubeconfig in this env
}

TEST(CollectorConfigTest, StructuredListsAreValidatedWithTheirKey) {
  CollectorConfig cfg;
  auto st = Load("health_checks:\n  enabled: true\n  checks:\n    - {name: a, namespace: n, target: Pod/p, type: ftp}\n",
                 &cfg);
  EXPECT_EQ(st.message(), "health_checks.checks[0].type: must be http, tcp or custom, got \"ftp\"");
  CollectorConfig c2;
  st = Load("cost:\n  enabled: true\n", &c2);
  EXPECT_EQ(st.message(), "cost.budgets: cost.enabled is true but no budget is configured");
  CollectorConfig c3;
  st = Load("health_checks:\n  checks:\n    - {name: a, namespace: n, target: Pod/p, type: command}\n", &c3);
  EXPECT_NE(std::string(st.message()).find("use type custom"), std::string::npos);
}

TEST(CollectorConfigTest, KubernetesAutoFollowsKubeconfigAndDedupFileIsInTheStateDir) {
  CollectorConfig cfg;
  ASSERT_TRUE(Load("runtime:\n  ready_file: /run/x/collector.ready\n  state_dir: /var/lib/kubemend\n", &cfg,
                   {{"KUBECONFIG", "/k"}})
                  .ok());
  EXPECT_TRUE(cfg.kube_enabled);
  EXPECT_EQ(cfg.dedup.state_file, "/var/lib/kubemend/collector.dedup");
  // No state dir: $TMPDIR, else /tmp; never the (read-only) working directory.
  CollectorConfig tmp;
  ASSERT_TRUE(Load("runtime:\n  ready_file: collector.ready\n", &tmp, {{"TMPDIR", "/scratch"}}).ok());
  EXPECT_EQ(tmp.dedup.state_file, "/scratch/collector.dedup");
  CollectorConfig bare;
  ASSERT_TRUE(Load("cluster: c\n", &bare).ok());
  EXPECT_EQ(bare.dedup.state_file, "/tmp/collector.dedup");
  CollectorConfig off;
  ASSERT_TRUE(Load("kubernetes:\n  enabled: \"false\"\n", &off, {{"KUBECONFIG", "/k"}}).ok());
  EXPECT_FALSE(off.kube_enabled);
}

}  // namespace
}  // namespace kubemend::collector
