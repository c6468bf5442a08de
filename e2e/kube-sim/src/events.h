#pragma once

// EventRecorder writes core/v1 Events the way client-go's recorder and the
// API server's event correlator do: a repeat of the same (object, type,
// reason, message, source) bumps `count` and `lastTimestamp` of the existing
// Event instead of creating a new one, so crash loops don't flood watchers.

#include "clock.h"
#include "object_api.h"

#include <map>
#include <string>

namespace kubesim {

struct EventSource {
  std::string component;  // "kubelet", "default-scheduler", "deployment-controller"...
  std::string host;       // node name for kubelet events
};

class EventRecorder {
 public:
  explicit EventRecorder(ObjectApi& api) : api_(api) {}

  // `involved` is the object the event is about; `field_path` names a
  // container ("spec.containers{app}") for kubelet events.
  void record(const Json& involved, const std::string& type, const std::string& reason, const std::string& message,
              const EventSource& source, const std::string& field_path = "");
  void forget_all() { names_.clear(); }

 private:
  ObjectApi& api_;
  // Aggregation key → event name.
  std::map<std::string, std::string> names_;
};

}  // namespace kubesim
