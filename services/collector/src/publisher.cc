#include "publisher.h"

#include "kubemend/common/events.h"

namespace kubemend::collector {

absl::Status KafkaSignalSink::ProduceAll(const std::vector<v1::Event>& events,
                                         const std::shared_ptr<DeliveryTracker>& tracker) {
  for (const auto& e : events) {
    auto st = producer_->Produce(topic_, TargetKey(e.target()), e.SerializeAsString(), tracker,
                                 {{kEventTypeHeader, "signal"},
                                  {kSignalSourceHeader, v1::SignalSource_Name(e.signal().source())},
                                  {"traceparent", e.trace().traceparent()}});
    if (!st.ok()) {
      return absl::UnavailableError(std::string(st.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status KafkaSignalSink::Publish(const std::vector<v1::Event>& events) {
  if (events.empty()) {
    return absl::OkStatus();
  }
  auto tracker = std::make_shared<DeliveryTracker>();
  if (auto st = ProduceAll(events, tracker); !st.ok()) {
    return st;
  }
  return tracker->Wait(timeout_);
}

void KafkaSignalSink::PublishAsync(const std::vector<v1::Event>& events, Done done) {
  if (events.empty()) {
    done(absl::OkStatus());
    return;
  }
  auto tracker = std::make_shared<DeliveryTracker>();
  if (auto st = ProduceAll(events, tracker); !st.ok()) {
    // What was enqueued may still be delivered; the answer is already "not
    // acknowledged", so the sender retries and consumers drop the repeat.
    done(st);
    return;
  }
  // message.timeout.ms is the delivery timeout: every message is reported
  // by then, so `done` runs by then too.
  tracker->OnComplete(std::move(done));
}

absl::Status MemorySignalSink::Publish(const std::vector<v1::Event>& events) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fail_) {
    return absl::UnavailableError("bus down (test sink)");
  }
  events_.insert(events_.end(), events.begin(), events.end());
  return absl::OkStatus();
}

std::vector<v1::Event> MemorySignalSink::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(events_, {});
}

void MemorySignalSink::set_fail(bool fail) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_ = fail;
}

namespace {
// A firing occurrence's start (0: unknown): dedup tells a new occurrence
// after a missed resolve from a repeat of the same one.
int64_t StartsAtMs(const v1::Signal& s) {
  return s.status() == v1::SIGNAL_STATUS_FIRING && s.has_starts_at() ? ToUnixMillis(FromTimestamp(s.starts_at()))
                                                                     : 0;
}
}  // namespace

Publisher::Publisher(SignalSink* sink, DedupStore* dedup, MetricsRegistry* metrics)
    : sink_(sink), dedup_(dedup), metrics_(metrics) {}

SourceCounters& Publisher::Counters(const std::string& source) {
  auto it = sources_.find(source);
  if (it != sources_.end()) {
    return it->second;
  }
  const Labels l{{"source", source}};
  SourceCounters c;
  c.received = &metrics_->GetCounter("kubemend_collector_received_total", "Signals received from a source", l);
  c.deduplicated = &metrics_->GetCounter("kubemend_collector_deduplicated_total",
                                         "Signals dropped as repeats of the last published status", l);
  c.published = &metrics_->GetCounter("kubemend_collector_published_total",
                                      "Signals published and acknowledged by the broker", l);
  c.errors = &metrics_->GetCounter("kubemend_collector_errors_total",
                                   "Source failures: bad input, failed queries or probes, bus refusals", l);
  return sources_.emplace(source, std::move(c)).first->second;
}

void Publisher::AddSource(const std::string& source, bool enabled) {
  std::lock_guard<std::mutex> lock(mu_);
  Counters(source);
  enabled_[source] = enabled;
}

void Publisher::CountError(const std::string& source, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& c = Counters(source);
  c.errors->Inc();
  c.last_error = why;
}

Publisher::Batch Publisher::Prepare(const std::string& source, const std::vector<v1::Event>& events) {
  Batch b;
  b.source = source;
  {
    std::lock_guard<std::mutex> lock(mu_);
    b.counters = &Counters(source);
  }
  b.counters->received->Inc(events.size());
  // Within one batch only the last status per fingerprint matters as the
  // "last published", but every change is published in order.
  std::map<std::string, std::pair<v1::SignalStatus, int64_t>> in_batch;
  for (const auto& e : events) {
    const auto& s = e.signal();
    const int64_t starts = StartsAtMs(s);
    auto prior = in_batch.find(s.fingerprint());
    bool publish = prior != in_batch.end()
                       ? prior->second != std::make_pair(s.status(), starts)
                       : (dedup_ == nullptr || dedup_->ShouldPublish(s.fingerprint(), s.status(), starts));
    if (!publish) {
      ++b.result.deduplicated;
      continue;
    }
    in_batch[s.fingerprint()] = {s.status(), starts};
    b.fresh.push_back(e);
    if (facts_ != nullptr) {
      facts_->Enrich(&b.fresh.back());
    }
  }
  b.counters->deduplicated->Inc(b.result.deduplicated);
  return b;
}

absl::StatusOr<PublishResult> Publisher::Complete(Batch& b, const absl::Status& sent) {
  if (b.fresh.empty()) {
    return std::move(b.result);
  }
  if (!sent.ok()) {
    CountError(b.source, std::string(sent.message()));
    return absl::UnavailableError(std::string(sent.message()));
  }
  b.counters->published->Inc(b.fresh.size());
  metrics_->GetCounter("kubemend_events_out_total", "Events published", {{"type", "signal"}}).Inc(b.fresh.size());
  for (const auto& e : b.fresh) {
    if (dedup_ != nullptr) {
      if (auto st = dedup_->Record(e.signal().fingerprint(), e.signal().status(), StartsAtMs(e.signal()));
          !st.ok()) {
        // Published already; losing the record only risks one repeat after a restart.
        CountError(b.source, std::string(st.message()));
      }
    }
    b.result.event_ids.push_back(e.event_id());
  }
  b.result.published = b.fresh.size();
  return std::move(b.result);
}

absl::StatusOr<PublishResult> Publisher::Publish(const std::string& source,
                                                 const std::vector<v1::Event>& events) {
  Batch b = Prepare(source, events);
  if (b.fresh.empty()) {
    return Complete(b, absl::OkStatus());
  }
  absl::Status sent = sink_->Publish(b.fresh);
  return Complete(b, sent);
}

void Publisher::PublishAsync(const std::string& source, const std::vector<v1::Event>& events, Done done) {
  auto b = std::make_shared<Batch>(Prepare(source, events));
  if (b->fresh.empty()) {
    done(Complete(*b, absl::OkStatus()));
    return;
  }
  sink_->PublishAsync(b->fresh, [this, b, done = std::move(done)](absl::Status sent) { done(Complete(*b, sent)); });
}

std::map<std::string, std::string> Publisher::Details() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::string> d;
  for (const auto& [name, c] : sources_) {
    const std::string p = "source." + name + ".";
    auto en = enabled_.find(name);
    d[p + "enabled"] = en == enabled_.end() || en->second ? "true" : "false";
    d[p + "received"] = std::to_string(c.received->Value());
    d[p + "deduplicated"] = std::to_string(c.deduplicated->Value());
    d[p + "published"] = std::to_string(c.published->Value());
    d[p + "errors"] = std::to_string(c.errors->Value());
    if (!c.last_error.empty()) {
      d[p + "last_error"] = c.last_error;
    }
  }
  if (dedup_ != nullptr) {
    d["dedup.entries"] = std::to_string(dedup_->size());
  }
  return d;
}

}  // namespace kubemend::collector
