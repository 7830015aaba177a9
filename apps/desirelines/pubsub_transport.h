// The Pub/Sub transport's wiring shared by `desirelines pubsub setup` and
// `desirelines serve --transport pubsub` (cmd_pubsub.cc).
#pragma once

#include <memory>
#include <string>

#include "adapters/pubsub/pubsub_client.h"
#include "core/result.h"

namespace dl::cli {

// The project: `flag` when non-empty, else $PUBSUB_PROJECT_ID; kInvalidArgument
// when neither is set. The endpoint: $PUBSUB_EMULATOR_HOST (the emulator) when
// set. Real GCP (OAuth tokens) is not wired into the CLI yet: without the
// emulator this returns kInvalidArgument saying so.
Result<std::unique_ptr<adapters::pubsub::PubSubClient>> MakePubSubClient(const std::string& project_flag);

}  // namespace dl::cli
