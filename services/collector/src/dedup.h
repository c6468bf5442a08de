#pragma once
// Deduplication of signals by (fingerprint, status): an alert storm of the
// same alert becomes one signal per change (firing → resolved → firing ...),
// not one per notification.
//
// The state survives a restart through a small local file: one line per
// change ("<status> <fingerprint> <unix_ms>"), appended and fsync'd after the
// broker acknowledged the signal, and compacted on load. Publishers call
// Decide() before publishing and Record() only after the publish was
// acknowledged, so a signal the bus refused is never remembered as sent.
//
// Thread-safe (one mutex); called from webhook worker threads and the source
// loops. Errors: Open() fails (FailedPrecondition) when the file cannot be
// read or created; Record() returns the write error but keeps the in-memory
// state.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kubemend/common/clock.h"
#include "kubemend/v1/events.pb.h"

namespace kubemend::collector {

class DedupStore {
 public:
  // `path` empty: memory only (tests, or when persistence is turned off).
  // Resolved entries older than `forget_after` are dropped at compaction.
  static absl::StatusOr<std::unique_ptr<DedupStore>> Open(const std::string& path,
                                                          Millis forget_after, const Clock& clock);
  ~DedupStore();

  // True if a signal with this fingerprint and status should be published,
  // false when it is the same as the last one published. A resolved signal
  // for a fingerprint never seen firing is published (we may have missed the
  // firing one; downstream can close what it knows).
  bool ShouldPublish(const std::string& fingerprint, v1::SignalStatus status) const;
  absl::Status Record(const std::string& fingerprint, v1::SignalStatus status);

  // Fingerprints whose last published status is firing and that start with
  // `prefix` (a source's own fingerprint namespace, e.g. "k8s/").
  std::vector<std::string> FiringWithPrefix(const std::string& prefix) const;
  size_t size() const;

 private:
  DedupStore(std::string path, Millis forget_after, const Clock& clock)
      : path_(std::move(path)), forget_after_(forget_after), clock_(clock) {}
  absl::Status LoadAndCompact();

  struct Entry {
    v1::SignalStatus status = v1::SIGNAL_STATUS_UNSPECIFIED;
    int64_t at_ms = 0;
  };
  std::string path_;
  Millis forget_after_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  FILE* file_ = nullptr;
  size_t appended_ = 0;
};

}  // namespace kubemend::collector
