#include "alertmanager.h"

#include <gtest/gtest.h>

namespace kubemend::collector {
namespace {

const ProducerIdentity kWho{"collector", "c-1", "0.1.0"};

std::string Body(const std::string& alerts) {
  return R"({"receiver":"kubemend","status":"firing","version":"4","groupKey":"{}:{}",
  "groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am",
  "truncatedAlerts":0,"alerts":[)" + alerts + "]}";
}

const char* kCrashLoop = R"({"status":"firing","labels":{"alertname":"KubePodCrashLooping",
  "namespace":"shop","pod":"api-7d9f-abcde","container":"app","severity":"warning"},
  "annotations":{"summary":"Pod is crash looping."},"startsAt":"2026-11-22T10:00:00.5Z",
  "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"a1b2c3"})";

TEST(AlertmanagerTest, FiringAlertBecomesOneSignalWithTarget) {
  FakeClock clock;
  auto events = ParseAlertmanagerWebhook(Body(kCrashLoop), {"prod"}, kWho, clock);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1u);
  const v1::Event& e = (*events)[0];
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_SIGNAL);
  EXPECT_EQ(e.signal().name(), "KubePodCrashLooping");
  EXPECT_EQ(e.signal().status(), v1::SIGNAL_STATUS_FIRING);
  EXPECT_EQ(e.signal().severity(), v1::SEVERITY_WARNING);
  EXPECT_EQ(e.signal().fingerprint(), "a1b2c3");
  EXPECT_EQ(e.signal().summary(), "Pod is crash looping.");
  EXPECT_EQ(e.target().cluster(), "prod");
  EXPECT_EQ(e.target().namespace_(), "shop");
  EXPECT_EQ(e.target().kind(), "Pod");
  EXPECT_EQ(e.target().name(), "api-7d9f-abcde");
  EXPECT_EQ(e.target().container(), "app");
  EXPECT_EQ(e.occurred_at().seconds(), 1795341600);
  EXPECT_EQ(e.occurred_at().nanos(), 500000000);
  EXPECT_FALSE(e.incident_id().empty());
}

TEST(AlertmanagerTest, SameAlertInstanceKeepsItsIncidentAcrossFiringAndResolved) {
  FakeClock clock;
  std::string resolved = kCrashLoop;
  resolved.replace(resolved.find("\"firing\""), 8, "\"resolved\"");
  auto a = ParseAlertmanagerWebhook(Body(kCrashLoop), {}, kWho, clock);
  auto b = ParseAlertmanagerWebhook(Body(resolved), {}, kWho, clock);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)[0].incident_id(), (*b)[0].incident_id());
  EXPECT_EQ((*b)[0].signal().status(), v1::SIGNAL_STATUS_RESOLVED);
  EXPECT_NE((*a)[0].event_id(), (*b)[0].event_id());
}

// Issue 12 (replicas): the same alert delivered to two collector replicas is
// one event with one id, so the trail and every stage store it once.
TEST(AlertmanagerTest, SameObservationHasTheSameEventIdOnEveryReplica) {
  FakeClock clock;
  auto a = ParseAlertmanagerWebhook(Body(kCrashLoop), {}, {"collector", "collector-1", "0"}, clock);
  clock.Advance(std::chrono::seconds(5));
  auto b = ParseAlertmanagerWebhook(Body(kCrashLoop), {}, {"collector", "collector-2", "0"}, clock);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)[0].event_id(), (*b)[0].event_id());
}

TEST(AlertmanagerTest, TargetsFromUsualLabels) {
  auto t = TargetFromLabels({{"namespace", "x"}, {"horizontalpodautoscaler", "web"}}, "c");
  EXPECT_EQ(t.kind(), "HorizontalPodAutoscaler");
  t = TargetFromLabels({{"node", "n1"}, {"namespace", "monitoring"}}, "c");
  EXPECT_EQ(t.kind(), "Node");
  EXPECT_EQ(t.namespace_(), "");
  t = TargetFromLabels({{"namespace", "x"}, {"persistentvolumeclaim", "data"}}, "c");
  EXPECT_EQ(t.kind(), "PersistentVolumeClaim");
  t = TargetFromLabels({{"namespace", "x"}, {"pod", "p"}, {"deployment", "d"}}, "c");
  EXPECT_EQ(t.kind(), "Pod");
  EXPECT_EQ(t.owner_kind(), "Deployment");
  EXPECT_EQ(t.owner_name(), "d");
  t = TargetFromLabels({{"namespace", "x"}}, "c");
  EXPECT_EQ(t.kind(), "Namespace");
}

TEST(AlertmanagerTest, MalformedBodiesSayWhatIsWrong) {
  FakeClock clock;
  struct Case {
    std::string body;
    std::string expect;
  } cases[] = {
      {"not json", "not valid JSON"},
      {"[]", "JSON object"},
      {R"({"alerts":[]})", "version"},
      {R"({"version":"3","alerts":[]})", "unsupported webhook version"},
      {R"({"version":"4"})", "alerts"},
      {Body(R"({"status":"firing","labels":{}})"), "alerts[0].labels.alertname"},
      {Body(R"({"status":"burning","labels":{"alertname":"X"}})"), "alerts[0].status"},
      {Body(R"({"status":"firing","labels":{"alertname":"X"},"startsAt":"yesterday"})"),
       "alerts[0].startsAt"},
      {Body(R"({"status":"firing","labels":{"alertname":"X","n":5}})"), "alerts[0].labels.n"},
  };
  for (const auto& c : cases) {
    auto r = ParseAlertmanagerWebhook(c.body, {}, kWho, clock);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << "body: " << c.body << "\nerror: " << r.status().message();
  }
}

}  // namespace
}  // namespace kubemend::collector
