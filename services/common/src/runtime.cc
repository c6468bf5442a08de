#include "kubemend/common/runtime.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <httplib.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "kubemend/common/log.h"

namespace kubemend {
namespace {

// Health service name set NOT_SERVING once a consumer has found a committed
// offset gone from the broker: events were lost. Kept apart from the overall
// status so that the loss is visible without making an orchestrator restart
// a process that a restart cannot fix.
constexpr char kDataIntegrityHealth[] = "kubemend.v1.DataIntegrity";
// Always SERVING while the process answers: for liveness probes, which must
// not restart a pod because Kafka or PostgreSQL is away.
constexpr char kLivenessHealth[] = "kubemend.v1.Liveness";

class AdminServiceImpl final : public v1::Admin::Service {
 public:
  explicit AdminServiceImpl(ServiceRuntime* rt) : rt_(rt) {}
  grpc::Status GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                         v1::GetStatusResponse* out) override {
    rt_->FillStatus(out);
    return grpc::Status::OK;
  }

 private:
  ServiceRuntime* rt_;
};

std::pair<std::string, int> SplitHostPort(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return {listen, 0};
  }
  return {listen.substr(0, colon), std::stoi(listen.substr(colon + 1))};
}

std::string DefaultInstance(const std::string& service) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

}  // namespace

std::string StateDir(const CommonConfig& cfg, const Env& env) {
  if (!cfg.state_dir.empty()) {
    return cfg.state_dir;
  }
  auto it = env.find("TMPDIR");
  return it != env.end() && !it->second.empty() ? it->second : "/tmp";
}

std::string KubemendVersion() { return "0.1.0"; }

void AddCommonKeys(ConfigSchema& s, CommonConfig* c, const std::string& service) {
  c->kafka.group_id = "kubemend-" + service;
  s.Add("instance", &c->instance, "instance name in events and status (default host-pid)");
  s.Add("kafka.brokers", &c->kafka.brokers, "Kafka bootstrap servers, host:port[,host:port]");
  s.Add("kafka.topic_prefix", &c->kafka.topic_prefix, "prefix of every kubemend topic");
  s.Add("kafka.group_id", &c->kafka.group_id, "consumer group of this service");
  s.Add("kafka.properties", &c->kafka.properties,
        "extra librdkafka properties (security.protocol, sasl.*, ssl.*, ...)");
  s.Add("kafka.delivery_timeout", &c->kafka.delivery_timeout,
        "how long a publish may wait for the broker's acknowledgement");
  s.Add("kafka.manage_topics", &c->kafka.manage_topics,
        "create missing topics at start and refuse to start when the control topic would "
        "lose events to retention");
  s.Add("kafka.partitions", &c->kafka.partitions, "partitions of topics created at start", 1, 1024);
  s.Add("grpc.listen", &c->grpc_listen, "gRPC health + admin address (port 0 = any)");
  s.Add("http.listen", &c->http_listen, "HTTP address for /metrics and /healthz (port 0 = any)");
  s.Add("http.tls.cert_file", &c->http_tls_cert_file,
        "PEM certificate (chain) for the HTTP port: HTTPS for the webhook, /metrics and /healthz");
  s.Add("http.tls.key_file", &c->http_tls_key_file, "PEM private key for http.tls.cert_file");
  s.AddEnum("log.level", &c->log_level, {"trace", "debug", "info", "warn", "error"}, "log level");
  s.AddEnum("log.format", &c->log_format, {"logfmt"}, "log format");
  s.Add("runtime.ready_file", &c->ready_file,
        "file written with the bound addresses once the service is up");
  s.Add("runtime.state_dir", &c->state_dir,
        "directory for state files such as the collector's dedup state (default: $TMPDIR, else /tmp); "
        "must be writable by the service's user");
  AddAdminAuthKeys(s, &c->admin);
}

bool ParseArgs(int argc, char** argv, const std::string& service, const ConfigSchema& schema,
               std::string* config_path, int* exit_code) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      *config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      *config_path = a.substr(9);
    } else if (a == "--help-config") {
      std::cout << schema.Describe();
      *exit_code = 0;
      return false;
    } else if (a == "--version") {
      std::cout << "kubemend-" << service << " " << KubemendVersion() << "\n";
      *exit_code = 0;
      return false;
    } else if (a == "--help" || a == "-h") {
      std::cout << "usage: kubemend-" << service
                << " [--config FILE] [--help-config] [--version]\n"
                   "Every config key can be set by environment variable; --help-config lists "
                   "them.\n";
      *exit_code = 0;
      return false;
    } else {
      std::cerr << "kubemend-" << service << ": unknown argument " << a << " (try --help)\n";
      *exit_code = 2;
      return false;
    }
  }
  if (config_path->empty()) {
    if (const char* p = std::getenv("KUBEMEND_CONFIG")) {
      *config_path = p;
    }
  }
  return true;
}

ServiceRuntime::ServiceRuntime(std::string service, CommonConfig cfg)
    : service_(std::move(service)),
      cfg_(std::move(cfg)),
      started_at_(SystemClock::Instance().Now()),
      denial_limiter_(std::make_unique<DenialLimiter>(cfg_.admin.denials_per_minute)) {
  // glibc raises its mmap threshold each time a large block is freed (up to
  // 32 MiB), after which librdkafka's fetch buffers and the batches' vectors
  // come from the heap and stay in RSS after the load passed. A fixed 1 MiB
  // threshold gives them back on free; the health loop also trims the
  // arenas every ~10 s (malloc_trim).
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  // glibc gives each contending thread its own arena, up to 8 per core, and
  // an arena keeps its peak. librdkafka, gRPC and the batch pipelines run
  // a dozen threads: at load the audit held 124 MiB with the default and 86
  // MiB with two arenas, at no more CPU per signal (bench/README.md, session
  // 6). Small allocations come from each thread's cache (tcache) anyway.
  mallopt(M_ARENA_MAX, 2);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (cfg_.instance.empty()) {
    cfg_.instance = DefaultInstance(service_);
  }
  InitLogging(service_, cfg_.log_level, cfg_.log_format);
}

ServiceRuntime::~ServiceRuntime() {
  stopping_ = true;
  if (health_thread_.joinable()) {
    health_thread_.join();
  }
  if (http_server_) {
    http_server_->stop();
  }
  if (http_stop_) {
    http_stop_();
  }
  if (http_thread_.joinable()) {
    http_thread_.join();
  }
  if (grpc_server_) {
    grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
}

ProducerIdentity ServiceRuntime::identity() const {
  return {service_, cfg_.instance, KubemendVersion()};
}

absl::StatusOr<Producer*> ServiceRuntime::producer() {
  std::lock_guard lock(producer_mu_);
  if (!producer_) {
    auto p = Producer::Create(cfg_.kafka, "kubemend-" + service_ + "-" + cfg_.instance, &metrics_);
    if (!p.ok()) {
      return p.status();
    }
    producer_ = std::move(*p);
  }
  return producer_.get();
}

void ServiceRuntime::AddConsumer(BatchConsumer* consumer) { consumers_.push_back(consumer); }

void ServiceRuntime::AddHealthCheck(std::string name, std::function<std::string()> check) {
  checks_.emplace_back(std::move(name), std::move(check));
}

void ServiceRuntime::AddPeriodic(std::function<void()> fn) { periodic_.push_back(std::move(fn)); }

void ServiceRuntime::SetStatusHook(std::function<void(v1::GetStatusResponse*)> hook) {
  status_hook_ = std::move(hook);
}

void ServiceRuntime::AddGrpcService(grpc::Service* service) { grpc_services_.push_back(service); }

void ServiceRuntime::ConfigureHttp(std::function<void(httplib::Server&)> configure) {
  http_configure_ = std::move(configure);
}

void ServiceRuntime::ServeHttpWith(std::function<absl::StatusOr<int>()> start, std::function<void()> stop) {
  http_start_ = std::move(start);
  http_stop_ = std::move(stop);
}

std::pair<int, std::string> ServiceRuntime::Healthz() {
  if (serving_) {
    return {200, "ok\n"};
  }
  std::lock_guard lock(reason_mu_);
  return {503, "not serving: " + not_serving_reason_ + "\n"};
}

absl::Status CheckHttpTlsFiles(const CommonConfig& cfg) {
  const std::string& cert = cfg.http_tls_cert_file;
  const std::string& key = cfg.http_tls_key_file;
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError(std::string("key ") +
                                      (cert.empty() ? "http.tls.cert_file" : "http.tls.key_file") +
                                      ": http.tls.cert_file and http.tls.key_file go together");
  }
  for (const auto& [k, path] : {std::pair{"http.tls.cert_file", cert}, std::pair{"http.tls.key_file", key}}) {
    if (!path.empty() && !std::ifstream(path).good()) {
      return absl::InvalidArgumentError(std::string("key ") + k + ": cannot read " + path);
    }
  }
  return absl::OkStatus();
}

void ServiceRuntime::CountError(const std::string& kind) {
  errors_++;
  metrics_.GetCounter("kubemend_errors_total", "Errors by kind", {{"kind", kind}}).Inc();
}

absl::Status ServiceRuntime::Start() {
  auto log = Logger("runtime");
  // gRPC: health (default service), reflection, admin, service-specific.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  admin_service_ = std::make_unique<AdminServiceImpl>(this);
  // Admin methods are guarded (auth.h); health and reflection stay open.
  auto auth = TokenAuthenticator::Create(cfg_.admin);
  if (!auth.ok()) {
    return auth.status();
  }
  auto creds = AdminServerCredentials(cfg_.admin);
  if (!creds.ok()) {
    return creds.status();
  }
  if ((*auth)->insecure()) {
    log->error(
        "msg=\"INSECURE: admin API auth is OFF (admin.insecure_no_auth): anyone who reaches the "
        "gRPC port may approve, pause and change modes, recorded as 'anonymous'\" "
        "hint=\"development only; set admin.tokens_file (KUBEMEND_ADMIN_TOKENS_FILE) instead\"");
  } else if (!(*auth)->enabled()) {
    log->warn(
        "msg=\"admin API locked: no tokens configured, every admin call is refused (health "
        "stays open)\" hint=\"set admin.tokens_file (KUBEMEND_ADMIN_TOKENS_FILE)\"");
  }
  DenialSink sink = [this](const AuthDenial& d) { AuditDenial(d); };
  std::vector<grpc::Service*> guarded = {admin_service_.get()};
  guarded.insert(guarded.end(), grpc_services_.begin(), grpc_services_.end());
  for (auto* s : guarded) {
    auto unguarded = GuardService(s, *auth, sink);
    if (!unguarded.empty() && !(*auth)->insecure()) {
      return absl::FailedPreconditionError("gRPC method " + unguarded.front() +
                                           " is async/callback and cannot be guarded by admin "
                                           "auth; serve it synchronously");
    }
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(cfg_.grpc_listen, *creds, &grpc_port_);
  for (auto* s : guarded) {
    builder.RegisterService(s);
  }
  grpc_server_ = builder.BuildAndStart();
  if (!grpc_server_ || grpc_port_ == 0) {
    return absl::UnavailableError("grpc.listen " + cfg_.grpc_listen +
                                  ": cannot listen (address in use or invalid)");
  }
  grpc_server_->GetHealthCheckService()->SetServingStatus(false);
  grpc_server_->GetHealthCheckService()->SetServingStatus(kDataIntegrityHealth, true);
  grpc_server_->GetHealthCheckService()->SetServingStatus(kLivenessHealth, true);

  if (http_start_) {
    if (auto st = CheckHttpTlsFiles(cfg_); !st.ok()) {
      return st;
    }
    auto port = http_start_();
    if (!port.ok()) {
      return port.status();
    }
    http_port_ = *port;
  } else {
    if (auto st = StartHttp(); !st.ok()) {
      return st;
    }
    http_thread_ = std::thread([this] { http_server_->listen_after_bind(); });
  }
  health_thread_ = std::thread([this] { HealthLoop(); });
  WriteReadyFile();
  log->info("msg=\"started\" grpc_port={} http_port={} kafka={} instance={}", grpc_port_,
            http_port_, Q(cfg_.kafka.brokers), Q(cfg_.instance));
  return absl::OkStatus();
}

// HTTP(S): /metrics, /healthz and whatever the service adds (the webhook).
absl::Status ServiceRuntime::StartHttp() {
  const std::string& cert = cfg_.http_tls_cert_file;
  const std::string& key = cfg_.http_tls_key_file;
  if (auto st = CheckHttpTlsFiles(cfg_); !st.ok()) {
    return st;
  }
  if (cert.empty()) {
    http_server_ = std::make_unique<httplib::Server>();
  } else {
    auto ssl = std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str());
    if (!ssl->is_valid()) {
      return absl::InvalidArgumentError("key http.tls.cert_file: " + cert + " and " + key +
                                        " are not a PEM certificate and its private key");
    }
    http_server_ = std::move(ssl);
  }
  http_server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.Render(), "text/plain; version=0.0.4");
  });
  http_server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    auto [code, text] = Healthz();
    res.status = code;
    res.set_content(text, "text/plain");
  });
  if (http_configure_) {
    http_configure_(*http_server_);
  }
  auto [host, port] = SplitHostPort(cfg_.http_listen);
  http_port_ = port == 0 ? http_server_->bind_to_any_port(host) : (http_server_->bind_to_port(host, port) ? port : -1);
  if (http_port_ <= 0) {
    return absl::UnavailableError("http.listen " + cfg_.http_listen +
                                  ": cannot listen (address in use or invalid)");
  }
  return absl::OkStatus();
}

void ServiceRuntime::HealthLoop() {
  auto log = Logger("health");
  bool last = false;
  bool first = true;
  uint64_t data_loss_seen = 0;
  uint64_t ticks = 0;
  while (!stopping_) {
    std::string reason;
    if (producer_ && !producer_->Connected()) {
      reason = "kafka unreachable (producer)";
    }
    for (auto* c : consumers_) {
      if (reason.empty() && !c->Connected()) {
        reason = "kafka unreachable (consumer)";
      }
    }
    for (auto& [name, check] : checks_) {
      if (reason.empty()) {
        std::string r = check();
        if (!r.empty()) {
          reason = name + ": " + r;
        }
      }
    }
    bool ok = reason.empty();
    {
      std::lock_guard lock(reason_mu_);
      not_serving_reason_ = reason;
    }
    if (ok != last || first) {
      // SetServingStatus(bool) sets every registered name; restore the ones
      // that do not follow readiness.
      grpc_server_->GetHealthCheckService()->SetServingStatus(ok);
      grpc_server_->GetHealthCheckService()->SetServingStatus(kLivenessHealth, true);
      grpc_server_->GetHealthCheckService()->SetServingStatus(kDataIntegrityHealth,
                                                              data_loss_seen == 0);
      if (ok) {
        log->info("msg=\"serving\"");
      } else {
        log->warn("msg=\"not serving\" reason={}", Q(reason));
      }
      last = ok;
      first = false;
    }
    serving_ = ok;
    uint64_t loss = 0;
    for (auto* c : consumers_) {
      ConsumerStatus st = c->Status();
      loss += st.data_loss_events;
      for (const auto& l : st.lag) {
        metrics_
            .GetGauge("kubemend_kafka_consumer_lag", "Messages behind the partition's end",
                      {{"topic", l.topic}, {"partition", std::to_string(l.partition)}})
            .Set(static_cast<double>(l.lag));
      }
    }
    for (auto& fn : periodic_) {
      fn();
    }
    if (++ticks % 10 == 0) {
      malloc_trim(0);
    }
    if (loss != data_loss_seen) {
      grpc_server_->GetHealthCheckService()->SetServingStatus(kDataIntegrityHealth, loss == 0);
      data_loss_seen = loss;
    }
    for (int i = 0; i < 10 && !stopping_; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

void ServiceRuntime::WriteReadyFile() {
  if (cfg_.ready_file.empty()) {
    return;
  }
  std::string tmp = cfg_.ready_file + ".tmp";
  {
    std::ofstream out(tmp);
    out << "{\"service\":\"" << service_ << "\",\"pid\":" << getpid() << ",\"grpc\":\"127.0.0.1:"
        << grpc_port_ << "\",\"http\":\"127.0.0.1:" << http_port_ << "\",\"http_tls\":"
        << (cfg_.http_tls_cert_file.empty() ? "false" : "true") << "}\n";
  }
  std::rename(tmp.c_str(), cfg_.ready_file.c_str());
}

void ServiceRuntime::FillStatus(v1::GetStatusResponse* out) {
  out->set_service(service_);
  out->set_instance(cfg_.instance);
  out->set_version(KubemendVersion());
  auto now = SystemClock::Instance().Now();
  out->set_uptime_seconds(std::chrono::duration_cast<std::chrono::seconds>(now - started_at_).count());
  SetTimestamp(out->mutable_started_at(), started_at_);
  out->set_produced(producer_ ? producer_->produced() : 0);
  out->set_errors(errors_.load());
  out->set_serving(serving_.load());
  {
    std::lock_guard lock(reason_mu_);
    out->set_not_serving_reason(not_serving_reason_);
  }
  uint64_t consumed = 0;
  uint64_t loss = 0;
  for (auto* c : consumers_) {
    ConsumerStatus st = c->Status();
    consumed += st.consumed;
    loss += st.data_loss_events;
    if (!st.last_data_loss.empty()) {
      (*out->mutable_details())["last_data_loss"] = st.last_data_loss;
    }
    for (const auto& l : st.lag) {
      auto* cl = out->add_lag();
      cl->set_topic(l.topic);
      cl->set_partition(l.partition);
      cl->set_committed(l.position);
      cl->set_high_watermark(l.high_watermark);
      cl->set_lag(l.lag);
    }
  }
  out->set_consumed(consumed);
  out->set_data_loss_events(loss);
  out->set_mode(v1::MODE_AUTOMATIC);
  if (status_hook_) {
    status_hook_(out);
  }
}

void ServiceRuntime::AuditDenial(const AuthDenial& d) {
  std::string code = d.code == grpc::StatusCode::UNAUTHENTICATED ? "unauthenticated"
                                                                 : "permission_denied";
  metrics_.GetCounter("kubemend_admin_auth_denied_total", "Admin API calls refused",
                      {{"code", code}})
      .Inc();
  Logger("auth")->warn("msg=\"admin call refused\" code={} method={} subject={} peer={} reason={}",
                       code, d.method, Q(d.subject), Q(d.peer), Q(d.message));
  if (!cfg_.admin.publish_denials) {
    return;
  }
  int64_t left_out = 0;
  if (!denial_limiter_->Allow(clock().Now(), &left_out)) {
    metrics_.GetCounter("kubemend_admin_auth_denials_unpublished_total",
                        "Refused admin calls not published to the control topic (admin.denials_per_minute)")
        .Inc();
    return;
  }
  // A command-less Control event: the trail records who tried what.
  auto p = producer();
  if (!p.ok()) {
    return;
  }
  v1::Event e = NewRootEvent(v1::EVENT_TYPE_CONTROL, identity(), clock());
  e.mutable_control()->set_issued_by(d.subject.empty() ? "anonymous" : d.subject);
  e.mutable_control()->set_reason("admin-auth " + code + ": " + d.method + " from " + d.peer + ": " + d.message +
                                  (left_out > 0 ? " (+" + std::to_string(left_out) +
                                                      " earlier refused call(s) not published: rate limit)"
                                                : ""));
  (void)(*p)->Produce(TopicName(cfg_.kafka, Topic::kControl), TargetKey(e.target()),
                      e.SerializeAsString(), std::make_shared<DeliveryTracker>());
}

void ServiceRuntime::RequestShutdown() { kill(getpid(), SIGTERM); }

void ServiceRuntime::WaitForShutdown() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  Logger("runtime")->info("msg=\"shutting down\" signal={}", sig);
  stopping_ = true;
}

}  // namespace kubemend
