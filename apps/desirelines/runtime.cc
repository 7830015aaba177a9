#include "runtime.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <filesystem>

#include "adapters/files/config_file.h"
#include "adapters/files/sports_file.h"
#include "adapters/postgres/postgres_store.h"
#include "adapters/sqlite/sqlite_store.h"
#include "adapters/strava_http/strava_http_client.h"
#include "adapters/system/system_clock.h"
#include "core/time.h"

extern char** environ;

namespace dl::cli {
namespace {

std::map<std::string, std::string> Environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

void OnSignal(int) { StopFlag().store(true); }

// A configuration or sports file that cannot be read (absent, unreadable) is
// a configuration error, exit 2, like one that does not parse.
Error AsConfigurationError(Error e) {
  e.code = ErrorCode::kInvalidArgument;
  return e;
}

}  // namespace

std::atomic<bool>& StopFlag() {
  static std::atomic<bool> flag{false};
  return flag;
}

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

Result<app::Config> LoadConfig(const CommonFlags& flags) {
  auto env = Environment();
  std::string path = flags.config_file;
  bool explicit_path = !path.empty();
  if (path.empty()) {
    if (auto it = env.find("DESIRELINES_CONFIG"); it != env.end() && !it->second.empty()) {
      path = it->second;
      explicit_path = true;
    } else {
      path = "desirelines.toml";
    }
  }
  app::ConfigMap file;
  if (explicit_path || std::filesystem::exists(path)) {
    auto loaded = adapters::files::LoadConfigFile(path);
    if (!loaded) return std::unexpected(AsConfigurationError(loaded.error()));
    bool holds_secret = false;
    for (const auto& [k, v] : *loaded) holds_secret = holds_secret || app::IsSecretKey(k);
    if (holds_secret) {
      // A config file with secrets must be readable by its owner only.
      if (auto s = adapters::files::CheckOwnerOnly(path); !s) return std::unexpected(s.error());
    }
    for (auto& [k, v] : *loaded) file[k] = v;
  }
  app::ConfigMap flag_map = flags.extra;
  if (!flags.data_dir.empty()) flag_map["data_dir"] = flags.data_dir;
  if (!flags.store.empty()) flag_map["store"] = flags.store;
  return app::ResolveConfig(file, app::ConfigFromEnvironment(env), flag_map);
}

Result<core::SportCategories> LoadCategories(const app::Config& config) {
  if (config.sports_file.empty()) return core::SportCategories::Default();
  auto loaded = adapters::files::LoadSportCategoriesFile(config.sports_file);
  if (!loaded) return std::unexpected(AsConfigurationError(loaded.error()));
  return loaded;
}

bool StoreExists(const app::Config& config) {
  std::string path = config.SqlitePath();
  return path.empty() || std::filesystem::exists(path);
}

std::string StoreUrlForDisplay(const app::Config& config) {
  return config.SqlitePath().empty() ? adapters::postgres::RedactedUrl(config.StoreUrl()) : config.StoreUrl();
}

Result<std::unique_ptr<ports::Store>> OpenStore(const app::Config& config, const core::SportCategories& categories,
                                                bool migrate, StoreUse use) {
  std::string path = config.SqlitePath();
  if (path.empty()) {
    // PostgreSQL: migrations run explicitly (`desirelines migrate`) and are
    // checked here.
    adapters::postgres::OpenOptions options;
    options.migrate = migrate;
    auto pg = adapters::postgres::PostgresStore::Open(config.StoreUrl(), categories, options);
    if (!pg) return std::unexpected(pg.error());
    return std::unique_ptr<ports::Store>(std::move(*pg));
  }
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot create " + parent.string() + ": " + ec.message());
  adapters::sqlite::SqliteOptions options;
  options.compact_raw_json = config.raw_json != "text";
  // 4 MiB holds the right edges of the b-trees a backfill appends to and the
  // pages of a year it rebuilds; measured against the 32 MiB default in
  // docs/PERFORMANCE.md (session 7): 12,200 -> 5,500 page faults and 4-5 %
  // less CPU per 20,000-activity run.
  if (use == StoreUse::kBulkWrite) options.cache_size_kib = 4096;
  auto store = adapters::sqlite::SqliteStore::Open(path, categories, options);
  if (!store) return std::unexpected(store.error());
  return std::unique_ptr<ports::Store>(std::move(*store));
}

std::unique_ptr<ports::StravaApi> MakeStravaApi(const app::Config& config) {
  adapters::strava_http::StravaHttpOptions o;
  o.api_url = config.api_url;
  o.oauth_url = config.oauth_url;
  o.client_id = config.client_id;
  o.client_secret = config.client_secret;
  o.total_timeout_ms = int64_t{config.timeout_s} * 1000;
  o.connect_timeout_ms = std::min<int64_t>(o.total_timeout_ms, 5000);
  return std::make_unique<adapters::strava_http::StravaHttpClient>(o);
}

std::unique_ptr<ports::Clock> MakeSystemClock() {
  return std::make_unique<adapters::system::SystemClock>(&StopFlag());
}

int ExitCodeFor(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument:
      return kExitUsage;
    case ErrorCode::kDailyRateLimited:
    case ErrorCode::kRateLimited:
    case ErrorCode::kTransient:
      return kExitResumable;
    default:
      return kExitErrors;
  }
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

int ReportError(const Error& e, bool json) {
  int code = ExitCodeFor(e);
  if (json) {
    std::printf("{\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":\"%s\"},\"exit_code\":%d}\n",
                ErrorCodeName(e.code), JsonEscape(e.message).c_str(), code);
  } else {
    std::fprintf(stderr, "error: %s\n", e.message.c_str());
  }
  return code;
}

core::Date TodayFor(const ports::Clock& clock, std::optional<double> utc_offset_s) {
  const int64_t now = std::chrono::floor<std::chrono::seconds>(clock.Now()).time_since_epoch().count();
  return core::LocalDateAt(now, utc_offset_s.value_or(0));  // clamped to -12 h..+14 h, NaN as 0
}

}  // namespace dl::cli
