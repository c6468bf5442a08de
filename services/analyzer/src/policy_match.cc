// Matching a signal against a policy: selector, then triggers.
#include <algorithm>

#include "kubemend/common/events.h"
#include "policy.h"

namespace kubemend::analyzer {

namespace {

const std::string* Label(const v1::Event& e, const std::string& key) {
  auto it = e.target().labels().find(key);
  if (it != e.target().labels().end()) {
    return &it->second;
  }
  it = e.signal().labels().find(key);
  if (it != e.signal().labels().end()) {
    return &it->second;
  }
  return nullptr;
}

std::string MatchSelector(const Selector& sel, const v1::Event& e, bool explain) {
  const v1::Target& t = e.target();
  if (!sel.namespaces.empty()) {
    bool ok = false;
    for (const auto& p : sel.namespaces) {
      ok = ok || (!t.namespace_().empty() && p.Matches(t.namespace_()));
    }
    if (!ok) {
      if (!explain) {
        return "-";
      }
      return "namespace " + (t.namespace_().empty() ? std::string("(cluster)") : t.namespace_()) +
             " not selected";
    }
  }
  if (!sel.kinds.empty()) {
    bool ok = false;
    for (const auto& k : sel.kinds) {
      ok = ok || k == t.kind() || k == t.owner_kind();
    }
    if (!ok) {
      return explain ? "kind " + t.kind() + " not selected" : "-";
    }
  }
  for (const auto& [k, v] : sel.match_labels) {
    const std::string* have = Label(e, k);
    if (!have || *have != v) {
      return explain ? "label " + k + "=" + v + " not present" : "-";
    }
  }
  for (const auto& r : sel.match_expressions) {
    const std::string* have = Label(e, r.key);
    bool in = have && std::find(r.values.begin(), r.values.end(), *have) != r.values.end();
    bool ok = (r.op == "Exists" && have) || (r.op == "DoesNotExist" && !have) ||
              (r.op == "In" && in) || (r.op == "NotIn" && !in);
    if (!ok) {
      return explain ? "label expression " + r.key + " " + r.op + " not satisfied" : "-";
    }
  }
  return "";
}

bool SourceOk(v1::SignalSource want, v1::SignalSource have) {
  return want == v1::SIGNAL_SOURCE_UNSPECIFIED || have == v1::SIGNAL_SOURCE_UNSPECIFIED ||
         want == have;
}

std::string MatchTrigger(const Trigger& t, const v1::Event& e, int64_t now_ms, bool explain) {
  const v1::Signal& s = e.signal();
  if (!SourceOk(t.source, s.source())) {
    return "source differs";
  }
  // A health-check trigger names the check: the collector's signals are all
  // called HealthCheckFailed and carry the check's name in label health_check.
  const std::string* check = t.type == Trigger::Type::kHealthCheck ? Label(e, "health_check") : nullptr;
  const std::string& name = check ? *check : s.name();
  if (!t.match.Matches(name)) {
    return explain ? "name " + name + " does not match " + t.match.text() : "-";
  }
  if (!t.reason.empty() && !t.reason.Matches(s.reason())) {
    return explain ? "reason " + s.reason() + " does not match " + t.reason.text() : "-";
  }
  for (const auto& [key, pattern] : t.labels) {
    const std::string* v = Label(e, key);
    if (!v || !pattern.Matches(*v)) {
      return explain ? "label " + key + (v ? " " + *v + " does not match " + pattern.text() : " missing") : "-";
    }
  }
  switch (t.type) {
    case Trigger::Type::kMetric: {
      if (!s.has_value()) {
        return "signal carries no value";
      }
      if (!Compare(s.value(), t.op, t.threshold)) {
        return "value " + std::to_string(s.value()) + " not " + CompareOpString(t.op) + " " +
               std::to_string(t.threshold);
      }
      if (t.hold.count() > 0) {
        int64_t since = s.has_starts_at() ? ToUnixMillis(FromTimestamp(s.starts_at()))
                                          : ToUnixMillis(FromTimestamp(e.occurred_at()));
        if (now_ms - since < t.hold.count()) {
          return "condition held " + std::to_string((now_ms - since) / 1000) + "s, needs " +
                 std::to_string(t.hold.count() / 1000) + "s";
        }
      }
      return "";
    }
    case Trigger::Type::kHealthCheck: {
      if (t.failure_threshold > 0) {
        double failures = s.has_value() ? s.value() : 0;
        if (const std::string* f = Label(e, "failures")) {
          failures = std::atof(f->c_str());
        }
        if (failures < t.failure_threshold) {
          return "failures " + std::to_string(static_cast<int>(failures)) + " below threshold " +
                 std::to_string(t.failure_threshold);
        }
      }
      return "";
    }
    default:
      return "";
  }
}

// The trigger's fact conditions against Signal.facts: "" when every one
// holds (and `diagnosis` says which did), else why not.
std::string MatchFacts(const Trigger& t, const v1::Event& e, int64_t now_ms, std::string* diagnosis) {
  const auto& facts = e.signal().facts();
  for (const auto& [key, pattern] : t.facts) {
    auto it = facts.find(key);
    if (it == facts.end()) {
      return "fact " + key + " unknown (no facts from the cluster for " + TargetString(e.target()) + ")";
    }
    if (!pattern.Matches(it->second)) {
      return "fact " + key + " is " + it->second + ", not " + pattern.text();
    }
    *diagnosis += (diagnosis->empty() ? "" : ", ") + key + " " + it->second;
  }
  if (t.image_changed_within.count() > 0) {
    auto it = facts.find("imageChangedAt");
    TimePoint at;
    if (it == facts.end() || !ParseRfc3339(it->second, &at)) {
      return "no image change known for " + TargetString(e.target());
    }
    int64_t age = now_ms - ToUnixMillis(at);
    if (age > t.image_changed_within.count()) {
      return "image changed " + std::to_string(age / 1000) + "s ago, not within " +
             std::to_string(t.image_changed_within.count() / 1000) + "s";
    }
    auto prev = facts.find("previousImage");
    auto img = facts.find("image");
    *diagnosis += (diagnosis->empty() ? "" : ", ") + std::string("image changed ") +
                  std::to_string(std::max<int64_t>(age, 0) / 1000) + "s ago" +
                  (prev != facts.end() ? " from " + prev->second : "") +
                  (img != facts.end() ? " to " + img->second : "");
  }
  return "";
}

}  // namespace

MatchResult MatchPolicy(const Policy& p, const v1::Event& signal, int64_t now_ms, bool explain) {
  MatchResult r;
  if (std::string why = MatchSelector(p.selector, signal, explain); !why.empty()) {
    r.reason = why;
    return r;
  }
  std::string first;
  for (const auto& t : p.triggers) {
    std::string why = MatchTrigger(t, signal, now_ms, explain);
    std::string diagnosis;
    if (why.empty()) {
      why = MatchFacts(t, signal, now_ms, &diagnosis);
    }
    if (why.empty()) {
      // The most specific matching trigger speaks for the policy.
      if (!r.matched || t.Specificity() > r.specificity) {
        r.matched = true;
        r.trigger = &t;
        r.reason = "trigger " + t.name + " matched";
        r.diagnosis = diagnosis;
        r.specificity = t.Specificity();
      }
      continue;
    }
    if (first.empty() && explain) {
      first = "trigger " + t.name + ": " + why;
    }
  }
  if (!r.matched) {
    r.reason = first;
  }
  return r;
}

}  // namespace kubemend::analyzer
