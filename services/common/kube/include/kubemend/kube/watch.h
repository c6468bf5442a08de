#pragma once

// Informer-style watching: list, then watch from the list's resourceVersion,
// forever, until stopped.
//
// Loop (one background thread per Watcher, owned by it):
//  1. LIST the collection (paged) and hand the full state to on_sync.
//  2. WATCH from the list's resourceVersion with allowWatchBookmarks=true and
//     a server-side timeout; every ADDED/MODIFIED/DELETED/BOOKMARK event goes
//     to on_event, and its resourceVersion becomes the resume point.
//  3. When the stream ends (server timeout, dropped connection, 5xx) the
//     watch is resumed from the last resourceVersion seen, after a backoff
//     when something failed.
//  4. When the server says that resourceVersion is gone (HTTP 410, or an
//     ERROR event with code 410 "Expired"), go back to 1: on_sync is called
//     again with reason kRelistAfterGone, and the consumer diffs that state
//     against what it holds, since events in between were lost.
// Other failures are reported to on_error and retried with exponential
// backoff and jitter; the watcher never gives up by itself.
//
// Threading: every callback runs on the watcher's own thread, one at a time,
// in order; a slow callback delays the stream (the server buffers). Stop()
// may be called from any thread: it interrupts the connection and any
// backoff, waits for the thread, and after it returns no callback runs.
// Calling Stop() from inside a callback only requests the stop (it cannot
// wait for its own thread); the destructor then finishes it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kubemend/kube/result.h"

namespace kubemend::kube {

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark };

std::string_view ToString(WatchEventType type);

struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  // The object; for bookmarks only kind, apiVersion and metadata.resourceVersion.
  nlohmann::json object;
  std::string resource_version;
};

enum class SyncReason {
  kInitial,           // first list after start
  kRelistAfterGone,   // the resume point expired (410): events were missed
};

std::string_view ToString(SyncReason reason);

struct WatchSync {
  SyncReason reason = SyncReason::kInitial;
  // Every object in the collection at resource_version.
  std::vector<nlohmann::json> items;
  std::string resource_version;
};

struct WatchCallbacks {
  std::function<void(const WatchSync&)> on_sync;    // required
  std::function<void(const WatchEvent&)> on_event;  // required
  // Transient failures (list or watch errors, non-410 ERROR events); the
  // watcher retries by itself. Optional.
  std::function<void(const Error&)> on_error;
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  // Page size of the (re)list.
  int64_t page_size = 500;
  // Each watch request asks the server to end it after a random time in
  // [timeout, 2 * timeout), so connections are renewed regularly (as
  // client-go does).
  std::chrono::seconds watch_timeout{300};
  // Backoff after a failure: doubles up to max_backoff, +-20% jitter, reset
  // after a stream that delivered events.
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
};

// Running watch. Destroying it stops it.
class Watcher {
 public:
  virtual ~Watcher() = default;
  // Idempotent; see the threading note above.
  virtual void Stop() = 0;
};

}  // namespace kubemend::kube
