#pragma once
// Identifiers: event ids are UUIDs. Fresh ids are random (v4); ids derived
// from another event (the proposal for a signal, the decision for a proposal)
// are name-based (v5-style, SHA-1) so that a redelivered input produces the
// same output id and every consumer downstream can drop the repeat.
#include <string>
#include <string_view>

namespace kubemend {

std::string NewUuid();
std::string DerivedUuid(std::string_view parent_id, std::string_view purpose);

// W3C traceparent helpers: "00-<32 hex trace id>-<16 hex span id>-01".
std::string NewTraceparent();
std::string ChildTraceparent(std::string_view parent);  // same trace, new span
std::string TraceIdOf(std::string_view traceparent);    // "" if malformed

std::string HexEncode(std::string_view bytes);
std::string Sha256Hex(std::string_view bytes);

}  // namespace kubemend
