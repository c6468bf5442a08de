#pragma once
// Internal to the policy parser (policy*.cc): the field reader Ctx that turns
// every YAML shape mistake into a PolicyError with its field path, the shared
// field parsers, and one parse function per trigger type and policy shape.
// Not for other modules: use policy.h.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "kubemend/common/config.h"
#include "kubemend/common/events.h"
#include "policy.h"

namespace kubemend::analyzer::policy_parse {

// n[key] that never throws: yaml-cpp's const operator[] throws BadSubscript on
// a scalar (`actions: [RestartPod]` reaching an action's "type"). Anything
// that is not a mapping has no fields: the caller's Keys()/required checks
// then report the shape error with its path.
YAML::Node At(const YAML::Node& n, const std::string& key);

// Collects errors for one document; every reader checks the node's shape
// before converting it.
class Ctx {
 public:
  Ctx(std::string origin, int doc, std::vector<PolicyError>* errors)
      : origin_(std::move(origin)), doc_(doc), errors_(errors) {}
  void Error(const std::string& path, const std::string& msg) {
    errors_->push_back({origin_, doc_, path, msg});
  }
  bool failed() const { return !errors_->empty(); }

  // Rejects keys not in `allowed` (typos must not pass silently).
  void Keys(const YAML::Node& n, const std::string& path, std::initializer_list<const char*> allowed) {
    if (!n.IsMap()) {
      Error(path, "must be a mapping");
      return;
    }
    for (const auto& kv : n) {
      std::string k;
      if (!Key(kv.first, path, &k)) {
        continue;
      }
      bool ok = false;
      std::string list;
      for (const char* a : allowed) {
        ok = ok || k == a;
        list += (list.empty() ? "" : ", ") + std::string(a);
      }
      if (!ok) {
        Error(Join(path, k), "unknown field (allowed here: " + list + ")");
      }
    }
  }
  // A mapping whose other fields are not ours to check (seed-shape extras).
  bool Map(const YAML::Node& n, const std::string& path) {
    if (!n.IsMap()) {
      Error(path, "must be a mapping");
      return false;
    }
    return true;
  }
  // Mapping keys must be plain strings ({[a]: b} is valid YAML, not a policy).
  bool Key(const YAML::Node& k, const std::string& path, std::string* out) {
    if (!k.IsScalar()) {
      Error(path, "has a key that is not a string");
      return false;
    }
    *out = k.Scalar();
    return true;
  }
  static std::string Join(const std::string& path, const std::string& k) {
    return path.empty() ? k : path + "." + k;
  }
  bool Str(const YAML::Node& n, const std::string& path, std::string* out) {
    if (!n.IsScalar()) {
      Error(path, "must be a string");
      return false;
    }
    *out = n.as<std::string>();
    return true;
  }
  bool Num(const YAML::Node& n, const std::string& path, double* out) {
    std::string s;
    if (!n.IsScalar()) {
      Error(path, "must be a number");
      return false;
    }
    s = n.as<std::string>();
    bool pct = !s.empty() && s.back() == '%';
    if (pct) {
      s.pop_back();
    }
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || !std::isfinite(v)) {
      Error(path, "\"" + n.as<std::string>() + "\" is not a number");
      return false;
    }
    *out = pct ? v / 100.0 : v;
    return true;
  }
  bool Uint(const YAML::Node& n, const std::string& path, uint32_t* out, uint32_t max) {
    double v = 0;
    if (!Num(n, path, &v)) {
      return false;
    }
    if (v < 0 || v != std::floor(v) || v > max) {
      Error(path, "must be a whole number between 0 and " + std::to_string(max));
      return false;
    }
    *out = static_cast<uint32_t>(v);
    return true;
  }
  bool Bool(const YAML::Node& n, const std::string& path, bool* out) {
    std::string s;
    if (!Str(n, path, &s)) {
      return false;
    }
    if (s != "true" && s != "false") {
      Error(path, "must be true or false");
      return false;
    }
    *out = s == "true";
    return true;
  }
  // "5m", "30s", "1h" or a bare number of seconds (seeds write cooldownSeconds).
  bool Dur(const YAML::Node& n, const std::string& path, Millis* out, bool bare_is_seconds = true) {
    std::string s;
    if (!Str(n, path, &s)) {
      return false;
    }
    bool bare = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (bare && bare_is_seconds) {
      *out = Millis(std::stoll(s) * 1000);
      return true;
    }
    if (auto st = ParseDuration(s, out); !st.ok()) {
      Error(path, "\"" + s + "\" is not a duration (e.g. 30s, 5m, 1h, 30d)");
      return false;
    }
    return true;
  }
  bool Pattern(const YAML::Node& n, const std::string& path, NamePattern* out) {
    std::string s;
    if (!Str(n, path, &s)) {
      return false;
    }
    if (auto st = NamePattern::Parse(s, out); !st.ok()) {
      Error(path, std::string(st.message()));
      return false;
    }
    return true;
  }
  bool StrMap(const YAML::Node& n, const std::string& path, std::map<std::string, std::string>* out) {
    if (!n.IsMap()) {
      Error(path, "must be a mapping");
      return false;
    }
    for (const auto& kv : n) {
      std::string k;
      if (!Key(kv.first, path, &k)) {
        return false;
      }
      if (!kv.second.IsScalar()) {
        Error(Join(path, k), "must be a scalar");
        return false;
      }
      (*out)[k] = kv.second.as<std::string>();
    }
    return true;
  }
  bool StrList(const YAML::Node& n, const std::string& path, std::vector<std::string>* out) {
    if (n.IsScalar()) {
      out->push_back(n.as<std::string>());
      return true;
    }
    if (!n.IsSequence()) {
      Error(path, "must be a list of strings");
      return false;
    }
    for (size_t i = 0; i < n.size(); ++i) {
      std::string s;
      if (!Str(n[i], path + "[" + std::to_string(i) + "]", &s)) {
        return false;
      }
      out->push_back(s);
    }
    return true;
  }
  const std::string& origin() const { return origin_; }
  int doc() const { return doc_; }

 private:
  std::string origin_;
  int doc_;
  std::vector<PolicyError>* errors_;
};

bool ParseActOn(const std::string& s, ActOn* out);
bool ParseSource(const std::string& s, v1::SignalSource* out);
// "> 1Gi", ">=0.9", "< 10%": an operator and a quantity.
bool ParseCondition(Ctx& c, const YAML::Node& n, const std::string& path, CompareOp* op,
                    double* threshold);
bool ParseTargetRef(Ctx& c, const YAML::Node& n, const std::string& path, const std::string& dflt_kind,
                    const std::string& dflt_ns, v1::Target* out);
void ParseSelector(Ctx& c, const YAML::Node& n, const std::string& path, Selector* sel);
void ParseSloSpec(Ctx& c, const YAML::Node& n, const std::string& path, SloSpec* s);
void ParseForecastSpec(Ctx& c, const YAML::Node& n, const std::string& path, ForecastSpec* f);
void ParseActionNode(Ctx& c, const YAML::Node& n, const std::string& path, PolicyAction* a);
void ParseMode(Ctx& c, const YAML::Node& n, const std::string& path, v1::Mode* m);
// A catalogue action with fixed params (the seed shapes' remedies).
PolicyAction Simple(v1::ActionType t, std::map<std::string, std::string> params = {},
                    std::optional<ActOn> on = std::nullopt);

// policy_trigger.cc: one HealingPolicy trigger (alert, signal, metric, ...).
void ParseTrigger(Ctx& c, const YAML::Node& n, const std::string& path, Trigger* t);

// One function per policy shape (policy_healing.cc, policy_seeds.cc).
void ParseHealingPolicy(Ctx& c, const YAML::Node& spec, Policy* p);
void ParseAnomalyAction(Ctx& c, const YAML::Node& spec, Policy* p);
void ParseHealthCheck(Ctx& c, const YAML::Node& spec, Policy* p);
void ParseSloViolation(Ctx& c, const YAML::Node& spec, Policy* p);
void ParseBudgetGuard(Ctx& c, const YAML::Node& spec, Policy* p);
void ParseCostAlert(Ctx& c, const YAML::Node& spec, Policy* p);
void ParsePredictiveScale(Ctx& c, const YAML::Node& spec, Policy* p);

}  // namespace kubemend::analyzer::policy_parse
