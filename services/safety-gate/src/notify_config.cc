#include "notify_config.h"

#include <absl/strings/ascii.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace kubemend::gate::notify {
namespace {

absl::Status Bad(const std::string& key, const std::string& why) {
  return absl::InvalidArgumentError("key " + key + ": " + why);
}

const std::set<std::string> kRouteKeys = {"name",       "format",      "url_env",    "url_file",
                                          "token_env",  "token_file",  "events",     "namespaces",
                                          "cluster_wide", "min_severity", "rate_limit"};

absl::StatusOr<std::vector<std::string>> StringList(const YAML::Node& n, const std::string& key) {
  std::vector<std::string> out;
  if (!n || n.IsNull()) {
    return out;
  }
  if (!n.IsSequence()) {
    return Bad(key, "expected a list");
  }
  for (const auto& item : n) {
    if (!item.IsScalar() || item.as<std::string>().empty()) {
      return Bad(key, "expected non-empty strings");
    }
    out.push_back(item.as<std::string>());
  }
  return out;
}

// A secret from exactly one of <what>_env / <what>_file. Errors name the
// variable or file, never the value.
absl::StatusOr<std::string> Secret(const YAML::Node& r, const std::string& key, const std::string& what,
                                   bool required, const Env& env, const FileReader& read) {
  bool has_env = static_cast<bool>(r[what + "_env"]);
  bool has_file = static_cast<bool>(r[what + "_file"]);
  if (has_env && has_file) {
    return Bad(key + "." + what + "_env", "set " + what + "_env or " + what + "_file, not both");
  }
  if (!has_env && !has_file) {
    if (required) {
      return Bad(key, "needs " + what + "_env (an environment variable) or " + what +
                          "_file (a file) holding the " + what + "; it is a secret, so never inline");
    }
    return std::string();
  }
  std::string value;
  if (has_env) {
    std::string var = r[what + "_env"].as<std::string>("");
    auto it = env.find(var);
    if (var.empty() || it == env.end() || it->second.empty()) {
      return Bad(key + "." + what + "_env", "environment variable \"" + var + "\" is not set or empty");
    }
    value = it->second;
  } else {
    std::string path = r[what + "_file"].as<std::string>("");
    auto content = read(path);
    if (!content.ok()) {
      return Bad(key + "." + what + "_file", std::string(content.status().message()));
    }
    value = std::string(absl::StripAsciiWhitespace(*content));
    if (value.empty()) {
      return Bad(key + "." + what + "_file", "file \"" + path + "\" is empty");
    }
  }
  return value;
}

absl::StatusOr<RouteConfig> ParseRoute(const YAML::Node& r, const std::string& key, const Env& env,
                                       const FileReader& read) {
  if (!r.IsMap()) {
    return Bad(key, "expected a map with name, format, url_env or url_file, ...");
  }
  for (const auto& kv : r) {
    std::string k = kv.first.as<std::string>();
    if (!kRouteKeys.count(k)) {
      return Bad(key + "." + k, "unknown key (known: name, format, url_env, url_file, token_env, "
                                "token_file, events, namespaces, cluster_wide, min_severity, rate_limit)");
    }
  }
  RouteConfig rc;
  rc.name = r["name"] ? r["name"].as<std::string>("") : "";
  if (!std::regex_match(rc.name, std::regex("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"))) {
    return Bad(key + ".name", "\"" + rc.name + "\" must be 1-63 of a-z, 0-9 and '-' (it names the route's consumer group)");
  }
  std::string format = r["format"] ? r["format"].as<std::string>("") : "";
  if (format == "slack") {
    rc.format = Format::kSlack;
  } else if (format == "webhook") {
    rc.format = Format::kWebhook;
  } else {
    return Bad(key + ".format", "\"" + format + "\" is not slack or webhook");
  }
  auto url = Secret(r, key, "url", true, env, read);
  if (!url.ok()) {
    return url.status();
  }
  if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
    return Bad(key + (r["url_env"] ? ".url_env" : ".url_file"),
               "the URL it holds must start with http:// or https:// (value not shown: it is a secret)");
  }
  rc.url = *url;
  auto token = Secret(r, key, "token", false, env, read);
  if (!token.ok()) {
    return token.status();
  }
  rc.bearer_token = *token;
  auto events = StringList(r["events"], key + ".events");
  if (!events.ok()) {
    return events.status();
  }
  for (const auto& name : *events) {
    Kind k{};
    if (!ParseKind(name, &k)) {
      std::string known;
      for (Kind each : AllKinds()) {
        known += (known.empty() ? "" : ", ") + KindName(each);
      }
      return Bad(key + ".events", "unknown event type \"" + name + "\" (known: " + known + ")");
    }
    rc.filter.kinds.insert(k);
  }
  auto namespaces = StringList(r["namespaces"], key + ".namespaces");
  if (!namespaces.ok()) {
    return namespaces.status();
  }
  rc.filter.namespaces = {namespaces->begin(), namespaces->end()};
  if (r["cluster_wide"]) {
    std::string v = r["cluster_wide"].as<std::string>("");
    if (v != "true" && v != "false") {
      return Bad(key + ".cluster_wide", "must be true or false");
    }
    rc.filter.cluster_wide = v == "true";
  }
  if (r["min_severity"]) {
    std::string v = r["min_severity"].as<std::string>("");
    if (!ParseSeverity(v, &rc.filter.min_severity)) {
      return Bad(key + ".min_severity", "\"" + v + "\" is not info, warning or critical");
    }
  }
  if (const YAML::Node& rl = r["rate_limit"]) {
    if (!rl.IsMap()) {
      return Bad(key + ".rate_limit", "expected {burst: N, per: DURATION}");
    }
    for (const auto& kv : rl) {
      std::string k = kv.first.as<std::string>();
      if (k != "burst" && k != "per") {
        return Bad(key + ".rate_limit." + k, "unknown key (known: burst, per)");
      }
    }
    if (rl["burst"]) {
      try {
        rc.burst = rl["burst"].as<int64_t>();
      } catch (const YAML::Exception&) {
        return Bad(key + ".rate_limit.burst", "expected a whole number");
      }
      if (rc.burst < 0 || rc.burst > 100000) {
        return Bad(key + ".rate_limit.burst", "must be 0 (off) to 100000");
      }
    }
    if (rl["per"]) {
      if (auto st = ParseDuration(rl["per"].as<std::string>(""), &rc.per); !st.ok()) {
        return Bad(key + ".rate_limit.per", std::string(st.message()));
      }
    }
    if (rc.burst > 0 && rc.per.count() <= 0) {
      return Bad(key + ".rate_limit.per", "must be > 0");
    }
  }
  return rc;
}

}  // namespace

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  if (path.empty() || !in) {
    return absl::NotFoundError("cannot read file \"" + path + "\"");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::vector<RouteConfig>> ParseRoutes(const YAML::Node& routes, const Env& env,
                                                     const FileReader& read) {
  std::vector<RouteConfig> out;
  if (!routes || routes.IsNull()) {
    return out;
  }
  if (!routes.IsSequence()) {
    return Bad("notify.routes", "expected a list of routes");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < routes.size(); ++i) {
    std::string key = "notify.routes[" + std::to_string(i) + "]";
    auto rc = ParseRoute(routes[i], key, env, read);
    if (!rc.ok()) {
      return rc.status();
    }
    if (!names.insert(rc->name).second) {
      return Bad(key + ".name", "route \"" + rc->name + "\" is defined twice");
    }
    out.push_back(std::move(*rc));
  }
  return out;
}

void NotifyConfigKeys::Register(ConfigSchema& s) {
  NotifyConfig& b = base_;
  s.AddNode("notify.routes", &routes_,
            "notification routes: [{name, format: slack|webhook, url_env|url_file, token_env|token_file, "
            "events, namespaces, cluster_wide, min_severity, rate_limit: {burst, per}}] (docs/notifications.md)");
  s.Add("notify.timeout", &b.timeout, "one webhook request's timeout");
  s.Add("notify.retry.initial", &b.retry_initial, "first back-off after a failed delivery (doubles)");
  s.Add("notify.retry.max", &b.retry_max, "longest back-off between delivery attempts");
  s.Add("notify.retry.give_up_after", &b.give_up_after,
        "a notification undeliverable for this long is dropped, logged and counted");
  s.Add("notify.max_age", &b.max_age,
        "events recorded longer ago than this are not sent (a new route reads the retained log)");
}

absl::StatusOr<NotifyConfig> NotifyConfigKeys::Build(const Env& env, const FileReader& read) const {
  NotifyConfig c = base_;
  auto routes = ParseRoutes(routes_, env, read);
  if (!routes.ok()) {
    return routes.status();
  }
  c.routes = std::move(*routes);
  if (c.timeout.count() <= 0) {
    return Bad("notify.timeout", "must be > 0");
  }
  if (c.retry_initial.count() <= 0 || c.retry_max < c.retry_initial) {
    return Bad("notify.retry", "initial must be > 0 and max >= initial");
  }
  if (c.give_up_after.count() <= 0) {
    return Bad("notify.retry.give_up_after", "must be > 0");
  }
  if (c.max_age.count() <= 0) {
    return Bad("notify.max_age", "must be > 0");
  }
  return c;
}

}  // namespace kubemend::gate::notify
