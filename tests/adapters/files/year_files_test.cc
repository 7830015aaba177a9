#include "adapters/files/year_files.h"

#include <gtest/gtest.h>

#include <vector>

#include "adapters/files/atomic_file.h"
#include "test_dir.h"

namespace dl::adapters::files {
namespace {

namespace fs = std::filesystem;

core::Date D(const char* text) { return *core::ParseDate(text); }

core::DailyTotals Day(const char* date, int64_t mm, int64_t moving_s, int64_t elevation_cm,
                      std::vector<int64_t> ids) {
  core::DailyTotals t;
  t.date = D(date);
  t.category = "cycling";
  t.distance_mm = mm;
  t.moving_time_s = moving_s;
  t.elevation_gain_cm = elevation_cm;
  t.count = static_cast<int64_t>(ids.size());
  t.activity_ids = std::move(ids);
  return t;
}

// The hand-made case, deliberately out of order, with a day of another year
// that must be ignored. Miles of each value (mm * 62137 / 1e11):
//   6437 mm      -> 0.0039997...  -> 0.00
//   12874 mm     -> 0.0079995...  -> 0.01   (two 0.00 days make 0.01: the
//                                            series rounds the exact total)
//   16093440 mm  -> 9.9999808128  -> 10.00
//   16106314 mm  -> 10.0079803... -> 10.01
std::vector<core::DailyTotals> HandMadeDays() {
  return {
      Day("2024-01-05", 16093440, 3600, 12345, {14, 13}),
      Day("2024-01-02", 6437, 30, 0, {11}),
      Day("2024-01-03", 6437, 40, 50, {12}),
      Day("2023-12-31", 99000000, 100, 0, {1}),
  };
}

TEST(YearFilesTest, NumberFormatting) {
  EXPECT_EQ(FormatMiles(0), "0.00");
  EXPECT_EQ(FormatMiles(16093440), "10.00");     // 9.9999808128
  EXPECT_EQ(FormatMiles(1000000), "0.62");       // 0.62137
  EXPECT_EQ(FormatMiles(42195000), "26.22");     // 26.21870715
  EXPECT_EQ(FormatMiles(500000000), "310.69");   // exactly 310.685: half away from zero
  EXPECT_EQ(FormatMiles(-1000000), "-0.62");
  EXPECT_EQ(FormatMiles(-1), "0.00");            // no "-0.00"
  EXPECT_EQ(FormatKm(16093440), "16.093");
  EXPECT_EQ(FormatKm(1500), "0.002");            // 0.0015: half away from zero
  EXPECT_EQ(FormatKm(1499), "0.001");
  EXPECT_EQ(FormatKm(123456789012345), "123456789.012");
  // 9e12 km: mm * 62137 overflows 64 bits; the writer stays exact.
  EXPECT_EQ(FormatMiles(9000000000000000000), "5592330000000.00");
}

TEST(YearFilesTest, LegacySummaryIsByteExact) {
  EXPECT_EQ(RenderLegacySummary(2024, HandMadeDays()),
            "{\n"
            "  \"2024-01-02\": {\"distance_miles\": 0.00, \"activity_ids\": [11]},\n"
            "  \"2024-01-03\": {\"distance_miles\": 0.00, \"activity_ids\": [12]},\n"
            "  \"2024-01-05\": {\"distance_miles\": 10.00, \"activity_ids\": [13, 14]}\n"
            "}\n");
  EXPECT_EQ(RenderLegacySummary(2024, {}), "{}\n");
}

TEST(YearFilesTest, LegacyDistancesAreByteExact) {
  EXPECT_EQ(RenderLegacyDistances(2024, HandMadeDays(), D("2024-01-06")),
            "{\n"
            "  \"distance_traveled\": [\n"
            "    {\"x\": \"2024-01-01\", \"y\": 0.00},\n"
            "    {\"x\": \"2024-01-02\", \"y\": 0.00},\n"
            "    {\"x\": \"2024-01-03\", \"y\": 0.01},\n"
            "    {\"x\": \"2024-01-04\", \"y\": 0.01},\n"
            "    {\"x\": \"2024-01-05\", \"y\": 10.01},\n"
            "    {\"x\": \"2024-01-06\", \"y\": 10.01}\n"
            "  ]\n"
            "}\n");
  EXPECT_EQ(RenderLegacyDistances(2024, HandMadeDays(), D("2023-12-31")), "{\n  \"distance_traveled\": []\n}\n");
}

TEST(YearFilesTest, CategorySummaryIsByteExact) {
  // Totals: 6437 + 6437 + 16093440 = 16106314 mm = 16106.3 m, 16.106 km,
  // 10.01 mi; 30 + 40 + 3600 = 3670 s; 0 + 50 + 12345 = 12395 cm = 124.0 m
  // (123.95, half away from zero). 16093440 mm = 16093.4 m; 12345 cm = 123.5 m.
  EXPECT_EQ(RenderCategorySummary(2024, "cycling", HandMadeDays()),
            "{\n"
            "  \"year\": 2024,\n"
            "  \"category\": \"cycling\",\n"
            "  \"totals\": {\"distance_m\": 16106.3, \"distance_km\": 16.106, \"distance_miles\": 10.01, "
            "\"moving_time_s\": 3670, \"elevation_gain_m\": 124.0, \"count\": 4, \"active_days\": 3, "
            "\"first_activity_date\": \"2024-01-02\", \"last_activity_date\": \"2024-01-05\"},\n"
            "  \"days\": {\n"
            "    \"2024-01-02\": {\"distance_m\": 6.4, \"distance_km\": 0.006, \"distance_miles\": 0.00, "
            "\"moving_time_s\": 30, \"elevation_gain_m\": 0.0, \"count\": 1, \"activity_ids\": [11]},\n"
            "    \"2024-01-03\": {\"distance_m\": 6.4, \"distance_km\": 0.006, \"distance_miles\": 0.00, "
            "\"moving_time_s\": 40, \"elevation_gain_m\": 0.5, \"count\": 1, \"activity_ids\": [12]},\n"
            "    \"2024-01-05\": {\"distance_m\": 16093.4, \"distance_km\": 16.093, \"distance_miles\": 10.00, "
            "\"moving_time_s\": 3600, \"elevation_gain_m\": 123.5, \"count\": 2, \"activity_ids\": [13, 14]}\n"
            "  }\n"
            "}\n");
}

TEST(YearFilesTest, EmptyCategorySummaryHasZerosAndNullDates) {
  EXPECT_EQ(RenderCategorySummary(2023, "running", {}),
            "{\n"
            "  \"year\": 2023,\n"
            "  \"category\": \"running\",\n"
            "  \"totals\": {\"distance_m\": 0.0, \"distance_km\": 0.000, \"distance_miles\": 0.00, "
            "\"moving_time_s\": 0, \"elevation_gain_m\": 0.0, \"count\": 0, \"active_days\": 0, "
            "\"first_activity_date\": null, \"last_activity_date\": null},\n"
            "  \"days\": {}\n"
            "}\n");
}

TEST(YearFilesTest, CategoryDistancesAreByteExact) {
  // km: 6437 mm = 0.006; 12874 mm = 0.013; 16106314 mm = 16.106.
  EXPECT_EQ(RenderCategoryDistances(2024, "cycling", HandMadeDays(), D("2024-01-06")),
            "{\n"
            "  \"year\": 2024,\n"
            "  \"category\": \"cycling\",\n"
            "  \"through\": \"2024-01-06\",\n"
            "  \"distance_traveled\": [\n"
            "    {\"x\": \"2024-01-01\", \"km\": 0.000, \"miles\": 0.00},\n"
            "    {\"x\": \"2024-01-02\", \"km\": 0.006, \"miles\": 0.00},\n"
            "    {\"x\": \"2024-01-03\", \"km\": 0.013, \"miles\": 0.01},\n"
            "    {\"x\": \"2024-01-04\", \"km\": 0.013, \"miles\": 0.01},\n"
            "    {\"x\": \"2024-01-05\", \"km\": 16.106, \"miles\": 10.01},\n"
            "    {\"x\": \"2024-01-06\", \"km\": 16.106, \"miles\": 10.01}\n"
            "  ]\n"
            "}\n");
  EXPECT_EQ(RenderCategoryDistances(2024, "cycling", {}, D("2023-06-01")),
            "{\n  \"year\": 2024,\n  \"category\": \"cycling\",\n  \"through\": null,\n"
            "  \"distance_traveled\": []\n}\n");
}

TEST(YearFilesTest, EntriesOfOneDateAreMergedAndOrderDoesNotMatter) {
  auto days = HandMadeDays();
  std::vector<core::DailyTotals> split = {
      Day("2024-01-05", 16000000, 3000, 12000, {14}), Day("2024-01-02", 6437, 30, 0, {11}),
      Day("2024-01-05", 93440, 600, 345, {13}),       Day("2024-01-03", 6437, 40, 50, {12})};
  EXPECT_EQ(RenderCategorySummary(2024, "cycling", split), RenderCategorySummary(2024, "cycling", days));
  EXPECT_EQ(RenderLegacySummary(2024, split), RenderLegacySummary(2024, days));
  EXPECT_EQ(RenderLegacyDistances(2024, split, D("2024-12-31")), RenderLegacyDistances(2024, days, D("2024-12-31")));
}

TEST(YearFilesTest, WritesTheFourFilesWithTheRenderedBytes) {
  TestDir dir;
  auto days = HandMadeDays();
  ASSERT_TRUE(WriteYearFiles(dir.path(), 2024, "cycling", days, D("2024-12-31"), true).has_value());
  EXPECT_EQ(LegacySummaryPath(dir.path(), 2024), dir.path() / "activities/2024/summary_activities.json");
  EXPECT_EQ(LegacyDistancesPath(dir.path(), 2024), dir.path() / "activities/2024/distances.json");
  EXPECT_EQ(CategorySummaryPath(dir.path(), 2024, "cycling"), dir.path() / "activities/2024/cycling/summary.json");
  EXPECT_EQ(CategoryDistancesPath(dir.path(), 2024, "cycling"), dir.path() / "activities/2024/cycling/distances.json");
  EXPECT_EQ(ReadFile(LegacySummaryPath(dir.path(), 2024)).value(), RenderLegacySummary(2024, days));
  EXPECT_EQ(ReadFile(LegacyDistancesPath(dir.path(), 2024)).value(),
            RenderLegacyDistances(2024, days, D("2024-12-31")));
  EXPECT_EQ(ReadFile(CategorySummaryPath(dir.path(), 2024, "cycling")).value(),
            RenderCategorySummary(2024, "cycling", days));
  EXPECT_EQ(ReadFile(CategoryDistancesPath(dir.path(), 2024, "cycling")).value(),
            RenderCategoryDistances(2024, "cycling", days, D("2024-12-31")));
  EXPECT_EQ(TestDir::Names(YearDir(dir.path(), 2024)),
            (std::set<std::string>{"summary_activities.json", "distances.json", "cycling"}));
  EXPECT_EQ(ModeOf(LegacySummaryPath(dir.path(), 2024)), 0644u);
}

TEST(YearFilesTest, OtherCategoriesWriteOnlyTheirOwnFiles) {
  TestDir dir;
  std::vector<core::DailyTotals> runs = {Day("2022-05-01", 5000000, 1500, 0, {7})};
  ASSERT_TRUE(WriteYearFiles(dir.path(), 2022, "running", runs, D("2022-12-31"), false).has_value());
  EXPECT_EQ(TestDir::Names(YearDir(dir.path(), 2022)), (std::set<std::string>{"running"}));
  auto series = ReadFile(CategoryDistancesPath(dir.path(), 2022, "running")).value();
  EXPECT_NE(series.find("{\"x\": \"2022-12-31\", \"km\": 5.000, \"miles\": 3.11}\n  ]"), std::string::npos);
}

TEST(YearFilesTest, AYearThatLostItsActivitiesKeepsValidEmptyFiles) {
  TestDir dir;
  ASSERT_TRUE(WriteYearFiles(dir.path(), 2023, "cycling", HandMadeDays(), D("2023-12-31"), true).has_value());
  EXPECT_NE(ReadFile(LegacySummaryPath(dir.path(), 2023)).value(), "{}\n");  // the 2023-12-31 day

  ASSERT_TRUE(WriteYearFiles(dir.path(), 2023, "cycling", {}, D("2023-12-31"), true).has_value());
  EXPECT_EQ(ReadFile(LegacySummaryPath(dir.path(), 2023)).value(), "{}\n");
  auto distances = ReadFile(LegacyDistancesPath(dir.path(), 2023)).value();
  EXPECT_EQ(distances, RenderLegacyDistances(2023, {}, D("2023-12-31")));
  size_t points = 0, zeros = 0;
  for (size_t at = distances.find("{\"x\""); at != std::string::npos; at = distances.find("{\"x\"", at + 1)) ++points;
  for (size_t at = distances.find("\"y\": 0.00}"); at != std::string::npos; at = distances.find("\"y\": 0.00}", at + 1))
    ++zeros;
  EXPECT_EQ(points, 365u);
  EXPECT_EQ(zeros, 365u);
  EXPECT_EQ(ReadFile(CategorySummaryPath(dir.path(), 2023, "cycling")).value(),
            RenderCategorySummary(2023, "cycling", {}));
}

TEST(YearFilesTest, RejectsUnsafeCategoriesAndYears) {
  TestDir dir;
  for (const char* bad : {"../etc", "", "Cycling", "a/b", "trail run"}) {
    auto s = WriteYearFiles(dir.path(), 2024, bad, HandMadeDays(), D("2024-12-31"), false);
    ASSERT_FALSE(s.has_value()) << bad;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(WriteYearFiles(dir.path(), 0, "cycling", {}, D("2024-12-31"), true).has_value());
  EXPECT_FALSE(WriteYearFiles(dir.path(), 10000, "cycling", {}, D("2024-12-31"), true).has_value());
  EXPECT_TRUE(TestDir::Names(dir.path()).empty());
}

TEST(YearFilesTest, WriteErrorsComeBackAsValues) {
  TestDir dir;
  ASSERT_TRUE(AtomicWriteFile(dir.path() / "activities", "a file where a directory should be").has_value());
  auto s = WriteYearFiles(dir.path(), 2024, "cycling", HandMadeDays(), D("2024-12-31"), true);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
}

TEST(YearFilesTest, FileYearOutputImplementsThePort) {
  TestDir dir;
  FileYearOutput output(dir.path());
  ports::YearOutput& port = output;
  auto days = HandMadeDays();
  ASSERT_TRUE(port.WriteYear(2024, "cycling", days, D("2024-01-06"), true).has_value());
  EXPECT_EQ(ReadFile(LegacyDistancesPath(dir.path(), 2024)).value(),
            RenderLegacyDistances(2024, days, D("2024-01-06")));
}

}  // namespace
}  // namespace dl::adapters::files
