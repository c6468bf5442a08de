#include "api_handler.h"
#include "protobuf.h"

#include "api_error.h"
#include "metrics.h"
#include "openapi.h"
#include "tables.h"
#include "yaml_json.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <sstream>

namespace kubesim {

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::string current;
  for (char c : path) {
    if (c == '/') {
      if (!current.empty()) {
        out.push_back(current);
      }
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  if (!current.empty()) {
    out.push_back(current);
  }
  return out;
}

ApiError not_found_path() {
  return ApiError(404, "NotFound", "the server could not find the requested resource").with_details(Json::object());
}

bool wants_table(const ApiRequest& request) {
  std::string accept = request.header("accept");
  return accept.find("as=Table") != std::string::npos;
}

Json parse_body(const ApiRequest& request) {
  if (request.body.empty()) {
    throw ApiError::bad_request("the request body is empty");
  }
  std::string type = request.header("content-type");
  std::string base = type.substr(0, type.find(';'));
  if (base == "application/vnd.kubernetes.protobuf") {
    return decode_k8s_protobuf(request.body);  // kubectl create namespace / deployment
  }
  if (base == "application/cbor") {
    // What an API server answers for a media type it does not decode; client-go then
    // retries CBOR requests as JSON.
    throw ApiError(415, "UnsupportedMediaType",
                   "the body of the request was in an unknown format - accepted media types include: "
                   "application/json, application/yaml, application/vnd.kubernetes.protobuf");
  }
  if (type.find("yaml") != std::string::npos) {
    auto docs = parse_yaml_documents(request.body);
    if (docs.size() != 1) {
      throw ApiError::bad_request("expected exactly one YAML document");
    }
    return docs.front();
  }
  Json body = Json::parse(request.body, nullptr, false);
  if (body.is_discarded()) {
    throw ApiError::bad_request("couldn't get version/kind; json parse error: invalid JSON in request body");
  }
  return body;
}

bool dry_run(const ApiRequest& request) {
  if (!request.has_param("dryRun")) {
    return false;
  }
  std::string value = request.param("dryRun");
  if (value != "All") {
    throw ApiError::bad_request("unsupported dryRun value \"" + value + "\": only \"All\" is supported");
  }
  return true;
}

std::uint64_t parse_rv(const std::string& text) {
  try {
    std::size_t used = 0;
    unsigned long long v = std::stoull(text, &used);
    if (used != text.size()) {
      throw std::invalid_argument("trailing");
    }
    return v;
  } catch (const std::exception&) {
    throw ApiError::bad_request("invalid resource version: \"" + text + "\"");
  }
}

std::string base64_encode(const std::string& in) {
  static const char* kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0;
  int bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(kChars[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) {
    out.push_back(kChars[((val << 8) >> (bits + 8)) & 0x3F]);
  }
  while (out.size() % 4) {
    out.push_back('=');
  }
  return out;
}

std::string base64_decode(const std::string& in) {
  std::string out;
  int val = 0;
  int bits = -8;
  for (unsigned char c : in) {
    int d;
    if (c >= 'A' && c <= 'Z') {
      d = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      d = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      d = c - '0' + 52;
    } else if (c == '+' || c == '-') {
      d = 62;
    } else if (c == '/' || c == '_') {
      d = 63;
    } else if (c == '=') {
      break;
    } else {
      throw ApiError::bad_request("continue key is not valid: illegal base64 data");
    }
    val = (val << 6) + d;
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

// List items omit kind and apiVersion, as the API server's lists do.
Json list_item(const Json& object) {
  Json item = object;
  item.erase("kind");
  item.erase("apiVersion");
  return item;
}

DeleteOptions delete_options(const ApiRequest& request) {
  DeleteOptions options;
  Json body = request.body.empty() ? Json::object() : Json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    throw ApiError::bad_request("invalid DeleteOptions in request body");
  }
  options.propagation = body.value("propagationPolicy", request.param("propagationPolicy"));
  if (body.contains("orphanDependents") && body["orphanDependents"].is_boolean() && options.propagation.empty()) {
    options.propagation = body["orphanDependents"].get<bool>() ? "Orphan" : "Background";
  }
  if (!options.propagation.empty() && options.propagation != "Orphan" && options.propagation != "Background" &&
      options.propagation != "Foreground") {
    throw ApiError::bad_request("unsupported propagationPolicy \"" + options.propagation + "\"");
  }
  if (body.contains("gracePeriodSeconds") && body["gracePeriodSeconds"].is_number_integer()) {
    options.grace_period_seconds = body["gracePeriodSeconds"].get<std::int64_t>();
  } else if (request.has_param("gracePeriodSeconds")) {
    try {
      options.grace_period_seconds = std::stoll(request.param("gracePeriodSeconds"));
    } catch (const std::exception&) {
      throw ApiError::bad_request("gracePeriodSeconds must be an integer");
    }
  }
  options.precondition_uid = string_at(body, "preconditions.uid");
  options.precondition_rv = string_at(body, "preconditions.resourceVersion");
  options.dry_run = request.param("dryRun") == "All";
  if (body.contains("dryRun") && body["dryRun"].is_array()) {
    for (const auto& v : body["dryRun"]) {
      options.dry_run = options.dry_run || v == "All";
    }
  }
  return options;
}

}  // namespace

bool ApiRequest::has_param(const std::string& key) const {
  return std::any_of(query.begin(), query.end(), [&](const auto& kv) { return kv.first == key; });
}

std::string ApiRequest::param(const std::string& key, const std::string& fallback) const {
  for (const auto& [k, v] : query) {
    if (k == key) {
      return v;
    }
  }
  return fallback;
}

std::string ApiRequest::header(const std::string& key) const {
  auto it = headers.find(key);
  return it == headers.end() ? "" : it->second;
}

ApiResponse ApiResponse::json(int status, const Json& body) {
  ApiResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}

ApiResponse ApiResponse::error(const ApiError& e) { return json(e.code(), e.to_status()); }

ApiHandler::ApiHandler(Cluster& cluster, ApiHandlerOptions options, std::function<void(Millis)> advance_clock)
    : cluster_(cluster), options_(std::move(options)), advance_clock_(std::move(advance_clock)) {}

ApiResponse ApiHandler::handle(const ApiRequest& request, bool require_token) {
  try {
    bool health = request.path == "/healthz" || request.path == "/livez" || request.path == "/readyz";
    if (require_token && !options_.token.empty() && !health) {
      std::string auth = request.header("authorization");
      std::string expected = "Bearer " + options_.token;
      if (auth.size() != expected.size() || CRYPTO_memcmp(auth.data(), expected.data(), auth.size()) != 0) {
        return ApiResponse::error(ApiError::unauthorized());
      }
    }
    return route(request);
  } catch (const ApiError& e) {
    return ApiResponse::error(e);
  } catch (const nlohmann::json::exception& e) {
    return ApiResponse::error(ApiError::bad_request(std::string("malformed request: ") + e.what()));
  } catch (const std::exception& e) {
    return ApiResponse::error(ApiError::internal(e.what()));
  }
}

ApiResponse ApiHandler::route(const ApiRequest& request) {
  std::vector<std::string> segments = split_path(request.path);
  if (segments.empty()) {
    Json paths = Json::array({"/api", "/api/v1", "/apis", "/healthz", "/livez", "/metrics", "/readyz", "/sim/v1",
                              "/version"});
    for (const auto& g : served_groups()) {
      if (!g.group.empty()) {
        paths.push_back("/apis/" + g.group);
        for (const auto& v : g.versions) {
          paths.push_back("/apis/" + g.group + "/" + v);
        }
      }
    }
    return ApiResponse::json(200, {{"paths", paths}});
  }
  const std::string& head = segments[0];
  if (head == "healthz" || head == "livez" || head == "readyz") {
    ApiResponse r;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "ok";
    return r;
  }
  if (head == "version") {
    return ApiResponse::json(200, {{"major", "1"},
                                   {"minor", "32"},
                                   {"gitVersion", "v1.32.0-kube-sim"},
                                   {"gitCommit", "0000000000000000000000000000000000000000"},
                                   {"gitTreeState", "clean"},
                                   {"buildDate", "2025-01-01T00:00:00Z"},
                                   {"goVersion", "go1.23.4"},
                                   {"compiler", "gc"},
                                   {"platform", "linux/amd64"}});
  }
  if (head == "metrics") {
    if (request.method != "GET") {
      throw ApiError::method_not_allowed("metrics are read-only");
    }
    return metrics(segments.size() > 1 ? segments[1] : "");
  }
  if (head == "sim") {
    return sim(request, segments);
  }
  if (head == "openapi" && segments.size() >= 2 && segments[1] == "v3" && request.method == "GET") {
    if (segments.size() == 2) {
      return ApiResponse::json(200, openapi_v3_index());
    }
    std::string gv;
    for (std::size_t i = 2; i < segments.size(); ++i) {
      gv += (i > 2 ? "/" : "") + segments[i];
    }
    if (auto doc = openapi_v3_document(gv)) {
      return ApiResponse::json(200, *doc);
    }
  }
  if (head == "api" || head == "apis") {
    if (request.method == "GET" &&
        (segments.size() == 1 || (head == "api" && segments.size() == 2) || (head == "apis" && segments.size() <= 3))) {
      return discovery(request, segments);
    }
    if (head == "api") {
      if (segments[1] != "v1") {
        throw not_found_path();
      }
      return resource_request(request, "", "v1", std::vector<std::string>(segments.begin() + 2, segments.end()));
    }
    return resource_request(request, segments[1], segments[2],
                            std::vector<std::string>(segments.begin() + 3, segments.end()));
  }
  throw not_found_path();
}

ApiResponse ApiHandler::discovery(const ApiRequest& request, const std::vector<std::string>& segments) {
  (void)request;
  if (segments[0] == "api") {
    if (segments.size() == 1) {
      return ApiResponse::json(
          200, {{"kind", "APIVersions"},
                {"versions", Json::array({"v1"})},
                {"serverAddressByClientCIDRs",
                 Json::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", options_.server_address}}})}});
    }
    if (segments[1] != "v1") {
      throw not_found_path();
    }
    return ApiResponse::json(200, api_resource_list("", "v1"));
  }
  auto group_json = [](const GroupVersions& g) {
    Json versions = Json::array();
    for (const auto& v : g.versions) {
      versions.push_back({{"groupVersion", g.group + "/" + v}, {"version", v}});
    }
    return Json{{"name", g.group}, {"versions", versions}, {"preferredVersion", versions.front()}};
  };
  if (segments.size() == 1) {
    Json groups = Json::array();
    for (const auto& g : served_groups()) {
      if (!g.group.empty()) {
        groups.push_back(group_json(g));
      }
    }
    return ApiResponse::json(200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}});
  }
  for (const auto& g : served_groups()) {
    if (g.group != segments[1]) {
      continue;
    }
    if (segments.size() == 2) {
      Json body = group_json(g);
      body["kind"] = "APIGroup";
      body["apiVersion"] = "v1";
      return ApiResponse::json(200, body);
    }
    if (std::find(g.versions.begin(), g.versions.end(), segments[2]) != g.versions.end()) {
      return ApiResponse::json(200, api_resource_list(g.group, segments[2]));
    }
  }
  throw not_found_path();
}

ApiResponse ApiHandler::resource_request(const ApiRequest& request, const std::string& group,
                                         const std::string& version, std::vector<std::string> rest) {
  bool watch_prefix = false;
  if (!rest.empty() && rest[0] == "watch") {
    watch_prefix = true;
    rest.erase(rest.begin());
  }
  if (rest.empty()) {
    throw not_found_path();
  }
  std::string ns;
  const ResourceInfo* r = nullptr;
  if (rest[0] == "namespaces" && rest.size() >= 3) {
    const ResourceInfo* candidate = find_resource(group, version, rest[2]);
    if (candidate && candidate->namespaced) {
      ns = rest[1];
      r = candidate;
      rest.erase(rest.begin(), rest.begin() + 3);
    }
  }
  if (!r) {
    r = find_resource(group, version, rest[0]);
    if (!r) {
      throw not_found_path();
    }
    rest.erase(rest.begin());
  }
  if (rest.size() > 2) {
    throw not_found_path();
  }
  std::string name = rest.empty() ? "" : rest[0];
  std::string sub = rest.size() > 1 ? rest[1] : "";
  if (!sub.empty() && !r->has_subresource(sub)) {
    throw not_found_path();
  }
  const std::string& method = request.method;
  if (method == "GET") {
    bool watch = watch_prefix || request.param("watch") == "true" || request.param("watch") == "1";
    if (name.empty() || (watch && sub.empty())) {
      return list_or_watch(request, *r, ns, name, watch);
    }
    if (sub == "log" && r->kind == "Pod") {
      return pod_log(request, ns, name);
    }
    return read_one(request, *r, ns, name, sub);
  }
  if (watch_prefix) {
    throw ApiError::method_not_allowed("watch paths only support GET");
  }
  if (method == "DELETE" && name.empty()) {
    return delete_collection(request, *r, ns);
  }
  if (r->namespaced && ns.empty() && method == "POST" && name.empty()) {
    throw ApiError::method_not_allowed("the server does not allow this method on the requested resource");
  }
  return write_one(request, *r, ns, name, sub);
}

ApiResponse ApiHandler::list_or_watch(const ApiRequest& request, const ResourceInfo& r, const std::string& ns,
                                      const std::string& name, bool watch) {
  ObjectFilter filter;
  filter.ns = ns;
  filter.name = name;
  filter.labels = LabelSelector::parse(request.param("labelSelector"));
  filter.fields = FieldSelector::parse(request.param("fieldSelector"));
  validate_field_selector(r, filter.fields);
  IncludeObject include = include_object_from(request.param("includeObject", "Metadata"));
  bool table = wants_table(request);
  if (watch) {
    WatchOptions options;
    options.bookmarks = request.param("allowWatchBookmarks") == "true";
    options.as_table = table;
    options.include = include;
    options.bookmark_interval = options_.bookmark_interval;
    if (request.has_param("timeoutSeconds")) {
      try {
        options.timeout = std::chrono::seconds(std::max(0LL, std::stoll(request.param("timeoutSeconds"))));
      } catch (const std::exception&) {
        throw ApiError::bad_request("timeoutSeconds must be an integer");
      }
    }
    std::string rv = request.param("resourceVersion");
    bool initial_events = request.param("sendInitialEvents") == "true";
    options.initial_events_end = initial_events;
    auto stream = cluster_.locked([&] {
      std::vector<Json> initial;
      std::uint64_t from = cluster_.store().current_rv();
      if (rv.empty() || rv == "0" || initial_events) {
        for (const Json* o : cluster_.store().list(r, ns)) {
          if (filter.matches(r, *o)) {
            initial.push_back(*o);
          }
        }
      } else {
        from = parse_rv(rv);
      }
      return std::make_shared<WatchStream>(cluster_.hub(), cluster_.clock(), r, filter, from, std::move(initial),
                                           options);
    });
    ApiResponse response;
    response.content_type = table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json";
    response.watch = stream;
    return response;
  }
  std::int64_t limit = 0;
  if (request.has_param("limit")) {
    try {
      limit = std::stoll(request.param("limit"));
    } catch (const std::exception&) {
      throw ApiError::bad_request("limit must be an integer");
    }
  }
  std::string start_after;
  if (!request.param("continue").empty()) {
    start_after = base64_decode(request.param("continue"));
  }
  return cluster_.locked([&] {
    std::vector<const Json*> matched;
    for (const Json* o : cluster_.store().list(r, ns)) {
      if (!filter.matches(r, *o)) {
        continue;
      }
      if (!start_after.empty() && namespace_of(*o) + "/" + name_of(*o) <= start_after) {
        continue;
      }
      matched.push_back(o);
    }
    std::string next;
    std::size_t remaining = 0;
    if (limit > 0 && matched.size() > static_cast<std::size_t>(limit)) {
      remaining = matched.size() - static_cast<std::size_t>(limit);
      matched.resize(static_cast<std::size_t>(limit));
      next = base64_encode(namespace_of(*matched.back()) + "/" + name_of(*matched.back()));
    }
    std::string rv = std::to_string(cluster_.store().current_rv());
    Json body;
    if (table) {
      body = make_table(r, matched, cluster_.clock().now(), include, rv);
    } else {
      Json items = Json::array();
      for (const Json* o : matched) {
        items.push_back(list_item(*o));
      }
      body = {{"kind", r.list_kind()}, {"apiVersion", r.api_version()}, {"metadata", {{"resourceVersion", rv}}},
              {"items", items}};
    }
    if (!next.empty()) {
      body["metadata"]["continue"] = next;
      body["metadata"]["remainingItemCount"] = remaining;
    }
    return ApiResponse::json(200, body);
  });
}

ApiResponse ApiHandler::read_one(const ApiRequest& request, const ResourceInfo& r, const std::string& ns,
                                 const std::string& name, const std::string& sub) {
  return cluster_.locked([&] {
    if (sub == "scale") {
      return ApiResponse::json(200, cluster_.api().get_scale(r, ns, name));
    }
    if (!sub.empty() && sub != "status") {
      throw ApiError::method_not_allowed("GET is not supported on " + r.plural + "/" + sub);
    }
    Json object = cluster_.api().get(r, ns, name);
    if (wants_table(request)) {
      return ApiResponse::json(200, make_table(r, {&object}, cluster_.clock().now(),
                                               include_object_from(request.param("includeObject", "Metadata")),
                                               string_at(object, "metadata.resourceVersion")));
    }
    return ApiResponse::json(200, object);
  });
}

ApiResponse ApiHandler::write_one(const ApiRequest& request, const ResourceInfo& r, const std::string& ns,
                                  const std::string& name, const std::string& sub) {
  const std::string& method = request.method;
  bool dry = dry_run(request);
  WriteOptions options{dry, false};
  if (method == "POST") {
    if (sub == "eviction" && r.kind == "Pod") {
      Json body = request.body.empty() ? Json::object() : parse_body(request);
      return cluster_.locked([&] {
        return ApiResponse::json(201, evict_pod(cluster_.api(), cluster_.controllers(), ns, name, body, dry));
      });
    }
    if (!name.empty()) {
      throw ApiError::method_not_allowed("POST is not supported on a named " + r.singular);
    }
    Json body = parse_body(request);
    return cluster_.locked([&] { return ApiResponse::json(201, cluster_.api().create(r, ns, body, options)); });
  }
  if (name.empty()) {
    throw ApiError::method_not_allowed(method + " requires a resource name");
  }
  if (method == "PUT") {
    Json body = parse_body(request);
    return cluster_.locked([&] {
      if (sub == "scale") {
        return ApiResponse::json(200, cluster_.api().update_scale(r, ns, name, body, options));
      }
      if (!sub.empty() && sub != "status") {
        throw ApiError::method_not_allowed("PUT is not supported on " + r.plural + "/" + sub);
      }
      return ApiResponse::json(200, cluster_.api().update(r, ns, name, body, sub, options));
    });
  }
  if (method == "PATCH") {
    PatchType type = patch_type_from_content_type(request.header("content-type"));
    Json patch;
    if (type == PatchType::kApply) {
      auto docs = parse_manifests(request.body);
      if (docs.size() != 1) {
        throw ApiError::bad_request("apply patch must contain exactly one object");
      }
      patch = docs.front();
    } else {
      patch = parse_body(request);
    }
    return cluster_.locked([&] {
      if (sub == "scale") {
        return ApiResponse::json(200, cluster_.api().patch_scale(r, ns, name, type, patch, options));
      }
      if (!sub.empty() && sub != "status") {
        throw ApiError::method_not_allowed("PATCH is not supported on " + r.plural + "/" + sub);
      }
      if (type == PatchType::kApply && !cluster_.store().get(r, ns, name)) {
        // Server-side apply creates what does not exist yet.
        Json object = patch;
        object["metadata"]["name"] = name;
        return ApiResponse::json(201, cluster_.api().create(r, ns, object, options));
      }
      return ApiResponse::json(200, cluster_.api().patch(r, ns, name, type, patch, sub, options));
    });
  }
  if (method == "DELETE") {
    if (!sub.empty()) {
      throw ApiError::method_not_allowed("DELETE is not supported on " + r.plural + "/" + sub);
    }
    DeleteOptions options_delete = delete_options(request);
    return cluster_.locked([&] { return ApiResponse::json(200, cluster_.api().remove(r, ns, name, options_delete)); });
  }
  throw ApiError::method_not_allowed("the server does not allow this method on the requested resource");
}

ApiResponse ApiHandler::delete_collection(const ApiRequest& request, const ResourceInfo& r, const std::string& ns) {
  ObjectFilter filter;
  filter.ns = ns;
  filter.labels = LabelSelector::parse(request.param("labelSelector"));
  filter.fields = FieldSelector::parse(request.param("fieldSelector"));
  validate_field_selector(r, filter.fields);
  DeleteOptions options = delete_options(request);
  return cluster_.locked([&] {
    std::vector<std::pair<std::string, std::string>> keys;
    Json items = Json::array();
    for (const Json* o : cluster_.store().list(r, ns)) {
      if (filter.matches(r, *o)) {
        keys.emplace_back(namespace_of(*o), name_of(*o));
        items.push_back(list_item(*o));
      }
    }
    for (const auto& [object_ns, name] : keys) {
      try {
        cluster_.api().remove(r, object_ns, name, options);
      } catch (const ApiError& e) {
        if (e.code() != 404) {
          throw;
        }
      }
    }
    return ApiResponse::json(200, {{"kind", r.list_kind()},
                                   {"apiVersion", r.api_version()},
                                   {"metadata", {{"resourceVersion", std::to_string(cluster_.store().current_rv())}}},
                                   {"items", items}});
  });
}

ApiResponse ApiHandler::pod_log(const ApiRequest& request, const std::string& ns, const std::string& name) {
  return cluster_.locked([&] {
    Json pod = cluster_.api().get(pods_resource(), ns, name);
    std::string container = request.param("container");
    const Json* statuses = find_path(pod, "status.containerStatuses");
    const Json* status = nullptr;
    if (statuses && statuses->is_array()) {
      for (const auto& cs : *statuses) {
        if (container.empty() || cs.value("name", "") == container) {
          status = &cs;
          break;
        }
      }
    }
    if (!status) {
      if (!container.empty()) {
        throw ApiError::bad_request("container " + container + " is not valid for pod " + name);
      }
      throw ApiError::bad_request("container \"\" in pod \"" + name + "\" is waiting to start: ContainerCreating");
    }
    container = status->value("name", "");
    bool previous = request.param("previous") == "true";
    std::ostringstream log;
    if (previous) {
      const Json* last = find_path(*status, "lastState.terminated");
      if (!last) {
        throw ApiError::bad_request("previous terminated container \"" + container + "\" in pod \"" + name +
                                    "\" not found");
      }
      log << string_at(*last, "startedAt") << " kube-sim: container " << container << " started (image "
          << status->value("image", "") << ")\n";
      std::string reason = string_at(*last, "reason");
      if (reason == "OOMKilled") {
        log << string_at(*last, "finishedAt") << " kube-sim: allocating memory beyond the container limit\n";
      } else if (reason == "Error") {
        log << string_at(*last, "finishedAt") << " kube-sim: fatal error, exiting with code "
            << int_at(*last, "exitCode", 1) << "\n";
      }
    } else {
      const Json* running = find_path(*status, "state.running");
      if (!running) {
        std::string reason = string_at(*status, "state.waiting.reason", "terminated");
        throw ApiError::bad_request("container \"" + container + "\" in pod \"" + name +
                                    "\" is waiting to start: " + reason);
      }
      log << string_at(*running, "startedAt") << " kube-sim: container " << container << " started (image "
          << status->value("image", "") << ")\n";
      log << string_at(*running, "startedAt") << " kube-sim: ready\n";
    }
    ApiResponse r;
    r.content_type = "text/plain";
    r.body = log.str();
    return r;
  });
}

ApiResponse ApiHandler::metrics(const std::string& set) {
  MetricsSet which = MetricsSet::kAll;
  if (!set.empty()) {
    auto parsed = metrics_set_from(set);
    if (!parsed) {
      throw not_found_path();
    }
    which = *parsed;
  }
  return cluster_.locked([&] {
    ApiResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = render_metrics(cluster_.store(), cluster_.faults(), cluster_.clock().now(), which);
    return r;
  });
}

}  // namespace kubesim
