#pragma once

// Kubernetes' protobuf encoding of request bodies, for the kinds kubectl's typed creates send
// (`kubectl create namespace`, `kubectl create deployment`): client-go sends built-in types as
// application/vnd.kubernetes.protobuf and, unlike for CBOR, does not fall back to JSON on a 415.
// The message layouts (field numbers) are those of k8s.io/api's generated.proto; only the fields
// those commands can set are known. Anything else is refused with a 415 naming the field, so no
// part of a body is ever silently dropped.

#include <nlohmann/json.hpp>

#include <string>

namespace kubesim {

// Decodes "k8s\0" + runtime.Unknown{typeMeta, raw} into the JSON object kubectl would have sent.
// Throws ApiError (415) for other kinds or unknown fields, (400) for malformed bytes.
nlohmann::json decode_k8s_protobuf(const std::string& body);

}  // namespace kubesim
