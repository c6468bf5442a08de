// The watcher against a fake API server that scripts list and watch answers:
// bookmarks, resume after a disconnect, relist after 410, clean stop.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fake_apiserver.h"
#include "kubemend/kube/client.h"

namespace kubemend::kube {
namespace {

using json = nlohmann::json;
using testing::FakeApiServer;
using testing::NoSleepOptions;
using testing::RecordedWaits;

constexpr const char* kPods = "/api/v1/namespaces/shop/pods";

std::string Event(const std::string& type, const std::string& name, const std::string& rv) {
  return json{{"type", type},
              {"object", {{"metadata", {{"name", name}, {"namespace", "shop"}, {"resourceVersion", rv}}}}}}
      .dump();
}

std::string Bookmark(const std::string& rv) {
  return json{{"type", "BOOKMARK"},
              {"object", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", rv}}}}}}
      .dump();
}

std::string ExpiredEvent() {
  return json{{"type", "ERROR"},
              {"object",
               {{"kind", "Status"},
                {"apiVersion", "v1"},
                {"status", "Failure"},
                {"message", "too old resource version: 10 (15)"},
                {"reason", "Expired"},
                {"code", 410}}}}
      .dump();
}

json PodList(const std::string& rv, std::vector<std::string> names) {
  json items = json::array();
  for (const auto& n : names) {
    items.push_back({{"metadata", {{"name", n}, {"namespace", "shop"}, {"resourceVersion", rv}}}});
  }
  return {{"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", rv}}}, {"items", items}};
}

// Everything the callbacks saw, in order, as short strings:
// "sync:initial@10[a,b]", "ADDED c@11", "BOOKMARK @12", "error:...".
class Recorder {
 public:
  WatchCallbacks Callbacks() {
    WatchCallbacks cb;
    cb.on_sync = [this](const WatchSync& sync) {
      std::string names;
      for (const auto& item : sync.items) {
        names += (names.empty() ? "" : ",") + item["metadata"]["name"].get<std::string>();
        EXPECT_EQ(item["kind"], "Pod");
      }
      Add("sync:" + std::string(ToString(sync.reason)) + "@" + sync.resource_version + "[" + names + "]");
    };
    cb.on_event = [this](const WatchEvent& event) {
      const std::string name = event.object["metadata"].value("name", "");
      Add(std::string(ToString(event.type)) + " " + name + "@" + event.resource_version);
    };
    cb.on_error = [this](const Error& error) { Add("error:" + std::string(ToString(error.kind))); };
    return cb;
  }

  // Waits until `entries` entries were seen (or 5 s passed).
  std::vector<std::string> WaitFor(size_t entries) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return seen_.size() >= entries; });
    return seen_;
  }

  std::vector<std::string> Seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  void Add(std::string entry) {
    {
      std::lock_guard lock(mu_);
      seen_.push_back(std::move(entry));
    }
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> seen_;
};

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Get(kPods, [this](const httplib::Request& req, httplib::Response& res) {
      if (req.has_param("watch")) {
        const int n = watches_++;
        on_watch_(n, req, res);
      } else {
        const int n = lists_++;
        on_list_(n, req, res);
      }
    });
    server_.Start();
    ClientConfig config;
    config.server = server_.url();
    auto client = NewClient(config, NoSleepOptions(waits_, 1));
    ASSERT_TRUE(client.ok());
    client_ = std::move(client).value();
    options_.initial_backoff = std::chrono::milliseconds(10);
    options_.max_backoff = std::chrono::milliseconds(50);
  }

  std::vector<testing::RecordedRequest> WatchRequests() {
    std::vector<testing::RecordedRequest> out;
    for (auto& r : server_.RequestsTo(kPods)) {
      if (!r.Param("watch").empty()) {
        out.push_back(std::move(r));
      }
    }
    return out;
  }

  using Script = std::function<void(int n, const httplib::Request&, httplib::Response&)>;
  FakeApiServer server_;
  std::atomic<int> lists_{0};
  std::atomic<int> watches_{0};
  Script on_list_;
  Script on_watch_;
  std::shared_ptr<RecordedWaits> waits_ = std::make_shared<RecordedWaits>();
  std::unique_ptr<KubeClient> client_;
  WatchOptions options_;
  Recorder recorder_;
};

TEST_F(WatchTest, ListsThenStreamsEventsAndBookmarksAndStopsCleanly) {
  on_list_ = [](int n, const httplib::Request& req, httplib::Response& res) {
    // Two pages of one item each.
    json page = PodList("10", {req.has_param("continue") ? "b" : "a"});
    if (!req.has_param("continue")) {
      page["metadata"]["continue"] = "next";
    }
    res.set_content(page.dump(), "application/json");
  };
  on_watch_ = [this](int, const httplib::Request&, httplib::Response& res) {
    server_.StreamLines(res, {Event("ADDED", "c", "11"), Bookmark("12"), Event("MODIFIED", "a", "13"),
                              Event("DELETED", "b", "14")},
                        /*hold_open=*/true);
  };
  options_.page_size = 1;
  options_.label_selector = "app=web";
  auto watcher = client_->Watch(resources::kPods, "shop", options_, recorder_.Callbacks());
  const auto seen = recorder_.WaitFor(5);
  EXPECT_EQ(seen, (std::vector<std::string>{"sync:initial@10[a,b]", "ADDED c@11", "BOOKMARK @12", "MODIFIED a@13",
                                            "DELETED b@14"}));
  const auto started = std::chrono::steady_clock::now();
  watcher->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(900));
  const size_t after_stop = recorder_.Seen().size();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(recorder_.Seen().size(), after_stop);  // nothing after Stop() returned

  const auto watches = WatchRequests();
  ASSERT_EQ(watches.size(), 1u);
  EXPECT_EQ(watches[0].Param("resourceVersion"), "10");
  EXPECT_EQ(watches[0].Param("allowWatchBookmarks"), "true");
  EXPECT_EQ(watches[0].Param("labelSelector"), "app=web");
  const int timeout = std::stoi(watches[0].Param("timeoutSeconds"));
  EXPECT_GE(timeout, 300);
  EXPECT_LT(timeout, 600);
  EXPECT_EQ(lists_.load(), 2);  // two pages, no relist
}

TEST_F(WatchTest, ResumesFromTheLastResourceVersionAfterADisconnect) {
  on_list_ = [](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(PodList("10", {"a"}).dump(), "application/json");
  };
  on_watch_ = [this](int n, const httplib::Request&, httplib::Response& res) {
    if (n == 0) {
      // Ends the stream after two events, as a server timeout or a dropped
      // connection through a proxy would.
      server_.StreamLines(res, {Event("ADDED", "b", "11"), Bookmark("15")}, /*hold_open=*/false);
    } else if (n == 1) {
      res.status = 500;
      res.set_content(testing::StatusJson(500, "InternalError", "etcd hiccup"), "application/json");
    } else {
      server_.StreamLines(res, {Event("MODIFIED", "b", "16")}, /*hold_open=*/true);
    }
  };
  auto watcher = client_->Watch(resources::kPods, "shop", options_, recorder_.Callbacks());
  const auto seen = recorder_.WaitFor(5);
  watcher->Stop();
  EXPECT_EQ(seen, (std::vector<std::string>{"sync:initial@10[a]", "ADDED b@11", "BOOKMARK @15", "error:internal",
                                            "MODIFIED b@16"}));
  const auto watches = WatchRequests();
  ASSERT_GE(watches.size(), 3u);
  EXPECT_EQ(watches[0].Param("resourceVersion"), "10");
  EXPECT_EQ(watches[1].Param("resourceVersion"), "15");  // resumed from the bookmark
  EXPECT_EQ(watches[2].Param("resourceVersion"), "15");
  EXPECT_EQ(lists_.load(), 1);  // a disconnect is not a reason to relist
}

TEST_F(WatchTest, RelistsAfterAnExpiredErrorEvent) {
  on_list_ = [](int n, const httplib::Request&, httplib::Response& res) {
    res.set_content(n == 0 ? PodList("10", {"a", "b"}).dump() : PodList("20", {"b", "c"}).dump(),
                    "application/json");
  };
  on_watch_ = [this](int n, const httplib::Request&, httplib::Response& res) {
    if (n == 0) {
      server_.StreamLines(res, {Event("ADDED", "x", "11"), ExpiredEvent()}, /*hold_open=*/true);
    } else {
      server_.StreamLines(res, {Event("ADDED", "d", "21")}, /*hold_open=*/true);
    }
  };
  auto watcher = client_->Watch(resources::kPods, "shop", options_, recorder_.Callbacks());
  const auto seen = recorder_.WaitFor(4);
  watcher->Stop();
  EXPECT_EQ(seen, (std::vector<std::string>{"sync:initial@10[a,b]", "ADDED x@11", "sync:relist_after_gone@20[b,c]",
                                            "ADDED d@21"}));
  const auto watches = WatchRequests();
  ASSERT_EQ(watches.size(), 2u);
  EXPECT_EQ(watches[1].Param("resourceVersion"), "20");
}

TEST_F(WatchTest, RelistsAfterHttp410) {
  on_list_ = [](int n, const httplib::Request&, httplib::Response& res) {
    res.set_content(n == 0 ? PodList("10", {"a"}).dump() : PodList("30", {"a", "z"}).dump(), "application/json");
  };
  on_watch_ = [this](int n, const httplib::Request&, httplib::Response& res) {
    if (n == 0) {
      res.status = 410;
      res.set_content(testing::StatusJson(410, "Gone", "too old resource version"), "application/json");
    } else {
      server_.StreamLines(res, {}, /*hold_open=*/true);
    }
  };
  auto watcher = client_->Watch(resources::kPods, "shop", options_, recorder_.Callbacks());
  const auto seen = recorder_.WaitFor(2);
  // Wait for the second watch to be open before stopping.
  for (int i = 0; i < 200 && watches_.load() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  watcher->Stop();
  EXPECT_EQ(seen, (std::vector<std::string>{"sync:initial@10[a]", "sync:relist_after_gone@30[a,z]"}));
  const auto watches = WatchRequests();
  ASSERT_EQ(watches.size(), 2u);
  EXPECT_EQ(watches[1].Param("resourceVersion"), "30");
}

TEST_F(WatchTest, RetriesAFailedListWithBackoff) {
  on_list_ = [](int n, const httplib::Request&, httplib::Response& res) {
    if (n < 2) {
      res.status = 403;
      res.set_content(testing::StatusJson(403, "Forbidden", "pods is forbidden"), "application/json");
      return;
    }
    res.set_content(PodList("10", {"a"}).dump(), "application/json");
  };
  on_watch_ = [this](int, const httplib::Request&, httplib::Response& res) {
    server_.StreamLines(res, {}, /*hold_open=*/true);
  };
  auto watcher = client_->Watch(resources::kPods, "shop", options_, recorder_.Callbacks());
  const auto seen = recorder_.WaitFor(3);
  watcher->Stop();
  EXPECT_EQ(seen, (std::vector<std::string>{"error:forbidden", "error:forbidden", "sync:initial@10[a]"}));
}

TEST_F(WatchTest, StopFromInsideACallbackEndsTheWatch) {
  on_list_ = [](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(PodList("10", {"a"}).dump(), "application/json");
  };
  on_watch_ = [this](int, const httplib::Request&, httplib::Response& res) {
    server_.StreamLines(res, {Event("ADDED", "b", "11"), Event("ADDED", "c", "12")}, /*hold_open=*/true);
  };
  std::unique_ptr<Watcher> watcher;
  std::mutex mu;
  WatchCallbacks callbacks = recorder_.Callbacks();
  auto record_event = callbacks.on_event;
  callbacks.on_event = [&](const WatchEvent& event) {
    record_event(event);
    std::lock_guard lock(mu);
    watcher->Stop();  // only requests the stop; must not deadlock
  };
  {
    std::lock_guard lock(mu);
    watcher = client_->Watch(resources::kPods, "shop", options_, callbacks);
  }
  recorder_.WaitFor(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(recorder_.Seen(), (std::vector<std::string>{"sync:initial@10[a]", "ADDED b@11"}));
  watcher.reset();  // joins the finished thread
}

TEST_F(WatchTest, StopInterruptsABackoff) {
  on_list_ = [](int, const httplib::Request&, httplib::Response& res) { res.status = 500; };
  options_.initial_backoff = std::chrono::seconds(60);
  options_.max_backoff = std::chrono::seconds(60);
  auto watcher = client_->Watch(resources::kPods, "shop", options_, recorder_.Callbacks());
  recorder_.WaitFor(1);
  const auto started = std::chrono::steady_clock::now();
  watcher->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(500));
}

}  // namespace
}  // namespace kubemend::kube
