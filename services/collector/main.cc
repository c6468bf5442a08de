// kubemend-collector: turns every source of trouble (Alertmanager webhooks,
// watched Kubernetes state, Prometheus metric triggers, health checks, cost
// budgets) into Signal events on the signals topic. main only wires.
#include <httplib.h>

#include <thread>

#include "kubemend/common/log.h"
#include "kubemend/common/runtime.h"
#include "src/collector_config.h"
#include "src/facts_source.h"
#include "src/sources.h"
#include "src/http_server.h"
#include "src/webhook.h"

using namespace kubemend;
using namespace kubemend::collector;

namespace {

int Fail(const std::string& why, int code) {
  fprintf(stderr, "kubemend-collector: %s\n", why.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CollectorConfig cfg;
  cfg.common.http_listen = "0.0.0.0:8080";
  ConfigSchema schema;
  AddCollectorKeys(schema, &cfg);
  std::string path;
  int code = 0;
  if (!ParseArgs(argc, argv, "collector", schema, &path, &code)) {
    return code;
  }
  const Env env = EnvFromProcess();
  if (auto st = schema.Load(path, env); !st.ok()) {
    return Fail(std::string(st.message()), 2);
  }
  auto parsed = FinishCollectorConfig(&cfg, env);
  if (!parsed.ok()) {
    return Fail("config " + path + ": " + std::string(parsed.message()), 2);
  }
  auto auth = WebhookAuth::Create(cfg.webhook.auth, env);
  if (!auth.ok()) {
    return Fail("config " + path + ": " + std::string(auth.status().message()), 2);
  }

  // Declared before the runtime, whose destructor stops it (ServeHttpWith).
  std::unique_ptr<AsyncHttpServer> http;
  ServiceRuntime rt("collector", cfg.common);
  auto log = Logger("main");
  const Clock& clock = rt.clock();
  std::unique_ptr<DedupStore> dedup;
  if (cfg.dedup.enabled) {
    DedupStore::Limits limits;
    limits.forget_after = cfg.dedup.forget_after;
    limits.forget_firing_after = cfg.dedup.forget_firing_after;
    limits.max_entries = static_cast<size_t>(cfg.dedup.max_entries);
    auto d = DedupStore::Open(cfg.dedup.state_file, limits, clock);
    if (!d.ok()) {
      return Fail(std::string(d.status().message()), 2);
    }
    dedup = std::move(*d);
    log->info("msg=\"dedup state loaded\" file={} entries={}", Q(cfg.dedup.state_file), dedup->size());
  }
  auto producer = rt.producer();
  if (!producer.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(producer.status().message())));
    return 2;
  }
  KafkaSignalSink sink(*producer, TopicName(cfg.common.kafka, Topic::kSignals), cfg.common.kafka.delivery_timeout);
  Publisher publisher(&sink, dedup.get(), &rt.metrics());
  publisher.AddSource(WebhookHandler::kSource, cfg.webhook.enabled);
  publisher.AddSource(KubeSource::kName, cfg.kube_enabled);
  publisher.AddSource("prometheus", cfg.prometheus.enabled);
  publisher.AddSource(HealthSource::kName, cfg.health.enabled);
  publisher.AddSource("cost", cfg.cost.enabled);

  std::unique_ptr<kube::KubeClient> kube;
  if (cfg.kube_enabled || cfg.facts_enabled || (cfg.health.enabled && cfg.health_needs_kube)) {
    kube::KubeconfigOptions ko;
    ko.path = cfg.kubernetes.kubeconfig;
    auto kc = cfg.kubernetes.kubeconfig.empty() ? kube::LoadDefaultConfig() : kube::LoadKubeconfig(ko);
    if (!kc.ok()) {
      return Fail("kubernetes: " + kc.error().ToString(), 2);
    }
    auto client = kube::NewClient(*kc);
    if (!client.ok()) {
      return Fail("kubernetes: " + client.error().ToString(), 2);
    }
    kube = std::move(client.value());
  }

  ProducerIdentity who = rt.identity();
  ClusterFacts facts(clock);
  std::unique_ptr<FactsSource> facts_source;
  if (cfg.facts_enabled) {
    publisher.AddSource(FactsSource::kName, true);
    publisher.SetFacts(&facts);
    facts_source = std::make_unique<FactsSource>(kube.get(), &facts, &publisher);
  }
  std::unique_ptr<KubeSource> kube_source;
  if (cfg.kube_enabled) {
    kube_source = std::make_unique<KubeSource>(kube.get(), cfg.kube_state, &publisher, who, clock, cfg.kubernetes.tick);
  }
  std::unique_ptr<PrometheusClient> prom;
  if (cfg.prometheus.enabled || cfg.cost.enabled) {
    prom = std::make_unique<PrometheusClient>(cfg.prometheus.url, cfg.prometheus.timeout);
  }
  std::unique_ptr<TriggerSource> prom_source;
  if (cfg.prometheus.enabled) {
    prom_source = std::make_unique<TriggerSource>("prometheus", prom.get(), cfg.triggers, cfg.cluster, &publisher, who,
                                                  clock, cfg.prometheus.interval);
  }
  std::unique_ptr<TriggerSource> cost_source;
  if (cfg.cost.enabled) {
    std::vector<TriggerSpec> specs;
    for (const auto& b : cfg.budgets) {
      specs.push_back(BudgetTrigger(b));
    }
    cost_source = std::make_unique<TriggerSource>("cost", prom.get(), std::move(specs), cfg.cluster, &publisher, who,
                                                  clock, cfg.cost.interval);
  }
  std::unique_ptr<RealProber> prober;
  std::unique_ptr<HealthSource> health_source;
  if (cfg.health.enabled) {
    prober = std::make_unique<RealProber>(kube.get(), [](Millis d) { std::this_thread::sleep_for(d); });
    health_source = std::make_unique<HealthSource>(
        std::make_unique<HealthCheckRunner>(cfg.checks, kube.get(), prober.get(), cfg.cluster, who, clock), &publisher,
        cfg.health.tick);
  }

  // The HTTP port (webhook, /metrics, /healthz) is an asynchronous server:
  // a request waiting for the broker holds no thread (webhook.h).
  WebhookHandler handler(&publisher, cfg.webhook, std::move(*auth), who, clock);
  rt.ServeHttpWith(
      [&]() -> absl::StatusOr<int> {
        auto s = AsyncHttpServer::Start(
            WebhookServerOptions(cfg.webhook, cfg.common.http_listen, cfg.common.http_tls_cert_file,
                                 cfg.common.http_tls_key_file),
            CollectorRoutes(cfg.webhook.enabled ? &handler : nullptr, [&] { return rt.metrics().Render(); },
                            [&] { return rt.Healthz(); }));
        if (!s.ok()) {
          return s.status();
        }
        http = std::move(*s);
        return http->port();
      },
      [&] {
        if (http) {
          http->Stop();
        }
      });
  rt.SetStatusHook([&](v1::GetStatusResponse* r) {
    auto& d = *r->mutable_details();
    for (const auto& [k, v] : publisher.Details()) {
      d[k] = v;
    }
    auto merge = [&](const std::map<std::string, std::string>& m) {
      for (const auto& [k, v] : m) {
        d[k] = v;
      }
    };
    if (kube_source) {
      merge(kube_source->Details());
    }
    if (facts_source) {
      merge(facts_source->Details());
    }
    if (prom_source) {
      merge(prom_source->Details());
    }
    if (cost_source) {
      merge(cost_source->Details());
    }
    if (health_source) {
      merge(health_source->Details());
    }
  });
  if (auto st = rt.Start(); !st.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
    return 1;
  }
  if (facts_source) {
    facts_source->Start();
  }
  if (kube_source) {
    kube_source->Start();
  }
  if (prom_source) {
    prom_source->Start();
  }
  if (cost_source) {
    cost_source->Start();
  }
  if (health_source) {
    health_source->Start();
  }
  log->info("msg=\"sources\" webhook={} kubernetes={} facts={} prometheus={} triggers={} health_checks={} cost={} budgets={}",
            cfg.webhook.enabled, cfg.kube_enabled, cfg.facts_enabled, cfg.prometheus.enabled, cfg.triggers.size(), cfg.checks.size(),
            cfg.cost.enabled, cfg.budgets.size());
  rt.WaitForShutdown();
  // No new requests; the ones waiting for the broker get their answer (or
  // are dropped with the connection) while the publisher still exists.
  if (http) {
    http->Stop();
  }
  (void)(*producer)->Flush(cfg.common.kafka.delivery_timeout);
  if (health_source) {
    health_source->Stop();
  }
  if (cost_source) {
    cost_source->Stop();
  }
  if (prom_source) {
    prom_source->Stop();
  }
  if (kube_source) {
    kube_source->Stop();
  }
  if (facts_source) {
    facts_source->Stop();
  }
  (void)(*producer)->Flush(std::chrono::seconds(5));
  return 0;
}
