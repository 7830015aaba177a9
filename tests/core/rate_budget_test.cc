#include "core/rate_budget.h"

#include <gtest/gtest.h>

namespace dl::core {
namespace {

constexpr int64_t kMidnight = 1767225600;  // 2026-01-01T00:00:00Z

RateBudgetState Fresh(int64_t now) {
  RateBudgetState s;
  s.limit_15min = 200;
  s.limit_daily = 2000;
  s.read_limit_15min = 3;
  s.read_limit_daily = 5;
  RollWindows(s, RateWindows{}, now);
  return s;
}

TEST(RateBudgetTest, WindowsStartOnQuarterHoursAndUtcMidnight) {
  RateWindows w;
  EXPECT_EQ(w.WindowStart(kMidnight + 14 * 60 + 59), kMidnight);
  EXPECT_EQ(w.WindowStart(kMidnight + 15 * 60), kMidnight + 900);
  EXPECT_EQ(w.DayStart(kMidnight + 86399), kMidnight);
  RateWindows scaled{60.0};
  EXPECT_EQ(scaled.WindowLengthS(), 15);
  EXPECT_EQ(scaled.WindowStart(kMidnight + 29), kMidnight + 15);
}

TEST(RateBudgetTest, ReadBucketSpentMeansWaitForNextQuarterHour) {
  int64_t now = kMidnight + 100;
  auto s = Fresh(now);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Reserve(s, {}, now, true).verdict, BudgetVerdict::kGranted);
  auto d = Reserve(s, {}, now, true);
  EXPECT_EQ(d.verdict, BudgetVerdict::kWaitWindow);
  EXPECT_EQ(d.retry_at_epoch_s, kMidnight + 900);
  // A non-read request only needs the overall bucket.
  EXPECT_EQ(Reserve(s, {}, now, false).verdict, BudgetVerdict::kGranted);
  // The next quarter hour frees the 15-minute bucket.
  EXPECT_EQ(Reserve(s, {}, kMidnight + 900, true).verdict, BudgetVerdict::kGranted);
}

TEST(RateBudgetTest, DailyBucketWaitsForUtcMidnight) {
  int64_t now = kMidnight + 100;
  auto s = Fresh(now);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Reserve(s, {}, now, true).verdict, BudgetVerdict::kGranted);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(Reserve(s, {}, now + 900, true).verdict, BudgetVerdict::kGranted);
  auto d = Reserve(s, {}, now + 1800, true);
  EXPECT_EQ(d.verdict, BudgetVerdict::kWaitDay);
  EXPECT_EQ(d.retry_at_epoch_s, kMidnight + 86400);
  EXPECT_EQ(Reserve(s, {}, kMidnight + 86400, true).verdict, BudgetVerdict::kGranted);
}

TEST(RateBudgetTest, ObservedUsageNeverLowersCountsWithinAWindow) {
  int64_t now = kMidnight + 100;
  auto s = Fresh(now);
  s.read_used_15min = 2;
  Observe(s, {}, now, ObservedUsage{600, 30000, 1, 1, true, 100, 1000, 1, 1});
  EXPECT_EQ(s.read_used_15min, 2);
  EXPECT_EQ(s.read_limit_15min, 100);
  EXPECT_EQ(s.limit_15min, 600);
  Observe(s, {}, now, ObservedUsage{600, 30000, 50, 70, true, 100, 1000, 40, 60});
  EXPECT_EQ(s.read_used_15min, 40);
  EXPECT_EQ(s.used_daily, 70);
}

TEST(RateBudgetTest, UsageSeenInAnEarlierWindowOrDayIsNotMergedIntoTheCurrentOne) {
  const int64_t seen = kMidnight + 100;  // in the first window of the day
  auto s = Fresh(seen);
  // Merged 15 minutes later: the window rolled, the day did not.
  Observe(s, {}, seen + 900, ObservedUsage{600, 30000, 50, 70, true, 100, 1000, 40, 60, seen});
  EXPECT_EQ(s.used_15min, 0);
  EXPECT_EQ(s.read_used_15min, 0);
  EXPECT_EQ(s.used_daily, 70);
  EXPECT_EQ(s.read_used_daily, 60);
  EXPECT_EQ(s.limit_15min, 600) << "limits still apply";
  // Merged the next day: neither counts.
  auto t = Fresh(seen);
  Observe(t, {}, seen + 86400, ObservedUsage{600, 30000, 50, 70, true, 100, 1000, 40, 60, seen});
  EXPECT_EQ(t.used_daily, 0);
  EXPECT_EQ(t.read_used_daily, 0);
}

TEST(RateBudgetTest, MarkExhaustedBlocksUntilTheBucketFrees) {
  int64_t now = kMidnight + 100;
  auto s = Fresh(now);
  s.read_limit_15min = 100;
  MarkExhausted(s, {}, now, false);
  EXPECT_EQ(Reserve(s, {}, now, true).verdict, BudgetVerdict::kWaitWindow);
  EXPECT_EQ(Reserve(s, {}, now + 900, true).verdict, BudgetVerdict::kGranted);
}

}  // namespace
}  // namespace dl::core
