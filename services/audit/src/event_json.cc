#include "event_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/strutil.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <cmath>
#include <vector>

namespace kubemend::audit {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// The range google.protobuf.Timestamp allows (0001-01-01 .. 9999-12-31).
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

bool ValidUtf8(const std::string& s) {
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c >> 5) == 0x6) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c >> 4) == 0xe) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c >> 3) == 0x1e) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) {
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;  // overlong, beyond Unicode, or a surrogate
    }
    i += len;
  }
  return true;
}

// A JSON string; false when `s` is not UTF-8.
bool PutString(std::string& out, const std::string& s) {
  out += '"';
  bool ascii = true;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          static const char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          ascii = ascii && c < 0x80;
          out += ch;
        }
    }
  }
  out += '"';
  return ascii || ValidUtf8(s);
}

template <class T>
void PutFloating(std::string& out, T v, std::string (*format)(T)) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
  } else if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    out += format(v);
  }
}

bool PutMessage(std::string& out, const Message& m);

// One value of field `f` of `m` (element `index` when repeated, else -1).
bool PutValue(std::string& out, const Message& m, const FieldDescriptor* f, int index) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      out += std::to_string(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
      return true;
    case FieldDescriptor::CPPTYPE_UINT32:
      out += std::to_string(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
      return true;
    case FieldDescriptor::CPPTYPE_INT64:
      out += '"' + std::to_string(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f)) + '"';
      return true;
    case FieldDescriptor::CPPTYPE_UINT64:
      out += '"' + std::to_string(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f)) + '"';
      return true;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      PutFloating<double>(out, rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f),
                          &google::protobuf::SimpleDtoa);
      return true;
    case FieldDescriptor::CPPTYPE_FLOAT:
      PutFloating<float>(out, rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f),
                         &google::protobuf::SimpleFtoa);
      return true;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
      return true;
    case FieldDescriptor::CPPTYPE_ENUM: {
      int v = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      if (const auto* ev = f->enum_type()->FindValueByNumber(v)) {
        out += '"' + ev->name() + '"';
      } else {
        out += std::to_string(v);  // a value this build does not know
      }
      return true;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                 : r->GetStringReference(m, f, &scratch);
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        std::string b64;
        google::protobuf::Base64Escape(s, &b64);
        out += '"' + b64 + '"';
        return true;
      }
      return PutString(out, s);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return PutMessage(out, rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
  }
  return false;
}

// A map field: an object keyed by the entries' keys as strings.
bool PutMap(std::string& out, const Message& m, const FieldDescriptor* f) {
  const Reflection* r = m.GetReflection();
  const FieldDescriptor* key = f->message_type()->map_key();
  const FieldDescriptor* value = f->message_type()->map_value();
  out += '{';
  for (int i = 0; i < r->FieldSize(m, f); ++i) {
    const Message& entry = r->GetRepeatedMessage(m, f, i);
    if (i > 0) {
      out += ',';
    }
    if (key->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      if (!PutString(out, entry.GetReflection()->GetString(entry, key))) {
        return false;
      }
    } else {
      std::string k;
      if (!PutValue(k, entry, key, -1)) {
        return false;
      }
      if (k.front() != '"') {
        k = '"' + k + '"';
      }
      out += k;
    }
    out += ':';
    if (!PutValue(out, entry, value, -1)) {
      return false;
    }
  }
  out += '}';
  return true;
}

bool PutTimestamp(std::string& out, const Message& m) {
  const Descriptor* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  google::protobuf::Timestamp ts;
  ts.set_seconds(r->GetInt64(m, d->FindFieldByNumber(1)));
  ts.set_nanos(r->GetInt32(m, d->FindFieldByNumber(2)));
  if (ts.seconds() < kMinTimestampSeconds || ts.seconds() > kMaxTimestampSeconds ||
      ts.nanos() < 0 || ts.nanos() >= 1000000000) {
    return false;  // MessageToJsonString refuses it; let it say how
  }
  out += '"' + google::protobuf::util::TimeUtil::ToString(ts) + '"';
  return true;
}

bool PutMessage(std::string& out, const Message& m) {
  const Descriptor* d = m.GetDescriptor();
  if (d->full_name() == "google.protobuf.Timestamp") {
    return PutTimestamp(out, m);
  }
  if (d->file()->package() == "google.protobuf") {
    return false;  // Any, Struct, Duration, wrappers...: special JSON forms
  }
  const Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);  // by number, as serialized; proto3 defaults left out
  out += '{';
  bool first = true;
  for (const FieldDescriptor* f : fields) {
    if (f->is_extension()) {
      return false;
    }
    if (!first) {
      out += ',';
    }
    first = false;
    out += '"';
    out += f->name();
    out += "\":";
    if (f->is_map()) {
      if (!PutMap(out, m, f)) {
        return false;
      }
    } else if (f->is_repeated()) {
      out += '[';
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        if (i > 0) {
          out += ',';
        }
        if (!PutValue(out, m, f, i)) {
          return false;
        }
      }
      out += ']';
    } else if (!PutValue(out, m, f, -1)) {
      return false;
    }
  }
  out += '}';
  return true;
}

}  // namespace

std::string EventJson(const Message& m) {
  std::string out;
  out.reserve(512);
  if (PutMessage(out, m)) {
    return out;
  }
  out.clear();
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

}  // namespace kubemend::audit
