#pragma once
// Reading the trail for the admin API (services/audit/src/admin_service.h):
// incidents, timelines, actions, filtered events, chain verification. Runs
// as the read-only role (SET ROLE), so a bug here cannot write.
//
// One TrailReader owns one connection (opened on first use) and is used by
// one thread: the gRPC handlers make one per call (Tail keeps its own).
// Errors: Unavailable when PostgreSQL cannot be reached, NotFound for an
// unknown incident, Internal for anything else.
#include <absl/status/statusor.h>

#include <memory>
#include <string>

#include "kubemend/v1/audit_admin.pb.h"

#include <pqxx/connection>

namespace kubemend::audit {

class TrailReader {
 public:
  TrailReader(std::string dsn, std::string reader_role);
  ~TrailReader();

  absl::StatusOr<v1::ListIncidentsResponse> ListIncidents(const v1::ListIncidentsRequest& req);
  absl::StatusOr<v1::GetIncidentTimelineResponse> Timeline(const std::string& incident_id);
  absl::StatusOr<v1::ListActionsResponse> ListActions(const v1::ListActionsRequest& req);
  absl::StatusOr<v1::QueryEventsResponse> Query(const v1::QueryEventsRequest& req);
  // Runs audit_verify_chain() (the same SQL an operator can run in psql).
  absl::StatusOr<v1::VerifyChainResponse> Verify();
  // The highest seq attached (0 when the trail is empty).
  absl::StatusOr<int64_t> HeadSeq();

 private:
  absl::Status Connect();
  template <class F>
  auto Run(F&& f) -> decltype(f());
  std::string dsn_;
  std::string role_;
  std::unique_ptr<pqxx::connection> conn_;
};

}  // namespace kubemend::audit
