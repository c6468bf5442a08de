#pragma once
// The payload_json column: an event as proto3 JSON. Pure.
//
// google::protobuf::util::MessageToJsonString (protobuf 3.21) re-serializes
// the message and converts the bytes through type descriptors it rebuilds on
// every call: ~60 µs and hundreds of allocations per event, the largest share
// of the audit's CPU. EventJson prints the same JSON straight from
// reflection, with protobuf's own number (SimpleDtoa/SimpleFtoa), base64 and
// time (TimeUtil) formatting and its rules: proto field names, fields present
// as serialized (proto3 defaults left out), 64-bit integers quoted, enums by
// name (an unknown value as its number), Timestamps as RFC 3339. Where it
// does not know the rules exactly — a well-known type other than Timestamp, a
// Timestamp out of range, a string that is not UTF-8 — it uses
// MessageToJsonString, so the column never depends on which path ran
// (event_json_test.cc compares the two over randomly filled events).
#include <google/protobuf/message.h>

#include <string>

namespace kubemend::audit {

std::string EventJson(const google::protobuf::Message& m);

}  // namespace kubemend::audit
