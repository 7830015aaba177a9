// Strava's two rate-limit buckets (overall and read), each with a 15-minute
// window on the quarter hours and a daily window at UTC midnight; windows can
// be scaled down so tests cross them in seconds. Internal to the sim module.
//
// Thread-compatible: the caller serialises access.
#pragma once

#include <cstdint>
#include <string>

#include "sim/simulator.h"

namespace dl::sim {

struct RateUsage {
  int64_t overall_15min = 0;
  int64_t overall_daily = 0;
  int64_t read_15min = 0;
  int64_t read_daily = 0;
};

enum class RateVerdict { kAllowed, kOverallExceeded, kReadExceeded };

class RateBuckets {
 public:
  // window_scale > 0: a 15-minute window lasts 900/scale s and starts at a
  // multiple of that length since the epoch; a day lasts 86400/scale s.
  RateBuckets(RateLimits limits, double window_scale);

  // Counts one request made at now_us (epoch microseconds) in the overall
  // bucket and, when is_read, in the read bucket. Rejected requests count too,
  // so usage can exceed the limit. The overall bucket is checked first.
  RateVerdict Count(bool is_read, int64_t now_us);
  RateUsage Usage(int64_t now_us);
  void Reset();

  // Header values, "15min,daily".
  std::string LimitHeader() const;
  std::string ReadLimitHeader() const;
  static std::string UsageHeader(int64_t window, int64_t daily);

  int64_t window_15min_us() const { return window_us_; }
  int64_t window_daily_us() const { return day_us_; }

 private:
  void Roll(int64_t now_us);

  RateLimits limits_;
  int64_t window_us_;
  int64_t day_us_;
  int64_t window_index_ = -1;
  int64_t day_index_ = -1;
  RateUsage usage_;
};

}  // namespace dl::sim
