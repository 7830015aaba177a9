// app::Backfill with a scripted ActivitySource and the real SQLite store (in
// memory): the edge cases of paging, local years, interruption, resume,
// reconciliation and fencing, cheaper than end to end (tests/e2e covers the
// same behaviours through strava-sim and the real binaries).
#include "app/backfill.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "adapters/sqlite/sqlite_store.h"
#include "core/sports.h"
#include "core/time.h"
#include "fakes/fake_clock.h"

namespace dl::app {
namespace {

constexpr int64_t kAthlete = 4242;

// The listing semantics of GET /athlete/activities that backfill relies on:
// exclusive after/before on the UTC start, oldest first when `after` is given,
// pages of per_page. Every call is one request; `before_call` runs first and
// may change the history (as Strava's may change during a run) or fail the
// call.
class ScriptedSource final : public ActivitySource {
 public:
  Result<int64_t> AthleteId() override { return kAthlete; }

  Result<std::vector<core::Activity>> ListActivities(const ports::ListQuery& q) override {
    ++calls_;
    if (before_call) {
      if (auto s = before_call(calls_); !s) return std::unexpected(s.error());
    }
    ++requests_;
    queries.push_back(q);
    std::vector<core::Activity> matching;
    for (const auto& [start, a] : by_start_) {
      if (q.after_epoch_s && start.first <= *q.after_epoch_s) continue;
      if (q.before_epoch_s && start.first >= *q.before_epoch_s) continue;
      matching.push_back(a);
    }
    size_t from = static_cast<size_t>((q.page - 1) * q.per_page);
    std::vector<core::Activity> page;
    for (size_t i = from; i < matching.size() && page.size() < static_cast<size_t>(q.per_page); ++i) {
      page.push_back(matching[i]);
    }
    return page;
  }

  int64_t RequestsSent() const override { return requests_; }

  void Put(core::Activity a) {
    Remove(a.id);
    int64_t start = a.StartUtc()->time_since_epoch().count();
    by_start_[{start, a.id}] = std::move(a);
  }
  void Remove(int64_t id) {
    std::erase_if(by_start_, [id](const auto& kv) { return kv.first.second == id; });
  }
  std::set<int64_t> Ids() const {
    std::set<int64_t> ids;
    for (const auto& kv : by_start_) ids.insert(kv.first.second);
    return ids;
  }

  std::function<Status(int call)> before_call;
  std::vector<ports::ListQuery> queries;

 private:
  std::map<std::pair<int64_t, int64_t>, core::Activity> by_start_;  // (start, id)
  int calls_ = 0;
  int64_t requests_ = 0;
};

class RecordingOutput final : public ports::YearOutput {
 public:
  Status WriteYear(int year, const std::string& category, std::span<const core::DailyTotals> days,
                   core::Date through_date, bool) override {
    if (on_write) on_write();
    int64_t mm = 0;
    for (const auto& d : days) mm += d.distance_mm;
    written[{year, category}] = mm;
    through[{year, category}] = core::FormatDate(through_date);
    return Ok();
  }
  std::map<std::pair<int, std::string>, int64_t> written;  // total distance in mm
  std::map<std::pair<int, std::string>, std::string> through;  // where the cumulative series ends
  std::function<void()> on_write;  // runs first, on the page writer's thread
};

// An activity starting at `local` wall-clock time with the given UTC offset.
core::Activity Ride(int64_t id, const std::string& local, int offset_h, double distance_m = 10000) {
  core::Activity a;
  a.id = id;
  a.athlete_id = kAthlete;
  a.name = "ride " + std::to_string(id);
  a.distance_m = distance_m;
  a.moving_time_s = 1800;
  a.elapsed_time_s = 1900;
  a.type = "Ride";
  a.sport_type = "Ride";
  a.start_date_local = local;
  auto naive = core::ParseNaiveEpoch(local);
  a.start_date = core::FormatIsoUtc(core::TimePoint{std::chrono::seconds{*naive - offset_h * 3600}});
  a.utc_offset_s = offset_h * 3600.0;
  a.timezone = "(GMT" + std::string(offset_h < 0 ? "-" : "+") + "00:00) Test/Zone";
  a.visibility = "everyone";
  a.raw_json = R"({"id":)" + std::to_string(id) + R"(,"name":")" + a.name + R"("})";
  return a;
}

// `n` rides of `year`, one every 13 h 20 min from 1 January 06:00 local (UTC-5);
// at most 650 fit in one year.
std::vector<core::Activity> RidesOf(int year, int n, int64_t first_id) {
  std::vector<core::Activity> out;
  int64_t base = *core::ParseNaiveEpoch(std::to_string(year) + "-01-01T06:00:00Z");
  for (int i = 0; i < n; ++i) {
    std::string local = core::FormatIsoUtc(core::TimePoint{std::chrono::seconds{base + i * 48'000}});
    out.push_back(Ride(first_id + i, local, -5, 1000.0 + i));
  }
  return out;
}

class SilentObserver final : public BackfillObserver {};

class BackfillTest : public ::testing::Test {
 protected:
  BackfillTest() : categories_(core::SportCategories::Default()) {
    auto store = adapters::sqlite::SqliteStore::Open(":memory:", categories_);
    EXPECT_TRUE(store.has_value()) << (store ? "" : store.error().message);
    store_ = std::move(*store);
    clock_.SetEpochS(*core::ParseNaiveEpoch("2026-06-01T12:00:00Z"));
    // As in a real run, where the session keeps the athlete's token in the
    // same store: pages are written only while it is there.
    EXPECT_TRUE(store_->SaveToken({kAthlete, "access", "refresh", 4'000'000'000, "read,activity:read_all"}));
  }

  Result<BackfillReport> Run(std::vector<int> years, bool dry_run = false) {
    Backfill backfill(source_, dry_run ? nullptr : store_.get(), dry_run ? nullptr : &output_, clock_, categories_,
                      observer_);
    BackfillOptions o;
    o.years = std::move(years);
    o.dry_run = dry_run;
    return backfill.Run(o);
  }

  std::set<int64_t> StoredIds(int year) {
    std::set<int64_t> ids;
    auto acts = store_->ActivitiesInLocalYear(kAthlete, year);
    EXPECT_TRUE(acts.has_value());
    for (const auto& a : *acts) ids.insert(a.id);
    return ids;
  }

  const core::SportCategories& categories_;
  std::unique_ptr<adapters::sqlite::SqliteStore> store_;
  fakes::FakeClock clock_;
  ScriptedSource source_;
  RecordingOutput output_;
  SilentObserver observer_;
};

TEST(MergeYearsTest, MergesContiguousYearsAndIgnoresOrderAndRepeats) {
  using V = std::vector<std::pair<int, int>>;
  EXPECT_EQ(MergeYears({2025, 2023, 2024, 2019, 2024}), (V{{2019, 2019}, {2023, 2025}}));
  EXPECT_EQ(MergeYears({2020}), (V{{2020, 2020}}));
  EXPECT_EQ(MergeYears({2021, 2019}), (V{{2019, 2019}, {2021, 2021}}));
}

TEST(RangeCheckpointTest, RoundTripsAndRejectsGarbage) {
  RangeCheckpoint cp{7, 1700000000, 1690000000, 3, 600, {1680000000, 1685000000}};
  auto back = RangeCheckpoint::Decode(cp.Encode());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->run_id, 7);
  EXPECT_EQ(back->fence_epoch_s, 1700000000);
  EXPECT_EQ(back->cursor_after_epoch_s, 1690000000);
  EXPECT_EQ(back->pages, 3);
  EXPECT_EQ(back->found, 600);
  EXPECT_EQ(back->boundaries, (std::vector<int64_t>{1680000000, 1685000000}));
  EXPECT_FALSE(RangeCheckpoint::Decode("").has_value());
  EXPECT_FALSE(RangeCheckpoint::Decode("run=x;fence=1").has_value());
  EXPECT_FALSE(RangeCheckpoint::Decode("run=7;fence=1;after=2;pages=3;found=4;edges=5,x").has_value());
  EXPECT_FALSE(RangeCheckpoint::Decode("run=7;fence=1;after=2;pages=3;found=4;edges=9,5").has_value())
      << "boundaries ascend";
  EXPECT_FALSE(RangeCheckpoint::Decode("run=7;fence=1;after=2;pages=3;found=4;edges=").has_value());
  // Written before boundaries were kept: still resumes, with none.
  auto old = RangeCheckpoint::Decode("run=7;fence=1;after=2;pages=3;found=4");
  ASSERT_TRUE(old.has_value());
  EXPECT_TRUE(old->boundaries.empty());
}

// Strava's `after` is exclusive: when a full page ends with an activity whose
// start second another one shares, the next request skips that other one.
// Reconciling must not take it for deleted; a truly deleted one in the same
// run still goes.
TEST_F(BackfillTest, AnActivityHiddenByAPageBoundaryIsNotTakenForDeleted) {
  auto rides = RidesOf(2024, 199, 1);
  core::Activity twin = rides.back();  // ride 199's start second, a larger id: listed after it
  twin.id = 5000;
  twin.raw_json = R"({"id":5000})";
  for (auto& a : rides) source_.Put(a);
  source_.Put(twin);
  auto first = Run({2024});  // 200 activities: one full page ending with the twin, then an empty one
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ASSERT_TRUE(StoredIds(2024).contains(5000));

  // Two earlier rides and one deleted: the full page now ends with ride 199,
  // and the next request (after its second) cannot list the twin.
  source_.Put(Ride(6000, "2024-01-01T01:00:00Z", -5));
  source_.Put(Ride(6001, "2024-01-01T02:00:00Z", -5));
  source_.Remove(50);
  auto second = Run({2024});
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->list_requests, 2);
  EXPECT_TRUE(StoredIds(2024).contains(5000)) << "the twin is on Strava; only the listing skipped it";
  EXPECT_FALSE(StoredIds(2024).contains(50));
  EXPECT_EQ(second->years.at(0).removed, 1);
}

// The page boundaries travel in the checkpoint: a run stopped right after
// the full page that hides the twin still keeps it when resumed.
TEST_F(BackfillTest, PageBoundariesSurviveAStopAndResume) {
  auto rides = RidesOf(2024, 199, 1);
  core::Activity twin = rides.back();
  twin.id = 5000;
  twin.raw_json = R"({"id":5000})";
  for (auto& a : rides) source_.Put(a);
  source_.Put(twin);
  ASSERT_TRUE(Run({2024}).has_value());
  source_.Put(Ride(6000, "2024-01-01T01:00:00Z", -5));
  source_.before_call = [n = 0](int) mutable -> Status {  // the source counts calls across runs
    if (++n == 2) return Fail(ErrorCode::kDailyRateLimited, "daily limit");  // after the full page
    return Ok();
  };
  auto stopped = Run({2024});
  ASSERT_TRUE(stopped.has_value()) << stopped.error().message;
  ASSERT_TRUE(stopped->stopped.has_value());
  source_.before_call = nullptr;
  auto resumed = Run({2024});
  ASSERT_TRUE(resumed.has_value()) << resumed.error().message;
  EXPECT_TRUE(resumed->resumed);
  EXPECT_TRUE(StoredIds(2024).contains(5000)) << "the boundary came back with the checkpoint";
  EXPECT_EQ(resumed->years.at(0).removed, 0);
}

// The resume guarantee rests on this bound: the fetching runs at most
// kWriteAheadPages + 1 pages past the last page committed (the waiting ones
// and the one being written), and, with the writer held up in a year's
// finalize (its page committed), it does get kWriteAheadPages past it.
TEST_F(BackfillTest, TheFetchingRunsAtMostTheWriteAheadPastTheLastCommittedPage) {
  for (int year = 2000; year <= 2025; ++year)
    for (auto& a : RidesOf(year, 200, (year - 1999) * 1000)) source_.Put(a);
  const std::string key = "backfill:" + std::to_string(kAthlete) + ":2000-2025";
  auto committed = [&]() -> int64_t {
    auto saved = store_->LoadCheckpoint(key);
    if (!saved || !*saved) return 0;
    auto cp = RangeCheckpoint::Decode(**saved);
    return cp ? cp->pages : 0;
  };
  std::mutex mu;
  std::condition_variable cv;
  int64_t calls = 0, max_lead = 0;
  source_.before_call = [&](int) -> Status {
    std::lock_guard lock(mu);
    max_lead = std::max(max_lead, calls - committed());  // pages fetched, not committed
    ++calls;
    cv.notify_all();
    return Ok();
  };
  bool held = false;
  output_.on_write = [&] {  // hold the writer at the first year it writes until the fetching is as far as it goes
    std::unique_lock lock(mu);
    if (std::exchange(held, true)) return;
    const int64_t target = committed() + static_cast<int64_t>(kWriteAheadPages) + 1;  // its Push then blocks
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return calls >= target; }))
        << "the fetching stopped at call " << calls << ", before " << target;
    // ... and no further while the writer is held: a correct queue never
    // makes another call here, a larger one would within milliseconds.
    EXPECT_FALSE(cv.wait_for(lock, std::chrono::milliseconds(300), [&] { return calls > target; }))
        << "the fetching ran past the write-ahead: call " << calls;
  };
  auto r = Run({2000, 2001, 2002, 2003, 2004, 2005, 2006, 2007, 2008, 2009, 2010, 2011, 2012,
                2013, 2014, 2015, 2016, 2017, 2018, 2019, 2020, 2021, 2022, 2023, 2024, 2025});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(StoredIds(2013).size(), 200u);
  EXPECT_LE(max_lead, static_cast<int64_t>(kWriteAheadPages) + 1);
  EXPECT_GE(max_lead, static_cast<int64_t>(kWriteAheadPages)) << "the hold let the fetching get that far";
}

// The athlete deauthorizes while the run is under way: serve's inserter
// deletes their tokens and data (here on the run's own store, as a second
// process would through the same file). Pages fetched before it, still in the
// write-ahead, must not bring the data back.
TEST_F(BackfillTest, ADeauthorizationDuringTheRunWinsOverThePagesStillToBeWritten) {
  for (auto& a : RidesOf(2024, 1000, 1)) source_.Put(a);
  source_.before_call = [&](int call) -> Status {
    if (call == 3) {
      auto deleted = store_->DeleteAthleteData(kAthlete);
      EXPECT_TRUE(deleted.has_value());
    }
    return Ok();
  };
  auto r = Run({2024});
  ASSERT_FALSE(r.has_value()) << "the run went on for an athlete without tokens";
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthorized);
  EXPECT_NE(r.error().message.find("deauthorized"), std::string::npos) << r.error().message;
  EXPECT_TRUE(StoredIds(2024).empty()) << StoredIds(2024).size() << " activities came back after the deletion";
  EXPECT_FALSE(store_->LoadToken(kAthlete).value_or(std::nullopt).has_value());
}

// The deauthorization lands after every activity was written, just before
// the empty page that ends the listing (400 activities: 200, 200, then 0).
// That page has nothing to write but the range's checkpoint, which must be
// refused too: the run stops as it does for any other page, rather than
// reporting a complete run for an athlete who revoked access.
TEST_F(BackfillTest, ADeauthorizationBeforeTheEmptyLastPageStopsTheRunAndSavesNoCheckpoint) {
  for (auto& a : RidesOf(2024, 400, 1)) source_.Put(a);
  bool deleted = false;
  source_.before_call = [&](int call) -> Status {
    if (call != 3) return Ok();
    // The writer commits asynchronously: wait for both full pages.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (StoredIds(2024).size() < 400 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_EQ(StoredIds(2024).size(), 400u);
    deleted = store_->DeleteAthleteData(kAthlete).has_value();
    return Ok();
  };
  auto r = Run({2024});
  ASSERT_TRUE(deleted) << "the listing did not reach its empty third page";
  ASSERT_FALSE(r.has_value()) << "the run ended as complete for an athlete without tokens";
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthorized);
  EXPECT_TRUE(StoredIds(2024).empty());
  EXPECT_FALSE(store_->LoadCheckpoint("backfill:" + std::to_string(kAthlete) + ":2024-2024")
                   .value_or(std::nullopt)
                   .has_value());
}

// The deletion commits after the year's totals were read for its files and
// before they are written (and serve's aggregator has already rewritten
// them): the files written last must be the empty ones.
TEST_F(BackfillTest, ADeauthorizationWhileAYearsFilesAreWrittenLeavesThemEmpty) {
  for (auto& a : RidesOf(2024, 300, 1)) source_.Put(a);
  bool deleted = false;
  output_.on_write = [&] {
    if (std::exchange(deleted, true)) return;
    auto n = store_->DeleteAthleteData(kAthlete);
    EXPECT_EQ(n.value_or(-1), 300);
  };
  auto r = Run({2024});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_TRUE(deleted);
  EXPECT_EQ(output_.written.at({2024, std::string(core::kDefaultCategory)}), 0)
      << "the year's files kept the deleted athlete's distance";
  EXPECT_TRUE(StoredIds(2024).empty());
}

TEST_F(BackfillTest, ListRequestsAreCeilOfNOver200AndOneMoreOnAnExactMultiple) {
  for (auto& a : RidesOf(2024, 450, 1)) source_.Put(a);
  for (auto& a : RidesOf(2025, 400, 10'001)) source_.Put(a);
  auto r = Run({2024});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->list_requests, 3);  // ceil(450 / 200)
  EXPECT_EQ(StoredIds(2024).size(), 450u);

  source_.queries.clear();
  auto r2 = Run({2025});
  ASSERT_TRUE(r2.has_value()) << r2.error().message;
  EXPECT_EQ(r2->list_requests, 3);  // 400 = 2 x 200: a third, empty page ends it
  EXPECT_EQ(StoredIds(2025).size(), 400u);
  for (const auto& q : source_.queries) {
    EXPECT_EQ(q.per_page, 200);
    EXPECT_EQ(q.page, 1) << "pages move the `after` cursor, never the page offset";
  }
}

// A merged range is one listing; the summary still says what each year cost:
// a page counts for the year most of its activities are in (the earlier on a
// tie), so the years' requests add up to the run's.
TEST_F(BackfillTest, EachYearIsChargedThePagesMostlyItsOwn) {
  for (auto& a : RidesOf(2023, 450, 1)) source_.Put(a);
  for (auto& a : RidesOf(2024, 450, 10'001)) source_.Put(a);
  for (auto& a : RidesOf(2025, 450, 20'001)) source_.Put(a);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = Run({2023, 2024, 2025});
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->list_requests, 7);  // 1,350 activities: 6 full pages and a short one
  ASSERT_EQ(r->years.size(), 3u);
  // Pages of 200 in order: 2023 | 2023 | 50 of 2023 + 150 of 2024 | 2024 |
  // 100 of 2024 + 100 of 2025 (a tie) | 2025 | 150 of 2025.
  EXPECT_EQ(r->years[0].requests, 2);
  EXPECT_EQ(r->years[1].requests, 3);
  EXPECT_EQ(r->years[2].requests, 2);
  double sum_s = 0;
  for (const auto& y : r->years) {
    EXPECT_GT(y.duration_s, 0) << y.year;
    sum_s += y.duration_s;
  }
  EXPECT_LE(sum_s, wall_s) << "the years share the run's time, never count it twice";
}

TEST_F(BackfillTest, ContiguousYearsShareOneListingAndLocalDatesDecideTheYear) {
  // 20:00 on 31 December in New York is 01:00 UTC on 1 January: the old year.
  source_.Put(Ride(1, "2024-12-31T20:00:00Z", -5));
  // 05:00 on 1 January at UTC+14 is 15:00 UTC on 31 December: the new year.
  source_.Put(Ride(2, "2024-01-01T05:00:00Z", 14));
  // 23:59 on 31 December 2023 at UTC+14: 2023, outside the requested years.
  source_.Put(Ride(3, "2023-12-31T23:59:00Z", 14));
  // 00:30 on 1 January 2026 at UTC-12: outside as well.
  source_.Put(Ride(4, "2026-01-01T00:30:00Z", -12));
  source_.Put(Ride(5, "2025-07-01T08:00:00Z", 2));
  auto r = Run({2025, 2024});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->list_requests, 1) << "2024 and 2025 are one range, one short page";
  EXPECT_EQ(StoredIds(2024), (std::set<int64_t>{1, 2}));
  EXPECT_EQ(StoredIds(2025), (std::set<int64_t>{5}));
  EXPECT_TRUE(StoredIds(2023).empty());
  EXPECT_TRUE(StoredIds(2026).empty());
  // The widened UTC range: 14 h before 1 January, 12 h after 31 December.
  ASSERT_FALSE(source_.queries.empty());
  EXPECT_EQ(*source_.queries[0].after_epoch_s, *core::ParseNaiveEpoch("2024-01-01T00:00:00Z") - 14 * 3600 - 1);
}

TEST_F(BackfillTest, APageWhoseLocalYearsInterleaveIsWrittenYearByYearInListingOrder) {
  // Listed by UTC start: 1 (local 2025), 2 and 4 (local 2024), 3 (local 2025).
  source_.Put(Ride(1, "2025-01-01T05:00:00Z", 14));   // 2024-12-31 15:00 UTC
  source_.Put(Ride(2, "2024-12-31T20:00:00Z", -5));   // 2025-01-01 01:00 UTC
  source_.Put(Ride(4, "2024-12-31T22:00:00Z", -12));  // 2025-01-01 10:00 UTC
  source_.Put(Ride(3, "2025-01-02T05:00:00Z", 14));   // 2025-01-01 15:00 UTC
  auto ids = [](const YearReport& y) {
    std::vector<int64_t> out;
    for (const auto& a : y.sample) out.push_back(a.id);
    return out;
  };
  auto dry = Run({2024, 2025}, /*dry_run=*/true);
  ASSERT_TRUE(dry.has_value()) << dry.error().message;
  ASSERT_EQ(dry->years.size(), 2u);
  EXPECT_EQ(ids(dry->years[0]), (std::vector<int64_t>{2, 4})) << "each year's activities, in listing order";
  EXPECT_EQ(ids(dry->years[1]), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(dry->years[0].requests, 1) << "a tie goes to the earlier year";
  EXPECT_EQ(dry->years[1].requests, 0);
  auto r = Run({2024, 2025});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(StoredIds(2024), (std::set<int64_t>{2, 4}));
  EXPECT_EQ(StoredIds(2025), (std::set<int64_t>{1, 3}));
  EXPECT_EQ(r->years[0].found, 2);
  EXPECT_EQ(r->years[0].inserted, 2);
  EXPECT_EQ(r->years[1].found, 2);
  EXPECT_EQ(r->years[1].inserted, 2);
}

TEST_F(BackfillTest, HistoryChangingBetweenPagesSkipsNothing) {
  auto rides = RidesOf(2024, 500, 1);
  for (auto& a : rides) source_.Put(a);
  // After the first page: ten early activities are deleted on Strava (an
  // offset-paged listing would now skip ten) and two new ones appear at the
  // end of the year.
  source_.before_call = [&](int call) -> Status {
    if (call == 2) {
      for (int64_t id = 1; id <= 10; ++id) source_.Remove(id);
      source_.Put(Ride(9001, "2024-12-30T10:00:00Z", -5));
      source_.Put(Ride(9002, "2024-12-30T11:00:00Z", -5));
    }
    return Ok();
  };
  auto r = Run({2024});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  std::set<int64_t> stored = StoredIds(2024);
  for (int64_t id = 11; id <= 500; ++id) EXPECT_TRUE(stored.contains(id)) << id;
  EXPECT_TRUE(stored.contains(9001));
  EXPECT_TRUE(stored.contains(9002));
  // The deleted ones were stored from page 1 and count as seen by that run;
  // the next run no longer lists them and archives them.
  EXPECT_TRUE(stored.contains(1));
  auto again = Run({2024});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->years.at(0).removed, 10);
  EXPECT_EQ(StoredIds(2024), source_.Ids());
}

TEST_F(BackfillTest, AStoppedRunResumesWithoutFetchingACompletedPageTwice) {
  for (auto& a : RidesOf(2024, 650, 1)) source_.Put(a);
  ASSERT_EQ(source_.Ids().size(), 650u);
  source_.before_call = [](int call) -> Status {
    if (call == 3) return Fail(ErrorCode::kDailyRateLimited, "daily limit");
    return Ok();
  };
  auto first = Run({2024});
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ASSERT_TRUE(first->stopped.has_value());
  EXPECT_EQ(first->stopped->code, ErrorCode::kDailyRateLimited);
  EXPECT_EQ(StoredIds(2024).size(), 400u) << "the two completed pages are committed";
  EXPECT_TRUE(output_.written.empty()) << "no aggregate files from a partial year";

  source_.before_call = nullptr;
  auto second = Run({2024});
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_FALSE(second->stopped.has_value());
  EXPECT_TRUE(second->resumed);
  EXPECT_EQ(second->run_id, first->run_id);
  // 650 activities: 4 pages in all, 2 before the stop and 2 after.
  EXPECT_EQ(source_.RequestsSent(), 4);
  std::set<int64_t> afters;
  for (const auto& q : source_.queries) EXPECT_TRUE(afters.insert(*q.after_epoch_s).second) << "a page fetched twice";
  EXPECT_EQ(StoredIds(2024).size(), 650u);
  EXPECT_EQ(second->years.at(0).removed, 0) << "rows of the first attempt count as seen by the resumed run";
  // Distances 1000 + i metres, i = 0..649, in millimetres.
  EXPECT_EQ(output_.written.at({2024, "cycling"}), (650 * 1000 + 649 * 650 / 2) * 1000);
}

// A year is finalized (reconciled, rebuilt, its files written) as soon as the
// listing passes it, not at the end of the range: a run stopped in a later
// year has already finished the earlier ones, and leaves the later ones alone.
TEST_F(BackfillTest, AYearIsFinalizedOnceTheListingPassesItEvenIfTheRunStopsLater) {
  for (auto& a : RidesOf(2023, 300, 1)) source_.Put(a);
  for (auto& a : RidesOf(2024, 500, 1001)) source_.Put(a);
  ASSERT_TRUE(Run({2023, 2024}).has_value());
  output_.written.clear();
  source_.Remove(7);     // 2023, deleted on Strava since
  source_.Remove(1007);  // 2024, deleted on Strava since
  // Pages: 200 of 2023, then 99 of 2023 + 101 of 2024 (its cursor is past
  // 2023's widened end, 1 January 2024 12:00 UTC). This run's third call fails.
  source_.before_call = [n = 0](int) mutable -> Status {
    if (++n == 3) return Fail(ErrorCode::kDailyRateLimited, "daily limit");
    return Ok();
  };
  auto r = Run({2023, 2024});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_TRUE(r->stopped.has_value());
  EXPECT_FALSE(StoredIds(2023).contains(7)) << "2023 was reconciled when the listing passed it";
  EXPECT_EQ(r->years.at(0).removed, 1);
  EXPECT_TRUE(output_.written.contains({2023, "cycling"}));
  EXPECT_TRUE(StoredIds(2024).contains(1007)) << "2024's listing is incomplete: nothing archived";
  EXPECT_FALSE(output_.written.contains({2024, "cycling"}));

  source_.before_call = nullptr;
  auto resumed = Run({2023, 2024});
  ASSERT_TRUE(resumed.has_value()) << resumed.error().message;
  EXPECT_TRUE(resumed->resumed);
  EXPECT_FALSE(StoredIds(2024).contains(1007));
  EXPECT_EQ(StoredIds(2023).size(), 299u);
  EXPECT_EQ(StoredIds(2024).size(), 499u);
  EXPECT_TRUE(output_.written.contains({2024, "cycling"}));
}

// An activity of a year that comes after the listing passed that year (only
// possible with a UTC offset beyond -12/+14 h) is counted as an error, so
// that the year is run again, instead of passing silently.
TEST_F(BackfillTest, AnActivityListedAfterItsYearWasReconciledIsAnError) {
  for (auto& a : RidesOf(2023, 150, 1)) source_.Put(a);
  for (auto& a : RidesOf(2024, 300, 1001)) source_.Put(a);
  // Local 31 December 2023, 20:00, at UTC-1104 h: 15 February 2024 in UTC,
  // on the second page, after the first page's cursor passed 2023.
  source_.Put(Ride(9999, "2023-12-31T20:00:00Z", -1104));
  auto r = Run({2023, 2024});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->years.at(0).year, 2023);
  EXPECT_EQ(r->years.at(0).errors, 1);
  EXPECT_EQ(r->years.at(1).errors, 0);
}

// A distance no activity can have (1e300 m rounds to no int64 millimetre
// count; a negative one would subtract) is refused with an error instead of
// corrupting the year's integer totals; the other activities are stored.
TEST_F(BackfillTest, AnActivityWithImpossibleAmountsIsAnErrorNotPartOfTheTotals) {
  source_.Put(Ride(1, "2025-03-01T10:00:00Z", 0, 12'000));
  source_.Put(Ride(2, "2025-03-02T10:00:00Z", 0, 1e300));
  source_.Put(Ride(3, "2025-03-03T10:00:00Z", 0, -5'000));
  core::Activity endless = Ride(4, "2025-03-04T10:00:00Z", 0, 8'000);
  endless.moving_time_s = int64_t{9'000'000'000'000'000'000};
  source_.Put(endless);
  auto r = Run({2025});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->years.at(0).errors, 3);
  EXPECT_EQ(StoredIds(2025), (std::set<int64_t>{1}));
  EXPECT_EQ(output_.written.at({2025, "cycling"}), 12'000'000);
  auto days = store_->DailyForYear(kAthlete, 2025, "cycling");
  ASSERT_TRUE(days.has_value());
  ASSERT_EQ(days->size(), 1u);
  EXPECT_EQ(days->at(0).moving_time_s, 1800);
}

// An activity stored earlier that Strava now lists with impossible amounts
// is an error of the run; the stored copy stays (it was listed: it is not
// deleted on Strava) and so do the totals.
TEST_F(BackfillTest, AStoredActivityListedWithImpossibleAmountsIsKeptNotArchived) {
  source_.Put(Ride(1, "2025-03-01T10:00:00Z", 0, 12'000));
  source_.Put(Ride(2, "2025-03-02T10:00:00Z", 0, 7'000));
  auto first = Run({2025});
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ASSERT_EQ(StoredIds(2025), (std::set<int64_t>{1, 2}));

  source_.Put(Ride(2, "2025-03-02T10:00:00Z", 0, 1e300));
  auto second = Run({2025});
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->years.at(0).errors, 1);
  EXPECT_EQ(second->years.at(0).removed, 0);
  EXPECT_EQ(StoredIds(2025), (std::set<int64_t>{1, 2}));
  EXPECT_EQ(output_.written.at({2025, "cycling"}), 19'000'000);
}

// The current year's series runs to today in the athlete's time zone, not
// UTC's: at 12:00 UTC on 31 December 2026 an athlete at UTC+14 is already in
// 1 January 2027 (one point), and one at UTC-12 is still on 31 December.
TEST_F(BackfillTest, TheCurrentYearRunsToTodayInTheAthletesTimeZone) {
  clock_.SetEpochS(*core::ParseNaiveEpoch("2026-12-31T12:00:00Z"));
  source_.Put(Ride(1, "2026-12-30T09:00:00Z", 14));
  source_.Put(Ride(2, "2027-01-01T01:00:00Z", 14));  // 11:00 UTC on 31 December
  auto r = Run({2026, 2027});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(output_.through.at({2026, "cycling"}), "2026-12-31");
  EXPECT_EQ(output_.through.at({2027, "cycling"}), "2027-01-01");

  clock_.SetEpochS(*core::ParseNaiveEpoch("2026-06-01T08:00:00Z"));
  source_.Remove(1);
  source_.Remove(2);
  source_.Put(Ride(3, "2026-05-31T19:00:00Z", -12));  // 07:00 UTC on 1 June: the latest
  r = Run({2026});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(output_.through.at({2026, "cycling"}), "2026-05-31");
}

TEST_F(BackfillTest, ReRunsAreUnchangedAndDeletionsOnStravaAreArchived) {
  for (auto& a : RidesOf(2024, 30, 1)) source_.Put(a);
  for (auto& a : RidesOf(2023, 5, 501)) source_.Put(a);
  ASSERT_TRUE(Run({2023, 2024}).has_value());
  auto same = Run({2024});
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(same->years.at(0).unchanged, 30);
  EXPECT_EQ(same->years.at(0).inserted + same->years.at(0).updated + same->years.at(0).removed, 0);

  source_.Remove(3);
  source_.Remove(17);
  source_.Remove(502);  // 2023: not requested below, so kept
  auto edited = Ride(5, "2024-01-04T06:00:00Z", -5, 77'000);
  source_.Put(edited);
  auto r = Run({2024});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->years.at(0).removed, 2);
  EXPECT_EQ(r->years.at(0).updated, 1);
  EXPECT_EQ(r->years.at(0).unchanged, 27);
  EXPECT_FALSE(StoredIds(2024).contains(3));
  EXPECT_FALSE(StoredIds(2024).contains(17));
  EXPECT_TRUE(StoredIds(2023).contains(502));
  EXPECT_EQ((*store_->GetActivity(kAthlete, 5))->distance_m, 77'000);
}

TEST_F(BackfillTest, AWebhookChangeDuringTheRunIsNotOverwrittenByTheOlderCopy) {
  auto rides = RidesOf(2024, 300, 1);
  for (auto& a : rides) source_.Put(a);
  // Between pages 1 and 2 a webhook renames activity 250 (on page 2). The
  // page that lists it afterwards carries the older name: the live change
  // came after the run started, so it wins.
  source_.before_call = [&](int call) -> Status {
    if (call == 2) {
      clock_.SetEpochS(clock_.NowEpochS() + 5);
      core::Activity renamed = rides[249];
      renamed.name = "renamed by webhook";
      ports::UpsertOptions o;
      o.now_epoch_s = clock_.NowEpochS();
      o.from_webhook = true;
      EXPECT_TRUE(store_->UpsertActivities(std::vector<core::Activity>{renamed}, o).has_value());
    }
    return Ok();
  };
  auto r = Run({2024});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->years.at(0).fenced, 1);
  EXPECT_EQ((*store_->GetActivity(kAthlete, 250))->name, "renamed by webhook");
  EXPECT_EQ((*store_->GetActivity(kAthlete, 249))->name, "ride 249");
  EXPECT_EQ(StoredIds(2024).size(), 300u);
}

TEST_F(BackfillTest, ADeleteConfirmedBeforeThePageIsWrittenKeepsTheActivityOut) {
  auto rides = RidesOf(2024, 300, 1);
  for (auto& a : rides) source_.Put(a);
  // Activity 250 (on page 2) is deleted on Strava and the delete webhook is
  // confirmed before the run stores it; page 2 still lists it (the listing
  // was answered before the delete, its write lands after).
  source_.before_call = [&](int call) -> Status {
    if (call == 2) {
      clock_.SetEpochS(clock_.NowEpochS() + 5);
      ports::ArchiveRequest request;
      request.athlete_id = kAthlete;
      request.ids = {250};
      request.reason = "delete webhook confirmed: Strava answers 404";
      request.now_epoch_s = clock_.NowEpochS();
      request.fence_epoch_s = clock_.NowEpochS() + 1;
      auto archived = store_->ArchiveActivities(request);
      EXPECT_EQ(archived.value_or(-1), 0);  // not stored yet: nothing to archive
    }
    return Ok();
  };
  auto r = Run({2024});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->years.at(0).fenced, 1);
  EXPECT_EQ(r->years.at(0).removed, 0);
  EXPECT_FALSE(store_->GetActivity(kAthlete, 250).value().has_value());
  EXPECT_EQ(StoredIds(2024).size(), 299u);
  const auto days = store_->DailyForYear(kAthlete, 2024, "");
  ASSERT_TRUE(days.has_value()) << days.error().message;
  int64_t total_mm = 0;
  for (const auto& d : *days) total_mm += d.distance_mm;
  EXPECT_EQ(total_mm, (300 * 1000 + 299 * 300 / 2 - 1249) * 1000);  // rides of 1000 + i m, without 250's
}

TEST_F(BackfillTest, DryRunReportsTheFirstTenAndWritesNothing) {
  for (auto& a : RidesOf(2024, 42, 1)) source_.Put(a);
  auto r = Run({2024}, /*dry_run=*/true);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->years.at(0).found, 42);
  ASSERT_EQ(r->years.at(0).sample.size(), 10u);
  EXPECT_EQ(r->years.at(0).sample.front().id, 1);
  EXPECT_TRUE(StoredIds(2024).empty());
  EXPECT_TRUE(output_.written.empty());
}

TEST_F(BackfillTest, AFullPageThatDoesNotMoveTheCursorStopsInsteadOfLooping) {
  // A broken server that ignores `after` and answers the same full page.
  auto rides = RidesOf(2024, 200, 1);
  class Stuck final : public ActivitySource {
   public:
    explicit Stuck(std::vector<core::Activity> page) : page_(std::move(page)) {}
    Result<int64_t> AthleteId() override { return kAthlete; }
    Result<std::vector<core::Activity>> ListActivities(const ports::ListQuery&) override {
      ++n_;
      return page_;
    }
    int64_t RequestsSent() const override { return n_; }

   private:
    std::vector<core::Activity> page_;
    int64_t n_ = 0;
  } stuck(rides);
  Backfill backfill(stuck, store_.get(), &output_, clock_, categories_, observer_);
  BackfillOptions o;
  o.years = {2024};
  auto r = backfill.Run(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kProtocol);
  EXPECT_EQ(stuck.RequestsSent(), 2);
}

}  // namespace
}  // namespace dl::app
