#include "core/rate_budget.h"

#include <algorithm>
#include <cmath>

namespace dl::core {
namespace {

int64_t FloorTo(int64_t t, int64_t len) {
  int64_t q = t / len;
  if (t % len != 0 && t < 0) --q;
  return q * len;
}

}  // namespace

int64_t RateWindows::WindowLengthS() const {
  double scale = window_scale < 1.0 ? 1.0 : window_scale;
  return std::max<int64_t>(1, std::llround(900.0 / scale));
}

int64_t RateWindows::DayLengthS() const {
  double scale = window_scale < 1.0 ? 1.0 : window_scale;
  return std::max<int64_t>(1, std::llround(86400.0 / scale));
}

int64_t RateWindows::WindowStart(int64_t now_epoch_s) const { return FloorTo(now_epoch_s, WindowLengthS()); }

int64_t RateWindows::DayStart(int64_t now_epoch_s) const { return FloorTo(now_epoch_s, DayLengthS()); }

void RollWindows(RateBudgetState& s, const RateWindows& w, int64_t now_epoch_s) {
  int64_t day = w.DayStart(now_epoch_s);
  if (day > s.day_start_epoch_s) {
    s.day_start_epoch_s = day;
    s.used_daily = 0;
    s.read_used_daily = 0;
  }
  int64_t window = w.WindowStart(now_epoch_s);
  if (window > s.window_start_epoch_s) {
    s.window_start_epoch_s = window;
    s.used_15min = 0;
    s.read_used_15min = 0;
  }
}

BudgetDecision Reserve(RateBudgetState& s, const RateWindows& w, int64_t now_epoch_s, bool is_read) {
  RollWindows(s, w, now_epoch_s);
  bool day_spent = s.used_daily >= s.limit_daily || (is_read && s.read_used_daily >= s.read_limit_daily);
  if (day_spent) return {BudgetVerdict::kWaitDay, s.day_start_epoch_s + w.DayLengthS()};
  bool window_spent =
      s.used_15min >= s.limit_15min || (is_read && s.read_used_15min >= s.read_limit_15min);
  if (window_spent) {
    int64_t next_window = s.window_start_epoch_s + w.WindowLengthS();
    return {BudgetVerdict::kWaitWindow, next_window};
  }
  ++s.used_15min;
  ++s.used_daily;
  if (is_read) {
    ++s.read_used_15min;
    ++s.read_used_daily;
  }
  return {BudgetVerdict::kGranted, 0};
}

void Observe(RateBudgetState& s, const RateWindows& w, int64_t now_epoch_s, const ObservedUsage& u) {
  RollWindows(s, w, now_epoch_s);
  const int64_t seen = u.seen_at_epoch_s > 0 ? u.seen_at_epoch_s : now_epoch_s;
  const bool same_window = w.WindowStart(seen) == s.window_start_epoch_s;
  const bool same_day = w.DayStart(seen) == s.day_start_epoch_s;
  if (u.limit_15min > 0) s.limit_15min = u.limit_15min;
  if (u.limit_daily > 0) s.limit_daily = u.limit_daily;
  if (same_window) s.used_15min = std::max(s.used_15min, u.usage_15min);
  if (same_day) s.used_daily = std::max(s.used_daily, u.usage_daily);
  if (u.has_read) {
    if (u.read_limit_15min > 0) s.read_limit_15min = u.read_limit_15min;
    if (u.read_limit_daily > 0) s.read_limit_daily = u.read_limit_daily;
    if (same_window) s.read_used_15min = std::max(s.read_used_15min, u.read_usage_15min);
    if (same_day) s.read_used_daily = std::max(s.read_used_daily, u.read_usage_daily);
  }
}

void MarkExhausted(RateBudgetState& s, const RateWindows& w, int64_t now_epoch_s, bool daily) {
  RollWindows(s, w, now_epoch_s);
  if (daily) {
    s.used_daily = std::max(s.used_daily, s.limit_daily);
    s.read_used_daily = std::max(s.read_used_daily, s.read_limit_daily);
  } else {
    s.used_15min = std::max(s.used_15min, s.limit_15min);
    s.read_used_15min = std::max(s.read_used_15min, s.read_limit_15min);
  }
}

}  // namespace dl::core
