// The /sim/v1 fault-injection and control API (see README.md).

#include "api_error.h"
#include "api_handler.h"
#include "yaml_json.h"

#include <cmath>

namespace kubesim {

namespace {

Json body_object(const ApiRequest& request) {
  if (request.body.empty()) {
    return Json::object();
  }
  Json body = Json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    throw ApiError::bad_request("the body must be a JSON object");
  }
  return body;
}

std::string required_string(const Json& body, const char* key) {
  if (!body.contains(key) || !body[key].is_string() || body[key].get<std::string>().empty()) {
    throw ApiError::bad_request(std::string("field \"") + key + "\" (string) is required");
  }
  return body[key].get<std::string>();
}

std::int64_t bytes_from(const Json& value, const char* key) {
  auto q = parse_quantity(value);
  if (!q || *q < 0) {
    throw ApiError::bad_request(std::string("field \"") + key +
                                "\" must be a non-negative byte count or quantity (\"300Mi\")");
  }
  return static_cast<std::int64_t>(std::llround(*q));
}

WorkloadRef workload_from(const Json& body, const char* key) {
  std::string text = required_string(body, key);
  auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) {
    throw ApiError::bad_request(std::string("field \"") + key +
                                "\" must look like kind/name (deployment/web, statefulset/db, job/x, pod/p)");
  }
  std::string kind = text.substr(0, slash);
  for (auto& c : kind) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  static const std::set<std::string> kKinds = {"deployment", "statefulset", "job", "replicaset", "pod"};
  if (!kKinds.count(kind)) {
    throw ApiError::bad_request("unsupported workload kind \"" + kind + "\"");
  }
  return {body.value("namespace", "default"), kind, text.substr(slash + 1)};
}

std::int64_t millis_field(const Json& body, const char* key) {
  const Json& v = body[key];
  if (!v.is_number() || v.get<double>() < 0) {
    throw ApiError::bad_request(std::string("field \"") + key + "\" must be a non-negative number of milliseconds");
  }
  return static_cast<std::int64_t>(v.get<double>());
}

Json config_json(Cluster& cluster) {
  const SimConfig& c = cluster.config();
  return {{"podStartDelayMs", c.pod_start_delay.count()},
          {"crashAfterMs", c.crash_after.count()},
          {"backoffBaseMs", c.backoff_base.count()},
          {"backoffMaxMs", c.backoff_max.count()},
          {"jobDurationMs", c.job_duration.count()},
          {"nodeMonitorGraceMs", c.node_monitor_grace.count()},
          {"schedulerEventIntervalMs", c.scheduler_event_interval.count()},
          {"eventTtlMs", c.event_ttl.count()},
          {"hpaSteadyByDefault", c.hpa_steady_by_default},
          {"watchHistory", cluster.hub().capacity()},
          {"defaultTolerationSeconds", cluster.api().strategy_options().default_toleration_seconds}};
}

}  // namespace

ApiResponse ApiHandler::sim(const ApiRequest& request, const std::vector<std::string>& segments) {
  if (segments.size() < 2 || segments[1] != "v1") {
    throw ApiError(404, "NotFound", "unknown simulator API; see /sim/v1");
  }
  std::string path;
  for (std::size_t i = 2; i < segments.size(); ++i) {
    path += (i > 2 ? "/" : "") + segments[i];
  }
  const std::string& method = request.method;
  auto ok = [](const Json& extra = Json::object()) {
    Json body = {{"status", "ok"}};
    body.update(extra);
    return ApiResponse::json(200, body);
  };

  if (path.empty() && method == "GET") {
    return ApiResponse::json(200, {{"endpoints",
                                    Json::array({"GET /sim/v1/state", "POST /sim/v1/reset", "POST /sim/v1/tick",
                                                 "POST /sim/v1/clock/advance", "GET|PUT /sim/v1/config",
                                                 "POST /sim/v1/objects", "POST /sim/v1/watch/compact",
                                                 "GET|DELETE /sim/v1/faults", "POST /sim/v1/faults/memory",
                                                 "POST /sim/v1/faults/image", "POST /sim/v1/faults/node",
                                                 "POST /sim/v1/faults/hpa", "POST /sim/v1/faults/pvc",
                                                 "POST /sim/v1/prices/node", "POST /sim/v1/prices/pv"})}});
  }
  if (path == "state" && method == "GET") {
    return cluster_.locked([&] {
      return ApiResponse::json(200, {{"resourceVersion", std::to_string(cluster_.store().current_rv())},
                                     {"objects", cluster_.store().size()},
                                     {"time", format_micro_time(cluster_.clock().now())},
                                     {"watch",
                                      {{"history", cluster_.hub().capacity()},
                                       {"compactedResourceVersion", std::to_string(cluster_.hub().compacted_rv())},
                                       {"latestResourceVersion", std::to_string(cluster_.hub().latest_rv())}}},
                                     {"config", config_json(cluster_)},
                                     {"faults", cluster_.faults().to_json()}});
    });
  }
  if (method != "POST" && method != "PUT" && method != "DELETE" && !(method == "GET" && (path == "config" || path == "faults"))) {
    throw ApiError::method_not_allowed(method + " is not supported on /sim/v1/" + path);
  }
  if (path == "reset" && method == "POST") {
    cluster_.reset();
    return ok();
  }
  if (path == "tick" && method == "POST") {
    Json body = body_object(request);
    std::int64_t count = body.value("count", 1);
    if (count < 0 || count > 10000) {
      throw ApiError::bad_request("count must be between 0 and 10000");
    }
    if (body.contains("advanceMs")) {
      if (!advance_clock_) {
        throw ApiError::bad_request("this clock cannot be advanced");
      }
      advance_clock_(Millis(millis_field(body, "advanceMs")));
    }
    for (std::int64_t i = 0; i < count; ++i) {
      cluster_.tick();
    }
    return ok({{"ticks", count}});
  }
  if (path == "clock/advance" && method == "POST") {
    Json body = body_object(request);
    if (!advance_clock_) {
      throw ApiError::bad_request("this clock cannot be advanced");
    }
    advance_clock_(Millis(millis_field(body, "ms")));
    cluster_.tick();
    return ok({{"time", format_micro_time(cluster_.clock().now())}});
  }
  if (path == "config") {
    if (method == "GET") {
      return cluster_.locked([&] { return ApiResponse::json(200, config_json(cluster_)); });
    }
    Json body = body_object(request);
    return cluster_.locked([&] {
      SimConfig& c = cluster_.config();
      static const std::map<std::string, Millis SimConfig::*> kDurations = {
          {"podStartDelayMs", &SimConfig::pod_start_delay},
          {"crashAfterMs", &SimConfig::crash_after},
          {"backoffBaseMs", &SimConfig::backoff_base},
          {"backoffMaxMs", &SimConfig::backoff_max},
          {"jobDurationMs", &SimConfig::job_duration},
          {"nodeMonitorGraceMs", &SimConfig::node_monitor_grace},
          {"schedulerEventIntervalMs", &SimConfig::scheduler_event_interval},
          {"eventTtlMs", &SimConfig::event_ttl}};
      for (auto it = body.begin(); it != body.end(); ++it) {
        if (auto d = kDurations.find(it.key()); d != kDurations.end()) {
          c.*(d->second) = Millis(millis_field(body, it.key().c_str()));
        } else if (it.key() == "hpaSteadyByDefault" && it.value().is_boolean()) {
          c.hpa_steady_by_default = it.value().get<bool>();
        } else if (it.key() == "watchHistory" && it.value().is_number_integer() && it.value().get<std::int64_t>() > 0) {
          cluster_.hub().set_capacity(it.value().get<std::size_t>());
        } else if (it.key() == "defaultTolerationSeconds" && it.value().is_number_integer()) {
          StrategyOptions s = cluster_.api().strategy_options();
          s.default_toleration_seconds = it.value().get<std::int64_t>();
          cluster_.api().set_strategy_options(s);
        } else {
          throw ApiError::bad_request("unknown or invalid config key \"" + it.key() + "\"");
        }
      }
      return ApiResponse::json(200, config_json(cluster_));
    });
  }
  if (path == "objects" && method == "POST") {
    auto docs = parse_manifests(request.body);
    return cluster_.locked([&] {
      Json stored = Json::array();
      for (const auto& o : cluster_.apply_manifests(docs)) {
        stored.push_back({{"kind", o.value("kind", "")},
                          {"namespace", namespace_of(o)},
                          {"name", name_of(o)},
                          {"resourceVersion", string_at(o, "metadata.resourceVersion")}});
      }
      return ApiResponse::json(200, {{"status", "ok"}, {"objects", stored}});
    });
  }
  if (path == "watch/compact" && method == "POST") {
    cluster_.hub().compact();
    return ok({{"compactedResourceVersion", std::to_string(cluster_.hub().compacted_rv())}});
  }
  if (path == "faults") {
    if (method == "GET") {
      return cluster_.locked([&] { return ApiResponse::json(200, cluster_.faults().to_json()); });
    }
    if (method == "DELETE") {
      cluster_.locked([&] { cluster_.faults().clear(); });
      return ok();
    }
  }
  Json body = body_object(request);
  if (path == "faults/memory") {
    WorkloadRef workload = workload_from(body, "workload");
    std::string container = body.value("container", "");
    bool remove = !body.contains("bytes") || body["bytes"].is_null();
    std::int64_t bytes = remove ? 0 : bytes_from(body["bytes"], "bytes");
    return cluster_.locked([&] {
      auto& list = cluster_.faults().memory;
      list.erase(std::remove_if(list.begin(), list.end(),
                                [&](const MemoryFault& f) {
                                  return f.workload.ns == workload.ns && f.workload.kind == workload.kind &&
                                         f.workload.name == workload.name && f.container == container;
                                }),
                 list.end());
      if (!remove) {
        list.push_back({workload, container, bytes});
      }
      return ok({{"faults", cluster_.faults().to_json()}});
    });
  }
  if (path == "faults/image") {
    std::string image = required_string(body, "image");
    std::string mode = body.value("mode", "crash");
    if (mode != "crash" && mode != "pull" && mode != "ok") {
      throw ApiError::bad_request("mode must be crash, pull or ok");
    }
    int exit_code = body.value("exitCode", 1);
    return cluster_.locked([&] {
      if (mode == "ok") {
        cluster_.faults().images.erase(image);
      } else {
        cluster_.faults().images[image] = {mode, exit_code};
      }
      return ok({{"faults", cluster_.faults().to_json()}});
    });
  }
  if (path == "faults/node") {
    std::string node = required_string(body, "node");
    bool ready = body.value("ready", false);
    std::string status = body.value("status", "Unknown");
    if (status != "Unknown" && status != "False") {
      throw ApiError::bad_request("status must be Unknown or False");
    }
    return cluster_.locked([&] {
      if (!cluster_.store().get(resource_by_plural("nodes"), "", node)) {
        throw ApiError::not_found("nodes", node);
      }
      if (ready) {
        cluster_.faults().nodes.erase(node);
      } else {
        cluster_.faults().nodes[node] = {status};
      }
      return ok({{"faults", cluster_.faults().to_json()}});
    });
  }
  if (path == "faults/hpa") {
    std::string ns = body.value("namespace", "default");
    std::string name = required_string(body, "name");
    bool remove = !body.contains("utilization") || body["utilization"].is_null();
    if (!remove && (!body["utilization"].is_number() || body["utilization"].get<double>() < 0)) {
      throw ApiError::bad_request("utilization must be a non-negative percentage");
    }
    return cluster_.locked([&] {
      if (remove) {
        cluster_.faults().hpa_load.erase(ns + "/" + name);
      } else {
        cluster_.faults().hpa_load[ns + "/" + name] = body["utilization"].get<double>();
      }
      return ok({{"faults", cluster_.faults().to_json()}});
    });
  }
  if (path == "faults/pvc") {
    std::string ns = body.value("namespace", "default");
    std::string name = required_string(body, "name");
    bool remove = !body.contains("usedBytes") || body["usedBytes"].is_null();
    std::int64_t used = remove ? 0 : bytes_from(body["usedBytes"], "usedBytes");
    return cluster_.locked([&] {
      if (remove) {
        cluster_.faults().pvc_used.erase(ns + "/" + name);
      } else {
        cluster_.faults().pvc_used[ns + "/" + name] = used;
      }
      return ok({{"faults", cluster_.faults().to_json()}});
    });
  }
  if (path == "prices/node") {
    std::string node = required_string(body, "node");
    NodePrice price;
    if (body.contains("cpuHourly")) {
      price.cpu_hourly = body["cpuHourly"].get<double>();
    }
    if (body.contains("ramGiBHourly")) {
      price.ram_gib_hourly = body["ramGiBHourly"].get<double>();
    }
    if (price.cpu_hourly < 0 || price.ram_gib_hourly < 0) {
      throw ApiError::bad_request("prices must be non-negative");
    }
    return cluster_.locked([&] {
      cluster_.faults().node_prices[node] = price;
      return ok({{"faults", cluster_.faults().to_json()}});
    });
  }
  if (path == "prices/pv") {
    if (!body.contains("gibHourly") || !body["gibHourly"].is_number() || body["gibHourly"].get<double>() < 0) {
      throw ApiError::bad_request("gibHourly must be a non-negative number");
    }
    return cluster_.locked([&] {
      cluster_.faults().pv_gib_hourly = body["gibHourly"].get<double>();
      return ok({{"faults", cluster_.faults().to_json()}});
    });
  }
  throw ApiError(404, "NotFound", "unknown simulator endpoint /sim/v1/" + path);
}

}  // namespace kubesim
