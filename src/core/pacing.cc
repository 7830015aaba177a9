#include "core/pacing.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

namespace dl::core {
namespace {

using std::chrono::sys_days;

Date Jan1(int year) { return Date{std::chrono::year{year}, std::chrono::January, std::chrono::day{1}}; }
Date Dec31(int year) { return Date{std::chrono::year{year}, std::chrono::December, std::chrono::day{31}}; }

// Shortest text that reads back as the same double ("5000", "621.37").
std::string FormatValue(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

size_t CodePoints(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

bool HasControlCharacter(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

std::string GoalField(size_t i, const char* name) { return "goals[" + std::to_string(i) + "]." + name; }

// Problems with one goal taken alone.
void ValidateOne(const DistanceGoal& g, size_t i, std::vector<FieldError>& errors) {
  if (!std::isfinite(g.value) || g.value <= 0) {
    errors.push_back({GoalField(i, "value"), "must be a positive number"});
  } else if (ConvertDistance(g.value, g.unit, DistanceUnit::kKm) > kMaxGoalKm) {
    errors.push_back({GoalField(i, "value"), "must be at most " + FormatValue(kMaxGoalKm) + " km"});
  }
  if (CodePoints(g.label) > kMaxGoalLabelChars) {
    errors.push_back({GoalField(i, "label"), "must be at most " + std::to_string(kMaxGoalLabelChars) + " characters"});
  } else if (HasControlCharacter(g.label)) {
    errors.push_back({GoalField(i, "label"), "must not contain control characters"});
  }
}

}  // namespace

const char* UnitName(DistanceUnit unit) { return unit == DistanceUnit::kMi ? "mi" : "km"; }

std::optional<DistanceUnit> ParseUnit(std::string_view text) {
  if (text == "km") return DistanceUnit::kKm;
  if (text == "mi") return DistanceUnit::kMi;
  return std::nullopt;
}

double MmToUnit(int64_t mm, DistanceUnit unit) { return unit == DistanceUnit::kMi ? MmToMiles(mm) : MmToKm(mm); }

double ConvertDistance(double value, DistanceUnit from, DistanceUnit to) {
  if (from == to) return value;
  return from == DistanceUnit::kKm ? value * kMilesPerKm : value / kMilesPerKm;
}

std::vector<FieldError> ValidateGoals(std::span<const DistanceGoal> goals) {
  std::vector<FieldError> errors;
  if (goals.size() < kMinGoals || goals.size() > kMaxGoals) {
    errors.push_back({"goals", "must hold " + std::to_string(kMinGoals) + " to " + std::to_string(kMaxGoals) +
                                   " goals, got " + std::to_string(goals.size())});
    return errors;
  }
  for (size_t i = 0; i < goals.size(); ++i) {
    ValidateOne(goals[i], i, errors);
    if (!std::isfinite(goals[i].value)) continue;
    const double km = ConvertDistance(goals[i].value, goals[i].unit, DistanceUnit::kKm);
    for (size_t j = 0; j < i; ++j) {
      // Equal within a millimetre once in one unit: 1000 km and 621.37 mi clash.
      if (std::abs(ConvertDistance(goals[j].value, goals[j].unit, DistanceUnit::kKm) - km) <= 1e-6) {
        errors.push_back({GoalField(i, "value"), "duplicates goals[" + std::to_string(j) + "] (" +
                                                     FormatValue(goals[j].value) + " " + UnitName(goals[j].unit) +
                                                     "); goal values must be unique"});
        break;
      }
    }
  }
  return errors;
}

double RoundUpToHundred(double value) {
  // The small tolerance keeps 4500.0000000001 (from 5000 * 0.9) at 4500.
  return 100.0 * std::ceil(value / 100.0 - 1e-9);
}

std::vector<DistanceGoal> DefaultGoals(double projection, DistanceUnit unit) {
  const double p = std::max(0.0, projection);
  const double conservative = std::max(100.0, RoundUpToHundred(0.90 * p));
  const double target = std::max(conservative + 100.0, RoundUpToHundred(p));
  const double stretch = std::max(target + 100.0, RoundUpToHundred(1.15 * p));
  return {{conservative, unit, "Conservative"}, {target, unit, "Target"}, {stretch, unit, "Stretch"}};
}

const char* PhaseName(YearPhase phase) {
  switch (phase) {
    case YearPhase::kNotStarted: return "not_started";
    case YearPhase::kInProgress: return "in_progress";
    case YearPhase::kComplete: return "complete";
  }
  return "unknown";
}

std::optional<double> MomentumPctPerWeek(std::span<const DailyTotals> days, int year, Date through) {
  std::vector<const DailyTotals*> active;
  for (const auto& d : days) {
    if (static_cast<int>(d.date.year()) == year && d.distance_mm > 0 && sys_days{d.date} <= sys_days{through}) {
      active.push_back(&d);
    }
  }
  std::sort(active.begin(), active.end(),
            [](const DailyTotals* a, const DailyTotals* b) { return sys_days{a->date} < sys_days{b->date}; });
  if (active.size() > kMomentumDays) active.erase(active.begin(), active.end() - kMomentumDays);
  if (active.size() < kMomentumMinDays) return std::nullopt;
  const double n = static_cast<double>(active.size());
  double mean_x = 0, mean_y = 0;
  for (const auto* d : active) {
    mean_x += DayOfYear(d->date) / n;
    mean_y += static_cast<double>(d->distance_mm) / n;
  }
  double sxy = 0, sxx = 0;
  for (const auto* d : active) {
    const double dx = DayOfYear(d->date) - mean_x;
    sxy += dx * (static_cast<double>(d->distance_mm) - mean_y);
    sxx += dx * dx;
  }
  // sxx > 0: at least 3 distinct days. mean_y > 0: every day has distance.
  return 100.0 * 7.0 * (sxy / sxx) / mean_y;
}

namespace {

// Where the year stands on `today`: phase, covered days and days left.
void PlaceInYear(int year, Date today, Pacing& p) {
  p.days_in_year = DaysInYear(year);
  if (sys_days{today} < sys_days{Jan1(year)}) {
    p.phase = YearPhase::kNotStarted;
    p.days_elapsed = 0;
    p.days_left = p.days_in_year;
  } else if (sys_days{today} > sys_days{Dec31(year)}) {
    p.phase = YearPhase::kComplete;
    p.through = Dec31(year);
    p.days_elapsed = p.days_in_year;
    p.days_left = 0;
  } else {
    p.phase = YearPhase::kInProgress;
    p.through = today;
    p.days_elapsed = DayOfYear(today) + 1;
    p.days_left = p.days_in_year - DayOfYear(today);
  }
}

GoalPacing PaceGoal(const DistanceGoal& goal, const Pacing& p) {
  GoalPacing g;
  g.goal = goal;
  g.target = ConvertDistance(goal.value, goal.unit, p.unit);
  const int n = p.days_in_year;
  g.desire_line.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) g.desire_line.push_back(g.target * (i + 1) / n);
  g.required_pace.reserve(p.cumulative.size());
  for (size_t i = 0; i < p.cumulative.size(); ++i) {
    const auto left = static_cast<double>(n - static_cast<int>(i));
    g.required_pace.push_back(std::max(0.0, g.target - p.cumulative[i]) / left);
    if (!g.reached_on && p.cumulative[i] >= g.target) g.reached_on = AddDays(Jan1(p.year), static_cast<int>(i));
  }
  g.reached = g.reached_on.has_value();
  if (g.target > 0) {
    g.progress_pct = 100.0 * p.distance / g.target;
    const double desire_today = p.days_elapsed == 0 ? 0.0 : g.desire_line[static_cast<size_t>(p.days_elapsed - 1)];
    g.gap = p.distance - desire_today;
    g.gap_days = g.gap / (g.target / n);
  }
  if (!g.reached && p.days_left > 0) g.pace_needed_now = (g.target - p.distance) / p.days_left;
  return g;
}

}  // namespace

Pacing ComputePacing(const PacingInput& input) {
  Pacing p;
  p.year = input.year;
  p.unit = input.unit;
  PlaceInYear(input.year, input.today, p);
  if (p.through) {
    for (const auto& point : Cumulative(input.days, input.year, *p.through)) {
      p.cumulative.push_back(MmToUnit(point.distance_mm, input.unit));
    }
  }
  for (size_t i = 0; i < p.cumulative.size(); ++i) {
    p.average_pace.push_back(p.cumulative[i] / static_cast<double>(i + 1));
  }
  if (!p.cumulative.empty()) {
    p.distance = p.cumulative.back();
    p.average_pace_now = p.average_pace.back();
  }
  p.projection = p.phase == YearPhase::kComplete ? p.distance : p.average_pace_now * p.days_in_year;
  if (p.through) p.momentum_pct_per_week = MomentumPctPerWeek(input.days, input.year, *p.through);

  std::vector<DistanceGoal> goals(input.goals.begin(), input.goals.end());
  if (goals.empty()) {
    goals = DefaultGoals(p.projection, input.unit);
    p.default_goals = true;
  }
  for (const auto& goal : goals) p.goals.push_back(PaceGoal(goal, p));
  return p;
}

}  // namespace dl::core
