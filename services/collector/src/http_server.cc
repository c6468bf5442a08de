#include "http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>

#include "kubemend/common/log.h"

namespace kubemend::collector {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {
// shutdown() destroys the handlers still queued (and so the connections they
// hold) while the context itself stays valid for late posts.
struct IoContext : net::io_context {
  using net::io_context::io_context;
  void DropPending() { shutdown(); }
};
}  // namespace

struct AsyncHttpServer::Impl {
  HttpServerOptions opts;
  HttpHandler handler;
  IoContext ioc;
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  std::atomic<size_t> connections{0};
  std::atomic<bool> stopped{false};
  int port = 0;

  explicit Impl(int threads_hint) : ioc(threads_hint) {}
  void Accept(const std::shared_ptr<Impl>& self);
};

namespace {

beast::tcp_stream& Lowest(beast::tcp_stream& s) { return s; }
beast::tcp_stream& Lowest(beast::ssl_stream<beast::tcp_stream>& s) { return s.next_layer(); }

// One connection. Holds the server's state alive (shared_ptr), so that an
// answer arriving from the delivery-report thread after Stop() is posted to
// a stopped io_context (and dropped) rather than to a destroyed one.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(std::shared_ptr<AsyncHttpServer::Impl> server, Args&&... args)
      : server_(std::move(server)), stream_(std::forward<Args>(args)...) {
    server_->connections++;
  }
  ~Session() { server_->connections--; }

  void Run(bool refuse) {
    refuse_ = refuse;
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Begin(); });
  }

 private:
  void Begin() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      AfterHandshake();
    } else {
      Lowest(stream_).expires_after(server_->opts.read_timeout);
      stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) {
          return;  // not TLS, or gave up: nothing to answer on
        }
        self->AfterHandshake();
      });
    }
  }

  void AfterHandshake() {
    if (refuse_) {
      keep_alive_ = false;
      Write({503, "application/json",
             R"({"error":"too many open connections to the collector (max_connections); retry later"})",
             {{"Retry-After", "1"}}});
      return;
    }
    ReadHeader();
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->body_limit(server_->opts.max_body_bytes);
    Lowest(stream_).expires_after(server_->opts.read_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) {
      return OnReadError(ec);
    }
    auto& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      // curl asks before sending a body over 1 KiB; answer at once.
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, req.version());
      http::async_write(stream_, *cont, [self = this->shared_from_this(), cont](beast::error_code ec, size_t) {
        if (ec) {
          return self->Close();
        }
        self->ReadBody();
      });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRequest(ec); });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted) {
      return Close();
    }
    keep_alive_ = false;
    if (ec == http::error::body_limit) {
      return Write({413, "application/json",
                    nlohmann::json{{"error", "body larger than webhook.max_body_bytes (" +
                                                 std::to_string(server_->opts.max_body_bytes) + " bytes)"}}
                        .dump(),
                    {}});
    }
    if (ec == http::error::header_limit) {
      return Write({431, "application/json", R"({"error":"request headers too large"})", {}});
    }
    // Not HTTP: say why (the parser's words), then close.
    Write({400, "application/json", nlohmann::json{{"error", "bad request: " + ec.message()}}.dump(), {}});
  }

  void OnRequest(beast::error_code ec) {
    if (ec) {
      return OnReadError(ec);
    }
    auto req = parser_->release();
    parser_.reset();
    Lowest(stream_).expires_never();  // waiting for the broker is bounded by the delivery timeout
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    HttpRequest r;
    r.method = std::string(req.method_string());
    const std::string target(req.target());
    r.path = target.substr(0, target.find('?'));
    r.authorization = std::string(req[http::field::authorization]);
    r.body = std::move(req.body());
    auto self = this->shared_from_this();
    server_->handler(std::move(r), [self](HttpReply reply) {
      net::post(self->stream_.get_executor(), [self, reply = std::move(reply)]() mutable { self->Write(std::move(reply)); });
    });
  }

  void Write(HttpReply reply) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(reply.status), version_);
    res->set(http::field::server, "kubemend-collector");
    res->set(http::field::content_type, reply.content_type);
    for (const auto& [k, v] : reply.headers) {
      res->set(k, v);
    }
    res->body() = std::move(reply.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    Lowest(stream_).expires_after(server_->opts.read_timeout);
    http::async_write(stream_, *res, [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec || !self->keep_alive_) {
        return self->Close();
      }
      self->ReadHeader();
    });
  }

  void Close() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      // Read what the client still sends (an unread body would make the
      // kernel reset the connection and lose the answer), up to a timeout.
      Drain();
    } else {
      Lowest(stream_).expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
    }
  }

  void Drain() {
    Lowest(stream_).expires_after(std::chrono::seconds(2));
    stream_.async_read_some(net::buffer(scratch_), [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (!ec) {
        self->Drain();
      }
    });
  }

  std::shared_ptr<AsyncHttpServer::Impl> server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  bool refuse_ = false;
  unsigned version_ = 11;
  std::array<char, 4096> scratch_{};
};

}  // namespace

void AsyncHttpServer::Impl::Accept(const std::shared_ptr<Impl>& self) {
  acceptor.async_accept(net::make_strand(ioc), [self](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || self->stopped) {
        return;
      }
      Logger("http")->warn("msg=\"accept failed\" error={}", Q(ec.message()));
    } else {
      socket.set_option(tcp::no_delay(true), ec);
      const bool refuse = self->connections.load() >= self->opts.max_connections;
      if (self->tls) {
        std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(self, std::move(socket), *self->tls)->Run(refuse);
      } else {
        std::make_shared<Session<beast::tcp_stream>>(self, std::move(socket))->Run(refuse);
      }
    }
    self->Accept(self);
  });
}

absl::StatusOr<std::unique_ptr<AsyncHttpServer>> AsyncHttpServer::Start(const HttpServerOptions& opts,
                                                                        HttpHandler handler) {
  auto impl = std::make_shared<Impl>(std::max(1, opts.threads));
  impl->opts = opts;
  impl->handler = std::move(handler);
  if (!opts.tls_cert_file.empty() || !opts.tls_key_file.empty()) {
    impl->tls.emplace(ssl::context::tls_server);
    impl->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                           ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    beast::error_code ec;
    impl->tls->use_certificate_chain_file(opts.tls_cert_file, ec);
    if (!ec) {
      impl->tls->use_private_key_file(opts.tls_key_file, ssl::context::pem, ec);
    }
    if (ec) {
      return absl::InvalidArgumentError("key http.tls.cert_file: " + opts.tls_cert_file + " and " + opts.tls_key_file +
                                        " are not a PEM certificate and its private key (" + ec.message() + ")");
    }
  }
  auto colon = opts.listen.rfind(':');
  const std::string host = colon == std::string::npos ? opts.listen : opts.listen.substr(0, colon);
  int port = 0;
  try {
    port = colon == std::string::npos ? 0 : std::stoi(opts.listen.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  beast::error_code ec;
  auto addr = net::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  const std::string bad = "http.listen " + opts.listen + ": cannot listen (address in use or invalid)";
  if (ec || port < 0 || port > 65535) {
    return absl::UnavailableError(bad);
  }
  tcp::endpoint ep(addr, static_cast<unsigned short>(port));
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) {
    impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
    impl->acceptor.bind(ep, ec);
  }
  if (!ec) {
    impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return absl::UnavailableError(bad + " - " + ec.message());
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept(impl);
  for (int i = 0; i < std::max(1, opts.threads); ++i) {
    impl->threads.emplace_back([raw = impl.get()] { raw->ioc.run(); });
  }
  return std::unique_ptr<AsyncHttpServer>(new AsyncHttpServer(impl));
}

void AsyncHttpServer::Stop() {
  if (impl_->stopped.exchange(true)) {
    return;
  }
  impl_->ioc.stop();
  for (auto& t : impl_->threads) {
    t.join();
  }
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->ioc.DropPending();
}

AsyncHttpServer::~AsyncHttpServer() { Stop(); }

int AsyncHttpServer::port() const { return impl_->port; }

size_t AsyncHttpServer::connections() const { return impl_->connections.load(); }

}  // namespace kubemend::collector
