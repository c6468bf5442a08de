#pragma once

// Kubernetes Events on the objects kubemend touches, recorded the way
// client-go's event recorder does, so `kubectl describe` tells the story:
//  - one core/v1 Event per (object, type, reason, message); the same one
//    again increments `count` and moves `lastTimestamp` with a merge PATCH
//    of the existing Event instead of creating a new one (client-go's
//    EventCorrelator; a PATCH that finds the Event gone creates it afresh);
//  - the Event lives in the object's namespace, "default" for cluster-scoped
//    objects (as client-go does), named "<object name>.<16 hex digits>";
//  - reasons are CamelCase (RemediationApplied), messages are cut at 1 KiB.
// The aggregation cache is bounded (oldest forgotten first): a forgotten key
// starts a new Event, which is what client-go does too.
//
// Record() blocks on the API server; callers that must not wait (the
// executor) call it from a worker thread. Thread-safe.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "kubemend/kube/client.h"

namespace kubemend::kube {

// The object an Event is about. uid is optional but `kubectl describe` of
// some kinds matches on it: fill it when the object can be read.
struct InvolvedObject {
  std::string api_version;  // "apps/v1"
  std::string kind;         // "Deployment"
  std::string ns;           // empty for cluster-scoped kinds
  std::string name;
  std::string uid;
};

enum class EventType { kNormal, kWarning };

struct EventSource {
  std::string component;  // source.component and reportingComponent, e.g. "kubemend-executor"
  std::string instance;   // reportingInstance (host/pod name)
};

// RFC 3339 in UTC with seconds ("2026-12-06T12:00:00Z"), as Event timestamps want.
std::string KubeTime(std::chrono::system_clock::time_point t);

// The body of a new Event (count 1).
nlohmann::json NewEventBody(const InvolvedObject& obj, EventType type, const std::string& reason,
                            const std::string& message, const EventSource& source, const std::string& name,
                            std::chrono::system_clock::time_point now);

class EventRecorder {
 public:
  using Now = std::function<std::chrono::system_clock::time_point()>;
  using RandomName = std::function<std::string()>;  // the 16 hex digits of a new Event's name
  EventRecorder(KubeClient& client, EventSource source, Now now = {}, RandomName random = {},
                size_t max_cached = 4096);

  // Creates the Event, or counts a repeat on the existing one. The error is
  // the API server's (kForbidden without RBAC for events).
  Result<void> Record(const InvolvedObject& obj, EventType type, const std::string& reason,
                      const std::string& message);

 private:
  struct Seen {
    std::string ns;
    std::string name;
    int64_t count = 0;
  };
  Result<void> CreateNew(const std::string& key, const InvolvedObject& obj, EventType type, const std::string& reason,
                         const std::string& message);

  KubeClient& client_;
  EventSource source_;
  Now now_;
  RandomName random_;
  size_t max_cached_;
  std::mutex mu_;
  std::map<std::string, Seen> seen_;
  std::deque<std::string> order_;
};

}  // namespace kubemend::kube
