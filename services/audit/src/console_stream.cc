// GET /console/api/stream: the trail as Server-Sent Events. Each new row is
// one `record` event (id = its seq, so a reconnecting EventSource resumes
// with Last-Event-ID and misses nothing); a comment line every 15 s keeps
// proxies from closing an idle stream. The stream ends when the session
// expires or the service stops; EventSource then reconnects (and gets 401
// once the session is gone, which the page shows as "log in again").
#include <nlohmann/json.hpp>
#include <thread>

#include "console.h"
#include "trail.h"

namespace kubemend::audit {
namespace {

constexpr auto kKeepAlive = std::chrono::seconds(15);
constexpr int kPage = 200;

struct StreamState {
  std::unique_ptr<TrailReader> reader;  // one PostgreSQL session per stream
  int64_t after = 0;
  std::string session_cookie;
};

// The row without its decoded event: the page re-reads what it shows.
std::string RecordEvent(const v1::AuditRecord& rec) {
  v1::AuditRecord light = rec;
  light.clear_event();
  return "id: " + std::to_string(rec.seq()) + "\nevent: record\ndata: " +
         ConsoleBackend::ToJson(light) + "\n\n";
}

int64_t StartSeq(const httplib::Request& req) {
  std::string last = req.get_header_value("Last-Event-ID");
  if (last.empty() && req.has_param("after")) {
    last = req.get_param_value("after");
  }
  try {
    return last.empty() ? -1 : std::stoll(last);
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace

void Console::RegisterStream(httplib::Server& server) {
  server.Get("/console/api/stream", [this](const httplib::Request& req, httplib::Response& res) {
    auto s = Authenticate(req, res);
    if (!s) {
      return;
    }
    if (!ConsoleSessions::Allowed(s->role, "/kubemend.v1.AuditAdmin/Tail")) {
      res.status = 403;
      return;
    }
    Streams(*s, req, res);
  });
}

bool Console::Streams(const ConsoleSession&, const httplib::Request& req,
                      httplib::Response& res) {
  if (streams_.fetch_add(1) >= opts_.max_streams) {
    streams_.fetch_sub(1);
    SetSecurityHeaders(res);
    res.status = 503;
    res.set_content("{\"error\":\"too many live streams (console.max_streams)\"}",
                    "application/json");
    return false;
  }
  auto state = std::make_shared<StreamState>();
  state->after = StartSeq(req);
  state->session_cookie = req.get_header_value("Cookie");
  state->reader = backend_.Reader();
  if (state->after < 0) {
    auto head = state->reader->HeadSeq();
    state->after = head.ok() ? *head : 0;
  }
  SetSecurityHeaders(res);
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, state](size_t, httplib::DataSink& sink) {
        auto waited = std::chrono::steady_clock::duration::zero();
        while (!stopping_ && sink.is_writable()) {
          if (!sessions_.Find(state->session_cookie, std::chrono::system_clock::now())) {
            sink.done();
            return true;
          }
          v1::QueryEventsRequest q;
          q.set_after_seq(state->after);
          q.set_limit(kPage);
          auto page = state->reader->Query(q);
          if (!page.ok()) {
            std::string msg = "event: error\ndata: " +
                              nlohmann::json{{"error", std::string(page.status().message())}}.dump() +
                              "\n\n";
            sink.write(msg.data(), msg.size());
            sink.done();
            return true;
          }
          if (page->records_size() > 0) {
            std::string out;
            for (const auto& rec : page->records()) {
              out += RecordEvent(rec);
              state->after = rec.seq();
            }
            return sink.write(out.data(), out.size());
          }
          if (waited >= kKeepAlive) {
            static constexpr char kPing[] = ": keep-alive\n\n";
            return sink.write(kPing, sizeof kPing - 1);
          }
          std::this_thread::sleep_for(opts_.stream_poll);
          waited += opts_.stream_poll;
        }
        sink.done();
        return true;
      },
      [this](bool) { streams_.fetch_sub(1); });
  return true;
}

}  // namespace kubemend::audit
