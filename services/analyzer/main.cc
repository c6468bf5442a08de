// kubemend-analyzer: signals in, remediation proposals out. Wiring only: the
// decisions live in analyzer_core (src/).
#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "kubemend/common/log.h"
#include "kubemend/common/stage.h"
#include "src/admin_service.h"
#include "src/adviser.h"
#include "src/engine.h"
#include "src/evaluator.h"
#include "src/policy_kube.h"
#include "src/policy_source.h"
#include "src/replay.h"

using namespace kubemend;
using namespace kubemend::analyzer;

namespace {

struct AnalyzerConfig {
  std::vector<std::string> policy_paths{"policies"};
  Millis policy_poll{2000};
  Millis cooldown{5 * 60 * 1000};
  int64_t max_actions_per_hour = 10;
  int64_t loop_max_attempts = 3;
  Millis loop_window{3600 * 1000};
  std::string escalation_channel = "default";
  Millis incident_ttl{6LL * 3600 * 1000};
  Millis event_quiet{10LL * 60 * 1000};
  Millis inflight_timeout{30LL * 60 * 1000};
  Millis state_horizon{24LL * 3600 * 1000};
  int64_t max_open_incidents = 5000;
  int64_t max_proposals = 20000;
  int64_t max_attempt_keys = 20000;
  int64_t max_cooldowns = 20000;
  Millis tick{5000};
  bool replay = true;
  Millis replay_timeout{60000};
  std::string prometheus_url;
  Millis evaluate_interval{30000};
  Millis evaluate_repeat{5 * 60 * 1000};
  Millis prometheus_timeout{10000};
  bool adviser_enabled = false;
  std::string adviser_api = "ollama";
  std::string adviser_endpoint = "http://127.0.0.1:11434";
  std::string adviser_model = "llama3.1:8b";
  std::string adviser_api_key_env = "KUBEMEND_ADVISER_API_KEY";
  Millis adviser_timeout{20000};
  int64_t adviser_max_tokens = 512;
  int64_t adviser_calls_per_hour = 60;
  int64_t adviser_tokens_per_hour = 200000;
  std::vector<std::string> protected_namespaces{"kube-system", "kube-public", "kube-node-lease"};
  std::string kube_policies = "auto";
  std::string kubeconfig;
  std::vector<std::string> cluster_policy_namespaces{"kubemend"};
  Millis status_interval{5000};
  Millis crd_recheck{600000};
};

void AddAnalyzerKeys(ConfigSchema& s, AnalyzerConfig* c) {
  s.Add("analyzer.policy_paths", &c->policy_paths,
        "policy files and folders (*.yaml, *.yml, *.json), read in order; reloaded on change");
  s.Add("analyzer.policy_poll_interval", &c->policy_poll, "how often policy files are checked");
  s.Add("analyzer.defaults.cooldown", &c->cooldown, "cooldown of policies that set none");
  s.Add("analyzer.defaults.max_actions_per_hour", &c->max_actions_per_hour,
        "maxActionsPerHour of policies that set none", 1, 1000000);
  s.Add("analyzer.defaults.loop_max_attempts", &c->loop_max_attempts,
        "attempts of one remediation on one target before moving on / escalating", 1, 100);
  s.Add("analyzer.defaults.loop_window", &c->loop_window, "window the attempts are counted in");
  s.Add("analyzer.defaults.escalation_channel", &c->escalation_channel,
        "Notify channel for escalations");
  s.Add("analyzer.incident_ttl", &c->incident_ttl, "close an incident after this long without news");
  s.Add("analyzer.event_quiet", &c->event_quiet,
        "close an incident held open only by Kubernetes Warning events (they never resolve) after this long without news");
  s.Add("analyzer.inflight_timeout", &c->inflight_timeout,
        "forget an in-flight proposal that got no outcome after this long");
  s.Add("analyzer.state_horizon", &c->state_horizon,
        "how far back the log is replayed at start and counters are kept");
  s.Add("analyzer.max_open_incidents", &c->max_open_incidents,
        "open incidents kept at most; one more closes the least recently active", 1, 10000000);
  s.Add("analyzer.max_proposals", &c->max_proposals,
        "proposals remembered for their outcomes at most (the oldest are forgotten)", 1, 10000000);
  s.Add("analyzer.max_attempt_keys", &c->max_attempt_keys,
        "subject|action attempt counters (the loop breaker) kept at most; only ended ones are "
        "forgotten, and while all still count a proposal needing one more is refused (at_capacity)",
        1, 10000000);
  s.Add("analyzer.max_cooldowns", &c->max_cooldowns,
        "policy|subject cooldowns kept at most; only ended ones are forgotten, and while all still "
        "run a proposal needing one more is refused (at_capacity)",
        1, 10000000);
  s.Add("analyzer.tick", &c->tick,
        "how often time is advanced without new events: incident TTLs, in-flight timeouts, "
        "cooldowns that ended, trigger `for` durations");
  s.Add("analyzer.replay", &c->replay, "rebuild state from the event log at start");
  s.Add("analyzer.replay_timeout", &c->replay_timeout, "give up start-up if replay takes longer");
  s.Add("analyzer.prometheus.url", &c->prometheus_url,
        "Prometheus base URL for SLO, forecast and metric-query triggers; empty: off");
  s.Add("analyzer.prometheus.interval", &c->evaluate_interval, "evaluation interval");
  s.Add("analyzer.prometheus.repeat", &c->evaluate_repeat,
        "re-send a still-firing evaluated signal this often");
  s.Add("analyzer.prometheus.timeout", &c->prometheus_timeout, "per query");
  s.Add("analyzer.adviser.enabled", &c->adviser_enabled,
        "ask an LLM for a diagnosis on policies with advice.enabled");
  s.AddEnum("analyzer.adviser.api", &c->adviser_api, {"ollama", "openai"},
            "ollama (/api/chat) or openai (/v1/chat/completions)");
  s.Add("analyzer.adviser.endpoint", &c->adviser_endpoint, "base URL of the LLM server");
  s.Add("analyzer.adviser.model", &c->adviser_model, "model name");
  s.Add("analyzer.adviser.api_key_env", &c->adviser_api_key_env,
        "environment variable holding the API key (openai); never put the key in the file");
  s.Add("analyzer.adviser.timeout", &c->adviser_timeout, "per call; on timeout the policy decides");
  s.Add("analyzer.adviser.max_tokens", &c->adviser_max_tokens, "reply token cap per call", 16, 32768);
  s.Add("analyzer.adviser.max_calls_per_hour", &c->adviser_calls_per_hour, "call budget", 0, 100000);
  s.Add("analyzer.adviser.max_tokens_per_hour", &c->adviser_tokens_per_hour, "token budget", 0,
        100000000);
  s.Add("analyzer.adviser.protected_namespaces", &c->protected_namespaces,
        "namespaces the adviser's choices are refused in");
  s.AddEnum("analyzer.kubernetes.policies", &c->kube_policies, {"auto", "true", "false"},
            "watch HealingPolicy and the seed kinds as custom resources (docs/kubernetes.md); "
            "auto: when a kubeconfig or the in-cluster ServiceAccount is there");
  s.Add("analyzer.kubernetes.kubeconfig", &c->kubeconfig, "kubeconfig path (default: in-cluster, $KUBECONFIG)");
  s.Add("analyzer.kubernetes.cluster_policy_namespaces", &c->cluster_policy_namespaces,
        "custom-resource policies in these namespaces may act in every namespace; elsewhere a "
        "policy only acts in its own namespace");
  s.Add("analyzer.kubernetes.status_interval", &c->status_interval,
        "status writes to the policy objects are coalesced: at most one per object per interval");
  s.Add("analyzer.kubernetes.crd_recheck", &c->crd_recheck,
        "a policy kind whose CRD is not installed is said once at info, then looked for again this often");
}

// The custom-resource policies: a client, the watches and the status book,
// when analyzer.kubernetes.policies asks for them (auto: a kubeconfig or the
// in-cluster ServiceAccount is there). Fails on a configuration that was
// asked for and does not work.
struct KubePolicies {
  MapPolicySource source{"kubernetes: kubemend.io/v1alpha1 HealingPolicy and seed kinds"};
  PolicyStatusBook book;
  std::unique_ptr<kube::KubeClient> client;
  std::unique_ptr<KubePolicySync> sync;
};

absl::Status SetUpKubePolicies(const AnalyzerConfig& ac, const Env& env, KubePolicies* kp,
                               std::shared_ptr<spdlog::logger> log) {
  bool have_config = !ac.kubeconfig.empty() || env.count("KUBECONFIG") != 0 ||
                     env.count("KUBERNETES_SERVICE_HOST") != 0;
  if (ac.kube_policies == "false" || (ac.kube_policies == "auto" && !have_config)) {
    return absl::OkStatus();
  }
  kube::KubeconfigOptions ko;
  ko.path = ac.kubeconfig;
  auto kc = ac.kubeconfig.empty() ? kube::LoadDefaultConfig() : kube::LoadKubeconfig(ko);
  if (!kc.ok()) {
    return absl::InvalidArgumentError("analyzer.kubernetes: " + kc.error().ToString());
  }
  auto client = kube::NewClient(*kc);
  if (!client.ok()) {
    return absl::InvalidArgumentError("analyzer.kubernetes: " + client.error().ToString());
  }
  kp->client = std::move(client.value());
  KubePolicyOptions o;
  o.cluster_namespaces = {ac.cluster_policy_namespaces.begin(), ac.cluster_policy_namespaces.end()};
  o.on_error = [log](const std::string& e) { log->warn("msg=\"policy watch failed\" error={}", Q(e)); };
  o.on_info = [log](const std::string& m) { log->info("msg=\"policy kind\" detail={}", Q(m)); };
  o.absent_recheck = ac.crd_recheck;
  kp->sync = std::make_unique<KubePolicySync>(kp->client.get(), &kp->source, &kp->book, std::move(o));
  return absl::OkStatus();
}

PolicyDefaults DefaultsFrom(const AnalyzerConfig& ac) {
  PolicyDefaults d;
  d.cooldown = ac.cooldown;
  d.max_actions_per_hour = static_cast<uint32_t>(ac.max_actions_per_hour);
  d.loop_max_attempts = static_cast<uint32_t>(ac.loop_max_attempts);
  d.loop_window = ac.loop_window;
  d.escalation_channel = ac.escalation_channel;
  return d;
}

EngineConfig EngineConfigFrom(const AnalyzerConfig& ac) {
  EngineConfig ec;
  ec.incident_ttl = ac.incident_ttl;
  ec.event_quiet = ac.event_quiet;
  ec.inflight_timeout = ac.inflight_timeout;
  ec.state_horizon = ac.state_horizon;
  ec.max_open_incidents = static_cast<size_t>(ac.max_open_incidents);
  ec.max_proposals = static_cast<size_t>(ac.max_proposals);
  ec.max_attempt_keys = static_cast<size_t>(ac.max_attempt_keys);
  ec.max_cooldowns = static_cast<size_t>(ac.max_cooldowns);
  return ec;
}

// Relative policy paths are relative to the config file, not to the cwd.
void ResolvePolicyPaths(const std::string& config_path, AnalyzerConfig* ac) {
  if (config_path.empty()) {
    return;
  }
  std::filesystem::path base = std::filesystem::path(config_path).parent_path();
  for (auto& p : ac->policy_paths) {
    if (!p.empty() && p[0] != '/') {
      p = (base / p).lexically_normal().string();
    }
  }
}

std::unique_ptr<LlmAdviser> MakeAdviser(const AnalyzerConfig& ac, const Clock& clock) {
  if (!ac.adviser_enabled) {
    return nullptr;
  }
  LlmConfig lc;
  lc.api = ac.adviser_api;
  lc.endpoint = ac.adviser_endpoint;
  lc.model = ac.adviser_model;
  if (const char* k = std::getenv(ac.adviser_api_key_env.c_str())) {
    lc.api_key = k;
  }
  lc.timeout = ac.adviser_timeout;
  lc.max_tokens = ac.adviser_max_tokens;
  lc.max_calls_per_hour = ac.adviser_calls_per_hour;
  lc.max_tokens_per_hour = ac.adviser_tokens_per_hour;
  AdviserRules rules;
  rules.protected_namespaces = ac.protected_namespaces;
  return std::make_unique<LlmAdviser>(lc, rules, clock);
}

// Background loops that run a function every interval until StopAll().
class Periodic {
 public:
  ~Periodic() { StopAll(); }
  void Every(Millis interval, std::function<void()> fn) {
    threads_.emplace_back([this, interval, fn = std::move(fn)] {
      std::unique_lock<std::mutex> l(mu_);
      while (!cv_.wait_for(l, interval, [&] { return stop_; })) {
        l.unlock();
        fn();
        l.lock();
      }
    });
  }
  void StopAll() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) {
        t.join();
      }
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// One evaluation round: the policies' Prometheus queries as signals.
void PublishEvaluated(Evaluator& evaluator, const PolicySet& policies, Stage& stage, spdlog::logger& log) {
  std::vector<std::string> errors;
  auto signals = evaluator.Evaluate(policies, &errors);
  for (const auto& e : errors) {
    log.warn("msg=\"evaluation failed\" error={}", Q(e));
  }
  std::vector<Emit> out;
  for (auto& s : signals) {
    log.info("msg=\"evaluated signal\" event_id={} incident_id={} name={} status={} summary={}", s.event_id(),
             s.incident_id(), Q(s.signal().name()),
             s.signal().status() == v1::SIGNAL_STATUS_FIRING ? "firing" : "resolved", Q(s.signal().summary()));
    out.push_back({Topic::kSignals, std::move(s)});
  }
  if (!out.empty()) {
    if (auto st = stage.Publish(out); !st.ok()) {
      log.error("msg=\"cannot publish evaluated signals\" error={}", Q(std::string(st.message())));
    }
  }
}

v1::Event PolicyChangeEvent(const PolicyChangeRecord& c, const ProducerIdentity& who,
                            const Clock& clock) {
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_CONTROL, who, clock);
  e.mutable_target()->set_kind("HealingPolicy");
  e.mutable_target()->set_name(c.ref.name());
  v1::Control* ctl = e.mutable_control();
  ctl->set_issued_by(who.service);
  ctl->set_reason("policy " + c.change + ": " + c.ref.name());
  auto* pc = ctl->mutable_policy_change();
  *pc->mutable_policy() = c.ref;
  pc->set_change(c.change);
  pc->set_detail(c.detail);
  return e;
}

}  // namespace

// Proposals to the proposals topic, controls (IncidentClosed, NoAction) to
// the control topic, each logged with its ids; each proposal is counted on its
// policy object (when it came from one).
class Router {
 public:
  Router(ServiceRuntime& rt, PolicyStatusBook* book, std::shared_ptr<spdlog::logger> log)
      : proposals_(rt.metrics().GetCounter("kubemend_analyzer_proposals_total",
                                           "Proposals emitted (escalations included)")),
        no_proposal_(rt.metrics().GetCounter("kubemend_analyzer_no_proposal_total",
                                             "Signals and outcomes that led to no proposal")),
        clock_(rt.clock()),
        book_(book),
        log_(std::move(log)) {}

  std::vector<Emit> operator()(Decision& d, const std::string& cause_id) {
    std::vector<Emit> out;
    for (auto& e : d.out) {
      if (e.type() == v1::EVENT_TYPE_PROPOSAL) {
        proposals_.Inc();
        log_->info("msg=\"proposal\" event_id={} incident_id={} cause={} action={} target={} escalation={} reason={}",
                   e.event_id(), e.incident_id(), cause_id, ActionTypeName(e.proposal().action().type()),
                   Q(TargetString(e.target())), e.proposal().escalation(), Q(e.proposal().reason()));
        book_->OnProposal(e, clock_.Now());
        out.push_back({Topic::kProposals, std::move(e)});
      } else if (e.control().has_no_action()) {
        no_proposal_.Inc();
        log_->info("msg=\"no proposal\" event_id={} incident_id={} signal_id={} category={} reason={}",
                   e.event_id(), e.incident_id(), e.control().no_action().signal_id(),
                   e.control().no_action().category(), Q(e.control().no_action().reason()));
        out.push_back({Topic::kControl, std::move(e)});
      } else {
        log_->info("msg=\"incident closed\" event_id={} incident_id={} classification={}", e.event_id(),
                   e.incident_id(), e.control().incident_closed().classification());
        out.push_back({Topic::kControl, std::move(e)});
      }
    }
    return out;
  }

 private:
  Counter& proposals_;
  Counter& no_proposal_;
  const Clock& clock_;
  PolicyStatusBook* book_;
  std::shared_ptr<spdlog::logger> log_;
};

// One policy reload (the poll loop and ReloadPolicies both call it; one at a
// time): the sources polled, the engine given the new set, the verdicts
// handed to the status book, every change logged and published as a Control
// PolicyChange event.
class PolicyLoad {
 public:
  PolicyLoad(PolicyReloader* reloader, Engine* engine, PolicyStatusBook* book, Stage* stage, ServiceRuntime& rt,
             std::shared_ptr<spdlog::logger> log)
      : reloader_(reloader),
        engine_(engine),
        book_(book),
        stage_(stage),
        rt_(rt),
        log_(std::move(log)),
        policies_(rt.metrics().GetGauge("kubemend_analyzer_policies", "Policies loaded")),
        rejected_(rt.metrics().GetCounter("kubemend_analyzer_policy_rejections_total",
                                          "Policy files rejected by validation")) {}

  // The versions a previous run announced (from the log), for the first load.
  void SetKnownVersions(std::map<std::string, std::string> known) { known_versions_ = std::move(known); }
  std::vector<std::string> Errors() {
    std::lock_guard<std::mutex> l(err_mu_);
    return policy_errors_;
  }

  ReloadResult Reload() {
    std::lock_guard<std::mutex> reload_lock(reload_mu_);
    std::vector<std::string> errors;
    auto changes = reloader_->Poll(&errors);
    book_->OnVerdicts(reloader_->Verdicts(), rt_.clock().Now());
    if (first_load_) {
      first_load_ = false;
      changes = AgainstKnown(changes, *reloader_->Current(), known_versions_);
      SetPolicies();
    }
    if (changes.empty() && errors.empty()) {
      return {};
    }
    SetPolicies();
    Announce(changes, errors);
    return {changes, errors};
  }

 private:
  void SetPolicies() {
    engine_->SetPolicies(reloader_->Current());
    policies_.Set(static_cast<double>(reloader_->Current()->policies.size()));
  }

  void Announce(const std::vector<PolicyChangeRecord>& changes, const std::vector<std::string>& errors) {
    std::vector<Emit> events;
    std::vector<std::string> rejected;
    for (const auto& c : changes) {
      if (c.change == "rejected") {
        rejected_.Inc();
        rejected.push_back(c.detail);
        log_->error("msg=\"policy rejected\" source={} detail={}", Q(c.ref.source()), Q(c.detail));
      } else {
        log_->info("msg=\"policy {}\" policy={} version={} source={}", c.change, Q(c.ref.name()), c.ref.version(),
                   Q(c.ref.source()));
      }
      events.push_back({Topic::kControl, PolicyChangeEvent(c, rt_.identity(), rt_.clock())});
    }
    for (const auto& e : errors) {
      log_->error("msg=\"policy source unreadable\" error={}", Q(e));
    }
    {
      std::lock_guard<std::mutex> l(err_mu_);
      if (!rejected.empty() || !errors.empty()) {
        policy_errors_ = rejected;
        policy_errors_.insert(policy_errors_.end(), errors.begin(), errors.end());
      } else if (!changes.empty()) {
        policy_errors_.clear();
      }
    }
    if (!events.empty()) {
      if (auto st = stage_->Publish(events); !st.ok()) {
        log_->error("msg=\"cannot publish policy changes\" error={}", Q(std::string(st.message())));
      }
    }
  }

  PolicyReloader* reloader_;
  Engine* engine_;
  PolicyStatusBook* book_;
  Stage* stage_;
  ServiceRuntime& rt_;
  std::shared_ptr<spdlog::logger> log_;
  Gauge& policies_;
  Counter& rejected_;
  std::mutex reload_mu_;
  std::mutex err_mu_;
  std::vector<std::string> policy_errors_;
  std::map<std::string, std::string> known_versions_;
  bool first_load_ = true;
};

// The event log over analyzer.state_horizon, replayed into the engine; the
// policy versions the previous run announced go to the first load.
absl::Status ReplayLog(const CommonConfig& common, const AnalyzerConfig& ac, ServiceRuntime& rt, Engine* engine,
                       PolicyLoad* load, uint64_t* replayed, spdlog::logger& log) {
  ReplayStats rs;
  int64_t since = ToUnixMillis(rt.clock().Now() - ac.state_horizon);
  auto events = ReadLog(common.kafka,
                        {Topic::kSignals, Topic::kProposals, Topic::kDecisions, Topic::kOutcomes, Topic::kControl},
                        since, ac.replay_timeout, &rs);
  if (!events.ok()) {
    return events.status();
  }
  for (const auto& e : *events) {
    engine->Replay(e);
  }
  load->SetKnownVersions(KnownPolicyVersions(*events, rt.identity().service));
  *replayed = events->size();
  auto s = engine->Stats();
  log.info("msg=\"state replayed\" events={} skipped={} open_incidents={} cooldowns={}", rs.read, rs.skipped,
           s.open_incidents, s.cooldowns);
  return absl::OkStatus();
}

int main(int argc, char** argv) {
  CommonConfig common;
  AnalyzerConfig ac;
  ConfigSchema schema;
  AddCommonKeys(schema, &common, "analyzer");
  AddAnalyzerKeys(schema, &ac);
  std::string path;
  int code = 0;
  if (!ParseArgs(argc, argv, "analyzer", schema, &path, &code)) {
    return code;
  }
  if (auto st = schema.Load(path, EnvFromProcess()); !st.ok()) {
    fprintf(stderr, "kubemend-analyzer: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  ServiceRuntime rt("analyzer", common);
  auto log = Logger("analyzer");
  ResolvePolicyPaths(path, &ac);
  const PolicyDefaults defaults = DefaultsFrom(ac);
  FilePolicySource files(ac.policy_paths);
  KubePolicies kube_policies;
  if (auto st = SetUpKubePolicies(ac, EnvFromProcess(), &kube_policies, log); !st.ok()) {
    fprintf(stderr, "kubemend-analyzer: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  std::vector<PolicySource*> sources{&files};
  std::string sources_text = files.Describe();
  if (kube_policies.sync) {
    sources.push_back(&kube_policies.source);
    sources_text += "; " + kube_policies.source.Describe();
  }
  PolicyReloader reloader(sources, defaults);

  std::unique_ptr<LlmAdviser> adviser = MakeAdviser(ac, rt.clock());
  Engine engine(EngineConfigFrom(ac), rt.identity(), rt.clock(), adviser.get());

  Router route(rt, &kube_policies.book, log);
  Stage stage(&rt, {Topic::kSignals, Topic::kDecisions, Topic::kOutcomes},
              [&](const v1::Event& in, const InMessage&) -> absl::StatusOr<std::vector<Emit>> {
                Decision d;
                switch (in.payload_case()) {
                  case v1::Event::kSignal:
                    d = engine.OnSignal(in);
                    break;
                  case v1::Event::kOutcome:
                    d = engine.OnOutcome(in);
                    kube_policies.book.OnOutcome(in);
                    break;
                  case v1::Event::kDecision:
                    d = engine.OnDecision(in);
                    kube_policies.book.OnDecision(in);
                    break;
                  default:
                    return std::vector<Emit>{};
                }
                return route(d, in.event_id());
              });
  if (auto st = stage.Init(); !st.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
    return 1;
  }

  PolicyLoad load(&reloader, &engine, &kube_policies.book, &stage, rt, log);
  uint64_t replayed = 0;
  if (ac.replay) {
    if (auto st = ReplayLog(common, ac, rt, &engine, &load, &replayed, *log); !st.ok()) {
      log->error("msg=\"cannot replay the event log\" error={}", Q(std::string(st.message())));
      return 1;
    }
  }

  if (kube_policies.sync) {
    kube_policies.sync->Start();
    if (!kube_policies.sync->WaitForFirstList(std::chrono::seconds(30))) {
      log->warn("msg=\"policy custom resources not listed within 30s; loading without them for now\"");
    }
  }
  load.Reload();
  log->info("msg=\"policies loaded\" count={} sources={}", reloader.Current()->policies.size(),
            Q(sources_text));

  AdminHooks hooks;
  hooks.policies = [&] { return reloader.Current(); };
  hooks.policy_errors = [&] { return load.Errors(); };
  hooks.reload = [&] { return load.Reload(); };
  hooks.sources = sources_text;
  hooks.defaults = defaults;
  hooks.replayed = &replayed;
  AdminService admin(&engine, std::move(hooks));
  rt.AddGrpcService(&admin);
  rt.AddPeriodic([&, counted = EngineStats{}]() mutable {
    auto st = engine.Stats();
    for (const auto& [map, n] : {std::pair<const char*, size_t>{"open_incidents", st.open_incidents},
                                 {"cooldowns", st.cooldowns},
                                 {"attempt_keys", st.attempt_keys},
                                 {"proposals", st.remembered_proposals},
                                 {"incident_signal_ids", st.incident_signal_ids},
                                 {"incident_signals", st.incident_signals}}) {
      rt.metrics()
          .GetGauge("kubemend_analyzer_state_entries",
                    "Entries of each of the analyzer's state maps (bounds: analyzer.max_*, state_horizon)",
                    {{"map", map}})
          .Set(static_cast<double>(n));
    }
    // The engine keeps totals; the counters get what was added since.
    auto add = [&](const char* name, const char* help, const char* map, uint64_t now, uint64_t before) {
      rt.metrics().GetCounter(name, help, {{"map", map}}).Inc(now - before);
    };
    const char* forgotten = "Ended entries forgotten to make room under a cap (analyzer.max_*)";
    const char* full = "Proposals refused because a capped map was full of entries that still count (at_capacity)";
    add("kubemend_analyzer_state_forgotten_total", forgotten, "attempt_keys", st.attempt_keys_forgotten,
        counted.attempt_keys_forgotten);
    add("kubemend_analyzer_state_forgotten_total", forgotten, "cooldowns", st.cooldowns_forgotten,
        counted.cooldowns_forgotten);
    add("kubemend_analyzer_state_full_total", full, "attempt_keys", st.attempt_keys_full, counted.attempt_keys_full);
    add("kubemend_analyzer_state_full_total", full, "cooldowns", st.cooldowns_full, counted.cooldowns_full);
    counted = st;
  });
  rt.SetStatusHook([&](v1::GetStatusResponse* s) {
    auto st = engine.Stats();
    (*s->mutable_details())["policies"] = std::to_string(reloader.Current()->policies.size());
    (*s->mutable_details())["open_incidents"] = std::to_string(st.open_incidents);
    (*s->mutable_details())["proposals"] = std::to_string(st.proposals);
    (*s->mutable_details())["escalations"] = std::to_string(st.escalations);
    (*s->mutable_details())["incidents_closed"] = std::to_string(st.closed);
    if (adviser) {
      (*s->mutable_details())["adviser_calls"] = std::to_string(adviser->calls());
    }
    if (kube_policies.sync) {
      (*s->mutable_details())["policy_objects"] = std::to_string(kube_policies.book.size());
      (*s->mutable_details())["policy_watch_errors"] = std::to_string(kube_policies.sync->watch_errors());
      std::string absent;
      for (const auto& k : kube_policies.sync->AbsentKinds()) {
        absent += (absent.empty() ? "" : ",") + k;
      }
      (*s->mutable_details())["policy_kinds_without_crd"] = absent;
    }
  });
  if (auto st = rt.Start(); !st.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
    return 1;
  }

  std::thread consumer([&] { stage.Run(); });
  Periodic loops;
  loops.Every(ac.policy_poll, [&] { load.Reload(); });
  // Time moves on without new events: TTLs, in-flight timeouts, cooldowns.
  loops.Every(ac.tick, [&] {
    Decision d = engine.Tick();
    auto out = route(d, "tick");
    if (!out.empty()) {
      if (auto st = stage.Publish(out); !st.ok()) {
        log->error("msg=\"cannot publish timer decisions\" error={}", Q(std::string(st.message())));
      }
    }
  });
  // The policy objects' status: coalesced, one PATCH per changed object per interval.
  auto flush_status = [&] {
    std::vector<std::string> errors;
    kube_policies.sync->FlushStatus(&errors);
    for (const auto& e : errors) {
      log->warn("msg=\"policy status not written\" error={}", Q(e));
    }
  };
  if (kube_policies.sync) {
    loops.Every(ac.status_interval, flush_status);
    // A kind without its CRD: looked for again rarely (said once, at info).
    loops.Every(std::min(ac.crd_recheck, Millis(60000)), [&] { kube_policies.sync->RecheckAbsent(); });
  }
  std::unique_ptr<PrometheusClient> prom;
  std::unique_ptr<PrometheusMetricSource> prom_source;
  std::unique_ptr<Evaluator> evaluator;
  if (!ac.prometheus_url.empty()) {
    prom = std::make_unique<PrometheusClient>(ac.prometheus_url, ac.prometheus_timeout);
    prom_source = std::make_unique<PrometheusMetricSource>(prom.get());
    evaluator = std::make_unique<Evaluator>(prom_source.get(), rt.identity(), rt.clock(), ac.evaluate_repeat);
    loops.Every(ac.evaluate_interval, [&] { PublishEvaluated(*evaluator, *reloader.Current(), stage, *log); });
  }
  rt.WaitForShutdown();
  loops.StopAll();
  if (kube_policies.sync) {
    flush_status();  // the last counts, before the watches stop
    kube_policies.sync->Stop();
  }
  stage.Stop();
  consumer.join();
  if (auto p = rt.producer(); p.ok()) {
    (void)(*p)->Flush(std::chrono::seconds(5));
  }
  log->info("msg=\"stopped\"");
  return 0;
}
