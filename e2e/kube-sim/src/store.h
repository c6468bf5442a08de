#pragma once

// ObjectStore holds every object as JSON, keyed by resource type, namespace
// and name, and hands out the cluster-wide monotonic resourceVersion. Every
// write is published to the WatchHub. It is not thread safe: the Cluster
// serialises access with one mutex. The WatchHub has its own lock, so watch
// streams read history without ever holding the store.

#include "clock.h"
#include "resources.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kubesim {

struct WatchEvent {
  std::uint64_t rv = 0;
  const ResourceInfo* resource = nullptr;
  std::string ns;
  std::string type;  // ADDED, MODIFIED, DELETED
  std::shared_ptr<const Json> object;
  // The state before a MODIFIED, so a filtered watch can turn "stopped
  // matching" into DELETED and "started matching" into ADDED.
  std::shared_ptr<const Json> previous;
};

using WatchEventPtr = std::shared_ptr<const WatchEvent>;

// A bounded history of write events. Watchers resume from any
// resourceVersion still covered by the history; older ones are "too old"
// (410 Gone), exactly the contract of the API server's watch cache.
class WatchHub {
 public:
  explicit WatchHub(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  void publish(WatchEventPtr event);
  void set_capacity(std::size_t capacity);
  std::size_t capacity() const;
  // Forgets all history: every resourceVersion before now becomes too old.
  void compact();
  std::uint64_t latest_rv() const;
  // Highest resourceVersion that is no longer resumable (0: all are).
  std::uint64_t compacted_rv() const;
  bool resumable(std::uint64_t rv) const;

  enum class Poll { kEvents, kTimeout, kExpired, kClosed };
  // Appends events with rv > after to `out`; when there are none, waits up
  // to `wait`. kExpired when `after` has fallen out of the history.
  Poll poll(std::uint64_t after, std::chrono::milliseconds wait, std::vector<WatchEventPtr>& out);
  // Wakes and ends every poll (server shutdown).
  void close();

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<WatchEventPtr> history_;
  std::size_t capacity_;
  std::uint64_t latest_rv_ = 0;
  std::uint64_t compacted_rv_ = 0;
  bool closed_ = false;
};

class ObjectStore {
 public:
  explicit ObjectStore(WatchHub& hub) : hub_(hub) {}

  const Json* get(const ResourceInfo& r, const std::string& ns, const std::string& name) const;
  // ns "" lists across namespaces. Sorted by namespace, then name.
  std::vector<const Json*> list(const ResourceInfo& r, const std::string& ns = "") const;

  // Stores a new object; the caller has filled metadata.uid,
  // creationTimestamp and name. Throws ApiError AlreadyExists.
  Json insert(const ResourceInfo& r, Json object);
  // Replaces an existing object. With check_rv, a metadata.resourceVersion
  // that differs from the stored one is a 409 Conflict. A write that changes
  // nothing keeps the old resourceVersion and emits no event, like the API
  // server. Throws ApiError NotFound / Conflict.
  Json replace(const ResourceInfo& r, Json object, bool check_rv);
  // Removes the object and emits DELETED; returns its last state.
  Json erase(const ResourceInfo& r, const std::string& ns, const std::string& name);

  std::uint64_t current_rv() const { return rv_; }
  std::uint64_t next_rv() { return ++rv_; }
  std::size_t size() const;

 private:
  static std::string key(const std::string& ns, const std::string& name) { return ns + "/" + name; }
  void publish(const ResourceInfo& r, const std::string& type, const Json& object, const Json* previous);

  WatchHub& hub_;
  std::map<std::string, std::map<std::string, Json>> objects_;
  std::uint64_t rv_ = 0;
};

}  // namespace kubesim
