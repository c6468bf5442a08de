#include "policy_cr.h"

#include "kubemend/common/events.h"

namespace kubemend::analyzer {

namespace {

constexpr size_t kMaxMessage = 1024;

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t Int(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// The store's messages start with "<origin>: document 0: "; on the object
// itself that is noise.
std::string ForObject(std::string msg, const std::string& origin) {
  for (const std::string& prefix : {origin + ": document 0: ", origin + ": document 0"}) {
    for (size_t at; (at = msg.find(prefix)) != std::string::npos;) {
      msg.erase(at, prefix.size());
    }
  }
  if (msg.size() > kMaxMessage) {
    msg = msg.substr(0, kMaxMessage - 3) + "...";
  }
  return msg;
}

// dry_run -> DryRun: the trail's names as Kubernetes spells status values.
std::string Camel(const std::string& snake) {
  std::string out;
  for (size_t i = 0; i < snake.size(); ++i) {
    if (snake[i] != '_') {
      out += (i == 0 || snake[i - 1] == '_') ? static_cast<char>(std::toupper(static_cast<unsigned char>(snake[i])))
                                              : snake[i];
    }
  }
  return out;
}

}  // namespace

const std::vector<PolicyKind>& PolicyKinds() {
  static const std::vector<PolicyKind> k = {
      {"HealingPolicy", "healingpolicies"}, {"AnomalyAction", "anomalyactions"},
      {"HealthCheck", "healthchecks"},      {"SLOViolation", "sloviolations"},
      {"BudgetGuard", "budgetguards"},      {"CostAlert", "costalerts"},
      {"PredictiveScale", "predictivescales"},
  };
  return k;
}

std::string CrKey::Origin() const { return std::string(kKubeOriginPrefix) + kind + "/" + ns + "/" + name; }

std::optional<CrKey> CrKey::FromSource(const std::string& source) {
  const std::string prefix = kKubeOriginPrefix;
  if (source.rfind(prefix, 0) != 0) {
    return std::nullopt;
  }
  std::string rest = source.substr(prefix.size());
  rest = rest.substr(0, rest.find('#'));
  size_t a = rest.find('/');
  size_t b = a == std::string::npos ? a : rest.find('/', a + 1);
  if (b == std::string::npos) {
    return std::nullopt;
  }
  CrKey k{rest.substr(0, a), rest.substr(a + 1, b - a - 1), rest.substr(b + 1)};
  if (k.kind.empty() || k.name.empty()) {
    return std::nullopt;
  }
  return k;
}

PolicyUnit UnitFromObject(const nlohmann::json& object, const std::set<std::string>& cluster_namespaces) {
  const nlohmann::json md = object.value("metadata", nlohmann::json::object());
  CrKey key{Str(object, "kind"), Str(md, "namespace"), Str(md, "name")};
  nlohmann::json doc = {{"apiVersion", object.value("apiVersion", "")},
                        {"kind", key.kind},
                        {"metadata", {{"name", key.name}, {"namespace", key.ns}}}};
  if (object.contains("spec")) {
    doc["spec"] = object["spec"];
  }
  PolicyUnit u{key.Origin(), doc.dump(), ""};
  if (!cluster_namespaces.count(key.ns)) {
    u.confine_namespace = key.ns;
  }
  return u;
}

std::string LastOutcomeOf(v1::OutcomeStatus s) { return Camel(OutcomeStatusName(s)); }
std::string LastOutcomeOf(v1::Verdict v) { return Camel(VerdictName(v)); }

// ------------------------------------------------------------- the book

void PolicyStatusBook::Observe(const CrKey& key, const nlohmann::json& object, const std::string& unit_hash) {
  std::lock_guard<std::mutex> l(mu_);
  auto [it, fresh] = entries_.try_emplace(key);
  Entry& e = it->second;
  const nlohmann::json md = object.value("metadata", nlohmann::json::object());
  e.generation = Int(md, "generation");
  e.unit_hash = unit_hash;
  if (!fresh) {
    return;
  }
  const nlohmann::json st = object.value("status", nlohmann::json::object());
  e.written = st.is_object() ? st : nlohmann::json::object();
  e.remediation_count = Int(e.written, "remediationCount");
  e.last_triggered = Str(e.written, "lastTriggered");
  e.last_outcome = Str(e.written, "lastOutcome");
  e.last_proposal = Str(e.written, "lastProposal");
  e.version = Str(e.written, "version");
  e.observed_generation = Int(e.written, "observedGeneration");
  auto conds = e.written.find("conditions");
  if (conds != e.written.end() && conds->is_array()) {
    for (const auto& c : *conds) {
      if (!c.is_object()) {
        continue;
      }
      Condition* into = Str(c, "type") == "Accepted" ? &e.accepted : Str(c, "type") == "Ready" ? &e.ready : nullptr;
      if (into != nullptr) {
        *into = {Str(c, "status"), Str(c, "reason"), Str(c, "message"), Str(c, "lastTransitionTime"),
                 Int(c, "observedGeneration")};
      }
    }
  }
}

void PolicyStatusBook::Forget(const CrKey& key) {
  std::lock_guard<std::mutex> l(mu_);
  entries_.erase(key);
}

void PolicyStatusBook::Retain(const std::string& kind, const std::set<CrKey>& present) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = it->first.kind == kind && !present.count(it->first) ? entries_.erase(it) : std::next(it);
  }
}

void PolicyStatusBook::SetCondition(Condition* c, const std::string& status, const std::string& reason,
                                    const std::string& message, int64_t generation, const std::string& now) {
  if (c->status != status || c->since.empty()) {
    c->since = now;
  }
  c->status = status;
  c->reason = reason;
  c->message = message;
  c->generation = generation;
}

void PolicyStatusBook::OnVerdicts(const std::map<std::string, OriginVerdict>& verdicts, TimePoint now) {
  const std::string ts = FormatRfc3339(now);
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [key, e] : entries_) {
    const std::string origin = key.Origin();
    auto it = verdicts.find(origin);
    if (it == verdicts.end() || it->second.text_hash != e.unit_hash) {
      continue;  // the store has not judged this text yet
    }
    const OriginVerdict& v = it->second;
    e.judged = true;
    e.observed_generation = e.generation;
    if (v.accepted) {
      SetCondition(&e.accepted, "True", "Valid", "the analyzer accepted this policy", e.generation, ts);
    } else {
      SetCondition(&e.accepted, "False", v.reason, ForObject(v.message, origin), e.generation, ts);
    }
    if (!v.active.empty()) {
      e.version = v.active.front().version();
      SetCondition(&e.ready, "True", "InForce",
                   v.accepted ? "in force as " + v.active.front().name() + " version " + e.version
                              : "the last accepted version " + e.version +
                                    " stays in force until this generation is fixed",
                   e.generation, ts);
    } else {
      e.version.clear();
      SetCondition(&e.ready, "False", v.reason == "NameConflict" ? "NameConflict" : "NotInForce",
                   "no version of this policy is in force", e.generation, ts);
    }
  }
}

void PolicyStatusBook::Remember(const std::string& proposal_id, const CrKey& key) {
  if (proposals_.emplace(proposal_id, key).second) {
    proposal_order_.push_back(proposal_id);
  }
  while (proposal_order_.size() > max_proposals_) {
    proposals_.erase(proposal_order_.front());
    proposal_order_.pop_front();
  }
}

void PolicyStatusBook::OnProposal(const v1::Event& proposal, TimePoint now) {
  auto key = CrKey::FromSource(proposal.proposal().policy().source());
  if (!key) {
    return;
  }
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(*key);
  if (it == entries_.end()) {
    return;
  }
  Entry& e = it->second;
  ++e.remediation_count;
  e.last_triggered = FormatRfc3339(now);
  e.last_proposal = proposal.event_id();
  e.last_outcome = "Proposed";
  Remember(proposal.event_id(), *key);
}

void PolicyStatusBook::OnDecision(const v1::Event& decision) {
  std::lock_guard<std::mutex> l(mu_);
  auto p = proposals_.find(decision.decision().proposal_id());
  if (p == proposals_.end()) {
    return;
  }
  auto it = entries_.find(p->second);
  if (it != entries_.end() && it->second.last_proposal == p->first) {
    it->second.last_outcome = LastOutcomeOf(decision.decision().verdict());
  }
}

void PolicyStatusBook::OnOutcome(const v1::Event& outcome) {
  std::lock_guard<std::mutex> l(mu_);
  auto p = proposals_.find(outcome.outcome().proposal_id());
  if (p == proposals_.end()) {
    return;
  }
  auto it = entries_.find(p->second);
  if (it != entries_.end() && it->second.last_proposal == p->first) {
    it->second.last_outcome = LastOutcomeOf(outcome.outcome().status());
  }
}

nlohmann::json PolicyStatusBook::ToJson(const Entry& e) {
  auto cond = [](const char* type, const Condition& c) {
    return nlohmann::json{{"type", type},           {"status", c.status},
                          {"reason", c.reason},     {"message", c.message},
                          {"observedGeneration", c.generation}, {"lastTransitionTime", c.since}};
  };
  nlohmann::json s = {{"observedGeneration", e.observed_generation},
                      {"conditions", {cond("Accepted", e.accepted), cond("Ready", e.ready)}},
                      {"remediationCount", e.remediation_count}};
  if (!e.version.empty()) {
    s["version"] = e.version;
  }
  if (!e.last_triggered.empty()) {
    s["lastTriggered"] = e.last_triggered;
  }
  if (!e.last_outcome.empty()) {
    s["lastOutcome"] = e.last_outcome;
  }
  if (!e.last_proposal.empty()) {
    s["lastProposal"] = e.last_proposal;
  }
  return s;
}

std::vector<PolicyStatusBook::Write> PolicyStatusBook::Pending() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Write> out;
  for (const auto& [key, e] : entries_) {
    if (!e.judged) {
      continue;
    }
    nlohmann::json s = ToJson(e);
    if (s != e.written) {
      out.push_back({key, std::move(s)});
    }
  }
  return out;
}

void PolicyStatusBook::Written(const CrKey& key, const nlohmann::json& status) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    it->second.written = status;
  }
}

size_t PolicyStatusBook::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_.size();
}

}  // namespace kubemend::analyzer
