#include "floor.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "kubemend/common/ids.h"
#include "kubemend/common/kafka.h"
#include "kubemend/common/metrics.h"

namespace kubemend::bench {
namespace {

using Clock = std::chrono::system_clock;

double NowMs() {
  return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count();
}

// One relay: consumes `from`, produces every message unchanged to `to`
// (`to` empty: records the arrival instead), commits like a stage does.
struct Hop {
  std::unique_ptr<BatchConsumer> consumer;
  std::thread thread;
};

}  // namespace

FloorResult MeasureFourHopFloor(const std::string& brokers, int n, double rate) {
  FloorResult out;
  KafkaConfig cfg;
  cfg.brokers = brokers;
  cfg.topic_prefix = "floor-" + NewUuid().substr(0, 8) + ".";
  cfg.group_id = cfg.topic_prefix + "relay";
  MetricsRegistry metrics;
  auto producer = Producer::Create(cfg, "bench-floor", &metrics);
  if (!producer.ok()) {
    out.error = std::string(producer.status().message());
    return out;
  }
  const Topic chain[] = {Topic::kSignals, Topic::kProposals, Topic::kDecisions, Topic::kOutcomes};
  std::mutex mu;
  std::atomic<int> arrived{0};
  std::atomic<int> probes{0};
  std::vector<Hop> hops(4);
  for (int i = 0; i < 4; ++i) {
    KafkaConfig hc = cfg;
    hc.group_id = cfg.topic_prefix + "hop" + std::to_string(i);
    std::string next = i < 3 ? TopicName(cfg, chain[i + 1]) : "";
    auto c = BatchConsumer::Create(
        hc, "bench-floor-" + std::to_string(i), {TopicName(cfg, chain[i])},
        [&, next](std::span<const InMessage> batch) {
          if (next.empty()) {
            double now = NowMs();
            std::lock_guard lock(mu);
            for (const auto& m : batch) {
              if (m.payload.rfind("probe", 0) == 0) {
                ++probes;
              } else {
                out.latencies_ms.push_back(now - std::stod(m.payload));
                ++arrived;
              }
            }
            return absl::OkStatus();
          }
          auto tracker = std::make_shared<DeliveryTracker>();
          for (const auto& m : batch) {
            if (auto st = (*producer)->Produce(next, m.key, m.payload, tracker); !st.ok()) {
              return st;
            }
          }
          return tracker->Wait(std::chrono::seconds(10));
        },
        &metrics);
    if (!c.ok()) {
      out.error = std::string(c.status().message());
      return out;
    }
    hops[i].consumer = std::move(*c);
  }
  for (auto& h : hops) {
    h.thread = std::thread([c = h.consumer.get()] { c->Run(); });
  }
  auto stop = [&] {
    for (auto& h : hops) {
      h.consumer->Stop();
    }
    for (auto& h : hops) {
      h.thread.join();
    }
  };
  // Until every relay owns its partitions, a probe does not come through.
  const std::string first = TopicName(cfg, chain[0]);
  auto ready_by = Clock::now() + std::chrono::seconds(60);
  for (int probe = 0; probes.load() == 0; ++probe) {
    if (Clock::now() > ready_by) {
      stop();
      out.error = "the four relays did not pass a message within 60 s";
      return out;
    }
    (void)(*producer)->Produce(first, "k" + std::to_string(probe), "probe", nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto due = start + std::chrono::microseconds(static_cast<int64_t>(i * 1e6 / rate));
    std::this_thread::sleep_until(due);
    double due_ms = std::chrono::duration<double, std::milli>(due.time_since_epoch()).count();
    // Keys spread the messages over the partitions like target keys do.
    (void)(*producer)->Produce(first, "k" + std::to_string(i), std::to_string(due_ms), nullptr);
    ++out.sent;
  }
  auto until = Clock::now() + std::chrono::seconds(30);
  while (arrived.load() < n && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop();
  if (arrived.load() < n) {
    out.error = std::to_string(arrived.load()) + " of " + std::to_string(n) +
                " messages came through the four hops within 30 s";
  }
  return out;
}

}  // namespace kubemend::bench
