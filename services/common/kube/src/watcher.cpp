#include "watcher.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "errors.h"
#include "logging.h"

namespace kubemend::kube {

std::string_view ToString(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
  }
  return "UNKNOWN";
}

std::string_view ToString(SyncReason reason) {
  switch (reason) {
    case SyncReason::kInitial:
      return "initial";
    case SyncReason::kRelistAfterGone:
      return "relist_after_gone";
  }
  return "unknown";
}

namespace internal {
namespace {

std::optional<WatchEventType> ParseEventType(std::string_view type) {
  if (type == "ADDED") {
    return WatchEventType::kAdded;
  }
  if (type == "MODIFIED") {
    return WatchEventType::kModified;
  }
  if (type == "DELETED") {
    return WatchEventType::kDeleted;
  }
  if (type == "BOOKMARK") {
    return WatchEventType::kBookmark;
  }
  return std::nullopt;
}

std::string ResourceVersionOf(const nlohmann::json& object) {
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) {
    return "";
  }
  const auto rv = metadata->find("resourceVersion");
  return rv != metadata->end() && rv->is_string() ? rv->get<std::string>() : "";
}

}  // namespace

class WatcherImpl final : public Watcher {
 public:
  WatcherImpl(std::shared_ptr<ClientCore> core, ResourceType type, std::string ns, WatchOptions options,
              WatchCallbacks callbacks)
      : core_(std::move(core)),
        type_(std::move(type)),
        ns_(std::move(ns)),
        options_(std::move(options)),
        callbacks_(std::move(callbacks)),
        backoff_(options_.initial_backoff) {
    thread_ = std::thread([this] { Run(); });
  }

  // Must not run on the watcher's own thread (from inside a callback).
  ~WatcherImpl() override {
    Stop();
    std::lock_guard lock(join_mu_);
    if (thread_.joinable()) {
      thread_.join();  // also after a Stop() from inside a callback
    }
  }

  void Stop() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    canceller_.Cancel();
    std::lock_guard lock(join_mu_);
    if (thread_.joinable() && std::this_thread::get_id() != thread_.get_id()) {
      thread_.join();
    }
  }

 private:
  bool Stopping() {
    std::lock_guard lock(mu_);
    return stop_;
  }

  // False if stopped while waiting.
  bool Wait(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [this] { return stop_; });
  }

  std::chrono::milliseconds NextBackoff() {
    const auto wait = core_->Jitter(backoff_);
    backoff_ = std::min(backoff_ * 2, options_.max_backoff);
    return wait;
  }

  void ResetBackoff() { backoff_ = options_.initial_backoff; }

  void Report(const Error& error) {
    Log()->warn("event=watch_error resource={} namespace={} kind={} status={} message=\"{}\"", type_.plural, ns_,
                ToString(error.kind), error.http_status, error.message);
    if (callbacks_.on_error) {
      callbacks_.on_error(error);
    }
  }

  Result<ObjectList> ListAllPages() {
    ListOptions list_options;
    list_options.label_selector = options_.label_selector;
    list_options.field_selector = options_.field_selector;
    list_options.limit = options_.page_size;
    ObjectList all;
    for (;;) {
      auto page = core_->ListPage(type_, ns_, list_options);
      if (!page.ok()) {
        return page.error();
      }
      if (all.resource_version.empty()) {
        all.resource_version = page->resource_version;
      }
      std::move(page->items.begin(), page->items.end(), std::back_inserter(all.items));
      if (page->continue_token.empty() || Stopping()) {
        return all;
      }
      list_options.continue_token = page->continue_token;
    }
  }

  void Run() {
    std::string resource_version;
    bool need_list = true;
    SyncReason reason = SyncReason::kInitial;
    int gone_in_a_row = 0;
    while (!Stopping()) {
      if (need_list) {
        auto list = ListAllPages();
        if (Stopping()) {
          break;
        }
        if (!list.ok()) {
          Report(list.error());
          if (!Wait(NextBackoff())) {
            break;
          }
          continue;
        }
        resource_version = list->resource_version;
        Log()->info("event=watch_sync resource={} namespace={} reason={} items={} resource_version={}",
                    type_.plural, ns_, ToString(reason), list->items.size(), resource_version);
        callbacks_.on_sync(WatchSync{reason, std::move(list->items), resource_version});
        need_list = false;
      }

      const auto outcome = WatchOnce(resource_version);
      if (Stopping()) {
        break;
      }
      if (outcome.gone) {
        // The resume point is too old: events were lost; relist. A second
        // 410 in a row without progress waits first.
        Log()->info("event=watch_expired resource={} namespace={} resource_version={} action=relist", type_.plural,
                    ns_, resource_version);
        need_list = true;
        reason = SyncReason::kRelistAfterGone;
        if (++gone_in_a_row > 1 && !Wait(NextBackoff())) {
          break;
        }
        continue;
      }
      gone_in_a_row = 0;
      if (outcome.events > 0) {
        ResetBackoff();
      }
      if (outcome.error) {
        Report(*outcome.error);
        if (!Wait(NextBackoff())) {
          break;
        }
      } else if (outcome.events == 0 && outcome.duration < std::chrono::seconds(1)) {
        // A stream that ends at once with nothing in it: do not spin.
        if (!Wait(NextBackoff())) {
          break;
        }
      }
      Log()->debug("event=watch_resume resource={} namespace={} resource_version={}", type_.plural, ns_,
                   resource_version);
    }
    Log()->info("event=watch_stopped resource={} namespace={}", type_.plural, ns_);
  }

  struct Outcome {
    int events = 0;
    bool gone = false;
    std::optional<Error> error;
    std::chrono::steady_clock::duration duration{};
  };

  Outcome WatchOnce(std::string& resource_version) {
    Outcome outcome;
    const auto started = std::chrono::steady_clock::now();
    // Server-side timeout in [T, 2T), as client-go does, so that many
    // watchers do not reconnect in lockstep.
    const int64_t base = std::max<int64_t>(1, options_.watch_timeout.count());
    const int64_t timeout_seconds = base + static_cast<int64_t>(core_->Random() * static_cast<double>(base));
    HttpRequest request;
    request.method = "GET";
    request.target = CollectionPath(type_, ns_) + Query({{"watch", "1"},
                                                         {"allowWatchBookmarks", "true"},
                                                         {"resourceVersion", resource_version},
                                                         {"timeoutSeconds", std::to_string(timeout_seconds)},
                                                         {"labelSelector", options_.label_selector},
                                                         {"fieldSelector", options_.field_selector}});
    auto on_line = [&](std::string_view line) -> bool {
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
        return true;
      }
      auto event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (event.is_discarded() || !event.is_object() || !event.contains("type") || !event["type"].is_string()) {
        outcome.error = MakeError(ErrorKind::kDecode, fmt::format("watch {}: bad event line: {}", type_.plural,
                                                                  std::string(line.substr(0, 200))));
        return false;
      }
      const std::string type_name = event["type"].get<std::string>();
      nlohmann::json object = event.contains("object") ? std::move(event["object"]) : nlohmann::json::object();
      if (type_name == "ERROR") {
        Error error = ErrorFromStatus(object, 500);
        if (error.kind == ErrorKind::kGone) {
          outcome.gone = true;
        } else {
          outcome.error = std::move(error);
        }
        return false;
      }
      const auto type = ParseEventType(type_name);
      if (!type) {
        outcome.error = MakeError(ErrorKind::kDecode, fmt::format("watch {}: unknown event type {}", type_.plural,
                                                                  type_name));
        return false;
      }
      if (Stopping()) {
        return false;
      }
      if (object.is_object() && *type != WatchEventType::kBookmark) {
        if (!object.contains("kind") && !type_.kind.empty()) {
          object["kind"] = type_.kind;
        }
        if (!object.contains("apiVersion")) {
          object["apiVersion"] = type_.ApiVersion();
        }
      }
      std::string rv = ResourceVersionOf(object);
      if (!rv.empty()) {
        resource_version = rv;
      }
      ++outcome.events;
      callbacks_.on_event(WatchEvent{*type, std::move(object), std::move(rv)});
      return true;
    };
    auto result = core_->transport().Stream(request, std::chrono::seconds(timeout_seconds + 30), on_line, canceller_);
    outcome.duration = std::chrono::steady_clock::now() - started;
    if (!result.ok()) {
      if (result.error().error.kind != ErrorKind::kCancelled && !outcome.error && !outcome.gone) {
        outcome.error = result.error().error;
      }
      return outcome;
    }
    if (result->status == 410) {
      outcome.gone = true;
    } else if (result->status != 200) {
      Error error = ErrorFromHttp(result->status, result->body);
      if (error.kind == ErrorKind::kGone) {
        outcome.gone = true;
      } else {
        outcome.error = std::move(error);
      }
    }
    return outcome;
  }

  std::shared_ptr<ClientCore> core_;
  const ResourceType type_;
  const std::string ns_;
  const WatchOptions options_;
  const WatchCallbacks callbacks_;
  std::chrono::milliseconds backoff_;  // watcher thread only

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  StreamCanceller canceller_;
  std::mutex join_mu_;
  std::thread thread_;  // last: started once everything above exists
};

std::unique_ptr<Watcher> StartWatcher(std::shared_ptr<ClientCore> core, const ResourceType& type, std::string_view ns,
                                      const WatchOptions& options, WatchCallbacks callbacks) {
  if (!callbacks.on_sync || !callbacks.on_event) {
    std::fputs("kubemend::kube::KubeClient::Watch: on_sync and on_event are required\n", stderr);
    std::abort();
  }
  return std::make_unique<WatcherImpl>(std::move(core), type, std::string(ns), options, std::move(callbacks));
}

}  // namespace internal
}  // namespace kubemend::kube
