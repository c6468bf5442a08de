#pragma once

// Retries, error mapping and JSON on top of Transport. Shared (by
// shared_ptr) between the client and its watchers, so a watcher keeps
// working even if the client object goes away first.

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kubemend/kube/client.h"
#include "transport.h"

namespace kubemend::kube::internal {

class ClientCore {
 public:
  explicit ClientCore(std::shared_ptr<Transport> transport);

  // Sends the request, retrying per RetryPolicy (see client.h for which
  // failures are retried), and returns the 2xx response or the final error.
  Result<HttpResponse> Call(const HttpRequest& request);
  // Call() and parse the body as JSON (kDecode if it is not).
  Result<nlohmann::json> CallJson(const HttpRequest& request);

  Result<ObjectList> ListPage(const ResourceType& type, std::string_view ns, const ListOptions& options);

  Transport& transport() { return *transport_; }
  // A wait in [d*(1-j), d*(1+j)] using the injected random source.
  std::chrono::milliseconds Jitter(std::chrono::milliseconds d);
  double Random();

 private:
  std::chrono::milliseconds Backoff(int attempt);
  void Sleep(std::chrono::milliseconds d);

  std::shared_ptr<Transport> transport_;
};

// "?a=1&b=2" from non-empty pairs.
std::string Query(std::initializer_list<std::pair<std::string_view, std::string>> params);

}  // namespace kubemend::kube::internal
