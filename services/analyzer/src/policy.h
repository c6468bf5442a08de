#pragma once
// Healing policies: the model the analyzer decides with, the YAML parser for
// HealingPolicy documents and the seed shapes (AnomalyAction, HealthCheck,
// SLOViolation/SLOEnforcer, BudgetGuard, CostAlert, PredictiveScale), the
// matcher, and PolicyStore, which turns snapshots of policy files into a
// validated set plus the changes to audit. Pure: no I/O, no clock, no logs.
// See docs/policies.md for the format.
#include <absl/status/status.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "catalogue.h"
#include "kubemend/common/compare.h"
#include "kubemend/v1/events.pb.h"

namespace YAML {
class Node;
}

namespace kubemend::analyzer {

using Millis = std::chrono::milliseconds;

// A name pattern: exact, glob (* ?) or regular expression (written /re/).
// A regular expression is refused when longer than kMaxRegexLength or when it
// would compile to kMaxRegexStates NFA states or more (std::regex copies the
// atom of a counted repetition: "/a{99990}/" alone is ~5 MB and 0.2 s).
inline constexpr size_t kMaxRegexLength = 512;
inline constexpr size_t kMaxRegexStates = 1000;
// A policy file (or object) larger than this is refused unread.
inline constexpr size_t kMaxPolicyText = 4 << 20;
class NamePattern {
 public:
  static absl::Status Parse(const std::string& text, NamePattern* out);
  bool Matches(const std::string& s) const;
  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }

 private:
  enum class Kind { kAny, kExact, kGlob, kRegex };
  Kind kind_ = Kind::kAny;
  std::string text_;
  std::shared_ptr<const std::regex> re_;
};

struct LabelRequirement {
  std::string key;
  std::string op;  // In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;
};

struct Selector {
  std::vector<NamePattern> namespaces;  // empty: all
  std::vector<std::string> kinds;       // matches target kind or owner kind; empty: all
  std::map<std::string, std::string> match_labels;
  std::vector<LabelRequirement> match_expressions;
};

struct SloSpec {
  double target = 0.999;            // e.g. 0.999
  Millis period{30LL * 24 * 3600 * 1000};  // compliance period
  double budget_threshold = 0.1;    // act when remaining budget falls below this share
  std::string error_ratio_query;    // PromQL giving the error ratio (0..1); optional
  double burn_rate_threshold = 0;   // also act when the page-level burn alert fires (0: off)
};

struct ForecastSpec {
  std::string query;                // PromQL, one series
  Millis horizon{3600 * 1000};
  Millis lookback{6 * 3600 * 1000};
  Millis step{60 * 1000};
  double threshold = 0;             // absolute; or
  double threshold_percent = 0;     // increase over the current value
  double alpha = 0.5, beta = 0.3;   // Holt smoothing
};

struct Trigger {
  enum class Type { kAlert, kSignal, kMetric, kHealthCheck, kEvent, kSlo, kForecast };
  Type type = Type::kAlert;
  std::string name;                 // for reasons and diagnostics
  NamePattern match;                // alert name / signal name / check name / metric name
  NamePattern reason;               // signal or event reason
  v1::SignalSource source = v1::SIGNAL_SOURCE_UNSPECIFIED;  // UNSPECIFIED: any
  // Metric condition (type metric): the signal's value compared with threshold,
  // held for at least `hold` since the signal's starts_at.
  CompareOp op = CompareOp::kGreater;  // kubemend/common/compare.h (NaN holds nothing)
  double threshold = 0;
  Millis hold{0};
  std::string query;                // optional: the analyzer evaluates it itself
  uint32_t failure_threshold = 0;   // healthCheck: consecutive failures needed
  SloSpec slo;
  ForecastSpec forecast;
  // Diagnosis: conditions on the cluster's facts the collector attached to
  // the signal (Signal.facts; docs/signals.md). A fact the signal does not
  // carry never matches. Each condition makes the trigger more specific:
  // among the policies that match, the most specific wins.
  std::map<std::string, NamePattern> facts;  // fact name -> pattern
  // Conditions on the signal's labels (BudgetGuard: period, currency): a
  // label the signal does not carry never matches.
  std::map<std::string, NamePattern> labels;
  Millis image_changed_within{0};            // 0: no condition
  size_t Specificity() const { return facts.size() + (image_changed_within.count() > 0 ? 1 : 0); }
};

struct PolicyAction {
  v1::Action action;
  std::optional<ActOn> on;          // unset: the catalogue's default
};

struct Policy {
  std::string name;
  std::string namespace_;
  std::string shape;                // HealingPolicy, AnomalyAction, ...
  v1::PolicyRef ref;                // name, version (content hash), source
  Selector selector;
  std::vector<Trigger> triggers;
  std::vector<PolicyAction> actions;  // ordered: the next one when the previous is exhausted
  v1::Mode mode = v1::MODE_AUTOMATIC;
  bool require_approval = false;
  Millis cooldown{5 * 60 * 1000};
  uint32_t max_actions_per_hour = 10;
  int32_t priority = 0;
  uint32_t loop_max_attempts = 3;
  Millis loop_window{3600 * 1000};
  bool advice = false;              // ask the LLM adviser (when configured)
  // PredictiveScale: the ScaleWorkload step is sized from the forecast signal
  // (replicas for the forecast peak at today's load per replica).
  bool forecast_sizing = false;
  std::string escalation_channel = "default";
  std::optional<v1::Target> fixed_target;  // seed shapes name their target outright
};

struct PolicyDefaults {
  Millis cooldown{5 * 60 * 1000};
  uint32_t max_actions_per_hour = 10;
  uint32_t loop_max_attempts = 3;
  Millis loop_window{3600 * 1000};
  std::string escalation_channel = "default";
};

struct PolicyError {
  std::string origin;  // file path or CR reference
  int document = 0;    // 0-based index in a multi-document file
  std::string path;    // field path, e.g. spec.actions[1].params.percent
  std::string message;
  std::string ToString() const;
};

// Parses every document in `text`. Any error rejects the whole text: the
// returned policies are then empty.
struct ParseResult {
  std::vector<Policy> policies;
  std::vector<PolicyError> errors;
};
ParseResult ParsePolicies(const std::string& text, const std::string& origin,
                          const PolicyDefaults& defaults);
// One document already parsed as YAML (the CR watcher hands these over).
// Never throws: any shape the parser did not expect refuses the document with
// a message starting with kParserGap (a parser bug the fuzz target hunts).
extern const char kParserGap[];
ParseResult ParsePolicyNode(const YAML::Node& doc, const std::string& origin, int index,
                            const PolicyDefaults& defaults);

// ----------------------------------------------------------------- matching

// Why a signal matched (or the first reason it did not).
struct MatchResult {
  bool matched = false;
  const Trigger* trigger = nullptr;
  std::string reason;
  std::string diagnosis;   // the fact conditions that held, for the proposal
  size_t specificity = 0;  // how many fact conditions the trigger had
  std::vector<std::string> outranked;  // less specific policies that matched too (engine)
};
// `explain` = false skips building the reason of a miss (the hot path).
MatchResult MatchPolicy(const Policy& p, const v1::Event& signal, int64_t now_ms,
                        bool explain = true);

// ----------------------------------------------------------------- the store

struct PolicySet {
  std::vector<Policy> policies;  // sorted: priority descending, then name
};

struct PolicyUnit {
  std::string origin;  // file path, or "kube:<Kind>/<ns>/<name>" (policy_cr.h)
  std::string text;    // YAML (JSON is YAML)
  // Non-empty for a custom resource outside the cluster-policy namespaces:
  // its policies may only select and act on targets in this namespace
  // (ConfineToNamespace), so a namespace's users cannot heal other tenants.
  std::string confine_namespace;
};

// Origins whose name starts with this are custom resources; every other
// origin is a file. Precedence on a name held by two origins: a file beats a
// custom resource; between two of one kind the one that held it first keeps
// it, and the other is rejected until the name is free again.
inline constexpr const char kKubeOriginPrefix[] = "kube:";

// How the store judged one origin's current text (for the CR status).
struct OriginVerdict {
  std::string text_hash;   // of the text judged (PolicyStore::UnitHash)
  bool accepted = false;   // the current text is in force
  std::string reason;      // Valid, Invalid, NameConflict
  std::string message;     // the parser's errors, or who holds the name
  std::vector<v1::PolicyRef> active;  // in force from this origin (maybe a last good version)
};

// The errors ("path: message") of a policy confined to namespace `ns`: it may
// only select targets in `ns`, name a fixed target there, and never act on
// nodes. Empty selector namespaces become [ns].
std::vector<std::pair<std::string, std::string>> ConfineToNamespace(Policy* p, const std::string& ns);

struct PolicyChangeRecord {
  v1::PolicyRef ref;
  std::string change;  // added, updated, removed, rejected
  std::string detail;
};

// Keeps the last good policies of every origin. Apply() takes the complete
// current set of units; a unit that fails validation keeps its previous
// policies (or none) and is reported as rejected, never half-applied.
// Apply() is called from one thread; Current() from any.
class PolicyStore {
 public:
  explicit PolicyStore(PolicyDefaults defaults) : defaults_(std::move(defaults)) {}
  std::vector<PolicyChangeRecord> Apply(const std::vector<PolicyUnit>& units);
  std::shared_ptr<const PolicySet> Current() const {
    std::lock_guard<std::mutex> l(mu_);
    return current_;
  }
  size_t size() const { return Current()->policies.size(); }
  // The verdict on every origin of the last Apply, by origin.
  std::map<std::string, OriginVerdict> Verdicts() const;
  static std::string UnitHash(const PolicyUnit& u);

 private:
  struct OriginState {
    std::string text_hash;   // last seen text (good or bad)
    std::vector<Policy> good;
    std::string error;       // why the current text is not in force; empty: it is
    std::string reason = "Valid";
    bool blocked = false;    // rejected for a name another origin holds: re-checked on any change
  };
  // Parses one origin's text and applies it (or rejects it) into origins_.
  // `recheck`: a blocked origin looked at again; an unchanged rejection is
  // not reported twice. Returns whether the policy set changed.
  bool Process(const PolicyUnit& unit, const std::string& hash, bool recheck,
               std::vector<PolicyChangeRecord>* changes);
  void Publish();
  PolicyDefaults defaults_;
  std::map<std::string, OriginState> origins_;
  mutable std::mutex mu_;
  std::shared_ptr<const PolicySet> current_ = std::make_shared<PolicySet>();
  std::map<std::string, OriginVerdict> verdicts_;
};

}  // namespace kubemend::analyzer
