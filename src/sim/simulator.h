// strava-sim: an in-process simulator of the part of Strava API v3 that
// desirelines uses (see /work/shared/strava-api.md, sections 1-7 and 11).
// It is test infrastructure: tests, benchmarks and the demo run against it,
// so its behaviour follows the documented contract exactly where the docs
// are explicit and section 11's project decisions where they are silent.
//
// Threading: every public method of Simulator is thread-safe. Webhook
// deliveries run on their own thread, never inside the request that caused
// them, so a callback may call back into the simulator.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace dl::sim {

// Deterministic athlete: same options, byte-identical responses.
struct GenerateOptions {
  uint64_t seed = 1;
  int first_year = 2019;
  int last_year = 2025;
  int per_year = 150;  // activities whose local start date falls in each year
  // Leave out activities that start after this instant (0: none left out), so
  // that the current year holds no activity in the future.
  int64_t until_epoch_s = 0;
};

enum class FaultKind { kHttp500, kHttp502, kHttp503, kSlow, kReset, kTruncate };

// "500" "502" "503" "slow" "reset" "truncate".
Result<FaultKind> ParseFaultKind(std::string_view name);
std::string_view FaultKindName(FaultKind kind);

struct FaultOptions {
  double rate = 0;  // probability that an /api/v3 request is faulted
  std::vector<FaultKind> kinds = {FaultKind::kHttp500, FaultKind::kHttp502, FaultKind::kHttp503,
                                  FaultKind::kSlow,    FaultKind::kReset,   FaultKind::kTruncate};
  uint64_t seed = 1;      // the fault RNG: same seed, same sequence of faults
  int slow_ms = 15000;    // "slow" answers after this long (past a client timeout)
  bool inactive = false;  // every /api/v3 call answers 403 "inactive"
};

// Requests per window: "15-minute,daily".
struct RateLimits {
  int64_t overall_15min = 200;
  int64_t overall_daily = 2000;
  int64_t read_15min = 100;
  int64_t read_daily = 1000;
};

struct WebhookOptions {
  int timeout_ms = 2000;  // a delivery or validation GET without a 200 by then fails
  int attempts = 3;       // deliveries in all, first one included
  int retry_delay_ms = 500;
};

struct SimOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port
  int threads = 32;   // server threads; one per kept-alive connection

  int64_t client_id = 12345;
  std::string client_secret = "sim-client-secret";
  std::string refresh_token = "sim-refresh-token";  // the athlete's first refresh token
  std::string scopes = "read,activity:read_all";    // what the athlete grants
  bool deny_authorization = false;                  // /oauth/authorize redirects with error=access_denied
  int64_t athlete_id = 28475190;                    // generated data; file data names its own athlete
  int64_t token_lifetime_s = 21600;

  RateLimits limits;
  double window_scale = 1.0;  // > 0; a 15-minute window lasts 900/scale seconds

  // Data source, first match wins: activities_json, activities_file, generate.
  // The JSON forms are arrays of SummaryActivity objects served exactly as given.
  std::optional<std::string> activities_json;
  std::string activities_file;
  GenerateOptions generate;

  FaultOptions faults;
  WebhookOptions webhooks;
};

// Parsed command line. help is true when --help was given (help_text holds it).
struct ParsedArgs {
  SimOptions options;
  bool help = false;
  std::string help_text;
};
// CLI11 parsing of the strava-sim command line; kInvalidArgument on bad input.
Result<ParsedArgs> ParseSimArgs(int argc, const char* const* argv);

struct SimStats {
  int64_t api_requests = 0;  // every /api/v3 request, 429s and faults included
  int64_t rate_limited = 0;  // 429s served
  int64_t faults = 0;        // injected faults (inactive 403s not included)
  int64_t oauth_requests = 0;
  std::map<std::string, int64_t> by_endpoint;  // "GET /api/v3/activities/{id}" -> n
};

struct WebhookAttempt {
  int status = 0;     // HTTP status, 0 when none arrived
  std::string error;  // "timeout", "connect", "late" ... empty on a response in time
  int64_t elapsed_ms = 0;
};

struct WebhookDelivery {
  int64_t id = 0;
  std::string callback_url;
  std::string body;
  std::vector<WebhookAttempt> attempts;
  bool delivered = false;  // some attempt got a 200 in time
  bool pending = false;    // more attempts are scheduled
};

class Simulator {
 public:
  explicit Simulator(SimOptions options);
  ~Simulator();  // stops
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Loads the data, binds and serves on background threads; returns once
  // listening. kInvalidArgument for bad data, kIo when it cannot bind.
  Status Start();
  uint16_t port() const;
  std::string base_url() const;  // "http://127.0.0.1:PORT"
  // Stops serving and delivering; interrupts slow faults. Idempotent.
  void Stop();

  // Test helpers: the same effects as the /_sim/ admin endpoints.
  // partial_json is a (partial) SummaryActivity; missing fields are filled.
  // Returns the stored object. Fires the matching webhook events.
  Result<std::string> CreateActivity(const std::string& partial_json);
  Result<std::string> UpdateActivity(int64_t id, const std::string& partial_json);
  Status DeleteActivity(int64_t id);
  std::string ActivitiesJson() const;  // all stored activities, oldest first
  size_t ActivityCount() const;
  int64_t athlete_id() const;
  // Invalidates all tokens of the athlete and fires the deauthorization event.
  void Deauthorize();
  // An access token as if the athlete had granted `scopes` (no OAuth dance).
  std::string MintAccessToken(const std::string& scopes);
  void SetFaults(const FaultOptions& faults);
  // The next /api/v3 requests get these faults, in order, before random ones.
  void QueueFaults(const std::vector<FaultKind>& kinds);
  // Delivers an arbitrary body to the subscription's callback (retry policy
  // applies). kNotFound when there is no subscription. Returns the delivery id.
  Result<int64_t> SendEvent(const std::string& raw_body);
  std::vector<WebhookDelivery> WebhookLog() const;
  SimStats Stats() const;
  void ResetStats();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dl::sim
