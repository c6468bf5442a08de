#include "admin_service.h"

#include "kubemend/common/events.h"

namespace kubemend::analyzer {

void FillLoadedPolicy(const Policy& p, v1::LoadedPolicy* lp) {
  *lp->mutable_ref() = p.ref;
  lp->set_shape(p.shape);
  lp->set_mode(p.mode);
  lp->set_priority(p.priority);
  lp->set_namespace_(p.namespace_);
  for (const auto& a : p.actions) {
    lp->add_actions(ActionTypeName(a.action.type()));
  }
  lp->set_require_approval(p.require_approval);
}

v1::ValidatePoliciesResponse ValidatePolicyText(const std::string& text, const std::string& origin,
                                                const PolicyDefaults& defaults) {
  v1::ValidatePoliciesResponse out;
  ParseResult r = ParsePolicies(text, origin.empty() ? "request" : origin, defaults);
  out.set_valid(r.errors.empty());
  for (const auto& e : r.errors) {
    auto* pe = out.add_errors();
    pe->set_document(e.document);
    pe->set_path(e.path);
    pe->set_message(e.message);
  }
  if (r.errors.empty()) {
    for (const auto& p : r.policies) {
      FillLoadedPolicy(p, out.add_policies());
    }
  }
  return out;
}

grpc::Status AdminService::GetState(grpc::ServerContext*, const v1::GetAnalyzerStateRequest*,
                                    v1::GetAnalyzerStateResponse* out) {
  for (const auto& p : hooks_.policies()->policies) {
    FillLoadedPolicy(p, out->add_policies());
  }
  for (const auto& i : engine_->Incidents()) {
    auto* oi = out->add_incidents();
    oi->set_incident_id(i.id);
    oi->set_subject(i.subject);
    oi->set_firing_signals(static_cast<uint32_t>(i.firing));
    oi->set_in_flight_proposal(i.in_flight);
    oi->set_escalated(i.escalated);
    oi->set_policy(i.policy);
  }
  for (const auto& [k, until] : engine_->Cooldowns()) {
    auto* c = out->add_cooldowns();
    c->set_policy(k.substr(0, k.find('|')));
    c->set_subject(k.substr(k.find('|') + 1));
    SetTimestamp(c->mutable_until(), until);
  }
  for (const auto& e : hooks_.policy_errors()) {
    out->add_policy_errors(e);
  }
  out->set_replayed_events(hooks_.replayed ? *hooks_.replayed : 0);
  return grpc::Status::OK;
}

grpc::Status AdminService::ListPolicies(grpc::ServerContext*, const v1::ListPoliciesRequest*,
                                        v1::ListPoliciesResponse* out) {
  for (const auto& p : hooks_.policies()->policies) {
    FillLoadedPolicy(p, out->add_policies());
  }
  for (const auto& e : hooks_.policy_errors()) {
    out->add_policy_errors(e);
  }
  out->set_sources(hooks_.sources);
  return grpc::Status::OK;
}

grpc::Status AdminService::ValidatePolicies(grpc::ServerContext*,
                                            const v1::ValidatePoliciesRequest* in,
                                            v1::ValidatePoliciesResponse* out) {
  if (in->text().empty()) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "text is empty: send the policy file's contents"};
  }
  *out = ValidatePolicyText(in->text(), in->origin(), hooks_.defaults);
  return grpc::Status::OK;
}

grpc::Status AdminService::ReloadPolicies(grpc::ServerContext*, const v1::ReloadPoliciesRequest*,
                                          v1::ReloadPoliciesResponse* out) {
  ReloadResult r = hooks_.reload();
  for (const auto& c : r.changes) {
    auto* pc = out->add_changes();
    *pc->mutable_policy() = c.ref;
    pc->set_change(c.change);
    pc->set_detail(c.detail);
  }
  for (const auto& e : r.errors) {
    out->add_errors(e);
  }
  out->set_loaded(static_cast<uint32_t>(hooks_.policies()->policies.size()));
  return grpc::Status::OK;
}

}  // namespace kubemend::analyzer
