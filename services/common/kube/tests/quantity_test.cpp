#include "kubemend/kube/quantity.h"

#include <string>

#include <gtest/gtest.h>

namespace kubemend::kube {
namespace {

struct CanonicalCase {
  const char* input;
  const char* canonical;
};

// Inputs and canonical outputs from apimachinery's own tables
// (TestQuantityParse, TestQuantityString and their "alternate" spellings) and
// from the "Resource units" page of the Kubernetes documentation.
constexpr CanonicalCase kCanonicalCases[] = {
    // Zero in every family prints as "0".
    {"0", "0"},
    {"0n", "0"},
    {"0Ki", "0"},
    {"0Ei", "0"},
    {"0e5", "0"},
    {"00", "0"},
    {"-0", "0"},
    // Binary suffixes.
    {"1Ki", "1Ki"},
    {"8Ki", "8Ki"},
    {"7Mi", "7Mi"},
    {"6Gi", "6Gi"},
    {"5Ti", "5Ti"},
    {"4Pi", "4Pi"},
    {"3Ei", "3Ei"},
    {"10Ti", "10Ti"},
    {"100Ti", "100Ti"},
    {"123Mi", "123Mi"},
    {"1024Mi", "1Gi"},
    {"307200Ki", "300Mi"},
    {"1025024Mi", "1001Gi"},
    {"1024Gi", "1Ti"},
    {"1025Ki", "1025Ki"},
    // Decimal suffixes.
    {"5n", "5n"},
    {"4u", "4u"},
    {"3m", "3m"},
    {"9", "9"},
    {"8k", "8k"},
    {"50k", "50k"},
    {"7M", "7M"},
    {"6G", "6G"},
    {"5T", "5T"},
    {"40T", "40T"},
    {"300T", "300T"},
    {"2P", "2P"},
    {"1E", "1E"},
    {"12E", "12E"},
    {"129M", "129M"},
    {"128974848", "128974848"},
    {"128974848000m", "128974848"},
    {"1000M", "1G"},
    {"0.001T", "1G"},
    {"1000u", "1m"},
    {"1.08", "1080m"},
    {"1080000000n", "1080m"},
    {"100m", "100m"},
    {"0.5", "500m"},
    {"1.5", "1500m"},
    {"1500", "1500"},
    {"+1", "1"},
    {"-1", "-1"},
    {"-100m", "-100m"},
    // Above "E" there is no SI suffix: an exponent is used.
    {"1000E", "1e21"},
    // Decimal exponents.
    {"1E-3", "1e-3"},
    {"1e3", "1e3"},
    {"1E6", "1e6"},
    {"1e9", "1e9"},
    {"1E12", "1e12"},
    {"1e15", "1e15"},
    {"1E18", "1e18"},
    {"129e6", "129e6"},
    {"1e14", "100e12"},
    {"1e13", "10e12"},
    {".001e12", "1e9"},
    {"0.001e0", "1e-3"},
    {"1000e-12", "1e-9"},
    {"2E-3", "2e-3"},
    {"1.2e3", "1200"},
    {"1.3E+6", "1300e3"},
    {"1.40e9", "1400e6"},
    {"1.53E12", "1530e9"},
    {"1.6e15", "1600e12"},
    {"1.7E18", "1700e15"},
    {"0.5e0", "500e-3"},
    {"0.5e-1", "50e-3"},
    // Things that look like floating point.
    {"0.001", "1m"},
    {"0.0005k", "500m"},
    {"0.005", "5m"},
    {"0.05", "50m"},
    {"0.00050k", "500m"},
    {"0.00500", "5m"},
    {"0.50000", "500m"},
    {"100.035k", "100035"},
    {"10.035M", "10035k"},
    {"9.01", "9010m"},
    {"8.1k", "8100"},
    {"7.123456M", "7123456"},
    {"6.987654321G", "6987654321"},
    {"5.444T", "5444G"},
    {"40.1T", "40100G"},
    {"300.2T", "300200G"},
    {"2.5P", "2500T"},
    {"1.01E", "1010P"},
    // Finer than nano rounds away from zero to the next nano.
    {"3.001n", "4n"},
    {"1.1E-9", "2e-9"},
    {"0.0000000001", "1n"},
    {"0.0000000005", "1n"},
    {"0.5e-9", "1e-9"},
    {"0.9n", "1n"},
    {"0.00000012345", "124n"},
    {"-0.9n", "-1n"},
    // Binary values are capped at 2^63-1.
    {"9Ei", "9223372036854775807"},
    {"9223372036854775807Ki", "9223372036854775807"},
    {"8Ei", "9223372036854775807"},
    {"-9Ei", "-9223372036854775807"},
    // Fractional binary values stay binary only when whole and >= 1Ki.
    {"1.5Gi", "1536Mi"},
    {"0.5Gi", "512Mi"},
    {"0.5Mi", "512Ki"},
    {"0.5Ki", "512"},
    {"100.035Ki", "102435840m"},
    {"0.05Gi", "53687091200m"},
    {"0.025Ti", "27487790694400m"},
    {"1.1Ki", "1126400m"},
    {"0.000000000001Ki", "2n"},
    // Written by trolls, accepted by Kubernetes.
    {".001", "1m"},
    {".0001k", "100m"},
    {"1.", "1"},
    {"1.G", "1G"},
};

TEST(QuantityTest, ParsesAndFormatsLikeApimachinery) {
  for (const auto& c : kCanonicalCases) {
    auto q = Quantity::Parse(c.input);
    ASSERT_TRUE(q.ok()) << c.input << ": " << q.error().ToString();
    EXPECT_EQ(q->ToString(), c.canonical) << "input " << c.input;
    // The canonical form is a fixed point.
    auto again = Quantity::Parse(q->ToString());
    ASSERT_TRUE(again.ok()) << q->ToString();
    EXPECT_EQ(again->ToString(), c.canonical) << "reparsed " << c.input;
    EXPECT_EQ(*again, *q) << "reparsed " << c.input;
  }
}

TEST(QuantityTest, RejectsInvalidStrings) {
  for (const char* bad : {"", ".", "-", "+", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i",
                          "-3.01e-", "  1", "1  ", "+-1", "--1", "1.2.3", "1iM", "1K", "1e", "1e+", "1ee3", "1e3.5",
                          "1Ki5", "1 Gi", "1gi", "1MB", "1e99999999999", "1e40", "1000000000000000000000000000000"}) {
    auto q = Quantity::Parse(bad);
    EXPECT_FALSE(q.ok()) << "accepted \"" << bad << "\" as " << (q.ok() ? q->ToString() : "");
    if (!q.ok()) {
      EXPECT_EQ(q.error().kind, ErrorKind::kInvalid);
      EXPECT_NE(q.error().message.find(std::string("\"") + bad + "\""), std::string::npos) << q.error().message;
    }
  }
}

TEST(QuantityTest, ErrorSaysWhichPartIsWrong) {
  auto q = Quantity::Parse("12MB");
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.error().message.find("unknown suffix \"MB\""), std::string::npos) << q.error().message;
}

TEST(QuantityTest, KeepsValuesAbove64Bits) {
  auto q = Quantity::Parse("18446744073709551616");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->ToString(), "18446744073709551616");
  EXPECT_FALSE(q->ToBytes().ok());
}

TEST(QuantityTest, FormatsFollowTheInput) {
  EXPECT_EQ(Quantity::Parse("1Gi")->format(), QuantityFormat::kBinarySI);
  EXPECT_EQ(Quantity::Parse("1G")->format(), QuantityFormat::kDecimalSI);
  EXPECT_EQ(Quantity::Parse("1e9")->format(), QuantityFormat::kDecimalExponent);
  // A binary value below one cannot be written in binary form.
  EXPECT_EQ(Quantity::Parse("0.0001Ki")->format(), QuantityFormat::kDecimalSI);
}

TEST(QuantityTest, ToBytesRoundsUpAwayFromZero) {
  struct Case {
    const char* input;
    int64_t bytes;
  };
  for (const auto& c : {Case{"123Mi", 128974848}, Case{"129e6", 129000000}, Case{"129M", 129000000},
                        Case{"1Gi", 1073741824}, Case{"1.5", 2}, Case{"100m", 1}, Case{"1n", 1}, Case{"0", 0},
                        Case{"-1.5", -2}, Case{"8Ei", 9223372036854775807}, Case{"1.5Gi", 1610612736}}) {
    auto q = Quantity::Parse(c.input);
    ASSERT_TRUE(q.ok()) << c.input;
    auto bytes = q->ToBytes();
    ASSERT_TRUE(bytes.ok()) << c.input;
    EXPECT_EQ(*bytes, c.bytes) << c.input;
  }
}

TEST(QuantityTest, ToMilliRoundsUp) {
  EXPECT_EQ(*Quantity::Parse("0.1")->ToMilli(), 100);
  EXPECT_EQ(*Quantity::Parse("1n")->ToMilli(), 1);
  EXPECT_EQ(*Quantity::Parse("2")->ToMilli(), 2000);
  EXPECT_EQ(*Quantity::Parse("250m")->ToMilli(), 250);
}

TEST(QuantityTest, FromBytesIsBinary) {
  EXPECT_EQ(Quantity::FromBytes(int64_t{3} << 20).ToString(), "3Mi");
  EXPECT_EQ(Quantity::FromBytes(1536LL << 20).ToString(), "1536Mi");
  EXPECT_EQ(Quantity::FromBytes(1000).ToString(), "1k");  // below 1Ki: decimal
  EXPECT_EQ(Quantity::FromBytes(1025).ToString(), "1025");
  EXPECT_EQ(Quantity::FromBytes(0).ToString(), "0");
  EXPECT_EQ(Quantity::FromMilli(1500).ToString(), "1500m");
}

TEST(QuantityTest, ComparesValuesAcrossFormats) {
  EXPECT_EQ(*Quantity::Parse("1Ki"), *Quantity::Parse("1024"));
  EXPECT_EQ(*Quantity::Parse("1k"), *Quantity::Parse("1e3"));
  EXPECT_LT(*Quantity::Parse("1G"), *Quantity::Parse("1Gi"));
  EXPECT_GT(*Quantity::Parse("1001m"), *Quantity::Parse("1"));
  EXPECT_LT(*Quantity::Parse("-1"), *Quantity::Parse("0"));
  EXPECT_EQ(Compare(*Quantity::Parse("129e6"), *Quantity::Parse("129M")), 0);
  EXPECT_EQ(Compare(*Quantity::Parse("123Mi"), *Quantity::Parse("129M")), -1);
  EXPECT_EQ(Compare(*Quantity::Parse("1.5Gi"), *Quantity::Parse("1536Mi")), 0);
}

}  // namespace
}  // namespace kubemend::kube
