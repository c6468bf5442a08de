#pragma once

// The thin HTTP(S) layer: cpp-httplib servers that turn every request into
// an ApiRequest for the ApiHandler and stream WatchStreams as chunked
// responses. No decisions are made here beyond transport.

#include "api_handler.h"
#include "tls.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace kubesim {

struct ListenAddress {
  std::string host = "127.0.0.1";
  int port = 0;
};
// "127.0.0.1:0", "[::1]:8080", ":6443"; throws std::invalid_argument.
ListenAddress parse_listen_address(const std::string& text);

class HttpFrontend {
 public:
  HttpFrontend(ApiHandler& handler, bool verbose);
  ~HttpFrontend();

  // Binds and returns the port actually bound. Throws std::runtime_error.
  int listen_http(const ListenAddress& address, bool require_token);
  int listen_https(const ListenAddress& address, const TlsMaterial& tls);
  // Serves on background threads until stop().
  void start();
  void stop();

 private:
  void install(httplib::Server& server, bool require_token);

  ApiHandler& handler_;
  bool verbose_;
  std::vector<std::unique_ptr<httplib::Server>> servers_;
  std::vector<std::thread> threads_;
};

}  // namespace kubesim
