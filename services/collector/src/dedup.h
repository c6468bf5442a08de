#pragma once
// Deduplication of signals by (fingerprint, status, starts_at): an alert
// storm of the same alert becomes one signal per change (firing → resolved →
// firing ...), not one per notification. A firing signal with another
// starts_at than the one recorded is a new occurrence (its resolve was
// missed) and is published.
//
// Memory is bounded: resolved entries are forgotten after `forget_after`,
// firing ones after `forget_firing_after` (an alert still firing then is
// published once more), Kubernetes Warning-event fingerprints (k8s/Event/...,
// one-shot) after `forget_after` whatever their status, and past `max_entries`
// the oldest go first. Pruning runs every 1,024 records and at load.
//
// The state survives a restart through a small local file: one line per
// change ("<status> <fingerprint> <unix_ms> [<starts_at_ms>]"), appended after the
// broker acknowledged the signal, and compacted on load and whenever the log
// holds twice as many lines as entries. Publishers call
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
  struct Limits {
    Millis forget_after{86'400'000};             // resolved entries and k8s/Event/ ones
    Millis forget_firing_after{7 * 86'400'000LL};  // firing entries
    size_t max_entries = 200'000;
  };
  // `path` empty: memory only (tests, or when persistence is turned off).
  static absl::StatusOr<std::unique_ptr<DedupStore>> Open(const std::string& path, Limits limits,
                                                          const Clock& clock);
  static absl::StatusOr<std::unique_ptr<DedupStore>> Open(const std::string& path,
                                                          Millis forget_after, const Clock& clock) {
    Limits l;
    l.forget_after = forget_after;
    return Open(path, l, clock);
  }
  ~DedupStore();

  // True if a signal with this fingerprint and status should be published,
  // false when it is the same as the last one published. A resolved signal
  // for a fingerprint never seen firing is published (we may have missed the
  // firing one; downstream can close what it knows).
  // starts_at_ms: the occurrence's start (0: unknown, then status alone decides).
  bool ShouldPublish(const std::string& fingerprint, v1::SignalStatus status,
                     int64_t starts_at_ms = 0) const;
  absl::Status Record(const std::string& fingerprint, v1::SignalStatus status,
                      int64_t starts_at_ms = 0);

  // Fingerprints whose last published status is firing and that start with
  // `prefix` (a source's own fingerprint namespace, e.g. "k8s/").
  std::vector<std::string> FiringWithPrefix(const std::string& prefix) const;
  size_t size() const;

 private:
  DedupStore(std::string path, Limits limits, const Clock& clock)
      : path_(std::move(path)), limits_(limits), clock_(clock) {}
  absl::Status LoadAndCompact();
  absl::Status WriteCompacted();  // rewrites the file from entries_ (mu_ held or single-threaded)
  void Prune(int64_t now_ms);     // mu_ held

  struct Entry {
    v1::SignalStatus status = v1::SIGNAL_STATUS_UNSPECIFIED;
    int64_t at_ms = 0;
    int64_t starts_ms = 0;
  };
  std::string path_;
  Limits limits_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  FILE* file_ = nullptr;
  size_t appended_ = 0;
  size_t since_prune_ = 0;
};

}  // namespace kubemend::collector
