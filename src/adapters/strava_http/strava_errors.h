// How Strava's HTTP answers become values: the rate-limit headers, and the
// mapping of a non-2xx status plus its fault body onto dl::ErrorCode.
// Pure functions, no I/O; exposed for tests and for anyone who talks to
// Strava (or strava-sim) through another HTTP stack.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "ports/strava_api.h"

namespace dl::adapters::strava_http {

// Response headers as received, names in any case.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The X-RateLimit-{Limit,Usage} and X-ReadRateLimit-{Limit,Usage} headers
// ("15min,daily" each), names matched case-insensitively. nullopt when the
// overall pair is absent or unreadable (e.g. /oauth answers carry none).
std::optional<ports::RateLimitHeaders> ParseRateLimitHeaders(const HeaderList& headers);

// True when the headers say a daily bucket (overall, or read when present)
// is spent: a 429 then lasts until UTC midnight, not the next quarter hour.
bool DailyBucketSpent(const ports::RateLimitHeaders& rate);

// Which kind of endpoint answered: the same status means different things
// (a 400 from /oauth/token is a rejected refresh token or code).
enum class Endpoint { kApi, kOAuthToken, kSubscriptions };

// The error for a non-2xx answer. Never contains a secret: only the status,
// Strava's own fault text (message and resource/field/code) and advice.
//  401 activity:read_permission -> kMissingScope; other 401 -> kUnauthorized
//  403 code inactive -> kInactiveApp; other 403 -> kForbidden
//  404 -> kNotFound; 429 -> kRateLimited or kDailyRateLimited (from `rate`)
//  5xx, 408 -> kTransient; 400/401 on /oauth/token -> kUnauthorized
//  400 "already exists" on subscriptions -> kConflict; other 4xx -> kInvalidArgument
//  on subscriptions (the user's callback URL or verify token), kProtocol elsewhere
Error MapHttpError(int status, std::string_view body, Endpoint endpoint,
                   const std::optional<ports::RateLimitHeaders>& rate);

}  // namespace dl::adapters::strava_http
