#include "dedup.h"

#include <unistd.h>

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

absl::StatusOr<std::unique_ptr<DedupStore>> DedupStore::Open(const std::string& path,
                                                             Millis forget_after,
                                                             const Clock& clock) {
  std::unique_ptr<DedupStore> s(new DedupStore(path, forget_after, clock));
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
      // A torn last line (crash mid-write) is skipped, never fatal.
      if (!(ls >> status >> fp >> at) || (status != "firing" && status != "resolved")) {
        continue;
      }
      entries_[fp] = {status == "firing" ? v1::SIGNAL_STATUS_FIRING : v1::SIGNAL_STATUS_RESOLVED, at};
    }
  }
  const int64_t now = ToUnixMillis(clock_.Now());
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.status == v1::SIGNAL_STATUS_RESOLVED && now - it->second.at_ms > forget_after_.count()) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  const std::string tmp = path_ + ".tmp";
  FILE* out = fopen(tmp.c_str(), "w");
  if (out == nullptr) {
    return absl::FailedPreconditionError("dedup state file " + tmp + ": " + strerror(errno) +
                                         ". Hint: collector.dedup.state_file must be in a writable directory");
  }
  for (const auto& [fp, e] : entries_) {
    fprintf(out, "%s %s %lld\n", StatusWord(e.status), fp.c_str(), static_cast<long long>(e.at_ms));
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
  return absl::OkStatus();
}

bool DedupStore::ShouldPublish(const std::string& fingerprint, v1::SignalStatus status) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(Key(fingerprint));
  return it == entries_.end() || it->second.status != status;
}

absl::Status DedupStore::Record(const std::string& fingerprint, v1::SignalStatus status) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = ToUnixMillis(clock_.Now());
  const std::string fp = Key(fingerprint);
  entries_[fp] = {status, now};
  if (file_ == nullptr) {
    return absl::OkStatus();
  }
  if (fprintf(file_, "%s %s %lld\n", StatusWord(status), fp.c_str(), static_cast<long long>(now)) < 0 ||
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
