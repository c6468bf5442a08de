#include "alertmanager.h"

#include <nlohmann/json.hpp>

#include "kubemend/common/ids.h"

namespace kubemend::collector {
namespace {

using nlohmann::json;

absl::Status Bad(const std::string& why) { return absl::InvalidArgumentError(why); }

v1::Severity SeverityOf(const std::string& s) {
  if (s == "critical" || s == "error" || s == "page") {
    return v1::SEVERITY_CRITICAL;
  }
  if (s == "warning" || s == "warn") {
    return v1::SEVERITY_WARNING;
  }
  if (s == "info" || s == "none") {
    return v1::SEVERITY_INFO;
  }
  return v1::SEVERITY_UNSPECIFIED;
}

absl::StatusOr<std::map<std::string, std::string>> StringMap(const json& j, const std::string& where) {
  std::map<std::string, std::string> out;
  if (j.is_null()) {
    return out;
  }
  if (!j.is_object()) {
    return Bad(where + " must be an object of strings");
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string()) {
      return Bad(where + "." + it.key() + " must be a string");
    }
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

}  // namespace

namespace {

absl::StatusOr<std::vector<v1::Event>> ParseImpl(const std::string& body, const WebhookOptions& opts,
                                                 const ProducerIdentity& who, const Clock& clock) {
  json root = json::parse(body, nullptr, false);
  if (root.is_discarded()) {
    return Bad("body is not valid JSON");
  }
  if (!root.is_object()) {
    return Bad("body must be a JSON object (Alertmanager webhook payload)");
  }
  if (!root.contains("version") || !root["version"].is_string()) {
    return Bad("missing \"version\" (expected \"4\")");
  }
  if (root["version"].get<std::string>() != "4") {
    return Bad("unsupported webhook version \"" + root["version"].get<std::string>() +
               "\" (expected \"4\")");
  }
  if (!root.contains("alerts") || !root["alerts"].is_array()) {
    return Bad("missing \"alerts\" array");
  }
  std::vector<v1::Event> out;
  size_t i = 0;
  for (const auto& a : root["alerts"]) {
    std::string where = "alerts[" + std::to_string(i++) + "]";
    if (!a.is_object()) {
      return Bad(where + " must be an object");
    }
    auto labels = StringMap(a.value("labels", json()), where + ".labels");
    if (!labels.ok()) {
      return labels.status();
    }
    auto annotations = StringMap(a.value("annotations", json()), where + ".annotations");
    if (!annotations.ok()) {
      return annotations.status();
    }
    auto name_it = labels->find("alertname");
    if (name_it == labels->end() || name_it->second.empty()) {
      return Bad(where + ".labels.alertname is missing");
    }
    if (!a.contains("status") || !a["status"].is_string()) {
      return Bad(where + ".status is missing");
    }
    std::string status = a["status"].get<std::string>();
    if (status != "firing" && status != "resolved") {
      return Bad(where + ".status must be \"firing\" or \"resolved\", got \"" + status + "\"");
    }
    TimePoint starts{};
    TimePoint ends{};
    if (a.contains("startsAt")) {
      if (!a["startsAt"].is_string() || !ParseRfc3339(a["startsAt"].get<std::string>(), &starts)) {
        return Bad(where + ".startsAt is not an RFC 3339 time");
      }
    }
    if (a.contains("endsAt") && !a["endsAt"].is_string() && !a["endsAt"].is_null()) {
      return Bad(where + ".endsAt is not an RFC 3339 time");
    }
    if (a.contains("endsAt") && a["endsAt"].is_string() &&
        !ParseRfc3339(a["endsAt"].get<std::string>(), &ends)) {
      return Bad(where + ".endsAt is not an RFC 3339 time");
    }
    if (!a.value("fingerprint", json("")).is_string()) {
      return Bad(where + ".fingerprint must be a string");
    }
    if (!a.value("generatorURL", json("")).is_string()) {
      return Bad(where + ".generatorURL must be a string");
    }
    std::string fingerprint = a.value("fingerprint", "");
    if (fingerprint.empty()) {
      // Alertmanager always sends one; compute a stable stand-in from labels.
      std::string all;
      for (const auto& [k, v] : *labels) {
        all += k + "=" + v + "\n";
      }
      fingerprint = Sha256Hex(all).substr(0, 16);
    }

    v1::Event e = NewRootEvent(v1::EVENT_TYPE_SIGNAL, who, clock);
    if (starts.time_since_epoch().count() > 0) {
      SetTimestamp(e.mutable_occurred_at(), status == "resolved" && ends.time_since_epoch().count() > 0 ? ends : starts);
    }
    // The incident key for one alert instance: the same alert (fingerprint)
    // from the same start is the same incident, firing or resolved.
    e.set_incident_id(DerivedUuid(fingerprint, "incident/" + a.value("startsAt", std::string())));
    // The event id is derived from the observation too (alert, start, status):
    // the same alert delivered to two collector replicas (Alertmanager retries
    // against another pod of the Service) is one event, stored once.
    e.set_event_id(DerivedUuid(fingerprint, "signal/" + a.value("startsAt", std::string()) + "/" + status));
    *e.mutable_target() = TargetFromLabels(*labels, opts.cluster);
    v1::Signal* s = e.mutable_signal();
    s->set_source(v1::SIGNAL_SOURCE_ALERTMANAGER);
    s->set_name(name_it->second);
    s->set_reason(labels->count("reason") ? labels->at("reason") : "");
    s->set_fingerprint(fingerprint);
    s->set_status(status == "firing" ? v1::SIGNAL_STATUS_FIRING : v1::SIGNAL_STATUS_RESOLVED);
    s->set_severity(SeverityOf(labels->count("severity") ? labels->at("severity") : ""));
    for (const auto& [k, v] : *labels) {
      (*s->mutable_labels())[k] = v;
    }
    for (const auto& [k, v] : *annotations) {
      (*s->mutable_annotations())[k] = v;
    }
    std::string summary = annotations->count("summary")       ? annotations->at("summary")
                          : annotations->count("description") ? annotations->at("description")
                          : annotations->count("message")     ? annotations->at("message")
                                                              : name_it->second;
    s->set_summary(summary);
    if (starts.time_since_epoch().count() > 0) {
      SetTimestamp(s->mutable_starts_at(), starts);
    }
    if (ends.time_since_epoch().count() > 0) {
      SetTimestamp(s->mutable_ends_at(), ends);
    }
    s->set_generator_url(a.value("generatorURL", ""));
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<v1::Event>> ParseAlertmanagerWebhook(const std::string& body,
                                                                const WebhookOptions& opts,
                                                                const ProducerIdentity& who,
                                                                const Clock& clock) {
  // Every shape check above returns a reason; this is the net for a type
  // mismatch that slipped through, so that no input can escape as an
  // exception.
  try {
    return ParseImpl(body, opts, who, clock);
  } catch (const json::exception& e) {
    return Bad(std::string("malformed webhook payload: ") + e.what());
  }
}

}  // namespace kubemend::collector
