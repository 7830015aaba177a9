#include "core/result.h"

namespace dl {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kUnauthorized: return "unauthorized";
    case ErrorCode::kMissingScope: return "missing_scope";
    case ErrorCode::kForbidden: return "forbidden";
    case ErrorCode::kInactiveApp: return "inactive_application";
    case ErrorCode::kRateLimited: return "rate_limited";
    case ErrorCode::kDailyRateLimited: return "daily_rate_limited";
    case ErrorCode::kTransient: return "transient";
    case ErrorCode::kProtocol: return "protocol";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kInternal: return "internal";
  }
  return "unknown";
}

}  // namespace dl
