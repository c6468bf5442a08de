#pragma once
// Service configuration: one YAML file per service, every key overridable by
// an environment variable, unknown keys and bad values rejected with one line
// that names the key and says why.
//
// A service declares its keys once, binding each to a field of its own config
// struct:
//   ConfigSchema s;
//   s.Add("kafka.brokers", &cfg.kafka.brokers, "bootstrap servers");
//   s.Add("gate.rate_limit.per_target", &cfg.per_target, "...");
//   absl::Status st = s.Load(path, EnvFromProcess());
// The environment variable for key "kafka.brokers" is KUBEMEND_KAFKA_BROKERS
// (dots and dashes become underscores). Lists take comma-separated values in
// the environment; maps take k=v,k=v. Subtrees a service validates itself
// (policies, safety rules) bind to a YAML::Node with AddNode.
#include <yaml-cpp/yaml.h>

#include <absl/status/status.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace kubemend {

using Env = std::map<std::string, std::string>;
Env EnvFromProcess();

std::string EnvNameForKey(const std::string& key);

// "250ms", "10s", "5m", "2h", "1d" or a bare number of milliseconds.
absl::Status ParseDuration(const std::string& text, std::chrono::milliseconds* out);

class ConfigSchema {
 public:
  void Add(const std::string& key, std::string* field, std::string help);
  void Add(const std::string& key, int64_t* field, std::string help, int64_t min = INT64_MIN,
           int64_t max = INT64_MAX);
  void Add(const std::string& key, double* field, std::string help);
  void Add(const std::string& key, bool* field, std::string help);
  void Add(const std::string& key, std::chrono::milliseconds* field, std::string help);
  void Add(const std::string& key, std::vector<std::string>* field, std::string help);
  void Add(const std::string& key, std::map<std::string, std::string>* field, std::string help);
  // A string restricted to one of `allowed`.
  void AddEnum(const std::string& key, std::string* field, std::vector<std::string> allowed,
               std::string help);
  // A subtree the service parses itself; no env override.
  void AddNode(const std::string& key, YAML::Node* field, std::string help);

  // Reads `path` (empty: defaults only), then the environment. Returns the
  // first problem as "config <file>: key a.b: why".
  absl::Status Load(const std::string& path, const Env& env);
  absl::Status LoadYaml(const YAML::Node& root, const std::string& origin, const Env& env);

  // One line per key: key, env var, help. For --help-config.
  std::string Describe() const;

 private:
  struct Entry {
    std::string key;
    std::string help;
    bool is_node = false;
    std::function<absl::Status(const YAML::Node&)> from_yaml;
    std::function<absl::Status(const std::string&)> from_env;
  };
  absl::Status Walk(const YAML::Node& node, const std::string& prefix, const std::string& origin);
  std::vector<Entry> entries_;
};

}  // namespace kubemend
