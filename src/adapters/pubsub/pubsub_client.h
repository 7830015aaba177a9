// Google Cloud Pub/Sub over its REST API v1 (libcurl), against real GCP or
// the local emulator. Covers what the event flow needs: idempotent topic and
// subscription creation, publish, synchronous pull, acknowledge and
// modifyAckDeadline. All failures are values:
//   HTTP 400 / bad names      -> kInvalidArgument (Google's message kept)
//   HTTP 404                  -> kNotFound
//   HTTP 401 / 403            -> kUnauthorized / kForbidden
//   HTTP 409 on create        -> success (the resource already exists)
//   HTTP 429, 5xx, timeouts   -> kTransient (retry with backoff)
// Thread safety: one client may be used from several threads at once (each
// call uses its own curl handle); the token provider must then be thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace dl::adapters::pubsub {

// Returns a bearer access token (no "Bearer " prefix). Called once per
// request; cache inside. Never logged.
using TokenProvider = std::function<Result<std::string>()>;

struct PubSubOptions {
  std::string project_id{};
  // Scheme + host (+ port), no trailing slash. Empty: DefaultEndpoint().
  std::string endpoint{};
  TokenProvider token_provider{};  // empty: no Authorization header (emulator)
  int64_t connect_timeout_ms = 5'000;
  // Must exceed the server's pull wait (the emulator holds an empty pull up
  // to about 10 s unless return_immediately is set).
  int64_t total_timeout_ms = 60'000;
};

// "http://$PUBSUB_EMULATOR_HOST" when that variable is set and non-empty (as
// Google's own client libraries do), else "https://pubsub.googleapis.com".
std::string DefaultEndpoint();

// Pub/Sub ids: 3..255 characters, start with a letter, then letters, digits
// and - _ . ~ + %; must not start with "goog". kInvalidArgument otherwise.
// `kind` ("topic", "subscription") names the thing in the message.
Status ValidateResourceId(std::string_view kind, std::string_view id);

struct Message {
  std::string data{};  // raw bytes; base64-encoded on the wire
  std::map<std::string, std::string> attributes{};
  std::string ordering_key{};  // empty: unordered
};

struct ReceivedMessage {
  std::string ack_id;
  std::string message_id;
  std::string data;  // decoded bytes
  std::map<std::string, std::string> attributes;
  std::string ordering_key;
  // 1 on first delivery; 0 when the server does not report it (only
  // subscriptions with a dead-letter policy are required to).
  int32_t delivery_attempt = 0;
};

struct SubscriptionOptions {
  int32_t ack_deadline_s = 10;  // 10..600
  bool enable_message_ordering = false;
  std::string dead_letter_topic{};    // topic id in the same project; empty: none
  int32_t max_delivery_attempts = 5;  // 5..100, used with dead_letter_topic
};

class PubSubClient {
 public:
  explicit PubSubClient(PubSubOptions options);
  ~PubSubClient();
  PubSubClient(const PubSubClient&) = delete;
  PubSubClient& operator=(const PubSubClient&) = delete;

  const std::string& endpoint() const { return options_.endpoint; }

  // Ids are short ids ("events"), not full resource names.
  Status CreateTopic(std::string_view topic);
  Status CreateSubscription(std::string_view topic, std::string_view subscription,
                            const SubscriptionOptions& sub_options = {});
  // Returns the server's message ids in the order of `messages` (1..1000).
  Result<std::vector<std::string>> Publish(std::string_view topic, const std::vector<Message>& messages);
  // Up to max_messages (>= 1). Without return_immediately the server may hold
  // the call open for a while when nothing is available.
  Result<std::vector<ReceivedMessage>> Pull(std::string_view subscription, int32_t max_messages,
                                            bool return_immediately = false);
  Status Acknowledge(std::string_view subscription, const std::vector<std::string>& ack_ids);
  // seconds 0 makes the messages available for redelivery at once.
  Status ModifyAckDeadline(std::string_view subscription, const std::vector<std::string>& ack_ids,
                           int32_t seconds);

 private:
  struct Reply {
    long status = 0;
    std::string body;
  };
  Result<Reply> Call(const char* method, const std::string& path, const std::string& json_body);
  std::string TopicName(std::string_view topic) const;
  std::string SubscriptionName(std::string_view subscription) const;

  PubSubOptions options_;
};

}  // namespace dl::adapters::pubsub
