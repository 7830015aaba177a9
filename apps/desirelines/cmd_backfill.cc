// desirelines backfill / aggregate.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>

#include "adapters/files/year_files.h"
#include "app/backfill.h"
#include "app/console.h"
#include "app/strava_session.h"
#include "commands.h"
#include "runtime.h"

namespace dl::cli {
namespace {

struct BackfillFlags {
  std::vector<int> years;
  bool dry_run = false;
  bool wait = false;
  std::string sports = "cycling";
};

// --sports cycling | all | running,walking
Result<std::vector<std::string>> ParseSports(const std::string& spec, const core::SportCategories& categories) {
  if (spec == "all") return categories.Names();
  std::vector<std::string> out;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    if (!categories.Has(item)) {
      std::string names;
      for (const auto& n : categories.Names()) names += (names.empty() ? "" : ", ") + n;
      return Fail(ErrorCode::kInvalidArgument, "unknown sport category '" + item + "' (known: " + names + ", or all)");
    }
    if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
  }
  if (out.empty()) return Fail(ErrorCode::kInvalidArgument, "--sports needs at least one category");
  return out;
}

// Bridges the session's events to the console.
class SessionToConsole : public app::SessionObserver {
 public:
  explicit SessionToConsole(app::ConsoleReporter& console) : console_(console) {}
  void OnWait(app::WaitReason reason, int64_t seconds_left) override {
    console_.OnWait(app::WaitReasonText(reason), seconds_left);
  }
  void OnRequest(const core::RateBudgetState& state, int64_t requests_sent) override {
    console_.OnBudget(state, requests_sent);
  }
  void OnRetry(const Error& error, int attempt, int64_t delay_ms) override {
    console_.OnRetry(error.message, attempt, delay_ms);
  }

 private:
  app::ConsoleReporter& console_;
};

class SessionSource : public app::ActivitySource {
 public:
  explicit SessionSource(app::StravaSession& s) : s_(s) {}
  Result<int64_t> AthleteId() override { return s_.AthleteId(); }
  Result<std::vector<core::Activity>> ListActivities(const ports::ListQuery& q) override {
    return s_.ListActivities(q);
  }
  void RecyclePage(std::vector<core::Activity> page) override { s_.RecyclePage(std::move(page)); }
  int64_t RequestsSent() const override { return s_.RequestsSent(); }

 private:
  app::StravaSession& s_;
};

void PrintHuman(const app::BackfillReport& r, const app::BackfillOptions& o, const app::Config& config) {
  std::printf("\n%-6s %7s %9s %8s %10s %8s %7s %7s %9s %9s\n", "year", "found", "inserted", "updated", "unchanged",
              "removed", "fenced", "errors", "duration", "requests");
  for (const auto& y : r.years) {
    std::printf("%-6d %7lld %9lld %8lld %10lld %8lld %7lld %7lld %8.1fs %9lld\n", y.year,
                static_cast<long long>(y.found), static_cast<long long>(y.inserted),
                static_cast<long long>(y.updated), static_cast<long long>(y.unchanged),
                static_cast<long long>(y.removed), static_cast<long long>(y.fenced),
                static_cast<long long>(y.errors), y.duration_s, static_cast<long long>(y.requests));
    if (o.dry_run) {
      for (const auto& a : y.sample) {
        std::printf("       %lld  %-32.32s %-16s %s  %.1f km\n", static_cast<long long>(a.id), a.name.c_str(),
                    a.sport_type.c_str(), a.start_date_local.substr(0, 10).c_str(), a.distance_m / 1000.0);
      }
    }
  }
  std::printf("list requests: %lld, pages: %lld%s\n", static_cast<long long>(r.list_requests),
              static_cast<long long>(r.pages), r.resumed ? " (resumed from a checkpoint)" : "");
  if (o.dry_run) {
    std::printf("dry run: nothing was written.\n");
  } else {
    std::printf("store: %s\nfiles: %s/activities/<year>/\n", StoreUrlForDisplay(config).c_str(), config.data_dir.c_str());
  }
}

void PrintJson(const app::BackfillReport& r, const app::BackfillOptions& o, int exit_code) {
  std::printf("{\"ok\":%s,\"exit_code\":%d,\"dry_run\":%s,\"athlete_id\":%lld,\"run_id\":%lld,\"resumed\":%s,"
              "\"list_requests\":%lld,\"pages\":%lld,\"fetch_s\":%.3f,\"store_s\":%.3f,\"aggregate_s\":%.3f,\"years\":[",
              exit_code == 0 ? "true" : "false", exit_code, o.dry_run ? "true" : "false",
              static_cast<long long>(r.athlete_id), static_cast<long long>(r.run_id), r.resumed ? "true" : "false",
              static_cast<long long>(r.list_requests), static_cast<long long>(r.pages), r.fetch_s, r.store_s,
              r.aggregate_s);
  for (size_t i = 0; i < r.years.size(); ++i) {
    const auto& y = r.years[i];
    std::printf("%s{\"year\":%d,\"found\":%lld,\"inserted\":%lld,\"updated\":%lld,\"unchanged\":%lld,\"removed\":%lld,"
                "\"fenced\":%lld,\"errors\":%lld,\"duration_s\":%.3f,\"requests\":%lld,\"sample\":[",
                i ? "," : "", y.year, static_cast<long long>(y.found), static_cast<long long>(y.inserted),
                static_cast<long long>(y.updated), static_cast<long long>(y.unchanged),
                static_cast<long long>(y.removed), static_cast<long long>(y.fenced),
                static_cast<long long>(y.errors), y.duration_s, static_cast<long long>(y.requests));
    for (size_t j = 0; j < y.sample.size(); ++j) {
      const auto& a = y.sample[j];
      std::printf("%s{\"id\":%lld,\"name\":\"%s\",\"sport_type\":\"%s\",\"start_date_local\":\"%s\",\"distance_m\":%.1f}",
                  j ? "," : "", static_cast<long long>(a.id), JsonEscape(a.name).c_str(),
                  JsonEscape(a.sport_type).c_str(), JsonEscape(a.start_date_local).c_str(), a.distance_m);
    }
    std::printf("]}");
  }
  std::printf("]");
  if (r.stopped) {
    std::printf(",\"stopped\":{\"code\":\"%s\",\"message\":\"%s\"}", ErrorCodeName(r.stopped->code),
                JsonEscape(r.stopped->message).c_str());
  }
  std::printf("}\n");
}

int RunBackfill(const BackfillFlags& flags, const CommonFlags& common) {
  auto config = LoadConfig(common);
  if (!config) return ReportError(config.error(), common.json);
  auto categories = LoadCategories(*config);
  if (!categories) return ReportError(categories.error(), common.json);
  auto sports = ParseSports(flags.sports, *categories);
  if (!sports) return ReportError(sports.error(), common.json);
  if (config->client_id.empty() || config->client_secret.empty()) {
    return ReportError(Error{ErrorCode::kInvalidArgument,
                             "STRAVA_CLIENT_ID and STRAVA_CLIENT_SECRET (or strava.client_id/client_secret in the "
                             "config file) are required"},
                       common.json);
  }
  // A dry run writes nothing at all: without an existing store it keeps
  // tokens and the rate budget in a throw-away in-memory store.
  app::Config store_config = *config;
  bool ephemeral = flags.dry_run && !StoreExists(*config);
  if (ephemeral) store_config.store = "sqlite::memory:";
  auto store = OpenStore(store_config, *categories, /*migrate=*/false, StoreUse::kBulkWrite);
  if (!store) return ReportError(store.error(), common.json);

  auto clock = MakeSystemClock();
  auto api = MakeStravaApi(*config);
  app::ConsoleReporter console(stderr, isatty(STDERR_FILENO) != 0, common.json);
  SessionToConsole session_observer(console);
  app::SessionOptions so;
  so.windows.window_scale = config->rate_window_scale;
  so.wait_for_daily = flags.wait;
  so.seed_refresh_token = config->refresh_token;
  // Pages are listed back to back: reserve reads ten at a time (one store
  // update per ten pages instead of two per page; see SessionOptions).
  so.reserve_ahead = 10;
  app::StravaSession session(*api, **store, **store, *clock, so, &session_observer);
  SessionSource source(session);

  adapters::files::FileYearOutput output(config->data_dir);
  app::Backfill backfill(source, store->get(), flags.dry_run ? nullptr : &output, *clock, *categories, console);
  app::BackfillOptions o;
  o.years = flags.years;
  o.categories = *sports;
  o.dry_run = flags.dry_run;  // o.today unset: the athlete's, from their activities' time zone
  auto report = backfill.Run(o);
  // Unused reservations go back to the shared budget (best effort: if this
  // fails they only stay counted until their window ends).
  (void)session.Settle();
  console.Finish();
  if (!report) return ReportError(report.error(), common.json);
  int code = kExitOk;
  if (report->stopped) code = ExitCodeFor(*report->stopped);
  for (const auto& y : report->years) {
    if (y.errors > 0 && code == kExitOk) code = kExitErrors;
  }
  if (common.json) {
    PrintJson(*report, o, code);
  } else {
    PrintHuman(*report, o, *config);
    if (report->stopped) {
      std::fprintf(stderr, "stopped: %s\nEverything fetched so far is stored; run the same command again to resume.\n",
                   report->stopped->message.c_str());
    }
  }
  if (ephemeral && !common.json) {
    std::fprintf(stderr, "note: dry run without a store: if Strava rotated the refresh token, the new one was not saved.\n");
  }
  return code;
}

int RunAggregate(const std::vector<int>& years, const std::string& sports_spec, const CommonFlags& common) {
  auto config = LoadConfig(common);
  if (!config) return ReportError(config.error(), common.json);
  auto categories = LoadCategories(*config);
  if (!categories) return ReportError(categories.error(), common.json);
  auto sports = ParseSports(sports_spec, *categories);
  if (!sports) return ReportError(sports.error(), common.json);
  if (!StoreExists(*config)) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "no store at " + config->StoreUrl() + "; run backfill first"},
                       common.json);
  }
  auto store = OpenStore(*config, *categories);
  if (!store) return ReportError(store.error(), common.json);
  auto athletes = (*store)->AthletesWithTokens();
  if (!athletes) return ReportError(athletes.error(), common.json);
  if (athletes->size() != 1) {
    return ReportError(Error{ErrorCode::kInvalidArgument, "aggregate needs exactly one athlete in the store"},
                       common.json);
  }
  auto clock = MakeSystemClock();
  adapters::files::FileYearOutput output(config->data_dir);
  int64_t athlete = athletes->front();
  core::Date today = app::AthleteToday(**store, *clock, athlete);
  if (common.json) std::printf("{\"ok\":true,\"years\":[");
  bool first = true;
  for (int year : std::set<int>(years.begin(), years.end())) {
    if (auto s = (*store)->RebuildYear(athlete, year); !s) return ReportError(s.error(), common.json);
    core::Date through{std::chrono::year{year}, std::chrono::December, std::chrono::day{31}};
    if (static_cast<int>(today.year()) == year) through = today;
    for (const auto& category : *sports) {
      auto days = (*store)->DailyForYear(athlete, year, category);
      if (!days) return ReportError(days.error(), common.json);
      if (auto s = output.WriteYear(year, category, *days, through, category == core::kDefaultCategory); !s) {
        return ReportError(s.error(), common.json);
      }
      int64_t mm = 0, count = 0;
      for (const auto& d : *days) {
        mm += d.distance_mm;
        count += d.count;
      }
      if (common.json) {
        std::printf("%s{\"year\":%d,\"category\":\"%s\",\"activities\":%lld,\"distance_km\":%.3f}", first ? "" : ",",
                    year, category.c_str(), static_cast<long long>(count), core::MmToKm(mm));
      } else {
        std::printf("%d %-10s %6lld activities %10.1f km\n", year, category.c_str(), static_cast<long long>(count),
                    core::MmToKm(mm));
      }
      first = false;
    }
  }
  if (common.json) std::printf("]}\n");
  return kExitOk;
}

}  // namespace

void AddCommonFlags(CLI::App& sub, CommonFlags& common) {
  sub.add_option("--config", common.config_file, "configuration file (TOML)");
  sub.add_option("--data-dir", common.data_dir, "data directory (default ./desirelines-data)");
  sub.add_option("--store", common.store, "store URL: sqlite:PATH (default DATA_DIR/desirelines.db) or postgresql://USER@HOST:PORT/DB");
  sub.add_flag("--json", common.json, "print one machine-readable JSON summary");
  sub.add_flag("--verbose,-v", common.verbose, "more detail");
}

CommandRunner AddBackfillCommand(CLI::App& parent, CommonFlags& common) {
  auto flags = std::make_shared<BackfillFlags>();
  auto* sub = parent.add_subcommand("backfill", "Fetch every activity of the given years from Strava into the store, "
                                                "remove what Strava no longer has, and rewrite the yearly files");
  sub->add_option("--years", flags->years, "years (local dates), e.g. --years 2023 2024 2025")
      ->required()
      ->check(CLI::Range(2000, 2100));
  sub->add_flag("--dry-run", flags->dry_run, "fetch and print counts and the first ten per year; write nothing");
  sub->add_flag("--wait", flags->wait, "when the daily rate limit is spent, sleep until UTC midnight instead of exit 3");
  sub->add_option("--sports", flags->sports, "categories to write: cycling (default), all, or a list: running,walking");
  AddCommonFlags(*sub, common);
  return [flags, &common] { return RunBackfill(*flags, common); };
}

CommandRunner AddAggregateCommand(CLI::App& parent, CommonFlags& common) {
  auto years = std::make_shared<std::vector<int>>();
  auto sports = std::make_shared<std::string>("cycling");
  auto* sub = parent.add_subcommand("aggregate", "Rebuild the yearly aggregates and files from the store alone (no API call)");
  sub->add_option("--years", *years, "years to rebuild")->required()->check(CLI::Range(2000, 2100));
  sub->add_option("--sports", *sports, "categories to write: cycling (default), all, or a list");
  AddCommonFlags(*sub, common);
  return [years, sports, &common] { return RunAggregate(*years, *sports, common); };
}

}  // namespace dl::cli
