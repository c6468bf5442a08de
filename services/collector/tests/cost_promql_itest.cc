// The cost budgets' PromQL (cost.h) against the REAL Prometheus (Debian
// package `prometheus`, installed by ./kubemend test), through the one
// Prometheus client: a static exposition endpoint serves OpenCost-shaped
// prices and allocations and kube-state-metrics-shaped owners, labels and
// volumes; Prometheus scrapes it (and holds a backfilled history since the
// start of the month, written with promtool, so that daily and monthly
// spend-to-date have something to integrate). The expected figures are
// computed here in plain C++ from the same table, not in PromQL.
//
// Missing prometheus/promtool is a failure, not a skip.
#include <httplib.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "cost.h"
#include "kubemend/common/prometheus.h"
#include "process.h"
#include "publisher.h"
#include "sources.h"

namespace kubemend::collector {
namespace {

constexpr double kGiB = 1073741824.0;

// ---- the world the metrics describe ------------------------------------
struct Container {
  std::string name;
  double cpu;        // cores allocated
  double mem_bytes;  // bytes allocated
};
struct Pod {
  std::string ns, name, node;
  std::string owner_kind, owner_name;  // kube_pod_owner (ReplicaSet for a Deployment's pods)
  std::string deployment;              // the ReplicaSet's owner, for kube_replicaset_owner
  std::map<std::string, std::string> labels;
  std::vector<Container> containers;
};
struct Node {
  std::string name;
  double cpu_price;  // per core-hour
  double ram_price;  // per GiB-hour
};
struct Volume {
  std::string pv, ns, pvc;
  double gib;
  double price;  // per GiB-hour
};

const std::vector<Node> kNodes = {{"n1", 0.03, 0.004}, {"n2", 0.05, 0.006}};
const std::vector<Pod> kPods = {
    {"shop", "web-abc-1", "n1", "ReplicaSet", "web-abc", "web",
     {{"team", "checkout"}, {"app.kubernetes.io/name", "web"}},
     {{"app", 0.5, 1 * kGiB}, {"sidecar", 0.25, 0.5 * kGiB}}},
    {"shop", "db-0", "n2", "StatefulSet", "db", "", {{"team", "data"}}, {{"db", 1.0, 4 * kGiB}}},
    {"shop", "batch-xyz", "n2", "Job", "batch", "", {{"team", "checkout"}}, {{"job", 0.2, 0.25 * kGiB}}},
    // Same Deployment and ReplicaSet names in another namespace: never counted for shop.
    {"other", "web-abc-1", "n1", "ReplicaSet", "web-abc", "web", {{"team", "checkout"}}, {{"app", 2, 2 * kGiB}}},
};
const std::vector<Volume> kVolumes = {{"pv-db", "shop", "data-db-0", 100, 0.00014},
                                      {"pv-other", "other", "data-x", 50, 0.0002}};

double NodePrice(const std::string& node, bool cpu) {
  for (const auto& n : kNodes) {
    if (n.name == node) {
      return cpu ? n.cpu_price : n.ram_price;
    }
  }
  return 0;
}

// The expected hourly cost, from the table: pods selected by `keep`, plus the
// namespace's volumes when the budget is the whole namespace.
double ExpectedHourly(const std::string& ns, const std::function<bool(const Pod&)>& keep, bool volumes) {
  double sum = 0;
  for (const auto& p : kPods) {
    if (p.ns != ns || !keep(p)) {
      continue;
    }
    for (const auto& c : p.containers) {
      sum += c.cpu * NodePrice(p.node, true) + c.mem_bytes / kGiB * NodePrice(p.node, false);
    }
  }
  for (const auto& v : kVolumes) {
    if (volumes && v.ns == ns) {
      sum += v.gib * v.price;
    }
  }
  return sum;
}

// ---- the exposition -----------------------------------------------------
struct Line {
  std::string family;
  std::string labels;  // `a="b",c="d"`
  double value;
};

std::string Labels(const std::map<std::string, std::string>& l) {
  std::string s;
  for (const auto& [k, v] : l) {
    s += (s.empty() ? "" : ",") + k + "=\"" + v + "\"";
  }
  return s;
}

std::string KsmLabelName(const std::string& k) {
  std::string out = "label_";
  for (char c : k) {
    out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  }
  return out;
}

std::vector<Line> OpenCostLines(bool prices) {
  std::vector<Line> out;
  if (prices) {
    for (const auto& n : kNodes) {
      out.push_back({"node_cpu_hourly_cost", Labels({{"node", n.name}, {"instance_type", "m5.large"}}), n.cpu_price});
      out.push_back({"node_ram_hourly_cost", Labels({{"node", n.name}, {"instance_type", "m5.large"}}), n.ram_price});
    }
    for (const auto& v : kVolumes) {
      out.push_back({"pv_hourly_cost", Labels({{"persistentvolume", v.pv}, {"volumename", v.pv}}), v.price});
    }
  }
  for (const auto& p : kPods) {
    for (const auto& c : p.containers) {
      auto l = Labels({{"container", c.name}, {"namespace", p.ns}, {"node", p.node}, {"pod", p.name}});
      out.push_back({"container_cpu_allocation", l, c.cpu});
      out.push_back({"container_memory_allocation_bytes", l, c.mem_bytes});
    }
  }
  return out;
}

std::vector<Line> KsmLines() {
  std::vector<Line> out;
  for (const auto& p : kPods) {
    const std::string uid = p.ns + "-" + p.name;
    out.push_back({"kube_pod_owner",
                   Labels({{"namespace", p.ns}, {"pod", p.name}, {"uid", uid}, {"owner_kind", p.owner_kind},
                           {"owner_name", p.owner_name}, {"owner_is_controller", "true"}}),
                   1});
    std::map<std::string, std::string> l{{"namespace", p.ns}, {"pod", p.name}, {"uid", uid}};
    for (const auto& [k, v] : p.labels) {
      l[KsmLabelName(k)] = v;
    }
    out.push_back({"kube_pod_labels", Labels(l), 1});
    if (!p.deployment.empty()) {
      out.push_back({"kube_replicaset_owner",
                     Labels({{"namespace", p.ns}, {"replicaset", p.owner_name}, {"owner_kind", "Deployment"},
                             {"owner_name", p.deployment}, {"owner_is_controller", "true"}}),
                     1});
    }
  }
  for (const auto& v : kVolumes) {
    out.push_back({"kube_persistentvolume_capacity_bytes", Labels({{"persistentvolume", v.pv}}), v.gib * kGiB});
    out.push_back({"kube_persistentvolumeclaim_info",
                   Labels({{"namespace", v.ns}, {"persistentvolumeclaim", v.pvc}, {"storageclass", "standard"},
                           {"volumename", v.pv}}),
                   1});
  }
  return out;
}

std::string Num(double v) {
  char b[64];
  snprintf(b, sizeof b, "%.17g", v);
  return b;
}

// Text format 0.0.4, as exporters serve it (no timestamps). Duplicate lines
// (a ReplicaSet owning two pods) are written once.
std::string Exposition(const std::vector<Line>& lines) {
  std::map<std::string, std::map<std::string, double>> fam;
  for (const auto& l : lines) {
    fam[l.family][l.labels] = l.value;
  }
  std::string s;
  for (const auto& [f, series] : fam) {
    s += "# TYPE " + f + " gauge\n";
    for (const auto& [l, v] : series) {
      s += f + "{" + l + "} " + Num(v) + "\n";
    }
  }
  return s;
}

// OpenMetrics for promtool's backfill: every series with the labels the live
// scrape gives it (job, instance), so the live samples continue it ...
void AppendHistory(const std::vector<Line>& lines, const std::string& job, const std::string& instance,
                   std::map<std::string, std::map<std::string, double>>* fam) {
  for (const auto& l : lines) {
    (*fam)[l.family][l.labels + ",job=\"" + job + "\",instance=\"" + instance + "\""] = l.value;
  }
}

// ... one sample every `step_s` in [from_s, to_s].
std::string OpenMetrics(const std::map<std::string, std::map<std::string, double>>& fam, int64_t from_s,
                        int64_t to_s, int64_t step_s) {
  std::string s;
  for (const auto& [f, series] : fam) {
    s += "# TYPE " + f + " gauge\n";
    for (const auto& [l, v] : series) {
      const std::string prefix = f + "{" + l + "} " + Num(v) + " ";
      for (int64_t t = from_s; t <= to_s; t += step_s) {
        s += prefix + std::to_string(t) + "\n";
      }
    }
  }
  return s + "# EOF\n";
}

// ---- the fixture: exporter, backfill, Prometheus -----------------------
class CostPromqlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new Env();
    env_->error = env_->Start();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override { ASSERT_EQ(env_->error, "") << env_->error; }

  struct Env {
    httplib::Server exporter;
    std::thread exporter_thread;
    std::mutex mu;
    bool prices = true;
    e2e::Child prometheus;
    std::string dir;
    std::string url;
    std::string error;

    std::string Start() {
      dir = (std::filesystem::temp_directory_path() / ("kubemend-cost-promql-" + std::to_string(getpid()))).string();
      std::filesystem::remove_all(dir);
      std::filesystem::create_directories(dir + "/data");
      exporter.Get("/opencost", [this](const httplib::Request&, httplib::Response& res) {
        std::lock_guard<std::mutex> lock(mu);
        res.set_content(Exposition(OpenCostLines(prices)), "text/plain; version=0.0.4");
      });
      exporter.Get("/ksm", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(Exposition(KsmLines()), "text/plain; version=0.0.4");
      });
      const int exporter_port = exporter.bind_to_any_port("127.0.0.1");
      exporter_thread = std::thread([this] { exporter.listen_after_bind(); });
      const std::string instance = "127.0.0.1:" + std::to_string(exporter_port);

      // History from before the start of the month (UTC) to now, as the live
      // scrape will label it, so the live samples continue the same series.
      const int64_t now_s = ToUnixMillis(SystemClock().Now()) / 1000;
      const int64_t month_start = now_s - PeriodElapsedSeconds("monthly", SystemClock().Now());
      std::map<std::string, std::map<std::string, double>> fam;
      AppendHistory(OpenCostLines(true), "opencost", instance, &fam);
      AppendHistory(KsmLines(), "kube-state-metrics", instance, &fam);
      std::ofstream(dir + "/history.om") << OpenMetrics(fam, month_start - 600, now_s - 2, 150);
      e2e::Child promtool;
      std::string err = promtool.Start({"/usr/bin/promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                                        dir + "/history.om", dir + "/data"},
                                       dir + "/promtool.log");
      if (!err.empty()) {
        return "promtool (Debian package prometheus): " + err;
      }
      if (!Until([&] { return !promtool.Running(); }, std::chrono::seconds(120))) {
        return "promtool did not finish the backfill; see " + dir + "/promtool.log";
      }

      const int port = e2e::FreeLoopbackPort();
      url = "http://127.0.0.1:" + std::to_string(port);
      std::ofstream(dir + "/prometheus.yml")
          << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
          << "scrape_configs:\n"
          << "- job_name: opencost\n  metrics_path: /opencost\n  static_configs: [{targets: ['" << instance << "']}]\n"
          << "- job_name: kube-state-metrics\n  metrics_path: /ksm\n  static_configs: [{targets: ['" << instance
          << "']}]\n";
      // Retention longer than a month: the monthly budget integrates since the 1st.
      err = prometheus.Start({"/usr/bin/prometheus", "--config.file=" + dir + "/prometheus.yml",
                              "--storage.tsdb.path=" + dir + "/data", "--storage.tsdb.retention.time=40d",
                              "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                             dir + "/prometheus.log");
      if (!err.empty()) {
        return "prometheus (Debian package prometheus): " + err;
      }
      PrometheusClient c(url, Millis(5000));
      // Two live scrapes of both jobs, and the backfilled blocks loaded.
      bool ready = Until(
          [&] {
            auto up = c.Query("count_over_time(up[1m]) >= 2");
            auto old = c.Query("count(node_cpu_hourly_cost offset 1h)");
            return up.ok() && up->size() == 2 && old.ok() && !old->empty();
          },
          std::chrono::seconds(60));
      return ready ? "" : "prometheus did not scrape the exporter and load the history; see " + dir + "/prometheus.log";
    }

    ~Env() {
      prometheus.Stop();
      exporter.stop();
      if (exporter_thread.joinable()) {
        exporter_thread.join();
      }
      if (!::testing::Test::HasFailure()) {
        std::filesystem::remove_all(dir);
      }
    }
  };

  static bool Until(const std::function<bool()>& pred, std::chrono::seconds deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return pred();
  }

  // The budget's query at a whole second, evaluated by Prometheus at that
  // time: one sample, its value.
  static absl::StatusOr<std::vector<PromSample>> Run(const Budget& b, TimePoint at) {
    PrometheusClient c(env_->url, Millis(10000));
    return c.Query(CostQuery(b, at), at);
  }
  static double One(const Budget& b, TimePoint at) {
    auto r = Run(b, at);
    EXPECT_TRUE(r.ok()) << b.name << ": " << r.status();
    if (!r.ok() || r->size() != 1) {
      ADD_FAILURE() << b.name << ": " << (r.ok() ? r->size() : 0) << " samples for " << CostQuery(b, at);
      return NAN;
    }
    EXPECT_TRUE((*r)[0].labels.empty());
    return (*r)[0].value;
  }
  static TimePoint NowWholeSecond() {
    return TimePoint(std::chrono::seconds(ToUnixMillis(SystemClock().Now()) / 1000));
  }

  static Env* env_;
};
CostPromqlTest::Env* CostPromqlTest::env_ = nullptr;

Budget MakeBudget(const std::string& name, const std::string& period) {
  Budget b;
  b.name = name;
  b.ns = "shop";
  b.amount = 1;
  b.period = period;
  return b;
}

TEST_F(CostPromqlTest, HourlyRunRateForEachScope) {
  const TimePoint at = NowWholeSecond();
  auto all = [](const Pod&) { return true; };
  auto owner = [](const std::string& kind, const std::string& name) {
    return [=](const Pod& p) {
      return kind == "Deployment" ? p.deployment == name : (p.owner_kind == kind && p.owner_name == name);
    };
  };
  auto label = [](const std::string& k, const std::string& v) {
    return [=](const Pod& p) { return p.labels.count(k) != 0 && p.labels.at(k) == v; };
  };
  Budget ns = MakeBudget("shop", "hourly");
  EXPECT_NEAR(One(ns, at), ExpectedHourly("shop", all, true), 1e-9);
  EXPECT_NEAR(ExpectedHourly("shop", all, true), 0.128, 1e-9);  // the table, by hand: 0.0285+0.074+0.0115+0.014

  for (const auto& [kind, name] : std::vector<std::pair<std::string, std::string>>{
           {"Deployment", "web"}, {"StatefulSet", "db"}, {"Job", "batch"}}) {
    Budget b = MakeBudget(kind + "/" + name, "hourly");
    b.workload_kind = kind;
    b.workload_name = name;
    EXPECT_NEAR(One(b, at), ExpectedHourly("shop", owner(kind, name), false), 1e-9) << kind;
  }
  Budget team = MakeBudget("team", "hourly");
  team.selector = {{"team", "checkout"}};
  EXPECT_NEAR(One(team, at), ExpectedHourly("shop", label("team", "checkout"), false), 1e-9);
  EXPECT_NEAR(One(team, at), 0.04, 1e-9);
  // A label name kube-state-metrics sanitizes (label_app_kubernetes_io_name).
  Budget app = MakeBudget("app", "hourly");
  app.selector = {{"app.kubernetes.io/name", "web"}, {"team", "checkout"}};
  EXPECT_NEAR(One(app, at), ExpectedHourly("shop", label("app.kubernetes.io/name", "web"), false), 1e-9);
  // A selector that matches no pod costs 0 (known), not unknown.
  Budget none = MakeBudget("none", "hourly");
  none.selector = {{"team", "nobody"}};
  EXPECT_NEAR(One(none, at), 0, 1e-12);
}

// Spend so far = the run-rate integrated over the UTC day / month at the
// query's 5-minute resolution: one step per 5-minute mark since the start of
// the period, the mark at the start included.
TEST_F(CostPromqlTest, DailyAndMonthlySpendToDate) {
  const TimePoint at = NowWholeSecond();
  const double hourly = ExpectedHourly("shop", [](const Pod&) { return true; }, true);
  for (const char* period : {"daily", "monthly"}) {
    const int64_t elapsed = PeriodElapsedSeconds(period, at);
    const double steps = static_cast<double>(elapsed / 300 + 1);
    const double want = hourly * steps * 300 / 3600;
    EXPECT_NEAR(One(MakeBudget(period, period), at), want, want * 1e-9) << period << ", elapsed " << elapsed << " s";
    // Never far from the exact integral: at most one 5-minute step over.
    EXPECT_LE(want - hourly * static_cast<double>(elapsed) / 3600, hourly * 300 / 3600 + 1e-9) << period;
  }
  // Built on a 5-minute mark and evaluated a little later (Prometheus' clock
  // ahead, a slow round): the mark at the start of the period still counts.
  const TimePoint mark(std::chrono::seconds(ToUnixMillis(at) / 1000 / 300 * 300));
  PrometheusClient c(env_->url, Millis(10000));
  for (const char* period : {"daily", "monthly"}) {
    const int64_t elapsed = PeriodElapsedSeconds(period, mark);
    const double want = hourly * static_cast<double>(elapsed / 300 + 1) * 300 / 3600;
    for (Millis late : {Millis(500), Millis(20000)}) {
      auto r = c.Query(CostQuery(MakeBudget(period, period), mark), mark + late);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->size(), 1u) << period;
      EXPECT_NEAR((*r)[0].value, want, want * 1e-9) << period << " built at a mark, run " << late.count() << " ms later";
    }
  }
}

// The collector's own trigger round: BudgetExceeded carries the figure.
TEST_F(CostPromqlTest, TriggerSourceFiresWithTheRealFigure) {
  PrometheusClient c(env_->url, Millis(10000));
  MetricsRegistry metrics;
  MemorySignalSink sink;
  Publisher pub(&sink, nullptr, &metrics);
  Budget b = MakeBudget("shop", "hourly");
  b.amount = 0.1;
  Budget d = MakeBudget("shop-daily", "daily");
  d.amount = 0.001;  // below one 5-minute step of spend: fires at any time of day
  SystemClock clock;
  TriggerSource src("cost", &c, {BudgetTrigger(b), BudgetTrigger(d)}, "prod", &pub, {"collector", "t", "0"}, clock,
                    Millis(1000));
  const TimePoint before = clock.Now();
  src.RunOnce();
  const TimePoint after = clock.Now();
  auto ev = sink.Take();
  ASSERT_EQ(ev.size(), 2u) << src.Details()["cost.BudgetExceeded.shop"] << " "
                           << src.Details()["cost.BudgetExceeded.shop-daily"];
  EXPECT_EQ(ev[0].signal().name(), "BudgetExceeded");
  EXPECT_EQ(ev[0].signal().status(), v1::SIGNAL_STATUS_FIRING);
  EXPECT_EQ(ev[0].signal().labels().at("period"), "hourly");
  EXPECT_NEAR(ev[0].signal().value(), 0.128, 1e-9);
  EXPECT_EQ(ev[0].signal().threshold(), 0.1);
  // The daily figure of the round's own instant: between the figures of the
  // instants just before and after it.
  EXPECT_EQ(ev[1].signal().labels().at("period"), "daily");
  auto spend = [](TimePoint t) {
    return 0.128 * static_cast<double>(PeriodElapsedSeconds("daily", t) / 300 + 1) * 300 / 3600;
  };
  EXPECT_GE(ev[1].signal().value(), spend(before) - 1e-9);
  EXPECT_LE(ev[1].signal().value(), spend(after) + 1e-9);
}

// OpenCost stops exporting prices: every period is unknown (no sample), not
// $0 and not the spend of the hours that still had prices. Runs last: it
// takes the prices away.
TEST_F(CostPromqlTest, MissingPricesAreUnknownForEveryPeriod) {
  {
    std::lock_guard<std::mutex> lock(env_->mu);
    env_->prices = false;
  }
  PrometheusClient c(env_->url, Millis(5000));
  // The next scrape marks the price series stale: from then on (evaluated at
  // a whole second) Prometheus has no prices.
  TimePoint at;
  ASSERT_TRUE(Until(
      [&] {
        at = NowWholeSecond();
        auto r = c.Query("count(node_cpu_hourly_cost)", at);
        return r.ok() && r->empty();
      },
      std::chrono::seconds(30)));
  for (const char* period : {"hourly", "daily", "monthly"}) {
    auto r = Run(MakeBudget(period, period), at);
    ASSERT_TRUE(r.ok()) << period << ": " << r.status();
    EXPECT_TRUE(r->empty()) << period << ": " << (*r)[0].value;
  }
}

}  // namespace
}  // namespace kubemend::collector
