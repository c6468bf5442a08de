#pragma once
// Health probes for container health checks: one grpc.health.v1.Health/Check
// call or one HTTP GET, answered as healthy or not with a one-line reason.
//
// Exit-code contract of kubemend-healthcheck (what Docker expects): 0 healthy,
// 1 unhealthy or unreachable, 2 bad command line.
#include <chrono>
#include <string>
#include <vector>

namespace kubemend::healthcheck {

struct ProbeOptions {
  std::string grpc_addr;     // host:port for grpc.health.v1; empty when http_url is set
  std::string grpc_service;  // "" = the server as a whole
  std::string http_url;      // http(s)://host:port/path; 2xx is healthy
  bool insecure_tls = false; // accept any certificate (self-signed simulators)
  std::chrono::milliseconds timeout{3000};
};

struct ProbeResult {
  bool healthy = false;
  std::string detail;  // "SERVING", "NOT_SERVING", "unreachable: ...", "HTTP 503 ..."
};

// Parses argv (without argv[0]). Returns "" on success, else why not.
std::string ParseProbeArgs(const std::vector<std::string>& args, ProbeOptions* out);

std::string ProbeUsage();

ProbeResult CheckGrpc(const ProbeOptions& opts);
ProbeResult CheckHttp(const ProbeOptions& opts);
ProbeResult Check(const ProbeOptions& opts);

}  // namespace kubemend::healthcheck
