#pragma once
// Health checks (the HealthCheck resource of the product seeds): per check a
// probe type (http, tcp, custom Job), a target (Deployment, StatefulSet or
// Pod) probed per pod, an interval, a timeout, and failure/success
// thresholds. A pod's check fires HealthCheckFailed after failure_threshold
// consecutive failures and resolves after success_threshold consecutive
// successes; value = consecutive failures, threshold = failure_threshold.
//
// Layers: HealthCheckSpec/ParseHealthChecks (config), ProbeTracker (pure
// threshold arithmetic), Prober (the I/O: real HTTP/TCP/Job probes),
// HealthCheckRunner (resolves pods through the KubeClient and runs due
// probes at clock.Now(); the caller's loop decides when to call it).
#include <absl/status/statusor.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "kubemend/common/clock.h"
#include "kubemend/common/events.h"
#include "kubemend/kube/client.h"

namespace kubemend::collector {

struct HttpProbeSpec {
  int port = 80;
  std::string path = "/";
  std::string scheme = "http";
  std::vector<int> expect_status;  // empty: any 2xx or 3xx
  std::string body_contains;       // optional
};

struct TcpProbeSpec {
  int port = 0;
};

struct CustomProbeSpec {
  std::string image;
  std::vector<std::string> command;
};

struct HealthCheckSpec {
  std::string name;
  std::string ns;
  std::string target_kind;  // Deployment | StatefulSet | Pod
  std::string target_name;
  std::string type;  // http | tcp | custom
  HttpProbeSpec http;
  TcpProbeSpec tcp;
  CustomProbeSpec custom;
  Millis interval{10'000};
  Millis timeout{2'000};
  int64_t failure_threshold = 3;
  int64_t success_threshold = 1;
  std::string address;  // overrides the pod IP (tests, or a Service address)
  v1::Severity severity = v1::SEVERITY_CRITICAL;
};

// Parses `health_checks.checks`; errors name the entry and key.
absl::StatusOr<std::vector<HealthCheckSpec>> ParseHealthChecks(const YAML::Node& node, const std::string& where);

struct ProbeResult {
  bool ok = false;
  std::string detail;  // why it failed, or what succeeded ("HTTP 200")
};

// Consecutive-result counting for one (check, pod).
class ProbeTracker {
 public:
  enum class Transition { kNone, kFiring, kResolved };
  ProbeTracker(int64_t failure_threshold, int64_t success_threshold)
      : failure_threshold_(failure_threshold), success_threshold_(success_threshold) {}
  Transition Record(bool ok);
  bool firing() const { return firing_; }
  int64_t failures() const { return failures_; }
  int64_t successes() const { return successes_; }

 private:
  int64_t failure_threshold_;
  int64_t success_threshold_;
  int64_t failures_ = 0;
  int64_t successes_ = 0;
  bool firing_ = false;
};

// One probe against one pod. Implementations block up to spec.timeout.
class Prober {
 public:
  virtual ~Prober() = default;
  virtual ProbeResult Probe(const HealthCheckSpec& spec, const std::string& pod_ns, const std::string& pod_name,
                            const std::string& address) = 0;
};

// HTTP and TCP against the address; custom creates a Job from the spec and
// reads its outcome through the KubeClient (polling every poll_interval via
// `sleep`, deleting the Job afterwards).
class RealProber final : public Prober {
 public:
  RealProber(kube::KubeClient* kube, std::function<void(Millis)> sleep, Millis poll_interval = Millis(500));
  ProbeResult Probe(const HealthCheckSpec& spec, const std::string& pod_ns, const std::string& pod_name,
                    const std::string& address) override;

 private:
  ProbeResult Custom(const HealthCheckSpec& spec, const std::string& pod_name);
  kube::KubeClient* kube_;
  std::function<void(Millis)> sleep_;
  Millis poll_interval_;
};

ProbeResult HttpProbe(const std::string& address, const HttpProbeSpec& spec, Millis timeout);
ProbeResult TcpProbe(const std::string& address, int port, Millis timeout);

class HealthCheckRunner {
 public:
  // `kube` may be null when every check has an address and targets a Pod.
  HealthCheckRunner(std::vector<HealthCheckSpec> checks, kube::KubeClient* kube, Prober* prober, std::string cluster,
                    ProducerIdentity who, const Clock& clock);
  // Runs every probe that is due at clock.Now(); returns the transitions.
  // A check runs in rounds on the wall clock's multiples of its interval
  // (Unix time): every collector replica probes in the same rounds, and a
  // transition's event id is derived from the check, the pod and the round
  // the failure started firing in, so replicas publish one event for it.
  // Errors resolving pods go to `on_error` (the check is skipped this round).
  std::vector<v1::Event> RunDue(const std::function<void(const std::string&)>& on_error);
  // Earliest time a probe is due (for the loop's wait).
  TimePoint NextDue() const;
  std::map<std::string, std::string> Details() const;

 private:
  struct PodRef {
    std::string ns, name, ip;
    std::map<std::string, std::string> labels;
  };
  absl::StatusOr<std::vector<PodRef>> PodsOf(const HealthCheckSpec& spec);
  v1::Event Build(const HealthCheckSpec& spec, const PodRef& pod, const ProbeTracker& t, v1::SignalStatus status,
                  const std::string& detail, const std::string& incident, int64_t round_ms);

  struct State {
    ProbeTracker tracker;
    std::string incident_id;
    int64_t firing_round_ms = 0;  // the round it started firing in
  };
  std::vector<HealthCheckSpec> checks_;
  std::vector<TimePoint> next_due_;
  kube::KubeClient* kube_;
  Prober* prober_;
  std::string cluster_;
  ProducerIdentity who_;
  const Clock& clock_;
  std::map<std::string, State> state_;  // "check/ns/pod"
  std::map<std::string, std::string> last_result_;
};

}  // namespace kubemend::collector
