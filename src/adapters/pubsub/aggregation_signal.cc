#include "adapters/pubsub/aggregation_signal.h"

#include <algorithm>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapters/pubsub/pubsub_event_queue.h"

namespace dl::adapters::pubsub {

std::string EncodeAggregationNote(const core::WebhookEvent& e) {
  // An athlete event (deauthorization) concerns the athlete it names.
  const int64_t athlete = e.object_type == "athlete" ? e.object_id : e.owner_id;
  return nlohmann::json{{"athlete_id", athlete}, {"object_id", e.object_id}, {"aspect", e.aspect_type}}.dump();
}

PubSubAggregationSignal::PubSubAggregationSignal(PubSubClient& client, PubSubAggregationSignalOptions options)
    : client_(client), options_(std::move(options)) {}

Status PubSubAggregationSignal::Publish(std::span<const core::WebhookEvent> applied) {
  if (applied.empty()) return Ok();
  std::vector<Message> messages;
  messages.reserve(applied.size());
  for (const auto& e : applied) {
    // No ordering key: signals are wake-ups, their order does not matter,
    // and a key would hold back a key's next signal until the previous is acked.
    messages.push_back(Message{.data = EncodeAggregationNote(e),
                               .attributes = {{"correlation_id", DedupKeyHash(e)}},
                               .ordering_key = {}});
  }
  auto ids = client_.Publish(options_.topic, messages);
  if (!ids) return std::unexpected(ids.error());
  {
    std::lock_guard lock(mu_);
    ++published_;
  }
  cv_.notify_all();  // an aggregator of this process pulls at once
  return Ok();
}

Result<ports::AggregationSignal::Received> PubSubAggregationSignal::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    uint64_t seen = 0;
    {
      std::lock_guard lock(mu_);
      if (interrupted_) return Received{};
      seen = published_;
    }
    auto pulled = client_.Pull(options_.subscription, std::max(options_.max_messages, 1), /*return_immediately=*/true);
    if (!pulled) return std::unexpected(pulled.error());
    if (!pulled->empty()) {
      Received received;
      received.count = static_cast<int>(pulled->size());
      for (auto& m : *pulled) received.ids.push_back(std::move(m.ack_id));
      return received;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return Received{};
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, std::min(deadline, now + options_.poll),
                   [&] { return interrupted_ || published_ != seen; });
  }
}

Status PubSubAggregationSignal::Done(const Received& received) {
  if (received.ids.empty()) return Ok();
  return client_.Acknowledge(options_.subscription, received.ids);
}

Status PubSubAggregationSignal::Again(const Received& received) {
  if (received.ids.empty()) return Ok();
  return client_.ModifyAckDeadline(options_.subscription, received.ids, std::clamp(options_.retry_delay_s, 0, 600));
}

void PubSubAggregationSignal::Interrupt() {
  {
    std::lock_guard lock(mu_);
    interrupted_ = true;
  }
  cv_.notify_all();
}

}  // namespace dl::adapters::pubsub
