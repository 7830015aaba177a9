// The live pipeline on the real SQLite store (queue, acks, patches and dirty
// years in the same database as the data) with a scripted FakeStravaApi:
//  - the property test: random create/update/delete sequences (fixed seeds),
//    with duplicates, out-of-order delivery, forged deletes and stale
//    creates, processed by the threaded Pipeline; after every batch the
//    daily totals equal a full rebuild and the stored activities equal
//    Strava's state; at the end the yearly files equal the totals;
//  - crash safety: events claimed by a worker that died come back after the
//    lease and their effects apply once; an effect committed with its ack is
//    never redelivered;
//  - two connections (two processes) never claim the same event.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "adapters/files/year_files.h"
#include "adapters/sqlite/sqlite_store.h"
#include "app/pipeline.h"
#include "core/aggregates.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_strava_api.h"

namespace dl::app {
namespace {

using adapters::sqlite::SqliteStore;
using fakes::FakeClock;
using fakes::FakeStravaApi;
using Method = FakeStravaApi::Method;

constexpr int64_t kNow = FakeClock::kDefaultStartEpochS;
constexpr int64_t kAthlete = 4242;
constexpr int kFirstYear = 2022, kLastYear = 2025;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "dl_pipeline_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::unique_ptr<SqliteStore> OpenStore(const std::filesystem::path& file) {
  auto store = SqliteStore::Open(file.string(), core::SportCategories::Default());
  EXPECT_TRUE(store) << (store ? "" : store.error().message);
  return store ? std::move(*store) : nullptr;
}

template <class F>
bool Eventually(F done, std::chrono::seconds limit = std::chrono::seconds(60)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done();
}

core::WebhookEvent Event(const std::string& aspect, int64_t id, int64_t event_time) {
  core::WebhookEvent e;
  e.object_type = "activity";
  e.object_id = id;
  e.aspect_type = aspect;
  e.owner_id = kAthlete;
  e.subscription_id = 1;
  e.event_time = event_time;
  return e;
}

// The raw JSON as Strava would send it: it changes with the fields.
void Rewrap(core::Activity& a) {
  std::ostringstream raw;
  raw << R"({"id":)" << a.id << R"(,"athlete":{"id":)" << a.athlete_id << R"(},"name":")" << a.name
      << R"(","type":")" << a.type << R"(","sport_type":")" << a.sport_type << R"(","start_date":")"
      << a.start_date << R"(","start_date_local":")" << a.start_date_local << R"(","distance":)" << a.distance_m
      << R"(,"private":)" << (a.is_private ? "true" : "false") << "}";
  a.raw_json = raw.str();
}

// Strava as the test drives it: every change goes to the FakeStravaApi and
// to a model of what the store must end up holding, and returns the webhook
// events Strava would send (plus forged and stale ones).
class World {
 public:
  World(uint64_t seed, FakeStravaApi& api) : rng_(seed), api_(api) {}

  std::vector<core::WebhookEvent> Step() {
    const int roll = Pick(100);
    if (live_.empty() || roll < 25) return Create();
    const int64_t id = AnyLive();
    if (roll < 40) return Update(id, [&](core::Activity& a, core::WebhookEvent& e) {
        a.name = "Title " + std::to_string(Pick(1000));
        e.title = a.name;
      });
    if (roll < 55) return Update(id, [&](core::Activity& a, core::WebhookEvent& e) {
        SetType(a, kTypes[Pick(std::size(kTypes))]);
        e.type = a.type;
      });
    if (roll < 62) return Update(id, [&](core::Activity& a, core::WebhookEvent& e) {
        a.is_private = !a.is_private;
        a.visibility = a.is_private ? "only_me" : "everyone";
        e.is_private = a.is_private;
      });
    if (roll < 72) return Update(id, [&](core::Activity& a, core::WebhookEvent& e) {
        SetDate(a);  // no webhook fires for a date edit; the next title edit brings it
        a.name += "!";
        e.title = a.name;
      });
    if (roll < 86) return Delete(id);
    if (roll < 93) return {Event("delete", id, NextTime())};  // forged: Strava still has it
    if (!deleted_.empty()) return {Event("create", *deleted_.begin(), NextTime())};  // stale
    return Create();
  }

  const std::map<int64_t, core::Activity>& live() const { return live_; }

 private:
  static constexpr const char* kTypes[] = {"Ride", "Run", "Walk", "VirtualRide", "EBikeRide", "Hike"};

  int Pick(size_t n) { return static_cast<int>(rng_() % n); }
  int64_t NextTime() { return ++time_; }
  int64_t AnyLive() {
    auto it = live_.begin();
    std::advance(it, Pick(live_.size()));
    return it->first;
  }
  void SetType(core::Activity& a, const std::string& type) { a.type = a.sport_type = type; }
  void SetDate(core::Activity& a) {
    // Around the year boundaries too, so that changes move between years.
    static constexpr const char* kDays[] = {"2022-12-31", "2023-01-01", "2023-06-15", "2023-12-31",
                                            "2024-01-01", "2024-02-29", "2024-07-04", "2025-01-01"};
    const std::string day = kDays[Pick(std::size(kDays))];
    const std::string hour = Pick(2) ? "23" : "06";
    a.start_date_local = day + "T" + hour + ":30:00Z";
    a.start_date = a.start_date_local;
  }
  std::vector<core::WebhookEvent> Create() {
    core::Activity a = fakes::MakeActivity(next_id_++, kAthlete, "2023-01-01T00:00:00Z",
                                           1000.0 * (1 + Pick(80)) + 0.25 * Pick(4));
    SetType(a, kTypes[Pick(std::size(kTypes))]);
    SetDate(a);
    a.total_elevation_gain_m = 0.1 * Pick(5000);
    a.moving_time_s = 600 + Pick(10000);
    Rewrap(a);
    live_[a.id] = a;
    api_.UpsertActivity(a);
    return {Event("create", a.id, NextTime())};
  }
  template <class F>
  std::vector<core::WebhookEvent> Update(int64_t id, F change) {
    core::Activity& a = live_[id];
    core::WebhookEvent e = Event("update", id, NextTime());
    change(a, e);
    Rewrap(a);
    api_.UpsertActivity(a);
    return {e};
  }
  std::vector<core::WebhookEvent> Delete(int64_t id) {
    live_.erase(id);
    deleted_.insert(id);
    api_.RemoveActivity(id);
    return {Event("delete", id, NextTime())};
  }

  std::mt19937_64 rng_;
  FakeStravaApi& api_;
  std::map<int64_t, core::Activity> live_;
  std::set<int64_t> deleted_;
  int64_t next_id_ = 1;
  int64_t time_ = kNow;
};

class SqlitePipelineTest : public ::testing::Test {
 protected:
  SqlitePipelineTest() {
    store_ = OpenStore(dir_.path() / "desirelines.db");
    api_.SetAthleteId(kAthlete);
    api_.SetAccessToken("access-live", kNow + 6 * 3600);
    api_.SetRefreshToken("refresh-live");
    EXPECT_TRUE(store_->SaveToken({kAthlete, "access-live", "refresh-live", kNow + 6 * 3600, "activity:read_all"}));
    // A roomy budget: this test is about the data, not the rate limits.
    EXPECT_TRUE(store_->UpdateRateBudget([](core::RateBudgetState& s) {
      s.limit_15min = s.read_limit_15min = s.limit_daily = s.read_limit_daily = 1'000'000;
    }));
  }

  std::unique_ptr<Pipeline> MakePipeline(ports::Store& store, int threads) {
    PipelineOptions o;
    o.inserter_threads = threads;
    o.inserter.window_grace_ms = 0;
    o.idle_poll = std::chrono::milliseconds(20);
    o.aggregate_every = std::chrono::milliseconds(5);
    PipelinePorts ports{store, store, store, store, store, store, clock_,
                        [this](int) -> ports::StravaApi& { return api_; },
                        [this](int64_t) -> ports::YearOutput* { return &output_; }};
    return std::make_unique<Pipeline>(ports, core::SportCategories::Default(), o);
  }

  std::vector<core::Activity> StoredActivities(ports::Store& store) {
    std::vector<core::Activity> all;
    for (int y = kFirstYear; y <= kLastYear; ++y) {
      auto year = store.ActivitiesInLocalYear(kAthlete, y);
      EXPECT_TRUE(year);
      if (year) all.insert(all.end(), year->begin(), year->end());
    }
    std::ranges::sort(all, {}, &core::Activity::id);
    return all;
  }

  // Daily totals == core::SummarizeDays over the stored activities, per year.
  void ExpectTotalsEqualARebuild(ports::Store& store, const std::string& when) {
    for (int y = kFirstYear; y <= kLastYear; ++y) {
      auto activities = store.ActivitiesInLocalYear(kAthlete, y);
      auto daily = store.DailyForYear(kAthlete, y, "");
      ASSERT_TRUE(activities && daily);
      EXPECT_EQ(*daily, core::SummarizeDays(*activities, core::SportCategories::Default()))
          << "year " << y << " " << when;
    }
  }

  // Six batches of 40 random changes of Strava (each with its webhook
  // events, some duplicated, all shuffled), each drained by the pipeline.
  void RunProperty(uint64_t seed, ports::Store& store, Pipeline& pipeline, int* events_sent) {
    World world(seed, api_);
    std::mt19937_64 shuffle(seed * 31 + 7);
    for (int batch = 0; batch < 6; ++batch) {
      std::vector<core::WebhookEvent> events;
      for (int i = 0; i < 40; ++i) {
        for (auto& e : world.Step()) {
          events.push_back(e);
          if (shuffle() % 7 == 0) events.push_back(e);  // Strava retried it
        }
      }
      std::shuffle(events.begin(), events.end(), shuffle);  // out of order
      // Delivered in a few intake batches, as concurrent webhooks would be.
      for (size_t at = 0; at < events.size(); at += 16) {
        std::span<const core::WebhookEvent> part(events.data() + at, std::min<size_t>(16, events.size() - at));
        ASSERT_TRUE(store.EnqueueBatch(part, kNow));
        pipeline.Wake();
      }
      *events_sent += static_cast<int>(events.size());
      ASSERT_TRUE(Eventually([&] { return store.PendingCount().value_or(-1) == 0; }))
          << "seed " << seed << " batch " << batch;
      ExpectTotalsEqualARebuild(store, "after batch " + std::to_string(batch) + " of seed " + std::to_string(seed));
      std::vector<core::Activity> expected;
      for (const auto& [id, a] : world.live()) expected.push_back(a);
      ASSERT_EQ(StoredActivities(store), expected) << "seed " << seed << " batch " << batch;
    }
    EXPECT_TRUE(store.ListEvents(true, 10)->empty()) << "nothing may be dead-lettered";
  }

  TempDir dir_;
  FakeClock clock_;
  FakeStravaApi api_{clock_};
  std::unique_ptr<SqliteStore> store_;
  adapters::files::FileYearOutput output_{dir_.path()};
};

class SqlitePipelinePropertyTest : public SqlitePipelineTest, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(SqlitePipelinePropertyTest, RandomEventSequencesKeepAggregatesEqualToAFullRebuild) {
  auto pipeline = MakePipeline(*store_, 3);
  pipeline->Start();
  int events = 0;
  RunProperty(GetParam(), *store_, *pipeline, &events);
  pipeline->Stop();
  EXPECT_GE(events, 250);
  const auto stats = pipeline->Stats();
  EXPECT_GT(stats.inserter.forged_deletes, 0);
  EXPECT_GT(stats.inserter.archived, 0);
  EXPECT_GT(stats.inserter.patched, 0);
  // At most one Strava request per claimed event.
  EXPECT_LE(api_.Calls(Method::kGetActivity), stats.inserter.claimed);
  // The files equal the totals: nothing is left dirty after Stop().
  for (int y = kFirstYear; y <= kLastYear; ++y) {
    auto cycling = *store_->DailyForYear(kAthlete, y, "cycling");
    if (cycling.empty() && !std::filesystem::exists(adapters::files::LegacySummaryPath(dir_.path(), y))) continue;
    std::ifstream in(adapters::files::LegacySummaryPath(dir_.path(), y));
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), adapters::files::RenderLegacySummary(y, cycling)) << "year " << y;
  }
  EXPECT_TRUE(store_->ClaimDirtyYears(100, kNow + 10'000, 60)->empty());
}

INSTANTIATE_TEST_SUITE_P(Seeds, SqlitePipelinePropertyTest, ::testing::Values(1u, 2u, 3u));

TEST_F(SqlitePipelineTest, ClaimedEventsOfAKilledWorkerComeBackAndApplyOnce) {
  for (int64_t id : {1, 2, 3}) {
    core::Activity a = fakes::MakeActivity(id, kAthlete, "2024-03-0" + std::to_string(id) + "T08:00:00Z");
    api_.UpsertActivity(a);
  }
  std::vector<core::WebhookEvent> events{Event("create", 1, kNow), Event("create", 2, kNow + 1),
                                         Event("create", 3, kNow + 2)};
  ASSERT_TRUE(store_->EnqueueBatch(events, kNow));
  {
    // Another process claims two events, commits the effect of the first
    // with its ack, and is killed before it does anything about the second.
    auto dying = OpenStore(dir_.path() / "desirelines.db");
    auto claimed = dying->Claim(2, kNow, 60);
    ASSERT_TRUE(claimed);
    ASSERT_EQ(claimed->size(), 2u);
    ports::UpsertOptions o;
    o.now_epoch_s = kNow;
    o.from_webhook = true;
    o.ack_events = {(*claimed)[0].seq};
    std::vector<core::Activity> first{fakes::MakeActivity(1, kAthlete, "2024-03-01T08:00:00Z")};
    ASSERT_TRUE(dying->UpsertActivities(first, o));
  }
  WorkLocks locks;
  InserterOptions options;
  Inserter inserter(InserterPorts{*store_, *store_, *store_, *store_, *store_, api_, clock_}, locks, options);
  EXPECT_EQ(*inserter.RunOnce(), 1);  // event 3; event 2 is still leased to the dead worker
  EXPECT_EQ(*store_->PendingCount(), 1);
  clock_.SetEpochS(kNow + 60);
  auto redelivered = inserter.RunOnce();
  ASSERT_TRUE(redelivered);
  EXPECT_EQ(*redelivered, 1);  // event 2 only: event 1 completed with its effect
  EXPECT_EQ(api_.Calls(Method::kGetActivity), 2);
  EXPECT_EQ(*store_->PendingCount(), 0);
  EXPECT_EQ(StoredActivities(*store_).size(), 3u);
  auto days = *store_->DailyForYear(kAthlete, 2024, "");
  int64_t count = 0;
  for (const auto& d : days) count += d.count;
  EXPECT_EQ(count, 3);  // each applied once
  ExpectTotalsEqualARebuild(*store_, "after the redelivery");
}

TEST_F(SqlitePipelineTest, TwoConnectionsNeverClaimTheSameEvent) {
  auto other = OpenStore(dir_.path() / "desirelines.db");
  std::vector<core::WebhookEvent> events;
  for (int64_t id = 1; id <= 200; ++id) events.push_back(Event("create", id, kNow + id));
  ASSERT_TRUE(store_->EnqueueBatch(events, kNow));
  std::mutex mu;
  std::multiset<int64_t> seen;
  std::atomic<int> failures{0};
  auto worker = [&](ports::EventQueue& queue) {
    for (;;) {
      auto claimed = queue.Claim(5, kNow, 3600);
      if (!claimed) {
        ++failures;
        return;
      }
      if (claimed->empty()) return;
      std::vector<int64_t> seqs;
      for (const auto& e : *claimed) seqs.push_back(e.seq);
      {
        std::lock_guard lock(mu);
        seen.insert(seqs.begin(), seqs.end());
      }
      if (!queue.Ack(seqs)) ++failures;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(worker, std::ref(i % 2 == 0 ? *store_ : *other));
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(seen.size(), 200u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 200u);
  EXPECT_EQ(*store_->PendingCount(), 0);
}

TEST_F(SqlitePipelineTest, AggregatorRewritesAreIdempotent) {
  std::vector<core::Activity> rides{fakes::MakeActivity(1, kAthlete, "2024-03-01T08:00:00Z", 12'345.6),
                                    fakes::MakeActivity(2, kAthlete, "2024-03-02T08:00:00Z", 7'000, "Run")};
  ports::UpsertOptions o;
  o.now_epoch_s = kNow;
  ASSERT_TRUE(store_->UpsertActivities(rides, o));
  AggregatorOptions ao;
  ao.categories = {"cycling", "running"};
  Aggregator aggregator(*store_, *store_, [this](int64_t) -> ports::YearOutput* { return &output_; }, clock_,
                        core::SportCategories::Default(), ao);
  EXPECT_EQ(*aggregator.RunOnce(), 1);
  auto read = [&](const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  const auto legacy = adapters::files::LegacySummaryPath(dir_.path(), 2024);
  const auto running = adapters::files::CategorySummaryPath(dir_.path(), 2024, "running");
  const std::string first_legacy = read(legacy), first_running = read(running);
  EXPECT_NE(first_legacy.find("2024-03-01"), std::string::npos);
  EXPECT_NE(first_running.find("2024-03-02"), std::string::npos);
  ASSERT_TRUE(store_->RebuildYear(kAthlete, 2024));  // marks the year again, changes nothing
  EXPECT_EQ(*aggregator.RunOnce(), 1);
  EXPECT_EQ(read(legacy), first_legacy);
  EXPECT_EQ(read(running), first_running);
}

}  // namespace
}  // namespace dl::app
