// Daily summaries and cumulative distance series, per year and category.
// Sums are kept in integer units (millimetres, seconds, centimetres) so that
// they do not depend on the order activities arrive in. Dates are local
// calendar dates from start_date_local.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/activity.h"
#include "core/sports.h"
#include "core/time.h"

namespace dl::core {

inline constexpr double kMilesPerKm = 0.62137;  // the original system's factor

struct DailyTotals {
  Date date;
  std::string category;
  int64_t distance_mm = 0;
  int64_t moving_time_s = 0;
  int64_t elevation_gain_cm = 0;
  int64_t count = 0;
  std::vector<int64_t> activity_ids;  // ascending
  bool operator==(const DailyTotals&) const = default;
};

struct CumulativePoint {
  Date date;
  int64_t distance_mm = 0;  // running total through this date
};

// metres / 1000 * 0.62137, from millimetres.
double MmToMiles(int64_t mm);
double MmToKm(int64_t mm);

// What the daily totals need of one activity: its local date, category and
// amounts in integer units.
struct DayShare {
  Date date;
  std::string category;
  int64_t id = 0;
  int64_t distance_mm = 0;
  int64_t moving_time_s = 0;
  int64_t elevation_gain_cm = 0;
};

// Why the amounts of `a` cannot be real, or nullopt when they can: distance,
// moving time and elevation gain must be finite, not negative and within any
// real activity (100,000 km, ten years, 1,000 km of climbing). Such bounds
// also keep every sum of integer units far inside int64. Strava's answers are
// checked with it before they are stored.
std::optional<std::string> ImplausibleAmounts(const Activity& a);

// The share of `a`, or nullopt when its local date does not parse.
std::optional<DayShare> ShareOf(const Activity& a, std::string category);

// Groups shares into per-(date, category) totals, ordered by (date,
// category), ids ascending.
std::vector<DailyTotals> SumDays(std::vector<DayShare> shares);

// Groups activities into per-(date, category) totals; activities without a
// parseable local date are skipped. Result ordered by (date, category).
std::vector<DailyTotals> SummarizeDays(std::span<const Activity> activities,
                                       const SportCategories& categories);

// Full year rebuild for one category: totals of the days in `year`.
std::vector<DailyTotals> BuildYear(std::span<const Activity> activities, int year,
                                   const std::string& category, const SportCategories& categories);

// Running total from 1 January through `through` (inclusive; 31 December for
// a past year, today in the athlete's time zone for the current one), one
// point per day, days without activity repeating the last value.
std::vector<CumulativePoint> Cumulative(std::span<const DailyTotals> days, int year, Date through);

}  // namespace dl::core
