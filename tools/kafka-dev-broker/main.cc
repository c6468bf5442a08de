// kafka-dev-broker: a local Kafka-protocol broker for development and tests.
//
// No Kafka broker is packaged for Debian, so this hosts librdkafka's mock
// cluster in a process of its own. Any Kafka client (librdkafka, kcat) can
// talk to it over loopback. It keeps everything in memory (about 5 MiB per
// partition; older messages fall off) and loses it all on exit. Production
// uses a real Kafka; the services never know the difference.
//
// librdkafka 2.0.2 cannot pin the mock's port, so the bootstrap address is
// printed on stdout and, with --bootstrap-file, written to a file.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

void Usage() {
  std::cerr << "usage: kafka-dev-broker [--brokers N] [--bootstrap-file FILE]\n"
               "                        [--topic NAME:PARTITIONS ...] [--topic-prefix P "
               "--partitions N]\n"
               "Runs until SIGTERM/SIGINT. --topic-prefix creates the kubemend topics\n"
               "(P+signals, proposals, decisions, outcomes, control, deadletter).\n";
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 1;
  int partitions = 4;
  std::string bootstrap_file;
  std::string prefix;
  std::vector<std::pair<std::string, int>> topics;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        Usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--brokers") {
      brokers = std::atoi(next().c_str());
    } else if (a == "--bootstrap-file") {
      bootstrap_file = next();
    } else if (a == "--partitions") {
      partitions = std::atoi(next().c_str());
    } else if (a == "--topic-prefix") {
      prefix = next();
    } else if (a == "--topic") {
      std::string t = next();
      auto colon = t.rfind(':');
      topics.emplace_back(t.substr(0, colon),
                          colon == std::string::npos ? 4 : std::atoi(t.c_str() + colon + 1));
    } else {
      Usage();
      return 2;
    }
  }
  if (brokers < 1 || partitions < 1) {
    std::cerr << "kafka-dev-broker: --brokers and --partitions must be >= 1\n";
    return 2;
  }
  if (!prefix.empty()) {
    for (const char* t : {"signals", "proposals", "decisions", "outcomes", "control", "deadletter"}) {
      topics.emplace_back(prefix + t, partitions);
    }
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    std::cerr << "kafka-dev-broker: " << err << "\n";
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (!cluster) {
    std::cerr << "kafka-dev-broker: could not create the mock cluster\n";
    return 1;
  }
  for (const auto& [name, n] : topics) {
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(cluster, name.c_str(), n, 1);
    if (e) {
      std::cerr << "kafka-dev-broker: topic " << name << ": " << rd_kafka_err2str(e) << "\n";
      return 1;
    }
  }
  std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
  if (!bootstrap_file.empty()) {
    std::string tmp = bootstrap_file + ".tmp";
    std::ofstream(tmp) << bootstrap << "\n";
    std::rename(tmp.c_str(), bootstrap_file.c_str());
  }
  std::cout << bootstrap << std::endl;

  int sig = 0;
  sigwait(&set, &sig);
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}
