#pragma once
// A scripted stand-in for an LLM server, for tests of the analyzer's adviser.
// Speaks the Ollama chat API (POST /api/chat) and the OpenAI-compatible one
// (POST /v1/chat/completions). Each request takes the next scripted reply
// (then the default reply once the script runs out) and is recorded.
//
// Scripts come from code (Script()), from a JSON file (the binary's
// --script), or over HTTP: POST /_script with a JSON array replaces the queue,
// GET /_requests returns the recorded request bodies, POST /_reset clears both.
// A reply is {"content": "...", "status": 200, "delay_ms": 0, "raw": "..."}:
// `content` becomes the assistant message, `raw` (if present) is sent as the
// whole body instead, `delay_ms` holds the answer back (for timeouts).
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace kubemend::fake {

struct ScriptedReply {
  int status = 200;
  std::string content = "{\"diagnosis\":\"nothing to add\",\"action\":\"none\"}";
  std::string raw;  // sent verbatim when not empty
  int delay_ms = 0;
};

// Parses a JSON array of replies; false with *error on malformed input.
bool ParseScript(const std::string& json, std::vector<ScriptedReply>* out, std::string* error);

class FakeOllama {
 public:
  FakeOllama();
  ~FakeOllama();
  // Binds host:port (0 = any free port) and serves on a background thread.
  // Returns the bound port, or -1.
  int Start(const std::string& host = "127.0.0.1", int port = 0);
  void Stop();
  void Script(std::vector<ScriptedReply> replies);
  void SetDefault(ScriptedReply reply);
  std::vector<std::string> Requests() const;
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  ScriptedReply Next(const std::string& body);
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = -1;
  mutable std::mutex mu_;
  std::vector<ScriptedReply> queue_;
  ScriptedReply default_;
  std::vector<std::string> requests_;
};

}  // namespace kubemend::fake
