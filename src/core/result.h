// Errors as values. Expected failures (bad input, HTTP 4xx/5xx, rate limits,
// not found) travel as dl::Error inside std::expected; exceptions are kept for
// bugs and fatal start-up errors (caught in main() and in the HTTP server).
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace dl {

enum class ErrorCode {
  kInvalidArgument,    // caller's or user's input is wrong (exit 2 / HTTP 400)
  kNotFound,           // the thing does not exist (HTTP 404)
  kUnauthorized,       // token invalid or expired (HTTP 401)
  kMissingScope,       // athlete did not grant activity:read_all
  kForbidden,          // HTTP 403 other than inactive application
  kInactiveApp,        // Strava says the application is inactive: do not retry
  kRateLimited,        // the 15-minute bucket is spent: wait for the next window
  kDailyRateLimited,   // the daily bucket is spent: wait for UTC midnight
  kTransient,          // 5xx, timeout, reset, truncated body: retry with backoff
  kProtocol,           // the peer answered something we cannot understand
  kConflict,           // e.g. a subscription already exists
  kIo,                 // local files or database
  kInternal,           // a bug; should not happen
};

const char* ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // plain words; never contains a secret
};

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

inline Status Ok() { return {}; }

}  // namespace dl
