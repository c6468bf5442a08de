#include "policy_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kubemend/common/ids.h"

namespace kubemend::analyzer {
namespace {

namespace fs = std::filesystem;

std::string Doc(const std::string& name, int priority) {
  return "apiVersion: kubemend.io/v1alpha1\nkind: HealingPolicy\nmetadata: {name: " + name +
         "}\nspec:\n  priority: " + std::to_string(priority) +
         "\n  triggers: [{alert: {name: X}}]\n  actions: [{type: RestartPod}]\n";
}

class FileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kubemend-policies-" + NewUuid());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::vector<std::string> Changes(PolicyReloader& r) {
    std::vector<std::string> errors;
    std::vector<std::string> out;
    for (const auto& c : r.Poll(&errors)) {
      out.push_back(c.change + " " + c.ref.name());
    }
    for (const auto& e : errors) {
      out.push_back("error " + e);
    }
    return out;
  }
  fs::path dir_;
};

TEST_F(FileSourceTest, FolderReloadsOnChangeAndKeepsLastGoodOnBadEdit) {
  Write("a.yaml", Doc("one", 1) + "---\n" + Doc("two", 2));
  Write("notes.txt", "ignored");
  FilePolicySource src({dir_.string()});
  PolicyReloader r({&src}, PolicyDefaults());
  EXPECT_EQ(Changes(r), (std::vector<std::string>{"added one", "added two"}));
  EXPECT_TRUE(Changes(r).empty());
  Write("a.yaml", Doc("one", 10) + "---\n" + Doc("two", 2));
  EXPECT_EQ(Changes(r), (std::vector<std::string>{"updated one"}));
  EXPECT_EQ(r.Current()->policies[0].priority, 10);
  Write("a.yaml", Doc("one", 10) + "---\nkind: [broken\n");
  auto c = Changes(r);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rfind("rejected ", 0), 0u) << c[0];
  EXPECT_EQ(r.Current()->policies.size(), 2u);  // the last good set stays
  Write("b.yml", Doc("three", 0));
  EXPECT_EQ(Changes(r), (std::vector<std::string>{"added three"}));
  fs::remove(dir_ / "a.yaml");
  EXPECT_EQ(Changes(r), (std::vector<std::string>{"removed one", "removed two"}));
  EXPECT_EQ(r.Current()->policies.size(), 1u);
}

TEST_F(FileSourceTest, UnreadablePathKeepsPolicies) {
  Write("a.yaml", Doc("one", 1));
  FilePolicySource src({(dir_ / "a.yaml").string()});
  PolicyReloader r({&src}, PolicyDefaults());
  EXPECT_EQ(Changes(r).size(), 1u);
  fs::remove(dir_ / "a.yaml");
  auto c = Changes(r);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].find("does not exist"), std::string::npos);
  EXPECT_EQ(r.Current()->policies.size(), 1u);
}

TEST(MapSourceTest, ACustomResourceWatcherFeedsJson) {
  MapPolicySource crs("kube:healingpolicies");
  PolicyReloader r({&crs}, PolicyDefaults());
  crs.Upsert("kube:shop/restart",
             R"({"apiVersion":"kubemend.io/v1alpha1","kind":"HealingPolicy",
                 "metadata":{"name":"restart","namespace":"shop","resourceVersion":"7"},
                 "spec":{"triggers":[{"alert":{"name":"X"}}],"actions":[{"type":"RestartPod"}]}})");
  std::vector<std::string> errors;
  auto c = r.Poll(&errors);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].change, "added");
  EXPECT_EQ(c[0].ref.name(), "shop/restart");
  EXPECT_EQ(c[0].ref.source(), "kube:shop/restart#0");
  crs.Remove("kube:shop/restart");
  c = r.Poll(&errors);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].change, "removed");
}

}  // namespace
}  // namespace kubemend::analyzer

namespace kubemend::analyzer {
namespace {

v1::Event Change(const std::string& name, const std::string& version, const std::string& change) {
  v1::Event e;
  e.mutable_producer()->set_service("analyzer");
  auto* pc = e.mutable_control()->mutable_policy_change();
  pc->mutable_policy()->set_name(name);
  pc->mutable_policy()->set_version(version);
  pc->set_change(change);
  return e;
}

TEST(RestartAnnouncementTest, OnlyRealChangesAreAnnouncedAfterARestart) {
  auto known = KnownPolicyVersions({Change("a", "v1", "added"), Change("b", "v1", "added"),
                                    Change("c", "v1", "added"), Change("c", "v2", "updated"),
                                    Change("d", "v1", "added"), Change("d", "v1", "removed")},
                                   "analyzer");
  EXPECT_EQ(known, (std::map<std::string, std::string>{{"a", "v1"}, {"b", "v1"}, {"c", "v2"}}));
  PolicySet now;
  std::vector<PolicyChangeRecord> loaded;
  for (const auto& [name, version] : std::vector<std::pair<std::string, std::string>>{
           {"a", "v1"}, {"c", "v3"}, {"e", "v1"}}) {
    Policy p;
    p.ref.set_name(name);
    p.ref.set_version(version);
    now.policies.push_back(p);
    loaded.push_back({p.ref, "added", ""});
  }
  auto out = AgainstKnown(loaded, now, known);
  std::vector<std::string> got;
  for (const auto& c : out) {
    got.push_back(c.change + " " + c.ref.name());
  }
  // a unchanged: silent; c changed while down; e new; b gone.
  EXPECT_EQ(got, (std::vector<std::string>{"updated c", "added e", "removed b"}));
}

}  // namespace
}  // namespace kubemend::analyzer
