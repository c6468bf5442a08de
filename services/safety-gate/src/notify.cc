#include "notify.h"

#include <cctype>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "kubemend/common/events.h"

namespace kubemend::gate::notify {
namespace {

using json = nlohmann::json;

constexpr std::pair<Kind, const char*> kKindNames[] = {
    {Kind::kApprovalNeeded, "approval_needed"}, {Kind::kEscalation, "escalation"},
    {Kind::kApprovalExpired, "approval_expired"}, {Kind::kExecutionFailed, "execution_failed"},
    {Kind::kRollback, "rollback"}, {Kind::kBreakerOpened, "breaker_opened"},
    {Kind::kPaused, "paused"}, {Kind::kResumed, "resumed"},
    {Kind::kReviewNeeded, "review_needed"}, {Kind::kManualFixNeeded, "manual_fix_needed"},
};

std::string What(const v1::Event& e, const v1::Action& a, const v1::PolicyRef& policy) {
  std::string s = ActionTypeName(a.type()) + " on " + TargetString(e.target());
  if (!policy.name().empty()) {
    s += " (policy " + policy.name() + ")";
  }
  return s;
}

std::string Who(const v1::Control& c) {
  std::string s = c.issued_by().empty() ? "unknown" : c.issued_by();
  if (!c.client_note().empty()) {
    s += " (client note, unverified: " + c.client_note() + ")";
  }
  return s;
}

std::optional<Notification> FromDecision(const v1::Event& e) {
  const v1::SafetyDecision& d = e.decision();
  const v1::RemediationProposal& p = d.proposal();
  Notification n;
  n.event = e;
  n.ns = e.target().namespace_();
  std::string what = What(e, p.action(), p.policy());
  if (d.verdict() == v1::VERDICT_EXPIRED && d.rule() == "approval-queue-full") {
    // Never queued: the question a human should have been asked, said here.
    n.kind = Kind::kApprovalExpired;
    n.severity = p.escalation() ? Severity::kCritical : Severity::kWarning;
    n.title = "kubemend could not ask for approval of " + ActionTypeName(p.action().type()) + " on " +
              TargetString(e.target()) + ": the approval queue is full; it will not run";
    n.fields = {{"What", what}, {"Why", d.rule() + ": " + d.reason()}};
    if (!p.reason().empty()) {
      n.fields.emplace_back("Proposed because", p.reason());
    }
    n.commands = {"kubemendctl pending list"};
  } else if (d.verdict() == v1::VERDICT_EXPIRED) {
    n.kind = Kind::kApprovalExpired;
    n.severity = Severity::kWarning;
    n.title = "Nobody approved " + ActionTypeName(p.action().type()) + " on " +
              TargetString(e.target()) + " in time; it will not run";
    n.fields = {{"What", what}, {"Why", d.rule() + ": " + d.reason()}};
  } else if (d.verdict() == v1::VERDICT_AWAITING_APPROVAL) {
    auto esc = d.compared().find("escalated");
    bool escalated = d.rule() == "approval-timeout-escalated" || d.rule() == "escalation" ||
                     p.escalation() || (esc != d.compared().end() && esc->second == "true");
    n.kind = escalated ? Kind::kEscalation : Kind::kApprovalNeeded;
    n.severity = escalated ? Severity::kCritical : Severity::kWarning;
    n.title = std::string(escalated ? "Escalated: " : "") + "kubemend needs approval for " +
              ActionTypeName(p.action().type()) + " on " + TargetString(e.target());
    std::string why = d.rule() + ": " + d.reason();
    if (!p.reason().empty()) {
      why += " (proposed because: " + p.reason() + ")";
    }
    n.fields = {{"What", what}, {"Why", why}};
    auto to = d.compared().find("escalated_to");
    if (to != d.compared().end() && !to->second.empty()) {
      n.fields.emplace_back("Escalated to", to->second);
    }
    if (d.has_expires_at()) {
      n.fields.emplace_back("Expires", FormatRfc3339(FromTimestamp(d.expires_at())) +
                                           " (then it will not run)");
    }
    n.commands = {"kubemendctl approve " + d.proposal_id() + " --reason \"...\"",
                  "kubemendctl deny " + d.proposal_id() + " --reason \"...\""};
    // The same answer from kubectl, in the person's own Kubernetes name: the
    // executor names the HealingAction after the action id, in the target's
    // namespace (a cluster-scoped target's lives in kubemend's own, which the
    // gate does not know: then only the kubemendctl form is given).
    if (!d.action_id().empty() && !e.target().namespace_().empty()) {
      std::string name;
      for (char c : d.action_id()) {
        name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      n.commands.push_back("kubectl kubemend approve " + name + " -n " + e.target().namespace_() +
                           " --reason \"...\"");
      n.commands.push_back("kubectl kubemend deny " + name + " -n " + e.target().namespace_() +
                           " --reason \"...\"");
    }
  } else {
    return std::nullopt;
  }
  n.fields.emplace_back("Incident", e.incident_id());
  return n;
}

std::optional<Notification> FromOutcome(const v1::Event& e) {
  const v1::ActionOutcome& o = e.outcome();
  Notification n;
  n.event = e;
  n.ns = e.target().namespace_();
  std::string what = What(e, o.action(), {});
  switch (o.status()) {
    case v1::OUTCOME_STATUS_FAILED:
    case v1::OUTCOME_STATUS_NOT_FIXED:
      n.kind = Kind::kExecutionFailed;
      n.severity = Severity::kCritical;
      n.title = o.status() == v1::OUTCOME_STATUS_FAILED
                    ? "kubemend could not apply " + ActionTypeName(o.action().type()) + " on " +
                          TargetString(e.target())
                    : ActionTypeName(o.action().type()) + " on " + TargetString(e.target()) +
                          " did not fix it (verification failed)";
      n.fields = {{"What", what}, {"Status", OutcomeStatusName(o.status())}};
      if (!o.error().empty()) {
        n.fields.emplace_back("Error", o.error());
      }
      if (o.verification().attempted() && !o.verification().detail().empty()) {
        n.fields.emplace_back("Verification", o.verification().detail());
      }
      break;
    case v1::OUTCOME_STATUS_ROLLED_BACK:
      n.kind = Kind::kRollback;
      n.severity = Severity::kWarning;
      n.title = "kubemend rolled back " + ActionTypeName(o.action().type()) + " on " +
                TargetString(e.target());
      n.fields = {{"What", what}};
      if (!o.rolls_back_action_id().empty()) {
        n.fields.emplace_back("Undid action", o.rolls_back_action_id());
      }
      for (const auto& c : o.changes()) {
        n.fields.emplace_back("Changed", c.path() + ": " + c.before() + " -> " + c.after());
      }
      if (!o.error().empty()) {
        n.fields.emplace_back("Detail", o.error());
      }
      break;
    case v1::OUTCOME_STATUS_PENDING_MERGE:
      // GitOps mode: the fix is a pull request, and nothing happens until someone merges it.
      n.kind = Kind::kReviewNeeded;
      n.severity = Severity::kWarning;
      n.title = "kubemend opened a pull request for " + ActionTypeName(o.action().type()) + " on " +
                TargetString(e.target()) + ": it needs a review and a merge";
      n.fields = {{"What", what}, {"Pull request", o.pull_request().url()}};
      if (!o.pull_request().file().empty()) {
        n.fields.emplace_back("File", o.pull_request().repository() + ": " + o.pull_request().file());
      }
      for (const auto& c : o.changes()) {
        n.fields.emplace_back("Changes", c.path() + ": " + c.before() + " -> " + c.after());
      }
      break;
    case v1::OUTCOME_STATUS_SKIPPED:
      // GitOps mode found the object rendered by a chart it has no values mapping for: it changed
      // nothing, so a person must make the fix (docs/gitops.md).
      if (o.error().rfind("chart-rendered:", 0) != 0) {
        return std::nullopt;
      }
      n.kind = Kind::kManualFixNeeded;
      n.severity = Severity::kWarning;
      n.title = "kubemend could not write " + ActionTypeName(o.action().type()) + " on " +
                TargetString(e.target()) + " to Git: it needs a manual fix";
      n.fields = {{"What", what}, {"Why", o.error()}};
      break;
    default:
      return std::nullopt;
  }
  n.fields.emplace_back("Action id", o.action_id());
  n.fields.emplace_back("Incident", e.incident_id());
  n.commands = {"kubemendctl incidents show " + e.incident_id()};
  return n;
}

std::optional<Notification> FromControl(const v1::Event& e) {
  const v1::Control& c = e.control();
  Notification n;
  n.event = e;
  if (c.has_pause() && c.pause().scope().empty()) {
    n.kind = Kind::kPaused;
    n.severity = Severity::kWarning;
    n.title = "kubemend is paused (kill switch): no action runs until resumed";
    n.fields = {{"By", Who(c)}};
    n.commands = {"kubemendctl resume --reason \"...\""};
  } else if (c.has_resume() && c.resume().scope().empty()) {
    n.kind = Kind::kResumed;
    n.severity = Severity::kInfo;
    n.title = "kubemend resumed: automatic remediation runs again";
    n.fields = {{"By", Who(c)}};
  } else if (c.has_breaker_opened()) {
    const v1::BreakerOpened& b = c.breaker_opened();
    n.kind = Kind::kBreakerOpened;
    n.severity = Severity::kCritical;
    n.title = "kubemend's circuit breaker opened: automatic approvals are held";
    n.fields = {{"Why", b.reason()}};
    if (b.has_until()) {
      n.fields.emplace_back("Until", FormatRfc3339(FromTimestamp(b.until())) +
                                         " (then a few probes run; a failure reopens it)");
    }
    n.fields.emplace_back("Tripped by outcome", b.tripped_by_outcome_id());
    n.commands = {"kubemendctl actions list --outcome failed --since 1h", "kubemendctl pending list"};
    return n;
  } else {
    return std::nullopt;
  }
  if (!c.reason().empty()) {
    n.fields.emplace_back("Reason", c.reason());
  }
  return n;
}

// Slack mrkdwn treats &, < and > as control characters.
std::string SlackEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

const char* SlackIcon(Severity s) {
  switch (s) {
    case Severity::kCritical:
      return ":rotating_light:";
    case Severity::kWarning:
      return ":warning:";
    case Severity::kInfo:
      return ":information_source:";
  }
  return "";
}

}  // namespace

std::string KindName(Kind k) {
  for (const auto& [kind, name] : kKindNames) {
    if (kind == k) {
      return name;
    }
  }
  return "unknown";
}

bool ParseKind(const std::string& name, Kind* out) {
  for (const auto& [kind, n] : kKindNames) {
    if (name == n) {
      *out = kind;
      return true;
    }
  }
  return false;
}

std::vector<Kind> AllKinds() {
  std::vector<Kind> out;
  for (const auto& [kind, n] : kKindNames) {
    out.push_back(kind);
  }
  return out;
}

std::string SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kCritical:
      return "critical";
  }
  return "info";
}

bool ParseSeverity(const std::string& name, Severity* out) {
  for (Severity s : {Severity::kInfo, Severity::kWarning, Severity::kCritical}) {
    if (name == SeverityName(s)) {
      *out = s;
      return true;
    }
  }
  return false;
}

std::optional<Notification> Classify(const v1::Event& e) {
  switch (e.payload_case()) {
    case v1::Event::kDecision:
      return FromDecision(e);
    case v1::Event::kOutcome:
      return FromOutcome(e);
    case v1::Event::kControl:
      return FromControl(e);
    default:
      return std::nullopt;
  }
}

bool Matches(const RouteFilter& f, const Notification& n) {
  if (!f.kinds.empty() && !f.kinds.count(n.kind)) {
    return false;
  }
  if (n.severity < f.min_severity) {
    return false;
  }
  if (!f.namespaces.empty()) {
    return n.ns.empty() ? f.cluster_wide : f.namespaces.count(n.ns) > 0;
  }
  return true;
}

RouteLimiter::RouteLimiter(int64_t burst, Millis per)
    : burst_(burst), per_(per), tokens_(static_cast<double>(burst)) {}

void RouteLimiter::Refill(TimePoint now) {
  if (last_ && now > *last_ && per_.count() > 0) {
    double add = static_cast<double>(burst_) *
                 static_cast<double>(std::chrono::duration_cast<Millis>(now - *last_).count()) /
                 static_cast<double>(per_.count());
    tokens_ = std::min(static_cast<double>(burst_), tokens_ + add);
  }
  if (!last_ || now > *last_) {
    last_ = now;
  }
}

bool RouteLimiter::Admit(TimePoint now) {
  if (burst_ <= 0) {
    return true;
  }
  Refill(now);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  ++suppressed_;
  return false;
}

int64_t RouteLimiter::TakeSummary(TimePoint now) {
  if (suppressed_ == 0 || burst_ <= 0) {
    return 0;
  }
  Refill(now);
  if (tokens_ < 1.0) {
    return 0;
  }
  tokens_ -= 1.0;
  int64_t n = suppressed_;
  suppressed_ = 0;
  return n;
}

std::string PlainText(const Notification& n) {
  std::string out = n.title;
  for (const auto& [k, v] : n.fields) {
    out += "\n" + k + ": " + v;
  }
  for (const auto& c : n.commands) {
    out += "\nRun: " + c;
  }
  return out;
}

std::string RenderSlack(const Notification& n, const std::string& link) {
  std::string fields;
  for (const auto& [k, v] : n.fields) {
    fields += (fields.empty() ? "" : "\n") + std::string("*") + k + ":* " + SlackEscape(v);
  }
  json blocks = json::array();
  blocks.push_back({{"type", "section"},
                    {"text", {{"type", "mrkdwn"},
                              {"text", std::string(SlackIcon(n.severity)) + " *" + SlackEscape(n.title) + "*"}}}});
  blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", fields}}}});
  if (!n.commands.empty()) {
    std::string cmds = "```";
    for (const auto& c : n.commands) {
      cmds += (cmds.size() > 3 ? "\n" : "") + SlackEscape(c);
    }
    cmds += "```";
    blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", cmds}}}});
  }
  std::string context = "kubemend · " + KindName(n.kind) + " · " + SeverityName(n.severity) +
                        " · event " + n.event.event_id();
  if (!link.empty()) {
    context += " · <" + link + "|open>";
  }
  blocks.push_back({{"type", "context"}, {"elements", {{{"type", "mrkdwn"}, {"text", context}}}}});
  // `text` is what notifications, screen readers and clients without blocks show.
  return json{{"text", PlainText(n)}, {"blocks", blocks}}.dump();
}

std::string RenderWebhook(const Notification& n, const std::string& route) {
  std::string event_json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(n.event, &event_json, opts);
  json ordered = json::array();
  for (const auto& [k, v] : n.fields) {
    ordered.push_back({{"name", k}, {"value", v}});
  }
  return json{{"kind", KindName(n.kind)},
              {"severity", SeverityName(n.severity)},
              {"title", n.title},
              {"text", PlainText(n)},
              {"fields", ordered},
              {"commands", n.commands},
              {"namespace", n.ns},
              {"route", route},
              {"dedup_key", n.event.event_id()},
              {"event", json::parse(event_json.empty() ? "{}" : event_json)}}
      .dump();
}

std::string RenderSuppressedSlack(const std::string& route, int64_t n) {
  std::string text = std::to_string(n) + " more kubemend notification" + (n == 1 ? "" : "s") +
                     " suppressed by the rate limit of route " + route +
                     " (see kubemendctl audit query --since 1h)";
  return json{{"text", text}}.dump();
}

std::string RenderSuppressedWebhook(const std::string& route, int64_t n) {
  return json{{"kind", "suppressed"},
              {"severity", "info"},
              {"title", std::to_string(n) + " more suppressed"},
              {"text", std::to_string(n) + " more kubemend notifications suppressed by the rate limit of route " + route},
              {"suppressed", n},
              {"route", route}}
      .dump();
}

}  // namespace kubemend::gate::notify
