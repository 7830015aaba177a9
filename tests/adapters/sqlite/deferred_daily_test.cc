// UpsertOptions::defer_daily on SQLite (the stale_years table, schema v3):
// reads always equal a full rebuild, stale marks survive a crash, a v2 file
// migrates, and the background WAL checkpointer works while the store is
// open. (PostgreSQL ignores the flag and recomputes at once.)
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <span>
#include <thread>

#include "adapters/sqlite/sqlite_store.h"
#include "core/aggregates.h"
#include "core/sports.h"
#include "core/time.h"

namespace dl::adapters::sqlite {
namespace {

using core::Activity;

std::string NewPath() {
  static int n = 0;
  auto dir = std::filesystem::temp_directory_path() / ("dl_deferred_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / ("s" + std::to_string(n++) + ".db")).string();
}

Activity Make(int64_t athlete, int64_t id, const std::string& local, const std::string& type, double m) {
  Activity a;
  a.id = id;
  a.athlete_id = athlete;
  a.name = "A " + std::to_string(id);
  a.distance_m = m;
  a.moving_time_s = 3600;
  a.elapsed_time_s = 3700;
  a.type = a.sport_type = type;
  a.start_date_local = local;
  auto epoch = core::ParseNaiveEpoch(local);
  a.start_date = core::FormatIsoUtc(core::TimePoint{std::chrono::seconds{*epoch + 5 * 3600}});
  a.timezone = "(GMT-05:00) America/New_York";
  a.utc_offset_s = -18000;
  a.visibility = "everyone";
  a.raw_json = "{\"id\":" + std::to_string(id) + ",\"distance\":" + std::to_string(m) + "}";
  return a;
}

std::map<int, std::vector<core::DailyTotals>> Expected(const std::map<int64_t, Activity>& model) {
  std::vector<Activity> all;
  for (const auto& [id, a] : model) all.push_back(a);
  std::map<int, std::vector<core::DailyTotals>> out;
  for (auto& d : core::SummarizeDays(all, core::SportCategories::Default()))
    out[static_cast<int>(d.date.year())].push_back(std::move(d));
  return out;
}

std::vector<std::string> Column(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::vector<std::string> out;
  while (sqlite3_step(st) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// Contract: whatever mix of deferred upserts, immediate upserts and
// archives, every read through the port equals a full rebuild.
TEST(DeferredDailyTest, EveryReadEqualsAFullRebuild) {
  auto store = SqliteStore::Open(NewPath(), core::SportCategories::Default()).value();
  std::mt19937_64 rng(7);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const std::vector<std::string> types = {"Ride", "Run", "VirtualRide", "Walk"};
  std::map<int64_t, Activity> model;
  int64_t next = 1;
  for (int step = 0; step < 150; ++step) {
    if (pick(6) == 0 && !model.empty()) {
      auto it = std::next(model.begin(), pick(static_cast<int>(model.size())));
      ports::ArchiveRequest r;
      r.athlete_id = 1;
      r.ids = {it->first};
      r.reason = "test";
      r.now_epoch_s = step;
      ASSERT_EQ(store->ArchiveActivities(r).value(), 1);
      model.erase(it);
    } else {
      std::vector<Activity> batch;
      for (int k = 1 + pick(6); k > 0; --k) {
        const std::string date = std::to_string(2023 + pick(3)) + "-0" + std::to_string(1 + pick(9)) + "-1" +
                                 std::to_string(pick(10)) + "T1" + std::to_string(pick(10)) + ":00:00Z";
        int64_t id = !model.empty() && pick(3) == 0 ? std::next(model.begin(), pick(static_cast<int>(model.size())))->first
                                                    : next++;
        bool dup = false;
        for (auto& b : batch) dup = dup || b.id == id;
        if (dup) continue;
        Activity a = Make(1, id, date, types[pick(4)], 100.0 * pick(300));
        batch.push_back(a);
        model[id] = a;
      }
      ports::UpsertOptions o;
      o.now_epoch_s = step;
      o.seen_by_run = 1 + step / 50;
      o.defer_daily = pick(4) != 0;
      ASSERT_TRUE(store->UpsertActivities(batch, o).has_value());
    }
    if (pick(3) == 0) {
      auto expected = Expected(model);
      const int year = 2023 + pick(3);
      ASSERT_EQ(store->DailyForYear(1, year, "").value(), expected[year]) << "step " << step;
      std::set<int> years;
      const auto with_data = store->YearsWithData(1).value();
      for (const auto& [y, cat] : with_data) years.insert(y);
      std::set<int> want;
      for (const auto& [y, days] : expected)
        if (!days.empty()) want.insert(y);
      ASSERT_EQ(years, want) << "step " << step;
    }
  }
}

// RebuildYear writes its day rows several to a statement and sums shares
// read in date order: a busy year (every day of a leap year, several
// activities and categories a day, ids out of order, neighbours across the
// year's edges) rebuilt from deferred pages must store exactly the rows the
// per-page recompute stores, and read back the same, also after more writes.
TEST(DeferredDailyTest, RebuildOfABusyYearEqualsThePerPageRecompute) {
  const std::string per_page_path = NewPath(), rebuilt_path = NewPath();
  auto per_page = SqliteStore::Open(per_page_path, core::SportCategories::Default()).value();
  auto rebuilt = SqliteStore::Open(rebuilt_path, core::SportCategories::Default()).value();
  std::mt19937_64 rng(11);
  const std::vector<std::string> types = {"Ride", "Run", "VirtualRide", "Walk", "Swim", "Yoga"};
  std::vector<int64_t> ids(2000);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i) + 1;
  std::shuffle(ids.begin(), ids.end(), rng);  // ids not in date or insertion order
  std::map<int64_t, Activity> model;
  std::vector<Activity> all;
  size_t next = 0;
  const std::chrono::sys_days jan1{core::Date{std::chrono::year{2024}, std::chrono::January, std::chrono::day{1}}};
  for (int day = -1; day <= 366 && next < ids.size(); ++day) {  // 2023-12-31 .. 2025-01-01
    const std::string date = core::FormatDate(core::Date{jan1 + std::chrono::days{day}});
    for (int k = static_cast<int>(1 + rng() % 4); k > 0 && next < ids.size(); --k) {
      const std::string local = date + "T0" + std::to_string(k) + ":00:00Z";
      Activity a = Make(1, ids[next++], local, types[rng() % types.size()], 10.0 * static_cast<double>(rng() % 5000));
      model[a.id] = a;
      all.push_back(a);
    }
  }
  for (size_t i = 0; i < all.size(); i += 200) {
    std::span<const Activity> page(all.data() + i, std::min<size_t>(200, all.size() - i));
    ports::UpsertOptions o;
    o.now_epoch_s = 1;
    o.seen_by_run = 1;
    ASSERT_TRUE(per_page->UpsertActivities(page, o).has_value());
    o.defer_daily = true;
    ASSERT_TRUE(rebuilt->UpsertActivities(page, o).has_value());
  }
  ASSERT_TRUE(rebuilt->RebuildYear(1, 2024).has_value());
  const std::string rows =
      "SELECT athlete_id || '|' || category || '|' || local_date || '|' || distance_mm || '|' || moving_time_s || "
      "'|' || elevation_gain_cm || '|' || count || '|' || activity_ids FROM daily_totals "
      "WHERE local_date BETWEEN '2024-01-01' AND '2024-12-31' ORDER BY local_date, category";
  const auto stored = Column(rebuilt_path, rows);
  EXPECT_EQ(stored, Column(per_page_path, rows));
  EXPECT_GT(stored.size(), 366u);
  EXPECT_EQ(Column(rebuilt_path, "SELECT count(DISTINCT local_date) FROM daily_totals WHERE local_date = '2024-02-29'"),
            std::vector<std::string>{"1"});
  auto expected = Expected(model)[2024];
  auto names = core::SportCategories::Default().Names();
  names.emplace_back("");
  for (const auto& category : names) {
    std::vector<core::DailyTotals> want;
    for (const auto& d : expected)
      if (category.empty() || d.category == category) want.push_back(d);
    EXPECT_EQ(rebuilt->DailyForYear(1, 2024, category).value(), want) << category;
    EXPECT_EQ(per_page->DailyForYear(1, 2024, category).value(), want) << category;
  }
  // A write on this connection after the rebuild: read from the table again.
  Activity more = Make(1, 5000, "2024-02-29T20:00:00Z", "Ride", 1234);
  model[more.id] = more;
  ASSERT_TRUE(rebuilt->UpsertActivities(std::vector<Activity>{more}, ports::UpsertOptions{}).has_value());
  EXPECT_EQ(rebuilt->DailyForYear(1, 2024, "").value(), Expected(model)[2024]);
  // A write by another connection after the rebuild: the same.
  ASSERT_TRUE(rebuilt->RebuildYear(1, 2024).has_value());
  {
    auto other = SqliteStore::Open(rebuilt_path, core::SportCategories::Default()).value();
    Activity late = Make(1, 5001, "2024-07-04T08:00:00Z", "Run", 4321);
    model[late.id] = late;
    ports::UpsertOptions o;
    o.defer_daily = true;
    ASSERT_TRUE(other->UpsertActivities(std::vector<Activity>{late}, o).has_value());
  }
  EXPECT_EQ(rebuilt->DailyForYear(1, 2024, "").value(), Expected(model)[2024]);
}

// A crash after deferred pages (no RebuildYear): the stale marks were
// committed with the rows and the checkpoint, so a reopened store still
// answers with aggregates equal to a rebuild, and the rebuild clears them.
TEST(DeferredDailyTest, StaleMarksSurviveACrashAndHealOnRead) {
  const std::string path = NewPath();
  std::map<int64_t, Activity> model;
  {
    auto store = SqliteStore::Open(path, core::SportCategories::Default()).value();
    std::vector<Activity> page;
    for (int64_t id = 1; id <= 50; ++id) {
      page.push_back(Make(1, id, "2024-03-" + std::string(id % 28 < 9 ? "0" : "") + std::to_string(1 + id % 28) +
                                     "T10:00:00Z", id % 2 ? "Ride" : "Run", 1000.0 * static_cast<double>(id)));
      model[id] = page.back();
    }
    ports::UpsertOptions o;
    o.now_epoch_s = 1;
    o.seen_by_run = 1;
    o.defer_daily = true;
    o.checkpoint = std::make_pair(std::string("backfill:1:2024-2024"), std::string("page 1"));
    ASSERT_EQ(store->UpsertActivities(page, o).value().inserted, 50);
  }  // "crash": no RebuildYear
  EXPECT_EQ(Column(path, "SELECT year FROM stale_years WHERE athlete_id = 1"), std::vector<std::string>{"2024"});
  EXPECT_EQ(Column(path, "SELECT count(*) FROM daily_totals"), std::vector<std::string>{"0"});
  EXPECT_EQ(Column(path, "SELECT year FROM dirty_years WHERE athlete_id = 1"), std::vector<std::string>{"2024"});
  auto store = SqliteStore::Open(path, core::SportCategories::Default()).value();
  EXPECT_EQ(store->LoadCheckpoint("backfill:1:2024-2024").value(), std::optional<std::string>("page 1"));
  EXPECT_EQ(store->DailyForYear(1, 2024, "").value(), Expected(model)[2024]);
  EXPECT_EQ(Column(path, "SELECT count(*) FROM stale_years"), std::vector<std::string>{"0"});
}

// The v3 migration upgrades a v2 database in place (and drops the index).
TEST(DeferredDailyTest, VersionTwoDatabaseIsMigratedToStaleYears) {
  const std::string path = NewPath();
  {
    auto store = SqliteStore::Open(path, core::SportCategories::Default()).value();
    std::vector<Activity> v = {Make(1, 1, "2024-01-01T10:00:00Z", "Ride", 1000)};
    ASSERT_TRUE(store->UpsertActivities(v, ports::UpsertOptions{}).has_value());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TABLE stale_years; CREATE INDEX activities_by_seen_run ON activities (athlete_id, "
                         "seen_by_run); DELETE FROM schema_migrations WHERE version > 2",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = SqliteStore::Open(path, core::SportCategories::Default()).value();
  EXPECT_EQ(store->SchemaVersion().value(), SqliteStore::LatestSchemaVersion());
  EXPECT_EQ(Column(path, "SELECT count(*) FROM sqlite_master WHERE name = 'activities_by_seen_run'"),
            std::vector<std::string>{"0"});
  std::vector<Activity> v = {Make(1, 2, "2024-01-02T10:00:00Z", "Ride", 2000)};
  ports::UpsertOptions o;
  o.defer_daily = true;
  ASSERT_TRUE(store->UpsertActivities(v, o).has_value());
  EXPECT_EQ(store->DailyForYear(1, 2024, "").value().size(), 2u);
}

// The background checkpointer copies the WAL into the database file while
// the store is still open and writing (SQLite's own autocheckpoint is
// replaced; the foreground fallback starts only at 64 MB of WAL, and SQLite's
// default at 1,000 frames = 16 MB: both more than this test writes).
TEST(DeferredDailyTest, BackgroundCheckpointerFillsTheDatabaseFileWhileOpen) {
  const std::string path = NewPath();
  auto store = SqliteStore::Open(path, core::SportCategories::Default()).value();
  const auto empty_size = std::filesystem::file_size(path);
  // Incompressible padding: the store compresses raw JSON.
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  auto noise = [&seed] {
    std::string s(3000, ' ');
    for (char& c : s) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      c = static_cast<char>('a' + (seed >> 33) % 26);
    }
    return s;
  };
  for (int page = 0; page < 20; ++page) {
    std::vector<Activity> v;
    for (int i = 0; i < 100; ++i) {
      const int64_t id = page * 100 + i + 1;
      v.push_back(Make(1, id, "2024-02-0" + std::to_string(1 + i % 9) + "T10:00:00Z", "Ride", 10.0 * static_cast<double>(id)));
      v.back().raw_json = "{\"id\":" + std::to_string(id) + ",\"pad\":\"" + noise() + "\"}";
    }
    ports::UpsertOptions o;
    o.defer_daily = true;
    ASSERT_TRUE(store->UpsertActivities(v, o).has_value());
  }
  // ~7 MB written (under SQLite's own 1,000-frame autocheckpoint); poll (the checkpointer runs on its own thread).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::filesystem::file_size(path) < empty_size + (3u << 20) && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(store->SaveCheckpoint("poke", "x").has_value());  // a commit pokes it again
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(std::filesystem::file_size(path), empty_size + (3u << 20));
  EXPECT_EQ(Column(path, "SELECT count(*) FROM activities"), std::vector<std::string>{"2000"});
}

}  // namespace
}  // namespace dl::adapters::sqlite
