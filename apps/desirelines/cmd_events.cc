// desirelines events: the live pipeline's queue as an operator sees it. Lists
// the pending events (queued, leased or waiting for a retry) or the dead
// letters, and re-drives dead letters into the queue, where a running
// `serve` picks them up (each with its full retry allowance again). With
// --transport pubsub: the dead letters of the dead-letter subscription
// (adapters/pubsub/dead_letters.h); no pending list or count there.
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "adapters/pubsub/dead_letters.h"
#include "commands.h"
#include "core/time.h"
#include "pubsub_transport.h"
#include "runtime.h"

namespace dl::cli {
namespace {

struct EventsFlags {
  bool failed = false;
  std::optional<std::string> retry_id;  // a seq (store) or a message id (pubsub)
  bool retry_all = false;
  int limit = 100;
  std::string transport = "store";
  PubSubFlags pubsub;
};

constexpr const char* kNoPendingOnPubSub =
    "the number of pending events is not available from the Pub/Sub REST API (see the subscription's "
    "num_undelivered_messages metric in Cloud Monitoring); pending events cannot be listed without taking them "
    "from the inserters";

std::string Iso(int64_t epoch_s) { return core::FormatIsoUtc(core::TimePoint(std::chrono::seconds(epoch_s))); }

std::string ObjectOf(const ports::QueuedEvent& e) {
  return e.event.object_type + " " + std::to_string(e.event.object_id);
}

void PrintHuman(const std::vector<ports::QueuedEvent>& events, bool failed, bool more, int64_t now) {
  if (events.empty()) {
    std::printf(failed ? "no dead letters\n" : "no pending events\n");
    return;
  }
  std::printf("%-8s %-22s %-7s %-10s %8s  %-20s  %s\n", "seq", "object", "aspect", "athlete", "attempts",
              "received at", failed ? "last error" : "state / last error");
  for (const auto& e : events) {
    std::string state = e.last_error;
    if (!failed) {
      std::string when = e.available_at > now ? "waits until " + Iso(e.available_at) : "ready";
      state = e.last_error.empty() ? when : when + ": " + e.last_error;
    }
    std::printf("%-8lld %-22s %-7s %-10lld %8d  %-20s  %s\n", static_cast<long long>(e.seq), ObjectOf(e).c_str(),
                e.event.aspect_type.c_str(), static_cast<long long>(e.event.owner_id), e.attempts,
                Iso(e.received_at).c_str(), state.c_str());
  }
  if (more) std::printf("(the first %zu shown; --limit N for more)\n", events.size());
  if (failed) std::printf("re-drive with: desirelines events --retry SEQ | --retry-all\n");
}

void PrintJson(const std::vector<ports::QueuedEvent>& events, bool failed, int64_t pending) {
  std::printf("{\"ok\":true,\"failed\":%s,\"pending\":%lld,\"events\":[", failed ? "true" : "false",
              static_cast<long long>(pending));
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    std::printf("%s{\"seq\":%lld,\"object_type\":\"%s\",\"object_id\":%lld,\"aspect_type\":\"%s\",\"owner_id\":%lld,"
                "\"event_time\":%lld,\"updates\":%s,\"attempts\":%d,\"received_at\":\"%s\",\"available_at\":\"%s\","
                "\"last_error\":\"%s\"}",
                i ? "," : "", static_cast<long long>(e.seq), JsonEscape(e.event.object_type).c_str(),
                static_cast<long long>(e.event.object_id), JsonEscape(e.event.aspect_type).c_str(),
                static_cast<long long>(e.event.owner_id), static_cast<long long>(e.event.event_time),
                e.event.updates_json.empty() ? "{}" : e.event.updates_json.c_str(), e.attempts,
                Iso(e.received_at).c_str(), Iso(e.available_at).c_str(), JsonEscape(e.last_error).c_str());
  }
  std::printf("]}\n");
}

void PrintRedriven(int64_t moved, bool json) {
  if (json) {
    std::printf("{\"ok\":true,\"redriven\":%lld}\n", static_cast<long long>(moved));
  } else {
    std::printf("re-drove %lld event%s into the queue (a running `desirelines serve` takes %s up)\n",
                static_cast<long long>(moved), moved == 1 ? "" : "s", moved == 1 ? "it" : "them");
  }
}

int Redrive(ports::Store& store, const EventsFlags& flags, int64_t now, bool json) {
  std::optional<int64_t> seq;
  if (!flags.retry_all && flags.retry_id) {
    try {
      size_t used = 0;
      seq = std::stoll(*flags.retry_id, &used);
      if (used != flags.retry_id->size()) throw std::invalid_argument("trailing characters");
    } catch (const std::exception&) {
      return ReportError(Error{ErrorCode::kInvalidArgument, "--retry takes a SEQ number, got '" + *flags.retry_id + "'"},
                         json);
    }
  }
  auto moved = store.Redrive(seq, now);
  if (!moved) return ReportError(moved.error(), json);
  PrintRedriven(*moved, json);
  return kExitOk;
}

// ---- the Pub/Sub transport: dead letters on their subscription ----

void PrintDeadLettersHuman(const std::vector<adapters::pubsub::DeadLetterMessage>& dead, bool more) {
  if (dead.empty()) {
    std::printf("no dead letters\n");
  } else {
    std::printf("%-20s %-22s %-7s %-10s  %-20s  %s\n", "message id", "object", "aspect", "athlete", "received at",
                "last error");
    for (const auto& d : dead) {
      const std::string object = d.event ? d.event->object_type + " " + std::to_string(d.event->object_id) : "?";
      std::printf("%-20s %-22s %-7s %-10lld  %-20s  %s\n", d.message_id.c_str(), object.c_str(),
                  d.event ? d.event->aspect_type.c_str() : "?",
                  static_cast<long long>(d.event ? d.event->owner_id : 0),
                  d.received_at > 0 ? Iso(d.received_at).c_str() : "?", d.error.c_str());
    }
    if (more) std::printf("(the first %zu shown; --limit N for more)\n", dead.size());
    std::printf("re-drive with: desirelines events --transport pubsub --retry MESSAGE_ID | --retry-all\n");
  }
  std::printf("note: %s\n", kNoPendingOnPubSub);
}

void PrintDeadLettersJson(const std::vector<adapters::pubsub::DeadLetterMessage>& dead) {
  std::printf("{\"ok\":true,\"failed\":true,\"pending\":null,\"pending_note\":\"%s\",\"events\":[",
              JsonEscape(kNoPendingOnPubSub).c_str());
  for (size_t i = 0; i < dead.size(); ++i) {
    const auto& d = dead[i];
    std::printf("%s{\"message_id\":\"%s\",\"valid\":%s", i ? "," : "", JsonEscape(d.message_id).c_str(),
                d.event ? "true" : "false");
    if (d.event) {
      const auto& e = *d.event;
      std::printf(",\"object_type\":\"%s\",\"object_id\":%lld,\"aspect_type\":\"%s\",\"owner_id\":%lld,"
                  "\"event_time\":%lld,\"updates\":%s",
                  JsonEscape(e.object_type).c_str(), static_cast<long long>(e.object_id),
                  JsonEscape(e.aspect_type).c_str(), static_cast<long long>(e.owner_id),
                  static_cast<long long>(e.event_time), e.updates_json.empty() ? "{}" : e.updates_json.c_str());
    }
    std::printf(",\"received_at\":\"%s\",\"last_error\":\"%s\"}",
                d.received_at > 0 ? Iso(d.received_at).c_str() : "", JsonEscape(d.error).c_str());
  }
  std::printf("]}\n");
}

int RunPubSubEvents(const EventsFlags& flags, const CommonFlags& common) {
  if (!flags.failed && !flags.retry_id && !flags.retry_all) {
    return ReportError(Error{ErrorCode::kInvalidArgument,
                             std::string("on the Pub/Sub transport only dead letters can be listed (--failed): ") +
                                 kNoPendingOnPubSub},
                       common.json);
  }
  auto client = MakePubSubClient(flags.pubsub);
  if (!client) return ReportError(client.error(), common.json);
  adapters::pubsub::DeadLetters dead_letters(
      **client, {.subscription = flags.pubsub.dead_letter_subscription, .events_topic = flags.pubsub.events_topic});
  if (flags.retry_id || flags.retry_all) {
    auto moved = dead_letters.Redrive(flags.retry_all ? std::nullopt : flags.retry_id);
    if (!moved) return ReportError(moved.error(), common.json);
    PrintRedriven(*moved, common.json);
    return kExitOk;
  }
  // One more than asked tells "there is more".
  auto dead = dead_letters.List(flags.limit + 1);
  if (!dead) return ReportError(dead.error(), common.json);
  const bool more = static_cast<int>(dead->size()) > flags.limit;
  if (more) dead->resize(static_cast<size_t>(flags.limit));
  if (common.json) {
    PrintDeadLettersJson(*dead);
  } else {
    PrintDeadLettersHuman(*dead, more);
  }
  return kExitOk;
}

int RunEvents(const EventsFlags& flags, const CommonFlags& common) {
  if (flags.transport == "pubsub") return RunPubSubEvents(flags, common);
  auto config = LoadConfig(common);
  if (!config) return ReportError(config.error(), common.json);
  if (!StoreExists(*config)) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "no store at " + config->StoreUrl()}, common.json);
  }
  auto categories = LoadCategories(*config);
  if (!categories) return ReportError(categories.error(), common.json);
  auto store = OpenStore(*config, *categories);
  if (!store) return ReportError(store.error(), common.json);
  auto clock = MakeSystemClock();
  const int64_t now = std::chrono::floor<std::chrono::seconds>(clock->Now().time_since_epoch()).count();
  if (flags.retry_id || flags.retry_all) return Redrive(**store, flags, now, common.json);

  auto events = (*store)->ListEvents(flags.failed, flags.limit);
  if (!events) return ReportError(events.error(), common.json);
  auto pending = (*store)->PendingCount();
  if (!pending) return ReportError(pending.error(), common.json);
  bool more = *pending > static_cast<int64_t>(events->size());
  if (flags.failed) {
    // The port counts pending events only; one more row tells "there is more".
    auto probe = (*store)->ListEvents(true, flags.limit + 1);
    if (!probe) return ReportError(probe.error(), common.json);
    more = probe->size() > events->size();
  }
  if (common.json) {
    PrintJson(*events, flags.failed, *pending);
  } else {
    PrintHuman(*events, flags.failed, more, now);
  }
  return kExitOk;
}

}  // namespace

CommandRunner AddEventsCommand(CLI::App& parent, CommonFlags& common) {
  auto flags = std::make_shared<EventsFlags>();
  auto* sub = parent.add_subcommand("events", "List the live pipeline's pending or dead-lettered webhook events, "
                                              "and re-drive dead letters");
  sub->add_flag("--failed", flags->failed, "list the dead letters (events that kept failing) with their last error");
  auto* retry = sub->add_option("--retry", flags->retry_id,
                                "move dead letter SEQ (store) or MESSAGE_ID (pubsub) back into the queue");
  auto* retry_all = sub->add_flag("--retry-all", flags->retry_all, "move every dead letter back into the queue");
  retry->excludes(retry_all);
  sub->add_option("--limit", flags->limit, "list at most N events (default 100)")->check(CLI::Range(1, 100000));
  sub->add_option("--transport", flags->transport,
                  "store (default: the store's queue) or pubsub. On pubsub: --failed lists the dead letters of "
                  "desirelines-dead-letters-sub (pulled and handed straight back, so they stay; a listing counts as "
                  "a delivery of each), --retry MESSAGE_ID / --retry-all republish them to desirelines-events (same "
                  "data, attributes and ordering key) and acknowledge them. Pending events cannot be listed or "
                  "counted there: the number of pending events is not available from the Pub/Sub REST API (see the "
                  "subscription's num_undelivered_messages metric in Cloud Monitoring)")
      ->check(CLI::IsMember({"store", "pubsub"}));
  AddPubSubFlags(*sub, flags->pubsub);
  AddCommonFlags(*sub, common);
  return [flags, &common] { return RunEvents(*flags, common); };
}

}  // namespace dl::cli
