#include "openapi.h"

#include "resources.h"

namespace kubesim {

namespace {

std::string prefix_of(const std::string& group, const std::string& version) {
  return group.empty() ? "api/" + version : "apis/" + group + "/" + version;
}

Json query_param(const std::string& name) {
  return {{"name", name}, {"in", "query"}, {"schema", {{"type", "string"}}}, {"uniqueItems", true}};
}

Json operation(const std::string& action, const Json& gvk, bool write) {
  Json params = Json::array({query_param("pretty")});
  if (write) {
    for (const char* p : {"dryRun", "fieldManager", "fieldValidation"}) {
      params.push_back(query_param(p));
    }
  }
  if (action == "patch") {
    params.push_back(query_param("force"));
  }
  return {{"operationId", action},
          {"parameters", params},
          {"responses", {{"200", {{"description", "OK"}}}}},
          {"x-kubernetes-action", action},
          {"x-kubernetes-group-version-kind", gvk}};
}

}  // namespace

Json openapi_v3_index() {
  Json paths = Json::object();
  for (const auto& g : served_groups()) {
    for (const auto& v : g.versions) {
      std::string p = prefix_of(g.group, v);
      paths[p] = {{"serverRelativeURL", "/openapi/v3/" + p + "?hash=" + safe_encode(std::to_string(fnv32a(p)))}};
    }
  }
  return {{"paths", paths}};
}

std::optional<Json> openapi_v3_document(const std::string& group_version) {
  Json paths = Json::object();
  bool found = false;
  for (const auto& r : all_resources()) {
    if (prefix_of(r.group, r.version) != group_version) {
      continue;
    }
    found = true;
    Json gvk = {{"group", r.group}, {"version", r.version}, {"kind", r.kind}};
    std::string base = "/" + group_version + (r.namespaced ? "/namespaces/{namespace}/" : "/") + r.plural;
    paths[base] = {{"get", operation("list", gvk, false)}, {"post", operation("post", gvk, true)}};
    paths[base + "/{name}"] = {{"get", operation("get", gvk, false)},
                               {"put", operation("put", gvk, true)},
                               {"patch", operation("patch", gvk, true)},
                               {"delete", operation("delete", gvk, true)}};
    for (const auto& s : r.subresources) {
      Json sub_gvk = s.kind.empty() ? gvk : Json{{"group", s.group.empty() ? r.group : s.group},
                                                 {"version", s.version.empty() ? r.version : s.version},
                                                 {"kind", s.kind}};
      Json ops = Json::object();
      for (const auto& verb : s.verbs) {
        if (verb == "get") {
          ops["get"] = operation("get", sub_gvk, false);
        } else if (verb == "update") {
          ops["put"] = operation("put", sub_gvk, true);
        } else if (verb == "patch") {
          ops["patch"] = operation("patch", sub_gvk, true);
        } else if (verb == "create") {
          ops["post"] = operation("post", sub_gvk, true);
        }
      }
      paths[base + "/{name}/" + s.name] = ops;
    }
  }
  if (!found) {
    return std::nullopt;
  }
  return Json{{"openapi", "3.0.0"},
              {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
              {"paths", paths},
              {"components", {{"schemas", Json::object()}}}};
}

}  // namespace kubesim
