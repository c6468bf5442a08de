// kube-sim: wires flags, the simulated cluster, the HTTP(S) listeners, the
// tick loop and the ready file, then runs until SIGTERM/SIGINT.

#include "api_handler.h"
#include "cluster.h"
#include "http_server.h"
#include "tls.h"

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace {

using kubesim::Millis;

constexpr const char* kUsage = R"(usage: kube-sim [flags]
  --http-listen HOST:PORT        plain HTTP listener (default 127.0.0.1:0; "off" disables)
  --https-listen HOST:PORT       HTTPS listener (default 127.0.0.1:0; "off" disables)
  --token TOKEN                  bearer token (default: random)
  --http-require-token           also require the token on plain HTTP
  --state-dir DIR                where certificates and kubeconfigs go (default: ./kube-sim-state)
  --ready-file FILE              JSON written once listening
  --seed FILE                    YAML/JSON manifests applied at start and on reset
  --tick-ms N                    controller tick (default 100; 0 = only POST /sim/v1/tick)
  --nodes N                      nodes created when the seed has none (default 3)
  --watch-history N              watch events kept for resuming (default 1000)
  --backoff-base-ms N            crash-loop back-off base (default 10000)
  --backoff-max-ms N             crash-loop back-off cap (default 300000)
  --crash-after-ms N             how long a faulty container runs (default 1000)
  --pod-start-delay-ms N         ContainerCreating duration (default 0)
  --job-duration-ms N            default Job pod run time (default 2000)
  --node-monitor-grace-ms N      NotReady node -> pods not ready (default 1000)
  --default-toleration-seconds N not-ready/unreachable toleration (default 300)
  --bookmark-interval-ms N       watch BOOKMARK interval (default 5000)
  --random-seed N                seed for names and uids (default: time)
  --verbose                      log every request to stderr
)";

[[noreturn]] void die(const std::string& message) {
  std::cerr << "kube-sim: " << message << "\n";
  std::exit(2);
}

std::int64_t number(const std::map<std::string, std::string>& flags, const std::string& key, std::int64_t fallback) {
  auto it = flags.find(key);
  if (it == flags.end()) {
    return fallback;
  }
  try {
    std::size_t used = 0;
    long long v = std::stoll(it->second, &used);
    if (used != it->second.size() || v < 0) {
      throw std::invalid_argument("x");
    }
    return v;
  } catch (const std::exception&) {
    die("--" + key + " must be a non-negative integer, got \"" + it->second + "\"");
  }
}

void write_file(const std::filesystem::path& path, const std::string& content, bool private_file) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      die("cannot write " + tmp.string());
    }
    out << content;
  }
  if (private_file) {
    std::filesystem::permissions(tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  std::filesystem::rename(tmp, path);
}

std::string random_token() {
  std::random_device rd;
  static const char* kChars = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string t;
  for (int i = 0; i < 32; ++i) {
    t.push_back(kChars[rd() % 36]);
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  static const std::set<std::string> kBoolFlags = {"http-require-token", "verbose", "help"};
  static const std::set<std::string> kValueFlags = {
      "http-listen", "https-listen", "token", "state-dir", "ready-file", "seed", "tick-ms", "nodes",
      "watch-history", "backoff-base-ms", "backoff-max-ms", "crash-after-ms", "pod-start-delay-ms",
      "job-duration-ms", "node-monitor-grace-ms", "default-toleration-seconds", "bookmark-interval-ms",
      "random-seed"};
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      die("unexpected argument \"" + arg + "\"\n" + kUsage);
    }
    std::string key = arg.substr(2);
    std::string value;
    auto eq = key.find('=');
    if (eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    } else if (kValueFlags.count(key)) {
      if (i + 1 >= argc) {
        die("--" + key + " needs a value");
      }
      value = argv[++i];
    }
    if (kBoolFlags.count(key)) {
      flags[key] = value.empty() ? "true" : value;
    } else if (kValueFlags.count(key)) {
      flags[key] = value;
    } else {
      die("unknown flag --" + key + "\n" + kUsage);
    }
  }
  if (flags.count("help")) {
    std::cout << kUsage;
    return 0;
  }

  kubesim::ClusterOptions options;
  options.default_nodes = static_cast<int>(number(flags, "nodes", 3));
  options.watch_history = static_cast<std::size_t>(number(flags, "watch-history", 1000));
  options.sim.backoff_base = Millis(number(flags, "backoff-base-ms", 10000));
  options.sim.backoff_max = Millis(number(flags, "backoff-max-ms", 300000));
  options.sim.crash_after = Millis(number(flags, "crash-after-ms", 1000));
  options.sim.pod_start_delay = Millis(number(flags, "pod-start-delay-ms", 0));
  options.sim.job_duration = Millis(number(flags, "job-duration-ms", 2000));
  options.sim.node_monitor_grace = Millis(number(flags, "node-monitor-grace-ms", 1000));
  options.strategy.default_toleration_seconds = number(flags, "default-toleration-seconds", 300);
  if (flags.count("seed")) {
    std::ifstream in(flags["seed"]);
    if (!in) {
      die("--seed: cannot read " + flags["seed"]);
    }
    std::stringstream ss;
    ss << in.rdbuf();
    options.seed = ss.str();
  }
  std::int64_t tick_ms = number(flags, "tick-ms", 100);
  std::string token = flags.count("token") ? flags["token"] : random_token();
  std::filesystem::path state_dir = flags.count("state-dir") ? flags["state-dir"] : "kube-sim-state";
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    die("--state-dir: cannot create " + state_dir.string() + ": " + ec.message());
  }
  state_dir = std::filesystem::absolute(state_dir);

  // Signals are handled by a dedicated thread; block them everywhere else.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  kubesim::SystemClock clock;
  std::uint64_t random_seed = flags.count("random-seed")
                                  ? static_cast<std::uint64_t>(number(flags, "random-seed", 0))
                                  : static_cast<std::uint64_t>(std::random_device{}()) << 32 ^ std::random_device{}();
  kubesim::SeededRandom random(random_seed);
  kubesim::Cluster cluster(clock, random, options);
  try {
    cluster.bootstrap();
  } catch (const std::exception& e) {
    die(std::string("--seed: ") + e.what());
  }

  std::string http_listen = flags.count("http-listen") ? flags["http-listen"] : "127.0.0.1:0";
  std::string https_listen = flags.count("https-listen") ? flags["https-listen"] : "127.0.0.1:0";
  kubesim::ApiHandlerOptions handler_options;
  handler_options.token = token;
  handler_options.bookmark_interval = Millis(number(flags, "bookmark-interval-ms", 5000));
  kubesim::ApiHandler handler(cluster, handler_options, [&clock](Millis by) { clock.advance(by); });
  kubesim::HttpFrontend frontend(handler, flags.count("verbose") > 0);

  nlohmann::json ready = {{"token", token}, {"state_dir", state_dir.string()}, {"pid", getpid()}};
  kubesim::TlsMaterial tls;
  try {
    if (http_listen != "off") {
      auto address = kubesim::parse_listen_address(http_listen);
      int port = frontend.listen_http(address, flags.count("http-require-token") > 0);
      std::string host = address.host == "0.0.0.0" ? "127.0.0.1" : address.host;
      ready["http_url"] = "http://" + host + ":" + std::to_string(port);
      write_file(state_dir / "kubeconfig-http", kubesim::make_kubeconfig(ready["http_url"], "", token), true);
      ready["kubeconfig_http"] = (state_dir / "kubeconfig-http").string();
    }
    if (https_listen != "off") {
      tls = kubesim::generate_tls_material();
      auto address = kubesim::parse_listen_address(https_listen);
      int port = frontend.listen_https(address, tls);
      std::string host = address.host == "0.0.0.0" ? "127.0.0.1" : address.host;
      ready["https_url"] = "https://" + host + ":" + std::to_string(port);
      write_file(state_dir / "ca.crt", tls.ca_pem, false);
      write_file(state_dir / "server.crt", tls.server_cert_pem, false);
      write_file(state_dir / "server.key", tls.server_key_pem, true);
      write_file(state_dir / "kubeconfig", kubesim::make_kubeconfig(ready["https_url"], tls.ca_pem, token), true);
      ready["kubeconfig"] = (state_dir / "kubeconfig").string();
      ready["ca_file"] = (state_dir / "ca.crt").string();
    }
  } catch (const std::exception& e) {
    die(e.what());
  }
  if (!ready.contains("http_url") && !ready.contains("https_url")) {
    die("both listeners are off");
  }
  frontend.start();

  std::atomic<bool> running{true};
  std::thread ticker([&] {
    while (running.load()) {
      if (tick_ms > 0) {
        try {
          cluster.tick();
        } catch (const std::exception& e) {
          std::cerr << "kube-sim: controller pass failed: " << e.what() << "\n";
        }
      }
      std::this_thread::sleep_for(Millis(tick_ms > 0 ? tick_ms : 100));
    }
  });

  if (flags.count("ready-file")) {
    write_file(flags["ready-file"], ready.dump(2) + "\n", false);
  }
  std::cerr << "kube-sim: serving " << ready.value("https_url", "") << " " << ready.value("http_url", "")
            << " kubeconfig=" << ready.value("kubeconfig", ready.value("kubeconfig_http", "")) << "\n";

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::cerr << "kube-sim: shutting down\n";
  running = false;
  cluster.hub().close();
  frontend.stop();
  ticker.join();
  return 0;
}
