#include "adapters/strava_http/strava_errors.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "adapters/strava_http/strava_json.h"

namespace dl::adapters::strava_http {
namespace {

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return lower(x) == lower(y);
  });
}

const std::string* FindHeader(const HeaderList& headers, std::string_view name) {
  // The last occurrence wins, as with a repeated header line.
  for (auto it = headers.rbegin(); it != headers.rend(); ++it)
    if (EqualsNoCase(it->first, name)) return &it->second;
  return nullptr;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::optional<int64_t> ParseCount(std::string_view s) {
  s = Trim(s);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

// "600,30000" -> {600, 30000}.
std::optional<std::pair<int64_t, int64_t>> ParsePair(const std::string* value) {
  if (value == nullptr) return std::nullopt;
  std::string_view v = *value;
  size_t comma = v.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  auto a = ParseCount(v.substr(0, comma));
  auto b = ParseCount(v.substr(comma + 1));
  if (!a || !b) return std::nullopt;
  return std::pair{*a, *b};
}

bool HasItem(const Fault& f, std::string FaultItem::*member, std::string_view value) {
  return std::ranges::any_of(f.errors, [&](const FaultItem& i) { return i.*member == value; });
}

std::string StatusText(int status) { return "HTTP " + std::to_string(status); }

Error Make(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

Error Map401(const Fault& f, Endpoint endpoint) {
  if (HasItem(f, &FaultItem::field, "activity:read_permission"))
    return Make(ErrorCode::kMissingScope,
                "the athlete did not grant activity:read_all (Strava says: " + f.Describe() +
                    "); run `desirelines auth` and keep the \"View data about your private "
                    "activities\" box ticked");
  if (endpoint == Endpoint::kOAuthToken)
    return Make(ErrorCode::kUnauthorized,
                "Strava rejected the application's client id or secret (" + f.Describe() + ")");
  return Make(ErrorCode::kUnauthorized, "Strava rejected the access token (" + f.Describe() + ")");
}

Error Map403(const Fault& f) {
  if (HasItem(f, &FaultItem::code, "inactive"))
    return Make(ErrorCode::kInactiveApp,
                "Strava says this API application is inactive, so it refuses every request. "
                "Strava deactivates standard-tier applications whose owner has no subscription; "
                "reactivate it in the Strava API settings, then run this again (" +
                    f.Describe() + ")");
  return Make(ErrorCode::kForbidden, "Strava refused the request, HTTP 403 (" + f.Describe() + ")");
}

Error Map429(const Fault& f, const std::optional<ports::RateLimitHeaders>& rate) {
  if (rate && DailyBucketSpent(*rate))
    return Make(ErrorCode::kDailyRateLimited,
                "Strava's daily request limit is spent until UTC midnight (" + f.Describe() + ")");
  return Make(ErrorCode::kRateLimited,
              "Strava's 15-minute request limit is spent until the next quarter hour (" + f.Describe() + ")");
}

// A request Strava refuses: on the subscription endpoints it carries the
// user's input (the callback URL, the verify token), a usage error; anywhere
// else desirelines built it, and a refusal is a protocol error (exit 1, not
// the exit 2 of a usage error).
ErrorCode RefusedCode(Endpoint endpoint) {
  return endpoint == Endpoint::kSubscriptions ? ErrorCode::kInvalidArgument : ErrorCode::kProtocol;
}

Error Map400(const Fault& f, Endpoint endpoint) {
  if (endpoint == Endpoint::kOAuthToken)
    return Make(ErrorCode::kUnauthorized,
                "Strava rejected the token request (" + f.Describe() +
                    "); the refresh token or code is invalid or used up: run `desirelines auth`");
  if (endpoint == Endpoint::kSubscriptions && HasItem(f, &FaultItem::code, "already exists"))
    return Make(ErrorCode::kConflict,
                "a push subscription already exists for this application (" + f.Describe() + ")");
  return Make(RefusedCode(endpoint), "Strava refused the request as invalid, HTTP 400 (" + f.Describe() + ")");
}

}  // namespace

std::optional<ports::RateLimitHeaders> ParseRateLimitHeaders(const HeaderList& headers) {
  auto limit = ParsePair(FindHeader(headers, "X-RateLimit-Limit"));
  auto usage = ParsePair(FindHeader(headers, "X-RateLimit-Usage"));
  if (!limit || !usage) return std::nullopt;
  ports::RateLimitHeaders r;
  r.limit_15min = limit->first;
  r.limit_daily = limit->second;
  r.usage_15min = usage->first;
  r.usage_daily = usage->second;
  auto read_limit = ParsePair(FindHeader(headers, "X-ReadRateLimit-Limit"));
  auto read_usage = ParsePair(FindHeader(headers, "X-ReadRateLimit-Usage"));
  if (read_limit && read_usage) {
    r.has_read = true;
    r.read_limit_15min = read_limit->first;
    r.read_limit_daily = read_limit->second;
    r.read_usage_15min = read_usage->first;
    r.read_usage_daily = read_usage->second;
  }
  return r;
}

bool DailyBucketSpent(const ports::RateLimitHeaders& r) {
  bool overall = r.limit_daily > 0 && r.usage_daily >= r.limit_daily;
  bool read = r.has_read && r.read_limit_daily > 0 && r.read_usage_daily >= r.read_limit_daily;
  return overall || read;
}

Error MapHttpError(int status, std::string_view body, Endpoint endpoint,
                   const std::optional<ports::RateLimitHeaders>& rate) {
  Fault f = ParseFault(body);
  switch (status) {
    case 400: return Map400(f, endpoint);
    case 401: return Map401(f, endpoint);
    case 403: return Map403(f);
    case 404: return Make(ErrorCode::kNotFound, "Strava has no such record (" + f.Describe() + ")");
    case 408: return Make(ErrorCode::kTransient, "Strava timed out the request, " + StatusText(status));
    case 429: return Map429(f, rate);
    default: break;
  }
  if (status >= 500)
    return Make(ErrorCode::kTransient,
                "Strava had a server error, " + StatusText(status) + " (" + f.Describe() + ")");
  if (status >= 400)
    return Make(RefusedCode(endpoint),
                "Strava refused the request, " + StatusText(status) + " (" + f.Describe() + ")");
  return Make(ErrorCode::kProtocol, "Strava answered with an unexpected " + StatusText(status));
}

}  // namespace dl::adapters::strava_http
