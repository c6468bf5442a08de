#include "proc.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

namespace kubemend::bench {

double CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto p = all.rfind(')');  // the command name may hold spaces
  if (p == std::string::npos) {
    return 0;
  }
  std::istringstream f(all.substr(p + 2));
  std::string field;
  double utime = 0;
  double stime = 0;
  // After ")": state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && f >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

Profiler::Profiler(std::string dir, std::map<std::string, int> pids) : dir_(std::move(dir)) {
  // perf record cannot create the directory: without this a --profile to a
  // new path printed empty profiles.
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  for (const auto& [name, pid] : pids) {
    std::string out = dir_ + "/" + name + ".perf.data";
    std::string p = std::to_string(pid);
    pid_t child = fork();
    if (child == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      // KUBEMEND_BENCH_PERF_CALLGRAPH=dwarf records call chains too (the
      // services have no frame pointers): read them with
      // `perf report --children -i DIR/<service>.perf.data`.
      std::vector<const char*> args = {"perf", "record", "-F", "499", "-o", out.c_str(), "-p", p.c_str()};
      const char* cg = std::getenv("KUBEMEND_BENCH_PERF_CALLGRAPH");
      if (cg && *cg) {
        args.push_back("--call-graph");
        args.push_back(cg);
      }
      args.push_back(nullptr);
      execvp("perf", const_cast<char* const*>(args.data()));
      _exit(127);
    }
    if (child > 0) {
      perf_pids_[name] = child;
    }
  }
}

void Profiler::Stop() {
  for (const auto& [name, pid] : perf_pids_) {
    kill(pid, SIGINT);
  }
  for (const auto& [name, pid] : perf_pids_) {
    int status = 0;
    waitpid(pid, &status, 0);
  }
}

void Profiler::Report(int top) const {
  std::printf("\nprofile (perf record -F 499 -p PID during the measured phase; self time, top %d):\n", top);
  for (const auto& [name, pid] : perf_pids_) {
    std::string cmd = "perf report --stdio --no-children --sort dso,symbol -i " + dir_ + "/" + name +
                      ".perf.data 2>/dev/null | grep -v '^#' | grep -v '^$' | head -" +
                      std::to_string(top) + " | sed 's/  *- *- *$//; s/   */  /g' | cut -c1-150";
    std::printf("  -- %s\n", name.c_str());
    std::fflush(stdout);
    if (std::system(cmd.c_str()) != 0) {
      std::printf("  (perf report failed)\n");
    }
  }
}

}  // namespace kubemend::bench
