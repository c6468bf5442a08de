#pragma once
// kubemend.v1.AnalyzerAdmin: what the analyzer holds in memory (GetState),
// the policies in force (ListPolicies), a dry check of policy text with the
// analyzer's own parser and validator (ValidatePolicies), and a reload on
// demand (ReloadPolicies, operator only: see the role table in
// services/common/src/auth.cc). gRPC threads call it; everything it reads
// comes through the callbacks main wires, which must be thread-safe.
#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine.h"
#include "kubemend/v1/analyzer_admin.grpc.pb.h"
#include "policy.h"

namespace kubemend::analyzer {

// What one reload applied: the changes (also published as Control events)
// and the sources that could not be read.
struct ReloadResult {
  std::vector<PolicyChangeRecord> changes;
  std::vector<std::string> errors;
};

struct AdminHooks {
  std::function<std::shared_ptr<const PolicySet>()> policies;
  std::function<std::vector<std::string>()> policy_errors;
  std::function<ReloadResult()> reload;
  std::string sources;  // FilePolicySource::Describe()
  PolicyDefaults defaults;
  const uint64_t* replayed = nullptr;
};

// The proto view of a loaded policy.
void FillLoadedPolicy(const Policy& p, v1::LoadedPolicy* out);

// ValidatePolicies without gRPC: parses `text` as the policy loader would.
v1::ValidatePoliciesResponse ValidatePolicyText(const std::string& text, const std::string& origin,
                                                const PolicyDefaults& defaults);

class AdminService final : public v1::AnalyzerAdmin::Service {
 public:
  AdminService(Engine* engine, AdminHooks hooks) : engine_(engine), hooks_(std::move(hooks)) {}
  grpc::Status GetState(grpc::ServerContext*, const v1::GetAnalyzerStateRequest*,
                        v1::GetAnalyzerStateResponse* out) override;
  grpc::Status ListPolicies(grpc::ServerContext*, const v1::ListPoliciesRequest*,
                            v1::ListPoliciesResponse* out) override;
  grpc::Status ValidatePolicies(grpc::ServerContext*, const v1::ValidatePoliciesRequest* in,
                                v1::ValidatePoliciesResponse* out) override;
  grpc::Status ReloadPolicies(grpc::ServerContext*, const v1::ReloadPoliciesRequest*,
                              v1::ReloadPoliciesResponse* out) override;

 private:
  Engine* engine_;
  AdminHooks hooks_;
};

}  // namespace kubemend::analyzer
