#include "contract/store_contract.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include "core/aggregates.h"
#include "core/sports.h"
#include "core/time.h"

namespace dl::contract {
namespace {

using core::Activity;
using ports::UpsertOptions;

const core::SportCategories& Categories() { return core::SportCategories::Default(); }

// Strava's raw polyline is most of the payload; vary it with the id.
std::string Polyline(int64_t id) {
  std::string out;
  uint64_t x = static_cast<uint64_t>(id) * 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < 900; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out.push_back(static_cast<char>(63 + (x % 60)));
  }
  return out;
}

std::string RawJson(const Activity& a) {
  return "{\"resource_state\":2,\"athlete\":{\"id\":" + std::to_string(a.athlete_id) + ",\"resource_state\":1}," +
         "\"name\":\"" + a.name + "\",\"distance\":" + std::to_string(a.distance_m) +
         ",\"moving_time\":" + std::to_string(a.moving_time_s) + ",\"type\":\"" + a.type + "\",\"sport_type\":\"" +
         a.sport_type + "\",\"id\":" + std::to_string(a.id) + ",\"start_date\":\"" + a.start_date +
         "\",\"start_date_local\":\"" + a.start_date_local +
         "\",\"timezone\":\"(GMT-05:00) America/New_York\",\"utc_offset\":-18000.0,\"map\":{\"id\":\"" +
         a.map_id.value_or("") + "\",\"summary_polyline\":\"" + a.map_summary_polyline.value_or("") +
         "\"},\"note\":\"caf\xC3\xA9 \\\"quoted\\\" \\u00e9\"}";
}

// Recomputes start_date (UTC) and the raw JSON after a test changed fields.
void Refresh(Activity& a) {
  auto local = core::ParseNaiveEpoch(a.start_date_local);
  a.start_date = local ? core::FormatIsoUtc(core::TimePoint{std::chrono::seconds{*local + 5 * 3600}}) : "";
  a.raw_json = RawJson(a);
}

// What the daily totals of `athlete_id` should be, per year.
std::map<int, std::vector<core::DailyTotals>> Expected(const std::map<std::pair<int64_t, int64_t>, Activity>& model,
                                                       int64_t athlete_id) {
  std::vector<Activity> mine;
  for (const auto& [key, a] : model) {
    if (key.first == athlete_id) mine.push_back(a);
  }
  std::map<int, std::vector<core::DailyTotals>> out;
  for (auto& d : core::SummarizeDays(mine, Categories())) out[static_cast<int>(d.date.year())].push_back(std::move(d));
  return out;
}

template <class T>
T Must(Result<T> r) {
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  if (!r) throw std::runtime_error(r.error().message);  // ends the test; GoogleTest reports it
  return std::move(*r);
}

void MustOk(const Status& s) {
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
  if (!s) throw std::runtime_error(s.error().message);
}

UpsertOptions At(int64_t now, int64_t run = 0, int64_t fence = 0, bool webhook = false) {
  UpsertOptions o;
  o.now_epoch_s = now;
  o.seen_by_run = run;
  o.fence_epoch_s = fence;
  o.from_webhook = webhook;
  return o;
}

ports::ArchiveRequest Archive(int64_t athlete_id, std::vector<int64_t> ids, std::string reason, int64_t now,
                              int64_t fence) {
  ports::ArchiveRequest r;
  r.athlete_id = athlete_id;
  r.ids = std::move(ids);
  r.reason = std::move(reason);
  r.now_epoch_s = now;
  r.fence_epoch_s = fence;
  return r;
}

ports::UpsertSummary Upsert(ports::Store& s, const std::vector<Activity>& v, const UpsertOptions& o) {
  return Must(s.UpsertActivities(v, o));
}

}  // namespace

void PrintTo(const StoreContractParam& param, std::ostream* os) { *os << param.name; }

std::string StoreContractName(const ::testing::TestParamInfo<StoreContractParam>& info) { return info.param.name; }

void StoreContractTest::SetUp() {
  store_ = GetParam().make();
  ASSERT_NE(store_, nullptr) << "the store factory returned nothing";
}

Activity MakeActivity(int64_t athlete_id, int64_t id, const std::string& start_date_local, const std::string& type,
                      double distance_m) {
  Activity a;
  a.id = id;
  a.athlete_id = athlete_id;
  a.name = "Ride \xE2\x98\x85 " + std::to_string(id);
  a.distance_m = distance_m;
  a.moving_time_s = 3600 + id % 100;
  a.elapsed_time_s = 4000;
  a.total_elevation_gain_m = 321.7;
  a.elev_high_m = 1200.25;
  a.elev_low_m = -3.5;
  a.type = type;
  a.sport_type = type == "Ride" ? "GravelRide" : type;
  a.workout_type = 10;
  a.start_date_local = start_date_local;
  a.timezone = "(GMT-05:00) America/New_York";
  a.utc_offset_s = -18000;
  a.start_latlng = core::LatLng{40.712776, -74.005974};
  a.end_latlng = core::LatLng{40.73061, -73.935242};
  a.map_id = "a" + std::to_string(id);
  a.map_summary_polyline = Polyline(id);
  a.trainer = false;
  a.commute = true;
  a.manual = false;
  a.is_private = true;
  a.flagged = false;
  a.visibility = "followers_only";
  a.average_speed_mps = 6.944;
  a.max_speed_mps = 15.1;
  a.average_cadence = 85.5;
  a.average_watts = 201.3;
  a.weighted_average_watts = 215.0;
  a.max_watts = 812;
  a.kilojoules = 723.4;
  a.device_watts = true;
  a.has_heartrate = true;
  a.average_heartrate = 141.2;
  a.max_heartrate = 178;
  a.average_temp_c = -2.5;
  a.suffer_score = 87;
  a.gear_id = "b12345";
  a.device_name = "Garmin Edge 540";
  a.external_id = "garmin_ping_" + std::to_string(id);
  a.upload_id = id * 7 + 1;
  a.achievement_count = 3;
  a.kudos_count = 12;
  a.comment_count = 1;
  a.athlete_count = 2;
  a.photo_count = 0;
  a.total_photo_count = 4;
  a.pr_count = 1;
  a.description = "line one\nline two";
  a.calories = 650.5;
  Refresh(a);
  return a;
}

// ---- upsert counts ----

TEST_P(StoreContractTest, UpsertCountsInsertedUpdatedUnchangedFromTheData) {
  std::vector<Activity> v = {MakeActivity(1, 101, "2024-03-01T08:00:00Z"), MakeActivity(1, 102, "2024-03-02T08:00:00Z"),
                             MakeActivity(1, 103, "2024-03-03T08:00:00Z")};
  auto first = Upsert(store(), v, At(1000));
  EXPECT_EQ(first.inserted, 3);
  EXPECT_EQ(first.updated + first.unchanged + first.fenced, 0);

  auto again = Upsert(store(), v, At(1100));
  EXPECT_EQ(again.unchanged, 3);
  EXPECT_EQ(again.inserted + again.updated + again.fenced, 0);

  v[0].name = "Renamed";  // a typed field
  v[1].raw_json += " ";   // only the raw JSON
  auto changed = Upsert(store(), v, At(1200));
  EXPECT_EQ(changed.updated, 2);
  EXPECT_EQ(changed.unchanged, 1);
  EXPECT_EQ(changed.inserted, 0);
  EXPECT_EQ(Must(store().GetActivity(1, 101))->name, "Renamed");
  EXPECT_EQ(Must(store().GetActivity(1, 102))->raw_json, v[1].raw_json);
}

TEST_P(StoreContractTest, RepeatedIdInOneBatchSeesTheEarlierWrite) {
  Activity a = MakeActivity(1, 5, "2024-05-05T10:00:00Z");
  Activity b = a;
  b.distance_m = 999;
  Refresh(b);
  auto s = Upsert(store(), {a, a, b}, At(10));
  EXPECT_EQ(s.inserted, 1);
  EXPECT_EQ(s.unchanged, 1);
  EXPECT_EQ(s.updated, 1);
  EXPECT_EQ(Must(store().GetActivity(1, 5))->distance_m, 999);
}

TEST_P(StoreContractTest, RejectsNonPositiveIdsAndWritesNothing) {
  Activity bad = MakeActivity(1, 7, "2024-01-01T10:00:00Z");
  bad.athlete_id = 0;
  UpsertOptions o = At(10);
  o.checkpoint = std::make_pair(std::string("backfill:1:2024-2024"), std::string("page=1"));
  auto r = store().UpsertActivities(std::vector<Activity>{MakeActivity(1, 6, "2024-01-01T09:00:00Z"), bad}, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(Must(store().GetActivity(1, 6)).has_value());
  EXPECT_FALSE(Must(store().LoadCheckpoint("backfill:1:2024-2024")).has_value());
}

// ---- reading back ----

TEST_P(StoreContractTest, GetActivityRoundTripsEveryField) {
  Activity full = MakeActivity(9, 123456789012, "2023-07-14T06:30:00Z");
  full.distance_m = 12345.678901234;
  full.utc_offset_s = -18000.5;
  Activity bare;  // every optional absent, empty strings, zeros
  bare.id = 2;
  bare.athlete_id = 9;
  bare.start_date_local = "2023-07-15T06:30:00Z";
  bare.raw_json = "{}";
  Activity no_end = MakeActivity(9, 3, "2023-07-16T06:30:00Z");
  no_end.end_latlng.reset();
  no_end.start_latlng = core::LatLng{0, 0};
  Upsert(store(), {full, bare, no_end}, At(1));
  EXPECT_EQ(Must(store().GetActivity(9, full.id)), full);
  EXPECT_EQ(Must(store().GetActivity(9, 2)), bare);
  EXPECT_EQ(Must(store().GetActivity(9, 3)), no_end);
  EXPECT_FALSE(Must(store().GetActivity(9, 4)).has_value());
  EXPECT_FALSE(Must(store().GetActivity(8, full.id)).has_value());
}

TEST_P(StoreContractTest, ActivitiesInLocalYearOrderedByStartAndSplitAtLocalMidnight) {
  // 23:59 local on 31 December in New York is already 1 January in UTC.
  Activity late = MakeActivity(1, 30, "2024-12-31T23:59:00Z");
  ASSERT_EQ(late.start_date, "2025-01-01T04:59:00Z");
  Activity first = MakeActivity(1, 10, "2024-01-01T00:00:00Z");
  Activity mid = MakeActivity(1, 20, "2024-06-01T12:00:00Z");
  Activity next = MakeActivity(1, 40, "2025-01-01T00:00:00Z");
  Activity before = MakeActivity(1, 5, "2023-12-31T23:59:59Z");
  Upsert(store(), {late, next, mid, before, first}, At(1));

  auto in2024 = Must(store().ActivitiesInLocalYear(1, 2024));
  std::vector<int64_t> ids;
  for (const auto& a : in2024) ids.push_back(a.id);
  EXPECT_EQ(ids, (std::vector<int64_t>{10, 20, 30}));
  EXPECT_EQ(in2024.back(), late);
  EXPECT_EQ(Must(store().ActivitiesInLocalYear(1, 2025)).size(), 1u);
  EXPECT_EQ(Must(store().ActivitiesInLocalYear(1, 2023)).size(), 1u);

  auto days = Must(store().DailyForYear(1, 2024, "cycling"));
  ASSERT_EQ(days.size(), 3u);
  EXPECT_EQ(core::FormatDate(days.back().date), "2024-12-31");
  EXPECT_EQ(days.back().activity_ids, std::vector<int64_t>{30});
}

// ---- fencing and reconciliation ----

TEST_P(StoreContractTest, WebhookChangeAfterRunStartFencesTheBackfillCopy) {
  Activity a = MakeActivity(1, 50, "2024-04-04T10:00:00Z");
  Upsert(store(), {a}, At(100));
  Activity live = a;
  live.name = "Edited on Strava";
  Refresh(live);
  EXPECT_EQ(Upsert(store(), {live}, At(1000, 0, 0, /*webhook=*/true)).updated, 1);

  // A backfill that started at 900 holds the older copy: left alone, but seen.
  auto fenced = Upsert(store(), {a}, At(1200, /*run=*/7, /*fence=*/900));
  EXPECT_EQ(fenced.fenced, 1);
  EXPECT_EQ(fenced.updated, 0);
  EXPECT_EQ(Must(store().GetActivity(1, 50))->name, "Edited on Strava");
  EXPECT_TRUE(Must(store().UnseenInLocalYear(1, 2024, 7)).empty());

  // A run that started after the webhook change overwrites as usual.
  auto later = Upsert(store(), {a}, At(1300, 8, 1100));
  EXPECT_EQ(later.updated, 1);
  EXPECT_EQ(Must(store().GetActivity(1, 50))->name, a.name);
}

TEST_P(StoreContractTest, UnchangedWebhookUpsertStillFences) {
  Activity a = MakeActivity(1, 51, "2024-04-04T10:00:00Z");
  Upsert(store(), {a}, At(100));
  EXPECT_EQ(Upsert(store(), {a}, At(1000, 0, 0, true)).unchanged, 1);
  Activity stale = a;
  stale.name = "stale";
  Refresh(stale);
  EXPECT_EQ(Upsert(store(), {stale}, At(1100, 3, 900)).fenced, 1);
  EXPECT_EQ(Upsert(store(), {stale}, At(1100, 3, 0)).updated, 1);  // no fence: overwritten
}

TEST_P(StoreContractTest, ArchivedAfterRunStartIsNotReinsertedByThatRun) {
  Activity a = MakeActivity(1, 52, "2024-04-04T10:00:00Z");
  Upsert(store(), {a}, At(100));
  ASSERT_EQ(Must(store().ArchiveActivities(Archive(1, {52}, "delete webhook confirmed", 1000, 0))), 1);
  EXPECT_EQ(Upsert(store(), {a}, At(1100, 4, 900)).fenced, 1);
  EXPECT_FALSE(Must(store().GetActivity(1, 52)).has_value());
  EXPECT_EQ(Upsert(store(), {a}, At(1200, 5, 1100)).inserted, 1);
}

// The delete is confirmed before the older copy is stored (a backfill page
// still queued in the run's write-ahead, or another process's fetch in
// flight): the absent id is remembered, so that copy is not stored either.
TEST_P(StoreContractTest, DeletedBeforeItWasStoredIsNotInsertedByAnOlderCopy) {
  Activity a = MakeActivity(1, 53, "2024-04-04T10:00:00Z");
  Activity b = MakeActivity(1, 54, "2024-04-05T10:00:00Z");
  // A tombstone is no archived activity: not counted.
  EXPECT_EQ(Must(store().ArchiveActivities(Archive(1, {53}, "delete webhook confirmed", 1000, 1001))), 0);

  // A run that started at or before the delete: fenced, alone or in a page.
  auto single = Upsert(store(), {a}, At(1100, 4, 1000));
  EXPECT_EQ(single.fenced, 1);
  EXPECT_EQ(single.inserted, 0);
  auto page = Upsert(store(), {b, a}, At(1100, 4, 900));
  EXPECT_EQ(page.fenced, 1);
  EXPECT_EQ(page.inserted, 1);
  EXPECT_FALSE(Must(store().GetActivity(1, 53)).has_value());
  EXPECT_TRUE(Must(store().GetActivity(1, 54)).has_value());
  auto days = Must(store().DailyForYear(1, 2024, ""));
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].activity_ids, std::vector<int64_t>{54});
  EXPECT_EQ(Must(store().UnseenInLocalYear(1, 2024, 5)), std::vector<int64_t>{54});

  // Another athlete's id 53 is not affected; an unfenced write neither.
  EXPECT_EQ(Upsert(store(), {MakeActivity(2, 53, "2024-04-04T10:00:00Z")}, At(1100, 4, 900)).inserted, 1);
  // A run that started after the delete stores it as usual.
  EXPECT_EQ(Upsert(store(), {a}, At(1200, 5, 1001)).inserted, 1);
  EXPECT_TRUE(Must(store().GetActivity(1, 53)).has_value());
}

TEST_P(StoreContractTest, TombstonesExpireAfterTheRetention) {
  EXPECT_EQ(Must(store().ArchiveActivities(Archive(1, {55}, "delete webhook confirmed", 1000, 1001))), 0);
  const int64_t later = 1000 + ports::kTombstoneRetentionS + 1;
  EXPECT_EQ(Must(store().ArchiveActivities(Archive(1, {56}, "delete webhook confirmed", later, later + 1))), 0);
  // 55's tombstone is gone (no copy fetched before its delete is still on
  // its way); 56's still fences.
  EXPECT_EQ(Upsert(store(), {MakeActivity(1, 55, "2024-04-04T10:00:00Z")}, At(later, 6, 900)).inserted, 1);
  EXPECT_EQ(Upsert(store(), {MakeActivity(1, 56, "2024-04-04T11:00:00Z")}, At(later, 6, later)).fenced, 1);
}

TEST_P(StoreContractTest, UnseenInLocalYearListsWhatTheRunDidNotStamp) {
  std::vector<Activity> v = {MakeActivity(1, 1, "2024-02-01T10:00:00Z"), MakeActivity(1, 2, "2024-02-02T10:00:00Z"),
                             MakeActivity(1, 3, "2024-02-03T10:00:00Z"), MakeActivity(1, 4, "2025-02-03T10:00:00Z")};
  Upsert(store(), v, At(10, /*run=*/1));
  Activity webhook_only = MakeActivity(1, 9, "2024-03-03T10:00:00Z");
  Upsert(store(), {webhook_only}, At(20, 0, 0, true));

  EXPECT_EQ(Must(store().UnseenInLocalYear(1, 2024, 1)), std::vector<int64_t>{9});
  // Run 2 sees 1 and 2, unchanged: stamping still happens.
  auto s = Upsert(store(), {v[0], v[1]}, At(30, 2));
  EXPECT_EQ(s.unchanged, 2);
  EXPECT_EQ(Must(store().UnseenInLocalYear(1, 2024, 2)), (std::vector<int64_t>{3, 9}));
  EXPECT_EQ(Must(store().UnseenInLocalYear(1, 2025, 2)), std::vector<int64_t>{4});
  EXPECT_TRUE(Must(store().UnseenInLocalYear(2, 2024, 2)).empty());
}

TEST_P(StoreContractTest, ArchiveMovesTheRowAndUpdatesAggregates) {
  std::vector<Activity> v = {MakeActivity(1, 1, "2024-02-01T10:00:00Z", "Ride", 10000),
                             MakeActivity(1, 2, "2024-02-01T18:00:00Z", "Ride", 5000),
                             MakeActivity(1, 3, "2024-02-02T10:00:00Z", "Ride", 7000)};
  Upsert(store(), v, At(10));
  EXPECT_EQ(Must(store().ArchiveActivities(Archive(1, {2, 3, 99}, "not listed by Strava in backfill run 7", 50, 0))),
            2);
  EXPECT_FALSE(Must(store().GetActivity(1, 2)).has_value());
  auto days = Must(store().DailyForYear(1, 2024, ""));
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].distance_mm, 10000000);
  EXPECT_EQ(days[0].count, 1);
  EXPECT_EQ(days[0].activity_ids, std::vector<int64_t>{1});
  EXPECT_EQ(Must(store().ArchiveActivities(Archive(1, {2}, "again", 60, 0))), 0);
  // Re-created on Strava later: a plain insert again.
  EXPECT_EQ(Upsert(store(), {v[1]}, At(70)).inserted, 1);
}

TEST_P(StoreContractTest, ArchiveSkipsRowsChangedByWebhookAfterTheFence) {
  Activity a = MakeActivity(1, 1, "2024-02-01T10:00:00Z");
  Upsert(store(), {a}, At(1000, 0, 0, true));
  EXPECT_EQ(Must(store().ArchiveActivities(Archive(1, {1}, "not listed", 1100, 900))), 0);
  EXPECT_TRUE(Must(store().GetActivity(1, 1)).has_value());
  EXPECT_EQ(Must(store().ArchiveActivities(Archive(1, {1}, "not listed", 1200, 1001))), 1);
}

// ---- aggregates ----

TEST_P(StoreContractTest, DailyTotalsPerCategoryAndAll) {
  Upsert(store(),
         {MakeActivity(1, 1, "2024-05-01T07:00:00Z", "Ride", 20000.4),
          MakeActivity(1, 2, "2024-05-01T17:00:00Z", "VirtualRide", 15000.3),
          MakeActivity(1, 3, "2024-05-01T12:00:00Z", "Run", 5000),
          MakeActivity(1, 4, "2024-05-03T12:00:00Z", "EBikeRide", 30000),
          MakeActivity(1, 5, "2024-05-04T12:00:00Z", "Kitewing", 1000)},
         At(1));
  auto cycling = Must(store().DailyForYear(1, 2024, "cycling"));
  ASSERT_EQ(cycling.size(), 1u);
  EXPECT_EQ(cycling[0].distance_mm, 35000700);
  EXPECT_EQ(cycling[0].count, 2);
  EXPECT_EQ(cycling[0].activity_ids, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(cycling[0].elevation_gain_cm, 2 * 32170);

  auto all = Must(store().DailyForYear(1, 2024, ""));
  std::vector<std::string> cats;
  for (const auto& d : all) cats.push_back(core::FormatDate(d.date) + " " + d.category);
  EXPECT_EQ(cats, (std::vector<std::string>{"2024-05-01 cycling", "2024-05-01 running", "2024-05-03 e-bike",
                                            "2024-05-04 other"}));
  EXPECT_TRUE(Must(store().DailyForYear(1, 2023, "")).empty());
  EXPECT_TRUE(Must(store().DailyForYear(2, 2024, "")).empty());
}

TEST_P(StoreContractTest, YearsWithDataAndRebuildYear) {
  Upsert(store(),
         {MakeActivity(1, 1, "2023-05-01T07:00:00Z", "Run"), MakeActivity(1, 2, "2024-05-01T07:00:00Z"),
          MakeActivity(1, 3, "2023-06-01T07:00:00Z"), MakeActivity(2, 4, "2022-06-01T07:00:00Z")},
         At(1));
  using Years = std::vector<std::pair<int, std::string>>;
  EXPECT_EQ(Must(store().YearsWithData(1)), (Years{{2023, "cycling"}, {2023, "running"}, {2024, "cycling"}}));
  EXPECT_EQ(Must(store().YearsWithData(2)), (Years{{2022, "cycling"}}));

  auto before = Must(store().DailyForYear(1, 2023, ""));
  MustOk(store().RebuildYear(1, 2023));
  MustOk(store().RebuildYear(1, 2021));  // a year without data: nothing to do
  EXPECT_EQ(Must(store().DailyForYear(1, 2023, "")), before);
  auto activities = Must(store().ActivitiesInLocalYear(1, 2023));
  EXPECT_EQ(before, core::SummarizeDays(activities, Categories()));
}

TEST_P(StoreContractTest, ChangedDateAndTypeMoveBetweenDaysYearsAndCategories) {
  Activity a = MakeActivity(1, 1, "2024-12-31T23:59:00Z", "Ride", 10000);
  Upsert(store(), {a}, At(1));
  a.start_date_local = "2025-01-01T00:01:00Z";
  a.type = "Run";
  a.sport_type = "Run";
  Refresh(a);
  EXPECT_EQ(Upsert(store(), {a}, At(2)).updated, 1);
  EXPECT_TRUE(Must(store().DailyForYear(1, 2024, "")).empty());
  auto days = Must(store().DailyForYear(1, 2025, ""));
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].category, "running");
  EXPECT_EQ(core::FormatDate(days[0].date), "2025-01-01");
}

// Random upserts (new, changed, unchanged, repeated) and archives across two
// athletes and three years: after every step the stored daily totals equal
// core::SummarizeDays over a model of what should be stored.
TEST_P(StoreContractTest, DailyTotalsAlwaysEqualAFullRebuild) {
  std::mt19937_64 rng(20261128);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const std::vector<std::string> types = {"Ride", "VirtualRide", "Run", "EBikeRide", "Walk", "Kitewing"};
  const std::vector<std::string> times = {"00:00:00", "07:30:00", "12:00:00", "23:59:59"};
  auto random_date = [&] {
    const int month = 1 + pick(12);
    const int day = pick(4) == 0 ? (month == 12 ? 31 : 1) : 1 + pick(28);
    auto two = [](int v) { return (v < 10 ? "0" : "") + std::to_string(v); };
    return std::to_string(2023 + pick(3)) + "-" + two(month) + "-" + two(day) + "T" + times[pick(4)] + "Z";
  };
  std::map<std::pair<int64_t, int64_t>, Activity> model;
  int64_t next_id = 1;
  for (int step = 0; step < 300; ++step) {
    const int64_t athlete = 1 + pick(2);
    std::vector<int64_t> existing;
    for (const auto& [key, a] : model) {
      if (key.first == athlete) existing.push_back(key.second);
    }
    if (pick(5) == 0 && !existing.empty()) {
      std::vector<int64_t> ids = {existing[pick(static_cast<int>(existing.size()))], next_id + 1000};
      auto n = Must(store().ArchiveActivities(Archive(athlete, ids, "property", step, 0)));
      EXPECT_EQ(n, 1);
      model.erase({athlete, ids[0]});
    } else {
      std::vector<Activity> batch;
      for (int k = 1 + pick(5); k > 0; --k) {
        Activity a;
        if (!existing.empty() && pick(2) == 0) {
          a = model.at({athlete, existing[pick(static_cast<int>(existing.size()))]});
          if (pick(3) != 0) {
            a.distance_m = 100.0 * pick(500) + 0.1 * pick(10);
            if (pick(2) == 0) a.start_date_local = random_date();
            if (pick(2) == 0) a.type = a.sport_type = types[pick(static_cast<int>(types.size()))];
            Refresh(a);
          }
        } else {
          a = MakeActivity(athlete, next_id++, random_date(), types[pick(static_cast<int>(types.size()))],
                           1000.0 * pick(100) + 0.5);
        }
        batch.push_back(a);
        model[{athlete, a.id}] = a;
      }
      Upsert(store(), batch, At(step, step % 3 == 0 ? step : 0));
    }
    for (int64_t who : {1, 2}) {
      auto expected = Expected(model, who);
      for (int year : {2023, 2024, 2025}) {
        ASSERT_EQ(Must(store().DailyForYear(who, year, "")), expected[year])
            << "step " << step << ", athlete " << who << ", year " << year;
      }
    }
  }
  auto expected = Expected(model, 1);
  for (int year : {2023, 2024, 2025}) {
    MustOk(store().RebuildYear(1, year));
    EXPECT_EQ(Must(store().DailyForYear(1, year, "")), expected[year]);
  }
}

// ---- athletes ----

TEST_P(StoreContractTest, TwoAthletesAreIsolated) {
  Activity a1 = MakeActivity(1, 77, "2024-08-08T08:00:00Z", "Ride", 1000);
  Activity a2 = MakeActivity(2, 77, "2024-08-08T08:00:00Z", "Run", 2000);  // same id, other athlete
  auto s = Upsert(store(), {a1, a2}, At(1, 3));
  EXPECT_EQ(s.inserted, 2);
  EXPECT_EQ(Must(store().GetActivity(1, 77)), a1);
  EXPECT_EQ(Must(store().GetActivity(2, 77)), a2);
  EXPECT_EQ(Must(store().DailyForYear(2, 2024, ""))[0].category, "running");
  EXPECT_EQ(Must(store().ArchiveActivities(Archive(1, {77}, "gone", 5, 0))), 1);
  EXPECT_TRUE(Must(store().GetActivity(2, 77)).has_value());
  EXPECT_EQ(Must(store().DailyForYear(2, 2024, "")).size(), 1u);
}

TEST_P(StoreContractTest, DeleteAthleteDataRemovesEverythingOfThatAthleteOnly) {
  for (int64_t athlete : {1, 2}) {
    Upsert(store(),
           {MakeActivity(athlete, 1, "2024-01-02T08:00:00Z"), MakeActivity(athlete, 2, "2024-01-03T08:00:00Z")}, At(1));
    ASSERT_EQ(Must(store().ArchiveActivities(Archive(athlete, {2, 3}, "gone", 2, 0))), 1);  // 3: never stored
    MustOk(store().SaveToken({athlete, "access", "refresh", 100, "activity:read_all"}));
    MustOk(store().SaveGoals(athlete, 2024, "cycling", {{5000, "km", "main"}}));
    MustOk(store().SaveCheckpoint("backfill:" + std::to_string(athlete) + ":2024-2024", "page=3"));
  }
  EXPECT_EQ(Must(store().DeleteAthleteData(1)), 1);
  EXPECT_FALSE(Must(store().GetActivity(1, 1)).has_value());
  EXPECT_TRUE(Must(store().DailyForYear(1, 2024, "")).empty());
  EXPECT_TRUE(Must(store().YearsWithData(1)).empty());
  EXPECT_FALSE(Must(store().LoadToken(1)).has_value());
  EXPECT_FALSE(Must(store().LoadGoals(1, 2024, "cycling")).has_value());
  EXPECT_FALSE(Must(store().LoadCheckpoint("backfill:1:2024-2024")).has_value());
  // The other athlete keeps everything.
  EXPECT_TRUE(Must(store().GetActivity(2, 1)).has_value());
  EXPECT_EQ(Must(store().DailyForYear(2, 2024, "")).size(), 1u);
  EXPECT_TRUE(Must(store().LoadToken(2)).has_value());
  EXPECT_TRUE(Must(store().LoadGoals(2, 2024, "cycling")).has_value());
  EXPECT_TRUE(Must(store().LoadCheckpoint("backfill:2:2024-2024")).has_value());
  // The archived copy and the record of the never-stored id are gone too:
  // both ids can come back as new inserts, even under an older fence.
  EXPECT_EQ(Upsert(store(), {MakeActivity(1, 2, "2024-01-03T08:00:00Z")}, At(3, 0, 1)).inserted, 1);
  EXPECT_EQ(Upsert(store(), {MakeActivity(1, 3, "2024-01-04T08:00:00Z")}, At(3, 0, 1)).inserted, 1);
  EXPECT_EQ(Upsert(store(), {MakeActivity(2, 3, "2024-01-04T08:00:00Z")}, At(3, 0, 1)).fenced, 1);
}

// A backfill page or an inserter's fetch written after a deauthorization
// deleted the athlete's tokens (and data) must not bring the data back.
TEST_P(StoreContractTest, UpsertRequiringATokenWritesNothingForAnAthleteWithoutOne) {
  UpsertOptions o = At(1, 5);
  o.require_token = true;
  o.checkpoint = std::make_pair(std::string("backfill:7:2024-2024"), std::string("page=1"));
  const std::vector<Activity> page = {MakeActivity(7, 1, "2024-01-02T08:00:00Z"),
                                      MakeActivity(7, 2, "2024-01-03T08:00:00Z")};
  auto refused = store().UpsertActivities(page, o);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthorized);
  EXPECT_NE(refused.error().message.find("athlete 7"), std::string::npos) << refused.error().message;
  EXPECT_FALSE(Must(store().GetActivity(7, 1)).has_value());
  EXPECT_FALSE(Must(store().LoadCheckpoint("backfill:7:2024-2024")).has_value()) << "the checkpoint is written with the rows";

  MustOk(store().SaveToken({7, "access", "refresh", 100, "activity:read_all"}));
  EXPECT_EQ(Upsert(store(), page, o).inserted, 2);
  EXPECT_EQ(Must(store().DailyForYear(7, 2024, "")).size(), 2u);

  ASSERT_EQ(Must(store().DeleteAthleteData(7)), 2);  // the deauthorization
  o.seen_by_run = 6;
  refused = store().UpsertActivities(page, o);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthorized);
  EXPECT_FALSE(Must(store().GetActivity(7, 1)).has_value());
  EXPECT_TRUE(Must(store().DailyForYear(7, 2024, "")).empty());

  // Tokens only (on_deauthorize = keep): the stored data stays, nothing new comes.
  MustOk(store().SaveToken({7, "access", "refresh", 100, "activity:read_all"}));
  EXPECT_EQ(Upsert(store(), {page[0]}, o).inserted, 1);
  MustOk(store().DeleteToken(7));
  EXPECT_FALSE(store().UpsertActivities(page, o).has_value());
  EXPECT_TRUE(Must(store().GetActivity(7, 1)).has_value());
  EXPECT_FALSE(Must(store().GetActivity(7, 2)).has_value());
  // Without the option nothing is checked (tools and tests that hold no token).
  EXPECT_EQ(Upsert(store(), {page[1]}, At(2)).inserted, 1);
}

// A page with nothing to write (the empty last page of a listing, or one of
// activities outside the years asked for) still carries the range's
// checkpoint: after a deauthorization it must not be saved either, or a
// re-authorized athlete's next backfill would resume past pages whose data
// the deauthorization deleted.
TEST_P(StoreContractTest, AnEmptyUpsertRequiringATokenSavesNoCheckpointForAnAthleteWithoutOne) {
  UpsertOptions o = At(1, 5);
  o.require_token = true;
  o.checkpoint = std::make_pair(std::string("backfill:7:2024-2024"), std::string("page=3"));
  auto refused = store().UpsertActivities({}, o);
  ASSERT_FALSE(refused.has_value()) << "a checkpoint was saved for an athlete without a token";
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthorized);
  EXPECT_NE(refused.error().message.find("athlete 7"), std::string::npos) << refused.error().message;
  EXPECT_FALSE(Must(store().LoadCheckpoint("backfill:7:2024-2024")).has_value());

  MustOk(store().SaveToken({7, "access", "refresh", 100, "activity:read_all"}));
  EXPECT_EQ(Upsert(store(), {}, o).inserted, 0);
  EXPECT_EQ(Must(store().LoadCheckpoint("backfill:7:2024-2024")).value_or(""), "page=3");
  // Another athlete's token does not stand in for the checkpoint's owner.
  MustOk(store().DeleteToken(7));
  MustOk(store().SaveToken({8, "access", "refresh", 100, "activity:read_all"}));
  o.checkpoint->second = "page=4";
  EXPECT_FALSE(store().UpsertActivities(std::vector<Activity>{MakeActivity(8, 1, "2024-01-02T08:00:00Z")}, o)
                   .has_value());
  EXPECT_FALSE(Must(store().GetActivity(8, 1)).has_value()) << "the rows are written with the checkpoint";
  EXPECT_EQ(Must(store().LoadCheckpoint("backfill:7:2024-2024")).value_or(""), "page=3");
}

// ---- tokens ----

TEST_P(StoreContractTest, ReplaceTokenReplacesButNeverCreates) {
  auto refused = store().ReplaceToken({9, "acc-2", "ref-2", 2000, "read"});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(refused.error().message.find("ref-2"), std::string::npos) << "a token in an error message";
  EXPECT_FALSE(Must(store().LoadToken(9)).has_value());

  MustOk(store().SaveToken({9, "acc-1", "ref-1", 1000, "read,activity:read_all"}));
  MustOk(store().ReplaceToken({9, "acc-2", "ref-2", 2000, "read,activity:read_all"}));
  auto stored = Must(store().LoadToken(9));
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->refresh_token, "ref-2");
  EXPECT_EQ(stored->expires_at_epoch_s, 2000);

  ASSERT_EQ(Must(store().DeleteAthleteData(9)), 0);  // a deauthorization
  EXPECT_FALSE(store().ReplaceToken({9, "acc-3", "ref-3", 3000, "read"}).has_value());
  EXPECT_FALSE(Must(store().LoadToken(9)).has_value()) << "the rotation re-created a deleted token";
}

TEST_P(StoreContractTest, TokensRoundTripAndReplaceAtomically) {
  EXPECT_FALSE(Must(store().LoadToken(0)).has_value());
  EXPECT_FALSE(Must(store().LoadToken(42)).has_value());
  ports::StoredToken t{42, "acc-1", "ref-1", 1700000000, "read,activity:read_all"};
  MustOk(store().SaveToken(t));
  auto only = Must(store().LoadToken(0));
  ASSERT_TRUE(only.has_value());
  EXPECT_EQ(only->athlete_id, 42);
  EXPECT_EQ(only->access_token, "acc-1");
  EXPECT_EQ(only->refresh_token, "ref-1");
  EXPECT_EQ(only->expires_at_epoch_s, 1700000000);
  EXPECT_EQ(only->scope, "read,activity:read_all");

  MustOk(store().SaveToken({42, "acc-2", "ref-2", 1700003600, "read"}));
  auto rotated = Must(store().LoadToken(42));
  EXPECT_EQ(rotated->refresh_token, "ref-2");
  EXPECT_EQ(rotated->scope, "read");

  MustOk(store().SaveToken({7, "a", "r", 1, "s"}));
  EXPECT_EQ(Must(store().AthletesWithTokens()), (std::vector<int64_t>{7, 42}));
  auto ambiguous = store().LoadToken(0);
  ASSERT_FALSE(ambiguous.has_value());
  EXPECT_EQ(ambiguous.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ambiguous.error().message.find("ref-"), std::string::npos);  // no secret in the message
  EXPECT_EQ(Must(store().LoadToken(7))->access_token, "a");

  MustOk(store().DeleteToken(7));
  EXPECT_EQ(Must(store().LoadToken(0))->athlete_id, 42);
  MustOk(store().DeleteToken(7));  // deleting nothing is fine
}

TEST_P(StoreContractTest, APendingTokenIsKeptApartUntilClaimedUnderItsAthlete) {
  EXPECT_FALSE(Must(store().LoadPendingToken()).has_value());
  MustOk(store().SavePendingToken({0, "acc-p1", "ref-p1", 1700000000, ""}));
  MustOk(store().SavePendingToken({0, "acc-p2", "ref-p2", 1700003600, ""}));  // atomic replace
  auto pending = Must(store().LoadPendingToken());
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->athlete_id, 0);
  EXPECT_EQ(pending->access_token, "acc-p2");
  EXPECT_EQ(pending->refresh_token, "ref-p2");
  EXPECT_EQ(pending->expires_at_epoch_s, 1700003600);
  // Not an athlete's token: invisible to the per-athlete calls.
  EXPECT_FALSE(Must(store().LoadToken(0)).has_value());
  EXPECT_TRUE(Must(store().AthletesWithTokens()).empty());
  MustOk(store().SaveToken({7, "a", "r", 1, "s"}));
  EXPECT_EQ(Must(store().LoadToken(0))->athlete_id, 7) << "still the only athlete";
  EXPECT_EQ(Must(store().AthletesWithTokens()), (std::vector<int64_t>{7}));
  MustOk(store().DeleteToken(0));
  MustOk(store().DeleteToken(7));
  EXPECT_TRUE(Must(store().LoadPendingToken()).has_value()) << "DeleteToken never drops the pending token";

  auto bad = store().ClaimPendingToken({0, "acc-p2", "ref-p2", 1700003600, ""});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Must(store().LoadPendingToken()).has_value());

  MustOk(store().ClaimPendingToken({42, "acc-p2", "ref-p2", 1700003600, "read"}));
  EXPECT_FALSE(Must(store().LoadPendingToken()).has_value());
  auto claimed = Must(store().LoadToken(0));
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(claimed->athlete_id, 42);
  EXPECT_EQ(claimed->refresh_token, "ref-p2");
  EXPECT_EQ(claimed->scope, "read");
  // Claiming replaces an existing token of the athlete, as SaveToken does.
  MustOk(store().SavePendingToken({0, "acc-p3", "ref-p3", 1700007200, ""}));
  MustOk(store().ClaimPendingToken({42, "acc-p3", "ref-p3", 1700007200, ""}));
  EXPECT_EQ(Must(store().LoadToken(42))->refresh_token, "ref-p3");
  EXPECT_EQ(Must(store().AthletesWithTokens()), (std::vector<int64_t>{42}));
  EXPECT_FALSE(Must(store().LoadPendingToken()).has_value());
}

// ---- rate budget ----

TEST_P(StoreContractTest, RateBudgetStartsFromDefaultsAndPersists) {
  core::RateBudgetState seen;
  auto first = Must(store().UpdateRateBudget([&](core::RateBudgetState& s) {
    seen = s;
    s.used_15min += 1;
    s.read_used_daily += 2;
    s.window_start_epoch_s = 900;
  }));
  EXPECT_EQ(seen, core::RateBudgetState{});
  EXPECT_EQ(first.used_15min, 1);
  auto second = Must(store().UpdateRateBudget([](core::RateBudgetState& s) { s.used_15min += 1; }));
  EXPECT_EQ(second.used_15min, 2);
  EXPECT_EQ(second.read_used_daily, 2);
  EXPECT_EQ(second.window_start_epoch_s, 900);
  EXPECT_EQ(second.limit_daily, core::RateBudgetState{}.limit_daily);
  auto unchanged = Must(store().UpdateRateBudget([](core::RateBudgetState&) {}));
  EXPECT_EQ(unchanged, second);
}

// ---- checkpoints and run ids ----

TEST_P(StoreContractTest, CheckpointsSaveLoadReplaceDelete) {
  EXPECT_FALSE(Must(store().LoadCheckpoint("k")).has_value());
  MustOk(store().SaveCheckpoint("k", "v1"));
  MustOk(store().SaveCheckpoint("k", "v2"));
  EXPECT_EQ(Must(store().LoadCheckpoint("k")), std::optional<std::string>("v2"));
  MustOk(store().DeleteCheckpoint("k"));
  EXPECT_FALSE(Must(store().LoadCheckpoint("k")).has_value());
  MustOk(store().DeleteCheckpoint("never"));
}

TEST_P(StoreContractTest, CheckpointRidesWithThePage) {
  UpsertOptions o = At(5, 1);
  o.checkpoint = std::make_pair(std::string("backfill:1:2024-2024"), std::string("run=1;pages=1"));
  Upsert(store(), {MakeActivity(1, 1, "2024-01-01T10:00:00Z")}, o);
  EXPECT_EQ(Must(store().LoadCheckpoint("backfill:1:2024-2024")), std::optional<std::string>("run=1;pages=1"));
  o.checkpoint->second = "run=1;pages=2";
  Upsert(store(), {}, o);  // an empty page still records its progress
  EXPECT_EQ(Must(store().LoadCheckpoint("backfill:1:2024-2024")), std::optional<std::string>("run=1;pages=2"));
}

TEST_P(StoreContractTest, RunIdsIncrease) {
  int64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    int64_t id = Must(store().NextRunId());
    EXPECT_GT(id, last);
    last = id;
  }
}

// ---- goals ----

TEST_P(StoreContractTest, GoalsReplacedAtomicallyInOrder) {
  EXPECT_FALSE(Must(store().LoadGoals(1, 2025, "cycling")).has_value());
  std::vector<ports::Goal> goals = {{8000, "km", "stretch"}, {5000, "mi", ""}, {6000.5, "km", "base"}};
  MustOk(store().SaveGoals(1, 2025, "cycling", goals));
  EXPECT_EQ(Must(store().LoadGoals(1, 2025, "cycling")), std::optional(goals));
  EXPECT_FALSE(Must(store().LoadGoals(1, 2025, "running")).has_value());
  EXPECT_FALSE(Must(store().LoadGoals(1, 2024, "cycling")).has_value());
  EXPECT_FALSE(Must(store().LoadGoals(2, 2025, "cycling")).has_value());

  std::vector<ports::Goal> fewer = {{100, "mi", "x"}};
  MustOk(store().SaveGoals(1, 2025, "cycling", fewer));
  EXPECT_EQ(Must(store().LoadGoals(1, 2025, "cycling")), std::optional(fewer));
  MustOk(store().SaveGoals(1, 2025, "cycling", {}));
  auto cleared = Must(store().LoadGoals(1, 2025, "cycling"));
  ASSERT_TRUE(cleared.has_value());  // set to nothing is not "never set"
  EXPECT_TRUE(cleared->empty());
}

// ---- event queue (the live pipeline) ----

namespace {

core::WebhookEvent QueueEvent(const std::string& aspect, int64_t object_id, int64_t event_time,
                              int64_t owner_id = 1) {
  core::WebhookEvent e;
  e.object_type = "activity";
  e.object_id = object_id;
  e.aspect_type = aspect;
  e.owner_id = owner_id;
  e.subscription_id = 77;
  e.event_time = event_time;
  return e;
}

std::vector<ports::EnqueueOutcome> Enqueue(ports::Store& s, std::vector<core::WebhookEvent> events, int64_t now) {
  return Must(s.EnqueueBatch(events, now));
}

std::vector<int64_t> SeqsOf(const std::vector<ports::QueuedEvent>& events) {
  std::vector<int64_t> seqs;
  for (const auto& e : events) seqs.push_back(e.seq);
  return seqs;
}

std::set<std::pair<int64_t, int>> Years(const std::vector<ports::DirtyYear>& dirty) {
  std::set<std::pair<int64_t, int>> out;
  for (const auto& d : dirty) out.insert({d.athlete_id, d.year});
  return out;
}

}  // namespace

TEST_P(StoreContractTest, QueueRoundTripsEveryFieldAndDeduplicates) {
  core::WebhookEvent update = QueueEvent("update", 5, 1000);
  update.title = "Caf\xC3\xA9 \"loop\"";
  update.type = "Run";
  update.is_private = true;
  update.visibility = "only_me";
  update.updates_json = R"({"title":"Café \"loop\"","type":"Run","private":"true","visibility":"only_me"})";
  core::WebhookEvent deauth;
  deauth.object_type = "athlete";
  deauth.object_id = 9;
  deauth.aspect_type = "update";
  deauth.owner_id = 9;
  deauth.event_time = 1001;
  deauth.authorized = false;
  deauth.updates_json = R"({"authorized":"false"})";
  using ports::EnqueueOutcome;
  EXPECT_EQ(Enqueue(store(), {update, deauth, update}, 5000),
            (std::vector{EnqueueOutcome::kQueued, EnqueueOutcome::kQueued, EnqueueOutcome::kDuplicate}));
  EXPECT_EQ(Enqueue(store(), {deauth}, 5001), std::vector{EnqueueOutcome::kDuplicate});  // a Strava retry
  core::WebhookEvent later = update;
  later.event_time = 1002;  // another event of the same object
  EXPECT_EQ(Enqueue(store(), {later}, 5002), std::vector{EnqueueOutcome::kQueued});
  EXPECT_EQ(Must(store().PendingCount()), 3);
  auto pending = Must(store().ListEvents(false, 10));
  ASSERT_EQ(pending.size(), 3u);
  EXPECT_LT(pending[0].seq, pending[1].seq);
  EXPECT_LT(pending[1].seq, pending[2].seq);
  EXPECT_EQ(pending[0].event, update);
  EXPECT_EQ(pending[1].event, deauth);
  EXPECT_EQ(pending[0].attempts, 0);
  EXPECT_EQ(pending[0].received_at, 5000);
  EXPECT_EQ(pending[0].available_at, 5000);
  EXPECT_EQ(pending[0].last_error, "");
  EXPECT_EQ(Must(store().ListEvents(false, 2)).size(), 2u);
  EXPECT_TRUE(Must(store().ListEvents(true, 10)).empty());
}

TEST_P(StoreContractTest, ClaimLeasesOldestFirstAndRedeliversAfterTheLease) {
  Enqueue(store(), {QueueEvent("create", 1, 1), QueueEvent("create", 2, 2), QueueEvent("create", 3, 3)}, 100);
  auto first = Must(store().Claim(2, 100, 60));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].event.object_id, 1);
  EXPECT_EQ(first[1].event.object_id, 2);
  EXPECT_EQ(first[0].attempts, 1);
  EXPECT_EQ(first[0].available_at, 160);
  auto second = Must(store().Claim(10, 101, 60));  // leased until 161
  ASSERT_EQ(second.size(), 1u);  // the leased ones are invisible
  EXPECT_EQ(second[0].event.object_id, 3);
  EXPECT_TRUE(Must(store().Claim(10, 159, 60)).empty());
  // The worker died: after the lease the events come back, attempts counted.
  auto again = Must(store().Claim(10, 160, 60));
  EXPECT_EQ(SeqsOf(again), SeqsOf(first));
  EXPECT_EQ(again[0].attempts, 2);
  EXPECT_EQ(Must(store().PendingCount()), 3);  // leased events are still pending
}

TEST_P(StoreContractTest, AckCompletesAndToleratesRepeatsAndUnknownSeqs) {
  Enqueue(store(), {QueueEvent("create", 1, 1), QueueEvent("create", 2, 2)}, 100);
  auto claimed = Must(store().Claim(10, 100, 60));
  std::vector<int64_t> first{claimed[0].seq, 987654};
  MustOk(store().Ack(first));
  MustOk(store().Ack(first));  // a redelivered event may be acked twice
  EXPECT_EQ(Must(store().PendingCount()), 1);
  EXPECT_EQ(SeqsOf(Must(store().Claim(10, 1000, 60))), std::vector<int64_t>{claimed[1].seq});
  MustOk(store().Ack({}));
}

TEST_P(StoreContractTest, DedupKeysAreNewOnceAndSharedWithTheQueue) {
  std::vector<std::string> keys{"a:1", "b:2", "a:1"};
  EXPECT_EQ(Must(store().RecordDedupKeys(keys, 100)), (std::vector<bool>{true, true, false}));
  std::vector<std::string> again{"b:2", "c:3"};
  EXPECT_EQ(Must(store().RecordDedupKeys(again, 101)), (std::vector<bool>{false, true}));
  // Asking records nothing: a key is known once recorded, and only then.
  std::vector<std::string> ask{"b:2", "never-seen", "c:3", "never-seen"};
  EXPECT_EQ(Must(store().KnownDedupKeys(ask, 102)), (std::vector<bool>{true, false, true, false}));
  std::vector<std::string> unseen{"never-seen"};
  EXPECT_EQ(Must(store().RecordDedupKeys(unseen, 102)), std::vector<bool>{true});
  EXPECT_EQ(Must(store().KnownDedupKeys({}, 102)), std::vector<bool>{});
  // One record for both transports: a queued event's key is known, and the
  // other way round.
  core::WebhookEvent queued = QueueEvent("create", 42, 500);
  Enqueue(store(), {queued}, 103);
  std::vector<std::string> queued_key{queued.DedupKey()};
  EXPECT_EQ(Must(store().RecordDedupKeys(queued_key, 104)), std::vector<bool>{false});
  core::WebhookEvent recorded = QueueEvent("create", 43, 501);
  std::vector<std::string> recorded_key{recorded.DedupKey()};
  EXPECT_EQ(Must(store().RecordDedupKeys(recorded_key, 105)), std::vector<bool>{true});
  EXPECT_EQ(Enqueue(store(), {recorded}, 106), std::vector<ports::EnqueueOutcome>{ports::EnqueueOutcome::kDuplicate});
  EXPECT_EQ(Must(store().RecordDedupKeys({}, 107)), std::vector<bool>{});
}

TEST_P(StoreContractTest, DedupKeysRacingFromTwoThreadsAreNewForExactlyOne) {
  std::vector<std::string> keys;
  for (int i = 0; i < 200; ++i) keys.push_back("race:" + std::to_string(i));
  std::vector<std::string> reversed(keys.rbegin(), keys.rend());
  std::vector<bool> first, second;
  std::thread t1([&] {
    for (size_t i = 0; i < keys.size(); i += 20) {
      auto r = Must(store().RecordDedupKeys(std::span(keys).subspan(i, 20), 100));
      first.insert(first.end(), r.begin(), r.end());
    }
  });
  std::thread t2([&] {
    for (size_t i = 0; i < reversed.size(); i += 20) {
      auto r = Must(store().RecordDedupKeys(std::span(reversed).subspan(i, 20), 100));
      second.insert(second.end(), r.begin(), r.end());
    }
  });
  t1.join();
  t2.join();
  ASSERT_EQ(first.size(), keys.size());
  ASSERT_EQ(second.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_NE(first[i], second[keys.size() - 1 - i]) << keys[i] << " must be new for exactly one caller";
  }
}

TEST_P(StoreContractTest, RetryKeepsTheErrorAndDeadLetterMovesTheEvent) {
  Enqueue(store(), {QueueEvent("create", 1, 1), QueueEvent("create", 2, 2)}, 100);
  auto claimed = Must(store().Claim(10, 100, 60));
  ASSERT_EQ(claimed.size(), 2u);
  MustOk(store().Retry(claimed[0].seq, "HTTP 503", 130));
  EXPECT_TRUE(Must(store().Claim(10, 129, 60)).empty());
  auto retried = Must(store().Claim(10, 130, 60));
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].last_error, "HTTP 503");
  EXPECT_EQ(retried[0].attempts, 2);
  MustOk(store().DeadLetter(claimed[1].seq, "forbidden", 140));
  EXPECT_EQ(Must(store().PendingCount()), 1);
  auto dead = Must(store().ListEvents(true, 10));
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].seq, claimed[1].seq);
  EXPECT_EQ(dead[0].last_error, "forbidden");
  EXPECT_EQ(dead[0].attempts, 1);
  EXPECT_EQ(dead[0].event, claimed[1].event);
  auto unknown = store().Retry(987654, "x", 1);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  auto gone = store().DeadLetter(claimed[1].seq, "again", 150);  // no longer pending
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, RedriveReturnsDeadLettersWithTheirSeqAndAFreshAllowance) {
  Enqueue(store(), {QueueEvent("create", 1, 1), QueueEvent("create", 2, 2), QueueEvent("create", 3, 3)}, 100);
  auto claimed = Must(store().Claim(10, 100, 60));
  for (const auto& e : claimed) MustOk(store().DeadLetter(e.seq, "gave up", 110));
  EXPECT_EQ(Must(store().Redrive(claimed[1].seq, 200)), 1);
  auto redriven = Must(store().Claim(10, 200, 60));
  ASSERT_EQ(redriven.size(), 1u);
  EXPECT_EQ(redriven[0].seq, claimed[1].seq);
  EXPECT_EQ(redriven[0].attempts, 1);  // 0 after the redrive, 1 once claimed
  EXPECT_EQ(redriven[0].event, claimed[1].event);
  auto unknown = store().Redrive(claimed[1].seq, 200);  // not a dead letter any more
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(Must(store().Redrive(std::nullopt, 300)), 2);
  EXPECT_TRUE(Must(store().ListEvents(true, 10)).empty());
  EXPECT_EQ(Must(store().PendingCount()), 3);
  // The dedup keys stay known: a Strava retry of a re-driven event is a duplicate.
  EXPECT_EQ(Enqueue(store(), {QueueEvent("create", 1, 1)}, 300), std::vector{ports::EnqueueOutcome::kDuplicate});
}

// A seq is never handed out twice: a late ack (a redelivered event acked by
// a worker whose lease ran out) of a completed event must not complete a
// newer one, and a dead letter's seq must not come back for another event.
TEST_P(StoreContractTest, SeqsAreNeverReusedAfterAckDeadLetterOrDeletion) {
  Enqueue(store(), {QueueEvent("create", 1, 1)}, 100);
  const int64_t acked = Must(store().Claim(10, 100, 60))[0].seq;
  MustOk(store().Ack(std::vector<int64_t>{acked}));  // the newest event completes: the queue is empty
  Enqueue(store(), {QueueEvent("create", 2, 2)}, 101);
  auto newer = Must(store().Claim(10, 101, 60));
  ASSERT_EQ(newer.size(), 1u);
  EXPECT_GT(newer[0].seq, acked);
  MustOk(store().Ack(std::vector<int64_t>{acked}));  // late, repeated
  EXPECT_EQ(Must(store().PendingCount()), 1);
  MustOk(store().DeadLetter(newer[0].seq, "gave up", 102));  // the newest again, now a dead letter
  Enqueue(store(), {QueueEvent("create", 3, 3, 7)}, 103);
  auto third = Must(store().ListEvents(false, 10));
  ASSERT_EQ(third.size(), 1u);
  EXPECT_GT(third[0].seq, newer[0].seq);
  EXPECT_EQ(Must(store().Redrive(newer[0].seq, 104)), 1);  // its seq is still its own
  EXPECT_EQ(SeqsOf(Must(store().ListEvents(false, 10))), (std::vector<int64_t>{newer[0].seq, third[0].seq}));
  // Deauthorization deletes the athlete's queued events, the newest among them.
  ASSERT_TRUE(store().DeleteAthleteData(7).has_value());
  Enqueue(store(), {QueueEvent("create", 4, 4)}, 105);
  auto after = Must(store().ListEvents(false, 10));
  ASSERT_EQ(after.size(), 2u);
  EXPECT_GT(after[1].seq, third[0].seq);
}

TEST_P(StoreContractTest, EventsCompleteInTheTransactionOfTheirEffect) {
  Enqueue(store(), {QueueEvent("create", 1, 1), QueueEvent("delete", 2, 2), QueueEvent("update", 1, 3)}, 100);
  auto claimed = Must(store().Claim(10, 100, 60));
  ASSERT_EQ(claimed.size(), 3u);
  UpsertOptions upsert = At(101, 0, 0, true);
  upsert.ack_events = {claimed[0].seq};
  Upsert(store(), {MakeActivity(1, 1, "2024-05-01T08:00:00Z"), MakeActivity(1, 2, "2024-05-02T08:00:00Z")}, upsert);
  EXPECT_EQ(Must(store().PendingCount()), 2);
  auto archive = Archive(1, {2}, "delete webhook confirmed", 102, 0);
  archive.ack_events = {claimed[1].seq};
  EXPECT_EQ(Must(store().ArchiveActivities(archive)), 1);
  EXPECT_EQ(Must(store().PendingCount()), 1);
  ports::ActivityPatch patch;
  patch.athlete_id = 1;
  patch.id = 1;
  patch.name = "Renamed";
  patch.now_epoch_s = 103;
  patch.ack_events = {claimed[2].seq};
  EXPECT_TRUE(Must(store().PatchActivity(patch)));
  EXPECT_EQ(Must(store().PendingCount()), 0);
  // Acks of events already completed change nothing and fail nothing.
  UpsertOptions again = At(104, 0, 0, true);
  again.ack_events = {claimed[0].seq};
  EXPECT_EQ(Upsert(store(), {MakeActivity(1, 3, "2024-05-03T08:00:00Z")}, again).inserted, 1);
}

TEST_P(StoreContractTest, PatchAppliesTheWebhookFieldsAtOnce) {
  Activity a = MakeActivity(1, 1, "2024-05-01T08:00:00Z", "Ride", 20000);
  Upsert(store(), {a}, At(10));
  ports::ActivityPatch patch;
  patch.athlete_id = 1;
  patch.id = 1;
  patch.name = "Evening run";
  patch.type = "Run";
  patch.is_private = false;
  patch.visibility = "everyone";
  patch.now_epoch_s = 500;
  EXPECT_TRUE(Must(store().PatchActivity(patch)));
  auto stored = Must(store().GetActivity(1, 1));
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->name, "Evening run");
  EXPECT_EQ(stored->type, "Run");
  EXPECT_EQ(stored->sport_type, "Run");
  EXPECT_FALSE(stored->is_private);
  EXPECT_EQ(stored->visibility, "everyone");
  EXPECT_EQ(stored->distance_m, a.distance_m);  // the rest is untouched
  EXPECT_EQ(stored->raw_json, a.raw_json);
  auto days = Must(store().DailyForYear(1, 2024, ""));
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].category, "running");
  EXPECT_EQ(days, core::SummarizeDays(Must(store().ActivitiesInLocalYear(1, 2024)), Categories()));
  // Stamped as a webhook change: a backfill that started before is fenced.
  EXPECT_EQ(Upsert(store(), {a}, At(600, 0, 400)).fenced, 1);
  // A refresh that brings the pre-patch data is a change, not "unchanged".
  EXPECT_EQ(Upsert(store(), {a}, At(700, 0, 0, true)).updated, 1);
  EXPECT_EQ(Must(store().GetActivity(1, 1)), a);
  EXPECT_EQ(Must(store().DailyForYear(1, 2024, ""))[0].category, "cycling");
  patch.id = 404;
  EXPECT_FALSE(Must(store().PatchActivity(patch)));
}

TEST_P(StoreContractTest, ChangesMarkTheirYearsDirtyForTheAggregator) {
  EXPECT_TRUE(Must(store().ClaimDirtyYears(10, 100, 60)).empty());
  Upsert(store(), {MakeActivity(1, 1, "2023-12-31T23:00:00Z"), MakeActivity(2, 2, "2024-01-01T08:00:00Z")}, At(1));
  auto claimed = Must(store().ClaimDirtyYears(10, 100, 60));
  EXPECT_EQ(Years(claimed), (std::set<std::pair<int64_t, int>>{{1, 2023}, {2, 2024}}));
  EXPECT_TRUE(Must(store().ClaimDirtyYears(10, 159, 60)).empty());  // leased
  MustOk(store().CompleteDirtyYears(claimed));
  EXPECT_TRUE(Must(store().ClaimDirtyYears(10, 1000, 60)).empty());  // cleared

  // A change after the claim: completing the old generation releases the
  // year for the next claim instead of clearing it.
  Activity moved = MakeActivity(1, 1, "2024-02-01T08:00:00Z");
  Upsert(store(), {moved}, At(2));  // leaves 2023, enters 2024
  claimed = Must(store().ClaimDirtyYears(10, 1000, 60));
  EXPECT_EQ(Years(claimed), (std::set<std::pair<int64_t, int>>{{1, 2023}, {1, 2024}}));
  ports::ActivityPatch patch;
  patch.athlete_id = 1;
  patch.id = 1;
  patch.type = "Run";
  patch.now_epoch_s = 3;
  EXPECT_TRUE(Must(store().PatchActivity(patch)));
  MustOk(store().CompleteDirtyYears(claimed));
  auto again = Must(store().ClaimDirtyYears(10, 1001, 60));  // at once, not after the lease
  EXPECT_EQ(Years(again), (std::set<std::pair<int64_t, int>>{{1, 2024}}));
  EXPECT_GT(again[0].generation, claimed[1].generation);
  MustOk(store().CompleteDirtyYears(again));

  EXPECT_EQ(Must(store().ArchiveActivities(Archive(2, {2}, "gone", 4, 0))), 1);
  EXPECT_EQ(Years(Must(store().ClaimDirtyYears(10, 2000, 60))), (std::set<std::pair<int64_t, int>>{{2, 2024}}));
  MustOk(store().RebuildYear(1, 2022));
  EXPECT_EQ(Years(Must(store().ClaimDirtyYears(10, 2000, 60))), (std::set<std::pair<int64_t, int>>{{1, 2022}}));
}

TEST_P(StoreContractTest, DeleteAthleteDataDropsTheirEventsAndMarksTheirYears) {
  Upsert(store(), {MakeActivity(1, 1, "2022-03-01T08:00:00Z"), MakeActivity(1, 2, "2024-03-01T08:00:00Z"),
                   MakeActivity(2, 3, "2024-03-01T08:00:00Z")},
         At(1));
  MustOk(store().CompleteDirtyYears(Must(store().ClaimDirtyYears(10, 10, 60))));
  Enqueue(store(), {QueueEvent("create", 7, 1, 1), QueueEvent("create", 8, 2, 1), QueueEvent("create", 9, 3, 2)}, 10);
  auto claimed = Must(store().Claim(1, 10, 60));
  MustOk(store().DeadLetter(claimed[0].seq, "gave up", 11));
  EXPECT_EQ(Must(store().DeleteAthleteData(1)), 2);
  auto pending = Must(store().ListEvents(false, 10));
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].event.owner_id, 2);
  EXPECT_TRUE(Must(store().ListEvents(true, 10)).empty());
  EXPECT_EQ(Years(Must(store().ClaimDirtyYears(10, 20, 60))),
            (std::set<std::pair<int64_t, int>>{{1, 2022}, {1, 2024}}));
}

// ---- store ----

TEST_P(StoreContractTest, MigrateIsIdempotentAndStoreIsWritable) {
  const int version = Must(store().SchemaVersion());
  EXPECT_GE(version, 1);
  MustOk(store().Migrate());
  EXPECT_EQ(Must(store().SchemaVersion()), version);
  MustOk(store().CheckWritable());
  MustOk(store().CheckWritable());
}

}  // namespace dl::contract
