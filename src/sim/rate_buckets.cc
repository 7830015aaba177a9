#include "sim/rate_buckets.h"

#include <algorithm>
#include <cmath>

namespace dl::sim {

RateBuckets::RateBuckets(RateLimits limits, double window_scale)
    : limits_(limits),
      window_us_(std::max<int64_t>(1, std::llround(900e6 / window_scale))),
      day_us_(std::max<int64_t>(1, std::llround(86400e6 / window_scale))) {}

void RateBuckets::Roll(int64_t now_us) {
  const int64_t window = now_us / window_us_;
  const int64_t day = now_us / day_us_;
  if (window != window_index_) {
    window_index_ = window;
    usage_.overall_15min = 0;
    usage_.read_15min = 0;
  }
  if (day != day_index_) {
    day_index_ = day;
    usage_.overall_daily = 0;
    usage_.read_daily = 0;
  }
}

RateVerdict RateBuckets::Count(bool is_read, int64_t now_us) {
  Roll(now_us);
  ++usage_.overall_15min;
  ++usage_.overall_daily;
  if (is_read) {
    ++usage_.read_15min;
    ++usage_.read_daily;
  }
  if (usage_.overall_15min > limits_.overall_15min || usage_.overall_daily > limits_.overall_daily) {
    return RateVerdict::kOverallExceeded;
  }
  if (is_read && (usage_.read_15min > limits_.read_15min || usage_.read_daily > limits_.read_daily)) {
    return RateVerdict::kReadExceeded;
  }
  return RateVerdict::kAllowed;
}

RateUsage RateBuckets::Usage(int64_t now_us) {
  Roll(now_us);
  return usage_;
}

void RateBuckets::Reset() {
  usage_ = RateUsage{};
  window_index_ = -1;
  day_index_ = -1;
}

std::string RateBuckets::UsageHeader(int64_t window, int64_t daily) {
  return std::to_string(window) + "," + std::to_string(daily);
}
std::string RateBuckets::LimitHeader() const { return UsageHeader(limits_.overall_15min, limits_.overall_daily); }
std::string RateBuckets::ReadLimitHeader() const { return UsageHeader(limits_.read_15min, limits_.read_daily); }

}  // namespace dl::sim
