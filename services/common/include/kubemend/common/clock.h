#pragma once
// Time comes in through this interface so that decision logic and tests
// never read the system clock or sleep. SystemClock is the only production
// implementation; FakeClock is for tests and is advanced by hand.
#include <atomic>
#include <chrono>

namespace kubemend {

using TimePoint = std::chrono::system_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  static const SystemClock& Instance() {
    static const SystemClock clock;
    return clock;
  }
};

// Thread-safe; starts at a fixed, recognisable instant (2026-01-01T00:00:00Z).
class FakeClock final : public Clock {
 public:
  FakeClock() : now_ms_(1767225600000) {}
  explicit FakeClock(TimePoint start)
      : now_ms_(std::chrono::duration_cast<Millis>(start.time_since_epoch()).count()) {}
  TimePoint Now() const override { return TimePoint(Millis(now_ms_.load())); }
  void Advance(Millis d) { now_ms_ += d.count(); }
  void Set(TimePoint t) { now_ms_ = std::chrono::duration_cast<Millis>(t.time_since_epoch()).count(); }

 private:
  std::atomic<int64_t> now_ms_;
};

inline int64_t ToUnixMillis(TimePoint t) {
  return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
}

}  // namespace kubemend
