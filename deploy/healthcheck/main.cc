// kubemend-healthcheck: one health probe for container health checks (the
// image relies on no shell, curl or grpc-health-probe). See src/probe.h.
#include <cstdio>

#include "src/probe.h"

using namespace kubemend::healthcheck;

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    fputs(ProbeUsage().c_str(), stdout);
    return 0;
  }
  ProbeOptions opts;
  if (std::string err = ParseProbeArgs(args, &opts); !err.empty()) {
    fprintf(stderr, "kubemend-healthcheck: %s\n%s", err.c_str(), ProbeUsage().c_str());
    return 2;
  }
  ProbeResult r = Check(opts);
  printf("%s\n", r.detail.c_str());
  return r.healthy ? 0 : 1;
}
