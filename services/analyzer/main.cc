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
  Millis inflight_timeout{30LL * 60 * 1000};
  Millis state_horizon{24LL * 3600 * 1000};
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
  s.Add("analyzer.inflight_timeout", &c->inflight_timeout,
        "forget an in-flight proposal that got no outcome after this long");
  s.Add("analyzer.state_horizon", &c->state_horizon,
        "how far back the log is replayed at start and counters are kept");
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
  // Relative policy paths are relative to the config file, not to the cwd.
  if (!path.empty()) {
    std::filesystem::path base = std::filesystem::path(path).parent_path();
    for (auto& p : ac.policy_paths) {
      if (!p.empty() && p[0] != '/') {
        p = (base / p).lexically_normal().string();
      }
    }
  }

  PolicyDefaults defaults;
  defaults.cooldown = ac.cooldown;
  defaults.max_actions_per_hour = static_cast<uint32_t>(ac.max_actions_per_hour);
  defaults.loop_max_attempts = static_cast<uint32_t>(ac.loop_max_attempts);
  defaults.loop_window = ac.loop_window;
  defaults.escalation_channel = ac.escalation_channel;
  FilePolicySource files(ac.policy_paths);
  PolicyReloader reloader({&files}, defaults);

  std::unique_ptr<LlmAdviser> adviser;
  if (ac.adviser_enabled) {
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
    adviser = std::make_unique<LlmAdviser>(lc, rules, rt.clock());
  }
  EngineConfig ec;
  ec.incident_ttl = ac.incident_ttl;
  ec.inflight_timeout = ac.inflight_timeout;
  ec.state_horizon = ac.state_horizon;
  Engine engine(ec, rt.identity(), rt.clock(), adviser.get());

  auto& proposals_metric = rt.metrics().GetCounter("kubemend_analyzer_proposals_total",
                                                   "Proposals emitted (escalations included)");
  auto& no_proposal_metric = rt.metrics().GetCounter(
      "kubemend_analyzer_no_proposal_total", "Signals and outcomes that led to no proposal");
  auto& policies_gauge = rt.metrics().GetGauge("kubemend_analyzer_policies", "Policies loaded");
  auto& rejected_metric = rt.metrics().GetCounter("kubemend_analyzer_policy_rejections_total",
                                                  "Policy files rejected by validation");

  // Proposals to the proposals topic, controls (IncidentClosed, NoAction) to
  // the control topic, each logged with its ids.
  auto route = [&](Decision& d, const std::string& cause_id) {
    std::vector<Emit> out;
    for (auto& e : d.out) {
      if (e.type() == v1::EVENT_TYPE_PROPOSAL) {
        proposals_metric.Inc();
        log->info("msg=\"proposal\" event_id={} incident_id={} cause={} action={} target={} escalation={} reason={}",
                  e.event_id(), e.incident_id(), cause_id, ActionTypeName(e.proposal().action().type()),
                  Q(TargetString(e.target())), e.proposal().escalation(), Q(e.proposal().reason()));
        out.push_back({Topic::kProposals, std::move(e)});
      } else if (e.control().has_no_action()) {
        no_proposal_metric.Inc();
        log->info("msg=\"no proposal\" event_id={} incident_id={} signal_id={} category={} reason={}",
                  e.event_id(), e.incident_id(), e.control().no_action().signal_id(),
                  e.control().no_action().category(), Q(e.control().no_action().reason()));
        out.push_back({Topic::kControl, std::move(e)});
      } else {
        log->info("msg=\"incident closed\" event_id={} incident_id={} classification={}",
                  e.event_id(), e.incident_id(), e.control().incident_closed().classification());
        out.push_back({Topic::kControl, std::move(e)});
      }
    }
    return out;
  };
  Stage stage(&rt, {Topic::kSignals, Topic::kDecisions, Topic::kOutcomes},
              [&](const v1::Event& in, const InMessage&) -> absl::StatusOr<std::vector<Emit>> {
                Decision d;
                switch (in.payload_case()) {
                  case v1::Event::kSignal:
                    d = engine.OnSignal(in);
                    break;
                  case v1::Event::kOutcome:
                    d = engine.OnOutcome(in);
                    break;
                  case v1::Event::kDecision:
                    d = engine.OnDecision(in);
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

  std::mutex err_mu;
  std::vector<std::string> policy_errors;
  std::map<std::string, std::string> known_versions;  // from the log, for the first load
  bool first_load = true;
  // The poll thread and ReloadPolicies both reload; one at a time.
  std::mutex reload_mu;
  auto reload = [&]() -> ReloadResult {
    std::lock_guard<std::mutex> reload_lock(reload_mu);
    std::vector<std::string> errors;
    auto changes = reloader.Poll(&errors);
    if (first_load) {
      first_load = false;
      changes = AgainstKnown(changes, *reloader.Current(), known_versions);
      engine.SetPolicies(reloader.Current());
      policies_gauge.Set(static_cast<double>(reloader.Current()->policies.size()));
    }
    if (changes.empty() && errors.empty()) {
      return {};
    }
    engine.SetPolicies(reloader.Current());
    policies_gauge.Set(static_cast<double>(reloader.Current()->policies.size()));
    std::vector<Emit> events;
    std::vector<std::string> rejected;
    for (const auto& c : changes) {
      if (c.change == "rejected") {
        rejected_metric.Inc();
        rejected.push_back(c.detail);
        log->error("msg=\"policy rejected\" source={} detail={}", Q(c.ref.source()), Q(c.detail));
      } else {
        log->info("msg=\"policy {}\" policy={} version={} source={}", c.change, Q(c.ref.name()),
                  c.ref.version(), Q(c.ref.source()));
      }
      events.push_back({Topic::kControl, PolicyChangeEvent(c, rt.identity(), rt.clock())});
    }
    for (const auto& e : errors) {
      log->error("msg=\"policy source unreadable\" error={}", Q(e));
    }
    {
      std::lock_guard<std::mutex> l(err_mu);
      if (!rejected.empty() || !errors.empty()) {
        policy_errors = rejected;
        policy_errors.insert(policy_errors.end(), errors.begin(), errors.end());
      } else if (!changes.empty()) {
        policy_errors.clear();
      }
    }
    if (!events.empty()) {
      if (auto st = stage.Publish(events); !st.ok()) {
        log->error("msg=\"cannot publish policy changes\" error={}", Q(std::string(st.message())));
      }
    }
    return {changes, errors};
  };
  uint64_t replayed = 0;
  if (ac.replay) {
    ReplayStats rs;
    int64_t since = ToUnixMillis(rt.clock().Now() - ac.state_horizon);
    auto events = ReadLog(common.kafka,
                          {Topic::kSignals, Topic::kProposals, Topic::kDecisions, Topic::kOutcomes,
                           Topic::kControl},
                          since, ac.replay_timeout, &rs);
    if (!events.ok()) {
      log->error("msg=\"cannot replay the event log\" error={}", Q(std::string(events.status().message())));
      return 1;
    }
    for (const auto& e : *events) {
      engine.Replay(e);
    }
    known_versions = KnownPolicyVersions(*events, rt.identity().service);
    replayed = events->size();
    auto s = engine.Stats();
    log->info("msg=\"state replayed\" events={} skipped={} open_incidents={} cooldowns={}",
              rs.read, rs.skipped, s.open_incidents, s.cooldowns);
  }

  reload();
  log->info("msg=\"policies loaded\" count={} sources={}", reloader.Current()->policies.size(),
            Q(files.Describe()));

  AdminHooks hooks;
  hooks.policies = [&] { return reloader.Current(); };
  hooks.policy_errors = [&] {
    std::lock_guard<std::mutex> l(err_mu);
    return policy_errors;
  };
  hooks.reload = reload;
  hooks.sources = files.Describe();
  hooks.defaults = defaults;
  hooks.replayed = &replayed;
  AdminService admin(&engine, std::move(hooks));
  rt.AddGrpcService(&admin);
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
  });
  if (auto st = rt.Start(); !st.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
    return 1;
  }

  std::mutex bg_mu;
  std::condition_variable bg_cv;
  bool bg_stop = false;
  std::thread consumer([&] { stage.Run(); });
  std::thread policy_thread([&] {
    std::unique_lock<std::mutex> l(bg_mu);
    while (!bg_cv.wait_for(l, ac.policy_poll, [&] { return bg_stop; })) {
      l.unlock();
      reload();
      l.lock();
    }
  });
  // Time moves on without new events: TTLs, in-flight timeouts, cooldowns.
  std::thread tick_thread([&] {
    std::unique_lock<std::mutex> l(bg_mu);
    while (!bg_cv.wait_for(l, ac.tick, [&] { return bg_stop; })) {
      l.unlock();
      Decision d = engine.Tick();
      auto out = route(d, "tick");
      if (!out.empty()) {
        if (auto st = stage.Publish(out); !st.ok()) {
          log->error("msg=\"cannot publish timer decisions\" error={}", Q(std::string(st.message())));
        }
      }
      l.lock();
    }
  });
  std::unique_ptr<PrometheusClient> prom;
  std::unique_ptr<Evaluator> evaluator;
  std::thread eval_thread;
  if (!ac.prometheus_url.empty()) {
    prom = std::make_unique<PrometheusClient>(ac.prometheus_url, ac.prometheus_timeout);
    evaluator = std::make_unique<Evaluator>(prom.get(), rt.identity(), rt.clock(), ac.evaluate_repeat);
    eval_thread = std::thread([&] {
      std::unique_lock<std::mutex> l(bg_mu);
      while (!bg_cv.wait_for(l, ac.evaluate_interval, [&] { return bg_stop; })) {
        l.unlock();
        std::vector<std::string> errors;
        auto signals = evaluator->Evaluate(*reloader.Current(), &errors);
        for (const auto& e : errors) {
          log->warn("msg=\"evaluation failed\" error={}", Q(e));
        }
        std::vector<Emit> out;
        for (auto& s : signals) {
          log->info("msg=\"evaluated signal\" event_id={} incident_id={} name={} status={} summary={}",
                    s.event_id(), s.incident_id(), Q(s.signal().name()),
                    s.signal().status() == v1::SIGNAL_STATUS_FIRING ? "firing" : "resolved",
                    Q(s.signal().summary()));
          out.push_back({Topic::kSignals, std::move(s)});
        }
        if (!out.empty()) {
          if (auto st = stage.Publish(out); !st.ok()) {
            log->error("msg=\"cannot publish evaluated signals\" error={}", Q(std::string(st.message())));
          }
        }
        l.lock();
      }
    });
  }
  rt.WaitForShutdown();
  {
    std::lock_guard<std::mutex> l(bg_mu);
    bg_stop = true;
  }
  bg_cv.notify_all();
  policy_thread.join();
  tick_thread.join();
  if (eval_thread.joinable()) {
    eval_thread.join();
  }
  stage.Stop();
  consumer.join();
  if (auto p = rt.producer(); p.ok()) {
    (void)(*p)->Flush(std::chrono::seconds(5));
  }
  log->info("msg=\"stopped\"");
  return 0;
}
