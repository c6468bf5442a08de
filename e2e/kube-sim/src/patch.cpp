#include "patch.h"

#include "api_error.h"

#include <algorithm>
#include <map>
#include <set>

namespace kubesim {

namespace {

constexpr const char* kPatchDirective = "$patch";
constexpr const char* kRetainKeys = "$retainKeys";
constexpr const char* kSetElementOrderPrefix = "$setElementOrder/";
constexpr const char* kDeleteFromPrimitivePrefix = "$deleteFromPrimitiveList/";

// List fields whose elements are primitives merged as a set
// (patchStrategy "merge" without a key).
bool is_primitive_merge_list(const std::string& field) { return field == "finalizers"; }

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

ApiError patch_invalid(const std::string& why) {
  return ApiError(422, "Invalid", "the server rejected our request due to an error in our request: " + why);
}

Json strategic_merge(const Json& original, const Json& patch);

bool same_key(const Json& element, const std::string& key, const Json& value) {
  return element.is_object() && element.contains(key) && element[key] == value;
}

Json merge_keyed_list(const Json& original, const Json& patch, const std::string& key) {
  Json result = original.is_array() ? original : Json::array();
  // {"$patch": "replace"} inside the list means: the list is exactly the
  // other elements of the patch.
  for (const auto& element : patch) {
    if (element.is_object() && element.value(kPatchDirective, "") == "replace") {
      Json replaced = Json::array();
      for (const auto& e : patch) {
        if (!(e.is_object() && e.contains(kPatchDirective))) {
          replaced.push_back(e);
        }
      }
      return replaced;
    }
  }
  for (const auto& element : patch) {
    if (!element.is_object()) {
      throw patch_invalid("list elements of a merge list must be objects");
    }
    if (!element.contains(key)) {
      throw patch_invalid("map: " + element.dump() + " does not contain declared merge key: " + key);
    }
    const Json& key_value = element[key];
    auto match = std::find_if(result.begin(), result.end(),
                              [&](const Json& e) { return same_key(e, key, key_value); });
    std::string directive = element.value(kPatchDirective, "");
    if (directive == "delete") {
      if (match != result.end()) {
        result.erase(match);
      }
      continue;
    }
    if (match != result.end()) {
      *match = strategic_merge(*match, element);
    } else {
      Json fresh = strategic_merge(Json::object(), element);
      result.push_back(std::move(fresh));
    }
  }
  return result;
}

// $setElementOrder/<field>: the patch names the full order of the list.
void apply_element_order(Json& list, const Json& order, const std::string& key) {
  if (!list.is_array() || !order.is_array()) {
    return;
  }
  Json ordered = Json::array();
  std::vector<bool> used(list.size(), false);
  for (const auto& want : order) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (used[i]) {
        continue;
      }
      bool hit = key.empty() ? list[i] == want : (want.is_object() && want.contains(key) && same_key(list[i], key, want[key]));
      if (hit) {
        ordered.push_back(list[i]);
        used[i] = true;
        break;
      }
    }
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!used[i]) {
      ordered.push_back(list[i]);
    }
  }
  list = std::move(ordered);
}

Json strategic_merge(const Json& original, const Json& patch) {
  if (!patch.is_object()) {
    return patch;
  }
  std::string directive = patch.value(kPatchDirective, "");
  if (directive == "replace") {
    Json replaced = patch;
    replaced.erase(kPatchDirective);
    return replaced;
  }
  if (!directive.empty() && directive != "merge" && directive != "delete") {
    throw patch_invalid("unknown patch type: " + directive);
  }
  Json result = original.is_object() ? original : Json::object();
  std::map<std::string, Json> element_orders;
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& field = it.key();
    const Json& value = it.value();
    if (field == kPatchDirective || field == kRetainKeys) {
      continue;
    }
    if (starts_with(field, kSetElementOrderPrefix)) {
      element_orders[field.substr(std::char_traits<char>::length(kSetElementOrderPrefix))] = value;
      continue;
    }
    if (starts_with(field, kDeleteFromPrimitivePrefix)) {
      std::string target = field.substr(std::char_traits<char>::length(kDeleteFromPrimitivePrefix));
      if (result.contains(target) && result[target].is_array() && value.is_array()) {
        Json kept = Json::array();
        for (const auto& e : result[target]) {
          if (std::find(value.begin(), value.end(), e) == value.end()) {
            kept.push_back(e);
          }
        }
        result[target] = std::move(kept);
      }
      continue;
    }
    if (value.is_null()) {
      result.erase(field);
      continue;
    }
    if (value.is_object()) {
      if (value.value(kPatchDirective, "") == "delete") {
        result.erase(field);
        continue;
      }
      result[field] = strategic_merge(result.contains(field) ? result[field] : Json::object(), value);
      continue;
    }
    if (value.is_array()) {
      const Json sample = value.empty() ? Json() : value.front();
      std::string key = strategic_merge_key(field, sample);
      if (!key.empty()) {
        result[field] = merge_keyed_list(result.contains(field) ? result[field] : Json::array(), value, key);
      } else if (is_primitive_merge_list(field)) {
        Json merged = result.contains(field) && result[field].is_array() ? result[field] : Json::array();
        for (const auto& e : value) {
          if (std::find(merged.begin(), merged.end(), e) == merged.end()) {
            merged.push_back(e);
          }
        }
        result[field] = std::move(merged);
      } else {
        result[field] = value;
      }
      continue;
    }
    result[field] = value;
  }
  for (const auto& [field, order] : element_orders) {
    if (result.contains(field)) {
      const Json sample = result[field].is_array() && !result[field].empty() ? result[field].front() : Json();
      apply_element_order(result[field], order, strategic_merge_key(field, sample));
    }
  }
  if (patch.contains(kRetainKeys)) {
    const Json& retain = patch[kRetainKeys];
    if (!retain.is_array()) {
      throw patch_invalid("$retainKeys must be a list of strings");
    }
    std::set<std::string> keep;
    for (const auto& k : retain) {
      if (k.is_string()) {
        keep.insert(k.get<std::string>());
      }
    }
    for (auto it = result.begin(); it != result.end();) {
      if (!keep.count(it.key())) {
        it = result.erase(it);
      } else {
        ++it;
      }
    }
  }
  return result;
}

}  // namespace

std::string strategic_merge_key(const std::string& field, const Json& sample) {
  static const std::map<std::string, std::string> kKeys = {
      {"containers", "name"},        {"initContainers", "name"}, {"ephemeralContainers", "name"},
      {"env", "name"},               {"volumes", "name"},        {"volumeMounts", "mountPath"},
      {"volumeDevices", "devicePath"}, {"imagePullSecrets", "name"}, {"hostAliases", "ip"},
      {"conditions", "type"},        {"ownerReferences", "uid"}, {"taints", "key"},
      {"topologySpreadConstraints", "topologyKey"}, {"resourceClaims", "name"}, {"addresses", "type"}};
  if (field == "ports") {
    // Container ports merge on containerPort, service ports on port.
    if (sample.is_object() && !sample.contains("containerPort") && sample.contains("port")) {
      return "port";
    }
    return "containerPort";
  }
  auto it = kKeys.find(field);
  return it == kKeys.end() ? "" : it->second;
}

Json apply_merge_patch(const Json& original, const Json& patch) {
  Json result = original;
  result.merge_patch(patch);
  return result;
}

Json apply_strategic_merge_patch(const Json& original, const Json& patch) {
  if (!patch.is_object()) {
    throw ApiError::bad_request("strategic merge patch must be a JSON object");
  }
  return strategic_merge(original, patch);
}

Json apply_json_patch(const Json& original, const Json& patch) {
  if (!patch.is_array()) {
    throw ApiError::bad_request("json patch must be a JSON array of operations");
  }
  for (const auto& op : patch) {
    if (!op.is_object() || !op.contains("op") || !op["op"].is_string() || !op.contains("path")) {
      throw ApiError::bad_request("invalid json patch operation: " + op.dump());
    }
  }
  try {
    return original.patch(patch);
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    // nlohmann prefixes "[json.exception.other_error.501] "; keep the sentence.
    auto bracket = what.find("] ");
    throw patch_invalid(bracket == std::string::npos ? what : what.substr(bracket + 2));
  }
}

}  // namespace kubesim
