#include "events.h"

#include "api_error.h"

#include <cstdio>

namespace kubesim {

void EventRecorder::record(const Json& involved, const std::string& type, const std::string& reason,
                           const std::string& message, const EventSource& source, const std::string& field_path) {
  const ResourceInfo& events = resource_by_plural("events");
  std::string ns = namespace_of(involved);
  if (ns.empty()) {
    ns = "default";  // events about cluster-scoped objects live in "default"
  }
  TimePoint now = api_.clock().now();
  std::string now_text = format_time(now);
  std::string key = uid_of(involved) + "\x1f" + type + "\x1f" + reason + "\x1f" + message + "\x1f" +
                    source.component + "\x1f" + source.host + "\x1f" + field_path;
  auto it = names_.find(key);
  if (it != names_.end()) {
    const Json* existing = api_.store().get(events, ns, it->second);
    if (existing) {
      Json updated = *existing;
      updated["count"] = int_at(updated, "count", 1) + 1;
      updated["lastTimestamp"] = now_text;
      api_.store().replace(events, std::move(updated), false);
      return;
    }
    names_.erase(it);
  }
  // client-go names events <object>.<nanoseconds in hex>.
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  char suffix[32];
  std::snprintf(suffix, sizeof(suffix), "%llx", static_cast<unsigned long long>(nanos));
  std::string name = name_of(involved) + "." + suffix;
  while (api_.store().get(events, ns, name)) {
    name = name_of(involved) + "." + suffix + api_.random().hex(4);
  }
  Json involved_ref = {{"kind", involved.value("kind", "")},
                       {"name", name_of(involved)},
                       {"uid", uid_of(involved)},
                       {"apiVersion", involved.value("apiVersion", "")},
                       {"resourceVersion", string_at(involved, "metadata.resourceVersion")}};
  if (!namespace_of(involved).empty()) {
    involved_ref["namespace"] = namespace_of(involved);
  }
  if (!field_path.empty()) {
    involved_ref["fieldPath"] = field_path;
  }
  Json source_json = {{"component", source.component}};
  if (!source.host.empty()) {
    source_json["host"] = source.host;
  }
  Json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"involvedObject", involved_ref},
                {"reason", reason},
                {"message", message},
                {"source", source_json},
                {"firstTimestamp", now_text},
                {"lastTimestamp", now_text},
                {"count", 1},
                {"type", type},
                {"eventTime", nullptr},
                {"reportingComponent", source.component},
                {"reportingInstance", source.host}};
  try {
    api_.create(events, ns, std::move(event), {false, true});
    names_[key] = name;
  } catch (const ApiError&) {
    // The namespace is going away; an event about it is not worth failing a
    // controller pass for.
  }
}

}  // namespace kubesim
