#include "kubemend/kube/quantity.h"

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "int128_util.h"

namespace kubemend::kube {
namespace {

constexpr Int128 kNano = Quantity::kNanosPerUnit;
// Decimal magnitudes are bounded so that every value and every intermediate
// of the canonical formatter fits comfortably in 128 bits.
constexpr int kMaxDigits = 38;  // |nanos| < 10^38, i.e. |value| < 10^29
// apimachinery caps binary-suffixed values at 2^63-1 (in units).
constexpr Int128 kBinaryCapNanos = Int128{std::numeric_limits<int64_t>::max()} * kNano;

struct Suffix {
  int base = 10;  // 10 or 2
  int64_t exponent = 0;
  QuantityFormat format = QuantityFormat::kDecimalSI;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Error InvalidQuantity(std::string_view text, std::string_view why) {
  return MakeError(ErrorKind::kInvalid,
                   fmt::format("quantity \"{}\": {} (want <number><suffix>, e.g. 128Mi, 1.5Gi, 500m, "
                               "129e6)",
                               text, why));
}

// Suffix tables. Order matters only for readability.
constexpr std::array<std::pair<std::string_view, int>, 10> kDecimalSuffixes{{
    {"n", -9},
    {"u", -6},
    {"m", -3},
    {"", 0},
    {"k", 3},
    {"M", 6},
    {"G", 9},
    {"T", 12},
    {"P", 15},
    {"E", 18},
}};
constexpr std::array<std::pair<std::string_view, int>, 6> kBinarySuffixes{{
    {"Ki", 10},
    {"Mi", 20},
    {"Gi", 30},
    {"Ti", 40},
    {"Pi", 50},
    {"Ei", 60},
}};

// Returns false if the suffix is not one Kubernetes accepts.
bool InterpretSuffix(std::string_view s, Suffix& out, std::string& why) {
  for (const auto& [name, exp] : kDecimalSuffixes) {
    if (s == name) {
      out = {10, exp, QuantityFormat::kDecimalSI};
      return true;
    }
  }
  for (const auto& [name, exp] : kBinarySuffixes) {
    if (s == name) {
      out = {2, exp, QuantityFormat::kBinarySI};
      return true;
    }
  }
  if (s.size() > 1 && (s[0] == 'e' || s[0] == 'E')) {
    std::string_view digits = s.substr(1);
    bool negative = false;
    if (digits[0] == '+' || digits[0] == '-') {
      negative = digits[0] == '-';
      digits.remove_prefix(1);
    }
    if (digits.empty()) {
      why = fmt::format("exponent \"{}\" has no digits", s);
      return false;
    }
    int64_t exp = 0;
    for (char c : digits) {
      if (!IsDigit(c)) {
        why = fmt::format("exponent \"{}\" is not an integer", s);
        return false;
      }
      exp = exp * 10 + (c - '0');
      if (exp > std::numeric_limits<int32_t>::max()) {
        why = fmt::format("exponent \"{}\" is out of range", s);
        return false;
      }
    }
    out = {10, negative ? -exp : exp, QuantityFormat::kDecimalExponent};
    return true;
  }
  why = fmt::format("unknown suffix \"{}\" (binary: Ki Mi Gi Ti Pi Ei; decimal: n u m k M G T P E; "
                    "exponent: e<int>)",
                    s);
  return false;
}

// Parses a digit string of at most kMaxDigits digits.
Int128 DigitsToInt(std::string_view digits) {
  Int128 v = 0;
  for (char c : digits) {
    v = v * 10 + (c - '0');
  }
  return v;
}

bool AnyNonZero(std::string_view digits) {
  return digits.find_first_not_of('0') != std::string_view::npos;
}

}  // namespace

Result<Quantity> Quantity::Parse(std::string_view text) {
  if (text.empty()) {
    return InvalidQuantity(text, "empty string");
  }
  size_t pos = 0;
  bool negative = false;
  if (text[0] == '+' || text[0] == '-') {
    negative = text[0] == '-';
    ++pos;
  }
  const size_t int_start = pos;
  while (pos < text.size() && IsDigit(text[pos])) {
    ++pos;
  }
  std::string_view int_digits = text.substr(int_start, pos - int_start);
  std::string_view frac_digits;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const size_t frac_start = pos;
    while (pos < text.size() && IsDigit(text[pos])) {
      ++pos;
    }
    frac_digits = text.substr(frac_start, pos - frac_start);
  }
  if (int_digits.empty() && frac_digits.empty()) {
    return InvalidQuantity(text, "no digits before the suffix");
  }

  Suffix suffix;
  std::string why;
  if (!InterpretSuffix(text.substr(pos), suffix, why)) {
    return InvalidQuantity(text, why);
  }

  // All significant digits, integer part then fraction; the value is
  // digits * 10^-frac * base^exponent.
  std::string digits;
  digits.reserve(int_digits.size() + frac_digits.size());
  digits.append(int_digits);
  digits.append(frac_digits);
  int64_t frac = static_cast<int64_t>(frac_digits.size());
  // Trailing zeros of the fraction carry no value.
  while (frac > 0 && digits.back() == '0') {
    digits.pop_back();
    --frac;
  }
  const size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) {
    return Quantity(0, suffix.format);
  }
  digits.erase(0, first);

  Int128 nanos = 0;
  QuantityFormat format = suffix.format;
  if (suffix.base == 10) {
    // nanos = digits * 10^k, rounded away from zero when k < 0.
    const int64_t k = suffix.exponent + 9 - frac;
    if (k >= 0) {
      if (static_cast<int64_t>(digits.size()) + k > kMaxDigits) {
        return InvalidQuantity(text, "out of range (magnitude must be below 10^29)");
      }
      nanos = DigitsToInt(digits) * internal::Pow10(static_cast<int>(k));
    } else {
      const int64_t drop = -k;
      if (drop >= static_cast<int64_t>(digits.size())) {
        nanos = 1;  // non-zero but finer than 1n: apimachinery rounds up to 1n
      } else {
        std::string_view kept = std::string_view(digits).substr(0, digits.size() - drop);
        std::string_view dropped = std::string_view(digits).substr(digits.size() - drop);
        if (static_cast<int64_t>(kept.size()) > kMaxDigits) {
          return InvalidQuantity(text, "out of range (magnitude must be below 10^29)");
        }
        nanos = DigitsToInt(kept) + (AnyNonZero(dropped) ? 1 : 0);
      }
    }
  } else {
    // nanos = digits * 2^exp * 10^(9 - frac); anything above the cap is capped.
    if (static_cast<int64_t>(digits.size()) > kMaxDigits) {
      nanos = kBinaryCapNanos;
    } else {
      Int128 value = DigitsToInt(digits);
      bool over = false;
      for (int64_t i = 0; i < suffix.exponent && !over; ++i) {
        over = !internal::CheckedMul(value, 2, value);
      }
      if (!over && frac <= 9) {
        over = !internal::CheckedMul(value, internal::Pow10(static_cast<int>(9 - frac)), value);
      } else if (!over) {
        const int64_t shift = frac - 9;
        if (shift > kMaxDigits) {
          value = 1;
        } else {
          const Int128 divisor = internal::Pow10(static_cast<int>(shift));
          value = value / divisor + (value % divisor != 0 ? 1 : 0);
        }
      }
      nanos = (over || value > kBinaryCapNanos) ? kBinaryCapNanos : value;
    }
    if (nanos < kNano) {
      format = QuantityFormat::kDecimalSI;  // binary suffixes cannot show a fraction of one
    }
  }
  return Quantity(negative ? -nanos : nanos, format);
}

Quantity Quantity::FromBytes(int64_t bytes) {
  return Quantity(Int128{bytes} * kNano, QuantityFormat::kBinarySI);
}

Quantity Quantity::FromMilli(int64_t milli, QuantityFormat format) {
  return Quantity(Int128{milli} * 1'000'000, format);
}

Quantity Quantity::FromNanos(Int128 nanos, QuantityFormat format) { return Quantity(nanos, format); }

std::string Quantity::ToString() const {
  if (nanos_ == 0) {
    return "0";
  }
  QuantityFormat format = format_;
  if (format == QuantityFormat::kBinarySI) {
    const Int128 magnitude = nanos_ < 0 ? -nanos_ : nanos_;
    // Below 1Ki, or with a fraction, a binary suffix would need rounding.
    if (magnitude < 1024 * kNano || nanos_ % kNano != 0) {
      format = QuantityFormat::kDecimalSI;
    }
  }
  if (format == QuantityFormat::kBinarySI) {
    Int128 whole = nanos_ / kNano;
    size_t exp = 0;
    while (exp < kBinarySuffixes.size() && whole % 1024 == 0) {
      whole /= 1024;
      ++exp;
    }
    std::string out = internal::ToString(whole);
    if (exp > 0) {
      out.append(kBinarySuffixes[exp - 1].first);
    }
    return out;
  }

  // Decimal: the largest exponent that is a multiple of three and keeps the
  // mantissa an integer.
  Int128 mantissa = nanos_;
  int exponent = -9;
  while (mantissa % 10 == 0) {
    mantissa /= 10;
    ++exponent;
  }
  const int rem = ((exponent % 3) + 3) % 3;
  mantissa *= internal::Pow10(rem);
  exponent -= rem;

  std::string out = internal::ToString(mantissa);
  if (format == QuantityFormat::kDecimalSI) {
    for (const auto& [name, exp] : kDecimalSuffixes) {
      if (exp == exponent) {
        out.append(name);
        return out;
      }
    }
    // Beyond "E" there is no SI suffix; apimachinery falls back to an exponent.
  }
  if (exponent != 0) {
    out.append(fmt::format("e{}", exponent));
  }
  return out;
}

namespace {

Result<int64_t> RoundAwayFromZero(Int128 nanos, Int128 divisor, std::string_view what) {
  Int128 q = nanos / divisor;
  if (nanos % divisor != 0) {
    q += nanos < 0 ? -1 : 1;
  }
  if (q > std::numeric_limits<int64_t>::max() || q < std::numeric_limits<int64_t>::min()) {
    return MakeError(ErrorKind::kInvalid, fmt::format("quantity does not fit in int64 {}", what));
  }
  return static_cast<int64_t>(q);
}

}  // namespace

Result<int64_t> Quantity::ToBytes() const { return RoundAwayFromZero(nanos_, kNano, "units"); }

Result<int64_t> Quantity::ToMilli() const {
  return RoundAwayFromZero(nanos_, 1'000'000, "milli-units");
}

int Compare(const Quantity& a, const Quantity& b) {
  const auto order = a <=> b;
  return order < 0 ? -1 : (order > 0 ? 1 : 0);
}

}  // namespace kubemend::kube
