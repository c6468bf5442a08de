// High availability (ctest -L fault): two replicas of each service (members
// of one consumer group; two collectors behind one "Service"), a stream of
// alerts, and replica 1 of every service killed with SIGKILL mid-run (not
// restarted). Every alert is sent to BOTH collectors, as Alertmanager does
// when it retries against another pod. Afterwards:
//   - every alert is in the trail exactly once (one event id per
//     observation, whichever replica published it);
//   - no object was acted on twice (one acting outcome per target);
//   - the safety gate's per-namespace limit held with two gate replicas
//     (proposals are keyed by namespace, so one replica decides a
//     namespace: the limit is exact, not approximate);
//   - seq has no gap and the chain verifies.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "stack.h"

namespace kubemend::e2e {
namespace {

using Clock = std::chrono::steady_clock;

std::string HttpOf(const std::string& run_dir, const std::string& id) {
  std::ifstream in(run_dir + "/" + id + ".ready");
  std::string r((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto p = r.find("\"http\":\"");
  return p == std::string::npos ? "" : "http://" + r.substr(p + 8, r.find('"', p + 8) - p - 8);
}

TEST(HaE2eTest, TwoReplicasOfEachOneKilledNothingDoubledLimitsHeld) {
  constexpr long kAlerts = 3000;
  constexpr long kLimit = 25;  // approvals per namespace per hour in "limited"
  setenv("KUBEMEND_RATE_LIMITS_PER_NAMESPACE_MAX", std::to_string(kLimit).c_str(), 1);
  setenv("KUBEMEND_RATE_LIMITS_PER_NAMESPACE_WINDOW", "1h", 1);
  for (const char* k : {"KUBEMEND_RATE_LIMITS_CLUSTER_MAX", "KUBEMEND_RATE_LIMITS_PER_TARGET_MAX",
                        "KUBEMEND_RATE_LIMITS_WORKLOAD_BUDGET_MAX", "KUBEMEND_BLAST_RADIUS_MAX_IN_FLIGHT"}) {
    setenv(k, "0", 1);
  }
  setenv("KUBEMEND_ANALYZER_DEFAULTS_MAX_ACTIONS_PER_HOUR", "1000000", 1);
  setenv("KUBEMEND_EXECUTOR_VERIFY_DEFAULT", "false", 1);
  setenv("KUBEMEND_BREAKER_MIN_SAMPLES", "1000000", 1);  // the load's pods do not exist: all fail
  Stack stack;
  std::string err = stack.Up("--sim");
  ASSERT_EQ(err, "") << err;
  const std::vector<std::string> services = {"audit", "safety-gate", "executor", "analyzer", "collector"};
  for (const auto& s : services) {
    ASSERT_EQ(stack.Kubemend("add-replica " + s + " 2"), 0) << s;
  }
  const std::string c1 = HttpOf(stack.run_dir(), "collector");
  const std::string c2 = HttpOf(stack.run_dir(), "collector-2");
  ASSERT_FALSE(c1.empty() || c2.empty());

  std::atomic<long> sent{0};
  std::atomic<long> accepted{0};
  auto send_all = [&](long from, long to) {
    httplib::Client a(c1), b(c2);
    for (httplib::Client* c : {&a, &b}) {
      c->set_connection_timeout(1);
      c->set_read_timeout(15);
    }
    for (long i = from; i < to; ++i) {
      // Every 10th alert is in the rate-limited namespace.
      std::string ns = i % 10 == 0 ? "limited" : "load";
      const std::string body = AlertBody("KubePodCrashLooping", {{"namespace", ns}, {"pod", "p-" + std::to_string(i)}},
                                         "ha-" + std::to_string(i));
      bool ok = false;
      for (int attempt = 0; attempt < 100 && !ok; ++attempt) {
        // Both replicas get it; either (or both) may take it.
        for (httplib::Client* c : {&a, &b}) {
          auto res = c->Post("/api/v1/alerts", body, "application/json");
          ok = ok || (res && res->status == 200);
        }
        if (!ok) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
      }
      ++sent;
      accepted += ok;
    }
  };
  std::vector<std::thread> senders;
  for (long t = 0; t < 4; ++t) {
    senders.emplace_back(send_all, t * kAlerts / 4, (t + 1) * kAlerts / 4);
  }
  while (sent.load() < kAlerts / 3) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const auto& s : services) {  // replica 1 of each dies and stays dead
    ASSERT_EQ(kill(stack.Pid(s), SIGKILL), 0) << s;
  }
  for (auto& t : senders) {
    t.join();
  }
  ASSERT_EQ(accepted.load(), kAlerts) << "the surviving collector must take every alert";

  const std::string dsn = stack.dsn();
  long n = 0;
  EXPECT_TRUE(WaitForCount(dsn, "SELECT count(*) FROM audit_events WHERE event_type='signal'",
                           [&](long v) { return v >= kAlerts; }, std::chrono::seconds(180), &n))
      << n;
  const std::string approved =
      "SELECT count(*) FROM audit_events WHERE event_type='decision' AND verdict='approved'";
  const std::string acted =
      "SELECT count(DISTINCT payload_json->'outcome'->>'action_id') FROM audit_events WHERE "
      "event_type='outcome'";
  EXPECT_TRUE(WaitForCount(dsn, "SELECT (" + approved + ") - (" + acted + ")", [](long v) { return v <= 0; },
                           std::chrono::seconds(180), &n))
      << "approved decisions without an outcome: " << n;
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const long signals = QueryLong(dsn, "SELECT count(*) FROM audit_events WHERE event_type='signal'");
  const long rows = QueryLong(dsn, "SELECT count(*) FROM audit_events");
  const long max_seq = QueryLong(dsn, "SELECT coalesce(max(seq), 0) FROM audit_events");
  const long twice = QueryLong(dsn,
                               "SELECT count(*) FROM (SELECT target_namespace, target_name FROM audit_events "
                               "WHERE event_type='outcome' AND outcome_status <> 'duplicate' GROUP BY 1, 2 "
                               "HAVING count(*) > 1) x");
  const long limited = QueryLong(dsn,
                                 "SELECT count(*) FROM audit_events WHERE event_type='decision' AND "
                                 "verdict='approved' AND target_namespace='limited'");
  const long chain_ok = QueryLong(dsn, "SELECT CASE WHEN ok THEN 1 ELSE 0 END FROM audit_verify_chain()");
  std::printf("\nHA: %ld alerts (each to both collectors), replica 1 of each service killed at %ld; "
              "signals in trail %ld, rows %ld, seq max %ld, objects acted on twice %ld, approvals in "
              "'limited' %ld (limit %ld), chain %s\n",
              kAlerts, kAlerts / 3, signals, rows, max_seq, twice, limited, kLimit,
              chain_ok ? "verified" : "BROKEN");
  EXPECT_EQ(signals, kAlerts);
  EXPECT_EQ(max_seq, rows);
  EXPECT_EQ(twice, 0);
  EXPECT_LE(limited, kLimit);
  EXPECT_EQ(limited, kLimit) << "the limit should be reached: 300 alerts in 'limited'";
  EXPECT_EQ(chain_ok, 1);
  for (const char* k : {"KUBEMEND_RATE_LIMITS_PER_NAMESPACE_MAX", "KUBEMEND_RATE_LIMITS_PER_NAMESPACE_WINDOW",
                        "KUBEMEND_RATE_LIMITS_CLUSTER_MAX", "KUBEMEND_RATE_LIMITS_PER_TARGET_MAX",
                        "KUBEMEND_RATE_LIMITS_WORKLOAD_BUDGET_MAX", "KUBEMEND_BLAST_RADIUS_MAX_IN_FLIGHT",
                        "KUBEMEND_ANALYZER_DEFAULTS_MAX_ACTIONS_PER_HOUR", "KUBEMEND_EXECUTOR_VERIFY_DEFAULT",
                        "KUBEMEND_BREAKER_MIN_SAMPLES"}) {
    unsetenv(k);
  }
}

}  // namespace
}  // namespace kubemend::e2e
