// desirelines pubsub setup: creates the Pub/Sub topics and subscriptions of
// the event flow, idempotently (existing ones are left as they are).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "adapters/pubsub/pubsub_event_queue.h"
#include "commands.h"
#include "pubsub_transport.h"
#include "runtime.h"

namespace dl::cli {

Result<std::unique_ptr<adapters::pubsub::PubSubClient>> MakePubSubClient(const std::string& project_flag) {
  std::string project = project_flag;
  if (project.empty()) {
    const char* env = std::getenv("PUBSUB_PROJECT_ID");
    if (env != nullptr) project = env;
  }
  if (project.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the Pub/Sub project is not set: use --pubsub-project or PUBSUB_PROJECT_ID");
  }
  const char* emulator = std::getenv("PUBSUB_EMULATOR_HOST");
  if (emulator == nullptr || *emulator == '\0') {
    return Fail(ErrorCode::kInvalidArgument,
                "only the Pub/Sub emulator is supported by this build: set PUBSUB_EMULATOR_HOST=HOST:PORT");
  }
  return std::make_unique<adapters::pubsub::PubSubClient>(
      adapters::pubsub::PubSubOptions{.project_id = project, .endpoint = adapters::pubsub::DefaultEndpoint()});
}

namespace {

struct PubSubFlags {
  std::string project;
};

int RunSetup(const PubSubFlags& f, const CommonFlags& common) {
  namespace ps = adapters::pubsub;
  auto client = MakePubSubClient(f.project);
  if (!client) return ReportError(client.error(), common.json);
  ps::PubSubClient& c = **client;
  Status s = c.CreateTopic(ps::kDefaultEventsTopic);
  if (s) s = c.CreateTopic(ps::kDefaultDeadLetterTopic);
  if (s) {
    s = c.CreateSubscription(ps::kDefaultEventsTopic, ps::kDefaultInserterSubscription,
                             {.ack_deadline_s = 120,
                              .enable_message_ordering = true,
                              .dead_letter_topic = ps::kDefaultDeadLetterTopic,
                              .max_delivery_attempts = ps::kDefaultMaxDeliveryAttempts});
  }
  if (s) s = c.CreateSubscription(ps::kDefaultDeadLetterTopic, ps::kDefaultDeadLetterSubscription, {.ack_deadline_s = 60});
  if (!s) return ReportError(s.error(), common.json);
  if (common.json) {
    std::printf("{\"status\":\"ok\",\"topics\":[\"%s\",\"%s\"],\"subscriptions\":[\"%s\",\"%s\"]}\n",
                ps::kDefaultEventsTopic, ps::kDefaultDeadLetterTopic, ps::kDefaultInserterSubscription,
                ps::kDefaultDeadLetterSubscription);
  } else {
    std::printf("topics %s, %s and subscriptions %s, %s are ready\n", ps::kDefaultEventsTopic,
                ps::kDefaultDeadLetterTopic, ps::kDefaultInserterSubscription, ps::kDefaultDeadLetterSubscription);
  }
  return kExitOk;
}

}  // namespace

CommandRunner AddPubSubCommand(CLI::App& parent, CommonFlags& common) {
  auto f = std::make_shared<PubSubFlags>();
  auto* sub = parent.add_subcommand("pubsub", "Google Cloud Pub/Sub transport administration");
  auto* setup = sub->add_subcommand(
      "setup",
      "Create, idempotently, the topics desirelines-events and desirelines-dead-letters and the subscriptions "
      "desirelines-inserter (on desirelines-events; message ordering on; dead-letter policy: to "
      "desirelines-dead-letters after 5 delivery attempts; ack deadline 120 s) and desirelines-dead-letters-sub. "
      "Needs PUBSUB_EMULATOR_HOST=HOST:PORT (the emulator; real GCP credentials are not wired yet).");
  setup->add_option("--pubsub-project", f->project, "Pub/Sub project id (default: $PUBSUB_PROJECT_ID)");
  sub->require_subcommand(1);
  AddCommonFlags(*setup, common);
  return [f, &common] { return RunSetup(*f, common); };
}

}  // namespace dl::cli
