#include "kubemend/common/stage.h"

#include <google/protobuf/arena.h>

#include "kubemend/common/log.h"

namespace kubemend {

Stage::Stage(ServiceRuntime* rt, std::vector<Topic> inputs, Transform transform)
    : rt_(rt), inputs_(std::move(inputs)), transform_(std::move(transform)) {}

absl::Status Stage::Init() {
  auto p = rt_->producer();
  if (!p.ok()) {
    return p.status();
  }
  producer_ = *p;
  const KafkaConfig& kc = rt_->config().kafka;
  dead_letters_ = std::make_unique<DeadLetterer>(producer_, TopicName(kc, Topic::kDeadLetter),
                                                 rt_->service(), &rt_->metrics(), rt_->clock());
  std::vector<std::string> names;
  for (Topic t : inputs_) {
    names.push_back(TopicName(kc, t));
    topic_by_name_[names.back()] = t;
  }
  for (int i = 0; i < v1::EventType_descriptor()->value_count(); ++i) {
    auto t = static_cast<v1::EventType>(v1::EventType_descriptor()->value(i)->number());
    if (t == v1::EVENT_TYPE_UNSPECIFIED) {
      continue;
    }
    events_in_[t] = &rt_->metrics().GetCounter("kubemend_events_in_total", "Events consumed",
                                               {{"type", EventTypeName(t)}});
    events_out_[t] = &rt_->metrics().GetCounter("kubemend_events_out_total", "Events published",
                                                {{"type", EventTypeName(t)}});
  }
  for (Topic t : AllTopics()) {
    topic_names_[t] = TopicName(kc, t);
  }
  latency_ = &rt_->metrics().GetHistogram(
      "kubemend_stage_latency_seconds",
      "From the input event's recorded_at to its outputs acknowledged by the broker");
  auto c = BatchConsumer::Create(
      kc, "kubemend-" + rt_->service() + "-" + rt_->config().instance, names,
      [this](std::span<const InMessage> batch) { return HandleBatch(batch); }, &rt_->metrics());
  if (!c.ok()) {
    return c.status();
  }
  consumer_ = std::move(*c);
  rt_->AddConsumer(consumer_.get());
  return absl::OkStatus();
}

void Stage::Run() { consumer_->Run(); }
void Stage::Stop() {
  if (consumer_) {
    consumer_->Stop();
  }
}

Counter& Stage::EventsIn(v1::EventType t) {
  auto it = events_in_.find(t);
  return it != events_in_.end() ? *it->second
                                : rt_->metrics().GetCounter("kubemend_events_in_total", "Events consumed",
                                                            {{"type", EventTypeName(t)}});
}

Counter& Stage::EventsOut(v1::EventType t) {
  auto it = events_out_.find(t);
  return it != events_out_.end() ? *it->second
                                 : rt_->metrics().GetCounter("kubemend_events_out_total", "Events published",
                                                             {{"type", EventTypeName(t)}});
}

absl::Status Stage::Send(const Emit& e, const std::shared_ptr<DeliveryTracker>& tracker) {
  EventsOut(e.event.type()).Inc();
  auto name = topic_names_.find(e.topic);
  return producer_->Produce(name != topic_names_.end() ? name->second : TopicName(rt_->config().kafka, e.topic),
                            PartitionKey(e.topic, e.event.target()),
                            e.event.SerializeAsString(), tracker,
                            {{kEventTypeHeader, EventTypeName(e.event.type())},
                             {"traceparent", e.event.trace().traceparent()}});
}

absl::Status Stage::Publish(const std::vector<Emit>& events) {
  auto tracker = std::make_shared<DeliveryTracker>();
  for (const auto& e : events) {
    if (auto st = Send(e, tracker); !st.ok()) {
      return st;
    }
  }
  return tracker->Wait(rt_->config().kafka.delivery_timeout);
}

bool IsTransient(const absl::Status& st) {
  switch (st.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<std::vector<Emit>> Stage::SafeTransform(const v1::Event& ev, const InMessage& msg) {
  try {
    return transform_(ev, msg);
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("transform threw: ") + e.what());
  } catch (...) {
    return absl::InternalError("transform threw a non-standard exception");
  }
}

absl::Status Stage::HandleBatch(std::span<const InMessage> batch) {
  auto log = Logger("stage");
  // The batch's events are decoded onto one arena, freed at once at the
  // end: no allocation or destructor per field (the transform copies what
  // it keeps; what it publishes is its own).
  google::protobuf::Arena arena;
  auto tracker = std::make_shared<DeliveryTracker>();
  std::vector<TimePoint> recorded;
  recorded.reserve(batch.size());
  for (const auto& msg : batch) {
    auto topic_it = topic_by_name_.find(msg.topic);
    Topic topic = topic_it == topic_by_name_.end() ? Topic::kDeadLetter : topic_it->second;
    auto* ev = google::protobuf::Arena::CreateMessage<v1::Event>(&arena);
    if (auto decoded = DecodeEventInto(msg.payload, topic, ev); !decoded.ok()) {
      rt_->CountError("undecodable");
      if (auto st = dead_letters_->Send(msg, std::string(decoded.message()), tracker);
          !st.ok()) {
        return st;
      }
      continue;
    }
    EventsIn(ev->type()).Inc();
    const auto key = std::make_tuple(msg.topic, msg.partition, msg.offset);
    if (auto given_up = gave_up_.find(key); given_up != gave_up_.end()) {
      // Dead-lettered in an earlier try of this batch: not transformed again;
      // the dead letter is sent again (the trail keeps one per source offset).
      if (auto st = dead_letters_->Send(msg, given_up->second, tracker); !st.ok()) {
        return st;
      }
      continue;
    }
    auto out = SafeTransform(*ev, msg);
    if (!out.ok() && !IsTransient(out.status())) {
      // Maybe poison: after max_attempts failures in a row it is dead-lettered.
      int n = ++attempts_[key];
      if (n >= max_attempts_) {
        rt_->CountError("poison");
        log->error("msg=\"event keeps failing; dead-lettered\" event_id={} attempts={} error={}",
                   ev->event_id(), n, Q(std::string(out.status().message())));
        std::string reason = "gave up after " + std::to_string(n) +
                             " attempts: " + std::string(out.status().message());
        gave_up_[key] = reason;
        if (auto st = dead_letters_->Send(msg, reason, tracker); !st.ok()) {
          return st;
        }
        continue;
      }
    }
    if (!out.ok()) {
      auto code = out.status().code();
      if (code == absl::StatusCode::kInvalidArgument ||
          code == absl::StatusCode::kFailedPrecondition) {
        rt_->CountError("unprocessable");
        log->warn("msg=\"cannot process event\" event_id={} incident_id={} error={}",
                  ev->event_id(), ev->incident_id(), Q(std::string(out.status().message())));
        if (auto st = dead_letters_->Send(msg, std::string(out.status().message()), tracker);
            !st.ok()) {
          return st;
        }
        continue;
      }
      rt_->CountError("transient");
      return out.status();
    }
    for (const auto& e : *out) {
      if (auto st = Send(e, tracker); !st.ok()) {
        return st;
      }
    }
    recorded.push_back(FromTimestamp(ev->recorded_at()));
  }
  absl::Status st = tracker->Wait(rt_->config().kafka.delivery_timeout);
  if (st.ok()) {
    attempts_.clear();
    gave_up_.clear();
    auto now = rt_->clock().Now();
    for (auto t : recorded) {
      latency_->Observe(std::chrono::duration<double>(now - t).count());
    }
  }
  return st;
}

}  // namespace kubemend

namespace kubemend {
int RunStageService(ServiceRuntime& rt, Stage& stage) {
  auto log = Logger("main");
  if (auto st = stage.Init(); !st.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
    return 1;
  }
  if (auto st = rt.Start(); !st.ok()) {
    log->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
    return 1;
  }
  std::thread consumer([&] { stage.Run(); });
  rt.WaitForShutdown();
  stage.Stop();
  consumer.join();
  if (auto p = rt.producer(); p.ok()) {
    (void)(*p)->Flush(std::chrono::seconds(5));
  }
  log->info("msg=\"stopped\"");
  return 0;
}
}  // namespace kubemend
