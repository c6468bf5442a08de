// The GitOps YAML editor on real-world manifests (vendored byte-identical
// under testdata/upstream, see its README): each edit must change exactly the
// lines of the field, and the edited file must parse to the same objects with
// only that field different.
#include "yaml_edit.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

namespace kubemend::executor::yamledit {
namespace {

std::string Read(const std::string& rel) {
  std::ifstream in(std::string(KUBEMEND_EXECUTOR_TESTDATA) + "/" + rel);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& t) {
  std::vector<std::string> out;
  std::stringstream ss(t);
  std::string l;
  while (std::getline(ss, l)) {
    out.push_back(l);
  }
  return out;
}

// "N: old -> new" for every line that differs; files of equal length only.
std::vector<std::string> Changed(const std::string& a, const std::string& b) {
  auto x = Lines(a), y = Lines(b);
  std::vector<std::string> out;
  if (x.size() != y.size()) {
    out.push_back("line count " + std::to_string(x.size()) + " -> " + std::to_string(y.size()));
    return out;
  }
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] != y[i]) {
      out.push_back(std::to_string(i + 1) + ": " + x[i] + " -> " + y[i]);
    }
  }
  return out;
}

const DocumentInfo& Doc(const std::vector<DocumentInfo>& docs, const std::string& kind, const std::string& name) {
  for (const auto& d : docs) {
    if (d.kind == kind && d.name == name) {
      return d;
    }
  }
  ADD_FAILURE() << "no " << kind << "/" << name;
  static DocumentInfo none;
  return none;
}

TEST(YamlEditTest, FindsEveryDocumentOfAMultiDocumentFile) {
  auto docs = Documents(Read("upstream/kubernetes-examples/guestbook-all-in-one.yaml"));
  ASSERT_EQ(docs.size(), 6u);
  EXPECT_EQ(docs[0].kind, "Service");
  EXPECT_EQ(docs[1].kind, "Deployment");
  EXPECT_EQ(docs[1].name, "redis-master");
  EXPECT_EQ(docs[1].api_version, "apps/v1");  // the trailing comment is not part of it
  EXPECT_EQ(docs[5].name, "frontend");
  EXPECT_EQ(docs[5].ns, "");
}

TEST(YamlEditTest, MemoryLimitOfANamedContainerChangesOneLine) {
  std::string in = Read("upstream/kube-prometheus/kubeStateMetrics-deployment.yaml");
  auto docs = Documents(in);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].ns, "monitoring");
  // The second container: "- args:" opens the item, name comes later.
  auto out = SetScalar(in, docs[0], "spec.template.spec.containers[kube-rbac-proxy-main].resources.limits.memory",
                       "64Mi");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Changed(in, *out), std::vector<std::string>{"67:             memory: 40Mi ->             memory: 64Mi"});
  auto back = GetScalar(*out, docs[0], "spec.template.spec.containers[kube-rbac-proxy-main].resources.limits.memory");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "64Mi");
  YAML::Node n = YAML::Load(*out);
  EXPECT_EQ(n["spec"]["template"]["spec"]["containers"][1]["resources"]["limits"]["memory"].as<std::string>(), "64Mi");
  EXPECT_EQ(n["spec"]["template"]["spec"]["containers"][2]["resources"]["limits"]["memory"].as<std::string>(), "40Mi");
}

TEST(YamlEditTest, MissingLimitsAreAddedBesideRequestsKeepingComments) {
  std::string in = Read("upstream/kubernetes-examples/guestbook-all-in-one.yaml");
  auto docs = Documents(in);
  const auto& d = Doc(docs, "Deployment", "redis-replica");
  auto out = SetScalar(in, d, "spec.template.spec.containers[replica].resources.limits.memory", "256Mi");
  ASSERT_TRUE(out.ok()) << out.status();
  auto a = Lines(in), b = Lines(*out);
  ASSERT_EQ(b.size(), a.size() + 2);
  // Inserted right after requests' last line, at the indentation of requests.
  size_t at = 0;
  for (; at < b.size() && b[at] != "          limits:"; ++at) {
  }
  ASSERT_LT(at, b.size()) << *out;
  EXPECT_EQ(b[at - 1], "            memory: 100Mi");
  EXPECT_EQ(b[at - 2], "            cpu: 100m");
  EXPECT_EQ(b[at + 1], "            memory: 256Mi");
  EXPECT_EQ(b[at + 2], "        env:");
  // Nothing else moved: the rest of the file is the input with those two lines out.
  b.erase(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at) + 2);
  EXPECT_EQ(a, b);
  auto all = YAML::LoadAll(*out);
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[3]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"].as<std::string>(),
            "256Mi");
  EXPECT_FALSE(all[1]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]);  // other docs untouched
}

TEST(YamlEditTest, StatefulSetReplicasAndOddIndentationAndQuotes) {
  std::string in = Read("upstream/kubernetes-examples/cassandra-statefulset.yaml");
  auto docs = Documents(in);
  const auto& d = Doc(docs, "StatefulSet", "cassandra");
  auto out = SetScalar(in, d, "spec.replicas", "4");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Changed(in, *out), std::vector<std::string>{"9:   replicas: 3 ->   replicas: 4"});
  // requests here is indented by 3, not 2; and cpu is quoted: both kept.
  auto req = SetScalar(*out, d, "spec.template.spec.containers[cassandra].resources.requests.memory", "2Gi");
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(Changed(*out, *req), std::vector<std::string>{"38:            memory: 1Gi ->            memory: 2Gi"});
  auto cpu = SetScalar(*req, d, "spec.template.spec.containers[cassandra].resources.limits.cpu", "750m");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ(Changed(*req, *cpu), std::vector<std::string>{"34:             cpu: \"500m\" ->             cpu: \"750m\""});
  // The StorageClass after the separator is still there and unchanged.
  auto all = YAML::LoadAll(*cpu);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1]["provisioner"].as<std::string>(), "k8s.io/minikube-hostpath");
}

TEST(YamlEditTest, HpaMaxReplicasAmongLongComments) {
  std::string in = Read("upstream/kubernetes-examples/horizontal-pod-autoscaler.yaml");
  auto docs = Documents(in);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].kind, "HorizontalPodAutoscaler");
  auto out = SetScalar(in, docs[0], "spec.maxReplicas", "8");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Changed(in, *out), std::vector<std::string>{"17:   maxReplicas: 5 ->   maxReplicas: 8"});
  EXPECT_EQ(in.back() == '\n', out->back() == '\n');  // the file's last-line form kept
}

TEST(YamlEditTest, PvcStorageRequest) {
  std::string in = Read("upstream/kubernetes-examples/pvc.yaml");
  auto docs = Documents(in);
  auto out = SetScalar(in, docs[0], "spec.resources.requests.storage", "2Gi");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Changed(in, *out), std::vector<std::string>{"10:       storage: 1Gi ->       storage: 2Gi"});
}

TEST(YamlEditTest, ImageWithRegistryPortAndTrailingComment) {
  std::string in = Read("upstream/kubernetes-examples/guestbook-all-in-one.yaml");
  auto docs = Documents(in);
  const auto& d = Doc(docs, "Deployment", "redis-master");
  auto out = SetScalar(in, d, "spec.template.spec.containers[master].image", "registry.local:5000/redis:7.2");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Changed(in, *out),
            std::vector<std::string>{"38:         image: registry.k8s.io/redis:e2e  # or just image: redis ->         "
                                     "image: registry.local:5000/redis:7.2  # or just image: redis"});
}

constexpr const char* kAnchored = R"(# shared sizes
x-sizes: &sizes
  small: &small 128Mi
  big: 1Gi
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # the shop front
  namespace: shop
spec:
  replicas: &r 2
  template:
    spec:
      containers:
        - name: app
          image: 'shop/web:v1'
          resources:
            limits:
              memory: &mem 256Mi
            requests:
              memory: *mem
        - name: "sidecar"
          resources: {}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: shop}
spec:
  maxReplicas: 4
)";

TEST(YamlEditTest, AnchorsAliasesAndEmptyFlowMaps) {
  std::string in = kAnchored;
  auto docs = Documents(in);
  ASSERT_EQ(docs.size(), 3u);
  const auto& d = Doc(docs, "Deployment", "web");
  EXPECT_EQ(d.ns, "shop");
  EXPECT_EQ(Doc(docs, "HorizontalPodAutoscaler", "web").ns, "shop");  // flow-style metadata is still read
  // The limit carries an anchor the request aliases: changing it would change the request too.
  auto refused = SetScalar(in, d, "spec.template.spec.containers[app].resources.limits.memory", "384Mi");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("anchor &mem"), std::string::npos) << refused.status();
  // The alias itself becomes the literal: only the request changes.
  auto req = SetScalar(in, d, "spec.template.spec.containers[app].resources.requests.memory", "192Mi");
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(Changed(in, *req), std::vector<std::string>{"22:               memory: *mem ->               memory: 192Mi"});
  // An anchor nobody aliases is kept on the new value.
  auto rep = SetScalar(in, d, "spec.replicas", "3");
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(Changed(in, *rep), std::vector<std::string>{"12:   replicas: &r 2 ->   replicas: &r 3"});
  // Single quotes kept; a quoted name still selects its element; {} becomes a block.
  auto img = SetScalar(in, d, "spec.template.spec.containers[app].image", "shop/web:v0");
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(Changed(in, *img),
            std::vector<std::string>{"17:           image: 'shop/web:v1' ->           image: 'shop/web:v0'"});
  auto side = SetScalar(in, d, "spec.template.spec.containers[sidecar].resources.limits.memory", "64Mi");
  ASSERT_TRUE(side.ok()) << side.status();
  EXPECT_NE(side->find("          resources:\n            limits:\n              memory: 64Mi\n---"), std::string::npos)
      << *side;
  auto all = YAML::LoadAll(*side);
  EXPECT_EQ(all[1]["spec"]["template"]["spec"]["containers"][1]["resources"]["limits"]["memory"].as<std::string>(),
            "64Mi");
  EXPECT_EQ(all[0]["x-sizes"]["small"].as<std::string>(), "128Mi");
}

TEST(YamlEditTest, RefusesWhatItCannotEditSafely) {
  std::string in = kAnchored;
  auto docs = Documents(in);
  const auto& hpa = Doc(docs, "HorizontalPodAutoscaler", "web");
  auto flow = SetScalar(in, hpa, "metadata.name", "x");
  ASSERT_FALSE(flow.ok());
  EXPECT_NE(flow.status().message().find("flow style"), std::string::npos) << flow.status();
  EXPECT_NE(flow.status().message().find("line 28"), std::string::npos) << flow.status();
  const auto& d = Doc(docs, "Deployment", "web");
  auto missing = SetScalar(in, d, "spec.template.spec.containers[nope].image", "x");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  std::string block = "kind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: |\n    text\n";
  auto b = SetScalar(block, Documents(block)[0], "data.a", "x");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("block scalar"), std::string::npos);
}

TEST(YamlEditTest, ValuesThatWouldChangeTypeAreQuoted) {
  std::string in = "kind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    metadata:\n      annotations:\n"
                   "        x: y\n";
  auto out = SetScalar(in, Documents(in)[0], "spec.template.metadata.annotations[\"example.com/flag\"]", "true");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NE(out->find("        example.com/flag: \"true\"\n"), std::string::npos) << *out;
  EXPECT_EQ(YAML::Load(*out)["spec"]["template"]["metadata"]["annotations"]["x"].as<std::string>(), "y");
}

}  // namespace
}  // namespace kubemend::executor::yamledit
