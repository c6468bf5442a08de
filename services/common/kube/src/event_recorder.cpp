#include "kubemend/kube/event_recorder.h"

#include <fmt/format.h>

#include <random>

namespace kubemend::kube {
namespace {

constexpr size_t kMaxMessage = 1024;

std::string Cut(const std::string& s) { return s.size() <= kMaxMessage ? s : s.substr(0, kMaxMessage - 3) + "..."; }

std::string EventNamespace(const InvolvedObject& obj) { return obj.ns.empty() ? "default" : obj.ns; }

std::string RandomHex() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

const ResourceType& CoreEvents() { return resources::kEvents; }

}  // namespace

std::string KubeTime(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

nlohmann::json NewEventBody(const InvolvedObject& obj, EventType type, const std::string& reason,
                            const std::string& message, const EventSource& source, const std::string& name,
                            std::chrono::system_clock::time_point now) {
  nlohmann::json involved = {{"apiVersion", obj.api_version}, {"kind", obj.kind}, {"name", obj.name}};
  if (!obj.ns.empty()) {
    involved["namespace"] = obj.ns;
  }
  if (!obj.uid.empty()) {
    involved["uid"] = obj.uid;
  }
  const std::string ts = KubeTime(now);
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"name", name}, {"namespace", EventNamespace(obj)}}},
          {"involvedObject", involved},
          {"type", type == EventType::kWarning ? "Warning" : "Normal"},
          {"reason", reason},
          {"message", Cut(message)},
          {"count", 1},
          {"firstTimestamp", ts},
          {"lastTimestamp", ts},
          {"source", {{"component", source.component}}},
          {"reportingComponent", source.component},
          {"reportingInstance", source.instance}};
}

EventRecorder::EventRecorder(KubeClient& client, EventSource source, Now now, RandomName random, size_t max_cached)
    : client_(client),
      source_(std::move(source)),
      now_(now ? std::move(now) : Now([] { return std::chrono::system_clock::now(); })),
      random_(random ? std::move(random) : RandomName(RandomHex)),
      max_cached_(max_cached == 0 ? 1 : max_cached) {}

Result<void> EventRecorder::Record(const InvolvedObject& obj, EventType type, const std::string& reason,
                                   const std::string& message) {
  const std::string key = fmt::format("{}/{}/{}/{}/{}\x1f{}\x1f{}\x1f{}", obj.api_version, obj.kind, obj.ns, obj.name,
                                      obj.uid, type == EventType::kWarning ? "W" : "N", reason, Cut(message));
  Seen seen;
  {
    std::lock_guard lock(mu_);
    auto it = seen_.find(key);
    if (it == seen_.end()) {
      seen.count = 0;
    } else {
      seen = it->second;
    }
  }
  if (seen.count == 0) {
    return CreateNew(key, obj, type, reason, message);
  }
  // A repeat: count++ on the Event already there (client-go's aggregation).
  nlohmann::json patch = {{"count", seen.count + 1}, {"lastTimestamp", KubeTime(now_())}};
  auto r = client_.Patch(ObjectRef{CoreEvents(), seen.ns, seen.name, {}}, PatchType::kMergePatch, patch);
  if (!r.ok()) {
    if (r.error().kind == ErrorKind::kNotFound) {  // expired (the API server keeps Events 1 h by default)
      return CreateNew(key, obj, type, reason, message);
    }
    return r.error();
  }
  std::lock_guard lock(mu_);
  auto it = seen_.find(key);
  if (it != seen_.end()) {
    it->second.count = std::max(it->second.count, seen.count + 1);
  }
  return Result<void>();
}

Result<void> EventRecorder::CreateNew(const std::string& key, const InvolvedObject& obj, EventType type,
                                      const std::string& reason, const std::string& message) {
  const std::string name = obj.name + "." + random_();
  auto r = client_.Create(CoreEvents(), EventNamespace(obj), NewEventBody(obj, type, reason, message, source_, name, now_()));
  if (!r.ok()) {
    return r.error();
  }
  std::lock_guard lock(mu_);
  if (seen_.find(key) == seen_.end()) {
    order_.push_back(key);
  }
  seen_[key] = Seen{EventNamespace(obj), name, 1};
  while (order_.size() > max_cached_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
  return Result<void>();
}

}  // namespace kubemend::kube
