// The Pub/Sub transport's wiring shared by `desirelines pubsub setup`,
// `serve --transport pubsub` and `events --transport pubsub` (cmd_pubsub.cc).
#pragma once

#include <memory>
#include <string>

#include "adapters/pubsub/pubsub_client.h"
#include "adapters/pubsub/pubsub_event_queue.h"
#include "core/result.h"

namespace CLI {
class App;
}

namespace dl::cli {

// Project and resource names; the defaults are the documented ones
// (docs/ARCHITECTURE.md, `desirelines pubsub setup --help`).
struct PubSubFlags {
  std::string project;  // empty: $PUBSUB_PROJECT_ID, else the key file's project_id
  std::string events_topic = adapters::pubsub::kDefaultEventsTopic;
  std::string inserter_subscription = adapters::pubsub::kDefaultInserterSubscription;
  std::string dead_letter_topic = adapters::pubsub::kDefaultDeadLetterTopic;
  std::string dead_letter_subscription = adapters::pubsub::kDefaultDeadLetterSubscription;
  std::string aggregates_topic = adapters::pubsub::kDefaultAggregatesTopic;
  std::string aggregator_subscription = adapters::pubsub::kDefaultAggregatorSubscription;
};

// --pubsub-project, --pubsub-events-topic, --pubsub-inserter-subscription,
// --pubsub-dead-letter-topic, --pubsub-dead-letter-subscription,
// --pubsub-aggregates-topic, --pubsub-aggregator-subscription.
void AddPubSubFlags(CLI::App& sub, PubSubFlags& flags);

// Credentials, in Google's order:
//   1. $PUBSUB_EMULATOR_HOST set: the emulator at that HOST:PORT, no token.
//   2. $GOOGLE_APPLICATION_CREDENTIALS: a service-account key file (JSON);
//      refused when missing, unreadable, not a key, or readable by group or
//      others (it holds a private key: chmod 600). Tokens: a signed JWT
//      (RS256) exchanged at the key's token_uri, cached until shortly
//      before expiry.
//   3. Otherwise the metadata server ($GCE_METADATA_HOST, else
//      metadata.google.internal), tokens cached likewise.
// The project: flags.project, else $PUBSUB_PROJECT_ID, else the key file's
// project_id; kInvalidArgument when none. `credentials_used` (optional)
// receives a description without secrets, for the log.
Result<std::unique_ptr<adapters::pubsub::PubSubClient>> MakePubSubClient(const PubSubFlags& flags,
                                                                         std::string* credentials_used = nullptr);

}  // namespace dl::cli
