#include "yaml_json.h"

#include "api_error.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <regex>

namespace kubesim {

namespace {

Json scalar_to_json(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() != "?") {
    return text;  // quoted or explicitly tagged: a string
  }
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") {
    return true;
  }
  if (text == "false" || text == "False" || text == "FALSE") {
    return false;
  }
  static const std::regex kInt("^[-+]?[0-9]+$");
  static const std::regex kFloat(R"(^[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?$)");
  if (std::regex_match(text, kInt)) {
    try {
      return std::stoll(text);
    } catch (const std::exception&) {
      return text;
    }
  }
  if (std::regex_match(text, kFloat)) {
    return std::strtod(text.c_str(), nullptr);
  }
  return text;
}

Json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    case YAML::NodeType::Sequence: {
      Json arr = Json::array();
      for (const auto& item : node) {
        arr.push_back(to_json(item));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      Json obj = Json::object();
      for (const auto& kv : node) {
        obj[kv.first.as<std::string>()] = to_json(kv.second);
      }
      return obj;
    }
  }
  return nullptr;
}

void flatten(Json doc, std::vector<Json>& out) {
  if (doc.is_null()) {
    return;
  }
  if (doc.is_object() && doc.value("kind", "").size() > 4 && doc.contains("items") && doc["items"].is_array() &&
      doc["kind"].get<std::string>().rfind("List") == doc["kind"].get<std::string>().size() - 4) {
    for (auto& item : doc["items"]) {
      flatten(item, out);
    }
    return;
  }
  out.push_back(std::move(doc));
}

}  // namespace

std::vector<Json> parse_yaml_documents(const std::string& text) {
  std::vector<Json> docs;
  try {
    for (const auto& node : YAML::LoadAll(text)) {
      docs.push_back(to_json(node));
    }
  } catch (const YAML::Exception& e) {
    throw ApiError::bad_request(std::string("error converting YAML to JSON: ") + e.what());
  }
  return docs;
}

std::vector<Json> parse_manifests(const std::string& text) {
  std::vector<Json> out;
  Json parsed = Json::parse(text, nullptr, false);
  if (!parsed.is_discarded()) {
    flatten(std::move(parsed), out);
    return out;
  }
  for (auto& doc : parse_yaml_documents(text)) {
    flatten(std::move(doc), out);
  }
  return out;
}

}  // namespace kubesim
