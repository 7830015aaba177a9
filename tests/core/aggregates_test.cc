// Golden cases for the aggregation math, small enough to check by hand. The
// expected numbers are written literally, with the arithmetic beside them.
#include "core/aggregates.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace dl::core {
namespace {

struct Spec {
  int64_t id;
  const char* type;
  const char* sport_type;
  const char* start_date_local;  // local wall clock (its Z is not UTC)
  const char* start_date;        // UTC
  double distance_m;
  int64_t moving_time_s = 0;
  double elevation_m = 0;
  bool manual = false;
};

Activity Make(const Spec& s) {
  Activity a;
  a.id = s.id;
  a.type = s.type;
  a.sport_type = s.sport_type;
  a.start_date_local = s.start_date_local;
  a.start_date = s.start_date;
  a.distance_m = s.distance_m;
  a.moving_time_s = s.moving_time_s;
  a.total_elevation_gain_m = s.elevation_m;
  a.manual = s.manual;
  return a;
}

std::vector<Activity> MakeAll(const std::vector<Spec>& specs) {
  std::vector<Activity> out;
  for (const auto& s : specs) out.push_back(Make(s));
  return out;
}

Date D(const char* text) { return *ParseDate(text); }

// ---------------------------------------------------------------- miles

struct MilesRow {
  int64_t mm;
  double miles;
};

TEST(AggregatesTest, MilesAreMetresOver1000Times0_62137) {
  const MilesRow rows[] = {
      {0, 0.0},
      {1, 0.00000062137},             // 0.000001 km * 0.62137
      {1000000, 0.62137},             // 1 km
      {16093440, 9.9999808128},       // 16.09344 km (10 statute miles) * 0.62137: the factor is not exact
      {42195000, 26.21870715},        // marathon: 42.195 * 0.62137 = 26.09754 + 0.12116715
      {160934400, 99.999808128},      // 160.9344 km * 0.62137
      {123456789, 76.71234498093},    // 123.456789 * 0.62137 = 76.42851 + 0.28383498093
  };
  for (const auto& row : rows) {
    EXPECT_DOUBLE_EQ(MmToMiles(row.mm), row.miles) << row.mm << " mm";
  }
  EXPECT_DOUBLE_EQ(MmToKm(16093440), 16.09344);
}

TEST(AggregatesTest, DistanceIsKeptInWholeMillimetres) {
  Activity a;
  a.distance_m = 16093.44;
  EXPECT_EQ(a.DistanceMm(), 16093440);
  a.distance_m = 28099.1;  // Strava sends 0.1 m resolution
  EXPECT_EQ(a.DistanceMm(), 28099100);
  a.total_elevation_gain_m = 312.7;
  EXPECT_EQ(a.ElevationGainCm(), 31270);
}

// ---------------------------------------------------------------- daily totals

struct DayRow {
  const char* date;
  int64_t distance_mm;
  int64_t count;
  std::vector<int64_t> ids;
  int64_t moving_time_s = 0;
  int64_t elevation_gain_cm = 0;
};

struct GoldenDays {
  const char* name;
  std::vector<Spec> activities;
  int year;
  std::vector<DayRow> cycling;  // expected BuildYear(year, "cycling")
};

std::vector<GoldenDays> GoldenDayCases() {
  return {
      {"same day sums and sorts ids",
       {{30, "Ride", "Ride", "2024-03-05T07:00:00Z", "2024-03-05T12:00:00Z", 10000.0, 1800, 120.5},
        {10, "Ride", "Ride", "2024-03-05T18:30:00Z", "2024-03-05T23:30:00Z", 2500.5, 600, 10.0},
        {20, "VirtualRide", "VirtualRide", "2024-03-06T09:00:00Z", "2024-03-06T14:00:00Z", 0.1, 60}},
       2024,
       // 10000.0 m + 2500.5 m = 12500.5 m = 12500500 mm; 1800 + 600 s; 12050 + 1000 cm
       {{"2024-03-05", 12500500, 2, {10, 30}, 2400, 13050}, {"2024-03-06", 100, 1, {20}, 60, 0}}},
      {"23:59 local on 31 December stays in the old year (UTC start is in the new one)",
       {{1, "Ride", "Ride", "2024-12-31T23:59:00Z", "2025-01-01T05:59:00Z", 5000.0}},
       2024,
       {{"2024-12-31", 5000000, 1, {1}}}},
      {"...and is not in the new year",
       {{1, "Ride", "Ride", "2024-12-31T23:59:00Z", "2025-01-01T05:59:00Z", 5000.0}},
       2025,
       {}},
      {"20:00 on 31 December in New York (01:00 UTC on 1 January) is the old year",
       {{2, "Ride", "Ride", "2023-12-31T20:00:00Z", "2024-01-01T01:00:00Z", 30000.0}},
       2023,
       {{"2023-12-31", 30000000, 1, {2}}}},
      {"08:00 on 1 January in Auckland (19:00 UTC on 31 December) is the new year",
       {{3, "Ride", "Ride", "2025-01-01T08:00:00Z", "2024-12-31T19:00:00Z", 1000.0}},
       2024,
       {}},
      {"manual zero-distance activity counts but adds nothing",
       {{8, "Ride", "Ride", "2024-07-04T10:00:00Z", "2024-07-04T14:00:00Z", 20000.0},
        {7, "Ride", "Ride", "2024-07-04T17:00:00Z", "2024-07-04T21:00:00Z", 0.0, 3600, 0, true}},
       2024,
       {{"2024-07-04", 20000000, 2, {7, 8}, 3600, 0}}},
      {"cycling is legacy type Ride or VirtualRide",
       {{1, "Ride", "Ride", "2024-06-01T08:00:00Z", "2024-06-01T06:00:00Z", 1000.0},
        {2, "VirtualRide", "VirtualRide", "2024-06-01T09:00:00Z", "2024-06-01T07:00:00Z", 1000.0},
        {3, "Ride", "MountainBikeRide", "2024-06-01T10:00:00Z", "2024-06-01T08:00:00Z", 1000.0},
        {4, "Ride", "GravelRide", "2024-06-01T11:00:00Z", "2024-06-01T09:00:00Z", 1000.0},
        {5, "EBikeRide", "EBikeRide", "2024-06-01T12:00:00Z", "2024-06-01T10:00:00Z", 1000.0},
        {6, "EBikeRide", "EMountainBikeRide", "2024-06-01T13:00:00Z", "2024-06-01T11:00:00Z", 1000.0},
        {9, "Run", "Run", "2024-06-01T14:00:00Z", "2024-06-01T12:00:00Z", 1000.0}},
       2024,
       // 4 rides of 1000 m: 4000000 mm; the two e-bike rides and the run are elsewhere
       {{"2024-06-01", 4000000, 4, {1, 2, 3, 4}}}},
      {"activities without a readable local date are skipped",
       {{1, "Ride", "Ride", "", "2024-06-01T06:00:00Z", 1000.0},
        {2, "Ride", "Ride", "2024-06-01T08:00:00Z", "2024-06-01T06:00:00Z", 2000.0}},
       2024,
       {{"2024-06-01", 2000000, 1, {2}}}},
  };
}

TEST(AggregatesTest, GoldenDailyTotals) {
  for (const auto& c : GoldenDayCases()) {
    SCOPED_TRACE(c.name);
    auto activities = MakeAll(c.activities);
    auto days = BuildYear(activities, c.year, "cycling", SportCategories::Default());
    ASSERT_EQ(days.size(), c.cycling.size());
    for (size_t i = 0; i < days.size(); ++i) {
      const auto& want = c.cycling[i];
      EXPECT_EQ(FormatDate(days[i].date), want.date);
      EXPECT_EQ(days[i].category, "cycling");
      EXPECT_EQ(days[i].distance_mm, want.distance_mm);
      EXPECT_EQ(days[i].count, want.count);
      EXPECT_EQ(days[i].activity_ids, want.ids);
      EXPECT_EQ(days[i].moving_time_s, want.moving_time_s);
      EXPECT_EQ(days[i].elevation_gain_cm, want.elevation_gain_cm);
    }
  }
}

TEST(AggregatesTest, SummarizeDaysOrdersByDateThenCategory) {
  auto activities = MakeAll({
      {1, "Run", "Run", "2024-06-02T08:00:00Z", "2024-06-02T06:00:00Z", 5000.0},
      {2, "Ride", "Ride", "2024-06-02T09:00:00Z", "2024-06-02T07:00:00Z", 1000.0},
      {3, "EBikeRide", "EBikeRide", "2024-06-01T09:00:00Z", "2024-06-01T07:00:00Z", 1000.0},
      {4, "Workout", "Pickleball", "2024-06-02T10:00:00Z", "2024-06-02T08:00:00Z", 0.0},
  });
  auto days = SummarizeDays(activities, SportCategories::Default());
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& d : days) got.emplace_back(FormatDate(d.date), d.category);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"2024-06-01", "e-bike"}, {"2024-06-02", "cycling"}, {"2024-06-02", "other"}, {"2024-06-02", "running"}};
  EXPECT_EQ(got, want);
}

// ---------------------------------------------------------------- cumulative

struct PointRow {
  size_t index;
  const char* date;
  int64_t distance_mm;
};

std::vector<DailyTotals> Days(std::vector<std::pair<const char*, int64_t>> rows) {
  std::vector<DailyTotals> out;
  for (const auto& [date, mm] : rows) {
    DailyTotals t;
    t.date = D(date);
    t.category = "cycling";
    t.distance_mm = mm;
    t.count = 1;
    out.push_back(t);
  }
  return out;
}

void ExpectPoints(const std::vector<CumulativePoint>& series, const std::vector<PointRow>& rows) {
  for (const auto& row : rows) {
    ASSERT_LT(row.index, series.size());
    EXPECT_EQ(FormatDate(series[row.index].date), row.date) << "index " << row.index;
    EXPECT_EQ(series[row.index].distance_mm, row.distance_mm) << row.date;
  }
}

// One point per consecutive day from 1 January, never decreasing.
void ExpectConsecutive(const std::vector<CumulativePoint>& series, int year) {
  Date jan1{std::chrono::year{year}, std::chrono::January, std::chrono::day{1}};
  for (size_t i = 0; i < series.size(); ++i) {
    ASSERT_EQ(series[i].date, AddDays(jan1, static_cast<int>(i))) << i;
    if (i > 0) {
      ASSERT_GE(series[i].distance_mm, series[i - 1].distance_mm) << i;
    }
  }
}

TEST(AggregatesTest, LeapYear2024Has366PointsWith29February) {
  auto days = Days({{"2024-02-28", 10000000}, {"2024-02-29", 5000500}, {"2024-12-31", 1234500}});
  auto series = Cumulative(days, 2024, D("2024-12-31"));
  ASSERT_EQ(series.size(), 366u);
  ExpectConsecutive(series, 2024);
  ExpectPoints(series, {
                           {0, "2024-01-01", 0},
                           {57, "2024-02-27", 0},
                           {58, "2024-02-28", 10000000},   // 31 + 27 = day index 58
                           {59, "2024-02-29", 15000500},   // 10000000 + 5000500
                           {60, "2024-03-01", 15000500},   // no activity: repeats
                           {364, "2024-12-30", 15000500},
                           {365, "2024-12-31", 16235000},  // 15000500 + 1234500
                       });
}

TEST(AggregatesTest, CommonYear2023Has365PointsAndNo29February) {
  auto days = Days({{"2023-02-28", 1000000}, {"2023-03-01", 2000000}});
  auto series = Cumulative(days, 2023, D("2023-12-31"));
  ASSERT_EQ(series.size(), 365u);
  ExpectConsecutive(series, 2023);
  ExpectPoints(series, {
                           {58, "2023-02-28", 1000000},
                           {59, "2023-03-01", 3000000},  // straight after 28 February
                           {364, "2023-12-31", 3000000},
                       });
}

TEST(AggregatesTest, CurrentYearSeriesStopsAtToday) {
  // 2025-03-10 is day 31 + 28 + 10 = 69 of the year: 69 points.
  auto days = Days({{"2025-01-15", 7000000}, {"2025-03-10", 1000000}, {"2025-03-11", 99000000}});
  auto series = Cumulative(days, 2025, D("2025-03-10"));
  ASSERT_EQ(series.size(), 69u);
  ExpectConsecutive(series, 2025);
  ExpectPoints(series, {{13, "2025-01-14", 0}, {14, "2025-01-15", 7000000}, {68, "2025-03-10", 8000000}});
}

TEST(AggregatesTest, SeriesBoundsClampToTheYear) {
  auto days = Days({{"2024-12-31", 1000000}, {"2025-06-01", 2000000}, {"2026-01-01", 4000000}});
  auto past = Cumulative(days, 2025, D("2026-02-01"));  // through beyond 31 December
  ASSERT_EQ(past.size(), 365u);
  EXPECT_EQ(FormatDate(past.back().date), "2025-12-31");
  EXPECT_EQ(past.back().distance_mm, 2000000);  // other years' days are not counted
  EXPECT_TRUE(Cumulative(days, 2025, D("2024-12-31")).empty());  // through before 1 January
  auto first_day = Cumulative(days, 2025, D("2025-01-01"));
  ASSERT_EQ(first_day.size(), 1u);
  EXPECT_EQ(first_day[0].distance_mm, 0);
}

TEST(AggregatesTest, EndToEndYearWithDecemberEdges) {
  // 31 Dec 2023 20:00 New York (old year), 1 Jan 2024 08:00 Auckland,
  // 31 Dec 2024 23:59 Chicago: 2024 holds the last two.
  auto activities = MakeAll({
      {1, "Ride", "Ride", "2023-12-31T20:00:00Z", "2024-01-01T01:00:00Z", 11111.1},
      {2, "Ride", "Ride", "2024-01-01T08:00:00Z", "2023-12-31T19:00:00Z", 2222.2},
      {3, "Ride", "Ride", "2024-12-31T23:59:00Z", "2025-01-01T05:59:00Z", 3333.3},
  });
  auto days = BuildYear(activities, 2024, "cycling", SportCategories::Default());
  auto series = Cumulative(days, 2024, D("2024-12-31"));
  ASSERT_EQ(series.size(), 366u);
  ExpectPoints(series, {{0, "2024-01-01", 2222200}, {364, "2024-12-30", 2222200}, {365, "2024-12-31", 5555500}});
}

// ---------------------------------------------------------------- order

std::vector<Activity> RandomYear(uint32_t seed, int n) {
  static const std::pair<const char*, const char*> kSports[] = {
      {"Ride", "Ride"},   {"Ride", "GravelRide"}, {"VirtualRide", "VirtualRide"}, {"EBikeRide", "EBikeRide"},
      {"Run", "Run"},     {"Walk", "Walk"},       {"Workout", "Pickleball"}};
  std::mt19937 rng(seed);
  std::vector<Activity> out;
  for (int i = 0; i < n; ++i) {
    Activity a;
    a.id = 10000000000 + i;
    auto sport = kSports[rng() % std::size(kSports)];
    a.type = sport.first;
    a.sport_type = sport.second;
    Date d = AddDays(D("2024-01-01"), static_cast<int>(rng() % 366));
    a.start_date_local = FormatDate(d) + "T" + (rng() % 2 ? "07" : "23") + ":59:00Z";
    a.distance_m = static_cast<double>(rng() % 2000001) / 10.0;  // 0 to 200 km, 0.1 m steps
    a.moving_time_s = static_cast<int64_t>(rng() % 20000);
    a.total_elevation_gain_m = static_cast<double>(rng() % 20001) / 10.0;
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<std::pair<std::string, int64_t>> Flat(const std::vector<CumulativePoint>& series) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& p : series) out.emplace_back(FormatDate(p.date), p.distance_mm);
  return out;
}

TEST(AggregatesTest, OutputDoesNotDependOnInputOrder) {
  auto activities = RandomYear(20240229, 400);
  const auto& cats = SportCategories::Default();
  const auto want_days = SummarizeDays(activities, cats);
  const auto want_series = Flat(Cumulative(BuildYear(activities, 2024, "cycling", cats), 2024, D("2024-12-31")));
  int64_t total_mm = 0;
  for (const auto& a : activities) total_mm += a.DistanceMm();
  int64_t summed_mm = 0;
  for (const auto& d : want_days) summed_mm += d.distance_mm;
  ASSERT_EQ(summed_mm, total_mm);  // nothing lost or counted twice

  std::mt19937 rng(7);
  for (int round = 0; round < 100; ++round) {
    std::shuffle(activities.begin(), activities.end(), rng);
    ASSERT_EQ(SummarizeDays(activities, cats), want_days) << "round " << round;
    ASSERT_EQ(Flat(Cumulative(BuildYear(activities, 2024, "cycling", cats), 2024, D("2024-12-31"))), want_series)
        << "round " << round;
    // In date order but shuffled within each day (as the store's year query
    // reads them): SumDays' per-day ordering gives the same totals.
    std::stable_sort(activities.begin(), activities.end(), [](const Activity& a, const Activity& b) {
      return a.start_date_local.substr(0, 10) < b.start_date_local.substr(0, 10);
    });
    ASSERT_EQ(SummarizeDays(activities, cats), want_days) << "date-ordered round " << round;
  }
}

}  // namespace
}  // namespace dl::core
