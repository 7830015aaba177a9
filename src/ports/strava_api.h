// The Strava API v3 as desirelines uses it. One implementation speaks HTTP
// (adapters/strava_http); tests run it against strava-sim. Every call returns
// the rate-limit headers it saw (also on errors such as 429) so that the
// caller can keep the shared budget exact.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/activity.h"
#include "core/result.h"

namespace dl::ports {

// The four X-RateLimit headers of one response ("15-minute,daily" each).
struct RateLimitHeaders {
  int64_t limit_15min = 0, limit_daily = 0, usage_15min = 0, usage_daily = 0;
  int64_t read_limit_15min = 0, read_limit_daily = 0, read_usage_15min = 0, read_usage_daily = 0;
  bool has_read = false;  // the X-ReadRateLimit-* pair was present
  bool operator==(const RateLimitHeaders&) const = default;
};

template <class T>
struct ApiResponse {
  Result<T> value;
  std::optional<RateLimitHeaders> rate;  // nullopt when the response had none
  int http_status = 0;                   // 0 when no response arrived
};

struct TokenSet {
  std::string access_token;
  std::string refresh_token;
  int64_t expires_at_epoch_s = 0;
  int64_t athlete_id = 0;  // known from the code exchange; 0 on refresh
  std::string scope;       // as granted, when known
};

struct ListQuery {
  std::optional<int64_t> before_epoch_s;  // exclusive
  std::optional<int64_t> after_epoch_s;   // exclusive; results oldest first
  int page = 1;
  int per_page = 200;
};

struct Athlete {
  int64_t id = 0;
  std::string firstname;
  std::string lastname;
};

struct Subscription {
  int64_t id = 0;
  std::string callback_url;
};

class StravaApi {
 public:
  virtual ~StravaApi() = default;
  // /oauth/token with grant_type=authorization_code.
  virtual ApiResponse<TokenSet> ExchangeCode(const std::string& code) = 0;
  // /oauth/token with grant_type=refresh_token. The old refresh token stops
  // working as soon as this succeeds: persist the new one before using it.
  virtual ApiResponse<TokenSet> Refresh(const std::string& refresh_token) = 0;
  virtual ApiResponse<Athlete> GetAthlete(const std::string& access_token) = 0;
  virtual ApiResponse<std::vector<core::Activity>> ListActivities(const std::string& access_token,
                                                                   const ListQuery& query) = 0;
  // Gives back a page ListActivities returned, once its caller is done with
  // it: an implementation may parse a later page into it, its activities'
  // strings keeping their buffers (fewer allocations per page). Optional.
  virtual void RecyclePage(std::vector<core::Activity> page) { (void)page; }
  // NotFound for unknown, deleted, foreign or hidden activities.
  virtual ApiResponse<core::Activity> GetActivity(const std::string& access_token, int64_t id) = 0;
  virtual ApiResponse<int64_t> CreateSubscription(const std::string& callback_url,
                                                  const std::string& verify_token) = 0;
  virtual ApiResponse<std::vector<Subscription>> ListSubscriptions() = 0;
  virtual ApiResponse<bool> DeleteSubscription(int64_t id) = 0;
};

}  // namespace dl::ports
