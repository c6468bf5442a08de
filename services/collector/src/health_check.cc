#include "health_check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "kubemend/common/config.h"
#include "kubemend/common/ids.h"
#include "metric_trigger.h"

namespace kubemend::collector {
namespace {

using nlohmann::json;

std::string Seconds(Millis m) { return std::to_string(m.count()) + "ms"; }

}  // namespace

absl::StatusOr<std::vector<HealthCheckSpec>> ParseHealthChecks(const YAML::Node& node, const std::string& where) {
  std::vector<HealthCheckSpec> out;
  if (!node || node.IsNull()) {
    return out;
  }
  if (!node.IsSequence()) {
    return absl::InvalidArgumentError(where + ": must be a list of checks");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& n = node[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    auto bad = [&](const std::string& key, const std::string& why) {
      return absl::InvalidArgumentError(at + "." + key + ": " + why);
    };
    if (!n.IsMap()) {
      return absl::InvalidArgumentError(at + ": must be a map");
    }
    HealthCheckSpec h;
    try {
      static const std::set<std::string> kKeys{"name",     "namespace",         "target",            "type",
                                               "http",     "tcp",               "custom",            "command",
                                               "interval", "timeout",           "failure_threshold", "success_threshold",
                                               "address",  "severity"};
      for (auto it = n.begin(); it != n.end(); ++it) {
        std::string k = it->first.as<std::string>();
        if (kKeys.count(k) == 0) {
          return bad(k, "unknown key");
        }
      }
      h.name = n["name"] ? n["name"].as<std::string>() : "";
      if (h.name.empty()) {
        return bad("name", "required");
      }
      if (!names.insert(h.name).second) {
        return bad("name", "duplicate check name \"" + h.name + "\"");
      }
      h.ns = n["namespace"] ? n["namespace"].as<std::string>() : "";
      if (h.ns.empty()) {
        return bad("namespace", "required");
      }
      std::string target = n["target"] ? n["target"].as<std::string>() : "";
      auto slash = target.find('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == target.size()) {
        return bad("target", "must be Deployment/name, StatefulSet/name or Pod/name");
      }
      h.target_kind = target.substr(0, slash);
      h.target_name = target.substr(slash + 1);
      if (h.target_kind != "Deployment" && h.target_kind != "StatefulSet" && h.target_kind != "Pod") {
        return bad("target", "kind must be Deployment, StatefulSet or Pod, got " + h.target_kind);
      }
      h.type = n["type"] ? n["type"].as<std::string>() : "";
      if (h.type == "http") {
        const YAML::Node& p = n["http"];
        if (!p || !p["port"]) {
          return bad("http.port", "required for type http");
        }
        h.http.port = p["port"].as<int>();
        h.http.path = p["path"] ? p["path"].as<std::string>() : "/";
        h.http.scheme = p["scheme"] ? p["scheme"].as<std::string>() : "http";
        if (h.http.scheme != "http") {
          return bad("http.scheme", "only http is supported (probe TLS endpoints with tcp)");
        }
        if (p["expect_status"]) {
          if (p["expect_status"].IsSequence()) {
            for (const auto& s : p["expect_status"]) {
              h.http.expect_status.push_back(s.as<int>());
            }
          } else {
            h.http.expect_status.push_back(p["expect_status"].as<int>());
          }
        }
        h.http.body_contains = p["body_contains"] ? p["body_contains"].as<std::string>() : "";
      } else if (h.type == "tcp") {
        if (!n["tcp"] || !n["tcp"]["port"]) {
          return bad("tcp.port", "required for type tcp");
        }
        h.tcp.port = n["tcp"]["port"].as<int>();
      } else if (h.type == "custom") {
        const YAML::Node& c = n["custom"];
        if (!c || !c["image"]) {
          return bad("custom.image", "required for type custom (the Job's container image)");
        }
        h.custom.image = c["image"].as<std::string>();
        if (c["command"]) {
          h.custom.command = c["command"].as<std::vector<std::string>>();
        }
      } else if (h.type == "command") {
        return bad("type", "command probes need the pods/exec streaming API, which this collector does not speak; "
                           "use type custom (a Job whose success is the probe result)");
      } else {
        return bad("type", "must be http, tcp or custom, got \"" + h.type + "\"");
      }
      auto dur = [&](const char* key, Millis* out) -> absl::Status {
        if (n[key]) {
          if (auto st = ParseDuration(n[key].as<std::string>(), out); !st.ok()) {
            return bad(key, std::string(st.message()));
          }
        }
        if (out->count() <= 0) {
          return bad(key, "must be > 0");
        }
        return absl::OkStatus();
      };
      if (auto st = dur("interval", &h.interval); !st.ok()) {
        return st;
      }
      if (auto st = dur("timeout", &h.timeout); !st.ok()) {
        return st;
      }
      h.failure_threshold = n["failure_threshold"] ? n["failure_threshold"].as<int64_t>() : 3;
      h.success_threshold = n["success_threshold"] ? n["success_threshold"].as<int64_t>() : 1;
      if (h.failure_threshold < 1) {
        return bad("failure_threshold", "must be >= 1");
      }
      if (h.success_threshold < 1) {
        return bad("success_threshold", "must be >= 1");
      }
      h.address = n["address"] ? n["address"].as<std::string>() : "";
      if (n["severity"]) {
        h.severity = ParseSeverity(n["severity"].as<std::string>());
        if (h.severity == v1::SEVERITY_UNSPECIFIED) {
          return bad("severity", "must be info, warning or critical");
        }
      }
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(at + ": " + e.what());
    }
    out.push_back(std::move(h));
  }
  return out;
}

ProbeTracker::Transition ProbeTracker::Record(bool ok) {
  if (ok) {
    failures_ = 0;
    ++successes_;
    if (firing_ && successes_ >= success_threshold_) {
      firing_ = false;
      return Transition::kResolved;
    }
    return Transition::kNone;
  }
  successes_ = 0;
  ++failures_;
  if (!firing_ && failures_ >= failure_threshold_) {
    firing_ = true;
    return Transition::kFiring;
  }
  return Transition::kNone;
}

ProbeResult HttpProbe(const std::string& address, const HttpProbeSpec& spec, Millis timeout) {
  httplib::Client cli(address, spec.port);
  const auto secs = timeout.count() / 1000;
  const auto usecs = (timeout.count() % 1000) * 1000;
  cli.set_connection_timeout(secs, usecs);
  cli.set_read_timeout(secs, usecs);
  cli.set_write_timeout(secs, usecs);
  cli.set_keep_alive(false);
  auto res = cli.Get(spec.path.c_str());
  if (!res) {
    return {false, "HTTP GET " + address + ":" + std::to_string(spec.port) + spec.path + " failed: " +
                       httplib::to_string(res.error())};
  }
  bool status_ok = spec.expect_status.empty()
                       ? (res->status >= 200 && res->status < 400)
                       : std::find(spec.expect_status.begin(), spec.expect_status.end(), res->status) !=
                             spec.expect_status.end();
  if (!status_ok) {
    return {false, "HTTP " + std::to_string(res->status) + " from " + spec.path};
  }
  if (!spec.body_contains.empty() && res->body.find(spec.body_contains) == std::string::npos) {
    return {false, "HTTP " + std::to_string(res->status) + " body does not contain \"" + spec.body_contains + "\""};
  }
  return {true, "HTTP " + std::to_string(res->status)};
}

ProbeResult TcpProbe(const std::string& address, int port, Millis timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string where = address + ":" + std::to_string(port);
  if (int rc = getaddrinfo(address.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0) {
    return {false, "TCP " + where + ": " + gai_strerror(rc)};
  }
  std::string error = "no address";
  bool ok = false;
  for (addrinfo* ai = res; ai != nullptr && !ok; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      error = strerror(errno);
      continue;
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = poll(&p, 1, static_cast<int>(timeout.count()));
      if (rc == 0) {
        error = "connect timed out after " + Seconds(timeout);
      } else if (rc < 0) {
        error = strerror(errno);
      } else {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0) {
          ok = true;
        } else {
          error = strerror(err);
        }
      }
    } else {
      error = strerror(errno);
    }
    close(fd);
  }
  freeaddrinfo(res);
  if (!ok) {
    return {false, "TCP " + where + ": " + error};
  }
  return {true, "TCP " + where + " connected"};
}

RealProber::RealProber(kube::KubeClient* kube, std::function<void(Millis)> sleep, Millis poll_interval)
    : kube_(kube), sleep_(std::move(sleep)), poll_interval_(poll_interval) {}

ProbeResult RealProber::Probe(const HealthCheckSpec& spec, const std::string& pod_ns, const std::string& pod_name,
                              const std::string& address) {
  if (spec.type == "http") {
    return HttpProbe(address, spec.http, spec.timeout);
  }
  if (spec.type == "tcp") {
    return TcpProbe(address, spec.tcp.port, spec.timeout);
  }
  return Custom(spec, pod_name);
}

ProbeResult RealProber::Custom(const HealthCheckSpec& spec, const std::string& pod_name) {
  if (kube_ == nullptr) {
    return {false, "custom probe needs a Kubernetes client (collector.kubernetes.enabled)"};
  }
  // The Job gets the pod's name and IP in its environment; a generated name
  // keeps concurrent probes apart.
  json container = {{"name", "probe"}, {"image", spec.custom.image}};
  if (!spec.custom.command.empty()) {
    container["command"] = spec.custom.command;
  }
  container["env"] = json::array({json{{"name", "KUBEMEND_PROBE_POD"}, {"value", pod_name}},
                                  json{{"name", "KUBEMEND_HEALTH_CHECK"}, {"value", spec.name}}});
  std::string base = "hc-" + spec.name;
  if (base.size() > 40) {
    base.resize(40);
  }
  json job = {{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata",
               {{"generateName", base + "-"},
                {"namespace", spec.ns},
                {"labels", {{"app.kubernetes.io/managed-by", "kubemend"}, {"kubemend.io/health-check", spec.name}}}}},
              {"spec",
               {{"backoffLimit", 0},
                {"activeDeadlineSeconds", std::max<int64_t>(1, spec.timeout.count() / 1000)},
                {"template", {{"spec", {{"restartPolicy", "Never"}, {"containers", json::array({container})}}}}}}}};
  auto created = kube_->Create(kube::resources::kJobs, spec.ns, job);
  if (!created.ok()) {
    return {false, "custom probe: cannot create Job: " + created.error().ToString()};
  }
  const std::string name = created.value()["metadata"].value("name", "");
  kube::ObjectRef ref{kube::resources::kJobs, spec.ns, name, {}};
  ProbeResult result{false, "custom probe: Job " + name + " did not finish within " + Seconds(spec.timeout)};
  for (Millis waited{0}; waited <= spec.timeout; waited += poll_interval_) {
    auto j = kube_->Get(ref);
    if (!j.ok()) {
      result = {false, "custom probe: reading Job " + name + ": " + j.error().ToString()};
      break;
    }
    const json& st = j.value().value("status", json::object());
    if (st.value("succeeded", 0) > 0) {
      result = {true, "Job " + name + " succeeded"};
      break;
    }
    if (st.value("failed", 0) > 0) {
      result = {false, "custom probe: Job " + name + " failed"};
      break;
    }
    sleep_(poll_interval_);
  }
  kube::DeleteOptions del;
  del.propagation_policy = kube::PropagationPolicy::kBackground;
  (void)kube_->Delete(ref, del);
  return result;
}

HealthCheckRunner::HealthCheckRunner(std::vector<HealthCheckSpec> checks, kube::KubeClient* kube, Prober* prober,
                                     std::string cluster, ProducerIdentity who, const Clock& clock)
    : checks_(std::move(checks)),
      next_due_(checks_.size(), clock.Now()),
      kube_(kube),
      prober_(prober),
      cluster_(std::move(cluster)),
      who_(std::move(who)),
      clock_(clock) {}

TimePoint HealthCheckRunner::NextDue() const {
  TimePoint t = TimePoint::max();
  for (auto d : next_due_) {
    t = std::min(t, d);
  }
  return t;
}

absl::StatusOr<std::vector<HealthCheckRunner::PodRef>> HealthCheckRunner::PodsOf(const HealthCheckSpec& spec) {
  std::vector<PodRef> out;
  if (kube_ == nullptr) {
    if (spec.target_kind != "Pod" || spec.address.empty()) {
      return absl::FailedPreconditionError("check " + spec.name +
                                           ": targets other than Pod with an address need the Kubernetes client");
    }
    out.push_back({spec.ns, spec.target_name, spec.address, {}});
    return out;
  }
  auto to_pod = [&](const json& p) {
    PodRef r;
    const json& meta = p.value("metadata", json::object());
    r.ns = meta.value("namespace", spec.ns);
    r.name = meta.value("name", "");
    r.ip = spec.address.empty() ? p.value("status", json::object()).value("podIP", "") : spec.address;
    if (meta.contains("labels") && meta["labels"].is_object()) {
      for (auto it = meta["labels"].begin(); it != meta["labels"].end(); ++it) {
        if (it.value().is_string()) {
          r.labels[it.key()] = it.value().get<std::string>();
        }
      }
    }
    return r;
  };
  if (spec.target_kind == "Pod") {
    auto pod = kube_->Get(kube::Pod(spec.ns, spec.target_name));
    if (!pod.ok()) {
      return absl::UnavailableError("check " + spec.name + ": pod: " + pod.error().ToString());
    }
    out.push_back(to_pod(pod.value()));
    return out;
  }
  kube::ObjectRef ref{spec.target_kind == "Deployment" ? kube::resources::kDeployments : kube::resources::kStatefulSets,
                      spec.ns, spec.target_name, {}};
  auto w = kube_->Get(ref);
  if (!w.ok()) {
    return absl::UnavailableError("check " + spec.name + ": " + spec.target_kind + ": " + w.error().ToString());
  }
  const json& ml = w.value().value("spec", json::object()).value("selector", json::object()).value("matchLabels",
                                                                                                   json::object());
  std::string selector;
  for (auto it = ml.begin(); it != ml.end(); ++it) {
    if (it.value().is_string()) {
      selector += (selector.empty() ? "" : ",") + it.key() + "=" + it.value().get<std::string>();
    }
  }
  if (selector.empty()) {
    return absl::FailedPreconditionError("check " + spec.name + ": " + spec.target_kind +
                                         " has no spec.selector.matchLabels");
  }
  kube::ListOptions lo;
  lo.label_selector = selector;
  auto pods = kube::ListAll(*kube_, kube::resources::kPods, spec.ns, lo);
  if (!pods.ok()) {
    return absl::UnavailableError("check " + spec.name + ": listing pods: " + pods.error().ToString());
  }
  for (const auto& p : pods.value().items) {
    const std::string phase = p.value("status", json::object()).value("phase", "");
    if (phase != "Running" || p.value("metadata", json::object()).contains("deletionTimestamp")) {
      continue;  // not expected to answer yet (or any more)
    }
    out.push_back(to_pod(p));
  }
  return out;
}

v1::Event HealthCheckRunner::Build(const HealthCheckSpec& spec, const PodRef& pod, const ProbeTracker& t,
                                   v1::SignalStatus status, const std::string& detail, const std::string& incident,
                                   int64_t round_ms) {
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_SIGNAL, who_, clock_);
  const std::string fingerprint = "health/" + spec.name + "/" + pod.ns + "/" + pod.name;
  e.set_event_id(DerivedUuid(fingerprint, std::string(status == v1::SIGNAL_STATUS_RESOLVED ? "signal/resolved/"
                                                                                            : "signal/firing/") +
                                              std::to_string(round_ms)));
  e.set_incident_id(incident);
  v1::Target* tg = e.mutable_target();
  tg->set_cluster(cluster_);
  tg->set_namespace_(pod.ns);
  tg->set_kind("Pod");
  tg->set_name(pod.name);
  if (spec.target_kind != "Pod") {
    tg->set_owner_kind(spec.target_kind);
    tg->set_owner_name(spec.target_name);
  }
  for (const auto& [k, v] : pod.labels) {
    (*tg->mutable_labels())[k] = v;
  }
  v1::Signal* s = e.mutable_signal();
  s->set_source(v1::SIGNAL_SOURCE_HEALTH_CHECK);
  s->set_name("HealthCheckFailed");
  s->set_reason(spec.type);
  s->set_fingerprint(fingerprint);
  s->set_status(status);
  s->set_severity(spec.severity);
  s->set_has_value(true);
  s->set_value(static_cast<double>(t.failures()));
  s->set_threshold(static_cast<double>(spec.failure_threshold));
  (*s->mutable_labels())["health_check"] = spec.name;
  (*s->mutable_labels())["probe"] = spec.type;
  (*s->mutable_labels())["namespace"] = pod.ns;
  (*s->mutable_annotations())["last_result"] = detail;
  s->set_summary(status == v1::SIGNAL_STATUS_FIRING
                     ? "Health check " + spec.name + " failed " + std::to_string(t.failures()) +
                           " times in a row on pod " + pod.ns + "/" + pod.name + ": " + detail
                     : "Resolved: health check " + spec.name + " passes again on pod " + pod.ns + "/" + pod.name);
  if (status == v1::SIGNAL_STATUS_FIRING) {
    SetTimestamp(s->mutable_starts_at(), clock_.Now());
  } else {
    SetTimestamp(s->mutable_ends_at(), clock_.Now());
  }
  return e;
}

std::vector<v1::Event> HealthCheckRunner::RunDue(const std::function<void(const std::string&)>& on_error) {
  std::vector<v1::Event> out;
  const TimePoint now = clock_.Now();
  for (size_t i = 0; i < checks_.size(); ++i) {
    if (next_due_[i] > now) {
      continue;
    }
    const int64_t interval = std::max<int64_t>(1, checks_[i].interval.count());
    const int64_t round = ToUnixMillis(now) - ToUnixMillis(now) % interval;
    next_due_[i] = TimePoint(Millis(round + interval));
    const auto& spec = checks_[i];
    auto pods = PodsOf(spec);
    if (!pods.ok()) {
      on_error(std::string(pods.status().message()));
      continue;
    }
    std::set<std::string> current;
    for (const auto& pod : *pods) {
      const std::string key = spec.name + "/" + pod.ns + "/" + pod.name;
      current.insert(key);
      ProbeResult r = pod.ip.empty() && spec.type != "custom"
                          ? ProbeResult{false, "pod has no IP yet"}
                          : prober_->Probe(spec, pod.ns, pod.name, pod.ip);
      last_result_[key] = (r.ok ? "ok: " : "failed: ") + r.detail;
      auto it = state_.find(key);
      if (it == state_.end()) {
        it = state_.emplace(key, State{ProbeTracker(spec.failure_threshold, spec.success_threshold), ""}).first;
      }
      auto tr = it->second.tracker.Record(r.ok);
      if (tr == ProbeTracker::Transition::kFiring) {
        it->second.firing_round_ms = round;
        it->second.incident_id = DerivedUuid("health/" + key, "incident/" + std::to_string(round));
        out.push_back(Build(spec, pod, it->second.tracker, v1::SIGNAL_STATUS_FIRING, r.detail, it->second.incident_id,
                            round));
      } else if (tr == ProbeTracker::Transition::kResolved) {
        out.push_back(Build(spec, pod, it->second.tracker, v1::SIGNAL_STATUS_RESOLVED, r.detail, it->second.incident_id,
                            it->second.firing_round_ms));
      }
    }
    // Pods that went away: a firing check on them resolves (the pod is gone).
    const std::string prefix = spec.name + "/";
    for (auto it = state_.lower_bound(prefix); it != state_.end() && it->first.rfind(prefix, 0) == 0;) {
      if (current.count(it->first) == 0) {
        if (it->second.tracker.firing()) {
          auto rest = it->first.substr(prefix.size());
          auto slash = rest.find('/');
          PodRef gone{rest.substr(0, slash), rest.substr(slash + 1), "", {}};
          out.push_back(Build(spec, gone, it->second.tracker, v1::SIGNAL_STATUS_RESOLVED, "pod is gone",
                              it->second.incident_id, it->second.firing_round_ms));
        }
        last_result_.erase(it->first);
        it = state_.erase(it);
      } else {
        ++it;
      }
    }
  }
  return out;
}

std::map<std::string, std::string> HealthCheckRunner::Details() const {
  std::map<std::string, std::string> d;
  for (const auto& [k, v] : last_result_) {
    d["health." + k] = v;
  }
  return d;
}

}  // namespace kubemend::collector
