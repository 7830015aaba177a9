// ports::EventQueue over Google Cloud Pub/Sub: one topic carries the webhook
// events, one subscription feeds the inserters (the Pub/Sub transport of the
// live pipeline, `serve --transport pubsub`).
//
// Mapping:
//   EnqueueBatch -> one DedupStore::KnownDedupKeys for the batch (Strava
//                   retries, also those another dispatcher accepted, are
//                   kDuplicate), then one Publish per 1,000: data = the event as JSON,
//                   attributes {dedup_key, correlation_id, received_at},
//                   ordering_key = OrderingKey(event) (per activity), then
//                   one RecordDedupKeys for what was published. Recorded
//                   after the publish, never before: a crash or a failure in
//                   between leaves the key unknown, so Strava's retry is
//                   published (at worst twice, which the inserter absorbs),
//                   never taken for a duplicate of an event nobody got.
//   Claim        -> Pull(return_immediately); each message gets a local seq
//                   (an in-memory table seq -> ack_id, per process), then
//                   ModifyAckDeadline(lease_s). attempts = prior_attempts
//                   (see below) + the server's delivery_attempt
//                   (subscriptions with a dead-letter policy), else + the
//                   deliveries this process has seen.
//   Ack          -> Acknowledge.
//   Retry        -> ModifyAckDeadline(retry_at - now, clamped to 0..600 s):
//                   the event comes back at about retry_at (at most 10 min
//                   later; the inserter re-checks the rate budget then).
//                   Also renews a lease when retry_at is in the future.
//   DeadLetter   -> Publish to the dead-letter topic (attribute `error`),
//                   then Acknowledge.
//   ListEvents, Redrive, PendingCount -> kInvalidArgument: not supported
//                   through this port; dead letters are listed and re-driven
//                   by DeadLetters (dead_letters.h, `desirelines events
//                   --transport pubsub`); the REST API has no pending count.
//
// Delivery attempts: every Retry (a backoff, a wait for the Strava rate
// budget, a release at shutdown) is a redelivery to Pub/Sub, so the
// subscription's dead-letter policy would move an event that merely waited
// for the budget five times; and the emulator's ordered subscriptions fail
// every later pull (HTTP 500, a NullPointerException in its
// OrderedMessageBacklog) once the policy fires. So the policy never fires for
// messages this queue pulls: a message pulled for the policy's last allowed
// delivery is carried over instead (republished with the same data,
// attributes and ordering key plus attribute prior_attempts, then acked; not
// handed out). attempts = prior_attempts + delivery_attempt, so the
// inserter's own max_attempts decides when to dead-letter (with the error).
// A carried-over event goes behind the later events of its athlete; the
// inserter does not rely on their order (it fetches the current state).
//
// Delivery is at-least-once and effects are acked after they commit
// (InserterOptions::store_acks_events = false); effects are idempotent.
// A message whose data is not a valid event is dead-lettered at Claim.
// Thread-safe: several inserter threads may share one queue.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "adapters/pubsub/pubsub_client.h"
#include "core/result.h"
#include "core/webhook_event.h"
#include "ports/clock.h"
#include "ports/event_queue.h"
#include "ports/store.h"

namespace dl::adapters::pubsub {

// Remembers the last `capacity` keys of this process (oldest forgotten
// first). Only for tests and a single dispatcher: several dispatchers must
// share the store's record (ports::DedupStore of SqliteStore/PostgresStore),
// which `serve --transport pubsub` passes. Thread-safe.
class InProcessDedupStore final : public ports::DedupStore {
 public:
  explicit InProcessDedupStore(size_t capacity = 100'000) : capacity_(capacity) {}
  Result<std::vector<bool>> RecordDedupKeys(std::span<const std::string> keys, int64_t now_epoch_s) override;
  Result<std::vector<bool>> KnownDedupKeys(std::span<const std::string> keys, int64_t now_epoch_s) override;

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::unordered_set<std::string> keys_;  // guarded by mu_
  std::deque<std::string> order_;         // guarded by mu_; may hold forgotten keys
};

// The default resource names (`desirelines pubsub setup` creates them).
inline constexpr const char* kDefaultEventsTopic = "desirelines-events";
inline constexpr const char* kDefaultDeadLetterTopic = "desirelines-dead-letters";
inline constexpr const char* kDefaultInserterSubscription = "desirelines-inserter";
inline constexpr const char* kDefaultDeadLetterSubscription = "desirelines-dead-letters-sub";
inline constexpr const char* kDefaultAggregatesTopic = "desirelines-aggregates";
inline constexpr const char* kDefaultAggregatorSubscription = "desirelines-aggregator";
inline constexpr int32_t kDefaultMaxDeliveryAttempts = 5;

struct PubSubEventQueueOptions {
  std::string topic = kDefaultEventsTopic;
  std::string subscription = kDefaultInserterSubscription;
  std::string dead_letter_topic = kDefaultDeadLetterTopic;
  // Where Strava's retries are recognised, whichever dispatcher they reach:
  // the store (not owned; must outlive the queue). The keys are
  // WebhookEvent::DedupKey(), the same the store's own queue records, so the
  // two transports share one record. nullptr: an InProcessDedupStore.
  ports::DedupStore* dedup = nullptr;
  // The subscription's dead-letter policy (`pubsub setup`: 5); 0 = none.
  // See "Delivery attempts" above.
  int32_t max_delivery_attempts = kDefaultMaxDeliveryAttempts;
};

// The event as the JSON carried in a message's data, and back.
std::string EncodeEvent(const core::WebhookEvent& event);
Result<core::WebhookEvent> DecodeEvent(const std::string& data);
// SHA-256 (hex) of event.DedupKey(): short enough for an attribute.
std::string DedupKeyHash(const core::WebhookEvent& event);
// The ordering key: "<owner>:<object id>" for activity events (only the
// events of one activity need their order: two fetches of it must not
// cross), "<athlete>" for athlete events. A per-athlete key would let the
// service hand out one athlete's events one batch at a time, serialising
// the whole fleet on the most active athlete (measured: 37-72 events/s).
std::string OrderingKey(const core::WebhookEvent& event);

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
  // Republishes `m` with prior_attempts = `attempts_so_far`, then acks it.
  void CarryOver(const ReceivedMessage& m, int attempts_so_far);

  PubSubClient& client_;
  const ports::Clock& clock_;
  PubSubEventQueueOptions options_;
  std::unique_ptr<InProcessDedupStore> own_dedup_;  // when options_.dedup was null
  ports::DedupStore* dedup_ = nullptr;
  std::mutex mu_;
  int64_t next_seq_ = 1;                     // guarded by mu_
  std::map<int64_t, Claimed> claimed_;       // guarded by mu_
  std::map<std::string, int> seen_;          // message_id -> deliveries; guarded by mu_
};

}  // namespace dl::adapters::pubsub
