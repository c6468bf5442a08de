#include "event_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "kubemend/v1/events.pb.h"

namespace kubemend::audit {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string Reference(const Message& m) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

// Fills every kind of field with values that stress the JSON rules: escapes,
// multi-byte text, NUL, extremes of each integer type, -0, NaN, infinities,
// exponents, unknown enum numbers, empty messages, maps and repeated fields.
class Filler {
 public:
  explicit Filler(uint64_t seed, int max_map_entries) : rng_(seed), max_map_(max_map_entries) {}

  void Fill(Message* m, int depth) {
    const Descriptor* d = m->GetDescriptor();
    const Reflection* r = m->GetReflection();
    if (d->full_name() == "google.protobuf.Timestamp") {
      static const int32_t kNanos[] = {0, 5000000, 123000, 1, 999999999};
      r->SetInt64(m, d->FindFieldByNumber(1), static_cast<int64_t>(rng_() % 253402300800) - 62135596800 / 2);
      r->SetInt32(m, d->FindFieldByNumber(2), kNanos[rng_() % 5]);
      return;
    }
    // One member of each oneof (or none), each payload kind equally often.
    std::vector<const FieldDescriptor*> chosen;
    for (int o = 0; o < d->oneof_decl_count(); ++o) {
      const auto* oneof = d->oneof_decl(o);
      auto pick = rng_() % static_cast<uint64_t>(oneof->field_count() + 1);
      if (pick < static_cast<uint64_t>(oneof->field_count())) {
        chosen.push_back(oneof->field(static_cast<int>(pick)));
      }
    }
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (f->containing_oneof() != nullptr) {
        if (std::find(chosen.begin(), chosen.end(), f) == chosen.end()) {
          continue;
        }
      } else if (rng_() % 3 == 0) {
        continue;
      }
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && depth > 4) {
        continue;
      }
      if (f->is_map()) {
        int n = static_cast<int>(rng_() % static_cast<uint64_t>(max_map_ + 1));
        for (int k = 0; k < n; ++k) {
          Message* e = r->AddMessage(m, f);
          SetOne(e, f->message_type()->map_key(), depth + 1);
          SetOne(e, f->message_type()->map_value(), depth + 1);
        }
      } else if (f->is_repeated()) {
        int n = static_cast<int>(rng_() % 3);
        for (int k = 0; k < n; ++k) {
          AddOne(m, f, depth + 1);
        }
      } else {
        SetOne(m, f, depth + 1);
      }
    }
  }

 private:
  std::string Str() {
    static const std::vector<std::string> kPool = {
        "", "plain", "tab\t quote\" back\\slash newline\n cr\r", "é ✓ 𝄞 日本", "ctrl\x01\x1f\x7f",
        "<script>&'", "\u2028\u2029", std::string("nul\0in", 6), "default"};
    return kPool[rng_() % kPool.size()];
  }
  double Dbl() {
    static const double kPool[] = {0.0, -0.0, 0.1, 1.5, 1e300, -2.5e-10, 123456789.123, 1e21, 1e-7,
                                   std::numeric_limits<double>::quiet_NaN(),
                                   std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity(), 0.30000000000000004};
    return kPool[rng_() % (sizeof kPool / sizeof kPool[0])];
  }
  int64_t I64() {
    static const int64_t kPool[] = {0, 1, -1, std::numeric_limits<int64_t>::min(),
                                    std::numeric_limits<int64_t>::max(), 1767225600123};
    return kPool[rng_() % 6];
  }
  int EnumNumber(const FieldDescriptor* f) {
    if (rng_() % 5 == 0) {
      return 999;  // not in this build's enum: printed as a number
    }
    return f->enum_type()->value(static_cast<int>(rng_() % static_cast<uint64_t>(f->enum_type()->value_count())))->number();
  }
  void SetOne(Message* m, const FieldDescriptor* f, int depth) {
    const Reflection* r = m->GetReflection();
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: r->SetInt32(m, f, static_cast<int32_t>(I64())); break;
      case FieldDescriptor::CPPTYPE_UINT32: r->SetUInt32(m, f, static_cast<uint32_t>(I64())); break;
      case FieldDescriptor::CPPTYPE_INT64: r->SetInt64(m, f, I64()); break;
      case FieldDescriptor::CPPTYPE_UINT64: r->SetUInt64(m, f, static_cast<uint64_t>(I64())); break;
      case FieldDescriptor::CPPTYPE_DOUBLE: r->SetDouble(m, f, Dbl()); break;
      case FieldDescriptor::CPPTYPE_FLOAT: r->SetFloat(m, f, static_cast<float>(Dbl())); break;
      case FieldDescriptor::CPPTYPE_BOOL: r->SetBool(m, f, rng_() % 2 == 0); break;
      case FieldDescriptor::CPPTYPE_ENUM: r->SetEnumValue(m, f, EnumNumber(f)); break;
      case FieldDescriptor::CPPTYPE_STRING: r->SetString(m, f, Str()); break;
      case FieldDescriptor::CPPTYPE_MESSAGE: Fill(r->MutableMessage(m, f), depth); break;
    }
  }
  void AddOne(Message* m, const FieldDescriptor* f, int depth) {
    const Reflection* r = m->GetReflection();
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: r->AddInt32(m, f, static_cast<int32_t>(I64())); break;
      case FieldDescriptor::CPPTYPE_UINT32: r->AddUInt32(m, f, static_cast<uint32_t>(I64())); break;
      case FieldDescriptor::CPPTYPE_INT64: r->AddInt64(m, f, I64()); break;
      case FieldDescriptor::CPPTYPE_UINT64: r->AddUInt64(m, f, static_cast<uint64_t>(I64())); break;
      case FieldDescriptor::CPPTYPE_DOUBLE: r->AddDouble(m, f, Dbl()); break;
      case FieldDescriptor::CPPTYPE_FLOAT: r->AddFloat(m, f, static_cast<float>(Dbl())); break;
      case FieldDescriptor::CPPTYPE_BOOL: r->AddBool(m, f, rng_() % 2 == 0); break;
      case FieldDescriptor::CPPTYPE_ENUM: r->AddEnumValue(m, f, EnumNumber(f)); break;
      case FieldDescriptor::CPPTYPE_STRING: r->AddString(m, f, Str()); break;
      case FieldDescriptor::CPPTYPE_MESSAGE: Fill(r->AddMessage(m, f), depth); break;
    }
  }
  std::mt19937_64 rng_;
  int max_map_;
};

// The number literals of a JSON text, in order (strings skipped).
std::vector<std::string> Numbers(const std::string& json) {
  std::vector<std::string> out;
  for (size_t i = 0; i < json.size(); ++i) {
    if (json[i] == '"') {
      for (++i; i < json.size() && json[i] != '"'; ++i) {
        if (json[i] == '\\') {
          ++i;
        }
      }
      continue;
    }
    if (json[i] == '-' || (json[i] >= '0' && json[i] <= '9')) {
      size_t j = i;
      while (j < json.size() && std::string("-+.eE0123456789").find(json[j]) != std::string::npos) {
        ++j;
      }
      out.push_back(json.substr(i, j - i));
      i = j - 1;
    }
  }
  return out;
}

TEST(EventJsonTest, MatchesProtobufsPrinterOnRandomlyFilledEvents) {
  int compared = 0;
  for (int max_map : {1, 3}) {
    for (uint64_t seed = 1; seed <= 400; ++seed) {
      v1::Event e;
      Filler(seed * 7919 + static_cast<uint64_t>(max_map), max_map).Fill(&e, 0);
      const std::string mine = EventJson(e);
      const std::string ref = Reference(e);
      SCOPED_TRACE("seed " + std::to_string(seed) + "\nmine: " + mine + "\nref:  " + ref);
      ASSERT_FALSE(ref.empty());
      auto a = nlohmann::json::parse(mine, nullptr, false);
      auto b = nlohmann::json::parse(ref, nullptr, false);
      ASSERT_FALSE(a.is_discarded());
      ASSERT_FALSE(b.is_discarded());
      EXPECT_EQ(a, b);
      if (max_map == 1) {
        // Same field order then: numbers must be the same text too (jsonb
        // keeps a number's digits, so 1.5 and 1.50 would be different rows).
        EXPECT_EQ(Numbers(mine), Numbers(ref));
      }
      ++compared;
    }
  }
  EXPECT_EQ(compared, 800);
}

TEST(EventJsonTest, WhatItDoesNotPrintItselfComesFromProtobuf) {
  v1::Event e;
  e.set_event_id("x");
  e.mutable_occurred_at()->set_seconds(253402300800);  // after 9999-12-31: protobuf refuses
  EXPECT_EQ(EventJson(e), Reference(e));
  e.mutable_occurred_at()->set_seconds(1);
  e.mutable_occurred_at()->set_nanos(-1);
  EXPECT_EQ(EventJson(e), Reference(e));
}

}  // namespace
}  // namespace kubemend::audit
