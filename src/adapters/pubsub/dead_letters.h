// The dead letters of the Pub/Sub transport, for `desirelines events
// --transport pubsub`: listed from the dead-letter subscription and re-driven
// into the events topic.
//
// Pub/Sub has no "peek": List pulls (without acking) and hands every message
// straight back (ModifyAckDeadline 0), so the dead letters stay where they
// are; a listing therefore counts as a delivery of each. Redrive republishes
// a dead letter to the events topic (same data, attributes and ordering key,
// so the inserters see the original event with a fresh delivery count) and
// only then acknowledges it. The REST API cannot count the messages waiting
// in a subscription (that is a Cloud Monitoring metric,
// subscription/num_undelivered_messages), so there is no pending count here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "adapters/pubsub/pubsub_client.h"
#include "adapters/pubsub/pubsub_event_queue.h"
#include "core/result.h"
#include "core/webhook_event.h"

namespace dl::adapters::pubsub {

struct DeadLetterMessage {
  std::string message_id;  // the id on the dead-letter topic: what Redrive takes
  std::optional<core::WebhookEvent> event;  // nullopt when the data is not an event
  std::string error;       // why it was dead-lettered
  int64_t received_at = 0;  // when the dispatcher accepted it (epoch s; 0 unknown)
  int32_t delivery_attempt = 0;  // deliveries of the dead letter itself (0 unknown)
  // The message as it came, for republishing.
  std::string data;
  std::map<std::string, std::string> attributes;
  std::string ordering_key;
};

struct DeadLettersOptions {
  std::string subscription = kDefaultDeadLetterSubscription;
  std::string events_topic = kDefaultEventsTopic;
};

class DeadLetters {
 public:
  // `client` is not owned and must outlive this object.
  DeadLetters(PubSubClient& client, DeadLettersOptions options);

  // Up to `limit` dead letters (the subscription's order), left in place.
  Result<std::vector<DeadLetterMessage>> List(int limit);
  // Re-drives the dead letter `message_id`, or all of them (nullopt).
  // Returns how many were republished. kNotFound when `message_id` is not
  // (or no longer) a dead letter.
  Result<int64_t> Redrive(const std::optional<std::string>& message_id);

 private:
  // Pulls until the subscription answers empty or `limit` were pulled.
  Result<std::vector<ReceivedMessage>> PullAll(int limit);
  Status HandBack(const std::vector<ReceivedMessage>& messages);
  Status Republish(const ReceivedMessage& message);

  PubSubClient& client_;
  const DeadLettersOptions options_;
};

}  // namespace dl::adapters::pubsub
