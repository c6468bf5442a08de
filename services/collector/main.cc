// kubemend-collector: turns every source of trouble (Alertmanager webhooks,
// watched Kubernetes state, Prometheus metric triggers, health checks, cost
// budgets) into Signal events on the signals topic. main only wires.
#include <httplib.h>

#include <thread>

#include "kubemend/common/log.h"
#include "kubemend/common/runtime.h"
#include "src/collector_config.h"
#include "src/facts_source.h"
#include "src/http_server.h"
#include "src/sources.h"
#include "src/webhook.h"

using namespace kubemend;
using namespace kubemend::collector;

namespace {

int Fail(const std::string& why, int code) {
  fprintf(stderr, "kubemend-collector: %s\n", why.c_str());
  return code;
}

// The dedup state (null when dedup is off); "" or why it cannot be opened.
std::string OpenDedup(const CollectorConfig& cfg, const Clock& clock, std::unique_ptr<DedupStore>* out) {
  if (!cfg.dedup.enabled) {
    return "";
  }
  DedupStore::Limits limits;
  limits.forget_after = cfg.dedup.forget_after;
  limits.forget_firing_after = cfg.dedup.forget_firing_after;
  limits.max_entries = static_cast<size_t>(cfg.dedup.max_entries);
  auto d = DedupStore::Open(cfg.dedup.state_file, limits, clock);
  if (!d.ok()) {
    return std::string(d.status().message());
  }
  *out = std::move(*d);
  Logger("main")->info("msg=\"dedup state loaded\" file={} entries={}", Q(cfg.dedup.state_file), (*out)->size());
  return "";
}

// The Kubernetes client when a source needs one (null otherwise); "" or why not.
std::string OpenKube(const CollectorConfig& cfg, std::unique_ptr<kube::KubeClient>* out) {
  if (!(cfg.kube_enabled || cfg.facts_enabled || (cfg.health.enabled && cfg.health_needs_kube))) {
    return "";
  }
  kube::KubeconfigOptions ko;
  ko.path = cfg.kubernetes.kubeconfig;
  auto kc = cfg.kubernetes.kubeconfig.empty() ? kube::LoadDefaultConfig() : kube::LoadKubeconfig(ko);
  if (!kc.ok()) {
    return kc.error().ToString();
  }
  auto client = kube::NewClient(*kc);
  if (!client.ok()) {
    return client.error().ToString();
  }
  *out = std::move(client.value());
  return "";
}

// The collector's loops and watchers (each null when its source is off).
struct Loops {
  std::unique_ptr<FactsSource> facts_source;
  std::unique_ptr<KubeSource> kube_source;
  std::unique_ptr<PrometheusClient> prom;
  std::unique_ptr<TriggerSource> prom_source;
  std::unique_ptr<TriggerSource> cost_source;
  std::unique_ptr<RealProber> prober;
  std::unique_ptr<HealthSource> health_source;

  void Start() {
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
  }
  void Stop() {
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
  }
  // GetStatus details of every loop, merged into `d`.
  template <class Map>
  void Details(Map* d) const {
    auto merge = [&](const std::map<std::string, std::string>& m) {
      for (const auto& [k, v] : m) {
        (*d)[k] = v;
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
  }
};

Loops BuildLoops(const CollectorConfig& cfg, kube::KubeClient* kube_client, Publisher* publisher_ptr,
                 ClusterFacts* facts_ptr, const ProducerIdentity& who, const Clock& clock) {
  Loops l;
  Publisher& publisher = *publisher_ptr;
  ClusterFacts& facts = *facts_ptr;
  auto* kube = kube_client;
  if (cfg.facts_enabled) {
    publisher.AddSource(FactsSource::kName, true);
    publisher.SetFacts(&facts);
    l.facts_source = std::make_unique<FactsSource>(kube, &facts, &publisher);
  }
  if (cfg.kube_enabled) {
    l.kube_source = std::make_unique<KubeSource>(kube, cfg.kube_state, &publisher, who, clock, cfg.kubernetes.tick);
  }
  if (cfg.prometheus.enabled || cfg.cost.enabled) {
    l.prom = std::make_unique<PrometheusClient>(cfg.prometheus.url, cfg.prometheus.timeout);
  }
  if (cfg.prometheus.enabled) {
    l.prom_source = std::make_unique<TriggerSource>("prometheus", l.prom.get(), cfg.triggers, cfg.cluster, &publisher, who,
                                                  clock, cfg.prometheus.interval);
  }
  if (cfg.cost.enabled) {
    std::vector<TriggerSpec> specs;
    for (const auto& b : cfg.budgets) {
      specs.push_back(BudgetTrigger(b));
    }
    l.cost_source = std::make_unique<TriggerSource>("cost", l.prom.get(), std::move(specs), cfg.cluster, &publisher, who,
                                                  clock, cfg.cost.interval);
  }
  if (cfg.health.enabled) {
    l.prober = std::make_unique<RealProber>(kube, [](Millis d) { std::this_thread::sleep_for(d); });
    l.health_source = std::make_unique<HealthSource>(
        std::make_unique<HealthCheckRunner>(cfg.checks, kube, l.prober.get(), cfg.cluster, who, clock), &publisher,
        cfg.health.tick);
  }
  return l;
}

// The HTTP port (webhook, /metrics, /healthz): an asynchronous server, so a
// request waiting for the broker holds no thread (webhook.h). `http` lives
// longer than the runtime, whose destructor stops it.
void ServeHttpPort(ServiceRuntime& rt, const CollectorConfig& cfg, WebhookHandler* webhook,
                   std::unique_ptr<AsyncHttpServer>* http) {
  rt.ServeHttpWith(
      [&rt, &cfg, webhook, http]() -> absl::StatusOr<int> {
        auto s = AsyncHttpServer::Start(
            WebhookServerOptions(cfg.webhook, cfg.common.http_listen, cfg.common.http_tls_cert_file,
                                 cfg.common.http_tls_key_file),
            CollectorRoutes(webhook, [&rt] { return rt.metrics().Render(); }, [&rt] { return rt.Healthz(); }));
        if (!s.ok()) {
          return s.status();
        }
        *http = std::move(*s);
        return (*http)->port();
      },
      [http] {
        if (*http) {
          (*http)->Stop();
        }
      });
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
  if (std::string why = OpenDedup(cfg, clock, &dedup); !why.empty()) {
    return Fail(why, 2);
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
  if (std::string why = OpenKube(cfg, &kube); !why.empty()) {
    return Fail("kubernetes: " + why, 2);
  }

  ProducerIdentity who = rt.identity();
  ClusterFacts facts(clock);
  Loops loops = BuildLoops(cfg, kube.get(), &publisher, &facts, who, clock);

  WebhookHandler handler(&publisher, cfg.webhook, std::move(*auth), who, clock);
  ServeHttpPort(rt, cfg, cfg.webhook.enabled ? &handler : nullptr, &http);
  rt.SetStatusHook([&](v1::GetStatusResponse* r) {
    auto& d = *r->mutable_details();
    for (const auto& [k, v] : publisher.Details()) {
      d[k] = v;
    }
    loops.Details(&d);
  });
  if (auto st = rt.Start(); !st.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
    return 1;
  }
  loops.Start();
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
  loops.Stop();
  (void)(*producer)->Flush(std::chrono::seconds(5));
  return 0;
}
