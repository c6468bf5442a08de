#include "kubemend/kube/resources.h"

#include <gtest/gtest.h>

namespace kubemend::kube {
namespace {

TEST(ResourcesTest, CorePathsUseApiV1) {
  EXPECT_EQ(CollectionPath(resources::kPods, "shop"), "/api/v1/namespaces/shop/pods");
  EXPECT_EQ(CollectionPath(resources::kPods, ""), "/api/v1/pods");
  EXPECT_EQ(ObjectPath(Pod("shop", "web-0")), "/api/v1/namespaces/shop/pods/web-0");
  EXPECT_EQ(ObjectPath(Pod("shop", "web-0").Subresource("eviction")),
            "/api/v1/namespaces/shop/pods/web-0/eviction");
  EXPECT_EQ(ObjectPath(Node("node-1")), "/api/v1/nodes/node-1");
}

TEST(ResourcesTest, ClusterScopedTypesIgnoreTheNamespace) {
  EXPECT_EQ(CollectionPath(resources::kNodes, "shop"), "/api/v1/nodes");
  EXPECT_EQ(CollectionPath(resources::kNamespaces, ""), "/api/v1/namespaces");
  EXPECT_EQ(ObjectPath({resources::kStorageClasses, "", "standard", ""}),
            "/apis/storage.k8s.io/v1/storageclasses/standard");
}

TEST(ResourcesTest, GroupedPathsUseApis) {
  EXPECT_EQ(ObjectPath(Deployment("shop", "web").Subresource("scale")),
            "/apis/apps/v1/namespaces/shop/deployments/web/scale");
  EXPECT_EQ(CollectionPath(resources::kHorizontalPodAutoscalers, "shop"),
            "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers");
  EXPECT_EQ(CollectionPath(resources::kPodDisruptionBudgets, "shop"),
            "/apis/policy/v1/namespaces/shop/poddisruptionbudgets");
  EXPECT_EQ(CollectionPath(resources::kJobs, "ci"), "/apis/batch/v1/namespaces/ci/jobs");
  EXPECT_EQ(resources::kHorizontalPodAutoscalers.ApiVersion(), "autoscaling/v2");
  EXPECT_EQ(resources::kPods.ApiVersion(), "v1");
}

TEST(ResourcesTest, EncodesUnsafeCharacters) {
  EXPECT_EQ(UrlEncode("app=web,tier!=db"), "app%3Dweb%2Ctier%21%3Ddb");
  EXPECT_EQ(UrlEncode("a b/c"), "a%20b%2Fc");
  EXPECT_EQ(UrlEncode("safe-._~09AZaz"), "safe-._~09AZaz");
}

}  // namespace
}  // namespace kubemend::kube
