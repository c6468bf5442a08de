#pragma once

// Errors as values for the Kubernetes client library.
//
// Every call that can fail for reasons outside the caller's control (the
// network, the API server, a kubeconfig on disk, a string from the cluster)
// returns a Result<T>: either the value or an Error naming what went wrong.
// Misuse that can only be a programming bug (reading the value of a failed
// Result) aborts loudly instead.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace kubemend::kube {

// What went wrong, coarse enough to decide what to do next. The HTTP mapping
// follows the API server's Status reasons (see README.md).
enum class ErrorKind {
  kInvalid,           // 400 BadRequest, 422 Invalid, or a bad argument/string
  kUnauthorized,      // 401: credentials missing or rejected
  kForbidden,         // 403: RBAC denies the verb
  kNotFound,          // 404
  kUnsupported,       // 405/406/415: e.g. strategic merge patch on a CRD
  kConflict,          // 409: resourceVersion or precondition mismatch
  kAlreadyExists,     // 409 with reason AlreadyExists (create)
  kGone,              // 410: resourceVersion too old (watch/list)
  kTooManyRequests,   // 429 still returned after the retry budget
  kDisruptionBudget,  // 429 from the eviction subresource: a PDB blocks it
  kInternal,          // 500
  kUnavailable,       // 502/503, or the server could not be reached
  kTimeout,           // 504, or the client-side timeout expired
  kTls,               // certificate verification or TLS handshake failed
  kConfig,            // kubeconfig / in-cluster configuration unusable
  kDecode,            // the server's answer is not the JSON we expected
  kCancelled,         // the operation was stopped by its owner
  kUnknown,           // any other HTTP status or transport failure
};

std::string_view ToString(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::kUnknown;
  // Human-readable; for API errors this is the server's Status.message.
  std::string message;
  // HTTP status of the final response, 0 when no response was received.
  int http_status = 0;
  // The server's Status.reason (e.g. "Conflict", "AlreadyExists"), if any.
  std::string reason;

  // True for kinds where the same request may succeed later without any
  // change by the caller (throttling, unavailability, timeouts).
  [[nodiscard]] bool IsRetryable() const;
  // "not_found (HTTP 404 NotFound): pods \"x\" not found"
  [[nodiscard]] std::string ToString() const;
};

Error MakeError(ErrorKind kind, std::string message);

// A value or an error. Deliberately small: ok(), value(), error(), and
// implicit construction from either side.
template <typename T, typename E = Error>
class [[nodiscard]] Expected {
 public:
  template <typename U = T>
    requires std::is_constructible_v<T, U&&> && (!std::is_same_v<std::remove_cvref_t<U>, E>) &&
             (!std::is_same_v<std::remove_cvref_t<U>, Expected>)
  Expected(U&& value) : state_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT
  Expected(E error) : state_(std::in_place_index<1>, std::move(error)) {}          // NOLINT

  [[nodiscard]] bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    CheckOk();
    return std::get<0>(state_);
  }
  const T& value() const& {
    CheckOk();
    return std::get<0>(state_);
  }
  T&& value() && {
    CheckOk();
    return std::get<0>(std::move(state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const& {
    if (ok()) {
      std::fputs("kubemend::kube::Expected: error() called on a value\n", stderr);
      std::abort();
    }
    return std::get<1>(state_);
  }
  E&& error() && {
    (void)error();
    return std::get<1>(std::move(state_));
  }

 private:
  void CheckOk() const {
    if (!ok()) {
      std::fputs("kubemend::kube::Expected: value() called on an error\n", stderr);
      std::abort();
    }
  }
  std::variant<T, E> state_;
};

// Success carries nothing.
template <typename E>
class [[nodiscard]] Expected<void, E> {
 public:
  Expected() = default;
  Expected(E error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  [[nodiscard]] bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const E& error() const {
    if (ok_) {
      std::fputs("kubemend::kube::Expected<void>: error() called on success\n", stderr);
      std::abort();
    }
    return error_;
  }

 private:
  E error_{};
  bool ok_ = true;
};

template <typename T>
using Result = Expected<T, Error>;

}  // namespace kubemend::kube
