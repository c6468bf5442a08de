#include "kubemend/common/ids.h"

#include <openssl/sha.h>

#include <array>
#include <random>

namespace kubemend {
namespace {

thread_local std::mt19937_64 rng{std::random_device{}() ^ (uint64_t)(uintptr_t)&rng};

std::string FormatUuid(const std::array<uint8_t, 16>& b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out.push_back('-');
    }
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0xf]);
  }
  return out;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  for (auto& c : raw) {
    c = static_cast<char>(rng() & 0xff);
  }
  return HexEncode(raw);
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), sizeof md));
}

std::string NewUuid() {
  std::array<uint8_t, 16> b;
  uint64_t hi = rng();
  uint64_t lo = rng();
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<uint8_t>(hi >> (i * 8));
    b[8 + i] = static_cast<uint8_t>(lo >> (i * 8));
  }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  return FormatUuid(b);
}

std::string DerivedUuid(std::string_view parent_id, std::string_view purpose) {
  std::string input;
  input.reserve(parent_id.size() + purpose.size() + 10);
  input.append("kubemend/");
  input.append(parent_id);
  input.push_back('/');
  input.append(purpose);
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), md);
  std::array<uint8_t, 16> b;
  for (int i = 0; i < 16; ++i) {
    b[i] = md[i];
  }
  b[6] = (b[6] & 0x0f) | 0x50;
  b[8] = (b[8] & 0x3f) | 0x80;
  return FormatUuid(b);
}

std::string NewTraceparent() { return "00-" + RandomHex(16) + "-" + RandomHex(8) + "-01"; }

std::string TraceIdOf(std::string_view tp) {
  if (tp.size() != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') {
    return "";
  }
  return std::string(tp.substr(3, 32));
}

std::string ChildTraceparent(std::string_view parent) {
  std::string trace = TraceIdOf(parent);
  if (trace.empty()) {
    return NewTraceparent();
  }
  return "00-" + trace + "-" + RandomHex(8) + "-01";
}

}  // namespace kubemend
