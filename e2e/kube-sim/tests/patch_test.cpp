#include "api_error.h"
#include "patch.h"

#include <gtest/gtest.h>

namespace kubesim {
namespace {

Json pod() {
  return Json::parse(R"({
    "metadata": {"name": "p", "labels": {"app": "web", "tier": "front"}, "finalizers": ["a"]},
    "spec": {
      "containers": [
        {"name": "app", "image": "nginx:1.25", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
         "ports": [{"containerPort": 80, "protocol": "TCP"}]},
        {"name": "sidecar", "image": "envoy:1"}
      ],
      "tolerations": [{"key": "x", "operator": "Exists"}]
    }
  })");
}

TEST(MergePatchTest, NullDeletesListsReplace) {
  Json out = apply_merge_patch(pod(), Json::parse(R"({"metadata":{"labels":{"tier":null,"new":"1"}},
      "spec":{"containers":[{"name":"only","image":"x"}]}})"));
  EXPECT_EQ(out["metadata"]["labels"], Json::parse(R"({"app":"web","new":"1"})"));
  ASSERT_EQ(out["spec"]["containers"].size(), 1u);
  EXPECT_EQ(out["spec"]["containers"][0]["name"], "only");
}

TEST(StrategicMergePatchTest, ContainersMergeByName) {
  Json out = apply_strategic_merge_patch(pod(), Json::parse(R"({"spec":{"containers":[{"name":"app","image":"nginx:1.26"}]}})"));
  ASSERT_EQ(out["spec"]["containers"].size(), 2u);
  EXPECT_EQ(out["spec"]["containers"][0]["image"], "nginx:1.26");
  EXPECT_EQ(out["spec"]["containers"][0]["env"].size(), 2u);
  EXPECT_EQ(out["spec"]["containers"][1]["name"], "sidecar");
}

TEST(StrategicMergePatchTest, NewElementAppendedAndEnvMergedByName) {
  Json out = apply_strategic_merge_patch(pod(), Json::parse(R"({"spec":{"containers":[
      {"name":"app","env":[{"name":"B","value":"20"},{"name":"C","value":"3"}]},
      {"name":"third","image":"busybox"}]}})"));
  ASSERT_EQ(out["spec"]["containers"].size(), 3u);
  const Json& env = out["spec"]["containers"][0]["env"];
  ASSERT_EQ(env.size(), 3u);
  EXPECT_EQ(env[0], Json::parse(R"({"name":"A","value":"1"})"));
  EXPECT_EQ(env[1], Json::parse(R"({"name":"B","value":"20"})"));
  EXPECT_EQ(env[2]["name"], "C");
  EXPECT_EQ(out["spec"]["containers"][2]["image"], "busybox");
}

TEST(StrategicMergePatchTest, PatchDeleteRemovesElement) {
  Json out = apply_strategic_merge_patch(pod(), Json::parse(R"({"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}})"));
  ASSERT_EQ(out["spec"]["containers"].size(), 1u);
  EXPECT_EQ(out["spec"]["containers"][0]["name"], "app");
}

TEST(StrategicMergePatchTest, PatchReplaceInListAndMap) {
  Json out = apply_strategic_merge_patch(pod(), Json::parse(R"({"spec":{"containers":[{"$patch":"replace"},{"name":"solo","image":"x"}]}})"));
  ASSERT_EQ(out["spec"]["containers"].size(), 1u);
  EXPECT_EQ(out["spec"]["containers"][0]["name"], "solo");
  Json out2 = apply_strategic_merge_patch(pod(), Json::parse(R"({"metadata":{"labels":{"$patch":"replace","only":"1"}}})"));
  EXPECT_EQ(out2["metadata"]["labels"], Json::parse(R"({"only":"1"})"));
}

TEST(StrategicMergePatchTest, AtomicListsReplaceAndFinalizersUnion) {
  Json out = apply_strategic_merge_patch(pod(), Json::parse(R"({"metadata":{"finalizers":["b","a"]},
      "spec":{"tolerations":[{"key":"y","operator":"Exists"}]}})"));
  EXPECT_EQ(out["metadata"]["finalizers"], Json::parse(R"(["a","b"])"));
  ASSERT_EQ(out["spec"]["tolerations"].size(), 1u);
  EXPECT_EQ(out["spec"]["tolerations"][0]["key"], "y");
}

TEST(StrategicMergePatchTest, DirectivesToleratedAndHonoured) {
  Json out = apply_strategic_merge_patch(pod(), Json::parse(R"({
      "metadata":{"$deleteFromPrimitiveList/finalizers":["a"]},
      "spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"app"}],
              "containers":[{"name":"app","image":"nginx:2"}]}})"));
  EXPECT_EQ(out["metadata"]["finalizers"], Json::array());
  ASSERT_EQ(out["spec"]["containers"].size(), 2u);
  EXPECT_EQ(out["spec"]["containers"][0]["name"], "sidecar");
  EXPECT_EQ(out["spec"]["containers"][1]["image"], "nginx:2");
}

TEST(StrategicMergePatchTest, RetainKeysDropsOthers) {
  Json original = Json::parse(R"({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}})");
  Json out = apply_strategic_merge_patch(original, Json::parse(R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})"));
  EXPECT_EQ(out["spec"]["strategy"], Json::parse(R"({"type":"Recreate"})"));
}

TEST(StrategicMergePatchTest, MissingMergeKeyIsInvalid) {
  EXPECT_THROW(apply_strategic_merge_patch(pod(), Json::parse(R"({"spec":{"containers":[{"image":"x"}]}})")), ApiError);
  EXPECT_THROW(apply_strategic_merge_patch(pod(), Json::parse(R"([1])")), ApiError);
}

TEST(StrategicMergePatchTest, MergeKeyTable) {
  EXPECT_EQ(strategic_merge_key("volumeMounts", Json()), "mountPath");
  EXPECT_EQ(strategic_merge_key("ports", Json::parse(R"({"port":80})")), "port");
  EXPECT_EQ(strategic_merge_key("ports", Json::parse(R"({"containerPort":80})")), "containerPort");
  EXPECT_EQ(strategic_merge_key("args", Json()), "");
}

TEST(JsonPatchTest, AllOperations) {
  Json doc = Json::parse(R"({"a":{"b":1},"list":[1,2,3]})");
  Json out = apply_json_patch(doc, Json::parse(R"([
      {"op":"test","path":"/a/b","value":1},
      {"op":"add","path":"/a/c","value":2},
      {"op":"replace","path":"/a/b","value":10},
      {"op":"remove","path":"/list/0"},
      {"op":"add","path":"/list/-","value":4},
      {"op":"copy","from":"/a/c","path":"/d"},
      {"op":"move","from":"/d","path":"/e"}])"));
  EXPECT_EQ(out, Json::parse(R"({"a":{"b":10,"c":2},"list":[2,3,4],"e":2})"));
}

TEST(JsonPatchTest, FailedTestIs422AndMalformedIs400) {
  Json doc = Json::parse(R"({"a":1})");
  try {
    apply_json_patch(doc, Json::parse(R"([{"op":"test","path":"/a","value":2}])"));
    FAIL() << "expected ApiError";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), 422);
  }
  try {
    apply_json_patch(doc, Json::parse(R"({"op":"add"})"));
    FAIL() << "expected ApiError";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), 400);
  }
  EXPECT_THROW(apply_json_patch(doc, Json::parse(R"([{"op":"replace","path":"/missing","value":2}])")), ApiError);
}

}  // namespace
}  // namespace kubesim
