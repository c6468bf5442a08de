#include "kubemend/common/ids.h"

#include <gtest/gtest.h>

#include <set>

namespace kubemend {
namespace {

TEST(IdsTest, UuidsAreUniqueAndWellFormed) {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    std::string id = NewUuid();
    ASSERT_EQ(id.size(), 36u);
    ASSERT_EQ(id[14], '4');
    ASSERT_TRUE(seen.insert(id).second);
  }
}

TEST(IdsTest, DerivedIdsAreStablePerParentAndPurpose) {
  EXPECT_EQ(DerivedUuid("a", "proposal"), DerivedUuid("a", "proposal"));
  EXPECT_NE(DerivedUuid("a", "proposal"), DerivedUuid("b", "proposal"));
  EXPECT_NE(DerivedUuid("a", "proposal"), DerivedUuid("a", "decision"));
  EXPECT_EQ(DerivedUuid("a", "x")[14], '5');
}

TEST(IdsTest, TraceparentKeepsTheTraceAcrossChildren) {
  std::string root = NewTraceparent();
  ASSERT_EQ(root.size(), 55u);
  std::string child = ChildTraceparent(root);
  EXPECT_EQ(TraceIdOf(child), TraceIdOf(root));
  EXPECT_NE(child, root);
  EXPECT_EQ(TraceIdOf("garbage"), "");
  EXPECT_EQ(ChildTraceparent("garbage").size(), 55u);
}

TEST(IdsTest, Sha256OfKnownInput) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace kubemend
