#pragma once

// ApiHandler is the transport-neutral request handler: it takes a parsed
// HTTP request and returns status, content type and body, or a WatchStream
// for ?watch requests. It serves discovery (/api, /apis, /version), the
// REST verbs on every resource (get, list, watch, create, update, patch,
// delete, deletecollection, status/scale/eviction/log subresources),
// /metrics and the /sim/v1 fault-injection API. Every failure becomes a
// Status object; nothing a client sends can crash it.
//
// Thread safe: each request takes the Cluster lock for as long as it reads
// or writes objects, never while streaming.

#include "cluster.h"
#include "watch.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kubesim {

struct ApiRequest {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  bool has_param(const std::string& key) const;
  std::string param(const std::string& key, const std::string& fallback = "") const;
  std::string header(const std::string& key) const;
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::shared_ptr<WatchStream> watch;  // set for streaming responses

  static ApiResponse json(int status, const Json& body);
  static ApiResponse error(const class ApiError& e);
};

struct ApiHandlerOptions {
  // Bearer token clients must present; empty disables authentication.
  std::string token;
  // Advertised in /api serverAddressByClientCIDRs.
  std::string server_address = "127.0.0.1:6443";
  std::chrono::milliseconds bookmark_interval{std::chrono::seconds(5)};
};

class ApiHandler {
 public:
  // `advance_clock` moves the simulation clock forward (POST
  // /sim/v1/clock/advance); may be empty when the clock cannot move.
  ApiHandler(Cluster& cluster, ApiHandlerOptions options, std::function<void(Millis)> advance_clock);

  // `require_token`: whether this listener enforces the bearer token.
  ApiResponse handle(const ApiRequest& request, bool require_token);

 private:
  ApiResponse route(const ApiRequest& request);
  ApiResponse discovery(const ApiRequest& request, const std::vector<std::string>& segments);
  ApiResponse resource_request(const ApiRequest& request, const std::string& group, const std::string& version,
                               std::vector<std::string> rest);
  ApiResponse list_or_watch(const ApiRequest& request, const ResourceInfo& r, const std::string& ns,
                            const std::string& name, bool watch);
  ApiResponse read_one(const ApiRequest& request, const ResourceInfo& r, const std::string& ns,
                       const std::string& name, const std::string& sub);
  ApiResponse write_one(const ApiRequest& request, const ResourceInfo& r, const std::string& ns,
                        const std::string& name, const std::string& sub);
  ApiResponse delete_collection(const ApiRequest& request, const ResourceInfo& r, const std::string& ns);
  ApiResponse pod_log(const ApiRequest& request, const std::string& ns, const std::string& name);
  ApiResponse sim(const ApiRequest& request, const std::vector<std::string>& segments);
  ApiResponse metrics(const std::string& set);

  Cluster& cluster_;
  ApiHandlerOptions options_;
  std::function<void(Millis)> advance_clock_;
};

}  // namespace kubesim
