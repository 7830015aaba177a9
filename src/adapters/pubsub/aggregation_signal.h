// ports::AggregationSignal over Pub/Sub (`serve --transport pubsub`): the
// inserters -> aggregators leg of the event flow.
//
//   Publish -> one message per applied event to the aggregates topic
//              (default desirelines-aggregates): data = JSON
//              {"athlete_id","object_id","aspect"}, no ordering key
//              (wake-ups need no order), attribute correlation_id = DedupKeyHash(event)
//              (the value the dispatcher put on the event's message).
//   Wait    -> pulls the aggregator subscription (default
//              desirelines-aggregator) without blocking; when it is empty,
//              waits on a condition variable until `poll` passed, a local
//              Publish happened, Interrupt() or the timeout, and pulls again.
//   Done    -> Acknowledge (only after the aggregator's run succeeded).
//   Again   -> ModifyAckDeadline(retry_delay_s): redelivered then.
//
// The messages are wake-ups, not the work: the store's dirty marks, set in
// each effect's transaction, are what the aggregator claims, so aggregates
// stay exact whichever aggregator pulls which message. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>

#include "adapters/pubsub/pubsub_client.h"
#include "adapters/pubsub/pubsub_event_queue.h"
#include "ports/aggregation_signal.h"

namespace dl::adapters::pubsub {

struct PubSubAggregationSignalOptions {
  std::string topic = kDefaultAggregatesTopic;
  std::string subscription = kDefaultAggregatorSubscription;
  int32_t max_messages = 100;             // per pull
  std::chrono::milliseconds poll{100};    // between pulls of an empty subscription
  int32_t retry_delay_s = 10;             // Again: redelivered after this
};

// The data of one message (exposed for tests and tools).
std::string EncodeAggregationNote(const core::WebhookEvent& applied);

class PubSubAggregationSignal final : public ports::AggregationSignal {
 public:
  // `client` is not owned and must outlive the signal.
  PubSubAggregationSignal(PubSubClient& client, PubSubAggregationSignalOptions options);

  Status Publish(std::span<const core::WebhookEvent> applied) override;
  Result<Received> Wait(std::chrono::milliseconds timeout) override;
  Status Done(const Received& received) override;
  Status Again(const Received& received) override;
  void Interrupt() override;

 private:
  PubSubClient& client_;
  const PubSubAggregationSignalOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t published_ = 0;   // guarded by mu_; local publishes (pull at once)
  bool interrupted_ = false;  // guarded by mu_
};

}  // namespace dl::adapters::pubsub
