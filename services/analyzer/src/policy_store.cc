// PolicyStore: the last good policies of every origin.
#include <algorithm>

#include "kubemend/common/ids.h"
#include "policy.h"

namespace kubemend::analyzer {

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
  for (const auto& [origin, unit] : by_origin) {
    std::string hash = Sha256Hex(unit->text);
    OriginState& st = origins_[origin];
    if (st.text_hash == hash) {
      continue;
    }
    st.text_hash = hash;
    ParseResult r = ParsePolicies(unit->text, origin, defaults_);
    // Names must be unique across origins.
    if (r.errors.empty()) {
      for (const auto& p : r.policies) {
        for (const auto& [o2, st2] : origins_) {
          if (o2 == origin) {
            continue;
          }
          for (const auto& q : st2.good) {
            if (q.ref.name() == p.ref.name()) {
              r.errors.push_back({origin, 0, "metadata.name",
                                  "policy " + p.ref.name() + " is already defined in " + o2});
            }
          }
        }
      }
    }
    if (!r.errors.empty()) {
      std::string detail;
      for (const auto& e : r.errors) {
        detail += (detail.empty() ? "" : "; ") + e.ToString();
      }
      v1::PolicyRef ref;
      ref.set_name(origin);
      ref.set_version(hash.substr(0, 16));
      ref.set_source(origin);
      changes.push_back({ref, "rejected",
                         detail + (st.good.empty() ? "" : " (keeping the last good version)")});
      continue;
    }
    std::map<std::string, const Policy*> old;
    for (const auto& p : st.good) {
      old[p.ref.name()] = &p;
    }
    for (const auto& p : r.policies) {
      auto it = old.find(p.ref.name());
      if (it == old.end()) {
        changes.push_back({p.ref, "added", p.shape + " from " + p.ref.source()});
      } else {
        if (it->second->ref.version() != p.ref.version()) {
          changes.push_back({p.ref, "updated",
                             "version " + it->second->ref.version() + " -> " + p.ref.version()});
        }
        old.erase(it);
      }
    }
    for (const auto& [name, p] : old) {
      changes.push_back({p->ref, "removed", "no longer in " + origin});
    }
    st.good = std::move(r.policies);
    changed = true;
  }
  if (changed) {
    auto set = std::make_shared<PolicySet>();
    for (const auto& [o, st] : origins_) {
      set->policies.insert(set->policies.end(), st.good.begin(), st.good.end());
    }
    std::stable_sort(set->policies.begin(), set->policies.end(), [](const Policy& a, const Policy& b) {
      if (a.priority != b.priority) {
        return a.priority > b.priority;
      }
      return a.ref.name() < b.ref.name();
    });
    std::lock_guard<std::mutex> l(mu_);
    current_ = std::move(set);
  }
  return changes;
}

}  // namespace kubemend::analyzer
