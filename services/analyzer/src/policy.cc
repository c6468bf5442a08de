#include "policy.h"

#include "policy_parse.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <set>
#include <vector>

#include "kubemend/common/config.h"
#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"

namespace kubemend::analyzer {

std::string PolicyError::ToString() const {
  std::string s = origin + ": document " + std::to_string(document);
  if (!path.empty()) {
    s += ": " + path;
  }
  return s + ": " + message;
}

// ------------------------------------------------------------- NamePattern

namespace {

// std::regex (libstdc++) compiles a counted repetition by copying its atom's
// NFA states, up to 100,000 states (~5 MB and ~0.2 s) per pattern: a policy
// file of 1 KB with 60 names like "/a{99990}/" took 300 MB and 12 s to load,
// and the policy fuzzer ran out of memory on such input. This estimates the
// states a pattern compiles to (atoms, groups, repetitions multiplied
// through nesting), saturating at `limit`.
size_t RegexStates(const std::string& re, size_t limit) {
  struct Frame {
    size_t total = 0;  // states of this group so far
    size_t last = 0;   // states of the last atom (what a quantifier repeats)
  };
  auto add = [limit](size_t a, size_t b) { return std::min(limit, a + b); };
  auto mul = [limit](size_t a, size_t b) { return b != 0 && a > limit / b ? limit : std::min(limit, a * b); };
  std::vector<Frame> st(1);
  for (size_t i = 0; i < re.size(); ++i) {
    Frame& f = st.back();
    const char c = re[i];
    if (c == '\\') {
      ++i;
      f.total = add(f.total, 1), f.last = 1;
    } else if (c == '[') {  // a class is one state, whatever it holds
      size_t j = i + 1;
      j += j < re.size() && re[j] == '^';
      j += j < re.size() && re[j] == ']';
      while (j < re.size() && re[j] != ']') {
        j += re[j] == '\\' ? 2 : 1;
      }
      i = j;
      f.total = add(f.total, 1), f.last = 1;
    } else if (c == '(') {
      st.emplace_back();
    } else if (c == ')' && st.size() > 1) {
      size_t g = add(st.back().total, 2);
      st.pop_back();
      st.back().total = add(st.back().total, g), st.back().last = g;
    } else if (c == '{' && i + 1 < re.size() && std::isdigit(static_cast<unsigned char>(re[i + 1]))) {
      size_t j = i + 1, n = 0, m = 0;
      bool comma = false, has_m = false;
      for (; j < re.size() && std::isdigit(static_cast<unsigned char>(re[j])); ++j) {
        n = std::min<size_t>(limit, n * 10 + static_cast<size_t>(re[j] - '0'));
      }
      if (j < re.size() && re[j] == ',') {
        comma = true;
        for (++j; j < re.size() && std::isdigit(static_cast<unsigned char>(re[j])); ++j) {
          m = std::min<size_t>(limit, m * 10 + static_cast<size_t>(re[j] - '0'));
          has_m = true;
        }
      }
      if (j >= re.size() || re[j] != '}') {
        f.total = add(f.total, 1), f.last = 1;  // a literal '{'
        continue;
      }
      size_t reps = has_m ? std::max(n, m) : comma ? n + 1 : n;
      size_t grown = mul(f.last, std::max<size_t>(reps, 1));
      f.total = add(f.total, grown - std::min(grown, f.last) + 1);
      f.last = grown;
      i = j;
    } else if (c == '*' || c == '+' || c == '?' || c == '|') {
      f.total = add(f.total, 1);
    } else {
      f.total = add(f.total, 1), f.last = 1;
    }
    if (st.back().total >= limit) {
      return limit;
    }
  }
  size_t total = 0;
  for (const auto& f : st) {
    total = add(total, f.total);
  }
  return total;
}

}  // namespace

absl::Status NamePattern::Parse(const std::string& text, NamePattern* out) {
  out->text_ = text;
  out->re_.reset();
  if (text.empty() || text == "*") {
    out->kind_ = Kind::kAny;
  } else if (text.size() >= 2 && text.front() == '/' && text.back() == '/') {
    const std::string re = text.substr(1, text.size() - 2);
    if (re.size() > kMaxRegexLength) {
      return absl::InvalidArgumentError("regular expression " + text.substr(0, 40) + "... is " +
                                        std::to_string(re.size()) + " characters long; the limit is " +
                                        std::to_string(kMaxRegexLength));
    }
    if (RegexStates(re, kMaxRegexStates) >= kMaxRegexStates) {
      return absl::InvalidArgumentError("regular expression " + text + " is too large once compiled (over " +
                                        std::to_string(kMaxRegexStates) +
                                        " states; a counted repetition like {1000} copies its atom): "
                                        "use a smaller count, + or *");
    }
    try {
      out->re_ = std::make_shared<const std::regex>(re,
                                                    std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      return absl::InvalidArgumentError("bad regular expression " + text + ": " + e.what());
    }
    out->kind_ = Kind::kRegex;
  } else if (text.find_first_of("*?") != std::string::npos) {
    out->kind_ = Kind::kGlob;
  } else {
    out->kind_ = Kind::kExact;
  }
  return absl::OkStatus();
}

namespace {
bool GlobMatch(const char* p, const char* s) {
  // Iterative glob with backtracking on the last star.
  const char* star = nullptr;
  const char* ss = nullptr;
  while (*s) {
    if (*p == '?' || *p == *s) {
      ++p;
      ++s;
    } else if (*p == '*') {
      star = p++;
      ss = s;
    } else if (star) {
      p = star + 1;
      s = ++ss;
    } else {
      return false;
    }
  }
  while (*p == '*') {
    ++p;
  }
  return *p == '\0';
}
}  // namespace

bool NamePattern::Matches(const std::string& s) const {
  switch (kind_) {
    case Kind::kAny:
      return true;
    case Kind::kExact:
      return s == text_;
    case Kind::kGlob:
      return GlobMatch(text_.c_str(), s.c_str());
    case Kind::kRegex:
      return std::regex_search(s, *re_);
  }
  return false;
}

// ------------------------------------------------------------- parsing

namespace {

using namespace policy_parse;  // Ctx, At and the shape parsers

struct Shape {
  const char* kind;
  std::vector<std::string> api_versions;
  void (*parse)(Ctx&, const YAML::Node&, Policy*);
};

const std::vector<Shape>& Shapes() {
  static const std::vector<Shape> k = {
      {"HealingPolicy", {"kubemend.io/v1alpha1", "kubeskippy.io/v1alpha1"}, ParseHealingPolicy},
      // The seed shapes under their operators' group, and under ours: the
      // CRDs of deploy/k8s serve them as kubemend.io/v1alpha1.
      {"AnomalyAction", {"aiops.prophet.io/v1alpha1", "kubemend.io/v1alpha1"}, ParseAnomalyAction},
      {"HealthCheck", {"aiops.prophet.io/v1alpha1", "kubemend.io/v1alpha1"}, ParseHealthCheck},
      {"SLOViolation", {"aiops.prophet.io/v1alpha1", "kubemend.io/v1alpha1"}, ParseSloViolation},
      {"SLOEnforcer", {"aiops.prophet.io/v1alpha1", "kubemend.io/v1alpha1"}, ParseSloViolation},
      {"BudgetGuard", {"aiops.prophet.io/v1alpha1", "kubemend.io/v1alpha1"}, ParseBudgetGuard},
      {"CostAlert", {"aiops.prophet.io/v1alpha1", "kubemend.io/v1alpha1"}, ParseCostAlert},
      {"PredictiveScale", {"aiops.prophet.io/v1alpha1", "kubemend.io/v1alpha1"}, ParsePredictiveScale},
  };
  return k;
}

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  for (char ch : s) {
    if (!(std::islower(static_cast<unsigned char>(ch)) || std::isdigit(static_cast<unsigned char>(ch)) ||
          ch == '-' || ch == '.')) {
      return false;
    }
  }
  return std::isalnum(static_cast<unsigned char>(s.front())) &&
         std::isalnum(static_cast<unsigned char>(s.back()));
}

ParseResult ParsePolicyNodeUnguarded(const YAML::Node& doc, const std::string& origin, int index,
                                     const PolicyDefaults& defaults) {
  ParseResult out;
  Ctx c(origin, index, &out.errors);
  if (!doc.IsMap()) {
    c.Error("", "a policy document must be a mapping with apiVersion, kind, metadata, spec");
    return out;
  }
  c.Keys(doc, "", {"apiVersion", "kind", "metadata", "spec", "status"});
  std::string api, kind;
  if (!At(doc, "apiVersion") || !c.Str(At(doc, "apiVersion"), "apiVersion", &api)) {
    c.Error("apiVersion", "required (kubemend.io/v1alpha1)");
  }
  if (!At(doc, "kind") || !c.Str(At(doc, "kind"), "kind", &kind)) {
    c.Error("kind", "required (HealingPolicy)");
    return out;
  }
  const Shape* shape = nullptr;
  std::string kinds;
  for (const auto& s : Shapes()) {
    kinds += (kinds.empty() ? "" : ", ") + std::string(s.kind);
    if (kind == s.kind) {
      shape = &s;
    }
  }
  if (!shape) {
    c.Error("kind", "unknown kind " + kind + " (known: " + kinds + ")");
    return out;
  }
  if (std::find(shape->api_versions.begin(), shape->api_versions.end(), api) ==
      shape->api_versions.end()) {
    c.Error("apiVersion", kind + " must have apiVersion " + shape->api_versions.front() +
                              ", not " + api);
  }
  Policy p;
  p.shape = kind;
  p.cooldown = defaults.cooldown;
  p.max_actions_per_hour = defaults.max_actions_per_hour;
  p.loop_max_attempts = defaults.loop_max_attempts;
  p.loop_window = defaults.loop_window;
  p.escalation_channel = defaults.escalation_channel;
  const auto& md = At(doc, "metadata");
  if (!md || !md.IsMap()) {
    c.Error("metadata", "required: {name: ...}");
    return out;
  }
  if (!At(md, "name") || !c.Str(At(md, "name"), "metadata.name", &p.name) || !ValidName(p.name)) {
    c.Error("metadata.name", "required: lowercase letters, digits, '-' and '.'");
  }
  if (At(md, "namespace")) {
    c.Str(At(md, "namespace"), "metadata.namespace", &p.namespace_);
  }
  if (!At(doc, "spec") || !At(doc, "spec").IsMap()) {
    c.Error("spec", "required");
    return out;
  }
  shape->parse(c, At(doc, "spec"), &p);
  if (c.failed()) {
    return out;
  }
  // A policy needs a target to act on: the incident's subject or a fixed one.
  for (size_t i = 0; i < p.actions.size(); ++i) {
    if (p.actions[i].on == ActOn::kHpa && p.fixed_target &&
        p.fixed_target->kind() != "HorizontalPodAutoscaler") {
      c.Error("spec.actions[" + std::to_string(i) + "].on",
              "hpa needs spec.target to be a HorizontalPodAutoscaler");
    }
  }
  if (c.failed()) {
    return out;
  }
  YAML::Emitter em;
  em << doc;
  p.ref.set_name(p.namespace_.empty() ? p.name : p.namespace_ + "/" + p.name);
  p.ref.set_version(Sha256Hex(em.c_str()).substr(0, 16));
  p.ref.set_source(origin + "#" + std::to_string(index));
  out.policies.push_back(std::move(p));
  return out;
}

// yaml-cpp 0.7 (Debian 12) loops forever, allocating, when a line outside a
// flow collection starts with ',' (jbeder/yaml-cpp#1040, still open; found by
// the policy fuzzer: ",\x87`\x04" and "- 1\n, period: 1"). A plain scalar
// cannot start with ',' in YAML, so refuse such text before the parser sees
// it; the price is that a block scalar line starting with ',' must be
// quoted. "" when the text is safe to parse.
std::string YamlCppHang(const std::string& text) {
  int depth = 0;  // open [ and { (quotes and comments skipped, roughly)
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) {
      end = text.size();
    }
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    size_t i = line.find_first_not_of(" \t\r");
    if (i == std::string::npos) {
      continue;
    }
    if (line.compare(i, 3, "---") == 0 || line.compare(i, 3, "...") == 0) {
      i = line.find_first_not_of(" \t\r", i + 3);
      if (i == std::string::npos) {
        continue;
      }
    }
    if (line[i] == ',' && depth <= 0) {
      return "line " + std::to_string(line_no) + ": a line cannot start with ',' (quote the value)";
    }
    char quote = 0;
    char prev = 0;  // the last non-blank character before k on this line
    for (size_t k = i; k < line.size(); ++k) {
      char ch = line[k];
      if (quote) {
        quote = ch == quote ? 0 : quote;
      } else if (ch == '"' || ch == '\'') {
        quote = ch;
      } else if (ch == '#' && (k == 0 || line[k - 1] == ' ' || line[k - 1] == '\t')) {
        break;
      } else if (ch == '[' || ch == '{') {
        // Opens a flow collection only where a value starts; inside a plain
        // scalar ("- a[") it is text (the fuzzer's ",\n"-after-"a[" hang).
        if (prev == 0 || std::strchr(":-,[{?", prev) != nullptr) {
          ++depth;
        }
      } else if (ch == ']' || ch == '}') {
        --depth;
      }
      if (ch != ' ' && ch != '\t') {
        prev = ch;
      }
    }
  }
  return "";
}

}  // namespace

const char kParserGap[] = "could not be read";

ParseResult ParsePolicyNode(const YAML::Node& doc, const std::string& origin, int index,
                            const PolicyDefaults& defaults) {
  // The parser checks every shape it reads, so this never fires; if a YAML
  // shape slips through anyway, the document is refused (never a crash).
  // The fuzz target treats this message as a bug.
  try {
    return ParsePolicyNodeUnguarded(doc, origin, index, defaults);
  } catch (const std::exception& e) {
    ParseResult out;
    out.errors.push_back({origin, index, "", std::string(kParserGap) + ": " + e.what()});
    return out;
  }
}

ParseResult ParsePolicies(const std::string& text, const std::string& origin,
                          const PolicyDefaults& defaults) {
  ParseResult out;
  if (text.size() > kMaxPolicyText) {
    out.errors.push_back({origin, 0, "", "is " + std::to_string(text.size()) + " bytes; the limit is " +
                                             std::to_string(kMaxPolicyText) + " (split it into several files)"});
    return out;
  }
  if (std::string why = YamlCppHang(text); !why.empty()) {
    out.errors.push_back({origin, 0, "", "not valid YAML: " + why});
    return out;
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    out.errors.push_back({origin, 0, "", std::string("not valid YAML: ") + e.what()});
    return out;
  }
  std::set<std::string> names;
  int index = 0;
  for (const auto& d : docs) {
    if (d.IsNull()) {
      ++index;
      continue;  // an empty document between separators
    }
    ParseResult r = ParsePolicyNode(d, origin, index, defaults);
    out.errors.insert(out.errors.end(), r.errors.begin(), r.errors.end());
    for (auto& p : r.policies) {
      if (!names.insert(p.ref.name()).second) {
        out.errors.push_back({origin, index, "metadata.name",
                              "policy " + p.ref.name() + " is defined twice in this file"});
      }
      out.policies.push_back(std::move(p));
    }
    ++index;
  }
  if (!out.errors.empty()) {
    out.policies.clear();  // rejected whole: never half-applied
  }
  return out;
}

}  // namespace kubemend::analyzer
