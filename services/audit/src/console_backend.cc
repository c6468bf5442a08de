#include "console_backend.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kubemend/v1/admin.grpc.pb.h"
#include "kubemend/v1/analyzer_admin.grpc.pb.h"
#include "kubemend/v1/safety_gate_admin.grpc.pb.h"
#include "trail.h"

namespace kubemend::audit {
namespace {

constexpr auto kCallTimeout = std::chrono::seconds(5);
const char* const kServices[] = {"collector", "analyzer", "safety-gate", "executor", "audit"};

std::unique_ptr<grpc::ClientContext> Call(const std::string& token) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) {
    ctx->AddMetadata("authorization", "Bearer " + token);
  }
  ctx->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  return ctx;
}

JsonReply FromGrpc(const grpc::Status& st, const google::protobuf::Message& ok) {
  if (!st.ok()) {
    return ConsoleBackend::Error(ConsoleBackend::HttpStatus(st.error_code()), st.error_message());
  }
  return {200, ConsoleBackend::ToJson(ok)};
}

template <class T>
JsonReply FromStatusOr(const absl::StatusOr<T>& r) {
  if (!r.ok()) {
    return ConsoleBackend::Error(
        ConsoleBackend::HttpStatus(static_cast<grpc::StatusCode>(r.status().code())),
        std::string(r.status().message()));
  }
  return {200, ConsoleBackend::ToJson(*r)};
}

// "grpc":"127.0.0.1:40123" out of a ready file.
std::string GrpcFromReadyFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("grpc") || !j["grpc"].is_string()) {
    return "";
  }
  return j["grpc"].get<std::string>();
}

}  // namespace

ConsoleBackend::ConsoleBackend(std::string dsn, std::string reader_role, ConsoleEndpoints endpoints)
    : dsn_(std::move(dsn)), role_(std::move(reader_role)), endpoints_(std::move(endpoints)) {}

void ConsoleBackend::SetSelf(const std::string& addr) {
  std::lock_guard lock(mu_);
  endpoints_.fixed.emplace("audit", addr);
}

std::string ConsoleBackend::ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

JsonReply ConsoleBackend::Error(int status, const std::string& message) {
  return {status, nlohmann::json{{"error", message}}.dump()};
}

int ConsoleBackend::HttpStatus(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 503;
    default:
      return 500;
  }
}

std::shared_ptr<grpc::Channel> ConsoleBackend::Channel(const std::string& service,
                                                       std::string* why) {
  std::lock_guard lock(mu_);
  std::string addr;
  if (auto it = endpoints_.fixed.find(service); it != endpoints_.fixed.end()) {
    addr = it->second;
  } else if (!endpoints_.ready_dir.empty()) {
    // Read each time until found: a service restarted by ./kubemend moves port.
    addr = GrpcFromReadyFile(endpoints_.ready_dir + "/" + service + ".ready");
  }
  if (addr.empty()) {
    *why = "no endpoint for " + service + " (set console.endpoints." + service + ")";
    return nullptr;
  }
  auto& ch = channels_[service + "@" + addr];
  if (!ch) {
    // Plain gRPC: the console reaches the services over the cluster network
    // like kubemendctl does without --tls-ca (docs/console.md, limits).
    ch = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  }
  return ch;
}

JsonReply ConsoleBackend::Incidents(const v1::ListIncidentsRequest& req) {
  TrailReader r(dsn_, role_);
  return FromStatusOr(r.ListIncidents(req));
}

JsonReply ConsoleBackend::Timeline(const std::string& incident_id) {
  TrailReader r(dsn_, role_);
  return FromStatusOr(r.Timeline(incident_id));
}

JsonReply ConsoleBackend::Actions(const v1::ListActionsRequest& req) {
  TrailReader r(dsn_, role_);
  return FromStatusOr(r.ListActions(req));
}

JsonReply ConsoleBackend::Verify() {
  TrailReader r(dsn_, role_);
  auto v = r.Verify();
  JsonReply out = FromStatusOr(v);
  if (v.ok()) {
    auto j = nlohmann::json::parse(out.body);
    j["verified_at"] = google::protobuf::util::TimeUtil::ToString(
        google::protobuf::util::TimeUtil::GetCurrentTime());
    out.body = j.dump();
    std::lock_guard lock(mu_);
    last_verify_ = out.body;
  }
  return out;
}

std::unique_ptr<TrailReader> ConsoleBackend::Reader() const {
  return std::make_unique<TrailReader>(dsn_, role_);
}

absl::StatusOr<int64_t> ConsoleBackend::HeadSeq() {
  TrailReader r(dsn_, role_);
  return r.HeadSeq();
}

JsonReply ConsoleBackend::Pending(const std::string& token) {
  std::string why;
  auto ch = Channel("safety-gate", &why);
  if (!ch) {
    return Error(503, why);
  }
  v1::ListPendingResponse out;
  auto st = v1::SafetyGateAdmin::NewStub(ch)->ListPending(Call(token).get(), {}, &out);
  return FromGrpc(st, out);
}

JsonReply ConsoleBackend::Resolve(const std::string& token, bool approve,
                                  const std::string& proposal_id, const std::string& who,
                                  const std::string& reason) {
  std::string why;
  auto ch = Channel("safety-gate", &why);
  if (!ch) {
    return Error(503, why);
  }
  v1::ResolveRequest req;
  req.set_proposal_id(proposal_id);
  req.set_issued_by(who);
  req.set_reason(reason);
  v1::ResolveResponse out;
  auto stub = v1::SafetyGateAdmin::NewStub(ch);
  auto st = approve ? stub->Approve(Call(token).get(), req, &out)
                    : stub->Deny(Call(token).get(), req, &out);
  return FromGrpc(st, out);
}

JsonReply ConsoleBackend::PauseResume(const std::string& token, bool pause, const std::string& who,
                                      const std::string& reason) {
  std::string why;
  auto ch = Channel("safety-gate", &why);
  if (!ch) {
    return Error(503, why);
  }
  v1::ModeResponse out;
  auto stub = v1::SafetyGateAdmin::NewStub(ch);
  grpc::Status st;
  if (pause) {
    v1::PauseRequest req;
    req.set_issued_by(who);
    req.set_reason(reason);
    st = stub->Pause(Call(token).get(), req, &out);
  } else {
    v1::ResumeRequest req;
    req.set_issued_by(who);
    req.set_reason(reason);
    st = stub->Resume(Call(token).get(), req, &out);
  }
  return FromGrpc(st, out);
}

JsonReply ConsoleBackend::SetMode(const std::string& token, const std::string& mode,
                                  const std::string& scope, const std::string& who,
                                  const std::string& reason) {
  v1::Mode m = v1::MODE_UNSPECIFIED;
  if (!v1::Mode_Parse("MODE_" + mode, &m) || (m == v1::MODE_UNSPECIFIED && scope.empty())) {
    return Error(400, "mode must be one of MONITOR, DRY_RUN, AUTOMATIC, MANUAL, LIMITED");
  }
  std::string why;
  auto ch = Channel("safety-gate", &why);
  if (!ch) {
    return Error(503, why);
  }
  v1::SetModeRequest req;
  req.set_mode(m);
  req.set_scope(scope);
  req.set_issued_by(who);
  req.set_reason(reason);
  v1::ModeResponse out;
  auto st = v1::SafetyGateAdmin::NewStub(ch)->SetMode(Call(token).get(), req, &out);
  return FromGrpc(st, out);
}

JsonReply ConsoleBackend::Health(const std::string& token) {
  nlohmann::json services = nlohmann::json::array();
  for (const char* name : kServices) {
    nlohmann::json s = {{"service", name}};
    std::string why;
    if (auto ch = Channel(name, &why)) {
      v1::GetStatusResponse st;
      auto rc = v1::Admin::NewStub(ch)->GetStatus(Call(token).get(), {}, &st);
      if (rc.ok()) {
        s["status"] = nlohmann::json::parse(ToJson(st));
      } else {
        s["error"] = rc.error_message();
        s["http_status"] = HttpStatus(rc.error_code());
      }
    } else {
      s["error"] = why;
    }
    services.push_back(std::move(s));
  }
  nlohmann::json out = {{"services", services}};
  std::string why;
  if (auto ch = Channel("safety-gate", &why)) {
    v1::ModeResponse mode;
    if (v1::SafetyGateAdmin::NewStub(ch)->GetMode(Call(token).get(), {}, &mode).ok()) {
      out["gate"] = nlohmann::json::parse(ToJson(mode));
    }
  }
  {
    std::lock_guard lock(mu_);
    out["chain"] = last_verify_.empty() ? nlohmann::json() : nlohmann::json::parse(last_verify_);
  }
  auto head = HeadSeq();
  if (head.ok()) {
    out["head_seq"] = *head;
  }
  return {200, out.dump()};
}

JsonReply ConsoleBackend::Policies(const std::string& token) {
  std::string why;
  auto ch = Channel("analyzer", &why);
  if (!ch) {
    return Error(503, why);
  }
  v1::ListPoliciesResponse out;
  auto st = v1::AnalyzerAdmin::NewStub(ch)->ListPolicies(Call(token).get(), {}, &out);
  return FromGrpc(st, out);
}

}  // namespace kubemend::audit
