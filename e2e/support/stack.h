#pragma once
// A kubemend stack for e2e tests and benchmarks: brought up with
// `./kubemend up` against the broker and PostgreSQL server that
// `./kubemend test` started (KUBEMEND_TEST_KAFKA_BROKERS, KUBEMEND_TEST_PG_DSN),
// with its own database, topic prefix and consumer groups, so tests can run
// side by side.
#include <chrono>
#include <functional>
#include <map>
#include <string>

namespace kubemend::e2e {

class Stack {
 public:
  // Empty string on success, else why it failed (environment missing, up failed).
  std::string Up(const std::string& extra_args = "");
  // A stack with a broker and a PostgreSQL of its own (in its run dir), for
  // tests that kill or restart them (./kubemend restart-broker|restart-postgres).
  std::string UpOwnInfra(const std::string& extra_args = "");
  ~Stack();
  void Down();

  const std::string& dsn() const { return dsn_; }
  const std::string& brokers() const { return brokers_; }
  const std::string& topic_prefix() const { return prefix_; }
  const std::string& run_dir() const { return run_dir_; }
  std::string Env(const std::string& key) const;  // from stack.env
  std::string CollectorUrl() const;                // http://host:port
  // The admin token `./kubemend up` generated for this stack (the services
  // refuse admin calls without one): "operator" (subject: up's --operator,
  // default $USER) or "viewer". "" when not found.
  std::string AdminToken(const std::string& role = "operator") const;

  // Runs ./kubemend with arguments and this stack's run dir; returns the exit code.
  int Kubemend(const std::string& args) const;
  int Pid(const std::string& service) const;

 private:
  std::string root_, dsn_, brokers_, prefix_, run_dir_, db_;
  std::map<std::string, std::string> env_;
  bool up_ = false;
  std::string UpWith(const std::string& infra_args, const std::string& extra_args);
};

// Creates a fresh database on the test server and returns its DSN.
std::string CreateDatabase(const std::string& name);

// POSTs a body; returns {status, body}. status 0 = connection failed.
std::pair<int, std::string> Post(const std::string& base_url, const std::string& path,
                                 const std::string& body);

// One Alertmanager v4 webhook body with one alert.
std::string AlertBody(const std::string& alertname, const std::map<std::string, std::string>& labels,
                      const std::string& fingerprint, const std::string& status = "firing");

// Polls `query` (one integer) until `pred` holds or the deadline passes.
bool WaitForCount(const std::string& dsn, const std::string& query,
                  const std::function<bool(long)>& pred, std::chrono::seconds deadline,
                  long* last = nullptr);
long QueryLong(const std::string& dsn, const std::string& query);

}  // namespace kubemend::e2e
