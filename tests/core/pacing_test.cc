// Golden cases for the pacing math. Every expected number is written out
// with its arithmetic so that a reader can check it by hand; see the
// conventions at the top of core/pacing.h (N days in the year, days left
// counting today, desire line G * (i + 1) / N at the end of day i).
#include "core/pacing.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace dl::core {
namespace {

constexpr double kTol = 1e-9;

Date D(int y, unsigned m, unsigned d) {
  return Date{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
}

DailyTotals Day(Date date, double km) {
  DailyTotals t;
  t.date = date;
  t.category = "cycling";
  t.distance_mm = std::llround(km * 1e6);
  t.count = 1;
  return t;
}

DistanceGoal Km(double v, std::string label = "") { return {v, DistanceUnit::kKm, std::move(label)}; }

Pacing Compute(int year, Date today, const std::vector<DailyTotals>& days, const std::vector<DistanceGoal>& goals,
               DistanceUnit unit = DistanceUnit::kKm) {
  PacingInput in;
  in.year = year;
  in.today = today;
  in.days = days;
  in.goals = goals;
  in.unit = unit;
  return ComputePacing(in);
}

TEST(PacingTest, LeapYearCountsTheTwentyNinthOfFebruary) {
  // 2024 is a leap year: N = 366. 1 March is day index 31 + 29 = 60.
  std::vector<DailyTotals> days{Day(D(2024, 1, 1), 300), Day(D(2024, 2, 29), 310)};
  auto p = Compute(2024, D(2024, 3, 1), days, {Km(3660), Km(3000)});
  EXPECT_EQ(p.phase, YearPhase::kInProgress);
  EXPECT_EQ(p.days_in_year, 366);
  EXPECT_EQ(p.days_elapsed, 61);  // 60 + 1: today counts
  EXPECT_EQ(p.days_left, 306);    // 366 - 60: today still counts
  ASSERT_EQ(p.cumulative.size(), 61u);
  EXPECT_NEAR(p.cumulative[58], 300, kTol);  // 28 February
  EXPECT_NEAR(p.cumulative[59], 610, kTol);  // 29 February: 300 + 310
  EXPECT_NEAR(p.distance, 610, kTol);
  EXPECT_NEAR(p.average_pace_now, 10, kTol);  // 610 / 61
  EXPECT_NEAR(p.projection, 3660, kTol);      // 10 * 366
  EXPECT_FALSE(p.momentum_pct_per_week.has_value());  // 2 activity days < 3
  EXPECT_FALSE(p.default_goals);

  ASSERT_EQ(p.goals.size(), 2u);
  const auto& on_line = p.goals[0];
  ASSERT_EQ(on_line.desire_line.size(), 366u);
  EXPECT_NEAR(on_line.desire_line[0], 10, kTol);       // 3660 * 1 / 366
  EXPECT_NEAR(on_line.desire_line[365], 3660, kTol);   // the goal on 31 December
  EXPECT_NEAR(on_line.gap, 0, kTol);                   // 610 - 3660 * 61 / 366
  EXPECT_NEAR(on_line.progress_pct, 100.0 / 6, kTol);  // 610 / 3660 = 1/6
  EXPECT_NEAR(on_line.pace_needed_now, 3050.0 / 306, kTol);  // (3660 - 610) / 306 = 9.967...
  ASSERT_EQ(on_line.required_pace.size(), 61u);
  EXPECT_NEAR(on_line.required_pace[0], 3360.0 / 366, kTol);   // (3660 - 300) / (366 - 0)
  EXPECT_NEAR(on_line.required_pace[59], 3050.0 / 307, kTol);  // (3660 - 610) / (366 - 59)

  const auto& ahead = p.goals[1];
  EXPECT_NEAR(ahead.gap, 110, kTol);                  // 610 - 3000 * 61 / 366 = 610 - 500
  EXPECT_NEAR(ahead.gap_days, 110 * 366.0 / 3000, kTol);  // 110 / (3000 / 366) = 13.42 days ahead
  EXPECT_NEAR(ahead.pace_needed_now, 2390.0 / 306, kTol);  // (3000 - 610) / 306

  // The same dates in 2023 (N = 365): 1 March is index 59, so one day fewer
  // has elapsed and the same 306 days are left.
  std::vector<DailyTotals> days_2023{Day(D(2023, 1, 1), 300), Day(D(2023, 2, 28), 310)};
  auto q = Compute(2023, D(2023, 3, 1), days_2023, {Km(3650)});
  EXPECT_EQ(q.days_in_year, 365);
  EXPECT_EQ(q.days_elapsed, 60);
  EXPECT_EQ(q.days_left, 306);
  EXPECT_NEAR(q.projection, 610.0 / 60 * 365, kTol);  // 3710.83
  EXPECT_NEAR(q.goals[0].gap, 10, kTol);               // 610 - 3650 * 60 / 365 = 610 - 600
}

TEST(PacingTest, GoalAlreadyPassedNeedsNoMorePace) {
  // 2025: 30 June is index 31+28+31+30+31+29 = 180; days left 365 - 180 = 185.
  std::vector<DailyTotals> days{Day(D(2025, 6, 1), 1200)};
  auto p = Compute(2025, D(2025, 6, 30), days, {Km(1000), Km(2000)});
  const auto& passed = p.goals[0];
  EXPECT_TRUE(passed.reached);
  ASSERT_TRUE(passed.reached_on.has_value());
  EXPECT_EQ(FormatDate(*passed.reached_on), "2025-06-01");
  EXPECT_NEAR(passed.progress_pct, 120, kTol);  // 1200 / 1000
  EXPECT_EQ(passed.pace_needed_now, 0);
  EXPECT_EQ(passed.required_pace.back(), 0);  // max(0, 1000 - 1200) / 185
  EXPECT_NEAR(passed.required_pace[150], 1000.0 / 215, kTol);  // 31 May: (1000 - 0) / (365 - 150)

  const auto& open = p.goals[1];
  EXPECT_FALSE(open.reached);
  EXPECT_NEAR(open.pace_needed_now, 800.0 / 185, kTol);       // (2000 - 1200) / 185 = 4.32
  EXPECT_NEAR(open.gap, 1200 - 2000.0 * 181 / 365, kTol);     // 1200 - 991.78 = +208.22
}

TEST(PacingTest, LastDayOfTheYearLeavesOneDay) {
  // 31 December 2025 is index 364: days left 365 - 364 = 1, so the pace
  // needed is the whole distance still missing.
  std::vector<DailyTotals> days{Day(D(2025, 7, 1), 3600)};
  auto p = Compute(2025, D(2025, 12, 31), days, {Km(3650), Km(3000)});
  EXPECT_EQ(p.phase, YearPhase::kInProgress);
  EXPECT_EQ(p.days_left, 1);
  EXPECT_EQ(p.days_elapsed, 365);
  EXPECT_NEAR(p.goals[0].pace_needed_now, 50, kTol);  // (3650 - 3600) / 1
  EXPECT_NEAR(p.goals[0].gap, -50, kTol);              // 3600 - 3650 * 365 / 365
  EXPECT_NEAR(p.goals[0].gap_days, -5, kTol);          // -50 / (3650 / 365)
  EXPECT_NEAR(p.projection, 3600, kTol);               // 3600 / 365 * 365
  EXPECT_TRUE(p.goals[1].reached);
}

TEST(PacingTest, PastYearIsCompleteAndNeedsNothing) {
  // Looking at 2025 from 1 January 2026: nothing is left to ride.
  std::vector<DailyTotals> days{Day(D(2025, 7, 1), 3600)};
  auto p = Compute(2025, D(2026, 1, 1), days, {Km(3650), Km(3000)});
  EXPECT_EQ(p.phase, YearPhase::kComplete);
  ASSERT_TRUE(p.through.has_value());
  EXPECT_EQ(FormatDate(*p.through), "2025-12-31");
  EXPECT_EQ(p.days_left, 0);
  EXPECT_EQ(p.days_elapsed, 365);
  EXPECT_EQ(p.cumulative.size(), 365u);
  EXPECT_NEAR(p.projection, 3600, kTol);  // the year's total
  EXPECT_FALSE(p.goals[0].reached);       // missed by 50
  EXPECT_EQ(p.goals[0].pace_needed_now, 0);
  EXPECT_NEAR(p.goals[0].required_pace.back(), 50, kTol);  // what 31 December needed: 50 / 1
  EXPECT_TRUE(p.goals[1].reached);
  EXPECT_EQ(FormatDate(*p.goals[1].reached_on), "2025-07-01");
}

TEST(PacingTest, NoActivitiesYet) {
  // 10 January 2025 is index 9: 10 days elapsed, 365 - 9 = 356 left.
  auto p = Compute(2025, D(2025, 1, 10), {}, {});
  EXPECT_EQ(p.cumulative.size(), 10u);
  EXPECT_EQ(p.distance, 0);
  EXPECT_EQ(p.average_pace_now, 0);
  EXPECT_EQ(p.projection, 0);
  EXPECT_FALSE(p.momentum_pct_per_week.has_value());
  EXPECT_TRUE(p.default_goals);
  ASSERT_EQ(p.goals.size(), 3u);  // defaults from a projection of 0
  EXPECT_EQ(p.goals[0].target, 100);
  EXPECT_EQ(p.goals[1].target, 200);
  EXPECT_EQ(p.goals[2].target, 300);
  EXPECT_NEAR(p.goals[0].pace_needed_now, 100.0 / 356, kTol);
  EXPECT_NEAR(p.goals[0].gap, -100.0 * 10 / 365, kTol);  // behind the line by its 10 days
  EXPECT_EQ(p.goals[0].progress_pct, 0);
}

TEST(PacingTest, YearNotStartedYet) {
  auto goals = std::vector<DistanceGoal>{Km(1000)};
  auto p = Compute(2025, D(2024, 12, 15), {Day(D(2025, 1, 1), 50)}, goals);
  EXPECT_EQ(p.phase, YearPhase::kNotStarted);
  EXPECT_FALSE(p.through.has_value());
  EXPECT_TRUE(p.cumulative.empty());
  EXPECT_EQ(p.days_left, 365);
  EXPECT_EQ(p.distance, 0);
  EXPECT_NEAR(p.goals[0].pace_needed_now, 1000.0 / 365, kTol);
  EXPECT_EQ(p.goals[0].gap, 0);
}

TEST(PacingTest, MilesUseTheOriginalFactor) {
  // 100 km = 62.137 mi; a 1000 km goal is 621.37 mi; a 500 mi goal stays 500.
  std::vector<DailyTotals> days{Day(D(2025, 1, 1), 100)};
  std::vector<DistanceGoal> goals{Km(1000), {500, DistanceUnit::kMi, ""}};
  auto p = Compute(2025, D(2025, 1, 1), days, goals, DistanceUnit::kMi);
  EXPECT_NEAR(p.distance, 62.137, kTol);
  EXPECT_NEAR(p.goals[0].target, 621.37, kTol);
  EXPECT_NEAR(p.goals[1].target, 500, kTol);
  EXPECT_NEAR(p.goals[0].progress_pct, 10, kTol);  // same ratio in any unit
}

TEST(PacingTest, DefaultGoalsRoundUpToHundreds) {
  // P = 4321: 0.9 P = 3888.9 -> 3900; P -> 4400; 1.15 P = 4969.15 -> 5000.
  auto g = DefaultGoals(4321, DistanceUnit::kKm);
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0], (DistanceGoal{3900, DistanceUnit::kKm, "Conservative"}));
  EXPECT_EQ(g[1], (DistanceGoal{4400, DistanceUnit::kKm, "Target"}));
  EXPECT_EQ(g[2], (DistanceGoal{5000, DistanceUnit::kKm, "Stretch"}));
  // P = 5000: 4500 (exact multiple stays), 5000, 5750 -> 5800.
  auto h = DefaultGoals(5000, DistanceUnit::kMi);
  EXPECT_EQ(h[0].value, 4500);
  EXPECT_EQ(h[1].value, 5000);
  EXPECT_EQ(h[2].value, 5800);
  EXPECT_EQ(h[2].unit, DistanceUnit::kMi);
  // P = 50: all three would round to 100; kept unique: 100, 200, 300.
  auto s = DefaultGoals(50, DistanceUnit::kKm);
  EXPECT_EQ(s[0].value, 100);
  EXPECT_EQ(s[1].value, 200);
  EXPECT_EQ(s[2].value, 300);
  EXPECT_TRUE(ValidateGoals(s).empty());
}

TEST(PacingTest, MomentumIsTheRegressionSlopePerWeek) {
  // Days 0, 1, 2 with 10, 20, 30 km: slope 10 km/day per day, mean 20 km,
  // momentum = 100 * 7 * 10 / 20 = 350 % per week.
  std::vector<DailyTotals> rising{Day(D(2025, 1, 1), 10), Day(D(2025, 1, 2), 20), Day(D(2025, 1, 3), 30)};
  auto m = MomentumPctPerWeek(rising, 2025, D(2025, 1, 3));
  ASSERT_TRUE(m.has_value());
  EXPECT_NEAR(*m, 350, 1e-6);
  // Through 2 January only two days count: undefined.
  EXPECT_FALSE(MomentumPctPerWeek(rising, 2025, D(2025, 1, 2)).has_value());
  // Falling on days 0, 2, 4 with 30, 20, 10: slope -5 per day, mean 20:
  // 100 * 7 * -5 / 20 = -175 %.
  std::vector<DailyTotals> falling{Day(D(2025, 1, 1), 30), Day(D(2025, 1, 3), 20), Day(D(2025, 1, 5), 10)};
  EXPECT_NEAR(*MomentumPctPerWeek(falling, 2025, D(2025, 1, 31)), -175, 1e-6);
}

TEST(PacingTest, MomentumLooksAtTheLastFourteenActivityDaysOnly) {
  // A 1000 km day, then 14 flat days of 10 km every other day: only the flat
  // days are in the window, so the slope and the momentum are 0.
  std::vector<DailyTotals> days{Day(D(2025, 1, 1), 1000)};
  for (int i = 0; i < 14; ++i) days.push_back(Day(AddDays(D(2025, 2, 1), 2 * i), 10));
  auto m = MomentumPctPerWeek(days, 2025, D(2025, 12, 31));
  ASSERT_TRUE(m.has_value());
  EXPECT_NEAR(*m, 0, 1e-9);
  // Zero-distance days are not activity days for momentum.
  std::vector<DailyTotals> zeros{Day(D(2025, 1, 1), 0), Day(D(2025, 1, 2), 0), Day(D(2025, 1, 3), 0)};
  EXPECT_FALSE(MomentumPctPerWeek(zeros, 2025, D(2025, 1, 3)).has_value());
}

TEST(PacingTest, ValidationNamesEachBadField) {
  EXPECT_TRUE(ValidateGoals(std::vector<DistanceGoal>{Km(5000, "Target")}).empty());
  auto none = ValidateGoals({});
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0].field, "goals");
  EXPECT_EQ(ValidateGoals(std::vector<DistanceGoal>(6, Km(1)))[0].field, "goals");

  auto dup = ValidateGoals(std::vector<DistanceGoal>{Km(5000), Km(6000), Km(5000)});
  ASSERT_EQ(dup.size(), 1u);
  EXPECT_EQ(dup[0].field, "goals[2].value");
  EXPECT_EQ(dup[0].message, "duplicates goals[0] (5000 km); goal values must be unique");

  // 1000 km and 621.37 mi are the same distance.
  auto cross = ValidateGoals(std::vector<DistanceGoal>{Km(1000), {621.37, DistanceUnit::kMi, ""}});
  ASSERT_EQ(cross.size(), 1u);
  EXPECT_EQ(cross[0].field, "goals[1].value");

  auto bad = ValidateGoals(std::vector<DistanceGoal>{Km(-1), Km(NAN), Km(0), Km(200000)});
  ASSERT_EQ(bad.size(), 4u);
  EXPECT_EQ(bad[0], (FieldError{"goals[0].value", "must be a positive number"}));
  EXPECT_EQ(bad[1].field, "goals[1].value");
  EXPECT_EQ(bad[2].field, "goals[2].value");
  EXPECT_EQ(bad[3], (FieldError{"goals[3].value", "must be at most 100000 km"}));
}

TEST(PacingTest, LabelsAreCountedInCharactersNotBytes) {
  std::string forty_accents;
  for (int i = 0; i < 40; ++i) forty_accents += "\xC3\xA9";  // U+00E9, 2 bytes each
  EXPECT_TRUE(ValidateGoals(std::vector<DistanceGoal>{Km(100, forty_accents)}).empty());
  auto long_label = ValidateGoals(std::vector<DistanceGoal>{Km(100, std::string(41, 'x'))});
  ASSERT_EQ(long_label.size(), 1u);
  EXPECT_EQ(long_label[0], (FieldError{"goals[0].label", "must be at most 40 characters"}));
  auto control = ValidateGoals(std::vector<DistanceGoal>{Km(100, "a\nb")});
  ASSERT_EQ(control.size(), 1u);
  EXPECT_EQ(control[0].field, "goals[0].label");
}

TEST(PacingTest, UnitsParseExactly) {
  EXPECT_EQ(ParseUnit("km"), DistanceUnit::kKm);
  EXPECT_EQ(ParseUnit("mi"), DistanceUnit::kMi);
  EXPECT_FALSE(ParseUnit("KM").has_value());
  EXPECT_FALSE(ParseUnit("miles").has_value());
  EXPECT_NEAR(ConvertDistance(62.137, DistanceUnit::kMi, DistanceUnit::kKm), 100, kTol);
  EXPECT_EQ(RoundUpToHundred(4500.0000000001), 4500);
  EXPECT_EQ(RoundUpToHundred(4500.01), 4600);
}

}  // namespace
}  // namespace dl::core
