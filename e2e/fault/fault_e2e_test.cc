// The fault suite (ctest -L fault). A sustained stream of Alertmanager
// webhooks (KUBEMEND_FAULT_SIGNALS, default 20,000, each a new alert) goes
// through all five services, on an Apache Kafka and a PostgreSQL of the
// stack's own and kube-sim as the cluster, while one fault at a time hits:
// each service is killed with SIGKILL mid-stream and restarted; the broker is
// killed with SIGKILL and restarted (its data survives); PostgreSQL is
// restarted; the broker is frozen (SIGSTOP) for longer than the consumer
// session timeout, then resumed. The sender retries a refused webhook (503
// while the broker is away, a refused connection while the collector is) as
// Alertmanager does. Afterwards:
//   - every alert is in the trail exactly once, and every event once;
//   - every approved decision has exactly one outcome that acted (no action
//     id acted twice; DUPLICATE answers of the redelivery fence aside);
//   - seq has no gap and the hash chain verifies;
//   - no service reported data loss (the metric, and DATA LOSS in any log).
// It prints the fault table: fault, signals sent when it hit, seconds to
// recover, and the counts.
#include <gtest/gtest.h>
#include <httplib.h>
#include <pqxx/pqxx>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "stack.h"

namespace kubemend::e2e {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

int FreePort() {
  for (int i = 0; i < 200; ++i) {
    // Below the kernel's ephemeral range (32768+): the collector re-binds this
    // port after each restart, and no client connection may hold it.
    int p = 10000 + static_cast<int>(Clock::now().time_since_epoch().count() % 22000);
    std::string cmd = "ss -Hltn 'sport = :" + std::to_string(p) + "' | grep -q .";
    if (std::system(cmd.c_str()) != 0) {
      return p;
    }
  }
  return 0;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

long EnvLong(const char* name, long def) {
  const char* v = std::getenv(name);
  return v ? std::atol(v) : def;
}

struct FaultRow {
  std::string fault;
  long sent_at = 0;
  double recover_s = 0;
};

class FaultSuite : public ::testing::Test {
 protected:
  void SetUp() override {
    // Delivery under faults is the point here, not the gate's limits.
    for (const char* k : {"KUBEMEND_RATE_LIMITS_PER_NAMESPACE_MAX", "KUBEMEND_RATE_LIMITS_CLUSTER_MAX",
                          "KUBEMEND_RATE_LIMITS_PER_TARGET_MAX",
                          "KUBEMEND_RATE_LIMITS_WORKLOAD_BUDGET_MAX", "KUBEMEND_BLAST_RADIUS_MAX_IN_FLIGHT"}) {
      setenv(k, "0", 1);
    }
    setenv("KUBEMEND_ANALYZER_DEFAULTS_MAX_ACTIONS_PER_HOUR", "1000000", 1);
    setenv("KUBEMEND_EXECUTOR_VERIFY_DEFAULT", "false", 1);
    setenv("KUBEMEND_BREAKER_MIN_SAMPLES", "1000000", 1);  // the load's pods do not exist: all fail
    port_ = FreePort();
    ASSERT_GT(port_, 0);
    std::string err = stack_.UpOwnInfra("--sim --collector-port " + std::to_string(port_));
    ASSERT_EQ(err, "") << err;
  }
  void TearDown() override {
    if (HasFailure()) {
      std::string keep = "/tmp/kubemend-fault-logs-" + std::to_string(getpid());
      std::system(("cp -r " + stack_.run_dir() + "/logs " + keep).c_str());
      std::cerr << "logs kept in " << keep << "\n";
    }
    stack_.Down();
  }
  int port_ = 0;
  Stack stack_;
};

TEST_F(FaultSuite, NothingLostOrDoubledWhenAnythingDies) {
  const long kSignals = EnvLong("KUBEMEND_FAULT_SIGNALS", 20000);
  const long kRate = EnvLong("KUBEMEND_FAULT_RATE", 300);  // alerts per second, all senders
  const int kSenders = 4;
  const std::string base = "http://127.0.0.1:" + std::to_string(port_);
  std::atomic<long> next{0};
  std::atomic<long> accepted{0};
  std::atomic<long> refusals{0};
  const auto start = Clock::now();
  auto sender = [&] {
    httplib::Client c(base);
    c.set_connection_timeout(2);
    c.set_read_timeout(15);
    c.set_keep_alive(true);
    while (true) {
      long i = next++;
      if (i >= kSignals) {
        return;
      }
      // Paced from the schedule, not from the last answer.
      auto due = start + std::chrono::microseconds(i * 1000000 / kRate);
      std::this_thread::sleep_until(due);
      const std::string body =
          AlertBody("KubePodCrashLooping", {{"namespace", "load"}, {"pod", "p-" + std::to_string(i)}},
                    "fault-" + std::to_string(i));
      while (true) {
        auto res = c.Post("/api/v1/alerts", body, "application/json");
        if (res && res->status == 200) {
          ++accepted;
          break;
        }
        ++refusals;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  };
  std::vector<std::thread> senders;
  for (int i = 0; i < kSenders; ++i) {
    senders.emplace_back(sender);
  }

  std::vector<FaultRow> table;
  auto timed = [&](const std::string& name, const std::function<bool()>& act) {
    FaultRow row{name, accepted.load(), 0};
    auto t0 = Clock::now();
    bool ok = act();
    row.recover_s = std::chrono::duration<double>(Clock::now() - t0).count();
    table.push_back(row);
    EXPECT_TRUE(ok) << name << " did not recover";
  };
  const std::vector<std::string> faults = {"kill -9 collector", "kill -9 analyzer", "kill -9 safety-gate",
                                           "kill -9 executor", "kill -9 audit", "kill -9 broker",
                                           "restart postgres", "SIGSTOP broker 12s"};
  for (size_t f = 0; f < faults.size(); ++f) {
    long at = kSignals * static_cast<long>(f + 1) / static_cast<long>(faults.size() + 2);
    while (accepted.load() < at) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const std::string& name = faults[f];
    if (name.rfind("kill -9 ", 0) == 0 && name != "kill -9 broker") {
      std::string svc = name.substr(8);
      timed(name, [&] {
        if (kill(stack_.Pid(svc), SIGKILL) != 0) {
          return false;
        }
        std::this_thread::sleep_for(std::chrono::seconds(2));  // the stream goes on meanwhile
        return stack_.Kubemend("restart-service " + svc) == 0;
      });
    } else if (name == "kill -9 broker") {
      timed(name, [&] {
        if (kill(stack_.Pid("broker"), SIGKILL) != 0) {
          return false;
        }
        std::this_thread::sleep_for(std::chrono::seconds(2));
        return stack_.Kubemend("restart-broker") == 0;
      });
    } else if (name == "restart postgres") {
      timed(name, [&] { return stack_.Kubemend("restart-postgres") == 0; });
    } else {
      timed(name, [&] {
        int pid = stack_.Pid("broker");
        if (kill(pid, SIGSTOP) != 0) {
          return false;
        }
        std::this_thread::sleep_for(std::chrono::seconds(12));  // > session.timeout.ms (6 s)
        return kill(pid, SIGCONT) == 0;
      });
    }
  }
  for (auto& t : senders) {
    t.join();
  }
  const double send_s = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EQ(accepted.load(), kSignals);

  // Everything reaches the trail: every signal, and an outcome for every
  // approved decision.
  const std::string dsn = stack_.dsn();
  long n = 0;
  EXPECT_TRUE(WaitForCount(dsn, "SELECT count(*) FROM audit_events WHERE event_type='signal'",
                           [&](long v) { return v >= kSignals; }, std::chrono::seconds(300), &n))
      << "signals in the trail: " << n << " of " << kSignals;
  const std::string approved =
      "SELECT count(*) FROM audit_events WHERE event_type='decision' AND verdict='approved'";
  const std::string acted =
      "SELECT count(DISTINCT payload_json->'outcome'->>'action_id') FROM audit_events WHERE "
      "event_type='outcome' AND payload_json->'outcome'->>'rolls_back_action_id' IS NULL";
  EXPECT_TRUE(WaitForCount(dsn, "SELECT (" + approved + ") - (" + acted + ")",
                           [](long v) { return v <= 0; }, std::chrono::seconds(300), &n))
      << "approved decisions without an outcome: " << n;
  std::this_thread::sleep_for(std::chrono::seconds(3));  // anything late would show now

  const long signals = QueryLong(dsn, "SELECT count(*) FROM audit_events WHERE event_type='signal'");
  const long distinct_alerts =
      QueryLong(dsn, "SELECT count(DISTINCT target_name) FROM audit_events WHERE event_type='signal'");
  const long rows = QueryLong(dsn, "SELECT count(*) FROM audit_events");
  const long max_seq = QueryLong(dsn, "SELECT coalesce(max(seq), 0) FROM audit_events");
  const long decisions_approved = QueryLong(dsn, approved);
  const long acted_twice = QueryLong(
      dsn,
      "SELECT count(*) FROM (SELECT payload_json->'outcome'->>'action_id' FROM audit_events WHERE "
      "event_type='outcome' AND outcome_status <> 'duplicate' GROUP BY 1 HAVING count(*) > 1) x");
  const long duplicates_answered = QueryLong(
      dsn, "SELECT count(*) FROM audit_events WHERE event_type='outcome' AND outcome_status='duplicate'");
  const long chain_ok = QueryLong(dsn, "SELECT CASE WHEN ok THEN 1 ELSE 0 END FROM audit_verify_chain()");
  const long dead = QueryLong(dsn, "SELECT count(*) FROM dead_letters");
  std::string outcome_mix;
  {
    const std::string q =
        "SELECT string_agg(outcome_status || '=' || c, ' ') FROM (SELECT outcome_status, count(*) c FROM "
        "audit_events WHERE event_type='outcome' GROUP BY 1 ORDER BY 1) x";
    pqxx::connection c(dsn);
    pqxx::work w(c);
    auto r = w.exec1(q);
    outcome_mix = r[0].is_null() ? "" : r[0].as<std::string>();
  }
  // Data loss: no log line from any process of the run, restarted ones included.
  int loss_lines = 0;
  for (const auto& e : fs::directory_iterator(stack_.run_dir() + "/logs")) {
    std::istringstream in(ReadAll(e.path().string()));
    for (std::string line; std::getline(in, line);) {
      loss_lines += line.find("DATA LOSS") != std::string::npos;
    }
  }

  std::printf("\nfault suite: %ld alerts at %ld/s over %.0f s (%ld refused tries, retried)\n", kSignals,
              kRate, send_s, refusals.load());
  std::printf("| fault | alerts accepted when it hit | seconds to recover |\n|---|---|---|\n");
  for (const auto& r : table) {
    std::printf("| %s | %ld | %.1f |\n", r.fault.c_str(), r.sent_at, r.recover_s);
  }
  std::printf("trail: %ld rows, seq max %ld, chain %s; signals %ld (distinct alerts %ld); approved "
              "decisions %ld; action ids acted twice %ld; DUPLICATE answers %ld; outcomes %s; dead "
              "letters %ld; DATA LOSS log lines %d\n",
              rows, max_seq, chain_ok ? "verified" : "BROKEN", signals, distinct_alerts,
              decisions_approved, acted_twice, duplicates_answered, outcome_mix.c_str(), dead,
              loss_lines);
  EXPECT_EQ(signals, kSignals) << "every alert exactly once";
  EXPECT_EQ(distinct_alerts, kSignals);
  EXPECT_EQ(max_seq, rows) << "seq has a gap";
  EXPECT_EQ(chain_ok, 1);
  EXPECT_EQ(acted_twice, 0) << "an approved decision was acted on twice";
  EXPECT_EQ(loss_lines, 0) << "a consumer reported data loss";
  EXPECT_GT(decisions_approved, 0);
}

}  // namespace
}  // namespace kubemend::e2e
