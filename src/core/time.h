// Calendar and timestamp helpers. Pure: no clock is read here; callers pass
// "now" in. Strava's start_date is UTC; start_date_local is local wall-clock
// time that still carries a misleading 'Z' and must be read as naive.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dl::core {

using Date = std::chrono::year_month_day;
using TimePoint = std::chrono::sys_seconds;

// "2025-10-18T12:49:52Z" (also accepts a trailing offset-free form without Z).
// Returns nullopt on anything malformed.
std::optional<TimePoint> ParseIsoUtc(std::string_view text);

// Seconds since the epoch of the wall-clock text, as if it were UTC. Used for
// start_date_local, whose 'Z' is not a time zone.
std::optional<int64_t> ParseNaiveEpoch(std::string_view text);

// The calendar date of a start_date_local ("2025-12-31T23:59:00Z" -> 2025-12-31).
std::optional<Date> LocalDateOf(std::string_view start_date_local);

// "YYYY-MM-DD" <-> Date.
std::string FormatDate(Date d);
std::optional<Date> ParseDate(std::string_view text);

// "2025-10-18T12:49:52Z".
std::string FormatIsoUtc(TimePoint t);

int DaysInYear(int year);
// 0 for 1 January.
int DayOfYear(Date d);
Date AddDays(Date d, int days);

// The calendar date at `utc_epoch_s` in a zone `utc_offset_s` from UTC (as
// Strava's utc_offset); offsets beyond the widest zones (-12 h, +14 h) or
// not finite are clamped to them.
Date LocalDateAt(int64_t utc_epoch_s, double utc_offset_s);

// [first second of 1 January, first second of next 1 January) in UTC for the
// calendar year, widened so that every activity whose *local* date falls in
// the year is inside: 14 h before (UTC+14) and 12 h after (UTC-12).
struct EpochRange {
  int64_t after_epoch_s;   // exclusive lower bound, as Strava's `after`
  int64_t before_epoch_s;  // exclusive upper bound, as Strava's `before`
};
EpochRange WidenedUtcRangeForLocalYear(int year);

}  // namespace dl::core
