#include "http_server.h"

#include <httplib.h>

#include <cctype>
#include <iostream>
#include <stdexcept>

namespace kubesim {

namespace {

// Watches hold a worker thread each for their whole life; size the pool so
// a collector with a dozen watches plus kubectl never starves.
constexpr std::size_t kWorkerThreads = 96;
constexpr auto kWatchPoll = std::chrono::milliseconds(500);

std::string lower(std::string s) {
  for (auto& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

}  // namespace

ListenAddress parse_listen_address(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    throw std::invalid_argument("listen address \"" + text + "\" must be host:port");
  }
  ListenAddress a;
  a.host = text.substr(0, colon);
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  if (a.host.empty()) {
    a.host = "0.0.0.0";
  }
  try {
    std::size_t used = 0;
    a.port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || a.port < 0 || a.port > 65535) {
      throw std::invalid_argument("port");
    }
  } catch (const std::exception&) {
    throw std::invalid_argument("listen address \"" + text + "\" has an invalid port");
  }
  return a;
}

HttpFrontend::HttpFrontend(ApiHandler& handler, bool verbose) : handler_(handler), verbose_(verbose) {}

HttpFrontend::~HttpFrontend() { stop(); }

void HttpFrontend::install(httplib::Server& server, bool require_token) {
  server.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  server.set_keep_alive_max_count(1000);
  auto handler = [this, require_token](const httplib::Request& req, httplib::Response& res) {
    ApiRequest request;
    request.method = req.method;
    request.path = req.path;
    for (const auto& [k, v] : req.params) {
      request.query.emplace_back(k, v);
    }
    for (const auto& [k, v] : req.headers) {
      request.headers[lower(k)] = v;
    }
    request.body = req.body;
    ApiResponse response = handler_.handle(request, require_token);
    if (verbose_) {
      std::cerr << "kube-sim: " << req.method << " " << req.path << (req.params.empty() ? "" : "?...") << " -> "
                << (response.watch ? std::string("watch") : std::to_string(response.status)) << "\n";
    }
    res.status = response.status;
    if (!response.watch) {
      res.set_content(response.body, response.content_type);
      return;
    }
    // "application/json;stream=watch" also keeps httplib from gzip-buffering
    // the stream (it only compresses exact "application/json").
    std::string type = response.content_type == "application/json" ? "application/json;stream=watch"
                                                                    : response.content_type;
    auto stream = response.watch;
    res.set_chunked_content_provider(type, [stream](std::size_t, httplib::DataSink& sink) {
      if (!sink.is_writable()) {
        return false;  // client went away
      }
      std::string out;
      bool more = stream->next(kWatchPoll, out);
      if (!out.empty() && !sink.write(out.data(), out.size())) {
        return false;
      }
      if (!more) {
        sink.done();
      }
      return true;
    });
  };
  const std::string any = "(.*)";
  server.Get(any, handler);
  server.Post(any, handler);
  server.Put(any, handler);
  server.Patch(any, handler);
  server.Delete(any, handler);
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"internal error","reason":"InternalError","code":500})",
                    "application/json");
  });
}

int HttpFrontend::listen_http(const ListenAddress& address, bool require_token) {
  auto server = std::make_unique<httplib::Server>();
  install(*server, require_token);
  int port = address.port == 0 ? server->bind_to_any_port(address.host) : (server->bind_to_port(address.host, address.port) ? address.port : -1);
  if (port < 0) {
    throw std::runtime_error("cannot bind HTTP listener on " + address.host + ":" + std::to_string(address.port));
  }
  servers_.push_back(std::move(server));
  return port;
}

int HttpFrontend::listen_https(const ListenAddress& address, const TlsMaterial& tls) {
  auto server = std::make_unique<httplib::SSLServer>(tls.server_cert.get(), tls.server_key.get());
  if (!server->is_valid()) {
    throw std::runtime_error("cannot set up the TLS context");
  }
  install(*server, true);
  int port = address.port == 0 ? server->bind_to_any_port(address.host) : (server->bind_to_port(address.host, address.port) ? address.port : -1);
  if (port < 0) {
    throw std::runtime_error("cannot bind HTTPS listener on " + address.host + ":" + std::to_string(address.port));
  }
  servers_.push_back(std::move(server));
  return port;
}

void HttpFrontend::start() {
  for (auto& server : servers_) {
    httplib::Server* s = server.get();
    threads_.emplace_back([s] { s->listen_after_bind(); });
  }
}

void HttpFrontend::stop() {
  for (auto& server : servers_) {
    server->stop();
  }
  for (auto& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  threads_.clear();
}

}  // namespace kubesim
