// The composition root of the desirelines binary: configuration (file <
// environment < flags), the store chosen by URL, the Strava client and
// session, the clock, and signal handling. Subcommands (cmd_*.cc) use it.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/config.h"
#include "core/result.h"
#include "core/sports.h"
#include "ports/clock.h"
#include "ports/store.h"
#include "ports/strava_api.h"

namespace dl::cli {

// Exit codes (documented in --help and README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitErrors = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitResumable = 3;

// Options every command shares.
struct CommonFlags {
  std::string config_file;
  std::string data_dir;
  std::string store;
  bool json = false;
  bool verbose = false;
  app::ConfigMap extra;  // other flags mapped to config keys
};

// Loads and resolves the configuration. A config file given explicitly must
// exist; the default ./desirelines.toml is read only when present.
Result<app::Config> LoadConfig(const CommonFlags& flags);

// The sport categories: the shipped ones, or the configured override file.
Result<core::SportCategories> LoadCategories(const app::Config& config);

// Opens (creating when needed) the store at config.StoreUrl().
// SQLite migrates on open (the embedded default); PostgreSQL only when
// `migrate` is true (desirelines migrate), otherwise it checks the version.
// kBulkWrite: a backfill, which writes pages it never reads again; on SQLite
// it gets a small page cache (SqliteOptions::cache_size_kib).
enum class StoreUse { kGeneral, kBulkWrite };
Result<std::unique_ptr<ports::Store>> OpenStore(const app::Config& config, const core::SportCategories& categories,
                                                bool migrate = false, StoreUse use = StoreUse::kGeneral);
// True when the configured SQLite file exists (postgres: always true).
bool StoreExists(const app::Config& config);
// config.StoreUrl() fit for output: a PostgreSQL URL's password as "***".
std::string StoreUrlForDisplay(const app::Config& config);

std::unique_ptr<ports::StravaApi> MakeStravaApi(const app::Config& config);

// The process-wide stop flag set by SIGINT/SIGTERM.
std::atomic<bool>& StopFlag();
void InstallSignalHandlers();
std::unique_ptr<ports::Clock> MakeSystemClock();

// Maps an error to its exit code: rate limits and faults that a re-run can
// resume from give 3, bad configuration 2, everything else 1.
int ExitCodeFor(const Error& e);

// Prints "error: message" to stderr, or a JSON error object to stdout.
int ReportError(const Error& e, bool json);

// Local "today" of the athlete: now shifted by the UTC offset of their latest
// activity (Strava gives no other time zone for an athlete), else UTC.
core::Date TodayFor(const ports::Clock& clock, std::optional<double> utc_offset_s);

std::string JsonEscape(const std::string& s);

}  // namespace dl::cli
