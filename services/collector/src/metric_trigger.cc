#include "metric_trigger.h"

#include <cmath>
#include <set>
#include <sstream>

#include "alertmanager.h"
#include "kubemend/common/config.h"
#include "kubemend/common/ids.h"

namespace kubemend::collector {

v1::Severity ParseSeverity(const std::string& s) {
  if (s == "critical") {
    return v1::SEVERITY_CRITICAL;
  }
  if (s == "info") {
    return v1::SEVERITY_INFO;
  }
  if (s == "warning") {
    return v1::SEVERITY_WARNING;
  }
  return v1::SEVERITY_UNSPECIFIED;
}

absl::StatusOr<std::vector<TriggerSpec>> ParseTriggers(const YAML::Node& node, const std::string& where) {
  std::vector<TriggerSpec> out;
  if (!node || node.IsNull()) {
    return out;
  }
  if (!node.IsSequence()) {
    return absl::InvalidArgumentError(where + ": must be a list of triggers");
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& n = node[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    auto bad = [&](const std::string& key, const std::string& why) {
      return absl::InvalidArgumentError(at + "." + key + ": " + why);
    };
    if (!n.IsMap()) {
      return absl::InvalidArgumentError(at + ": must be a map");
    }
    for (auto it = n.begin(); it != n.end(); ++it) {
      static const std::set<std::string> kKeys{"name", "query", "op", "threshold", "for", "severity", "summary"};
      std::string k = it->first.as<std::string>();
      if (kKeys.count(k) == 0) {
        return bad(k, "unknown key (expected name, query, op, threshold, for, severity, summary)");
      }
    }
    TriggerSpec t;
    try {
      t.name = n["name"] ? n["name"].as<std::string>() : "";
      t.query = n["query"] ? n["query"].as<std::string>() : "";
      if (t.name.empty()) {
        return bad("name", "required");
      }
      if (t.query.empty()) {
        return bad("query", "required (a PromQL instant query)");
      }
      if (!n["threshold"]) {
        return bad("threshold", "required, e.g. \"> 0.9\" or a number with op");
      }
      std::string op = n["op"] ? n["op"].as<std::string>() : "";
      // "> 1Gi"-style: operator first, then the number.
      std::string th_op;
      std::string th;
      SplitCondition(n["threshold"].as<std::string>(), &th_op, &th);
      if (!th_op.empty()) {
        if (!op.empty()) {
          return bad("op", "given twice (in op and in threshold)");
        }
        op = th_op;
      }
      if (op.empty()) {
        op = ">";
      }
      if (!ParseCompareOp(op, &t.op)) {
        return bad("op", std::string("must be one of ") + CompareOpChoices() + ", got \"" + op + "\"");
      }
      char* end = nullptr;
      t.threshold = strtod(th.c_str(), &end);
      if (th.empty() || *end != '\0') {
        return bad("threshold", "\"" + th + "\" is not a number");
      }
      if (n["for"]) {
        if (auto st = ParseDuration(n["for"].as<std::string>(), &t.for_duration); !st.ok()) {
          return bad("for", std::string(st.message()));
        }
      }
      if (n["severity"]) {
        t.severity = ParseSeverity(n["severity"].as<std::string>());
        if (t.severity == v1::SEVERITY_UNSPECIFIED) {
          return bad("severity", "must be info, warning or critical");
        }
      }
      t.summary = n["summary"] ? n["summary"].as<std::string>() : "";
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(at + ": " + e.what());
    }
    out.push_back(std::move(t));
  }
  return out;
}

TriggerEvaluator::TriggerEvaluator(TriggerSpec spec, std::string cluster, ProducerIdentity who, const Clock& clock,
                                   Millis round)
    : spec_(std::move(spec)), cluster_(std::move(cluster)), who_(std::move(who)), clock_(clock), round_(round) {
  if (spec_.fingerprint_prefix.empty()) {
    spec_.fingerprint_prefix = "prom/" + spec_.name;
  }
}

v1::Event TriggerEvaluator::Build(const SeriesState& s, const std::string& fingerprint, v1::SignalStatus status) const {
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_SIGNAL, who_, clock_);
  e.set_event_id(DerivedUuid(fingerprint, std::string(status == v1::SIGNAL_STATUS_RESOLVED ? "signal/resolved/"
                                                                                            : "signal/firing/") +
                                              std::to_string(ToUnixMillis(s.pending_since))));
  e.set_incident_id(s.incident_id);
  *e.mutable_target() = s.target;
  v1::Signal* sig = e.mutable_signal();
  sig->set_source(spec_.source);
  sig->set_name(spec_.name);
  sig->set_fingerprint(fingerprint);
  sig->set_status(status);
  sig->set_severity(spec_.severity);
  sig->set_has_value(true);
  sig->set_value(s.last_value);
  sig->set_threshold(spec_.threshold);
  for (const auto& [k, v] : s.labels) {
    (*sig->mutable_labels())[k] = v;
  }
  for (const auto& [k, v] : spec_.labels) {
    (*sig->mutable_labels())[k] = v;
  }
  (*sig->mutable_annotations())["query"] = spec_.query;
  std::ostringstream line;
  line << (status == v1::SIGNAL_STATUS_RESOLVED ? "Resolved: " : "")
       << (spec_.summary.empty() ? spec_.name : spec_.summary) << " on " << TargetString(s.target) << ": value "
       << s.last_value << (status == v1::SIGNAL_STATUS_FIRING ? " " : " no longer ")
       << CompareOpString(spec_.op) << " " << spec_.threshold;
  sig->set_summary(line.str());
  if (status == v1::SIGNAL_STATUS_FIRING) {
    SetTimestamp(sig->mutable_starts_at(), s.pending_since);
  } else {
    SetTimestamp(sig->mutable_ends_at(), clock_.Now());
  }
  return e;
}

std::vector<v1::Event> TriggerEvaluator::Unknown() {
  std::vector<v1::Event> out;
  if (unknown_) {
    return out;
  }
  TimePoint now = clock_.Now();
  if (round_.count() > 0) {
    const int64_t ms = ToUnixMillis(now);
    now = TimePoint(Millis(ms - ms % round_.count()));
  }
  SeriesState st;
  st.pending_since = now;
  st.firing = true;
  st.target = spec_.target ? *spec_.target : v1::Target();
  st.target.set_cluster(cluster_);
  const std::string fp = (spec_.fingerprint_prefix.empty() ? "prom/" + spec_.name : spec_.fingerprint_prefix) +
                         "/unknown";
  st.incident_id = DerivedUuid(fp, "incident/" + std::to_string(ToUnixMillis(now)));
  unknown_ = st;
  v1::Event e = Build(st, fp, v1::SIGNAL_STATUS_FIRING);
  v1::Signal* sig = e.mutable_signal();
  sig->set_name(spec_.name + "Unknown");
  sig->set_has_value(false);
  sig->clear_value();
  sig->set_severity(v1::SEVERITY_WARNING);
  (*sig->mutable_labels())["cost"] = "unknown";
  sig->set_summary(spec_.name + " on " + TargetString(st.target) + ": the value is unknown, not 0: " +
                   spec_.unknown_when_empty);
  out.push_back(std::move(e));
  return out;
}

std::vector<v1::Event> TriggerEvaluator::Evaluate(const std::vector<PromSample>& samples) {
  std::vector<v1::Event> out;
  if (unknown_ && !samples.empty()) {  // known again
    const std::string fp = (spec_.fingerprint_prefix.empty() ? "prom/" + spec_.name : spec_.fingerprint_prefix) +
                           "/unknown";
    v1::Event e = Build(*unknown_, fp, v1::SIGNAL_STATUS_RESOLVED);
    e.mutable_signal()->set_name(spec_.name + "Unknown");
    e.mutable_signal()->set_has_value(false);
    e.mutable_signal()->clear_value();
    (*e.mutable_signal()->mutable_labels())["cost"] = "unknown";
    e.mutable_signal()->set_summary("Resolved: " + (spec_.summary.empty() ? spec_.name : spec_.summary) +
                                    " is known again");
    out.push_back(std::move(e));
    unknown_.reset();
  }
  TimePoint now = clock_.Now();
  if (round_.count() > 0) {
    const int64_t ms = ToUnixMillis(now);
    now = TimePoint(Millis(ms - ms % round_.count()));
  }
  std::set<std::string> seen;
  for (const auto& sample : samples) {
    std::map<std::string, std::string> labels = sample.labels;
    labels.erase("__name__");
    std::string key;
    for (const auto& [k, v] : labels) {
      key += k + "=" + v + "\n";
    }
    const std::string fp = spec_.fingerprint_prefix + (labels.empty() ? "" : "/" + Sha256Hex(key).substr(0, 16));
    seen.insert(fp);
    const bool holds = Compare(sample.value, spec_.op, spec_.threshold);
    auto it = series_.find(fp);
    if (!holds) {
      if (it != series_.end()) {
        it->second.last_value = sample.value;
        if (it->second.firing) {
          out.push_back(Build(it->second, fp, v1::SIGNAL_STATUS_RESOLVED));
        }
        series_.erase(it);
      }
      continue;
    }
    if (it == series_.end()) {
      SeriesState s;
      s.pending_since = now;
      s.labels = labels;
      s.target = spec_.target ? *spec_.target : TargetFromLabels(labels, cluster_);
      if (spec_.target) {
        s.target.set_cluster(cluster_);
      }
      it = series_.emplace(fp, std::move(s)).first;
    }
    it->second.last_value = sample.value;
    if (!it->second.firing && now - it->second.pending_since >= spec_.for_duration) {
      it->second.firing = true;
      it->second.incident_id = DerivedUuid(fp, "incident/" + std::to_string(ToUnixMillis(it->second.pending_since)));
      out.push_back(Build(it->second, fp, v1::SIGNAL_STATUS_FIRING));
    }
  }
  for (auto it = series_.begin(); it != series_.end();) {
    if (seen.count(it->first) == 0) {
      if (it->second.firing) {
        out.push_back(Build(it->second, it->first, v1::SIGNAL_STATUS_RESOLVED));
      }
      it = series_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

}  // namespace kubemend::collector
