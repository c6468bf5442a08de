#include "stack.h"

#include <httplib.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "kubemend/common/ids.h"

namespace kubemend::e2e {

std::string CreateDatabase(const std::string& name) {
  const char* base = std::getenv("KUBEMEND_TEST_PG_DSN");
  pqxx::connection admin(base);
  pqxx::nontransaction(admin).exec("CREATE DATABASE " + name);
  std::string dsn = base;
  auto pos = dsn.find("dbname=");
  if (pos != std::string::npos) {
    dsn = dsn.substr(0, pos);
  }
  return dsn + " dbname=" + name;
}

std::string Stack::Up(const std::string& extra_args) {
  const char* pg = std::getenv("KUBEMEND_TEST_PG_DSN");
  const char* kafka = std::getenv("KUBEMEND_TEST_KAFKA_BROKERS");
  if (!pg || !kafka) {
    return "KUBEMEND_ROOT, KUBEMEND_TEST_PG_DSN and KUBEMEND_TEST_KAFKA_BROKERS must be set; run "
           "the tests through ./kubemend test";
  }
  brokers_ = kafka;
  std::string id = NewUuid().substr(0, 8);
  db_ = "e2e_" + id;
  dsn_ = CreateDatabase(db_);
  return UpWith("--kafka-brokers " + brokers_ + " --pg-dsn '" + dsn_ + "'", extra_args);
}

std::string Stack::UpOwnInfra(const std::string& extra_args) {
  std::string err = UpWith("", extra_args);
  if (err.empty()) {
    brokers_ = Env("KUBEMEND_KAFKA_BROKERS");
    dsn_ = Env("KUBEMEND_PG_DSN");
  }
  return err;
}

std::string Stack::UpWith(const std::string& infra_args, const std::string& extra_args) {
  const char* root = std::getenv("KUBEMEND_ROOT");
  if (!root) {
    return "KUBEMEND_ROOT must be set; run the tests through ./kubemend test";
  }
  root_ = root;
  std::string id = NewUuid().substr(0, 8);
  prefix_ = "e2e" + id + ".";
  run_dir_ = "/tmp/kubemend-e2e-" + id;
  std::string cmd = root_ + "/kubemend up --no-build --run-dir " + run_dir_ + " " + infra_args +
                    " --topic-prefix " + prefix_ + " " + extra_args + " > " + "/tmp/kubemend-e2e-" +
                    id + ".up.log 2>&1";
  int rc = std::system(cmd.c_str());
  up_ = true;
  if (rc != 0) {
    std::ifstream in("/tmp/kubemend-e2e-" + id + ".up.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return "kubemend up failed: " + ss.str();
  }
  std::ifstream env(run_dir_ + "/stack.env");
  std::string line;
  while (std::getline(env, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) {
      continue;
    }
    std::string v = line.substr(eq + 1);
    if (v.size() >= 2 && v.front() == '\'') {
      v = v.substr(1, v.size() - 2);
    }
    env_[line.substr(0, eq)] = v;
  }
  return "";
}

Stack::~Stack() { Down(); }

void Stack::Down() {
  if (up_) {
    Kubemend("down");
    up_ = false;
  }
}

std::string Stack::Env(const std::string& key) const {
  auto it = env_.find(key);
  return it == env_.end() ? "" : it->second;
}

std::string Stack::AdminToken(const std::string& role) const {
  // kubemendctl.yaml names the operator's token file; the viewer's sits beside it.
  std::ifstream cfg(run_dir_ + "/kubemendctl.yaml");
  std::string line, path;
  while (std::getline(cfg, line)) {
    if (line.rfind("token_file: ", 0) == 0) {
      path = line.substr(12);
    }
  }
  if (path.empty()) {
    return "";
  }
  if (role == "viewer") {
    path = path.substr(0, path.size() - 6) + "-viewer.token";
  }
  std::ifstream in(path);
  std::string token;
  std::getline(in, token);
  return token;
}

std::string Stack::CollectorUrl() const { return "http://" + Env("KUBEMEND_COLLECTOR_HTTP"); }

int Stack::Kubemend(const std::string& args) const {
  std::string verb = args.substr(0, args.find(' '));
  std::string rest = args.size() > verb.size() ? args.substr(verb.size()) : "";
  std::string cmd = root_ + "/kubemend " + verb + rest + " --run-dir " + run_dir_ + " >> " +
                    run_dir_ + "/logs/kubemend-cli.log 2>&1";
  return WEXITSTATUS(std::system(cmd.c_str()));
}

int Stack::Pid(const std::string& service) const {
  std::ifstream in(run_dir_ + "/pids/" + service);
  int pid = 0;
  in >> pid;
  return pid;
}

std::pair<int, std::string> Post(const std::string& base_url, const std::string& path,
                                 const std::string& body) {
  httplib::Client c(base_url);
  c.set_connection_timeout(5);
  c.set_read_timeout(15);
  auto res = c.Post(path, body, "application/json");
  if (!res) {
    return {0, "connection failed"};
  }
  return {res->status, res->body};
}

std::string AlertBody(const std::string& alertname, const std::map<std::string, std::string>& labels,
                      const std::string& fingerprint, const std::string& status) {
  std::string l = "\"alertname\":\"" + alertname + "\"";
  for (const auto& [k, v] : labels) {
    l += ",\"" + k + "\":\"" + v + "\"";
  }
  return R"({"version":"4","status":")" + status +
         R"(","receiver":"kubemend","groupKey":"g","groupLabels":{},"commonLabels":{},)"
         R"("commonAnnotations":{},"externalURL":"http://am","truncatedAlerts":0,"alerts":[{"status":")" +
         status + R"(","labels":{)" + l +
         R"(},"annotations":{"summary":"test"},"startsAt":"2026-11-22T10:00:00Z",)"
         R"("endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom","fingerprint":")" +
         fingerprint + "\"}]}";
}

long QueryLong(const std::string& dsn, const std::string& query) {
  pqxx::connection c(dsn);
  pqxx::work w(c);
  return w.exec1(query)[0].as<long>();
}

bool WaitForCount(const std::string& dsn, const std::string& query,
                  const std::function<bool(long)>& pred, std::chrono::seconds deadline, long* last) {
  auto until = std::chrono::steady_clock::now() + deadline;
  long v = -1;
  while (std::chrono::steady_clock::now() < until) {
    try {
      v = QueryLong(dsn, query);
      if (pred(v)) {
        if (last) {
          *last = v;
        }
        return true;
      }
    } catch (const std::exception&) {
      // the table may not exist until the audit service has migrated
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (last) {
    *last = v;
  }
  return false;
}

}  // namespace kubemend::e2e
