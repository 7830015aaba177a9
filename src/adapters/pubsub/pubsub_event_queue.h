// ports::EventQueue over Google Cloud Pub/Sub: one topic carries the webhook
// events, one subscription feeds the inserters (the Pub/Sub transport of the
// live pipeline, `serve --transport pubsub`).
//
// Mapping:
//   EnqueueBatch -> DedupFilter per event (Strava retries are dropped as
//                   kDuplicate), then one Publish: data = the event as JSON,
//                   attributes {dedup_key, correlation_id, received_at},
//                   ordering_key = the owner (athlete) id.
//   Claim        -> Pull(return_immediately); each message gets a local seq
//                   (an in-memory table seq -> ack_id, per process), then
//                   ModifyAckDeadline(lease_s). attempts = the server's
//                   delivery_attempt (subscriptions with a dead-letter
//                   policy), else the deliveries this process has seen.
//   Ack          -> Acknowledge.
//   Retry        -> ModifyAckDeadline(retry_at - now, clamped to 0..600 s):
//                   the event comes back at about retry_at (at most 10 min
//                   later; the inserter re-checks the rate budget then).
//                   Also renews a lease when retry_at is in the future.
//   DeadLetter   -> Publish to the dead-letter topic (attribute `error`),
//                   then Acknowledge.
//   ListEvents, Redrive, PendingCount -> kInvalidArgument: not supported on
//                   the Pub/Sub transport; use the Cloud console / gcloud
//                   (e.g. `gcloud pubsub subscriptions pull
//                   desirelines-dead-letters-sub`).
//
// Delivery is at-least-once and effects are acked after they commit
// (InserterOptions::store_acks_events = false); effects are idempotent.
// A message whose data is not a valid event is dead-lettered at Claim.
// Thread-safe: several inserter threads may share one queue.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "adapters/pubsub/pubsub_client.h"
#include "core/result.h"
#include "core/webhook_event.h"
#include "ports/clock.h"
#include "ports/event_queue.h"

namespace dl::adapters::pubsub {

// Returns true when `key` was not seen before (and records it), false for a
// duplicate. An in-process set is not enough across several dispatchers:
// serve passes a store-backed filter when the store offers one, else
// InProcessDedupFilter(). Must be thread-safe.
using DedupFilter = std::function<Result<bool>(const std::string& key, int64_t now_epoch_s)>;

// Undoes a key's recording (its publish failed, so Strava's retry must pass).
using DedupForget = std::function<void(const std::string& key)>;

// Remembers the last `capacity` keys of this process (oldest forgotten first).
struct InProcessDedup {
  DedupFilter filter;
  DedupForget forget;
};
InProcessDedup InProcessDedupFilter(size_t capacity = 100'000);

// The default resource names (`desirelines pubsub setup` creates them).
inline constexpr const char* kDefaultEventsTopic = "desirelines-events";
inline constexpr const char* kDefaultDeadLetterTopic = "desirelines-dead-letters";
inline constexpr const char* kDefaultInserterSubscription = "desirelines-inserter";
inline constexpr const char* kDefaultDeadLetterSubscription = "desirelines-dead-letters-sub";
inline constexpr int32_t kDefaultMaxDeliveryAttempts = 5;

struct PubSubEventQueueOptions {
  std::string topic = kDefaultEventsTopic;
  std::string subscription = kDefaultInserterSubscription;
  std::string dead_letter_topic = kDefaultDeadLetterTopic;
  DedupFilter dedup{};  // empty: InProcessDedupFilter() (and its forget)
  DedupForget dedup_forget{};  // may be empty
};

// The event as the JSON carried in a message's data, and back.
std::string EncodeEvent(const core::WebhookEvent& event);
Result<core::WebhookEvent> DecodeEvent(const std::string& data);
// SHA-256 (hex) of event.DedupKey(): short enough for an attribute.
std::string DedupKeyHash(const core::WebhookEvent& event);

class PubSubEventQueue final : public ports::EventQueue {
 public:
  // `client` and `clock` are not owned and must outlive the queue.
  PubSubEventQueue(PubSubClient& client, const ports::Clock& clock, PubSubEventQueueOptions options);

  Result<std::vector<ports::EnqueueOutcome>> EnqueueBatch(std::span<const core::WebhookEvent> events,
                                                          int64_t now_epoch_s) override;
  Result<std::vector<ports::QueuedEvent>> Claim(int max, int64_t now_epoch_s, int64_t lease_s) override;
  Status Ack(std::span<const int64_t> seqs) override;
  Status Retry(int64_t seq, const std::string& error, int64_t retry_at_epoch_s) override;
  Status DeadLetter(int64_t seq, const std::string& error, int64_t now_epoch_s) override;
  Result<std::vector<ports::QueuedEvent>> ListEvents(bool failed, int limit) override;
  Result<int64_t> Redrive(std::optional<int64_t> seq, int64_t now_epoch_s) override;
  Result<int64_t> PendingCount() override;

 private:
  struct Claimed {
    std::string ack_id;
    std::string message_id;
    std::string data;
    std::map<std::string, std::string> attributes;
    std::string ordering_key;
    int64_t expires_at = 0;  // the message is redelivered after this
  };
  std::optional<Claimed> Lookup(int64_t seq);
  void Forget(int64_t seq);
  int64_t NowS() const;
  Status PublishDeadLetter(const Claimed& claimed, const std::string& error);

  PubSubClient& client_;
  const ports::Clock& clock_;
  PubSubEventQueueOptions options_;
  std::mutex mu_;
  int64_t next_seq_ = 1;                     // guarded by mu_
  std::map<int64_t, Claimed> claimed_;       // guarded by mu_
  std::map<std::string, int> seen_;          // message_id -> deliveries; guarded by mu_
};

}  // namespace dl::adapters::pubsub
