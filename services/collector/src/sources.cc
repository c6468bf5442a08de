#include "sources.h"

#include "kubemend/common/log.h"

namespace kubemend::collector {

bool Outbox::Send(std::vector<v1::Event> events) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& e : events) {
    pending_.push_back(std::move(e));
  }
  if (pending_.empty()) {
    return true;
  }
  auto r = publisher_->Publish(source_, pending_);
  if (!r.ok()) {
    Logger("collector")->warn("msg=\"signals wait for the bus\" source={} pending={} error={}", source_,
                              pending_.size(), Q(std::string(r.status().message())));
    return false;
  }
  for (const auto& e : pending_) {
    Logger("collector")->info("msg=\"signal\" source={} event_id={} incident_id={} name={} status={} target={}",
                              source_, e.event_id(), e.incident_id(), Q(e.signal().name()),
                              e.signal().status() == v1::SIGNAL_STATUS_FIRING ? "firing" : "resolved",
                              Q(TargetString(e.target())));
  }
  pending_.clear();
  return true;
}

size_t Outbox::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size();
}

PollLoop::PollLoop(Millis interval, std::function<void()> round, bool aligned)
    : interval_(interval), round_(std::move(round)), aligned_(aligned && interval.count() > 0) {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      round_();
      lock.lock();
      Millis wait = interval_;
      if (aligned_) {
        const int64_t now = ToUnixMillis(SystemClock::Instance().Now());
        wait = Millis(interval_.count() - now % interval_.count());
      }
      cv_.wait_for(lock, wait, [this] { return stop_; });
    }
  });
}

PollLoop::~PollLoop() { Stop(); }

void PollLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

// ---------------------------------------------------------------- kubernetes

KubeSource::KubeSource(kube::KubeClient* kube, KubeStateOptions options, Publisher* publisher, ProducerIdentity who,
                       const Clock& clock, Millis tick)
    : kube_(kube),
      options_(options),
      publisher_(publisher),
      outbox_(publisher, kName),
      tick_(tick),
      tracker_(options, std::move(who), clock,
               [this](const std::string& ns, const std::string& kind, const std::string& name) {
                 return Owner(ns, kind, name);
               }) {}

std::pair<std::string, std::string> KubeSource::Owner(const std::string& ns, const std::string& kind,
                                                      const std::string& name) {
  // Called with mu_ held (from the tracker).
  const std::string key = ns + "/" + kind + "/" + name;
  auto it = owners_.find(key);
  if (it != owners_.end()) {
    return it->second;
  }
  std::pair<std::string, std::string> owner{kind, name};
  if (kube_ != nullptr && kind == "ReplicaSet") {
    auto rs = kube_->Get(kube::ReplicaSet(ns, name));
    if (rs.ok()) {
      const auto& refs = rs.value()["metadata"].value("ownerReferences", nlohmann::json::array());
      for (const auto& r : refs) {
        if (r.value("controller", false)) {
          owner = {r.value("kind", ""), r.value("name", "")};
        }
      }
    } else if (rs.error().kind != kube::ErrorKind::kNotFound) {
      publisher_->CountError(kName, "owner lookup: " + rs.error().ToString());
      return owner;  // not cached: try again next time
    }
  }
  if (owners_.size() > 10000) {
    owners_.clear();
  }
  owners_[key] = owner;
  return owner;
}

void KubeSource::OnSync(const std::string& kind, const kube::WatchSync& sync) {
  std::vector<v1::Event> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++syncs_;
    if (sync.reason == kube::SyncReason::kRelistAfterGone) {
      ++relists_;
    }
    if (kind == "Pod") {
      out = tracker_.SyncPods(sync.items);
    } else if (kind == "Node") {
      out = tracker_.SyncNodes(sync.items);
    } else {
      out = tracker_.SyncEvents(sync.items);
    }
    // After the first full picture, conditions published before a restart
    // that are no longer there resolve.
    if (synced_.insert(kind).second && publisher_->dedup() != nullptr && kind != "Event") {
      auto stale = tracker_.ResolveStale(kind, publisher_->dedup()->FiringWithPrefix("k8s/" + kind + "/"));
      out.insert(out.end(), stale.begin(), stale.end());
    }
  }
  outbox_.Send(std::move(out));
}

void KubeSource::OnEvent(const std::string& kind, const kube::WatchEvent& event) {
  if (event.type == kube::WatchEventType::kBookmark) {
    return;
  }
  const bool deleted = event.type == kube::WatchEventType::kDeleted;
  std::vector<v1::Event> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (kind == "Pod") {
      out = tracker_.OnPod(event.object, deleted);
    } else if (kind == "Node") {
      out = tracker_.OnNode(event.object, deleted);
    } else {
      out = tracker_.OnEvent(event.object, deleted);
    }
  }
  outbox_.Send(std::move(out));
}

void KubeSource::Tick() {
  std::vector<v1::Event> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out = tracker_.Tick();
  }
  outbox_.Send(std::move(out));
}

void KubeSource::Start() {
  auto watch = [this](const kube::ResourceType& type, const std::string& kind, const std::string& field_selector) {
    kube::WatchCallbacks cb;
    cb.on_sync = [this, kind](const kube::WatchSync& s) { OnSync(kind, s); };
    cb.on_event = [this, kind](const kube::WatchEvent& e) { OnEvent(kind, e); };
    cb.on_error = [this, kind](const kube::Error& e) {
      publisher_->CountError(kName, kind + " watch: " + e.ToString());
    };
    kube::WatchOptions wo;
    wo.field_selector = field_selector;
    watchers_.push_back(kube_->Watch(type, "", wo, cb));
  };
  if (options_.pods) {
    watch(kube::resources::kPods, "Pod", "");
  }
  if (options_.nodes) {
    watch(kube::resources::kNodes, "Node", "");
  }
  if (options_.events) {
    watch(kube::resources::kEvents, "Event", "type=Warning");
  }
  loop_ = std::make_unique<PollLoop>(tick_, [this] { Tick(); });
}

void KubeSource::Stop() {
  for (auto& w : watchers_) {
    w->Stop();
  }
  if (loop_) {
    loop_->Stop();
  }
}

std::map<std::string, std::string> KubeSource::Details() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {{"kubernetes.active_conditions", std::to_string(tracker_.active())},
          {"kubernetes.syncs", std::to_string(syncs_)},
          {"kubernetes.relists_after_gone", std::to_string(relists_)},
          {"kubernetes.pending", std::to_string(outbox_.pending())}};
}

// ---------------------------------------------------------------- triggers

TriggerSource::TriggerSource(std::string name, const PrometheusClient* prom, std::vector<TriggerSpec> specs,
                             std::string cluster, Publisher* publisher, ProducerIdentity who, const Clock& clock,
                             Millis interval)
    : name_(std::move(name)), prom_(prom), publisher_(publisher), outbox_(publisher, name_), interval_(interval),
      clock_(clock) {
  for (auto& s : specs) {
    evaluators_.emplace_back(std::move(s), cluster, who, clock, interval);
  }
}

void TriggerSource::RunOnce() {
  std::vector<v1::Event> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& ev : evaluators_) {
      const std::string key = name_ + "." + ev.spec().name +
                              (ev.spec().labels.count("budget") ? "." + ev.spec().labels.at("budget") : "");
      // A period-to-date query is built for one instant: Prometheus evaluates
      // it at that instant, not at its own (slightly different) now.
      const TimePoint now = clock_.Now();
      auto samples = ev.spec().query_at ? prom_->Query(ev.spec().query_at(now), now) : prom_->Query(ev.spec().query);
      if (!samples.ok()) {
        // Skipping the round keeps pending/firing state as it was: a
        // Prometheus outage neither fires nor resolves anything.
        publisher_->CountError(name_, std::string(samples.status().message()));
        last_[key] = "error: " + std::string(samples.status().message());
        continue;
      }
      std::string values;
      for (const auto& s : *samples) {
        values += (values.empty() ? "" : ",") + std::to_string(s.value);
      }
      if (samples->empty() && !ev.spec().unknown_when_empty.empty()) {
        last_[key] = "unknown: " + ev.spec().unknown_when_empty;
        auto events = ev.Unknown();
        out.insert(out.end(), events.begin(), events.end());
        continue;
      }
      last_[key] = samples->empty() ? "no data" : values;
      auto events = ev.Evaluate(*samples);
      out.insert(out.end(), events.begin(), events.end());
    }
  }
  outbox_.Send(std::move(out));
}

void TriggerSource::Start() {
  loop_ = std::make_unique<PollLoop>(interval_, [this] { RunOnce(); }, /*aligned=*/true);
}

void TriggerSource::Stop() {
  if (loop_) {
    loop_->Stop();
  }
}

std::map<std::string, std::string> TriggerSource::Details() const {
  std::lock_guard<std::mutex> lock(mu_);
  auto d = last_;
  d[name_ + ".pending"] = std::to_string(outbox_.pending());
  return d;
}

// ---------------------------------------------------------------- health

HealthSource::HealthSource(std::unique_ptr<HealthCheckRunner> runner, Publisher* publisher, Millis tick)
    : runner_(std::move(runner)), publisher_(publisher), outbox_(publisher, kName), tick_(tick) {}

void HealthSource::RunOnce() {
  std::vector<v1::Event> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out = runner_->RunDue([this](const std::string& why) { publisher_->CountError(kName, why); });
  }
  outbox_.Send(std::move(out));
}

void HealthSource::Start() { loop_ = std::make_unique<PollLoop>(tick_, [this] { RunOnce(); }); }

void HealthSource::Stop() {
  if (loop_) {
    loop_->Stop();
  }
}

std::map<std::string, std::string> HealthSource::Details() const {
  std::lock_guard<std::mutex> lock(mu_);
  auto d = runner_->Details();
  d["health.pending"] = std::to_string(outbox_.pending());
  return d;
}

}  // namespace kubemend::collector
