#include "service.h"

#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#include "executor.h"
#include "kube_view_writer.h"
#include "kubemend/common/auth.h"
#include "kubemend/common/log.h"
#include "kubemend/common/log_follower.h"
#include "kubemend/v1/executor_admin.grpc.pb.h"

namespace kubemend::executor {

void AddExecutorKeys(ConfigSchema& s, ExecutorConfig* c) {
  s.Add("executor.dry_run", &c->dry_run, "run every action as the API server's dry run (dryRun=All)");
  s.Add("executor.max_concurrent", &c->max_concurrent, "actions running at once (different targets)", 1, 64);
  s.Add("executor.kube.kubeconfig", &c->kubeconfig,
        "kubeconfig file; empty: $KUBECONFIG, in-cluster service account, ~/.kube/config; none = record-only");
  s.Add("executor.kube.context", &c->kube_context, "kubeconfig context (empty: current-context)");
  s.Add("executor.verify.default", &c->verify_default, "verify after acting even when the action does not ask");
  s.Add("executor.verify.timeout", &c->verify_timeout, "verification deadline when the action gives none");
  s.Add("executor.verify.poll_interval", &c->verify_poll, "how often verification looks at the target");
  s.Add("executor.verify.stable_for", &c->verify_stable, "how long a workload must stay healthy to count as fixed");
  s.Add("executor.notify.channels", &c->notify_channels, "Notify webhooks, name -> URL (env: name=url,name=url)");
  s.Add("executor.notify.timeout", &c->notify_timeout, "webhook request timeout");
  s.Add("executor.memory.percent", &c->memory_percent, "IncreaseMemory default increase", 1, 1000);
  s.Add("executor.memory.max", &c->memory_max,
        "IncreaseMemory: the highest limit ever set (quantity; a larger proposal is clamped)");
  s.Add("executor.scale.max_replicas", &c->scale_max_replicas,
        "ScaleWorkload: the most replicas ever set (a larger proposal is clamped)", 1, 100000);
  s.Add("executor.scale.min_replicas", &c->scale_min_replicas,
        "ScaleWorkload: the fewest replicas a scale-down leaves (a lower proposal is clamped)", 0, 100000);
  s.Add("executor.hpa.max_replicas_cap", &c->hpa_max_cap,
        "AdjustHPA: the highest maxReplicas ever set (a larger proposal is clamped)", 1, 100000);
  s.Add("executor.pvc.max_size", &c->pvc_max_size,
        "ExpandPVC: the largest size ever requested (quantity; a larger proposal is clamped)");
  s.Add("executor.own_namespace", &c->own_namespace, "kubemend's own namespace (always protected)");
  s.Add("protected.namespaces", &c->protected_namespaces, "namespaces the executor never writes to");
  s.Add("protected.kinds", &c->protected_kinds, "kinds the executor never writes (nor objects they own)");
  s.Add("protected.labels", &c->protected_labels,
        "label -> value (\"*\" = any) that protects an object, its dependents, or a whole namespace");
  s.Add("protected.annotations", &c->protected_annotations,
        "annotation -> value (\"*\" = any) that protects like protected.labels");
  s.Add("executor.drain.timeout", &c->drain_timeout, "DrainNode default timeout");
  s.Add("executor.drain.eviction_retry", &c->eviction_retry, "wait after a PodDisruptionBudget refusal");
  s.AddEnum("executor.gitops.mode", &c->gitops.mode, {"off", "auto", "always"},
            "GitOps mode cluster-wide: auto = pull requests for objects Argo CD or Flux manage, always, off");
  s.Add("executor.gitops.namespaces", &c->gitops.namespace_modes,
        "GitOps mode per namespace, namespace -> off|auto|always (env: ns=mode,ns=mode)");
  s.AddNode("executor.gitops.repos", &c->gitops_repos,
            "repositories holding the manifests: [{scope, url, forge_repo, base, path, overlay, values_file, "
            "values_paths}] (env KUBEMEND_EXECUTOR_GITOPS_REPOS, YAML flow style)");
  s.AddEnum("executor.gitops.forge", &c->gitops.forge, {"github"}, "the forge's pull request API");
  s.Add("executor.gitops.api_url", &c->gitops.api_url, "the forge's REST API base URL");
  s.Add("executor.gitops.token_file", &c->gitops.token_file,
        "file holding the forge token (GitHub App installation or personal token); else env KUBEMEND_GITOPS_TOKEN");
  s.Add("executor.gitops.cache_dir", &c->gitops.cache_dir, "where clones live (empty: $KUBEMEND_CACHE/gitops)");
  s.Add("executor.gitops.author_name", &c->gitops.author_name, "commit author name");
  s.Add("executor.gitops.author_email", &c->gitops.author_email, "commit author email");
  s.Add("executor.gitops.console_url", &c->gitops.console_url, "audit console base URL for incident links");
  s.Add("executor.gitops.poll_interval", &c->gitops.poll_interval, "how often open pull requests are looked at");
  s.Add("executor.gitops.apply_timeout", &c->gitops.apply_timeout,
        "merged but not live after this long: NOT_FIXED (is the GitOps controller syncing?)");
  s.Add("executor.gitops.git_timeout", &c->gitops.git_timeout, "one git command's deadline");
  s.Add("executor.catch_up_timeout", &c->catch_up_timeout,
        "at start, how long one attempt to read the outcome index and kill-switch state may take "
        "(decisions wait until it is read, however long that takes)");
  s.Add("executor.index.window", &c->index_window,
        "at start, outcomes older than this are not read back into the index: a decision "
        "redelivered later than that is fenced by the action id on the object only, and a "
        "rollback by action id needs the action to be newer (0 = the whole outcomes topic)");
  s.Add("executor.index.max_actions", &c->index_max_actions,
        "action ids the outcome index keeps (the newest)", 1, 100000000);
  s.Add("executor.kube_view.enabled", &c->kube_view,
        "write a HealingAction per decision and Events on the workloads acted on (needs the CRD and RBAC "
        "of deploy/k8s/base)");
  s.Add("executor.kube_view.retention", &c->kube_view_retention,
        "finished HealingActions are deleted this long after their last change (the trail keeps everything)");
  s.Add("executor.kube_view.gc_interval", &c->kube_view_gc_interval,
        "how often finished HealingActions past their retention are looked for");
}

ExecutorConfig::ExecutorConfig() {
  ProtectionRules shipped = DefaultProtectionRules();
  protected_namespaces.assign(shipped.namespaces.begin(), shipped.namespaces.end());
  protected_kinds.assign(shipped.kinds.begin(), shipped.kinds.end());
  protected_labels = shipped.labels;
  protected_annotations = shipped.annotations;
}

ProtectionRules ProtectionOf(const ExecutorConfig& cfg) {
  ProtectionRules r;
  r.namespaces = {cfg.protected_namespaces.begin(), cfg.protected_namespaces.end()};
  if (!cfg.own_namespace.empty()) {
    r.namespaces.insert(cfg.own_namespace);
  }
  r.kinds = {cfg.protected_kinds.begin(), cfg.protected_kinds.end()};
  r.labels = cfg.protected_labels;
  r.annotations = cfg.protected_annotations;
  return r;
}

absl::StatusOr<GitOpsConfig> GitOpsOf(const ExecutorConfig& cfg, const Env& env) {
  GitOpsConfig g = cfg.gitops;
  YAML::Node repos = cfg.gitops_repos;
  if (auto it = env.find("KUBEMEND_EXECUTOR_GITOPS_REPOS"); it != env.end() && !it->second.empty()) {
    try {
      repos = YAML::Load(it->second);
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(std::string("KUBEMEND_EXECUTOR_GITOPS_REPOS: ") + e.what());
    }
  }
  auto parsed = ParseGitOpsRepos(repos);
  if (!parsed.ok()) {
    return parsed.status();
  }
  g.repos = std::move(*parsed);
  if (auto st = ValidateGitOpsConfig(g); !st.ok()) {
    return st;
  }
  return g;
}

namespace {

// The forge token: the file's first line, else the environment. Never logged.
absl::StatusOr<std::string> GitOpsToken(const GitOpsConfig& g) {
  if (!g.token_file.empty()) {
    std::ifstream in(g.token_file);
    if (!in) {
      return absl::InvalidArgumentError("executor.gitops.token_file: cannot read " + g.token_file);
    }
    std::string t;
    std::getline(in, t);
    while (!t.empty() && (t.back() == '\r' || t.back() == ' ')) {
      t.pop_back();
    }
    return t;
  }
  const char* t = std::getenv("KUBEMEND_GITOPS_TOKEN");
  return std::string(t == nullptr ? "" : t);
}

class AdminService final : public v1::ExecutorAdmin::Service {
 public:
  AdminService(Executor* ex, std::function<absl::Status(const v1::Event&)> publish)
      : ex_(ex), publish_(std::move(publish)) {}
  grpc::Status Rollback(grpc::ServerContext* ctx, const v1::ExecutorRollbackRequest* req,
                        v1::ExecutorRollbackResponse* resp) override {
    if (req->action_id().empty()) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "action_id is required"};
    }
    // The requester recorded is the authenticated subject; requested_by is
    // only what the client says, labelled as such.
    std::string why = "gRPC ExecutorAdmin/Rollback by " + CallerSubject(ctx) +
                      (req->requested_by().empty()
                           ? std::string()
                           : " (client note, unverified: " + req->requested_by() + ")") +
                      (req->reason().empty() ? std::string() : ": " + req->reason());
    auto e = ex_->Rollback(req->action_id(), why);
    if (!e.ok()) {
      return {e.status().code() == absl::StatusCode::kNotFound ? grpc::StatusCode::NOT_FOUND
                                                               : grpc::StatusCode::FAILED_PRECONDITION,
              std::string(e.status().message())};
    }
    if (auto st = publish_(*e); !st.ok()) {
      return {grpc::StatusCode::UNAVAILABLE, "rolled back but the outcome is not published yet: " +
                                                 std::string(st.message())};
    }
    *resp->mutable_outcome() = e->outcome();
    resp->set_outcome_event_id(e->event_id());
    if (e->outcome().status() == v1::OUTCOME_STATUS_FAILED) {
      return {grpc::StatusCode::FAILED_PRECONDITION, e->outcome().error()};
    }
    return grpc::Status::OK;
  }

 private:
  Executor* ex_;
  std::function<absl::Status(const v1::Event&)> publish_;
};

// The view of what happens (HealingActions, Events), written on its own
// thread so that a failed write never holds up an action; null without a
// cluster or with executor.kube_view.enabled off.
std::unique_ptr<KubeView> StartKubeView(kube::KubeClient* client, const ExecutorConfig& cfg, ServiceRuntime& rt) {
  if (client == nullptr || !cfg.kube_view) {
    return nullptr;
  }
  KubeViewOptions vo;
  vo.own_ns = cfg.own_namespace.empty() ? "kubemend" : cfg.own_namespace;
  vo.instance = rt.config().instance;
  vo.retention = cfg.kube_view_retention;
  vo.gc_interval = cfg.kube_view_gc_interval;
  auto view = std::make_unique<KubeView>(*client, rt.clock(), vo, &rt.metrics());
  view->Start();
  return view;
}

}  // namespace

std::map<std::string, TimePoint> StateReplayWindow(const ExecutorConfig& cfg, const KafkaConfig& kafka,
                                                   TimePoint now) {
  // Control is always read whole: a pause stays in force however old.
  if (cfg.index_window.count() <= 0) {
    return {};
  }
  return {{TopicName(kafka, Topic::kOutcomes), now - cfg.index_window}};
}

int RunExecutorService(ServiceRuntime& rt, const ExecutorConfig& cfg) {
  auto log = Logger("executor");
  // Kubernetes: explicit kubeconfig, else the usual places; none = record-only.
  std::unique_ptr<kube::KubeClient> client;
  std::string kube_source;
  std::string record_only;
  {
    kube::Result<kube::ClientConfig> kc = kube::MakeError(kube::ErrorKind::kConfig, "");
    if (!cfg.kubeconfig.empty() || !cfg.kube_context.empty()) {
      kube::KubeconfigOptions ko;
      ko.path = cfg.kubeconfig;
      ko.context = cfg.kube_context;
      kc = kube::LoadKubeconfig(ko);
    } else {
      kc = kube::LoadDefaultConfig();
    }
    if (kc.ok()) {
      auto c = kube::NewClient(*kc);
      if (c.ok()) {
        client = std::move(*c);
        kube_source = kc->source;
      } else {
        record_only = c.error().ToString();
      }
    } else {
      record_only = kc.error().ToString();
    }
    if (!cfg.kubeconfig.empty() && !client) {
      // An explicit kubeconfig that does not work is bad config, not a mode.
      log->error("msg=\"cannot use executor.kube.kubeconfig\" error={}", Q(record_only));
      return 2;
    }
  }
  if (client) {
    log->info("msg=\"kubernetes connection\" source={} dry_run={}", Q(kube_source), cfg.dry_run);
  } else {
    log->warn("msg=\"no kubernetes connection: record-only dry-run mode, nothing will be changed\" reason={}",
              Q(record_only));
  }

  const Clock& clock = rt.clock();
  Sleeper sleep = [](Millis d) { std::this_thread::sleep_for(d); };
  auto notifier = NewCurlNotifier(cfg.notify_timeout);
  ActuatorOptions ao;
  ao.memory_percent = static_cast<uint32_t>(cfg.memory_percent);
  ao.memory_max = cfg.memory_max;
  ao.scale_max_replicas = static_cast<uint32_t>(cfg.scale_max_replicas);
  ao.hpa_max_cap = static_cast<uint32_t>(cfg.hpa_max_cap);
  ao.scale_min_replicas = static_cast<uint32_t>(cfg.scale_min_replicas);
  ao.pvc_max_size = cfg.pvc_max_size;
  ao.protection = ProtectionOf(cfg);
  ao.drain_timeout = cfg.drain_timeout;
  ao.eviction_retry = cfg.eviction_retry;
  ao.notify_channels = cfg.notify_channels;
  std::unique_ptr<Actuator> actuator;
  std::unique_ptr<Verifier> verifier;
  if (client) {
    actuator = std::make_unique<Actuator>(*client, notifier.get(), sleep, clock, ao);
    verifier = std::make_unique<Verifier>(*client, sleep, clock, VerifierOptions{cfg.verify_poll, cfg.verify_stable});
  }
  // GitOps mode: only with a repository bound (else every change is live).
  std::unique_ptr<GitOpsWriter> gitops;
  {
    auto g = GitOpsOf(cfg, EnvFromProcess());
    if (!g.ok()) {
      log->error("msg=\"bad GitOps configuration\" error={}", Q(std::string(g.status().message())));
      return 2;
    }
    if (!g->repos.empty() && g->mode != "off") {
      auto token = GitOpsToken(*g);
      if (!token.ok()) {
        log->error("msg=\"bad GitOps configuration\" error={}", Q(std::string(token.status().message())));
        return 2;
      }
      if (token->empty()) {
        log->warn("msg=\"GitOps: no forge token (executor.gitops.token_file, KUBEMEND_GITOPS_TOKEN); the forge "
                  "must accept anonymous calls\"");
      }
      Millis timeout = g->git_timeout;
      std::string api = g->api_url;
      gitops = std::make_unique<GitOpsWriter>(*g, NewProcessGitRunner(*token, timeout),
                                              NewGitHubForge(api, *token, Millis(30000)));
      log->info("msg=\"GitOps mode\" mode={} repos={} api_url={} token={}", g->mode, g->repos.size(), Q(api),
                token->empty() ? "none" : "set");
      if (actuator) {
        actuator->SetGitOps(gitops.get());
      }
    }
  }
  std::unique_ptr<KubeView> view = StartKubeView(client.get(), cfg, rt);
  ExecutorOptions eo;
  if (view) {
    eo.on_start = [&view](const v1::Event& d) { view->OnStart(d); };
  }
  eo.dry_run = cfg.dry_run;
  eo.max_concurrent = static_cast<int>(cfg.max_concurrent);
  eo.max_indexed = static_cast<size_t>(cfg.index_max_actions);
  eo.verify_by_default = cfg.verify_default;
  eo.verify_timeout = cfg.verify_timeout;
  eo.record_only_reason = record_only.empty() ? "" : "no Kubernetes connection (" + record_only + ")";
  Executor ex(actuator.get(), verifier.get(), clock, rt.identity(), eo);
  ex.SetGitOps(gitops.get());

  auto producer = rt.producer();
  if (!producer.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(producer.status().message())));
    return 1;
  }
  const KafkaConfig& kafka = rt.config().kafka;
  DeadLetterer dead(*producer, TopicName(kafka, Topic::kDeadLetter), rt.service(), &rt.metrics(), clock);
  auto send = [&](const v1::Event& e, const std::shared_ptr<DeliveryTracker>& t) {
    return (*producer)->Produce(TopicName(kafka, Topic::kOutcomes), TargetKey(e.target()), e.SerializeAsString(), t,
                                {{kEventTypeHeader, EventTypeName(e.type())},
                                 {"traceparent", e.trace().traceparent()}});
  };
  auto log_outcome = [&](const v1::Event& o) {
    const auto& out = o.outcome();
    log->info("msg=\"outcome\" event_id={} incident_id={} action_id={} action={} target={} status={} changes={} error={}",
              o.event_id(), o.incident_id(), out.action_id(), ActionTypeName(out.action().type()),
              Q(TargetString(o.target())), OutcomeStatusName(out.status()), out.changes_size(), Q(out.error()));
    rt.metrics()
        .GetCounter("kubemend_executor_outcomes_total", "Action outcomes",
                    {{"action", ActionTypeName(out.action().type())}, {"status", OutcomeStatusName(out.status())}})
        .Inc();
    if (view) {
      view->OnOutcome(o);
    }
  };
  auto publish_one = [&](const v1::Event& e) -> absl::Status {
    auto t = std::make_shared<DeliveryTracker>();
    if (auto st = send(e, t); !st.ok()) {
      return st;
    }
    log_outcome(e);
    return t->Wait(kafka.delivery_timeout);
  };

  // State: the redelivery index (every outcome) and the kill switch (every
  // control event), read from the whole log on every partition without a
  // consumer group (nothing is created on the broker per start). Decisions
  // wait until that log has been read to its end as of start; until then,
  // or if it cannot be read, the executor acts on nothing and stays
  // NOT_SERVING with the reason (fail closed).
  // Created by the state thread (the broker may be down at start: the
  // executor then stays up, NOT_SERVING, and keeps trying).
  std::unique_ptr<LogFollower> follower;
  std::atomic<LogFollower*> follower_ptr{nullptr};
  std::atomic<bool> state_ready{false};
  std::mutex state_mu;
  std::string state_detail = "reading the outcome index and the control state";
  rt.AddHealthCheck("state", [&]() -> std::string {
    if (state_ready) {
      return "";
    }
    std::lock_guard g(state_mu);
    return state_detail;
  });
  auto apply_control = [&](const v1::Event& e) -> absl::Status {
    auto tracker = std::make_shared<DeliveryTracker>();
    bool was = ex.Stats().paused;
    for (const auto& o : ex.HandleControl(e)) {
      if (auto st = send(o, tracker); !st.ok()) {
        return st;
      }
      log_outcome(o);
    }
    bool now = ex.Stats().paused;
    if (was != now) {
      log->warn("msg=\"{}\" event_id={} by={} reason={}", now ? "paused" : "resumed", e.event_id(),
                Q(e.control().issued_by()), Q(e.control().reason()));
    }
    return tracker->Wait(kafka.delivery_timeout);
  };
  // Replays the whole log: outcomes first (so a rollback already done is
  // known as such), then control in order.
  auto rebuild_state = [&]() -> absl::Status {
    if (!follower) {
      auto f = LogFollower::Create(
          kafka, {TopicName(kafka, Topic::kOutcomes), TopicName(kafka, Topic::kControl)},
          "kubemend-executor-state-" + rt.config().instance, std::chrono::seconds(30));
      if (!f.ok()) {
        return f.status();
      }
      follower = std::move(*f);
      follower_ptr = follower.get();
    }
    auto events = follower->Replay(StateReplayWindow(cfg, kafka, rt.clock().Now()), cfg.catch_up_timeout,
                                   [](const v1::Event& e) { return e.has_control() || Executor::Indexes(e); });
    if (!events.ok()) {
      return events.status();
    }
    for (const auto& e : *events) {
      if (e.has_outcome()) {
        ex.IndexOutcome(e);
      }
    }
    for (const auto& e : *events) {
      if (e.has_control()) {
        if (auto st = apply_control(e); !st.ok()) {
          return st;
        }
      }
    }
    log->info("msg=\"state rebuilt\" events={} indexed_actions={} paused={}", events->size(),
              ex.Stats().indexed, ex.Stats().paused);
    return absl::OkStatus();
  };

  auto decisions = BatchConsumer::Create(
      kafka, "kubemend-executor-" + rt.config().instance, {TopicName(kafka, Topic::kDecisions)},
      [&](std::span<const InMessage> batch) -> absl::Status {
        auto tracker = std::make_shared<DeliveryTracker>();
        google::protobuf::Arena arena;  // the batch's decisions, freed at once
        std::vector<const v1::Event*> in;
        for (const auto& m : batch) {
          auto* e = google::protobuf::Arena::CreateMessage<v1::Event>(&arena);
          if (auto decoded = DecodeEventInto(m.payload, Topic::kDecisions, e); !decoded.ok()) {
            rt.CountError("undecodable");
            if (auto st = dead.Send(m, std::string(decoded.message()), tracker); !st.ok()) {
              return st;
            }
            continue;
          }
          if (view) {
            view->OnDecision(*e);
          }
          in.push_back(e);
        }
        auto results = ex.RunBatch(in);
        for (const auto& outs : results) {
          for (const auto& o : outs) {
            if (auto st = send(o, tracker); !st.ok()) {
              return st;
            }
            log_outcome(o);
          }
        }
        if (auto st = tracker->Wait(kafka.delivery_timeout); !st.ok()) {
          return st;  // the batch is retried; unacknowledged outcomes are re-sent as they were
        }
        for (const auto& outs : results) {
          ex.Acknowledge(outs);
        }
        return absl::OkStatus();
      },
      &rt.metrics(), BatchConsumer::Options{static_cast<size_t>(std::max<int64_t>(256, cfg.max_concurrent * 64)),
                                            Millis(100), Millis(500)});
  if (!decisions.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(decisions.status().message())));
    return 1;
  }
  rt.AddConsumer(decisions->get());

  AdminService admin(&ex, publish_one);
  rt.AddGrpcService(&admin);
  Gauge& indexed = rt.metrics().GetGauge("kubemend_executor_index_entries",
                                         "Action ids in the outcome index (bound: executor.index.max_actions)");
  rt.AddPeriodic([&] { indexed.Set(static_cast<double>(ex.Stats().indexed)); });
  rt.SetStatusHook([&](v1::GetStatusResponse* s) {
    ExecutorStats st = ex.Stats();
    s->set_paused(st.paused);
    bool dry = cfg.dry_run || ex.record_only();
    s->set_mode(dry ? v1::MODE_DRY_RUN : v1::MODE_AUTOMATIC);
    auto& d = *s->mutable_details();
    d["kubernetes"] = ex.record_only() ? "none: record-only dry-run mode (" + record_only + ")" : kube_source;
    d["dry_run"] = dry ? "true" : "false";
    d["paused_by"] = st.paused_detail;
    d["applied"] = std::to_string(st.applied);
    d["duplicates"] = std::to_string(st.duplicates);
    d["skipped"] = std::to_string(st.skipped);
    d["failed"] = std::to_string(st.failed);
    d["not_fixed"] = std::to_string(st.not_fixed);
    d["rolled_back"] = std::to_string(st.rolled_back);
    d["refused"] = std::to_string(st.refused);
    d["indexed_actions"] = std::to_string(st.indexed);
    d["gitops"] = gitops ? cfg.gitops.mode : "off";
    d["pending_merge"] = std::to_string(st.pending_merge);
    d["open_pull_requests"] = std::to_string(st.open_pull_requests);
    d["pull_requests_closed"] = std::to_string(st.closed);
  });
  if (auto st = rt.Start(); !st.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
    return 1;
  }
  // Fail closed: no decision is consumed before the state is complete.
  std::thread t_state([&] {
    for (int attempt = 1; !rt.stopping(); ++attempt) {
      absl::Status st = rebuild_state();
      if (st.ok()) {
        state_ready = true;
        break;
      }
      {
        std::lock_guard g(state_mu);
        state_detail = "cannot read the outcome index and control state (attempt " +
                       std::to_string(attempt) + "): " + std::string(st.message()) +
                       "; no decision is executed until it is read";
      }
      log->error("msg=\"state not rebuilt; executing nothing\" attempt={} error={}", attempt,
                 Q(std::string(st.message())));
      for (int i = 0; i < 50 && !rt.stopping(); ++i) {
        std::this_thread::sleep_for(Millis(100));
      }
    }
    if (!state_ready) {
      return;
    }
    if (rt.stopping()) {
      return;
    }
    follower->Follow([&](const v1::Event& e) {
      if (e.has_outcome()) {
        ex.IndexOutcome(e);
      } else if (e.has_control()) {
        while (!rt.stopping()) {
          absl::Status st = apply_control(e);
          if (st.ok()) {
            break;
          }
          log->warn("msg=\"control outcome not published, retrying\" error={}",
                    Q(std::string(st.message())));
          std::this_thread::sleep_for(Millis(500));
        }
      }
    });
  });
  std::thread t_decisions([&] {
    while (!state_ready && !rt.stopping()) {
      std::this_thread::sleep_for(Millis(20));
    }
    if (state_ready) {
      (*decisions)->Run();
    }
  });
  // GitOps: follows open pull requests until they end (merged and live, or closed).
  std::thread t_pulls([&] {
    if (!gitops) {
      return;
    }
    while (!rt.stopping()) {
      for (Millis waited{0}; waited < gitops->config().poll_interval && !rt.stopping(); waited += Millis(100)) {
        std::this_thread::sleep_for(Millis(100));
      }
      if (state_ready && !rt.stopping()) {
        ex.PollPullRequests(publish_one);
      }
    }
  });
  rt.WaitForShutdown();
  (*decisions)->Stop();
  t_decisions.join();
  t_pulls.join();
  // The follower may appear while stopping: stop it until the thread is done.
  std::atomic<bool> state_done{false};
  std::thread stopper([&] {
    while (!state_done) {
      if (LogFollower* f = follower_ptr.load()) {
        f->Stop();
      }
      std::this_thread::sleep_for(Millis(20));
    }
  });
  t_state.join();
  state_done = true;
  stopper.join();
  if (view) {
    view->Stop();
  }
  (void)(*producer)->Flush(std::chrono::seconds(5));
  log->info("msg=\"stopped\"");
  return 0;
}

}  // namespace kubemend::executor
