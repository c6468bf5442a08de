#include "protobuf.h"

#include "api_error.h"

#include <cstdint>
#include <ctime>
#include <map>
#include <string_view>
#include <vector>

namespace kubesim {
namespace {

using Json = nlohmann::json;

enum class Type { kString, kInt, kBool, kMessage, kStringMap, kQuantityMap, kTime, kIntOrString };

struct Message;
struct Field {
  int number;
  const char* name;
  Type type;
  bool repeated = false;
  const Message* message = nullptr;
  bool pointer = false;  // a Go pointer field: present means set, even when zero
};
struct Message {
  const char* name;
  std::vector<Field> fields;
  bool ignored = false;  // status: the server drops it on create; decoded as {}
};

// Field numbers from k8s.io/api and k8s.io/apimachinery generated.proto (v1.37).
const Message kLabelSelectorRequirement{"LabelSelectorRequirement",
                                        {{1, "key", Type::kString}, {2, "operator", Type::kString},
                                         {3, "values", Type::kString, true}}};
const Message kLabelSelector{"LabelSelector",
                             {{1, "matchLabels", Type::kStringMap},
                              {2, "matchExpressions", Type::kMessage, true, &kLabelSelectorRequirement}}};
const Message kObjectMeta{"ObjectMeta",
                          {{1, "name", Type::kString},
                           {2, "generateName", Type::kString},
                           {3, "namespace", Type::kString},
                           {5, "uid", Type::kString},
                           {6, "resourceVersion", Type::kString},
                           {7, "generation", Type::kInt},
                           {8, "creationTimestamp", Type::kTime},
                           {11, "labels", Type::kStringMap},
                           {12, "annotations", Type::kStringMap},
                           {14, "finalizers", Type::kString, true}}};
const Message kEnvVar{"EnvVar", {{1, "name", Type::kString}, {2, "value", Type::kString}}};
const Message kContainerPort{"ContainerPort",
                             {{1, "name", Type::kString},
                              {2, "hostPort", Type::kInt},
                              {3, "containerPort", Type::kInt},
                              {4, "protocol", Type::kString},
                              {5, "hostIP", Type::kString}}};
const Message kResources{"ResourceRequirements",
                         {{1, "limits", Type::kQuantityMap}, {2, "requests", Type::kQuantityMap}}};
const Message kContainer{"Container",
                         {{1, "name", Type::kString},
                          {2, "image", Type::kString},
                          {3, "command", Type::kString, true},
                          {4, "args", Type::kString, true},
                          {5, "workingDir", Type::kString},
                          {6, "ports", Type::kMessage, true, &kContainerPort},
                          {7, "env", Type::kMessage, true, &kEnvVar},
                          {8, "resources", Type::kMessage, false, &kResources},
                          {13, "terminationMessagePath", Type::kString},
                          {14, "imagePullPolicy", Type::kString},
                          {20, "terminationMessagePolicy", Type::kString}}};
const Message kEmpty{"PodSecurityContext", {}};
const Message kPodSpec{"PodSpec",
                       {{2, "containers", Type::kMessage, true, &kContainer},
                        {3, "restartPolicy", Type::kString},
                        {4, "terminationGracePeriodSeconds", Type::kInt, false, nullptr, true},
                        {6, "dnsPolicy", Type::kString},
                        {7, "nodeSelector", Type::kStringMap},
                        {8, "serviceAccountName", Type::kString},
                        {14, "securityContext", Type::kMessage, false, &kEmpty},
                        {19, "schedulerName", Type::kString}}};
const Message kPodTemplateSpec{"PodTemplateSpec",
                               {{1, "metadata", Type::kMessage, false, &kObjectMeta},
                                {2, "spec", Type::kMessage, false, &kPodSpec}}};
const Message kRollingUpdate{"RollingUpdateDeployment",
                             {{1, "maxUnavailable", Type::kIntOrString}, {2, "maxSurge", Type::kIntOrString}}};
const Message kStrategy{"DeploymentStrategy",
                        {{1, "type", Type::kString}, {2, "rollingUpdate", Type::kMessage, false, &kRollingUpdate}}};
const Message kDeploymentSpec{"DeploymentSpec",
                              {{1, "replicas", Type::kInt, false, nullptr, true},
                               {2, "selector", Type::kMessage, false, &kLabelSelector},
                               {3, "template", Type::kMessage, false, &kPodTemplateSpec},
                               {4, "strategy", Type::kMessage, false, &kStrategy},
                               {5, "minReadySeconds", Type::kInt},
                               {6, "revisionHistoryLimit", Type::kInt, false, nullptr, true},
                               {7, "paused", Type::kBool},
                               {9, "progressDeadlineSeconds", Type::kInt, false, nullptr, true}}};
const Message kStatus{"Status", {}, true};
const Message kDeployment{"Deployment",
                          {{1, "metadata", Type::kMessage, false, &kObjectMeta},
                           {2, "spec", Type::kMessage, false, &kDeploymentSpec},
                           {3, "status", Type::kMessage, false, &kStatus}}};
const Message kNamespaceSpec{"NamespaceSpec", {{1, "finalizers", Type::kString, true}}};
const Message kNamespace{"Namespace",
                         {{1, "metadata", Type::kMessage, false, &kObjectMeta},
                          {2, "spec", Type::kMessage, false, &kNamespaceSpec},
                          {3, "status", Type::kMessage, false, &kStatus}}};

ApiError malformed(const std::string& why) {
  return ApiError::bad_request("malformed protobuf body: " + why);
}

// One protobuf message's bytes, read field by field.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : data_(bytes) {}
  bool done() const { return pos_ >= data_.size(); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (done()) {
        throw malformed("truncated varint");
      }
      auto b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        return v;
      }
    }
    throw malformed("varint too long");
  }
  std::string_view bytes() {
    uint64_t n = varint();
    if (n > data_.size() - pos_) {
      throw malformed("length past the end");
    }
    std::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  void skip(int wire) {
    switch (wire) {
      case 0: varint(); return;
      case 1: advance(8); return;
      case 2: bytes(); return;
      case 5: advance(4); return;
      default: throw malformed("wire type " + std::to_string(wire));
    }
  }

 private:
  void advance(size_t n) {
    if (n > data_.size() - pos_) {
      throw malformed("truncated fixed field");
    }
    pos_ += n;
  }
  std::string_view data_;
  size_t pos_ = 0;
};

Json decode(std::string_view bytes, const Message& m, const std::string& path);

// Go's generated marshallers write every non-pointer field, zero or not (selfLink "", an empty
// status struct...). A field this decoder does not know is fine when it holds only zeros: in
// JSON it would have been left out. Anything else is refused.
bool all_zero(std::string_view bytes, int depth = 0) {
  if (depth > 16) {
    return false;
  }
  try {
    Reader r(bytes);
    while (!r.done()) {
      uint64_t tag = r.varint();
      switch (tag & 7) {
        case 0:
          if (r.varint() != 0) {
            return false;
          }
          break;
        case 2: {
          std::string_view inner = r.bytes();
          if (!inner.empty() && !all_zero(inner, depth + 1)) {
            return false;
          }
          break;
        }
        default: return false;
      }
    }
    return true;
  } catch (const ApiError&) {
    return false;
  }
}

bool zero_field(Reader& r, int wire) {
  if (wire == 0) {
    return r.varint() == 0;
  }
  if (wire == 2) {
    std::string_view inner = r.bytes();
    return inner.empty() || all_zero(inner);
  }
  return false;
}

// map<string, V> entries are messages {key = 1, value = 2}.
std::pair<std::string, std::string_view> map_entry(std::string_view bytes) {
  Reader r(bytes);
  std::string key;
  std::string_view value;
  while (!r.done()) {
    uint64_t tag = r.varint();
    if ((tag & 7) != 2) {
      throw malformed("map entry field is not length-delimited");
    }
    if ((tag >> 3) == 1) {
      key = std::string(r.bytes());
    } else {
      value = r.bytes();
    }
  }
  return {key, value};
}

std::string quantity(std::string_view bytes) {  // resource.Quantity {string = 1}
  Reader r(bytes);
  std::string out;
  while (!r.done()) {
    uint64_t tag = r.varint();
    if (tag == ((1 << 3) | 2)) {
      out = std::string(r.bytes());
    } else {
      r.skip(static_cast<int>(tag & 7));
    }
  }
  return out;
}

Json time_value(std::string_view bytes) {  // metav1.Time {seconds = 1, nanos = 2}
  Reader r(bytes);
  int64_t seconds = 0;
  while (!r.done()) {
    uint64_t tag = r.varint();
    if ((tag >> 3) == 1 && (tag & 7) == 0) {
      seconds = static_cast<int64_t>(r.varint());
    } else {
      r.skip(static_cast<int>(tag & 7));
    }
  }
  if (seconds == 0 || seconds == -62135596800LL) {  // Go's zero time
    return nullptr;
  }
  std::time_t t = seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Json int_or_string(std::string_view bytes) {  // intstr.IntOrString {type = 1, intVal = 2, strVal = 3}
  Reader r(bytes);
  int64_t type = 0, int_val = 0;
  std::string str_val;
  while (!r.done()) {
    uint64_t tag = r.varint();
    switch (tag >> 3) {
      case 1: type = static_cast<int64_t>(r.varint()); break;
      case 2: int_val = static_cast<int32_t>(r.varint()); break;
      case 3: str_val = std::string(r.bytes()); break;
      default: r.skip(static_cast<int>(tag & 7));
    }
  }
  return type == 1 ? Json(str_val) : Json(int_val);
}

Json value(Reader& r, const Field& f, const std::string& path) {
  switch (f.type) {
    case Type::kString: return std::string(r.bytes());
    case Type::kInt: return static_cast<int64_t>(r.varint());
    case Type::kBool: return r.varint() != 0;
    case Type::kMessage: return decode(r.bytes(), *f.message, path);
    case Type::kTime: return time_value(r.bytes());
    case Type::kIntOrString: return int_or_string(r.bytes());
    default: break;
  }
  return nullptr;
}

bool is_zero(const Json& v) {
  return v.is_null() || (v.is_string() && v.get<std::string>().empty()) || (v.is_number() && v == 0) ||
         (v.is_boolean() && !v.get<bool>());
}

Json decode(std::string_view bytes, const Message& m, const std::string& path) {
  Json out = Json::object();
  if (m.ignored) {
    return out;
  }
  Reader r(bytes);
  while (!r.done()) {
    uint64_t tag = r.varint();
    int number = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
    const Field* f = nullptr;
    for (const auto& candidate : m.fields) {
      f = candidate.number == number ? &candidate : f;
    }
    if (f == nullptr && zero_field(r, wire)) {
      continue;
    }
    if (f == nullptr) {
      throw ApiError(415, "UnsupportedMediaType",
                     "kube-sim decodes only part of the protobuf encoding: field " + std::to_string(number) + " of " +
                         m.name + " at " + (path.empty() ? "<root>" : path) +
                         " is not supported; send the object as JSON (kubectl create -f / apply -f)");
    }
    std::string here = path.empty() ? f->name : path + "." + f->name;
    if (f->type == Type::kStringMap || f->type == Type::kQuantityMap) {
      auto [key, raw] = map_entry(r.bytes());
      out[f->name][key] = f->type == Type::kStringMap ? Json(std::string(raw)) : Json(quantity(raw));
      continue;
    }
    if (f->repeated && f->type == Type::kInt && wire == 2) {  // packed
      Reader packed(r.bytes());
      while (!packed.done()) {
        out[f->name].push_back(static_cast<int64_t>(packed.varint()));
      }
      continue;
    }
    Json v = value(r, *f, here);
    if (f->repeated) {
      out[f->name].push_back(v);
    } else if (f->pointer || f->type == Type::kMessage || !is_zero(v)) {
      out[f->name] = v;  // value fields at their zero value are what JSON's omitempty leaves out
    }
  }
  return out;
}

}  // namespace

Json decode_k8s_protobuf(const std::string& body) {
  static const std::string kMagic("k8s\0", 4);
  if (body.compare(0, kMagic.size(), kMagic) != 0) {
    throw malformed("no k8s protobuf prefix");
  }
  // runtime.Unknown {typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2, contentEncoding = 3, contentType = 4}
  Reader r(std::string_view(body).substr(kMagic.size()));
  std::string api_version, kind;
  std::string_view raw;
  while (!r.done()) {
    uint64_t tag = r.varint();
    if ((tag >> 3) == 1) {
      Reader tm(r.bytes());
      while (!tm.done()) {
        uint64_t t = tm.varint();
        ((t >> 3) == 1 ? api_version : kind) = std::string(tm.bytes());
      }
    } else if ((tag >> 3) == 2) {
      raw = r.bytes();
    } else {
      r.skip(static_cast<int>(tag & 7));
    }
  }
  static const std::map<std::string, const Message*> kKinds = {{"v1/Namespace", &kNamespace},
                                                               {"apps/v1/Deployment", &kDeployment}};
  auto it = kKinds.find(api_version + "/" + kind);
  if (it == kKinds.end()) {
    throw ApiError(415, "UnsupportedMediaType",
                   "kube-sim decodes protobuf bodies only for v1 Namespace and apps/v1 Deployment, not " +
                       api_version + " " + kind + "; send it as JSON (kubectl create -f / apply -f)");
  }
  Json obj = decode(raw, *it->second, "");
  obj.erase("status");
  Json out = {{"apiVersion", api_version}, {"kind", kind}};
  out.update(obj);
  return out;
}

}  // namespace kubesim
