#pragma once
// What every kubemend service has in common at run time: its config keys
// (kafka, grpc, http, log), the Prometheus /metrics endpoint, the gRPC server
// with grpc.health.v1, reflection and kubemend.v1.Admin/GetStatus, health
// checks that flip SERVING/NOT_SERVING, the ready file, and a clean shutdown
// on SIGTERM/SIGINT.
//
// Threading: construct ServiceRuntime first thing in main (it blocks the
// shutdown signals so that every thread created later inherits the mask), add
// checks and services, Start(), then WaitForShutdown() on the main thread.
#include <grpcpp/grpcpp.h>

#include <absl/status/status.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kubemend/common/auth.h"
#include "kubemend/common/clock.h"
#include "kubemend/common/config.h"
#include "kubemend/common/events.h"
#include "kubemend/common/kafka.h"
#include "kubemend/common/metrics.h"
#include "kubemend/v1/admin.grpc.pb.h"

namespace httplib {
class Server;
}

namespace kubemend {

struct CommonConfig {
  std::string instance;  // default: hostname-pid
  KafkaConfig kafka;
  std::string grpc_listen = "0.0.0.0:9000";
  std::string http_listen = "0.0.0.0:9100";
  // TLS on the HTTP port (the collector's webhook, /metrics, /healthz) when
  // both are set; plain HTTP otherwise.
  std::string http_tls_cert_file;
  std::string http_tls_key_file;
  std::string log_level = "info";
  std::string log_format = "logfmt";
  std::string ready_file;  // written with the bound addresses once serving starts
  // Where services keep state files (the collector's dedup state). Empty:
  // $TMPDIR, else /tmp. Never the working directory (read-only in the image).
  std::string state_dir;
  AdminAuthConfig admin;   // who may call the admin APIs (auth.h)
};

// Registers kafka.*, grpc.listen, http.listen, http.tls.*, log.*, runtime.ready_file,
// runtime.state_dir,
// admin.* (auth.h).
void AddCommonKeys(ConfigSchema& schema, CommonConfig* cfg, const std::string& service);

// Parses --config PATH, --help-config, --version. Returns false when main
// should exit with *exit_code (help printed or bad arguments).
bool ParseArgs(int argc, char** argv, const std::string& service, const ConfigSchema& schema,
               std::string* config_path, int* exit_code);

std::string KubemendVersion();

// http.tls.cert_file and http.tls.key_file: both or neither, both readable.
absl::Status CheckHttpTlsFiles(const CommonConfig& cfg);

// runtime.state_dir with its default: the configured directory, else
// env TMPDIR, else /tmp.
std::string StateDir(const CommonConfig& cfg, const Env& env);

class ServiceRuntime {
 public:
  ServiceRuntime(std::string service, CommonConfig cfg);
  ~ServiceRuntime();

  const std::string& service() const { return service_; }
  const CommonConfig& config() const { return cfg_; }
  MetricsRegistry& metrics() { return metrics_; }
  ProducerIdentity identity() const;
  const Clock& clock() const { return SystemClock::Instance(); }

  // The shared producer (created on first call).
  absl::StatusOr<Producer*> producer();
  // Consumers whose status and lag GetStatus reports; not owned.
  void AddConsumer(BatchConsumer* consumer);
  // A readiness condition: returns "" when fine, else why not. Evaluated
  // once a second on the health thread.
  void AddHealthCheck(std::string name, std::function<std::string()> check);
  // Called once a second on the health thread (e.g. to refresh gauges).
  void AddPeriodic(std::function<void()> fn);
  // Adds fields to GetStatus (mode, paused, details).
  void SetStatusHook(std::function<void(v1::GetStatusResponse*)> hook);
  void AddGrpcService(grpc::Service* service);
  // Extra HTTP routes next to /metrics and /healthz.
  void ConfigureHttp(std::function<void(httplib::Server&)> configure);
  // For a service that serves http.listen with a server of its own (the
  // collector's asynchronous webhook server): Start() then starts no httplib
  // server but calls `start` (which binds http.listen, with http.tls.*, and
  // returns the bound port); `stop` runs at destruction. That server answers
  // /metrics (metrics().Render()) and /healthz (Healthz()) itself.
  void ServeHttpWith(std::function<absl::StatusOr<int>()> start, std::function<void()> stop);
  // /healthz's answer: {200, "ok\n"} or {503, "not serving: <why>\n"}.
  std::pair<int, std::string> Healthz();

  void CountError(const std::string& kind);
  uint64_t errors() const { return errors_.load(); }

  absl::Status Start();
  void WaitForShutdown();
  bool stopping() const { return stopping_.load(); }
  void RequestShutdown();

  bool serving() const { return serving_.load(); }
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  void FillStatus(v1::GetStatusResponse* out);

 private:
  void HealthLoop();
  absl::Status StartHttp();
  void WriteReadyFile();
  void AuditDenial(const AuthDenial& d);

  std::string service_;
  CommonConfig cfg_;
  MetricsRegistry metrics_;
  TimePoint started_at_;
  std::unique_ptr<Producer> producer_;
  std::vector<BatchConsumer*> consumers_;
  std::vector<std::pair<std::string, std::function<std::string()>>> checks_;
  std::function<void(v1::GetStatusResponse*)> status_hook_;
  std::vector<std::function<void()>> periodic_;
  std::vector<grpc::Service*> grpc_services_;
  std::unique_ptr<grpc::Service> admin_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<httplib::Server> http_server_;
  std::function<void(httplib::Server&)> http_configure_;
  std::function<absl::StatusOr<int>()> http_start_;
  std::function<void()> http_stop_;
  std::thread http_thread_;
  std::thread health_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> serving_{false};
  std::string not_serving_reason_;
  std::mutex reason_mu_;
  std::mutex producer_mu_;  // producer() is called from gRPC threads too (denials)
  std::atomic<uint64_t> errors_{0};
  std::unique_ptr<DenialLimiter> denial_limiter_;
  int grpc_port_ = 0;
  int http_port_ = 0;
};

}  // namespace kubemend
