// desirelines events: the live pipeline's queue as an operator sees it. Lists
// the pending events (queued, leased or waiting for a retry) or the dead
// letters, and re-drives dead letters into the queue, where a running
// `serve` picks them up (each with its full retry allowance again).
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "core/time.h"
#include "runtime.h"

namespace dl::cli {
namespace {

struct EventsFlags {
  bool failed = false;
  std::optional<int64_t> retry_id;
  bool retry_all = false;
  int limit = 100;
};

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

int Redrive(ports::Store& store, const EventsFlags& flags, int64_t now, bool json) {
  auto moved = store.Redrive(flags.retry_all ? std::nullopt : flags.retry_id, now);
  if (!moved) return ReportError(moved.error(), json);
  if (json) {
    std::printf("{\"ok\":true,\"redriven\":%lld}\n", static_cast<long long>(*moved));
  } else {
    std::printf("re-drove %lld event%s into the queue (a running `desirelines serve` takes %s up)\n",
                static_cast<long long>(*moved), *moved == 1 ? "" : "s", *moved == 1 ? "it" : "them");
  }
  return kExitOk;
}

int RunEvents(const EventsFlags& flags, const CommonFlags& common) {
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
  auto* retry = sub->add_option("--retry", flags->retry_id, "move dead letter SEQ back into the queue");
  auto* retry_all = sub->add_flag("--retry-all", flags->retry_all, "move every dead letter back into the queue");
  retry->excludes(retry_all);
  sub->add_option("--limit", flags->limit, "list at most N events (default 100)")->check(CLI::Range(1, 100000));
  AddCommonFlags(*sub, common);
  return [flags, &common] { return RunEvents(*flags, common); };
}

}  // namespace dl::cli
