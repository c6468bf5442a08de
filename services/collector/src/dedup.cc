#include "dedup.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kubemend::collector {
namespace {

// Fingerprints are ours or Alertmanager's hex; whitespace would break the
// line format, so it is replaced everywhere the key is used.
std::string Key(const std::string& fingerprint) {
  std::string fp = fingerprint;
  for (char& c : fp) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      c = '_';
    }
  }
  return fp;
}

const char* StatusWord(v1::SignalStatus s) {
  return s == v1::SIGNAL_STATUS_FIRING ? "firing" : "resolved";
}

}  // namespace

absl::StatusOr<std::unique_ptr<DedupStore>> DedupStore::Open(const std::string& path, Limits limits,
                                                             const Clock& clock) {
  std::unique_ptr<DedupStore> s(new DedupStore(path, limits, clock));
  if (!path.empty()) {
    if (auto st = s->LoadAndCompact(); !st.ok()) {
      return st;
    }
  }
  return s;
}

DedupStore::~DedupStore() {
  if (file_ != nullptr) {
    fclose(file_);
  }
}

absl::Status DedupStore::LoadAndCompact() {
  {
    std::ifstream in(path_);
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) {
      ++n;
      std::istringstream ls(line);
      std::string status;
      std::string fp;
      int64_t at = 0;
      int64_t starts = 0;
      // A torn last line (crash mid-write) is skipped, never fatal.
      if (!(ls >> status >> fp >> at) || (status != "firing" && status != "resolved")) {
        continue;
      }
      ls >> starts;  // absent in files written before starts_at was kept
      entries_[fp] = {status == "firing" ? v1::SIGNAL_STATUS_FIRING : v1::SIGNAL_STATUS_RESOLVED, at,
                      ls.fail() ? 0 : starts};
    }
  }
  Prune(ToUnixMillis(clock_.Now()));
  return WriteCompacted();
}

void DedupStore::Prune(int64_t now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    const Entry& e = it->second;
    bool one_shot = it->first.rfind("k8s/Event/", 0) == 0;
    Millis bound = e.status == v1::SIGNAL_STATUS_FIRING && !one_shot ? limits_.forget_firing_after
                                                                     : limits_.forget_after;
    if (now - e.at_ms > bound.count()) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  if (entries_.size() > limits_.max_entries) {
    std::vector<std::pair<int64_t, std::string>> by_age;
    by_age.reserve(entries_.size());
    for (const auto& [fp, e] : entries_) {
      by_age.emplace_back(e.at_ms, fp);
    }
    // Down to 90% of the bound, so a storm of new fingerprints prunes once
    // per tenth of the bound, not on every record.
    size_t drop = entries_.size() - limits_.max_entries * 9 / 10;
    std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(drop), by_age.end());
    for (size_t i = 0; i < drop; ++i) {
      entries_.erase(by_age[i].second);
    }
  }
  since_prune_ = 0;
}

absl::Status DedupStore::WriteCompacted() {
  if (file_ != nullptr) {
    fclose(file_);
    file_ = nullptr;
  }
  const std::string tmp = path_ + ".tmp";
  FILE* out = fopen(tmp.c_str(), "w");
  if (out == nullptr) {
    return absl::FailedPreconditionError("dedup state file " + tmp + ": " + strerror(errno) +
                                         ". Hint: collector.dedup.state_file must be in a writable directory");
  }
  for (const auto& [fp, e] : entries_) {
    fprintf(out, "%s %s %lld %lld\n", StatusWord(e.status), fp.c_str(), static_cast<long long>(e.at_ms),
            static_cast<long long>(e.starts_ms));
  }
  fflush(out);
  fsync(fileno(out));
  fclose(out);
  if (rename(tmp.c_str(), path_.c_str()) != 0) {
    return absl::FailedPreconditionError("dedup state file " + path_ + ": " + strerror(errno));
  }
  file_ = fopen(path_.c_str(), "a");
  if (file_ == nullptr) {
    return absl::FailedPreconditionError("dedup state file " + path_ + ": " + strerror(errno));
  }
  appended_ = 0;
  return absl::OkStatus();
}

bool DedupStore::ShouldPublish(const std::string& fingerprint, v1::SignalStatus status,
                               int64_t starts_at_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(Key(fingerprint));
  if (it == entries_.end() || it->second.status != status) {
    return true;
  }
  // Same status: a firing one that started again is a new occurrence.
  return status == v1::SIGNAL_STATUS_FIRING && starts_at_ms != 0 && it->second.starts_ms != 0 &&
         starts_at_ms != it->second.starts_ms;
}

absl::Status DedupStore::Record(const std::string& fingerprint, v1::SignalStatus status,
                                int64_t starts_at_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = ToUnixMillis(clock_.Now());
  const std::string fp = Key(fingerprint);
  entries_[fp] = {status, now, starts_at_ms};
  if (++since_prune_ >= 1024 || entries_.size() > limits_.max_entries) {
    Prune(now);
  }
  if (file_ == nullptr) {
    return absl::OkStatus();
  }
  if (appended_ > std::max<size_t>(10'000, 2 * entries_.size())) {
    if (auto st = WriteCompacted(); !st.ok()) {
      return absl::DataLossError(std::string(st.message()));
    }
    return absl::OkStatus();  // the rewrite holds this record
  }
  if (fprintf(file_, "%s %s %lld %lld\n", StatusWord(status), fp.c_str(), static_cast<long long>(now),
              static_cast<long long>(starts_at_ms)) < 0 ||
      fflush(file_) != 0) {
    return absl::DataLossError("dedup state file " + path_ + ": " + strerror(errno));
  }
  ++appended_;
  return absl::OkStatus();
}

std::vector<std::string> DedupStore::FiringWithPrefix(const std::string& prefix) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (auto it = entries_.lower_bound(prefix); it != entries_.end() && it->first.rfind(prefix, 0) == 0; ++it) {
    if (it->second.status == v1::SIGNAL_STATUS_FIRING) {
      out.push_back(it->first);
    }
  }
  return out;
}

size_t DedupStore::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace kubemend::collector
