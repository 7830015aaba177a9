// desirelines pubsub setup: creates the Pub/Sub topics and subscriptions of
// the event flow, idempotently (existing ones are left as they are). Also
// MakePubSubClient: the credentials of every Pub/Sub command.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "adapters/pubsub/metadata_token.h"
#include "adapters/pubsub/pubsub_event_queue.h"
#include "adapters/pubsub/service_account.h"
#include "commands.h"
#include "pubsub_transport.h"
#include "runtime.h"

namespace dl::cli {
namespace {

namespace ps = adapters::pubsub;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}

int64_t NowEpochS() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The key file: must be a readable regular file that only its owner can read.
Result<ps::ServiceAccountKey> LoadKeyFile(const std::string& path) {
  const std::string what = "GOOGLE_APPLICATION_CREDENTIALS=" + path;
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kInvalidArgument, what + ": no such file");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Fail(ErrorCode::kInvalidArgument, what + " is readable by group or others (mode " + mode +
                                                 "); it holds a private key: chmod 600 " + path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kInvalidArgument, what + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  auto key = ps::ParseServiceAccountKey(text.str());
  if (!key) return Fail(ErrorCode::kInvalidArgument, what + ": " + key.error().message);
  return key;
}

}  // namespace

void AddPubSubFlags(CLI::App& sub, PubSubFlags& f) {
  sub.add_option("--pubsub-project", f.project,
                 "Pub/Sub project id (default: $PUBSUB_PROJECT_ID, else the key file's project_id)");
  sub.add_option("--pubsub-events-topic", f.events_topic, "webhook events topic")->capture_default_str();
  sub.add_option("--pubsub-inserter-subscription", f.inserter_subscription, "the inserters' subscription")
      ->capture_default_str();
  sub.add_option("--pubsub-dead-letter-topic", f.dead_letter_topic, "dead-letter topic")->capture_default_str();
  sub.add_option("--pubsub-dead-letter-subscription", f.dead_letter_subscription,
                 "subscription on the dead-letter topic (read by `events --failed`)")
      ->capture_default_str();
  sub.add_option("--pubsub-aggregates-topic", f.aggregates_topic, "inserters -> aggregators topic")
      ->capture_default_str();
  sub.add_option("--pubsub-aggregator-subscription", f.aggregator_subscription, "the aggregators' subscription")
      ->capture_default_str();
}

Result<std::unique_ptr<ps::PubSubClient>> MakePubSubClient(const PubSubFlags& flags, std::string* credentials_used) {
  ps::PubSubOptions options;
  options.endpoint = ps::DefaultEndpoint();
  std::string project = !flags.project.empty() ? flags.project : Env("PUBSUB_PROJECT_ID");
  std::string used;
  if (!Env("PUBSUB_EMULATOR_HOST").empty()) {
    used = "the Pub/Sub emulator at " + Env("PUBSUB_EMULATOR_HOST");
  } else if (const std::string path = Env("GOOGLE_APPLICATION_CREDENTIALS"); !path.empty()) {
    auto key = LoadKeyFile(path);
    if (!key) return std::unexpected(key.error());
    if (project.empty()) project = key->project_id;
    used = "service account " + key->client_email + " (key file " + path + ")";
    auto source = std::make_shared<ps::ServiceAccountTokenSource>(std::move(*key), NowEpochS);
    options.token_provider = [source] { return source->Token(); };
  } else {
    const std::string host = ps::MetadataHostFromEnv();
    used = "the metadata server's service account (" + host + ")";
    auto source = std::make_shared<ps::MetadataTokenSource>(host, NowEpochS);
    options.token_provider = [source] { return source->Token(); };
  }
  if (project.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "the Pub/Sub project is not set: use --pubsub-project or PUBSUB_PROJECT_ID");
  }
  options.project_id = project;
  if (credentials_used != nullptr) *credentials_used = used + ", project " + project;
  return std::make_unique<ps::PubSubClient>(std::move(options));
}

namespace {

int RunSetup(const PubSubFlags& f, const CommonFlags& common) {
  auto client = MakePubSubClient(f);
  if (!client) return ReportError(client.error(), common.json);
  ps::PubSubClient& c = **client;
  Status s = c.CreateTopic(f.events_topic);
  if (s) s = c.CreateTopic(f.dead_letter_topic);
  if (s) s = c.CreateTopic(f.aggregates_topic);
  if (s) {
    s = c.CreateSubscription(f.events_topic, f.inserter_subscription,
                             {.ack_deadline_s = 120,
                              .enable_message_ordering = true,
                              .dead_letter_topic = f.dead_letter_topic,
                              .max_delivery_attempts = ps::kDefaultMaxDeliveryAttempts});
  }
  if (s) s = c.CreateSubscription(f.dead_letter_topic, f.dead_letter_subscription, {.ack_deadline_s = 60});
  if (s) {
    s = c.CreateSubscription(f.aggregates_topic, f.aggregator_subscription,
                             {.ack_deadline_s = 60, .enable_message_ordering = true});
  }
  if (!s) return ReportError(s.error(), common.json);
  if (common.json) {
    std::printf("{\"status\":\"ok\",\"topics\":[\"%s\",\"%s\",\"%s\"],\"subscriptions\":[\"%s\",\"%s\",\"%s\"]}\n",
                JsonEscape(f.events_topic).c_str(), JsonEscape(f.dead_letter_topic).c_str(),
                JsonEscape(f.aggregates_topic).c_str(), JsonEscape(f.inserter_subscription).c_str(),
                JsonEscape(f.dead_letter_subscription).c_str(), JsonEscape(f.aggregator_subscription).c_str());
  } else {
    std::printf("topics %s, %s, %s and subscriptions %s, %s, %s are ready\n", f.events_topic.c_str(),
                f.dead_letter_topic.c_str(), f.aggregates_topic.c_str(), f.inserter_subscription.c_str(),
                f.dead_letter_subscription.c_str(), f.aggregator_subscription.c_str());
  }
  return kExitOk;
}

}  // namespace

CommandRunner AddPubSubCommand(CLI::App& parent, CommonFlags& common) {
  auto f = std::make_shared<PubSubFlags>();
  auto* sub = parent.add_subcommand("pubsub", "Google Cloud Pub/Sub transport administration");
  auto* setup = sub->add_subcommand(
      "setup",
      "Create, idempotently, the topics desirelines-events, desirelines-dead-letters and desirelines-aggregates "
      "and the subscriptions desirelines-inserter (on desirelines-events; message ordering on; dead-letter "
      "policy: to desirelines-dead-letters after 5 delivery attempts; ack deadline 120 s), "
      "desirelines-dead-letters-sub (on desirelines-dead-letters) and desirelines-aggregator (on "
      "desirelines-aggregates; ordering on; ack deadline 60 s). Existing ones are left as they are. "
      "Credentials: PUBSUB_EMULATOR_HOST=HOST:PORT (the emulator), else GOOGLE_APPLICATION_CREDENTIALS "
      "(a service-account key file, mode 0600), else the GCE metadata server (GCE_METADATA_HOST overrides "
      "its address).");
  AddPubSubFlags(*setup, *f);
  sub->require_subcommand(1);
  AddCommonFlags(*setup, common);
  return [f, &common] { return RunSetup(*f, common); };
}

}  // namespace dl::cli
