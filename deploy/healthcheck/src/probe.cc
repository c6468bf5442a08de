#include "src/probe.h"

#include <curl/curl.h>
#include <grpcpp/grpcpp.h>

#include "grpc/health/v1/health.grpc.pb.h"

namespace kubemend::healthcheck {
namespace {

// "250ms", "3s" or a bare number of seconds.
bool ParseTimeout(const std::string& text, std::chrono::milliseconds* out) {
  try {
    size_t used = 0;
    long long n = std::stoll(text, &used);
    std::string unit = text.substr(used);
    if (n <= 0) {
      return false;
    }
    if (unit == "ms") {
      *out = std::chrono::milliseconds(n);
    } else if (unit.empty() || unit == "s") {
      *out = std::chrono::seconds(n);
    } else {
      return false;
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

std::string ProbeUsage() {
  return "usage: kubemend-healthcheck [--grpc HOST:PORT] [--service NAME] [--timeout 3s]\n"
         "       kubemend-healthcheck --http URL [--insecure] [--timeout 3s]\n"
         "Asks grpc.health.v1.Health/Check (default 127.0.0.1:9000, the whole server) or\n"
         "GETs URL (2xx is healthy). Exit 0 healthy, 1 unhealthy or unreachable, 2 usage.\n";
}

std::string ParseProbeArgs(const std::vector<std::string>& args, ProbeOptions* out) {
  ProbeOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* dst) -> bool {
      if (i + 1 >= args.size() || args[i + 1].empty()) {
        return false;
      }
      *dst = args[++i];
      return true;
    };
    std::string timeout;
    if (a == "--grpc") {
      if (!value(&o.grpc_addr)) {
        return "--grpc needs HOST:PORT";
      }
    } else if (a == "--service") {
      if (i + 1 >= args.size()) {
        return "--service needs a name";
      }
      o.grpc_service = args[++i];
    } else if (a == "--http") {
      if (!value(&o.http_url)) {
        return "--http needs a URL";
      }
      if (o.http_url.rfind("http://", 0) != 0 && o.http_url.rfind("https://", 0) != 0) {
        return "--http " + o.http_url + ": not an http:// or https:// URL";
      }
    } else if (a == "--insecure") {
      o.insecure_tls = true;
    } else if (a == "--timeout") {
      if (!value(&timeout) || !ParseTimeout(timeout, &o.timeout)) {
        return "--timeout needs a positive duration like 3s or 500ms";
      }
    } else {
      return "unknown argument " + a;
    }
  }
  if (!o.grpc_addr.empty() && !o.http_url.empty()) {
    return "--grpc and --http exclude each other";
  }
  if (o.http_url.empty() && o.grpc_addr.empty()) {
    o.grpc_addr = "127.0.0.1:9000";
  }
  if (!o.grpc_addr.empty() && o.grpc_addr.find(':') == std::string::npos) {
    return "--grpc " + o.grpc_addr + ": expected HOST:PORT";
  }
  *out = o;
  return "";
}

ProbeResult CheckGrpc(const ProbeOptions& opts) {
  auto channel = grpc::CreateChannel(opts.grpc_addr, grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + opts.timeout);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(opts.grpc_service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status st = stub->Check(&ctx, req, &resp);
  if (!st.ok()) {
    if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
      return {false, "unknown health service '" + opts.grpc_service + "'"};
    }
    return {false, "unreachable: " + opts.grpc_addr + ": " + st.error_message()};
  }
  const std::string name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status());
  return {resp.status() == grpc::health::v1::HealthCheckResponse::SERVING, name};
}

ProbeResult CheckHttp(const ProbeOptions& opts) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    return {false, "cannot initialise libcurl"};
  }
  curl_easy_setopt(curl, CURLOPT_URL, opts.http_url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(opts.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Discard);
  if (opts.insecure_tls) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    return {false, "unreachable: " + opts.http_url + ": " + curl_easy_strerror(rc)};
  }
  return {code >= 200 && code < 300, "HTTP " + std::to_string(code)};
}

ProbeResult Check(const ProbeOptions& opts) {
  return opts.http_url.empty() ? CheckGrpc(opts) : CheckHttp(opts);
}

}  // namespace kubemend::healthcheck
