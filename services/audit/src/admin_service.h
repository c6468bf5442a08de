#pragma once
// kubemend.v1.AuditAdmin: the trail over gRPC, read-only. Each call opens its
// own TrailReader (a short PostgreSQL session as the reader role); Tail keeps
// one open and polls for rows past the last seq it sent.
#include <atomic>
#include <chrono>
#include <string>

#include "kubemend/v1/audit_admin.grpc.pb.h"

namespace kubemend::audit {

class AuditAdminService final : public v1::AuditAdmin::Service {
 public:
  AuditAdminService(std::string dsn, std::string reader_role,
                    std::chrono::milliseconds tail_poll = std::chrono::milliseconds(200))
      : dsn_(std::move(dsn)), role_(std::move(reader_role)), tail_poll_(tail_poll) {}
  // Ends open Tail streams (called on shutdown).
  void Stop() { stopping_ = true; }

  grpc::Status ListIncidents(grpc::ServerContext*, const v1::ListIncidentsRequest*,
                             v1::ListIncidentsResponse*) override;
  grpc::Status GetIncidentTimeline(grpc::ServerContext*, const v1::GetIncidentTimelineRequest*,
                                   v1::GetIncidentTimelineResponse*) override;
  grpc::Status ListActions(grpc::ServerContext*, const v1::ListActionsRequest*,
                           v1::ListActionsResponse*) override;
  grpc::Status QueryEvents(grpc::ServerContext*, const v1::QueryEventsRequest*,
                           v1::QueryEventsResponse*) override;
  grpc::Status VerifyChain(grpc::ServerContext*, const v1::VerifyChainRequest*,
                           v1::VerifyChainResponse*) override;
  grpc::Status Tail(grpc::ServerContext*, const v1::TailRequest*,
                    grpc::ServerWriter<v1::AuditRecord>*) override;

 private:
  std::string dsn_;
  std::string role_;
  std::chrono::milliseconds tail_poll_;
  std::atomic<bool> stopping_{false};
};

}  // namespace kubemend::audit
