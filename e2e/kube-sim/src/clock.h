#pragma once

// Time and randomness come in through these small interfaces so that the
// object store and the controllers never read the wall clock themselves:
// unit tests drive them with ManualClock and a seeded generator and never
// sleep.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

namespace kubesim {

using TimePoint = std::chrono::system_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

// Wall clock plus an offset that the /sim/v1 API can advance, so end-to-end
// tests can jump over long waits (HPA "for: 15m", pod eviction timeouts)
// without sleeping. Thread safe.
class SystemClock : public Clock {
 public:
  TimePoint now() const override;
  void advance(Millis by);

 private:
  mutable std::mutex mutex_;
  Millis offset_{0};
};

// Fully manual clock for unit tests.
class ManualClock : public Clock {
 public:
  explicit ManualClock(TimePoint start) : now_(start) {}
  TimePoint now() const override { return now_; }
  void advance(Millis by) { now_ += by; }

 private:
  TimePoint now_;
};

// Source of the random parts of names (pod suffixes) and of uids.
class Random {
 public:
  virtual ~Random() = default;
  virtual std::uint64_t next() = 0;

  // Kubernetes' alphabet for generated name suffixes: no vowels, no
  // look-alike characters (k8s.io/apimachinery/pkg/util/rand).
  std::string suffix(std::size_t length);
  std::string uid();
  std::string hex(std::size_t length);
};

class SeededRandom : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t next() override;

 private:
  std::mutex mutex_;
  std::mt19937_64 engine_;
};

// RFC 3339 with second precision and a Z suffix, as the API server writes
// timestamps ("2024-05-01T10:00:00Z").
std::string format_time(TimePoint t);
// Same with microseconds ("...T10:00:00.123456Z"), used by MicroTime fields.
std::string format_micro_time(TimePoint t);
// Parses what format_time / format_micro_time write; returns false on junk.
bool parse_time(const std::string& text, TimePoint& out);
// "5s", "3m", "2d4h": the short human form kubectl shows in AGE columns.
std::string human_duration(std::chrono::seconds d);

}  // namespace kubesim
