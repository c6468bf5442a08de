#pragma once
// Notifications: telling people what needs them (docs/notifications.md).
//
// A pure core over kubemend.v1 events; no Kafka, HTTP, clock calls or
// logging. The adapter (notify_service) reads the decisions, outcomes and
// control topics, and for each event:
//   Classify()  → a Notification, or nothing when nobody needs to hear it;
//   Matches()   → which routes want it (event type, namespace, severity);
//   RouteLimiter→ whether the route's token bucket lets it through (what is
//                 held back is counted and reported as "N more suppressed"
//                 once a token is free again);
//   Render*()   → the body: Slack-compatible (text + blocks) or the generic
//                 webhook's JSON (the notification plus the whole event).
//
// Not thread-safe: one route's state belongs to the thread that runs it.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kubemend/common/clock.h"
#include "kubemend/v1/events.pb.h"

namespace kubemend::gate::notify {

// What happened, as routes filter on it ("events:" in the config).
enum class Kind {
  kApprovalNeeded,   // AWAITING_APPROVAL decision
  kEscalation,       // AWAITING after an approval timeout, or a loop-breaking proposal
  kApprovalExpired,  // EXPIRED decision: nobody answered in time
  kExecutionFailed,  // outcome FAILED or NOT_FIXED
  kRollback,         // outcome ROLLED_BACK
  kBreakerOpened,    // Control(BreakerOpened)
  kPaused,           // Control(Pause)
  kResumed,          // Control(Resume)
  kReviewNeeded,     // outcome PENDING_MERGE: a GitOps pull request waits for a reviewer
  kManualFixNeeded,  // outcome SKIPPED "chart-rendered:": GitOps mode could not write the fix
};
std::string KindName(Kind k);  // approval_needed, escalation, ...
bool ParseKind(const std::string& name, Kind* out);
std::vector<Kind> AllKinds();

enum class Severity { kInfo = 1, kWarning = 2, kCritical = 3 };
std::string SeverityName(Severity s);  // info, warning, critical
bool ParseSeverity(const std::string& name, Severity* out);

// One thing to tell people, already worded.
struct Notification {
  Kind kind = Kind::kApprovalNeeded;
  Severity severity = Severity::kInfo;
  std::string ns;       // the target's namespace; empty for cluster-wide events
  std::string title;    // one line: what needs whom
  // Labelled lines in order ("What", "Why", "Approve", "Expires", ...).
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<std::string> commands;  // what a human can run (approve, deny, resume)
  v1::Event event;      // the event it is about (dedup key: its event_id)
};

// Nothing (nullopt) for events no human needs to hear about: approvals,
// rejections, successes, dry runs, other control commands.
std::optional<Notification> Classify(const v1::Event& e);

struct RouteFilter {
  std::set<Kind> kinds;             // empty = every kind
  std::set<std::string> namespaces; // empty = every namespace
  bool cluster_wide = true;         // events without a namespace pass a namespace filter
  Severity min_severity = Severity::kInfo;
};
bool Matches(const RouteFilter& f, const Notification& n);

// A token bucket: `burst` messages at once, refilled at burst per `per`.
// burst == 0 switches limiting off.
class RouteLimiter {
 public:
  RouteLimiter(int64_t burst, Millis per);
  // True: send it (a token was taken). False: suppressed and counted.
  bool Admit(TimePoint now);
  // When messages were suppressed and a token is free again: how many (the
  // caller sends the summary, which takes that token), else 0.
  int64_t TakeSummary(TimePoint now);
  // A summary that could not be delivered: its count waits for the next.
  void Restore(int64_t n) { suppressed_ += n; }
  int64_t pending_suppressed() const { return suppressed_; }

 private:
  void Refill(TimePoint now);
  int64_t burst_;
  Millis per_;
  double tokens_;
  std::optional<TimePoint> last_;
  int64_t suppressed_ = 0;
};

// Slack incoming-webhook JSON: {"text": ..., "blocks": [...]}. `link`, when
// set, is appended to the context line (e.g. the console's incident page).
std::string RenderSlack(const Notification& n, const std::string& link);
// The generic webhook's JSON: kind, severity, title, text, fields, commands,
// namespace, dedup_key, route, and the event itself (proto JSON).
std::string RenderWebhook(const Notification& n, const std::string& route);
// The "N more suppressed" message of a route.
std::string RenderSuppressedSlack(const std::string& route, int64_t n);
std::string RenderSuppressedWebhook(const std::string& route, int64_t n);

// Plain text of a notification: title and fields, one per line.
std::string PlainText(const Notification& n);

}  // namespace kubemend::gate::notify
