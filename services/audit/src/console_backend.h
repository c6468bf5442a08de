#pragma once
// What the operator console's HTTP handlers call (docs/console.md): reads of
// the trail run in this process (TrailReader, as the read-only role); actions
// that belong to other services go to their gRPC admin APIs with the
// caller's own admin token, so each service checks the caller's role itself
// and the console holds no privilege of its own.
//
// Every method answers with an HTTP status and a JSON body ({"error": ...}
// when it failed). Thread-safe: channels and the last verification are
// locked; each call opens its own TrailReader.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <absl/status/statusor.h>
#include <grpcpp/grpcpp.h>

#include "kubemend/v1/audit_admin.pb.h"

namespace kubemend::audit {

class TrailReader;

struct JsonReply {
  int status = 200;
  std::string body;
};

struct ConsoleEndpoints {
  // service name (collector, analyzer, safety-gate, executor, audit) -> host:port
  std::map<std::string, std::string> fixed;
  // else: a folder of <service>.ready files (written by every service; ./kubemend up)
  std::string ready_dir;
};

class ConsoleBackend {
 public:
  ConsoleBackend(std::string dsn, std::string reader_role, ConsoleEndpoints endpoints);

  // The audit service's own gRPC address, known once it listens.
  void SetSelf(const std::string& addr);

  JsonReply Incidents(const v1::ListIncidentsRequest& req);
  JsonReply Timeline(const std::string& incident_id);
  JsonReply Actions(const v1::ListActionsRequest& req);
  JsonReply Verify();
  // A reader of its own for a long-lived caller (the SSE stream).
  std::unique_ptr<TrailReader> Reader() const;
  absl::StatusOr<int64_t> HeadSeq();

  JsonReply Pending(const std::string& token);
  JsonReply Resolve(const std::string& token, bool approve, const std::string& proposal_id,
                    const std::string& who, const std::string& reason);
  JsonReply PauseResume(const std::string& token, bool pause, const std::string& who,
                        const std::string& reason);
  JsonReply SetMode(const std::string& token, const std::string& mode, const std::string& scope,
                    const std::string& who, const std::string& reason);
  JsonReply Health(const std::string& token);
  JsonReply Policies(const std::string& token);

  // Proto -> JSON with the .proto field names (what the page reads).
  static std::string ToJson(const google::protobuf::Message& m);
  static JsonReply Error(int status, const std::string& message);
  static int HttpStatus(grpc::StatusCode code);

 private:
  std::shared_ptr<grpc::Channel> Channel(const std::string& service, std::string* why);
  std::string dsn_;
  std::string role_;
  ConsoleEndpoints endpoints_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  std::string last_verify_;  // JSON of the last VerifyChain answer with its time
};

}  // namespace kubemend::audit
