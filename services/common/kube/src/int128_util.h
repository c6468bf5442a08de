#pragma once

// Small helpers for the 128-bit arithmetic behind Quantity.

#include <limits>
#include <string>

#include "kubemend/kube/quantity.h"

namespace kubemend::kube::internal {

__extension__ typedef unsigned __int128 UInt128;  // NOLINT

// 10^n for 0 <= n <= 38.
inline Int128 Pow10(int n) {
  Int128 v = 1;
  for (int i = 0; i < n; ++i) {
    v *= 10;
  }
  return v;
}

// out = a * b for non-negative a and positive b; false on overflow.
inline bool CheckedMul(Int128 a, Int128 b, Int128& out) {
  constexpr Int128 kMax = ~(Int128{1} << 127);
  if (b != 0 && a > kMax / b) {
    return false;
  }
  out = a * b;
  return true;
}

inline std::string ToString(Int128 v) {
  if (v == 0) {
    return "0";
  }
  const bool negative = v < 0;
  // Quantities never reach the minimum value, so negation is safe.
  UInt128 u = negative ? static_cast<UInt128>(-v) : static_cast<UInt128>(v);
  std::string digits;
  while (u > 0) {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  }
  if (negative) {
    digits.insert(digits.begin(), '-');
  }
  return digits;
}

}  // namespace kubemend::kube::internal
