#include "app/config.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace dl::app {
namespace {

const std::vector<std::pair<std::string, std::string>> kEnvKeys = {
    {"STRAVA_CLIENT_ID", "strava.client_id"},
    {"STRAVA_CLIENT_SECRET", "strava.client_secret"},
    {"STRAVA_REFRESH_TOKEN", "strava.refresh_token"},
    {"STRAVA_API_URL", "strava.api_url"},
    {"STRAVA_OAUTH_URL", "strava.oauth_url"},
    {"STRAVA_VERIFY_TOKEN", "strava.verify_token"},
    {"STRAVA_SUBSCRIPTION_ID", "strava.subscription_id"},
    {"DESIRELINES_DATA_DIR", "data_dir"},
    {"DESIRELINES_STORE", "store"},
    {"DESIRELINES_SPORTS_FILE", "sports_file"},
    {"DESIRELINES_RAW_JSON", "store.raw_json"},
    {"DESIRELINES_LISTEN", "serve.listen"},
    {"DESIRELINES_WEBHOOK_PATH", "serve.webhook_path"},
    {"DESIRELINES_WRITE_TOKEN", "api.write_token"},
    {"DESIRELINES_CORS_ORIGINS", "api.cors_origins"},
    {"DESIRELINES_RATE_WINDOW_SCALE", "rate.window_scale"},
    {"DESIRELINES_ON_DEAUTHORIZE", "pipeline.on_deauthorize"},
    {"STRAVA_TIMEOUT_S", "strava.timeout_s"},
    {"DESIRELINES_LEASE_S", "pipeline.lease_s"},
};

bool IsHttpUrl(const std::string& s) { return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0; }

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string item = s.substr(start, end - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

Status ApplyUrls(const ConfigMap& m, Config& c) {
  if (auto it = m.find("strava.api_url"); it != m.end()) c.api_url = TrimSlash(it->second);
  if (auto it = m.find("strava.oauth_url"); it != m.end()) c.oauth_url = TrimSlash(it->second);
  if (!IsHttpUrl(c.api_url)) return Fail(ErrorCode::kInvalidArgument, "strava.api_url must be an http(s) URL");
  if (!IsHttpUrl(c.oauth_url)) return Fail(ErrorCode::kInvalidArgument, "strava.oauth_url must be an http(s) URL");
  return Ok();
}

Status ApplyNumbers(const ConfigMap& m, Config& c) {
  if (auto it = m.find("strava.subscription_id"); it != m.end() && !it->second.empty()) {
    const auto& v = it->second;
    auto r = std::from_chars(v.data(), v.data() + v.size(), c.subscription_id);
    if (r.ec != std::errc{} || r.ptr != v.data() + v.size() || c.subscription_id <= 0) {
      return Fail(ErrorCode::kInvalidArgument, "strava.subscription_id must be a positive integer, got '" + v + "'");
    }
  }
  if (auto it = m.find("strava.timeout_s"); it != m.end() && !it->second.empty()) {
    const auto& v = it->second;
    auto r = std::from_chars(v.data(), v.data() + v.size(), c.timeout_s);
    if (r.ec != std::errc{} || r.ptr != v.data() + v.size() || c.timeout_s < 1 || c.timeout_s > 600) {
      return Fail(ErrorCode::kInvalidArgument, "strava.timeout_s must be a whole number of seconds from 1 to 600");
    }
  }
  if (auto it = m.find("pipeline.lease_s"); it != m.end() && !it->second.empty()) {
    const auto& v = it->second;
    auto r = std::from_chars(v.data(), v.data() + v.size(), c.lease_s);
    if (r.ec != std::errc{} || r.ptr != v.data() + v.size() || c.lease_s < 2 || c.lease_s > 86400) {
      return Fail(ErrorCode::kInvalidArgument, "pipeline.lease_s must be a whole number of seconds from 2 to 86400");
    }
  }
  if (auto it = m.find("rate.window_scale"); it != m.end() && !it->second.empty()) {
    char* end = nullptr;
    c.rate_window_scale = std::strtod(it->second.c_str(), &end);
    if (end == it->second.c_str() || *end != '\0' || !(c.rate_window_scale >= 1.0) || c.rate_window_scale > 86400) {
      return Fail(ErrorCode::kInvalidArgument, "rate.window_scale must be a number from 1 to 86400, got '" + it->second + "'");
    }
  }
  return Ok();
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& EnvKeys() { return kEnvKeys; }

const std::vector<std::string>& KnownKeys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const auto& [env, key] : kEnvKeys) k.push_back(key);
    return k;
  }();
  return keys;
}

bool IsSecretKey(const std::string& key) {
  return key == "strava.client_secret" || key == "strava.refresh_token" || key == "strava.verify_token" ||
         key == "api.write_token";
}

ConfigMap ConfigFromEnvironment(const std::map<std::string, std::string>& env) {
  ConfigMap out;
  for (const auto& [name, key] : kEnvKeys) {
    if (auto it = env.find(name); it != env.end() && !it->second.empty()) out[key] = it->second;
  }
  return out;
}

std::string Config::StoreUrl() const {
  if (!store.empty()) return store;
  return "sqlite:" + TrimSlash(data_dir) + "/desirelines.db";
}

std::string Config::SqlitePath() const {
  std::string url = StoreUrl();
  if (url.rfind("sqlite:", 0) == 0) return url.substr(7);
  return "";
}

Result<Config> ResolveConfig(const ConfigMap& file, const ConfigMap& env, const ConfigMap& flags) {
  for (const auto& [key, value] : file) {
    if (std::find(KnownKeys().begin(), KnownKeys().end(), key) == KnownKeys().end()) {
      return Fail(ErrorCode::kInvalidArgument, "unknown configuration key '" + key + "'");
    }
  }
  ConfigMap m = file;
  for (const auto& [k, v] : env) m[k] = v;
  for (const auto& [k, v] : flags) m[k] = v;

  Config c;
  auto get = [&](const char* key, std::string& out) {
    if (auto it = m.find(key); it != m.end()) out = it->second;
  };
  get("strava.client_id", c.client_id);
  get("strava.client_secret", c.client_secret);
  get("strava.refresh_token", c.refresh_token);
  get("strava.verify_token", c.verify_token);
  get("data_dir", c.data_dir);
  get("store", c.store);
  get("sports_file", c.sports_file);
  get("store.raw_json", c.raw_json);
  get("serve.listen", c.listen);
  get("serve.webhook_path", c.webhook_path);
  get("api.write_token", c.write_token);
  get("pipeline.on_deauthorize", c.on_deauthorize);

  if (auto it = m.find("api.cors_origins"); it != m.end()) c.cors_origins = SplitComma(it->second);
  if (auto s = ApplyUrls(m, c); !s) return std::unexpected(s.error());
  if (auto s = ApplyNumbers(m, c); !s) return std::unexpected(s.error());

  if (!c.client_id.empty() &&
      !std::all_of(c.client_id.begin(), c.client_id.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return Fail(ErrorCode::kInvalidArgument, "strava.client_id must be the numeric application id");
  }
  if (c.data_dir.empty()) return Fail(ErrorCode::kInvalidArgument, "data_dir must not be empty");
  if (c.webhook_path.empty() || c.webhook_path[0] != '/') {
    return Fail(ErrorCode::kInvalidArgument, "serve.webhook_path must start with '/'");
  }
  if (c.lease_s <= 2 * int64_t{c.timeout_s}) {
    // A claimed event's lease is renewed at half its length, so one Strava
    // request (bounded by the timeout) must fit in half of it.
    return Fail(ErrorCode::kInvalidArgument, "pipeline.lease_s must be more than twice strava.timeout_s");
  }
  if (c.raw_json != "compact" && c.raw_json != "text") {
    return Fail(ErrorCode::kInvalidArgument, "store.raw_json must be 'compact' or 'text'");
  }
  if (c.on_deauthorize != "delete" && c.on_deauthorize != "keep") {
    return Fail(ErrorCode::kInvalidArgument, "pipeline.on_deauthorize must be 'delete' or 'keep'");
  }
  std::string url = c.StoreUrl();
  if (url.rfind("sqlite:", 0) != 0 && url.rfind("postgresql://", 0) != 0 && url.rfind("postgres://", 0) != 0) {
    // The URL may hold a password: name only its scheme.
    return Fail(ErrorCode::kInvalidArgument,
                "store must be sqlite:PATH or postgresql://..., got a URL starting '" + url.substr(0, url.find(':')) + ":'");
  }
  if (url == "sqlite:") return Fail(ErrorCode::kInvalidArgument, "store sqlite: needs a path");
  return c;
}

}  // namespace dl::app
