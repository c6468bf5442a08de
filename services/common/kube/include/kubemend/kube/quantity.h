#pragma once

// Kubernetes resource quantities ("128Mi", "1.5Gi", "500m", "129e6"), exact.
//
// The value is held as a signed 128-bit count of nano-units, which is what
// apimachinery's resource.Quantity can express after parsing (it rounds any
// finer value away from zero to 1n). No floating point is ever involved.
// Formatting follows apimachinery's canonical form: the format family of the
// input is kept (binary suffixes stay binary when the value is a whole number
// of at least 1Ki, decimal suffixes stay decimal, exponents stay exponents),
// and the largest suffix that loses no precision is chosen: "1.5Gi" prints as
// "1536Mi", "1.5" as "1500m", "12e7" as "120e6".
//
// Differences from apimachinery, all on inputs no cluster produces:
//  - magnitudes of 10^29 or more (decimal) are rejected as out of range
//    instead of being carried in arbitrary precision; binary-suffixed values
//    are capped at 2^63-1 exactly as apimachinery does ("8Ei");
//  - strings with no digit at all ("", ".", "-") are rejected (apimachinery
//    reads "." and "-" as zero);
//  - ToString() always emits the canonical form, while apimachinery echoes a
//    string it parsed on a fast path ("+1" stays "+1" there, "1" here).
//
// Thread-safety: a value type; const methods may be called concurrently.

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "kubemend/kube/result.h"

namespace kubemend::kube {

__extension__ typedef __int128 Int128;  // NOLINT: the pedantic-safe spelling

enum class QuantityFormat {
  kDecimalSI,        // 12M, 500m, 1500
  kBinarySI,         // 12Mi
  kDecimalExponent,  // 12e6
};

class Quantity {
 public:
  static constexpr Int128 kNanosPerUnit = 1'000'000'000;

  // Zero, DecimalSI.
  Quantity() = default;

  // Parses any form the API server accepts: an optional sign, digits with an
  // optional fraction ("1", "1.", ".5", "1.5"), and one suffix: a binary SI
  // suffix (Ki Mi Gi Ti Pi Ei), a decimal SI suffix (n u m k M G T P E) or an
  // exponent (e3, E-2, e+6). Errors (kind kInvalid) quote the string and say
  // which part is wrong.
  static Result<Quantity> Parse(std::string_view text);

  // A whole number of bytes (or cores, pods, ...) in binary form: FromBytes(
  // 3 << 20) prints as "3Mi".
  static Quantity FromBytes(int64_t bytes);
  // value/1000 in the given format: FromMilli(1500) prints as "1500m".
  static Quantity FromMilli(int64_t milli, QuantityFormat format = QuantityFormat::kDecimalSI);
  // A raw nano count; used by arithmetic helpers.
  static Quantity FromNanos(Int128 nanos, QuantityFormat format);

  // The canonical string, e.g. "1536Mi", "100m", "0".
  [[nodiscard]] std::string ToString() const;

  [[nodiscard]] QuantityFormat format() const { return format_; }
  [[nodiscard]] Int128 nanos() const { return nanos_; }
  [[nodiscard]] bool IsZero() const { return nanos_ == 0; }
  [[nodiscard]] int Sign() const { return nanos_ < 0 ? -1 : (nanos_ > 0 ? 1 : 0); }

  // The value as a whole number (bytes for memory), rounded up away from zero
  // like apimachinery's Value(): "1.5" -> 2, "100m" -> 1. Error kInvalid when
  // the result does not fit in int64.
  [[nodiscard]] Result<int64_t> ToBytes() const;
  // ceil(value * 1000), like MilliValue(): "0.1" -> 100, "1n" -> 1.
  [[nodiscard]] Result<int64_t> ToMilli() const;

  // Compares values only; the format does not take part ("1Ki" == "1024").
  friend std::strong_ordering operator<=>(const Quantity& a, const Quantity& b) {
    return a.nanos_ <=> b.nanos_;
  }
  friend bool operator==(const Quantity& a, const Quantity& b) { return a.nanos_ == b.nanos_; }

 private:
  Quantity(Int128 nanos, QuantityFormat format) : nanos_(nanos), format_(format) {}

  Int128 nanos_ = 0;
  QuantityFormat format_ = QuantityFormat::kDecimalSI;
};

// -1, 0 or 1.
int Compare(const Quantity& a, const Quantity& b);

}  // namespace kubemend::kube
