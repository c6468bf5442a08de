#include "console.h"

#include <google/protobuf/util/time_util.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "console_assets.h"
#include "kubemend/common/config.h"

namespace kubemend::audit {
namespace {

using google::protobuf::util::TimeUtil;
using Clock = std::chrono::system_clock;

constexpr char kJson[] = "application/json";
constexpr char kApi[] = "/console/api";

void Reply(httplib::Response& res, const JsonReply& r) {
  SetSecurityHeaders(res);
  res.set_header("Cache-Control", "no-store");
  res.status = r.status;
  res.set_content(r.body, kJson);
}

void Fail(httplib::Response& res, int status, const std::string& message) {
  Reply(res, ConsoleBackend::Error(status, message));
}

std::string Param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : "";
}

// "24h" / "7d" ago, or an RFC 3339 time; false when neither.
bool ParseSince(const std::string& text, google::protobuf::Timestamp* out) {
  if (text.empty()) {
    return true;
  }
  std::chrono::milliseconds ago{};
  if (ParseDuration(text, &ago).ok()) {
    auto at = Clock::now() - ago;
    *out = TimeUtil::MillisecondsToTimestamp(
        std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count());
    return true;
  }
  return TimeUtil::FromString(text, out);
}

bool ParseLimit(const std::string& text, int32_t* out) {
  if (text.empty()) {
    return true;
  }
  try {
    size_t used = 0;
    int v = std::stoi(text, &used);
    if (used != text.size() || v < 1 || v > 1000) {
      return false;
    }
    *out = v;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// The reason/mode fields of a POST body; false (and a 400 written) when the body is not JSON.
bool Body(const httplib::Request& req, httplib::Response& res, nlohmann::json* out) {
  *out = nlohmann::json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
  if (out->is_discarded() || !out->is_object()) {
    Fail(res, 400, "the body must be a JSON object");
    return false;
  }
  return true;
}

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool SameOrigin(const httplib::Request& req) {
  std::string origin = req.get_header_value("Origin");
  if (origin.empty()) {
    return true;  // not a cross-site browser request (curl, or a same-origin GET)
  }
  std::string host = req.get_header_value("Host");
  return origin == "http://" + host || origin == "https://" + host;
}

}  // namespace

void AddConsoleKeys(ConfigSchema& s, ConsoleOptions* o) {
  s.Add("console.enabled", &o->enabled,
        "serve the operator console on the HTTP port under /console/ (docs/console.md)");
  s.Add("console.endpoints", &o->endpoints.fixed,
        "gRPC admin address of each service the console calls, as service=host:port "
        "(collector, analyzer, safety-gate, executor)");
  s.Add("console.endpoints_dir", &o->endpoints.ready_dir,
        "else: folder of the services' runtime.ready_file files (./kubemend up)");
  s.Add("console.session_ttl", &o->session_ttl, "how long a console login lasts");
  s.Add("console.cookie_secure", &o->cookie_secure,
        "mark the session cookie Secure (set when the console is served over HTTPS)");
  s.Add("console.max_streams", &o->max_streams,
        "live-update streams served at once (each holds an HTTP thread)", 1, 64);
}

std::string LocalAddress(const std::string& grpc_listen, int port) {
  std::string host = grpc_listen.substr(0, grpc_listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::" ||
      grpc_listen.find(':') == std::string::npos) {
    host = "127.0.0.1";
  }
  return host + ":" + std::to_string(port);
}

void SetSecurityHeaders(httplib::Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cross-Origin-Opener-Policy", "same-origin");
  res.set_header("Cross-Origin-Resource-Policy", "same-origin");
}

Console::Console(ConsoleOptions opts, std::string dsn, std::string reader_role,
                 std::shared_ptr<const TokenAuthenticator> auth)
    : opts_(std::move(opts)),
      sessions_(std::move(auth),
                std::chrono::duration_cast<std::chrono::seconds>(opts_.session_ttl)),
      backend_(std::move(dsn), std::move(reader_role), opts_.endpoints) {}

void Console::Register(httplib::Server& server) {
  RegisterAssets(server);
  RegisterSession(server);
  RegisterTrail(server);
  RegisterGate(server);
  RegisterStream(server);
}

void Console::RegisterAssets(httplib::Server& server) {
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    SetSecurityHeaders(res);
    res.set_redirect("/console/");
  });
  server.Get("/console", [](const httplib::Request&, httplib::Response& res) {
    SetSecurityHeaders(res);
    res.set_redirect("/console/");
  });
  server.Get(R"(/console/([a-z0-9_.-]*))", [](const httplib::Request& req, httplib::Response& res) {
    std::string name = req.matches[1].str();
    if (name.empty()) {
      name = "index.html";
    }
    SetSecurityHeaders(res);
    for (size_t i = 0; i < kConsoleAssetCount; ++i) {
      const ConsoleAsset& a = kConsoleAssets[i];
      if (name == a.name) {
        res.set_header("Cache-Control", "no-cache");
        res.set_content(reinterpret_cast<const char*>(a.data), a.size, a.content_type);
        return;
      }
    }
    res.status = 404;
    res.set_content("not found\n", "text/plain");
  });
}

std::optional<ConsoleSession> Console::Authenticate(const httplib::Request& req,
                                                    httplib::Response& res) {
  auto s = sessions_.Find(req.get_header_value("Cookie"), Clock::now());
  if (!s) {
    Fail(res, 401, "log in first (your session is missing or has expired)");
  }
  return s;
}

std::optional<ConsoleSession> Console::AuthenticateWrite(const httplib::Request& req,
                                                         httplib::Response& res) {
  if (!SameOrigin(req)) {
    Fail(res, 403, "cross-origin request refused");
    return std::nullopt;
  }
  if (req.get_header_value("Content-Type").rfind(kJson, 0) != 0) {
    Fail(res, 415, "send Content-Type: application/json");
    return std::nullopt;
  }
  auto s = Authenticate(req, res);
  if (s && !ConsoleSessions::CsrfMatches(*s, req.get_header_value("X-Kubemend-CSRF"))) {
    Fail(res, 403, "missing or wrong X-Kubemend-CSRF header");
    return std::nullopt;
  }
  return s;
}

void Console::RegisterSession(httplib::Server& server) {
  server.Post(std::string(kApi) + "/login", [this](const httplib::Request& req,
                                                   httplib::Response& res) {
    nlohmann::json body;
    if (!SameOrigin(req)) {
      return Fail(res, 403, "cross-origin request refused");
    }
    if (req.get_header_value("Content-Type").rfind(kJson, 0) != 0) {
      return Fail(res, 415, "send Content-Type: application/json");
    }
    if (!Body(req, res, &body)) {
      return;
    }
    auto s = sessions_.Login(Str(body, "token"), Clock::now());
    if (!s.ok()) {
      return Fail(res, s.status().code() == absl::StatusCode::kResourceExhausted ? 429 : 401,
                  std::string(s.status().message()));
    }
    res.set_header("Set-Cookie", std::string(ConsoleSessions::kCookie) + "=" + s->id +
                                     "; Path=/console/; HttpOnly; SameSite=Strict" +
                                     (opts_.cookie_secure ? "; Secure" : ""));
    Reply(res, {200, nlohmann::json{{"subject", s->subject},
                                    {"role", AdminRoleName(s->role)},
                                    {"csrf", s->csrf},
                                    {"auth_enabled", sessions_.auth_enabled()}}
                         .dump()});
  });
  server.Get(std::string(kApi) + "/session", [this](const httplib::Request& req,
                                                    httplib::Response& res) {
    if (auto s = Authenticate(req, res)) {
      Reply(res, {200, nlohmann::json{{"subject", s->subject},
                                      {"role", AdminRoleName(s->role)},
                                      {"csrf", s->csrf},
                                      {"auth_enabled", sessions_.auth_enabled()}}
                           .dump()});
    }
  });
  server.Post(std::string(kApi) + "/logout", [this](const httplib::Request& req,
                                                    httplib::Response& res) {
    if (auto s = AuthenticateWrite(req, res)) {
      sessions_.Logout(s->id);
      res.set_header("Set-Cookie", std::string(ConsoleSessions::kCookie) +
                                       "=; Path=/console/; HttpOnly; SameSite=Strict; Max-Age=0");
      Reply(res, {200, "{}"});
    }
  });
}

void Console::RegisterTrail(httplib::Server& server) {
  // Reads of the trail: the same role check as kubemend.v1.AuditAdmin.
  auto viewer = [this](const httplib::Request& req, httplib::Response& res, const char* method) {
    auto s = Authenticate(req, res);
    if (s && !ConsoleSessions::Allowed(s->role, method)) {
      Fail(res, 403, std::string(method) + " needs a higher role");
      return false;
    }
    return s.has_value();
  };
  server.Get(std::string(kApi) + "/incidents", [this, viewer](const httplib::Request& req,
                                                              httplib::Response& res) {
    if (!viewer(req, res, "/kubemend.v1.AuditAdmin/ListIncidents")) {
      return;
    }
    v1::ListIncidentsRequest q;
    q.set_namespace_(Param(req, "namespace"));
    q.set_status(Param(req, "status"));
    int32_t limit = 100;
    if (!ParseSince(Param(req, "since"), q.mutable_since()) ||
        !ParseLimit(Param(req, "limit"), &limit)) {
      return Fail(res, 400, "since is a duration (24h, 7d) or an RFC 3339 time; limit 1..1000");
    }
    q.set_limit(limit);
    Reply(res, backend_.Incidents(q));
  });
  server.Get(std::string(kApi) + R"(/incidents/([A-Za-z0-9_.:-]{1,128}))",
             [this, viewer](const httplib::Request& req, httplib::Response& res) {
               if (viewer(req, res, "/kubemend.v1.AuditAdmin/GetIncidentTimeline")) {
                 Reply(res, backend_.Timeline(req.matches[1].str()));
               }
             });
  server.Get(std::string(kApi) + "/actions", [this, viewer](const httplib::Request& req,
                                                            httplib::Response& res) {
    if (!viewer(req, res, "/kubemend.v1.AuditAdmin/ListActions")) {
      return;
    }
    v1::ListActionsRequest q;
    q.set_namespace_(Param(req, "namespace"));
    int32_t limit = 1000;
    if (!ParseSince(Param(req, "since"), q.mutable_since()) ||
        !ParseLimit(Param(req, "limit"), &limit)) {
      return Fail(res, 400, "since is a duration (24h, 7d) or an RFC 3339 time; limit 1..1000");
    }
    q.set_limit(limit);
    Reply(res, backend_.Actions(q));
  });
  server.Post(std::string(kApi) + "/verify", [this](const httplib::Request& req,
                                                    httplib::Response& res) {
    auto s = AuthenticateWrite(req, res);
    if (!s) {
      return;
    }
    if (!ConsoleSessions::Allowed(s->role, "/kubemend.v1.AuditAdmin/VerifyChain")) {
      return Fail(res, 403, "VerifyChain needs a higher role");
    }
    Reply(res, backend_.Verify());
  });
}

void Console::RegisterGate(httplib::Server& server) {
  server.Get(std::string(kApi) + "/pending", [this](const httplib::Request& req,
                                                    httplib::Response& res) {
    if (auto s = Authenticate(req, res)) {
      Reply(res, backend_.Pending(s->token));
    }
  });
  server.Get(std::string(kApi) + "/health", [this](const httplib::Request& req,
                                                   httplib::Response& res) {
    if (auto s = Authenticate(req, res)) {
      Reply(res, backend_.Health(s->token));
    }
  });
  server.Get(std::string(kApi) + "/policies", [this](const httplib::Request& req,
                                                     httplib::Response& res) {
    if (auto s = Authenticate(req, res)) {
      Reply(res, backend_.Policies(s->token));
    }
  });
  // The gate checks the forwarded token's role: a viewer gets its
  // PERMISSION_DENIED back as 403. issued_by is the token's subject, not a claim.
  server.Post(std::string(kApi) + R"(/pending/([A-Za-z0-9_.:-]{1,128})/(approve|deny))",
              [this](const httplib::Request& req, httplib::Response& res) {
                nlohmann::json body;
                auto s = AuthenticateWrite(req, res);
                if (!s || !Body(req, res, &body)) {
                  return;
                }
                if (Str(body, "reason").empty()) {
                  return Fail(res, 400, "a reason is required");
                }
                Reply(res, backend_.Resolve(s->token, req.matches[2].str() == "approve",
                                            req.matches[1].str(), s->subject,
                                            Str(body, "reason")));
              });
  server.Post(std::string(kApi) + R"(/(pause|resume))", [this](const httplib::Request& req,
                                                                httplib::Response& res) {
    nlohmann::json body;
    auto s = AuthenticateWrite(req, res);
    if (!s || !Body(req, res, &body)) {
      return;
    }
    if (Str(body, "reason").empty()) {
      return Fail(res, 400, "a reason is required");
    }
    Reply(res, backend_.PauseResume(s->token, req.matches[1].str() == "pause", s->subject,
                                    Str(body, "reason")));
  });
  server.Post(std::string(kApi) + "/mode", [this](const httplib::Request& req,
                                                  httplib::Response& res) {
    nlohmann::json body;
    auto s = AuthenticateWrite(req, res);
    if (!s || !Body(req, res, &body)) {
      return;
    }
    if (Str(body, "reason").empty()) {
      return Fail(res, 400, "a reason is required");
    }
    Reply(res, backend_.SetMode(s->token, Str(body, "mode"), Str(body, "scope"), s->subject,
                                Str(body, "reason")));
  });
}

}  // namespace kubemend::audit
