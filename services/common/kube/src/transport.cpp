#include "transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "logging.h"

namespace kubemend::kube::internal {
namespace {

constexpr auto kTokenRefresh = std::chrono::minutes(1);
constexpr size_t kMaxErrorBody = 64 * 1024;

std::once_flag g_curl_init;

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) {
    return false;
  }
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

std::string TrimCopy(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// Retry-After is either delta-seconds or an HTTP date.
std::optional<std::chrono::milliseconds> ParseRetryAfter(const std::string& value) {
  if (value.empty()) {
    return std::nullopt;
  }
  if (std::all_of(value.begin(), value.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    return std::chrono::seconds(std::stoll(value.substr(0, 9)));
  }
  const time_t when = curl_getdate(value.c_str(), nullptr);
  if (when < 0) {
    return std::nullopt;
  }
  const time_t now = std::time(nullptr);
  return std::chrono::seconds(when > now ? when - now : 0);
}

struct Capture {
  std::string body;
  std::string retry_after;
  // Streaming only.
  const std::function<bool(std::string_view)>* on_line = nullptr;
  CURL* handle = nullptr;
  std::string partial;
  bool stopped_by_consumer = false;
};

size_t HeaderCallback(char* data, size_t size, size_t count, void* user) {
  auto* capture = static_cast<Capture*>(user);
  const std::string_view line(data, size * count);
  if (StartsWithNoCase(line, "HTTP/")) {
    capture->retry_after.clear();  // a new response (after 100-continue, say)
  } else if (StartsWithNoCase(line, "retry-after:")) {
    capture->retry_after = TrimCopy(line.substr(std::strlen("retry-after:")));
  }
  return size * count;
}

size_t BodyCallback(char* data, size_t size, size_t count, void* user) {
  auto* capture = static_cast<Capture*>(user);
  capture->body.append(data, size * count);
  return size * count;
}

size_t StreamCallback(char* data, size_t size, size_t count, void* user) {
  auto* capture = static_cast<Capture*>(user);
  const size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(capture->handle, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    if (capture->body.size() < kMaxErrorBody) {
      capture->body.append(data, std::min(n, kMaxErrorBody - capture->body.size()));
    }
    return n;
  }
  capture->partial.append(data, n);
  size_t start = 0;
  for (size_t nl = capture->partial.find('\n'); nl != std::string::npos; nl = capture->partial.find('\n', start)) {
    const std::string_view line(capture->partial.data() + start, nl - start);
    start = nl + 1;
    if (!(*capture->on_line)(line)) {
      capture->stopped_by_consumer = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
  }
  capture->partial.erase(0, start);
  return n;
}

ErrorKind KindForCurl(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return ErrorKind::kUnavailable;
    case CURLE_OPERATION_TIMEDOUT:
      return ErrorKind::kTimeout;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
      return ErrorKind::kTls;
    case CURLE_ABORTED_BY_CALLBACK:
      return ErrorKind::kCancelled;
    default:
      return ErrorKind::kUnknown;
  }
}

TransportFailure FailureFromCurl(CURL* handle, CURLcode code, const char* error_buffer, const HttpRequest& request) {
  TransportFailure failure;
  failure.error.kind = KindForCurl(code);
  const std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  failure.error.message = fmt::format("{} {}: {}", request.method, request.target, detail);
  long request_size = 0;
  curl_easy_getinfo(handle, CURLINFO_REQUEST_SIZE, &request_size);
  failure.request_sent = request_size > 0;
  return failure;
}

std::optional<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  std::string token = TrimCopy(buffer.str());
  if (token.empty()) {
    return std::nullopt;
  }
  return token;
}

void SetBlob(CURL* handle, CURLoption option, const std::string& data) {
  curl_blob blob{};
  blob.data = const_cast<char*>(data.data());
  blob.len = data.size();
  blob.flags = CURL_BLOB_COPY;
  curl_easy_setopt(handle, option, &blob);
}

}  // namespace

void StreamCanceller::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  if (multi_ != nullptr) {
    curl_multi_wakeup(static_cast<CURLM*>(multi_));
  }
}

bool StreamCanceller::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

Result<std::shared_ptr<Transport>> Transport::Create(ClientConfig config, ClientOptions options) {
  if (config.server.empty()) {
    return MakeError(ErrorKind::kConfig, "client config has no server URL");
  }
  if (!config.bearer_token_file.empty() && config.bearer_token.empty()) {
    auto token = ReadToken(config.bearer_token_file);
    if (!token) {
      return MakeError(ErrorKind::kConfig,
                       fmt::format("bearer token file {} is missing or empty", config.bearer_token_file));
    }
    config.bearer_token = *token;
  }
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::shared_ptr<Transport>(new Transport(std::move(config), std::move(options)));
}

Transport::Transport(ClientConfig config, ClientOptions options)
    : config_(std::move(config)), options_(std::move(options)) {
  token_ = config_.bearer_token;
  token_read_at_ = std::chrono::steady_clock::now();
}

Transport::~Transport() {
  for (void* handle : pool_) {
    curl_easy_cleanup(static_cast<CURL*>(handle));
  }
}

std::string Transport::BearerToken() {
  std::lock_guard lock(token_mu_);
  if (!config_.bearer_token_file.empty() && std::chrono::steady_clock::now() - token_read_at_ >= kTokenRefresh) {
    token_read_at_ = std::chrono::steady_clock::now();
    if (auto token = ReadToken(config_.bearer_token_file)) {
      token_ = *token;
    } else {
      Log()->warn("event=token_reload_failed file={} action=keep_previous_token", config_.bearer_token_file);
    }
  }
  return token_;
}

void* Transport::AcquireHandle() {
  {
    std::lock_guard lock(pool_mu_);
    if (!pool_.empty()) {
      void* handle = pool_.back();
      pool_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void Transport::ReleaseHandle(void* handle) {
  // reset keeps the handle's live connections, so the next call reuses them.
  curl_easy_reset(static_cast<CURL*>(handle));
  std::lock_guard lock(pool_mu_);
  pool_.push_back(handle);
}

void* Transport::Configure(void* raw, const HttpRequest& request, char* error_buffer) {
  CURL* handle = static_cast<CURL*>(raw);
  const std::string url = config_.server + request.target;
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);

  if (request.method == "GET") {
    curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (!request.body.empty() || request.method != "DELETE") {
      curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.c_str());
    }
  }

  // TLS: verified unless the kubeconfig explicitly says otherwise.
  if (config_.insecure_skip_tls_verify) {
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 0L);
  } else {
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!config_.ca_pem.empty()) {
      SetBlob(handle, CURLOPT_CAINFO_BLOB, config_.ca_pem);
    }
  }
  if (!config_.client_cert_pem.empty()) {
    SetBlob(handle, CURLOPT_SSLCERT_BLOB, config_.client_cert_pem);
    curl_easy_setopt(handle, CURLOPT_SSLCERTTYPE, "PEM");
    SetBlob(handle, CURLOPT_SSLKEY_BLOB, config_.client_key_pem);
    curl_easy_setopt(handle, CURLOPT_SSLKEYTYPE, "PEM");
  }

  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");
  if (!request.content_type.empty()) {
    headers = curl_slist_append(headers, ("Content-Type: " + request.content_type).c_str());
  }
  const std::string token = BearerToken();
  if (!token.empty()) {
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  } else if (!config_.username.empty()) {
    curl_easy_setopt(handle, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(handle, CURLOPT_USERNAME, config_.username.c_str());
    curl_easy_setopt(handle, CURLOPT_PASSWORD, config_.password.c_str());
  }
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  return headers;
}

TransportResult Transport::Perform(const HttpRequest& request) {
  CURL* handle = static_cast<CURL*>(AcquireHandle());
  if (handle == nullptr) {
    return TransportFailure{MakeError(ErrorKind::kUnknown, "curl_easy_init failed"), false};
  }
  char error_buffer[CURL_ERROR_SIZE] = {0};
  Capture capture;
  auto* headers = static_cast<curl_slist*>(Configure(handle, request, error_buffer));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  // Compressed bodies for ordinary calls only: a compressed watch stream
  // could sit in the compressor's buffer instead of arriving event by event.
  curl_easy_setopt(handle, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, HeaderCallback);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &capture);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, BodyCallback);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &capture);

  const CURLcode code = curl_easy_perform(handle);
  TransportResult result = HttpResponse{};
  if (code != CURLE_OK) {
    result = FailureFromCurl(handle, code, error_buffer, request);
  } else {
    HttpResponse response;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
    response.body = std::move(capture.body);
    response.retry_after = ParseRetryAfter(capture.retry_after);
    result = std::move(response);
  }
  curl_slist_free_all(headers);
  ReleaseHandle(handle);
  return result;
}

TransportResult Transport::Stream(const HttpRequest& request, std::chrono::milliseconds max_duration,
                                  const std::function<bool(std::string_view)>& on_line, StreamCanceller& canceller) {
  // A dedicated handle driven through a multi handle, so that another thread
  // can interrupt the wait with curl_multi_wakeup.
  CURL* handle = curl_easy_init();
  CURLM* multi = curl_multi_init();
  if (handle == nullptr || multi == nullptr) {
    curl_easy_cleanup(handle);
    curl_multi_cleanup(multi);
    return TransportFailure{MakeError(ErrorKind::kUnknown, "curl init failed"), false};
  }
  char error_buffer[CURL_ERROR_SIZE] = {0};
  Capture capture;
  capture.on_line = &on_line;
  capture.handle = handle;
  auto* headers = static_cast<curl_slist*>(Configure(handle, request, error_buffer));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(max_duration.count()));
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, HeaderCallback);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &capture);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, StreamCallback);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &capture);
  curl_multi_add_handle(multi, handle);

  bool cancelled = false;
  {
    std::lock_guard lock(canceller.mu_);
    cancelled = canceller.cancelled_;
    canceller.multi_ = multi;
  }
  int running = 1;
  while (!cancelled) {
    if (curl_multi_perform(multi, &running) != CURLM_OK || running == 0) {
      break;
    }
    if (curl_multi_poll(multi, nullptr, 0, 1000, nullptr) != CURLM_OK) {
      break;
    }
    cancelled = canceller.cancelled();
  }
  {
    std::lock_guard lock(canceller.mu_);
    canceller.multi_ = nullptr;
  }

  CURLcode code = CURLE_OK;
  bool finished = false;
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
    if (msg->msg == CURLMSG_DONE) {
      code = msg->data.result;
      finished = true;
    }
  }
  TransportResult result = HttpResponse{};
  if (cancelled && !capture.stopped_by_consumer) {
    result = TransportFailure{MakeError(ErrorKind::kCancelled, "watch stopped"), true};
  } else if (capture.stopped_by_consumer) {
    result = HttpResponse{200, {}, std::nullopt};
  } else if (!finished) {
    result = TransportFailure{MakeError(ErrorKind::kUnknown, "curl multi interface failed"), true};
  } else if (code != CURLE_OK) {
    result = FailureFromCurl(handle, code, error_buffer, request);
  } else {
    HttpResponse response;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
    if (response.status == 200 && !capture.partial.empty()) {
      on_line(capture.partial);  // a last line without its newline
    }
    response.body = std::move(capture.body);
    response.retry_after = ParseRetryAfter(capture.retry_after);
    result = std::move(response);
  }
  curl_multi_remove_handle(multi, handle);
  curl_easy_cleanup(handle);
  curl_multi_cleanup(multi);
  curl_slist_free_all(headers);
  return result;
}

}  // namespace kubemend::kube::internal
