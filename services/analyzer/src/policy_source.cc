#include "policy_source.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kubemend::analyzer {

namespace fs = std::filesystem;

std::string FilePolicySource::Describe() const {
  std::string s = "files:";
  for (const auto& p : paths_) {
    s += " " + p;
  }
  return s;
}

absl::StatusOr<std::vector<PolicyUnit>> FilePolicySource::Snapshot() {
  std::vector<std::string> files;
  for (const auto& p : paths_) {
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
      return absl::UnavailableError("policy path " + p + " does not exist");
    }
    if (fs::is_directory(st)) {
      std::vector<std::string> in_dir;
      for (const auto& e : fs::directory_iterator(p, ec)) {
        std::string ext = e.path().extension().string();
        std::string name = e.path().filename().string();
        if (e.is_regular_file() && !name.empty() && name[0] != '.' &&
            (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
          in_dir.push_back(e.path().string());
        }
      }
      if (ec) {
        return absl::UnavailableError("cannot list policy folder " + p + ": " + ec.message());
      }
      std::sort(in_dir.begin(), in_dir.end());
      files.insert(files.end(), in_dir.begin(), in_dir.end());
    } else {
      files.push_back(p);
    }
  }
  std::vector<PolicyUnit> out;
  std::map<std::string, Cached> next;
  for (const auto& f : files) {
    std::error_code ec;
    auto mtime = fs::last_write_time(f, ec);
    auto size = fs::file_size(f, ec);
    if (ec) {
      return absl::UnavailableError("cannot stat policy file " + f + ": " + ec.message());
    }
    int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count();
    auto it = cache_.find(f);
    if (it != cache_.end() && it->second.mtime_ns == ns && it->second.size == size) {
      next[f] = it->second;
    } else {
      std::ifstream in(f, std::ios::binary);
      if (!in) {
        return absl::UnavailableError("cannot read policy file " + f);
      }
      std::stringstream ss;
      ss << in.rdbuf();
      next[f] = {ns, size, ss.str()};
    }
    out.push_back({f, next[f].text});
  }
  cache_ = std::move(next);
  return out;
}

void MapPolicySource::Upsert(const std::string& origin, std::string text) {
  Upsert(PolicyUnit{origin, std::move(text), ""});
}

void MapPolicySource::Upsert(PolicyUnit unit) {
  std::lock_guard<std::mutex> l(mu_);
  std::string origin = unit.origin;
  units_[origin] = std::move(unit);
}

void MapPolicySource::Remove(const std::string& origin) {
  std::lock_guard<std::mutex> l(mu_);
  units_.erase(origin);
}

void MapPolicySource::Replace(const std::string& prefix, std::vector<PolicyUnit> units) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = units_.lower_bound(prefix); it != units_.end() && it->first.rfind(prefix, 0) == 0;) {
    it = units_.erase(it);
  }
  for (auto& u : units) {
    std::string origin = u.origin;
    units_[origin] = std::move(u);
  }
}

absl::StatusOr<std::vector<PolicyUnit>> MapPolicySource::Snapshot() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<PolicyUnit> out;
  for (const auto& [o, u] : units_) {
    out.push_back(u);
  }
  return out;
}

std::vector<PolicyChangeRecord> PolicyReloader::Poll(std::vector<std::string>* errors) {
  std::vector<PolicyUnit> all;
  for (PolicySource* s : sources_) {
    auto snap = s->Snapshot();
    if (snap.ok()) {
      last_[s] = std::move(*snap);
    } else {
      errors->push_back(s->Describe() + ": " + std::string(snap.status().message()) +
                        " (keeping its last good policies)");
    }
    const auto& units = last_[s];
    all.insert(all.end(), units.begin(), units.end());
  }
  return store_.Apply(all);
}

std::map<std::string, std::string> KnownPolicyVersions(const std::vector<v1::Event>& log,
                                                       const std::string& service) {
  std::map<std::string, std::string> known;
  for (const auto& e : log) {
    if (!e.has_control() || !e.control().has_policy_change() || e.producer().service() != service) {
      continue;
    }
    const auto& pc = e.control().policy_change();
    if (pc.change() == "added" || pc.change() == "updated") {
      known[pc.policy().name()] = pc.policy().version();
    } else if (pc.change() == "removed") {
      known.erase(pc.policy().name());
    }
  }
  return known;
}

std::vector<PolicyChangeRecord> AgainstKnown(const std::vector<PolicyChangeRecord>& changes,
                                             const PolicySet& current,
                                             const std::map<std::string, std::string>& known) {
  std::vector<PolicyChangeRecord> out;
  for (const auto& c : changes) {
    if (c.change != "added") {
      out.push_back(c);
      continue;
    }
    auto it = known.find(c.ref.name());
    if (it == known.end()) {
      out.push_back(c);
    } else if (it->second != c.ref.version()) {
      out.push_back({c.ref, "updated", "version " + it->second + " -> " + c.ref.version() +
                                           " (changed while the analyzer was down)"});
    }
  }
  for (const auto& [name, version] : known) {
    bool present = std::any_of(current.policies.begin(), current.policies.end(),
                               [&](const Policy& p) { return p.ref.name() == name; });
    if (!present) {
      v1::PolicyRef ref;
      ref.set_name(name);
      ref.set_version(version);
      out.push_back({ref, "removed", "gone while the analyzer was down"});
    }
  }
  return out;
}

}  // namespace kubemend::analyzer
