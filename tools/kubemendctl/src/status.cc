// kubemendctl status: health and GetStatus of every service.
#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>
#include <ostream>

#include "cli.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "kubemend/v1/admin.grpc.pb.h"

namespace kubemend::ctl {
namespace {

std::string ModeText(int mode) {
  static const char* names[] = {"-", "monitor", "dry_run", "automatic", "manual", "limited"};
  return mode >= 0 && mode <= 5 ? names[mode] : "?";
}

int Status(Context& ctx, const Args& args) {
  int worst = kOk;
  std::vector<std::vector<std::string>> rows;
  nlohmann::json all = nlohmann::json::array();
  for (const auto& name : ServiceNames()) {
    nlohmann::json j = {{"service", name}};
    auto ch = ctx.Channel(name);
    if (!ch) {
      rows.push_back({name, "-", "unknown", "-", "-", "-", "-", "-", "-", "no endpoint"});
      j["health"] = "unknown";
      j["error"] = "no endpoint configured";
      all.push_back(j);
      continue;
    }
    std::string addr = ctx.endpoints[name];
    j["address"] = addr;
    std::string health = "unknown";
    {
      auto hs = grpc::health::v1::Health::NewStub(ch);
      auto c = ctx.Call();
      grpc::health::v1::HealthCheckRequest req;
      grpc::health::v1::HealthCheckResponse resp;
      grpc::Status st = hs->Check(c.get(), req, &resp);
      if (!st.ok()) {
        health = "unreachable";
        worst = std::max(worst, static_cast<int>(kUnavailable));
        rows.push_back({name, addr, health, "-", "-", "-", "-", "-", "-", st.error_message()});
        j["health"] = health;
        j["error"] = st.error_message();
        all.push_back(j);
        continue;
      }
      health = resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? "serving"
                                                                               : "not_serving";
    }
    j["health"] = health;
    auto admin = v1::Admin::NewStub(ch);
    auto c = ctx.Call();
    v1::GetStatusRequest req;
    v1::GetStatusResponse s;
    grpc::Status st = admin->GetStatus(c.get(), req, &s);
    if (!st.ok()) {
      int code = ctx.Fail(name + " GetStatus", st);
      worst = std::max(worst, code);
      rows.push_back({name, addr, health, "-", "-", "-", "-", "-", "-", st.error_message()});
      j["error"] = st.error_message();
      all.push_back(j);
      continue;
    }
    if (health != "serving") {
      worst = std::max(worst, static_cast<int>(kUnavailable));
    }
    int64_t lag = 0;
    for (const auto& l : s.lag()) {
      lag += l.lag();
    }
    std::string note = s.not_serving_reason();
    if (s.data_loss_events() > 0) {
      note += (note.empty() ? "" : "; ") + std::to_string(s.data_loss_events()) + " data-loss events";
    }
    rows.push_back({name, addr, health, ModeText(s.mode()), s.paused() ? "yes" : "no",
                    std::to_string(s.consumed()), std::to_string(s.produced()),
                    std::to_string(s.errors()), std::to_string(lag), note});
    std::string sj;
    google::protobuf::util::JsonPrintOptions o;
    o.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(s, &sj, o);
    j["status"] = nlohmann::json::parse(sj);
    j["lag_total"] = lag;
    all.push_back(j);
  }
  if (ctx.json) {
    ctx.out << all.dump(2) << "\n";
  } else {
    PrintTable(ctx.out,
               {"SERVICE", "ADDRESS", "HEALTH", "MODE", "PAUSED", "CONSUMED", "PRODUCED",
                "ERRORS", "LAG", "NOTE"},
               rows);
  }
  return worst;
}

}  // namespace

void RegisterStatusCommands(Registry& r) {
  r.push_back({{"status"},
               "",
               "health, mode, throughput and consumer lag of every service",
               "Asks each service's grpc.health.v1 and kubemend.v1.Admin/GetStatus. Services\n"
               "without a known endpoint are listed as unknown. Exits 4 when a service is\n"
               "unreachable or not serving, 3 when the token is refused.",
               {},
               Status});
}

}  // namespace kubemend::ctl
