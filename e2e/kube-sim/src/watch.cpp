#include "watch.h"

#include "api_error.h"

namespace kubesim {

WatchStream::WatchStream(WatchHub& hub, const Clock& clock, const ResourceInfo& r, ObjectFilter filter,
                         std::uint64_t from_rv, std::vector<Json> initial, WatchOptions options)
    : hub_(hub),
      clock_(clock),
      resource_(r),
      filter_(std::move(filter)),
      cursor_(from_rv),
      options_(options),
      deadline_(std::chrono::steady_clock::now() + options.timeout),
      last_sent_(std::chrono::steady_clock::now()) {
  if (!hub_.resumable(from_rv)) {
    pending_.push_back(error_line("too old resource version: " + std::to_string(from_rv) + " (" +
                                  std::to_string(hub_.compacted_rv() + 1) + ")"));
    ended_ = true;
    return;
  }
  for (const Json& object : initial) {
    pending_.push_back(render("ADDED", object));
  }
  if (options_.initial_events_end) {
    Json bookmark = {{"kind", resource_.kind},
                     {"apiVersion", resource_.api_version()},
                     {"metadata",
                      {{"resourceVersion", std::to_string(from_rv)},
                       {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}};
    pending_.push_back(Json{{"type", "BOOKMARK"}, {"object", bookmark}}.dump() + "\n");
  }
}

std::string WatchStream::error_line(const std::string& message) {
  Json status = ApiError::gone(message).to_status();
  return Json{{"type", "ERROR"}, {"object", status}}.dump() + "\n";
}

std::string WatchStream::render(const std::string& type, const Json& object) {
  Json payload;
  if (options_.as_table) {
    payload = make_table(resource_, {&object}, clock_.now(), options_.include,
                         string_at(object, "metadata.resourceVersion"), first_table_);
    first_table_ = false;
  } else {
    payload = object;
  }
  return Json{{"type", type}, {"object", payload}}.dump() + "\n";
}

bool WatchStream::next(std::chrono::milliseconds wait, std::string& out) {
  auto flush = [&] {
    bool any = !pending_.empty();
    while (!pending_.empty()) {
      out += pending_.front();
      pending_.pop_front();
    }
    if (any) {
      last_sent_ = std::chrono::steady_clock::now();
    }
    return any;
  };
  if (flush() || ended_) {
    return !ended_;
  }
  auto now = std::chrono::steady_clock::now();
  if (now >= deadline_) {
    return false;
  }
  auto budget = std::min<std::chrono::milliseconds>(
      wait, std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now));
  std::vector<WatchEventPtr> events;
  switch (hub_.poll(cursor_, budget, events)) {
    case WatchHub::Poll::kClosed:
      return false;
    case WatchHub::Poll::kExpired:
      out += error_line("too old resource version: " + std::to_string(cursor_) + " (" +
                        std::to_string(hub_.compacted_rv() + 1) + ")");
      ended_ = true;
      return false;
    case WatchHub::Poll::kTimeout:
      break;
    case WatchHub::Poll::kEvents:
      for (const auto& e : events) {
        cursor_ = e->rv;
        if (e->resource != &resource_) {
          continue;
        }
        bool now_matches = filter_.matches(resource_, *e->object);
        if (e->type == "MODIFIED") {
          bool was_matching = e->previous ? filter_.matches(resource_, *e->previous) : now_matches;
          if (now_matches && was_matching) {
            pending_.push_back(render("MODIFIED", *e->object));
          } else if (now_matches) {
            pending_.push_back(render("ADDED", *e->object));
          } else if (was_matching) {
            pending_.push_back(render("DELETED", *e->object));
          }
        } else if (now_matches) {
          pending_.push_back(render(e->type, *e->object));
        }
      }
      break;
  }
  if (!flush() && options_.bookmarks && !options_.as_table &&
      std::chrono::steady_clock::now() - last_sent_ >= options_.bookmark_interval) {
    Json bookmark = {{"kind", resource_.kind},
                     {"apiVersion", resource_.api_version()},
                     {"metadata", {{"resourceVersion", std::to_string(cursor_)}}}};
    out += Json{{"type", "BOOKMARK"}, {"object", bookmark}}.dump() + "\n";
    last_sent_ = std::chrono::steady_clock::now();
  }
  return true;
}

}  // namespace kubesim
