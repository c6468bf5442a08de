#include "clock.h"

#include <cstdio>
#include <ctime>

namespace kubesim {

TimePoint SystemClock::now() const {
  std::lock_guard lock(mutex_);
  return std::chrono::system_clock::now() + offset_;
}

void SystemClock::advance(Millis by) {
  std::lock_guard lock(mutex_);
  offset_ += by;
}

std::string Random::suffix(std::size_t length) {
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (std::size_t i = 0; i < length; ++i) {
    out.push_back(kAlphabet[next() % (sizeof(kAlphabet) - 1)]);
  }
  return out;
}

std::string Random::hex(std::size_t length) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < length; ++i) {
    out.push_back(kHex[next() % 16]);
  }
  return out;
}

std::string Random::uid() {
  // Version-4 layout so clients that parse UUIDs accept it.
  std::string h = hex(32);
  h[12] = '4';
  h[16] = "89ab"[next() % 4];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" +
         h.substr(20, 12);
}

std::uint64_t SeededRandom::next() {
  std::lock_guard lock(mutex_);
  return engine_();
}

namespace {

std::tm to_utc(TimePoint t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return tm;
}

}  // namespace

std::string format_time(TimePoint t) {
  std::tm tm = to_utc(t);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string format_micro_time(TimePoint t) {
  std::tm tm = to_utc(t);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() % 1000000;
  if (micros < 0) {
    micros += 1000000;
  }
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%06lldZ", buf, static_cast<long long>(micros));
  return out;
}

bool parse_time(const std::string& text, TimePoint& out) {
  std::tm tm{};
  int year = 0;
  int month = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &consumed) != 6) {
    return false;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  std::time_t secs = timegm(&tm);
  out = std::chrono::system_clock::from_time_t(secs);
  std::string rest = text.substr(static_cast<std::size_t>(consumed));
  if (!rest.empty() && rest[0] == '.') {
    std::size_t i = 1;
    long long frac = 0;
    int digits = 0;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') {
      if (digits < 6) {
        frac = frac * 10 + (rest[i] - '0');
        ++digits;
      }
      ++i;
    }
    while (digits < 6) {
      frac *= 10;
      ++digits;
    }
    out += std::chrono::microseconds(frac);
  }
  return true;
}

std::string human_duration(std::chrono::seconds d) {
  long long seconds = d.count();
  if (seconds < -1) {
    return "<invalid>";
  }
  if (seconds < 0) {
    return "0s";
  }
  if (seconds < 120) {
    return std::to_string(seconds) + "s";
  }
  long long minutes = seconds / 60;
  if (minutes < 10) {
    long long s = seconds % 60;
    return s == 0 ? std::to_string(minutes) + "m" : std::to_string(minutes) + "m" + std::to_string(s) + "s";
  }
  if (minutes < 180) {
    return std::to_string(minutes) + "m";
  }
  long long hours = seconds / 3600;
  if (hours < 8) {
    long long m = minutes % 60;
    return m == 0 ? std::to_string(hours) + "h" : std::to_string(hours) + "h" + std::to_string(m) + "m";
  }
  if (hours < 48) {
    return std::to_string(hours) + "h";
  }
  if (hours < 24 * 8) {
    long long h = hours % 24;
    return h == 0 ? std::to_string(hours / 24) + "d" : std::to_string(hours / 24) + "d" + std::to_string(h) + "h";
  }
  if (hours < 24 * 365 * 2) {
    return std::to_string(hours / 24) + "d";
  }
  if (hours < 24 * 365 * 8) {
    long long dy = (hours / 24) % 365;
    return dy == 0 ? std::to_string(hours / 24 / 365) + "y"
                   : std::to_string(hours / 24 / 365) + "y" + std::to_string(dy) + "d";
  }
  return std::to_string(hours / 24 / 365) + "y";
}

}  // namespace kubesim
