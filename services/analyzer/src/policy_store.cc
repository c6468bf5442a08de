// PolicyStore: the last good policies of every origin, one name per policy
// across origins (files beat custom resources), and a verdict per origin.
#include <algorithm>

#include "kubemend/common/ids.h"
#include "policy.h"

namespace kubemend::analyzer {

namespace {

bool IsKube(const std::string& origin) { return origin.rfind(kKubeOriginPrefix, 0) == 0; }
// Lower wins a contested name.
int Rank(const std::string& origin) { return IsKube(origin) ? 1 : 0; }

std::string JoinErrors(const std::vector<PolicyError>& errors) {
  std::string detail;
  for (const auto& e : errors) {
    detail += (detail.empty() ? "" : "; ") + e.ToString();
  }
  return detail;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ConfineToNamespace(Policy* p, const std::string& ns) {
  std::vector<std::pair<std::string, std::string>> errors;
  const std::string why = "a policy in namespace " + ns + " may only act in " + ns +
                          " (cluster-wide policies belong in a cluster-policy namespace, "
                          "analyzer.kubernetes.cluster_policy_namespaces)";
  if (p->selector.namespaces.empty()) {
    NamePattern own;
    NamePattern::Parse(ns, &own).IgnoreError();
    p->selector.namespaces.push_back(own);
  }
  for (const auto& n : p->selector.namespaces) {
    if (n.text() != ns) {
      errors.emplace_back("spec.selector.namespaces", "selects \"" + n.text() + "\": " + why);
      break;
    }
  }
  if (p->fixed_target) {
    const v1::Target& t = *p->fixed_target;
    bool own_namespace = t.kind() == "Namespace" ? t.name() == ns : t.namespace_() == ns;
    if (!own_namespace) {
      errors.emplace_back("spec", "targets " + t.kind() + " " +
                                      (t.namespace_().empty() ? "" : t.namespace_() + "/") + t.name() +
                                      ": " + why);
    }
  }
  for (size_t i = 0; i < p->actions.size(); ++i) {
    const auto type = p->actions[i].action.type();
    const ActionSpec* spec = FindAction(type);
    ActOn on = p->actions[i].on.value_or(spec ? spec->default_on : ActOn::kSelf);
    if (on == ActOn::kNode || type == v1::ACTION_TYPE_CORDON_NODE || type == v1::ACTION_TYPE_UNCORDON_NODE ||
        type == v1::ACTION_TYPE_DRAIN_NODE) {
      errors.emplace_back("spec.actions[" + std::to_string(i) + "]",
                          "acts on a node, which other namespaces share: " + why);
    }
  }
  return errors;
}

std::string PolicyStore::UnitHash(const PolicyUnit& u) {
  return Sha256Hex(u.confine_namespace.empty() ? u.text : u.text + '\0' + u.confine_namespace);
}

bool PolicyStore::Process(const PolicyUnit& unit, const std::string& hash, bool recheck,
                          std::vector<PolicyChangeRecord>* changes) {
  const std::string& origin = unit.origin;
  OriginState& st = origins_[origin];
  st.text_hash = hash;
  ParseResult r = ParsePolicies(unit.text, origin, defaults_);
  if (r.errors.empty() && !unit.confine_namespace.empty()) {
    for (auto& p : r.policies) {
      for (auto& [path, msg] : ConfineToNamespace(&p, unit.confine_namespace)) {
        r.errors.push_back({origin, 0, path, msg});
      }
    }
  }
  // One name, one origin: a lower rank takes it (evicting the holder), else
  // the holder keeps it.
  bool blocked = false;
  std::vector<std::pair<std::string, std::string>> evict;  // origin, name
  if (r.errors.empty()) {
    for (const auto& p : r.policies) {
      for (const auto& [o2, st2] : origins_) {
        if (o2 == origin) {
          continue;
        }
        for (const auto& q : st2.good) {
          if (q.ref.name() != p.ref.name()) {
            continue;
          }
          if (Rank(origin) < Rank(o2)) {
            evict.emplace_back(o2, p.ref.name());
          } else {
            blocked = true;
            r.errors.push_back({origin, 0, "metadata.name",
                                "policy " + p.ref.name() + " is already defined in " + o2 +
                                    (Rank(o2) < Rank(origin)
                                         ? " (a policy file takes precedence over a custom resource)"
                                         : "")});
          }
        }
      }
    }
  }
  if (!r.errors.empty()) {
    std::string detail = JoinErrors(r.errors);
    bool repeat = recheck && detail == st.error;
    st.error = detail;
    st.reason = blocked ? "NameConflict" : "Invalid";
    st.blocked = blocked;
    if (!repeat) {
      v1::PolicyRef ref;
      ref.set_name(origin);
      ref.set_version(hash.substr(0, 16));
      ref.set_source(origin);
      changes->push_back({ref, "rejected", detail + (st.good.empty() ? "" : " (keeping the last good version)")});
    }
    return false;
  }
  for (const auto& [o2, name] : evict) {
    OriginState& loser = origins_[o2];
    for (const auto& q : loser.good) {
      changes->push_back({q.ref, "removed",
                          "shadowed by " + origin + ", which defines " + name +
                              " too (a policy file takes precedence over a custom resource)"});
    }
    loser.good.clear();
    loser.blocked = true;
    loser.reason = "NameConflict";
    loser.error = PolicyError{o2, 0, "metadata.name",
                              "policy " + name + " is already defined in " + origin +
                                  " (a policy file takes precedence over a custom resource)"}
                      .ToString();
  }
  st.error.clear();
  st.reason = "Valid";
  st.blocked = false;
  std::map<std::string, const Policy*> old;
  for (const auto& p : st.good) {
    old[p.ref.name()] = &p;
  }
  for (const auto& p : r.policies) {
    auto it = old.find(p.ref.name());
    if (it == old.end()) {
      changes->push_back({p.ref, "added", p.shape + " from " + p.ref.source()});
    } else {
      if (it->second->ref.version() != p.ref.version()) {
        changes->push_back({p.ref, "updated", "version " + it->second->ref.version() + " -> " + p.ref.version()});
      }
      old.erase(it);
    }
  }
  for (const auto& [name, p] : old) {
    changes->push_back({p->ref, "removed", "no longer in " + origin});
  }
  st.good = std::move(r.policies);
  return true;
}

std::vector<PolicyChangeRecord> PolicyStore::Apply(const std::vector<PolicyUnit>& units) {
  std::vector<PolicyChangeRecord> changes;
  std::map<std::string, const PolicyUnit*> by_origin;
  for (const auto& u : units) {
    by_origin[u.origin] = &u;
  }
  // Removed origins.
  for (auto it = origins_.begin(); it != origins_.end();) {
    if (by_origin.count(it->first)) {
      ++it;
      continue;
    }
    for (const auto& p : it->second.good) {
      changes.push_back({p.ref, "removed", "source " + it->first + " is gone"});
    }
    it = origins_.erase(it);
  }
  bool changed = !changes.empty();
  // Files first, so that on a contested name the file wins at once.
  std::vector<const PolicyUnit*> order;
  for (const auto& [o, u] : by_origin) {
    order.push_back(u);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const PolicyUnit* a, const PolicyUnit* b) { return Rank(a->origin) < Rank(b->origin); });
  std::vector<const PolicyUnit*> unchanged;
  for (const PolicyUnit* u : order) {
    std::string hash = UnitHash(*u);
    auto it = origins_.find(u->origin);
    if (it != origins_.end() && it->second.text_hash == hash) {
      unchanged.push_back(u);
      continue;
    }
    changed = Process(*u, hash, false, &changes) || changed;
  }
  // Something moved: a name an origin was refused for may be free now.
  bool moved = changed || !changes.empty();
  for (const PolicyUnit* u : unchanged) {
    if (moved && origins_[u->origin].blocked) {
      changed = Process(*u, origins_[u->origin].text_hash, true, &changes) || changed;
    }
  }
  if (changed || !changes.empty()) {
    Publish();
  }
  return changes;
}

void PolicyStore::Publish() {
  auto set = std::make_shared<PolicySet>();
  std::map<std::string, OriginVerdict> verdicts;
  for (const auto& [o, st] : origins_) {
    set->policies.insert(set->policies.end(), st.good.begin(), st.good.end());
    OriginVerdict& v = verdicts[o];
    v.text_hash = st.text_hash;
    v.accepted = st.error.empty();
    v.reason = st.reason;
    v.message = st.error;
    for (const auto& p : st.good) {
      v.active.push_back(p.ref);
    }
  }
  std::stable_sort(set->policies.begin(), set->policies.end(), [](const Policy& a, const Policy& b) {
    if (a.priority != b.priority) {
      return a.priority > b.priority;
    }
    return a.ref.name() < b.ref.name();
  });
  std::lock_guard<std::mutex> l(mu_);
  current_ = std::move(set);
  verdicts_ = std::move(verdicts);
}

std::map<std::string, OriginVerdict> PolicyStore::Verdicts() const {
  std::lock_guard<std::mutex> l(mu_);
  return verdicts_;
}

}  // namespace kubemend::analyzer
