// Notifications over the pure core: what each event says to people, which
// routes want it, the rate limit, the two body formats and the config.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "notify.h"
#include "notify_config.h"

namespace kubemend::gate::notify {
namespace {

using json = nlohmann::json;
using std::chrono::minutes;
using std::chrono::seconds;

const ProducerIdentity kGate{"safety-gate", "g", "0"};

v1::Event Awaiting(const FakeClock& clock, const std::string& ns, const std::string& rule) {
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_DECISION, kGate, clock);
  e.set_incident_id("inc-7");
  e.mutable_target()->set_namespace_(ns);
  e.mutable_target()->set_kind("Deployment");
  e.mutable_target()->set_name("api");
  auto* d = e.mutable_decision();
  d->set_proposal_id("prop-42");
  d->set_verdict(v1::VERDICT_AWAITING_APPROVAL);
  d->set_rule(rule);
  d->set_reason("RollbackImage needs a human's confirmation");
  d->mutable_proposal()->mutable_action()->set_type(v1::ACTION_TYPE_ROLLBACK_IMAGE);
  d->mutable_proposal()->mutable_policy()->set_name("bad-rollout");
  d->mutable_proposal()->set_reason("CrashLoopBackOff right after image changed to api:2.0");
  SetTimestamp(d->mutable_expires_at(), clock.Now() + minutes(30));
  return e;
}

v1::Event OutcomeEvent(const FakeClock& clock, const std::string& ns, v1::OutcomeStatus status) {
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_OUTCOME, {"executor", "e", "0"}, clock);
  e.set_incident_id("inc-8");
  e.mutable_target()->set_namespace_(ns);
  e.mutable_target()->set_kind("Deployment");
  e.mutable_target()->set_name("web");
  auto* o = e.mutable_outcome();
  o->set_status(status);
  o->set_action_id("act-1");
  o->mutable_action()->set_type(v1::ACTION_TYPE_INCREASE_MEMORY);
  o->set_error("PATCH deployments/web: 403 Forbidden");
  return e;
}

v1::Event ControlEvent(const FakeClock& clock, bool pause) {
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_CONTROL, kGate, clock);
  e.mutable_control()->set_issued_by("alice");
  e.mutable_control()->set_reason("db migration");
  if (pause) {
    e.mutable_control()->mutable_pause();
  } else {
    e.mutable_control()->mutable_resume();
  }
  return e;
}

std::string Field(const Notification& n, const std::string& name) {
  for (const auto& [k, v] : n.fields) {
    if (k == name) {
      return v;
    }
  }
  return "";
}

TEST(NotifyClassifyTest, ApprovalNeededSaysWhatWhyHowAndUntilWhen) {
  FakeClock clock;
  auto n = Classify(Awaiting(clock, "shop", "approval-level"));
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->kind, Kind::kApprovalNeeded);
  EXPECT_EQ(n->severity, Severity::kWarning);
  EXPECT_EQ(n->ns, "shop");
  EXPECT_NE(n->title.find("RollbackImage on shop/Deployment/api"), std::string::npos) << n->title;
  EXPECT_NE(Field(*n, "What").find("policy bad-rollout"), std::string::npos);
  EXPECT_NE(Field(*n, "Why").find("approval-level: RollbackImage needs a human's confirmation"),
            std::string::npos);
  EXPECT_NE(Field(*n, "Why").find("image changed to api:2.0"), std::string::npos);
  EXPECT_EQ(Field(*n, "Expires").rfind(FormatRfc3339(clock.Now() + minutes(30)), 0), 0u);
  ASSERT_EQ(n->commands.size(), 2u) << "no action id yet: no HealingAction to name";
  EXPECT_EQ(n->commands[0], "kubemendctl approve prop-42 --reason \"...\"");
  EXPECT_EQ(n->commands[1], "kubemendctl deny prop-42 --reason \"...\"");
}

TEST(NotifyClassifyTest, ApprovalNeededAlsoGivesTheKubectlPluginCommandForTheHealingAction) {
  FakeClock clock;
  v1::Event e = Awaiting(clock, "shop", "approval-level");
  e.mutable_decision()->set_action_id("3F2A-Act");
  auto n = Classify(e);
  ASSERT_TRUE(n.has_value());
  ASSERT_EQ(n->commands.size(), 4u);
  EXPECT_EQ(n->commands[2], "kubectl kubemend approve 3f2a-act -n shop --reason \"...\"");
  EXPECT_EQ(n->commands[3], "kubectl kubemend deny 3f2a-act -n shop --reason \"...\"");
  e.mutable_target()->set_namespace_("");
  e.mutable_target()->set_kind("Node");
  n = Classify(e);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->commands.size(), 2u) << "a Node's HealingAction lives in kubemend's namespace, unknown here";
}

TEST(NotifyClassifyTest, EscalationsAreCriticalAndNameWhoTheyGoTo) {
  FakeClock clock;
  v1::Event e = Awaiting(clock, "shop", "approval-timeout-escalated");
  (*e.mutable_decision()->mutable_compared())["escalated_to"] = "sre-lead";
  auto n = Classify(e);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->kind, Kind::kEscalation);
  EXPECT_EQ(n->severity, Severity::kCritical);
  EXPECT_EQ(Field(*n, "Escalated to"), "sre-lead");
  // A loop-breaking proposal held for a human is an escalation too.
  v1::Event loop = Awaiting(clock, "shop", "escalation");
  EXPECT_EQ(Classify(loop)->kind, Kind::kEscalation);
}

TEST(NotifyClassifyTest, FailuresRollbacksAndControlAreNotifiedSuccessesAreNot) {
  FakeClock clock;
  auto failed = Classify(OutcomeEvent(clock, "shop", v1::OUTCOME_STATUS_FAILED));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->kind, Kind::kExecutionFailed);
  EXPECT_EQ(failed->severity, Severity::kCritical);
  EXPECT_EQ(Field(*failed, "Error"), "PATCH deployments/web: 403 Forbidden");
  EXPECT_EQ(Classify(OutcomeEvent(clock, "shop", v1::OUTCOME_STATUS_NOT_FIXED))->kind, Kind::kExecutionFailed);
  EXPECT_EQ(Classify(OutcomeEvent(clock, "shop", v1::OUTCOME_STATUS_ROLLED_BACK))->kind, Kind::kRollback);
  EXPECT_FALSE(Classify(OutcomeEvent(clock, "shop", v1::OUTCOME_STATUS_SUCCEEDED)).has_value());
  EXPECT_FALSE(Classify(OutcomeEvent(clock, "shop", v1::OUTCOME_STATUS_DRY_RUN)).has_value());
  v1::Event approved = Awaiting(clock, "shop", "all-rules-passed");
  approved.mutable_decision()->set_verdict(v1::VERDICT_APPROVED);
  EXPECT_FALSE(Classify(approved).has_value());
  v1::Event expired = Awaiting(clock, "shop", "approval-timeout");
  expired.mutable_decision()->set_verdict(v1::VERDICT_EXPIRED);
  EXPECT_EQ(Classify(expired)->kind, Kind::kApprovalExpired);

  auto paused = Classify(ControlEvent(clock, true));
  ASSERT_TRUE(paused.has_value());
  EXPECT_EQ(paused->kind, Kind::kPaused);
  EXPECT_TRUE(paused->ns.empty());
  EXPECT_EQ(Field(*paused, "By"), "alice");
  EXPECT_EQ(Field(*paused, "Reason"), "db migration");
  EXPECT_EQ(Classify(ControlEvent(clock, false))->kind, Kind::kResumed);
  v1::Event breaker = NewRootEvent(v1::EVENT_TYPE_CONTROL, kGate, clock);
  breaker.mutable_control()->mutable_breaker_opened()->set_reason("3 of the last 4 outcomes failed");
  auto b = Classify(breaker);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->kind, Kind::kBreakerOpened);
  EXPECT_EQ(Field(*b, "Why"), "3 of the last 4 outcomes failed");
  v1::Event mode = NewRootEvent(v1::EVENT_TYPE_CONTROL, kGate, clock);
  mode.mutable_control()->mutable_set_mode()->set_mode(v1::MODE_MANUAL);
  EXPECT_FALSE(Classify(mode).has_value());
}

TEST(NotifyClassifyTest, GitOpsPullRequestsAndChartRenderedObjectsNeedAPerson) {
  FakeClock clock;
  v1::Event pr = OutcomeEvent(clock, "shop", v1::OUTCOME_STATUS_PENDING_MERGE);
  pr.mutable_outcome()->clear_error();
  pr.mutable_outcome()->mutable_pull_request()->set_url("https://github.example/o/r/pull/7");
  auto review = Classify(pr);
  ASSERT_TRUE(review.has_value());
  EXPECT_EQ(review->kind, Kind::kReviewNeeded);
  EXPECT_EQ(KindName(review->kind), "review_needed");
  bool has_url = false;
  for (const auto& [k, v] : review->fields) {
    has_url |= k == "Pull request" && v == "https://github.example/o/r/pull/7";
  }
  EXPECT_TRUE(has_url);

  v1::Event chart = OutcomeEvent(clock, "shop", v1::OUTCOME_STATUS_SKIPPED);
  chart.mutable_outcome()->set_error("chart-rendered: Deployment shop/web is rendered by web-1.2.0; ...");
  auto manual = Classify(chart);
  ASSERT_TRUE(manual.has_value());
  EXPECT_EQ(manual->kind, Kind::kManualFixNeeded);
  EXPECT_EQ(KindName(manual->kind), "manual_fix_needed");

  // Other skips (a duplicate, a paused namespace) need nobody.
  v1::Event skipped = OutcomeEvent(clock, "shop", v1::OUTCOME_STATUS_SKIPPED);
  skipped.mutable_outcome()->set_error("namespace paused");
  EXPECT_FALSE(Classify(skipped).has_value());
}

TEST(NotifyRouteTest, FiltersOnEventTypeNamespaceAndSeverity) {
  FakeClock clock;
  Notification shop = *Classify(Awaiting(clock, "shop", "approval-level"));
  Notification pay = *Classify(Awaiting(clock, "payments", "approval-level"));
  Notification pause = *Classify(ControlEvent(clock, true));
  Notification resume = *Classify(ControlEvent(clock, false));
  Notification failed = *Classify(OutcomeEvent(clock, "shop", v1::OUTCOME_STATUS_FAILED));

  RouteFilter all;
  EXPECT_TRUE(Matches(all, shop) && Matches(all, pay) && Matches(all, pause));

  RouteFilter only_shop;
  only_shop.namespaces = {"shop"};
  EXPECT_TRUE(Matches(only_shop, shop));
  EXPECT_FALSE(Matches(only_shop, pay)) << "another namespace";
  EXPECT_TRUE(Matches(only_shop, pause)) << "cluster-wide events pass by default";
  only_shop.cluster_wide = false;
  EXPECT_FALSE(Matches(only_shop, pause));

  RouteFilter failures;
  failures.kinds = {Kind::kExecutionFailed};
  EXPECT_TRUE(Matches(failures, failed));
  EXPECT_FALSE(Matches(failures, shop));

  RouteFilter critical;
  critical.min_severity = Severity::kWarning;
  EXPECT_TRUE(Matches(critical, pause));
  EXPECT_FALSE(Matches(critical, resume)) << "resume is info";
}

TEST(NotifyRateLimitTest, BurstThenRefillAndOneSummaryForWhatWasHeldBack) {
  FakeClock clock;
  RouteLimiter l(3, minutes(1));  // 3 at once, then one every 20 s
  int admitted = 0;
  for (int i = 0; i < 10; ++i) {
    admitted += l.Admit(clock.Now()) ? 1 : 0;
  }
  EXPECT_EQ(admitted, 3);
  EXPECT_EQ(l.pending_suppressed(), 7);
  EXPECT_EQ(l.TakeSummary(clock.Now()), 0) << "no token yet";
  clock.Advance(seconds(19));
  EXPECT_EQ(l.TakeSummary(clock.Now()), 0);
  clock.Advance(seconds(1));
  EXPECT_EQ(l.TakeSummary(clock.Now()), 7) << "the window reopened: one summary";
  EXPECT_EQ(l.TakeSummary(clock.Now()), 0) << "reported once";
  EXPECT_FALSE(l.Admit(clock.Now())) << "the summary took the token";
  l.Restore(0);
  clock.Advance(minutes(5));
  EXPECT_EQ(l.TakeSummary(clock.Now()), 1) << "the one just held back";
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(l.Admit(clock.Now()));
  }
  EXPECT_FALSE(l.Admit(clock.Now())) << "the bucket holds at most `burst`";

  RouteLimiter off(0, minutes(1));
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(off.Admit(clock.Now()));
  }
}

TEST(NotifyRenderTest, SlackBodyHasTextAndBlocksWithTheApproveCommand) {
  FakeClock clock;
  v1::Event e = Awaiting(clock, "shop", "approval-level");
  e.mutable_target()->set_name("api<&>");
  json body = json::parse(RenderSlack(*Classify(e), ""));
  ASSERT_TRUE(body["text"].is_string());
  std::string text = body["text"];
  EXPECT_NE(text.find("kubemendctl approve prop-42"), std::string::npos) << text;
  EXPECT_NE(text.find("Expires: " + FormatRfc3339(clock.Now() + minutes(30))), std::string::npos);
  ASSERT_TRUE(body["blocks"].is_array());
  ASSERT_GE(body["blocks"].size(), 3u);
  std::string all = body["blocks"].dump();
  EXPECT_NE(all.find("```kubemendctl approve prop-42 --reason \\\"...\\\"\\nkubemendctl deny prop-42"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("api&lt;&amp;&gt;"), std::string::npos) << "mrkdwn control characters escaped";
  EXPECT_EQ(all.find("api<&>"), std::string::npos);
  EXPECT_EQ(body["blocks"].back()["type"], "context");
  EXPECT_NE(body["blocks"].back().dump().find(e.event_id()), std::string::npos);
}

TEST(NotifyRenderTest, WebhookBodyCarriesTheEventAndTheDedupKey) {
  FakeClock clock;
  v1::Event e = OutcomeEvent(clock, "shop", v1::OUTCOME_STATUS_FAILED);
  json body = json::parse(RenderWebhook(*Classify(e), "ops"));
  EXPECT_EQ(body["kind"], "execution_failed");
  EXPECT_EQ(body["severity"], "critical");
  EXPECT_EQ(body["namespace"], "shop");
  EXPECT_EQ(body["route"], "ops");
  EXPECT_EQ(body["dedup_key"], e.event_id());
  EXPECT_EQ(body["event"]["event_id"], e.event_id());
  EXPECT_EQ(body["event"]["outcome"]["status"], "OUTCOME_STATUS_FAILED");
  EXPECT_EQ(body["event"]["outcome"]["error"], "PATCH deployments/web: 403 Forbidden");
  EXPECT_EQ(body["fields"][0]["name"], "What");
  json s = json::parse(RenderSuppressedWebhook("ops", 4));
  EXPECT_EQ(s["suppressed"], 4);
  EXPECT_NE(json::parse(RenderSuppressedSlack("ops", 4))["text"].get<std::string>().find("4 more"),
            std::string::npos);
}

absl::StatusOr<NotifyConfig> Load(const std::string& yaml, const Env& env,
                                  FileReader read = [](const std::string& p) -> absl::StatusOr<std::string> {
                                    return absl::NotFoundError("cannot read file \"" + p + "\"");
                                  }) {
  ConfigSchema schema;
  NotifyConfigKeys keys;
  keys.Register(schema);
  if (auto st = schema.LoadYaml(YAML::Load(yaml), "test.yaml", {}); !st.ok()) {
    return st;
  }
  return keys.Build(env, read);
}

TEST(NotifyConfigTest, RoutesLoadWithSecretsFromEnvAndFiles) {
  auto c = Load(R"(
notify:
  routes:
    - name: oncall
      format: slack
      url_env: ONCALL_URL
      events: [approval_needed, escalation]
      namespaces: [shop]
      cluster_wide: false
      min_severity: warning
      rate_limit: {burst: 5, per: 10m}
    - name: audit-hook
      format: webhook
      url_file: /run/secrets/hook-url
      token_file: /run/secrets/hook-token
)",
                {{"ONCALL_URL", "https://hooks.slack.com/services/T/B/secret"}},
                [](const std::string& p) -> absl::StatusOr<std::string> {
                  return p == "/run/secrets/hook-url" ? "http://hook.example/in\n" : "tok-123\n";
                });
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->routes.size(), 2u);
  const RouteConfig& a = c->routes[0];
  EXPECT_EQ(a.format, Format::kSlack);
  EXPECT_EQ(a.url, "https://hooks.slack.com/services/T/B/secret");
  EXPECT_EQ(a.filter.kinds, (std::set<Kind>{Kind::kApprovalNeeded, Kind::kEscalation}));
  EXPECT_EQ(a.filter.namespaces, std::set<std::string>{"shop"});
  EXPECT_FALSE(a.filter.cluster_wide);
  EXPECT_EQ(a.filter.min_severity, Severity::kWarning);
  EXPECT_EQ(a.burst, 5);
  EXPECT_EQ(a.per, minutes(10));
  const RouteConfig& b = c->routes[1];
  EXPECT_EQ(b.format, Format::kWebhook);
  EXPECT_EQ(b.url, "http://hook.example/in") << "trimmed";
  EXPECT_EQ(b.bearer_token, "tok-123");
  EXPECT_TRUE(b.filter.kinds.empty());
  EXPECT_EQ(b.burst, 10) << "default rate limit";
}

TEST(NotifyConfigTest, BadRoutesAreRefusedNamingTheKeyAndNeverTheSecret) {
  Env env = {{"URL", "https://hooks.slack.com/services/T/B/Zq9s3cr3t"}, {"NOT_A_URL", "ftp://x/Zq9s3cr3t"}};
  struct Case {
    std::string yaml;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"notify: {routes: [{name: a, format: teams, url_env: URL}]}", "notify.routes[0].format"},
      {"notify: {routes: [{name: a, format: slack}]}", "needs url_env"},
      {"notify: {routes: [{name: a, format: slack, url: x}]}", "notify.routes[0].url: unknown key"},
      {"notify: {routes: [{name: a, format: slack, url_env: MISSING}]}", "\"MISSING\" is not set"},
      {"notify: {routes: [{name: a, format: slack, url_env: NOT_A_URL}]}", "http:// or https://"},
      {"notify: {routes: [{name: a, format: slack, url_env: URL, url_file: /x}]}", "not both"},
      {"notify: {routes: [{name: a, format: slack, url_file: /nope}]}", "cannot read file \"/nope\""},
      {"notify: {routes: [{name: a, format: slack, url_env: URL, events: [approval]}]}",
       "unknown event type \"approval\""},
      {"notify: {routes: [{name: a, format: slack, url_env: URL, min_severity: high}]}",
       "notify.routes[0].min_severity"},
      {"notify: {routes: [{name: a, format: slack, url_env: URL, rate_limit: {burst: x}}]}",
       "rate_limit.burst"},
      {"notify: {routes: [{name: a, format: slack, url_env: URL, rate_limit: {rate: 1}}]}",
       "rate_limit.rate: unknown key"},
      {"notify: {routes: [{name: A_B, format: slack, url_env: URL}]}", "notify.routes[0].name"},
      {"notify: {routes: [{name: a, format: slack, url_env: URL}, {name: a, format: webhook, url_env: URL}]}",
       "defined twice"},
      {"notify: {routes: {name: a}}", "expected a list"},
      {"notify: {retry: {initial: 0}}", "notify.retry"},
  };
  for (const auto& c : cases) {
    auto r = Load(c.yaml, env);
    ASSERT_FALSE(r.ok()) << c.yaml;
    std::string msg(r.status().message());
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.yaml << " -> " << msg;
    EXPECT_EQ(msg.find("Zq9s3cr3t"), std::string::npos) << "a secret leaked: " << msg;
  }
  auto none = Load("notify: {}", env);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->routes.empty()) << "no routes: notifications off";
}

}  // namespace
}  // namespace kubemend::gate::notify
