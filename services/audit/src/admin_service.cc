#include "admin_service.h"

#include <thread>

#include "trail.h"

namespace kubemend::audit {
namespace {

grpc::Status ToGrpc(const absl::Status& st) {
  return grpc::Status(static_cast<grpc::StatusCode>(st.code()), std::string(st.message()));
}

template <class T, class Out>
grpc::Status Reply(absl::StatusOr<T> r, Out* out) {
  if (!r.ok()) {
    return ToGrpc(r.status());
  }
  *out = std::move(*r);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status AuditAdminService::ListIncidents(grpc::ServerContext*,
                                              const v1::ListIncidentsRequest* req,
                                              v1::ListIncidentsResponse* out) {
  TrailReader r(dsn_, role_);
  return Reply(r.ListIncidents(*req), out);
}

grpc::Status AuditAdminService::GetIncidentTimeline(grpc::ServerContext*,
                                                    const v1::GetIncidentTimelineRequest* req,
                                                    v1::GetIncidentTimelineResponse* out) {
  if (req->incident_id().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "incident_id is required");
  }
  TrailReader r(dsn_, role_);
  return Reply(r.Timeline(req->incident_id()), out);
}

grpc::Status AuditAdminService::ListActions(grpc::ServerContext*, const v1::ListActionsRequest* req,
                                            v1::ListActionsResponse* out) {
  TrailReader r(dsn_, role_);
  return Reply(r.ListActions(*req), out);
}

grpc::Status AuditAdminService::QueryEvents(grpc::ServerContext*, const v1::QueryEventsRequest* req,
                                            v1::QueryEventsResponse* out) {
  TrailReader r(dsn_, role_);
  return Reply(r.Query(*req), out);
}

grpc::Status AuditAdminService::VerifyChain(grpc::ServerContext*, const v1::VerifyChainRequest*,
                                            v1::VerifyChainResponse* out) {
  TrailReader r(dsn_, role_);
  return Reply(r.Verify(), out);
}

grpc::Status AuditAdminService::Tail(grpc::ServerContext* ctx, const v1::TailRequest* req,
                                     grpc::ServerWriter<v1::AuditRecord>* writer) {
  TrailReader r(dsn_, role_);
  int64_t after = req->after_seq();
  if (after <= 0) {
    auto head = r.HeadSeq();
    if (!head.ok()) {
      return ToGrpc(head.status());
    }
    after = *head;
  }
  v1::QueryEventsRequest q;
  q.set_namespace_(req->namespace_());
  q.set_event_type(req->event_type());
  q.set_limit(500);
  while (!ctx->IsCancelled() && !stopping_) {
    q.set_after_seq(after);
    auto page = r.Query(q);
    if (!page.ok()) {
      return ToGrpc(page.status());
    }
    for (const auto& rec : page->records()) {
      if (!writer->Write(rec)) {
        return grpc::Status::OK;  // the client went away
      }
      after = rec.seq();
    }
    if (page->records_size() < q.limit()) {
      std::this_thread::sleep_for(tail_poll_);
    }
  }
  return grpc::Status::OK;
}

}  // namespace kubemend::audit
