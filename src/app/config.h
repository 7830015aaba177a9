// Configuration: file, then environment, then flags, each overriding the one
// before. The caller reads the file (adapters/files) and the environment and
// collects the flags; ResolveConfig merges and validates them. Keys are the
// file's ("strava.client_id"); environment names map onto them (see kEnvKeys).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace dl::app {

struct Config {
  std::string client_id;
  std::string client_secret;   // secret: never print
  std::string refresh_token;   // secret: seeds the token store when it is empty
  std::string api_url = "https://www.strava.com/api/v3";
  std::string oauth_url = "https://www.strava.com/oauth";
  std::string data_dir = "./desirelines-data";
  std::string store;           // "sqlite:PATH" (default DATA_DIR/desirelines.db) or "postgresql://..."
  std::string sports_file;     // override of the shipped sport categories
  // SQLite: how new rows keep the raw JSON: "compact" (polyline kept once,
  // the rest zstd-compressed) or "text" (as received, readable with SQL).
  std::string raw_json = "compact";
  std::string verify_token;    // secret: webhook subscription validation
  int64_t subscription_id = 0;
  std::string listen = "127.0.0.1:8080";
  std::string webhook_path = "/webhook";
  std::string write_token;     // secret: enables PUT on the data API
  std::vector<std::string> cors_origins;
  double rate_window_scale = 1.0;  // testing aid: strava-sim --window-scale
  std::string on_deauthorize = "delete";  // delete | keep
  int timeout_s = 30;          // per Strava request, connect included
  int64_t lease_s = 120;       // a claimed pipeline event is invisible to other workers this long

  std::string StoreUrl() const;       // store, or the default under data_dir
  std::string SqlitePath() const;     // path part of a sqlite: URL ("" otherwise)
};

using ConfigMap = std::map<std::string, std::string>;

// (environment variable, key) pairs, e.g. {"STRAVA_CLIENT_ID", "strava.client_id"}.
const std::vector<std::pair<std::string, std::string>>& EnvKeys();
// Every key the file may contain.
const std::vector<std::string>& KnownKeys();

// Picks the known environment variables out of `environ`-style pairs.
ConfigMap ConfigFromEnvironment(const std::map<std::string, std::string>& env);

// Merges file < env < flags and validates. Unknown keys in the file are an
// error (a typo should not silently do nothing).
Result<Config> ResolveConfig(const ConfigMap& file, const ConfigMap& env, const ConfigMap& flags);

// True for keys whose values must never be printed.
bool IsSecretKey(const std::string& key);

}  // namespace dl::app
