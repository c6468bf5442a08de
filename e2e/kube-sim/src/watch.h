#pragma once

// WatchStream turns the WatchHub's history into one client's watch: it
// filters by namespace/labels/fields (an object leaving the selector is
// reported DELETED, one entering it ADDED, like the watch cache), renders
// objects or Table rows, emits BOOKMARKs when asked, and ends with an
// ERROR 410 event when the client's resourceVersion is or becomes too old.
// It only takes the hub's lock, never the store's, so a slow client can't
// stall the cluster. One WatchStream per HTTP response; not shared.

#include "filters.h"
#include "store.h"
#include "tables.h"

#include <chrono>
#include <deque>
#include <string>

namespace kubesim {

struct WatchOptions {
  bool bookmarks = false;
  bool as_table = false;
  IncludeObject include = IncludeObject::kMetadata;
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};
  std::chrono::milliseconds bookmark_interval{std::chrono::seconds(5)};
  // sendInitialEvents=true: after the initial ADDED events, a BOOKMARK
  // annotated k8s.io/initial-events-end.
  bool initial_events_end = false;
};

class WatchStream {
 public:
  // `initial` are the objects to announce as ADDED first (watch from "now"
  // or from "0"); `from_rv` is the resourceVersion after which history
  // events are streamed.
  WatchStream(WatchHub& hub, const Clock& clock, const ResourceInfo& r, ObjectFilter filter, std::uint64_t from_rv,
              std::vector<Json> initial, WatchOptions options);

  // Appends the next newline-delimited events to `out`, waiting up to
  // `wait` if there is nothing to send. Returns false when the stream has
  // ended (after any final ERROR event has been appended).
  bool next(std::chrono::milliseconds wait, std::string& out);

 private:
  std::string render(const std::string& type, const Json& object);
  std::string error_line(const std::string& message);

  WatchHub& hub_;
  const Clock& clock_;
  const ResourceInfo& resource_;
  ObjectFilter filter_;
  std::uint64_t cursor_;
  std::deque<std::string> pending_;
  WatchOptions options_;
  bool first_table_ = true;
  bool ended_ = false;
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::steady_clock::time_point last_sent_;
};

}  // namespace kubesim
