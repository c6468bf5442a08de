#include "fake_ollama.h"

#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>

namespace kubemend::fake {

using nlohmann::json;

bool ParseScript(const std::string& text, std::vector<ScriptedReply>* out, std::string* error) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    *error = "script must be a JSON array of replies";
    return false;
  }
  for (const auto& r : j) {
    if (!r.is_object()) {
      *error = "each reply must be an object";
      return false;
    }
    ScriptedReply s;
    s.status = r.value("status", 200);
    s.content = r.value("content", s.content);
    s.raw = r.value("raw", std::string());
    s.delay_ms = r.value("delay_ms", 0);
    out->push_back(s);
  }
  return true;
}

FakeOllama::FakeOllama() : server_(std::make_unique<httplib::Server>()) {}

FakeOllama::~FakeOllama() { Stop(); }

ScriptedReply FakeOllama::Next(const std::string& body) {
  std::lock_guard<std::mutex> l(mu_);
  requests_.push_back(body);
  if (queue_.empty()) {
    return default_;
  }
  ScriptedReply r = queue_.front();
  queue_.erase(queue_.begin());
  return r;
}

void FakeOllama::Script(std::vector<ScriptedReply> replies) {
  std::lock_guard<std::mutex> l(mu_);
  queue_ = std::move(replies);
}

void FakeOllama::SetDefault(ScriptedReply reply) {
  std::lock_guard<std::mutex> l(mu_);
  default_ = std::move(reply);
}

std::vector<std::string> FakeOllama::Requests() const {
  std::lock_guard<std::mutex> l(mu_);
  return requests_;
}

int FakeOllama::Start(const std::string& host, int port) {
  auto answer = [this](bool openai) {
    return [this, openai](const httplib::Request& req, httplib::Response& res) {
      ScriptedReply r = Next(req.body);
      if (r.delay_ms > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(r.delay_ms));
      }
      res.status = r.status;
      if (!r.raw.empty()) {
        res.set_content(r.raw, "application/json");
        return;
      }
      json in = json::parse(req.body, nullptr, false);
      std::string model = !in.is_discarded() && in.is_object() ? in.value("model", "fake") : "fake";
      json out;
      if (openai) {
        out = {{"id", "chatcmpl-fake"},
               {"object", "chat.completion"},
               {"model", model},
               {"choices", json::array({{{"index", 0},
                                         {"message", {{"role", "assistant"}, {"content", r.content}}},
                                         {"finish_reason", "stop"}}})},
               {"usage", {{"prompt_tokens", 100}, {"completion_tokens", 20}, {"total_tokens", 120}}}};
      } else {
        out = {{"model", model},
               {"created_at", "2026-01-01T00:00:00Z"},
               {"message", {{"role", "assistant"}, {"content", r.content}}},
               {"done", true},
               {"prompt_eval_count", 100},
               {"eval_count", 20}};
      }
      res.set_content(out.dump(), "application/json");
    };
  };
  server_->Post("/api/chat", answer(false));
  server_->Post("/v1/chat/completions", answer(true));
  server_->Post("/_script", [this](const httplib::Request& req, httplib::Response& res) {
    std::vector<ScriptedReply> s;
    std::string err;
    if (!ParseScript(req.body, &s, &err)) {
      res.status = 400;
      res.set_content(err, "text/plain");
      return;
    }
    Script(std::move(s));
    res.set_content("ok", "text/plain");
  });
  server_->Get("/_requests", [this](const httplib::Request&, httplib::Response& res) {
    json a = json::array();
    for (const auto& r : Requests()) {
      a.push_back(r);
    }
    res.set_content(a.dump(), "application/json");
  });
  server_->Post("/_reset", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> l(mu_);
    queue_.clear();
    requests_.clear();
    res.set_content("ok", "text/plain");
  });
  port_ = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (port_ < 0) {
    return -1;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // Bound already, so connections queue in the backlog; wait for the loop anyway.
  for (int i = 0; i < 2000 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return port_;
}

void FakeOllama::Stop() {
  if (server_) {
    server_->stop();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace kubemend::fake
