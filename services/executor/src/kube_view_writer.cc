#include "kube_view_writer.h"

#include "kubemend/common/log.h"

namespace kubemend::executor {

KubeView::KubeView(kube::KubeClient& client, const Clock& clock, KubeViewOptions options, MetricsRegistry* metrics)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      metrics_(metrics),
      recorder_(client, kube::EventSource{"kubemend-executor", options_.instance},
                [this] { return clock_.Now(); }) {}

KubeView::~KubeView() { Stop(Millis(0)); }

void KubeView::Start() {
  next_gc_ = clock_.Now() + Millis(30 * 1000);  // first pass soon after start
  thread_ = std::thread([this] { Run(); });
}

void KubeView::Stop(Millis drain) {
  {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, drain, [this] { return queue_.empty() && !busy_; });
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void KubeView::OnDecision(const v1::Event& decision) { Enqueue(ViewOfDecision(decision, options_.own_ns)); }

void KubeView::OnStart(const v1::Event& decision) {
  Enqueue(ViewOfStart(decision, clock_.Now(), options_.own_ns));
}

void KubeView::OnOutcome(const v1::Event& outcome) {
  if (auto u = ViewOfOutcome(outcome, options_.own_ns)) {
    Enqueue(std::move(*u));
  }
}

void KubeView::Count(const std::string& what) {
  if (metrics_ != nullptr) {
    metrics_->GetCounter("kubemend_executor_kube_view_total", "HealingAction/Event writes by result",
                         {{"result", what}})
        .Inc();
  }
}

void KubeView::Enqueue(ViewUpdate u) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_queue) {
      queue_.pop_front();
      Count("dropped");
    }
    queue_.push_back(std::move(u));
  }
  cv_.notify_one();
}

void KubeView::Run() {
  auto log = Logger("kube_view");
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, Millis(1000), [this] { return stop_ || !queue_.empty(); });
    while (!queue_.empty() && !stop_) {
      ViewUpdate u = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      Apply(u);
      lock.lock();
      busy_ = false;
      cv_.notify_all();
    }
    if (!stop_ && clock_.Now() >= next_gc_) {
      next_gc_ = clock_.Now() + options_.gc_interval;
      lock.unlock();
      CollectGarbage();
      lock.lock();
    }
  }
}

void KubeView::Apply(const ViewUpdate& u) {
  auto log = Logger("kube_view");
  const TimePoint now = clock_.Now();
  if (now < crd_missing_until_) {
    Count("crd_missing");
    return;
  }
  auto fail = [&](const char* step, const kube::Error& e) {
    Count("failed");
    if (e.kind == kube::ErrorKind::kNotFound && std::string(step) == "create") {
      crd_missing_until_ = now + Millis(60 * 1000);
      log->warn("msg=\"HealingAction CRD not installed: the Kubernetes view is off for a minute (kubectl apply "
                "-k deploy/k8s/base installs it)\" error={}",
                Q(e.ToString()));
      return;
    }
    log->warn("msg=\"HealingAction not written (the trail has it; the view lags)\" step={} object={}/{} error={}",
              step, u.ref.ns, u.ref.name, Q(e.ToString()));
  };
  auto current = client_.Get(u.ref);
  if (!current.ok() && current.error().kind == kube::ErrorKind::kNotFound) {
    current = client_.Create(u.ref.type, u.ref.ns, u.object);
    if (!current.ok() && current.error().kind == kube::ErrorKind::kAlreadyExists) {
      current = client_.Get(u.ref);
    }
    if (!current.ok()) {
      return fail("create", current.error());
    }
  } else if (!current.ok()) {
    return fail("get", current.error());
  }
  const std::string shown = current->value("status", nlohmann::json::object()).value("phase", "");
  const std::string phase = u.status.value("phase", "");
  if (PhaseRank(shown) >= PhaseRank(phase)) {
    Count("unchanged");  // a redelivery, or a later phase already shown
    return;
  }
  auto patched = client_.Patch(u.ref.Subresource("status"), kube::PatchType::kMergePatch, {{"status", u.status}});
  if (!patched.ok()) {
    return fail("status", patched.error());
  }
  Count("written");
  RecordEvents(u);
}

void KubeView::RecordEvents(const ViewUpdate& u) {
  if (u.events.empty()) {
    return;
  }
  kube::InvolvedObject obj = EventObjectFor(u.target);
  if (auto type = ResourceTypeOfKind(obj.kind)) {
    // kubectl describe matches Events by uid too: read it (a deleted pod has none).
    if (auto live = client_.Get(kube::ObjectRef{*type, obj.ns, obj.name, {}}); live.ok()) {
      obj.uid = (*live)["metadata"].value("uid", "");
    }
  }
  for (const auto& e : u.events) {
    if (auto r = recorder_.Record(obj, e.type, e.reason, e.message); !r.ok()) {
      Count("event_failed");
      Logger("kube_view")->warn("msg=\"Event not recorded\" reason={} object={}/{}/{} error={}", e.reason, obj.kind,
                                obj.ns, obj.name, Q(r.error().ToString()));
    } else {
      Count("event");
    }
  }
}

void KubeView::CollectGarbage() {
  kube::ListOptions lo;
  lo.label_selector = "app.kubernetes.io/managed-by=kubemend";
  auto list = kube::ListAll(client_, kube::resources::kHealingActions, "", lo);
  if (!list.ok()) {
    if (list.error().kind != kube::ErrorKind::kNotFound) {
      Logger("kube_view")->warn("msg=\"HealingAction garbage collection: list failed\" error={}",
                                Q(list.error().ToString()));
    }
    return;
  }
  const TimePoint now = clock_.Now();
  int deleted = 0;
  for (const auto& o : list->items) {
    if (!ExpiredView(o, now, options_.retention)) {
      continue;
    }
    kube::DeleteOptions d;
    d.precondition_uid = o["metadata"].value("uid", "");
    auto r = client_.Delete(kube::ObjectRef{kube::resources::kHealingActions, o["metadata"].value("namespace", ""),
                                            o["metadata"].value("name", ""), {}},
                            d);
    if (r.ok() || r.error().kind == kube::ErrorKind::kNotFound) {
      ++deleted;
      Count("collected");
    }
  }
  if (deleted > 0) {
    Logger("kube_view")->info("msg=\"HealingActions past their retention deleted\" count={} retention_h={}", deleted,
                              std::chrono::duration_cast<std::chrono::hours>(options_.retention).count());
  }
}

}  // namespace kubemend::executor
