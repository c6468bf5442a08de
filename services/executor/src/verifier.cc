#include "verifier.h"

#include <fmt/format.h>

namespace kubemend::executor {

using nlohmann::json;

Verifier::Verifier(kube::KubeClient& client, Sleeper sleep, const Clock& clock, VerifierOptions options)
    : client_(client), sleep_(std::move(sleep)), clock_(clock), options_(options) {}

namespace {
int64_t Int(const json& obj, const std::string& path) {
  const json* v = GetField(obj, path);
  return v != nullptr && v->is_number_integer() ? v->get<int64_t>() : 0;
}
}  // namespace

std::string Verifier::CheckWorkload(const VerifyPlan& plan) {
  auto w = client_.Get(plan.ref);
  if (!w.ok()) {
    return "cannot read " + KeyOf(plan.ref) + ": " + w.error().ToString();
  }
  int64_t want = GetField(*w, "spec.replicas") ? Int(*w, "spec.replicas") : 1;
  int64_t gen = Int(*w, "metadata.generation");
  int64_t observed = Int(*w, "status.observedGeneration");
  int64_t updated = Int(*w, "status.updatedReplicas");
  int64_t ready = Int(*w, "status.readyReplicas");
  if (observed < gen) {
    return fmt::format("rollout not observed yet (generation {}, observed {})", gen, observed);
  }
  if (updated < want || ready < want) {
    return fmt::format("{} of {} replicas updated, {} ready", updated, want, ready);
  }
  const json* sel = GetField(*w, "spec.selector");
  if (sel == nullptr) {
    return "";
  }
  auto s = SelectorString(*sel);
  if (!s.ok()) {
    return "";
  }
  kube::ListOptions lo;
  lo.label_selector = *s;
  auto pods = kube::ListAll(client_, kube::resources::kPods, plan.ref.ns, lo);
  if (!pods.ok()) {
    return "cannot list pods: " + pods.error().ToString();
  }
  for (const auto& p : pods->items) {
    if (p["metadata"].contains("deletionTimestamp")) {
      continue;
    }
    std::string uid = p["metadata"].value("uid", "");
    int64_t restarts = 0;
    std::string last_reason;
    if (const json* st = GetField(p, "status.containerStatuses"); st != nullptr && st->is_array()) {
      for (const auto& c : *st) {
        restarts += c.value("restartCount", int64_t{0});
        if (const json* t = GetField(c, "lastState.terminated.reason"); t != nullptr) {
          last_reason = FieldText(t);
        }
      }
    }
    auto it = plan.restarts.find(uid);
    int64_t before = it == plan.restarts.end() ? 0 : it->second;
    if (restarts > before) {
      return fmt::format("pod {} restarted {} time(s) since the action{}", p["metadata"].value("name", ""),
                         restarts - before, last_reason.empty() ? "" : " (last: " + last_reason + ")");
    }
  }
  return "";
}

std::string Verifier::Check(const VerifyPlan& plan) {
  switch (plan.kind) {
    case VerifyKind::kNone:
      return "";
    case VerifyKind::kWorkload:
      return CheckWorkload(plan);
    case VerifyKind::kNodeCordoned:
    case VerifyKind::kNodeUncordoned: {
      auto n = client_.Get(plan.ref);
      if (!n.ok()) {
        return "cannot read node: " + n.error().ToString();
      }
      bool cordoned = FieldText(GetField(*n, "spec.unschedulable")) == "true";
      bool want = plan.kind == VerifyKind::kNodeCordoned;
      return cordoned == want ? "" : std::string("node is ") + (cordoned ? "cordoned" : "schedulable");
    }
    case VerifyKind::kNodeDrained: {
      kube::ListOptions lo;
      lo.field_selector = "spec.nodeName=" + plan.ref.name;
      auto pods = kube::ListAll(client_, kube::resources::kPods, "", lo);
      if (!pods.ok()) {
        return "cannot list pods: " + pods.error().ToString();
      }
      int left = 0;
      for (const auto& p : pods->items) {
        std::string phase = FieldText(GetField(p, "status.phase"));
        const json* refs = GetField(p, "metadata.ownerReferences");
        bool daemon = false;
        if (refs != nullptr && refs->is_array()) {
          for (const auto& r : *refs) {
            daemon = daemon || r.value("kind", "") == "DaemonSet";
          }
        }
        bool mirror = GetField(p, "metadata.annotations[\"kubernetes.io/config.mirror\"]") != nullptr;
        // Protected pods the drain left in place on purpose do not count.
        bool kept = plan.left_in_place.count(ObjectKey("Pod", p["metadata"].value("namespace", ""),
                                                       p["metadata"].value("name", ""))) > 0;
        if (!daemon && !mirror && !kept && phase != "Succeeded" && phase != "Failed") {
          ++left;
        }
      }
      return left == 0 ? "" : fmt::format("{} pod(s) still on the node", left);
    }
    case VerifyKind::kHpa: {
      auto h = client_.Get(plan.ref);
      if (!h.ok()) {
        return "cannot read HPA: " + h.error().ToString();
      }
      int64_t max = Int(*h, "spec.maxReplicas");
      int64_t desired = Int(*h, "status.desiredReplicas");
      if (max < plan.expect_count) {
        return fmt::format("maxReplicas is {}, expected {}", max, plan.expect_count);
      }
      return desired < max ? "" : fmt::format("still capped: desired {} replicas, maximum {}", desired, max);
    }
    case VerifyKind::kPvc: {
      auto c = client_.Get(plan.ref);
      if (!c.ok()) {
        return "cannot read PVC: " + c.error().ToString();
      }
      auto want = kube::Quantity::Parse(plan.expect_size);
      auto have = kube::Quantity::Parse(FieldText(GetField(*c, "status.capacity.storage")));
      if (!want.ok() || !have.ok()) {
        return "capacity not reported yet";
      }
      return *have >= *want ? "" : "capacity " + have->ToString() + " < requested " + want->ToString();
    }
  }
  return "";
}

v1::Verification Verifier::Verify(const VerifyPlan& plan, Millis timeout) {
  v1::Verification out;
  out.set_attempted(true);
  TimePoint start = clock_.Now();
  TimePoint deadline = start + timeout;
  std::optional<TimePoint> healthy_since;
  std::string last;
  while (true) {
    last = Check(plan);
    TimePoint now = clock_.Now();
    if (last.empty()) {
      if (!healthy_since) {
        healthy_since = now;
      }
      if (now - *healthy_since >= options_.stable_for || plan.kind != VerifyKind::kWorkload) {
        out.set_healthy(true);
        out.set_detail(fmt::format("healthy for {} ms", ToUnixMillis(now) - ToUnixMillis(*healthy_since)));
        break;
      }
    } else {
      healthy_since.reset();
    }
    if (now >= deadline) {
      out.set_healthy(false);
      out.set_detail(last.empty() ? "healthy, but not for long enough before the deadline"
                                  : "deadline passed: " + last);
      break;
    }
    sleep_(options_.poll_interval);
  }
  out.set_waited_ms(static_cast<uint32_t>(ToUnixMillis(clock_.Now()) - ToUnixMillis(start)));
  return out;
}

}  // namespace kubemend::executor
