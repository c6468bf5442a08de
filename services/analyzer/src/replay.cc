#include "replay.h"

#include <algorithm>
#include <memory>

#include "kubemend/common/events.h"
#include "kubemend/common/log_follower.h"

namespace kubemend::analyzer {
namespace {

// Each kubemend topic carries one event type: the rank of the topic an event
// came from, in the order the caller listed them (ties in recorded_at).
int TopicRank(const v1::Event& e, const std::vector<Topic>& topics) {
  Topic t = Topic::kDeadLetter;
  switch (e.payload_case()) {
    case v1::Event::kSignal: t = Topic::kSignals; break;
    case v1::Event::kProposal: t = Topic::kProposals; break;
    case v1::Event::kDecision: t = Topic::kDecisions; break;
    case v1::Event::kOutcome: t = Topic::kOutcomes; break;
    case v1::Event::kControl: t = Topic::kControl; break;
    default: break;
  }
  auto it = std::find(topics.begin(), topics.end(), t);
  return static_cast<int>(it - topics.begin());
}

}  // namespace

absl::StatusOr<std::vector<v1::Event>> ReadLog(const KafkaConfig& cfg, const std::vector<Topic>& topics,
                                               int64_t since_ms, std::chrono::milliseconds timeout,
                                               ReplayStats* stats) {
  std::vector<std::string> names;
  for (Topic t : topics) {
    names.push_back(TopicName(cfg, t));
  }
  auto follower = LogFollower::Create(cfg, names, "kubemend-analyzer-replay", timeout);
  if (!follower.ok()) {
    return follower.status();
  }
  // The whole log: the horizon applies to recorded_at (when kubemend wrote
  // the event), not occurred_at (an alert's startsAt may be days old while
  // its incident is still open).
  auto all = (*follower)->Replay({}, timeout);
  if (!all.ok()) {
    return all.status();
  }
  stats->skipped += (*follower)->skipped();
  std::vector<std::pair<int, v1::Event>> got;
  for (auto& e : *all) {
    if (ToUnixMillis(FromTimestamp(e.recorded_at())) >= since_ms) {
      got.emplace_back(TopicRank(e, topics), std::move(e));
    }
  }
  stats->read += got.size();
  std::stable_sort(got.begin(), got.end(), [](const auto& a, const auto& b) {
    int64_t ta = ToUnixMillis(FromTimestamp(a.second.recorded_at()));
    int64_t tb = ToUnixMillis(FromTimestamp(b.second.recorded_at()));
    return ta != tb ? ta < tb : a.first < b.first;
  });
  std::vector<v1::Event> out;
  out.reserve(got.size());
  for (auto& g : got) {
    out.push_back(std::move(g.second));
  }
  return out;
}

}  // namespace kubemend::analyzer
