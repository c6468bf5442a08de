#include "json_util.h"

#include <cmath>
#include <cstdlib>

namespace kubesim {

const Json* find_path(const Json& root, std::string_view dotted) {
  const Json* node = &root;
  std::size_t start = 0;
  while (start <= dotted.size()) {
    std::size_t dot = dotted.find('.', start);
    std::string_view part = dotted.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!node->is_object()) {
      return nullptr;
    }
    auto it = node->find(std::string(part));
    if (it == node->end()) {
      return nullptr;
    }
    node = &*it;
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return node;
}

std::string string_at(const Json& root, std::string_view dotted, const std::string& fallback) {
  const Json* node = find_path(root, dotted);
  return node && node->is_string() ? node->get<std::string>() : fallback;
}

std::int64_t int_at(const Json& root, std::string_view dotted, std::int64_t fallback) {
  const Json* node = find_path(root, dotted);
  if (node && node->is_number_integer()) {
    return node->get<std::int64_t>();
  }
  if (node && node->is_number_float()) {
    return static_cast<std::int64_t>(node->get<double>());
  }
  return fallback;
}

bool bool_at(const Json& root, std::string_view dotted, bool fallback) {
  const Json* node = find_path(root, dotted);
  return node && node->is_boolean() ? node->get<bool>() : fallback;
}

Json& ensure_path(Json& root, std::string_view dotted) {
  Json* node = &root;
  std::size_t start = 0;
  while (true) {
    if (!node->is_object()) {
      *node = Json::object();
    }
    std::size_t dot = dotted.find('.', start);
    std::string part(dotted.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    node = &(*node)[part];
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  if (!node->is_object()) {
    *node = Json::object();
  }
  return *node;
}

std::map<std::string, std::string> string_map(const Json* node) {
  std::map<std::string, std::string> out;
  if (node && node->is_object()) {
    for (auto it = node->begin(); it != node->end(); ++it) {
      if (it.value().is_string()) {
        out[it.key()] = it.value().get<std::string>();
      }
    }
  }
  return out;
}

std::map<std::string, std::string> labels_of(const Json& object) {
  return string_map(find_path(object, "metadata.labels"));
}

std::optional<double> parse_quantity(const Json& value) {
  if (value.is_number()) {
    return value.get<double>();
  }
  if (value.is_string()) {
    return parse_quantity(std::string_view(value.get_ref<const std::string&>()));
  }
  return std::nullopt;
}

std::optional<double> parse_quantity(std::string_view text) {
  if (text.empty()) {
    return std::nullopt;
  }
  std::string s(text);
  char* end = nullptr;
  double number = std::strtod(s.c_str(), &end);
  if (end == s.c_str()) {
    return std::nullopt;
  }
  std::string suffix(end);
  // strtod swallows an exponent ("2e3") itself; "E" alone is exa.
  static const std::map<std::string, double> kSuffixes = {
      {"", 1.0},         {"n", 1e-9},      {"u", 1e-6},      {"m", 1e-3},       {"k", 1e3},
      {"M", 1e6},        {"G", 1e9},       {"T", 1e12},      {"P", 1e15},       {"E", 1e18},
      {"Ki", 1024.0},    {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
      {"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0}};
  auto it = kSuffixes.find(suffix);
  if (it == kSuffixes.end() || std::isnan(number)) {
    return std::nullopt;
  }
  return number * it->second;
}

std::string format_bytes_quantity(std::int64_t bytes) {
  static const char* kUnits[] = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};
  static const std::int64_t kSizes[] = {1LL << 60, 1LL << 50, 1LL << 40, 1LL << 30, 1LL << 20, 1LL << 10};
  for (int i = 0; i < 6; ++i) {
    if (bytes != 0 && bytes % kSizes[i] == 0) {
      return std::to_string(bytes / kSizes[i]) + kUnits[i];
    }
  }
  return std::to_string(bytes);
}

std::optional<std::int64_t> scaled_int_or_percent(const Json& value, std::int64_t total, bool round_up) {
  if (value.is_number_integer()) {
    return value.get<std::int64_t>();
  }
  if (!value.is_string()) {
    return std::nullopt;
  }
  const auto& s = value.get_ref<const std::string&>();
  if (s.empty()) {
    return std::nullopt;
  }
  if (s.back() != '%') {
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (*end != '\0') {
      return std::nullopt;
    }
    return v;
  }
  char* end = nullptr;
  long long pct = std::strtoll(s.c_str(), &end, 10);
  if (end != s.c_str() + s.size() - 1) {
    return std::nullopt;
  }
  double scaled = static_cast<double>(pct) * static_cast<double>(total) / 100.0;
  return static_cast<std::int64_t>(round_up ? std::ceil(scaled) : std::floor(scaled));
}

const Json* find_condition(const Json& object, const std::string& type) {
  const Json* conditions = find_path(object, "status.conditions");
  if (!conditions || !conditions->is_array()) {
    return nullptr;
  }
  for (const auto& c : *conditions) {
    if (c.is_object() && c.value("type", "") == type) {
      return &c;
    }
  }
  return nullptr;
}

bool set_condition(Json& object, const std::string& type, const std::string& status, const std::string& reason,
                   const std::string& message, const std::string& now, bool with_probe_time, bool with_update_time) {
  Json& st = ensure_path(object, "status");
  Json& conditions = st["conditions"];
  if (!conditions.is_array()) {
    conditions = Json::array();
  }
  for (auto& c : conditions) {
    if (c.value("type", "") != type) {
      continue;
    }
    bool changed = c.value("status", "") != status || c.value("reason", "") != reason ||
                   c.value("message", "") != message;
    if (c.value("status", "") != status) {
      c["lastTransitionTime"] = now;
    }
    if (changed) {
      c["status"] = status;
      c["reason"] = reason;
      c["message"] = message;
      if (with_update_time) {
        c["lastUpdateTime"] = now;
      }
    }
    if (reason.empty()) {
      c.erase("reason");
    }
    if (message.empty()) {
      c.erase("message");
    }
    return changed;
  }
  Json c = {{"type", type}, {"status", status}, {"lastTransitionTime", now}};
  if (!reason.empty()) {
    c["reason"] = reason;
  }
  if (!message.empty()) {
    c["message"] = message;
  }
  if (with_probe_time) {
    c["lastProbeTime"] = nullptr;
  }
  if (with_update_time) {
    c["lastUpdateTime"] = now;
  }
  conditions.push_back(std::move(c));
  return true;
}

std::uint32_t fnv32a(std::string_view data) {
  std::uint32_t hash = 2166136261u;
  for (unsigned char ch : data) {
    hash ^= ch;
    hash *= 16777619u;
  }
  return hash;
}

std::string safe_encode(const std::string& s) {
  static constexpr char kAlphanums[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (unsigned char ch : s) {
    out.push_back(kAlphanums[ch % (sizeof(kAlphanums) - 1)]);
  }
  return out;
}

}  // namespace kubesim
