// The shared Strava rate budget: what is left in the 15-minute and daily
// buckets (overall and read), and the decision whether a request may be sent
// now. Pure: the caller passes "now"; the store persists the state so that
// every process using one store shares it (see ports::RateBudgetStore).
//
// Windows: the 15-minute window starts on the quarter hours (:00, :15, :30,
// :45), the daily one at UTC midnight. `window_scale` S > 1 makes every
// window S times shorter (for tests against strava-sim --window-scale S).
#pragma once

#include <cstdint>

namespace dl::core {

struct RateBudgetState {
  int64_t window_start_epoch_s = 0;  // start of the 15-minute window the counts belong to
  int64_t day_start_epoch_s = 0;     // start of the daily window the counts belong to
  int64_t limit_15min = 200, limit_daily = 2000;
  int64_t read_limit_15min = 100, read_limit_daily = 1000;
  int64_t used_15min = 0, used_daily = 0;
  int64_t read_used_15min = 0, read_used_daily = 0;
  bool operator==(const RateBudgetState&) const = default;
};

struct RateWindows {
  double window_scale = 1.0;  // >= 1
  int64_t WindowLengthS() const;  // 900 / scale, at least 1
  int64_t DayLengthS() const;     // 86400 / scale, at least 1
  int64_t WindowStart(int64_t now_epoch_s) const;
  int64_t DayStart(int64_t now_epoch_s) const;
};

enum class BudgetVerdict { kGranted, kWaitWindow, kWaitDay };

struct BudgetDecision {
  BudgetVerdict verdict = BudgetVerdict::kGranted;
  int64_t retry_at_epoch_s = 0;  // when the spent bucket frees (not for kGranted)
};

// Rolls counts over when `now` is in a later window or day.
void RollWindows(RateBudgetState& s, const RateWindows& w, int64_t now_epoch_s);

// Decides and, when granted, counts the request in the state (a reservation).
BudgetDecision Reserve(RateBudgetState& s, const RateWindows& w, int64_t now_epoch_s, bool is_read);

// Merges the headers of a response seen at `now`: limits are taken as given,
// usage never goes down within a window (other processes may have counted
// more than this response shows).
// `seen_at_epoch_s` (0 = now): when the response arrived. Usage is merged only
// into the window and day it counts in: headers seen before a window or day
// ended say nothing about the next one (their limits still apply).
struct ObservedUsage {
  int64_t limit_15min, limit_daily, usage_15min, usage_daily;
  bool has_read;
  int64_t read_limit_15min, read_limit_daily, read_usage_15min, read_usage_daily;
  int64_t seen_at_epoch_s = 0;
};
void Observe(RateBudgetState& s, const RateWindows& w, int64_t now_epoch_s, const ObservedUsage& u);

// After a 429: marks the bucket the server says is spent as full until it frees.
void MarkExhausted(RateBudgetState& s, const RateWindows& w, int64_t now_epoch_s, bool daily);

}  // namespace dl::core
