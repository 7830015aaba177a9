// Pacing toward yearly distance goals: the math behind the dashboard's
// desire lines. Pure: no I/O, no clock; "today" (the athlete's local date) is
// passed in.
//
// Conventions, shared by every value below (N = days in the year, 365 or 366;
// i = 0-based day of the year, 0 for 1 January):
// - Distances are in the caller's output unit (km or mi; 1 km = 0.62137 mi,
//   the original system's factor).
// - The cumulative distance of day i is the total through the END of day i.
// - Desire line of a goal G: the straight line from 0 at the start of 1
//   January to G at the end of 31 December, so at the end of day i it is
//   G * (i + 1) / N.
// - Days elapsed = i_today + 1 (today counts: its activities are in the
//   distance so far). Days left = N - i_today: today still counts as a day to
//   ride, so on 31 December one day is left and the pace needed is simply the
//   distance still missing.
// - Pace needed from day i = max(0, G - cumulative(i)) / (N - i), per day.
// - Average pace = distance so far / days elapsed; projection to year end =
//   average pace * N (for a complete year: the year's total).
// - A year is complete when today is after its 31 December: nothing is left
//   to ride, so the pace needed is 0 and a goal is either reached or missed.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/aggregates.h"
#include "core/time.h"

namespace dl::core {

enum class DistanceUnit { kKm, kMi };

// "km" / "mi".
const char* UnitName(DistanceUnit unit);
// Exactly "km" or "mi"; anything else is nullopt.
std::optional<DistanceUnit> ParseUnit(std::string_view text);
double MmToUnit(int64_t mm, DistanceUnit unit);
double ConvertDistance(double value, DistanceUnit from, DistanceUnit to);

struct DistanceGoal {
  double value = 0;  // in `unit`
  DistanceUnit unit = DistanceUnit::kKm;
  std::string label;  // optional, at most kMaxGoalLabelChars characters
  bool operator==(const DistanceGoal&) const = default;
};

inline constexpr size_t kMinGoals = 1;
inline constexpr size_t kMaxGoals = 5;
inline constexpr size_t kMaxGoalLabelChars = 40;  // UTF-8 code points
// Goals above this are refused as typos (40,000 km is the equator).
inline constexpr double kMaxGoalKm = 100000;

// One problem with one field of a goal set, for a 400 answer. `field` is
// "goals", "goals[2].value", "goals[0].label" or "goals[1].unit".
struct FieldError {
  std::string field;
  std::string message;
  bool operator==(const FieldError&) const = default;
};

// Empty when the set is valid: 1 to 5 goals, each value finite, positive and
// at most kMaxGoalKm (in km), values unique once converted to one unit,
// labels at most 40 characters without control characters.
std::vector<FieldError> ValidateGoals(std::span<const DistanceGoal> goals);

// Rounds up to the next multiple of 100 (an exact multiple stays).
double RoundUpToHundred(double value);

// The three goals offered when none are set, from the current-average
// projection P (in `unit`):
//   conservative = max(100, up100(0.90 P))
//   target       = max(conservative + 100, up100(1.00 P))
//   stretch      = max(target + 100, up100(1.15 P))
// where up100 = RoundUpToHundred; the max() keeps them unique and positive
// (P = 0 gives 100, 200, 300).
std::vector<DistanceGoal> DefaultGoals(double projection, DistanceUnit unit);

enum class YearPhase { kNotStarted, kInProgress, kComplete };
const char* PhaseName(YearPhase phase);  // "not_started", "in_progress", "complete"

// Training momentum: the weekly percentage change of the daily distance,
// from a least-squares line through the last kMomentumDays activity days
// (days with distance > 0) of the year through `through`:
//   x = calendar day, y = that day's distance; slope b per day;
//   momentum = 100 * 7 * b / mean(y).
// nullopt when fewer than kMomentumMinDays such days exist.
inline constexpr size_t kMomentumDays = 14;
inline constexpr size_t kMomentumMinDays = 3;
std::optional<double> MomentumPctPerWeek(std::span<const DailyTotals> days, int year, Date through);

struct PacingInput {
  int year = 0;
  Date today;                            // the athlete's local date
  std::span<const DailyTotals> days;     // one category; other years ignored
  std::span<const DistanceGoal> goals;   // validated; empty: DefaultGoals
  DistanceUnit unit = DistanceUnit::kKm; // of every output value
};

struct GoalPacing {
  DistanceGoal goal;                  // as given, in its own unit
  double target = 0;                  // the goal in the output unit
  std::vector<double> desire_line;    // N values, end of each day
  std::vector<double> required_pace;  // per covered day (days_elapsed values)
  double progress_pct = 0;            // 100 * distance / target
  double gap = 0;                     // distance - desire line today; > 0 ahead
  double gap_days = 0;                // gap in days of the desire line's pace
  double pace_needed_now = 0;         // per day; 0 when reached or complete
  bool reached = false;
  std::optional<Date> reached_on;     // first day the cumulative reached it
};

struct Pacing {
  int year = 0;
  int days_in_year = 0;
  YearPhase phase = YearPhase::kNotStarted;
  std::optional<Date> through;  // last covered day; nullopt when not started
  int days_elapsed = 0;         // covered days, 0..N
  int days_left = 0;            // N - i_today; N before the year, 0 after
  DistanceUnit unit = DistanceUnit::kKm;
  std::vector<double> cumulative;    // days_elapsed values from 1 January
  std::vector<double> average_pace;  // cumulative[i] / (i + 1)
  double distance = 0;               // so far
  double average_pace_now = 0;       // per day; 0 when not started
  double projection = 0;             // at 31 December
  std::optional<double> momentum_pct_per_week;
  bool default_goals = false;  // goals came from DefaultGoals
  std::vector<GoalPacing> goals;
};

Pacing ComputePacing(const PacingInput& input);

}  // namespace dl::core
