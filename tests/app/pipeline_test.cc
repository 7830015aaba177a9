// The live pipeline's workers over in-memory fakes: FakeStravaApi (scripted),
// FakeClock (jumps, never sleeps), InMemoryEventQueue, in-memory tokens,
// budget and store. Inserter::RunOnce is driven step by step, so every
// outcome is deterministic; the Pipeline tests run the real threads and wait
// on conditions with a deadline.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "adapters/sqlite/sqlite_store.h"
#include "app/aggregator.h"
#include "app/inserter.h"
#include "app/pipeline.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_strava_api.h"
#include "fakes/in_memory_event_queue.h"
#include "fakes/in_memory_rate_budget_store.h"
#include "fakes/in_memory_token_store.h"
#include "pipeline_test_store.h"

namespace dl::app {
namespace {

using fakes::FakeClock;
using fakes::FakeStravaApi;
using fakes::MakeActivity;
using Method = FakeStravaApi::Method;
using ::testing::HasSubstr;

// 2023-11-14T22:13:20Z: its 15-minute window ends at 22:15:00 (1700000100),
// the UTC day at 1700006400.
constexpr int64_t kNow = FakeClock::kDefaultStartEpochS;
constexpr int64_t kWindowEnd = 1'700'000'100;
constexpr int64_t kMidnight = 1'700'006'400;
constexpr int64_t kAthlete = 4242;

core::WebhookEvent Event(const std::string& aspect, int64_t id, int64_t event_time, int64_t owner = kAthlete) {
  core::WebhookEvent e;
  e.object_type = "activity";
  e.object_id = id;
  e.aspect_type = aspect;
  e.owner_id = owner;
  e.subscription_id = 1;
  e.event_time = event_time;
  return e;
}

core::WebhookEvent Deauthorization(int64_t athlete, int64_t event_time) {
  core::WebhookEvent e;
  e.object_type = "athlete";
  e.object_id = athlete;
  e.aspect_type = "update";
  e.owner_id = athlete;
  e.subscription_id = 1;
  e.event_time = event_time;
  e.authorized = false;
  e.updates_json = R"({"authorized":"false"})";
  return e;
}

// Waits for `done` with a deadline; never a fixed sleep.
template <class F>
bool Eventually(F done, std::chrono::seconds limit = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done();
}

// Remembers what each (year, category) was last written with.
class RecordingOutput final : public ports::YearOutput {
 public:
  Status WriteYear(int year, const std::string& category, std::span<const core::DailyTotals> days, core::Date,
                   bool legacy) override {
    std::lock_guard lock(mu_);
    if (hook_) hook_(year, category);
    files_[{year, category}] = std::vector<core::DailyTotals>(days.begin(), days.end());
    if (legacy) legacy_.insert(year);
    ++writes_;
    return Ok();
  }
  std::optional<std::vector<core::DailyTotals>> Get(int year, const std::string& category) const {
    std::lock_guard lock(mu_);
    auto it = files_.find({year, category});
    if (it == files_.end()) return std::nullopt;
    return it->second;
  }
  int writes() const {
    std::lock_guard lock(mu_);
    return writes_;
  }
  bool HasLegacy(int year) const {
    std::lock_guard lock(mu_);
    return legacy_.contains(year);
  }
  void OnWrite(std::function<void(int, const std::string&)> hook) {
    std::lock_guard lock(mu_);
    hook_ = std::move(hook);
  }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<int, std::string>, std::vector<core::DailyTotals>> files_;
  std::set<int> legacy_;
  std::function<void(int, const std::string&)> hook_;
  int writes_ = 0;
};

int64_t DistanceMmOn(const std::vector<core::DailyTotals>& days, const std::string& date) {
  int64_t mm = 0;
  for (const auto& d : days)
    if (core::FormatDate(d.date) == date) mm += d.distance_mm;
  return mm;
}

class InserterTest : public ::testing::Test {
 protected:
  InserterTest() {
    api_.SetAthleteId(kAthlete);
    api_.SetAccessToken("access-live", kNow + 6 * 3600);
    api_.SetRefreshToken("refresh-live");
    EXPECT_TRUE(tokens_.SaveToken({kAthlete, "access-live", "refresh-live", kNow + 6 * 3600, "activity:read_all"}));
    options_.window_grace_ms = 0;
    options_.rate_limit_grace_s = 0;
    options_.base_backoff_s = 10;
    options_.max_backoff_s = 1000;
  }

  Inserter& MakeInserter() {
    inserter_ = std::make_unique<Inserter>(
        InserterPorts{queue_, store_, store_, tokens_, budget_, api_, clock_}, locks_, options_);
    return *inserter_;
  }
  Inserter& inserter() { return inserter_ ? *inserter_ : MakeInserter(); }

  void Enqueue(std::vector<core::WebhookEvent> events) {
    auto r = queue_.EnqueueBatch(events, clock_.NowEpochS());
    ASSERT_TRUE(r) << r.error().message;
  }
  int Run() {
    auto r = inserter().RunOnce();
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : -1;
  }
  int64_t Pending() { return *queue_.PendingCount(); }
  std::optional<core::Activity> Stored(int64_t id) { return *store_.GetActivity(kAthlete, id); }
  std::vector<ports::QueuedEvent> PendingEvents() { return *queue_.ListEvents(false, 1000); }
  std::vector<ports::QueuedEvent> DeadLetters() { return *queue_.ListEvents(true, 1000); }
  int Fetches() const { return api_.Calls(Method::kGetActivity); }
  void SpendWindow() {
    core::RateBudgetState s;
    core::RateWindows w;
    s.window_start_epoch_s = w.WindowStart(clock_.NowEpochS());
    s.day_start_epoch_s = w.DayStart(clock_.NowEpochS());
    s.used_15min = s.limit_15min;
    s.read_used_15min = s.read_limit_15min;
    budget_.set_state(s);
  }

  FakeClock clock_;
  FakeStravaApi api_{clock_};
  fakes::InMemoryTokenStore tokens_;
  fakes::InMemoryRateBudgetStore budget_;
  fakes::InMemoryEventQueue queue_;
  testing::MemoryPipelineStore store_{core::SportCategories::Default(), &queue_, &tokens_};
  WorkLocks locks_;
  InserterOptions options_;
  std::unique_ptr<Inserter> inserter_;
};

TEST_F(InserterTest, CreateFetchesOnceAndStoresTheActivity) {
  const core::Activity ride = MakeActivity(101, kAthlete, "2023-06-01T08:00:00Z", 42'000);
  api_.UpsertActivity(ride);
  Enqueue({Event("create", 101, kNow)});
  EXPECT_EQ(Run(), 1);
  EXPECT_EQ(Fetches(), 1);
  EXPECT_EQ(Stored(101), ride);
  EXPECT_EQ(Pending(), 0);
  EXPECT_EQ(inserter().Stats().upserted, 1);
  EXPECT_EQ(store_.DirtyCount(), 1u);  // 2023 marked for the aggregator
}

TEST_F(InserterTest, UpdateIsPatchedAtOnceThenRefreshedWithOneFetch) {
  core::Activity stored = MakeActivity(7, kAthlete, "2023-06-01T08:00:00Z", 30'000);
  stored.name = "Morning Ride";
  store_.Put(stored);
  core::Activity now = stored;
  now.name = "Commute";
  now.type = now.sport_type = "Run";
  now.is_private = true;
  now.visibility = "only_me";
  now.raw_json = R"({"id":7,"name":"Commute"})";
  api_.UpsertActivity(now);
  auto update = Event("update", 7, kNow);
  update.title = "Commute";
  update.type = "Run";
  update.is_private = true;
  // The refresh fails once: the patch must already be visible.
  api_.FailNext(Method::kGetActivity, ErrorCode::kTransient);
  Enqueue({update});
  EXPECT_EQ(Run(), 1);
  auto patched = Stored(7);
  ASSERT_TRUE(patched);
  EXPECT_EQ(patched->name, "Commute");
  EXPECT_EQ(patched->type, "Run");
  EXPECT_TRUE(patched->is_private);
  EXPECT_EQ(patched->visibility, "only_me");  // private is true exactly for only_me
  auto running = *store_.DailyForYear(kAthlete, 2023, "running");
  EXPECT_EQ(DistanceMmOn(running, "2023-06-01"), 30'000'000);
  ASSERT_EQ(PendingEvents().size(), 1u);
  EXPECT_EQ(PendingEvents()[0].available_at, kNow + 10);  // first backoff

  clock_.SetEpochS(kNow + 10);
  EXPECT_EQ(Run(), 1);
  EXPECT_EQ(Fetches(), 2);  // the failed one and the refresh
  EXPECT_EQ(Stored(7), now);
  EXPECT_EQ(Pending(), 0);
}

TEST_F(InserterTest, WaitingUpdatesOfOneActivityShareOneFetch) {
  store_.Put(MakeActivity(9, kAthlete, "2023-06-01T08:00:00Z"));
  core::Activity latest = MakeActivity(9, kAthlete, "2023-06-01T08:00:00Z");
  latest.name = "Fifth title";
  api_.UpsertActivity(latest);
  std::vector<core::WebhookEvent> updates;
  for (int i = 1; i <= 5; ++i) {
    auto e = Event("update", 9, kNow + i);
    e.title = i == 5 ? "Fifth title" : "Title " + std::to_string(i);
    updates.push_back(e);
  }
  Enqueue(updates);
  EXPECT_EQ(Run(), 5);
  EXPECT_EQ(Fetches(), 1);
  EXPECT_EQ(Stored(9), latest);
  EXPECT_EQ(Pending(), 0);
  EXPECT_EQ(store_.patches(), 1);  // the five patches merged into one
}

TEST_F(InserterTest, TypeChangeMovesTheActivityBetweenCategories) {
  store_.Put(MakeActivity(11, kAthlete, "2023-03-05T09:00:00Z", 10'000, "Ride"));
  EXPECT_EQ(DistanceMmOn(*store_.DailyForYear(kAthlete, 2023, "cycling"), "2023-03-05"), 10'000'000);
  api_.UpsertActivity(MakeActivity(11, kAthlete, "2023-03-05T09:00:00Z", 10'000, "Run"));
  auto update = Event("update", 11, kNow);
  update.type = "Run";
  Enqueue({update});
  EXPECT_EQ(Run(), 1);
  EXPECT_EQ(DistanceMmOn(*store_.DailyForYear(kAthlete, 2023, "cycling"), "2023-03-05"), 0);
  EXPECT_EQ(DistanceMmOn(*store_.DailyForYear(kAthlete, 2023, "running"), "2023-03-05"), 10'000'000);
}

TEST_F(InserterTest, ChangedDateMovesTheActivityBetweenYears) {
  store_.Put(MakeActivity(12, kAthlete, "2023-12-31T22:00:00Z", 5'000));
  api_.UpsertActivity(MakeActivity(12, kAthlete, "2024-01-01T07:00:00Z", 5'000));
  auto update = Event("update", 12, kNow);
  update.title = "New year ride";
  Enqueue({update});
  EXPECT_EQ(Run(), 1);
  EXPECT_TRUE(store_.DailyForYear(kAthlete, 2023, "")->empty());
  EXPECT_EQ(DistanceMmOn(*store_.DailyForYear(kAthlete, 2024, ""), "2024-01-01"), 5'000'000);
  auto dirty = *store_.ClaimDirtyYears(10, kNow, 60);
  std::set<int> years;
  for (const auto& d : dirty) years.insert(d.year);
  EXPECT_EQ(years, (std::set<int>{2023, 2024}));
}

TEST_F(InserterTest, ForgedDeleteLeavesTheActivityInPlace) {
  const core::Activity ride = MakeActivity(13, kAthlete, "2023-06-01T08:00:00Z");
  store_.Put(ride);
  api_.UpsertActivity(ride);
  Enqueue({Event("delete", 13, kNow)});
  EXPECT_EQ(Run(), 1);
  EXPECT_EQ(Fetches(), 1);
  EXPECT_EQ(Stored(13), ride);
  EXPECT_TRUE(store_.Archive().empty());
  EXPECT_EQ(inserter().Stats().forged_deletes, 1);
  EXPECT_EQ(Pending(), 0);
}

TEST_F(InserterTest, ConfirmedDeleteArchivesTheActivity) {
  store_.Put(MakeActivity(14, kAthlete, "2023-06-01T08:00:00Z"));
  Enqueue({Event("delete", 14, kNow)});  // Strava does not have it: 404
  EXPECT_EQ(Run(), 1);
  EXPECT_FALSE(Stored(14));
  ASSERT_EQ(store_.Archive().size(), 1u);
  EXPECT_THAT(store_.Archive()[0].second, HasSubstr("delete webhook confirmed"));
  EXPECT_TRUE(store_.DailyForYear(kAthlete, 2023, "")->empty());
  EXPECT_EQ(Pending(), 0);
}

TEST_F(InserterTest, CreateOfAnActivityStravaNoLongerShowsArchivesOrDropsIt) {
  store_.Put(MakeActivity(15, kAthlete, "2023-06-01T08:00:00Z"));
  Enqueue({Event("update", 15, kNow), Event("create", 16, kNow)});  // both 404 now
  EXPECT_EQ(Run(), 2);
  EXPECT_FALSE(Stored(15));
  EXPECT_FALSE(Stored(16));
  EXPECT_EQ(store_.Archive().size(), 1u);
  EXPECT_EQ(Pending(), 0);
}

TEST_F(InserterTest, DuplicatesAndOutOfOrderDeliveryEndInStravasState) {
  // Strava: 20 was created then deleted; 21 was created then renamed.
  core::Activity renamed = MakeActivity(21, kAthlete, "2023-07-01T08:00:00Z");
  renamed.name = "Renamed";
  api_.UpsertActivity(renamed);
  auto rename = Event("update", 21, kNow + 5);
  rename.title = "Renamed";
  // Delivered backwards, each twice (the second copy of one is a retry of
  // Strava that intake deduplicated; the other was redelivered by the queue).
  Enqueue({Event("delete", 20, kNow + 9), rename, Event("create", 21, kNow + 1), Event("create", 20, kNow)});
  EXPECT_EQ(Run(), 4);
  Enqueue({Event("create", 21, kNow + 1)});  // a duplicate: not queued again
  EXPECT_EQ(Pending(), 0);
  Enqueue({Event("create", 20, kNow + 100), Event("create", 21, kNow + 100)});  // stale, later
  EXPECT_EQ(Run(), 2);
  EXPECT_FALSE(Stored(20));
  EXPECT_EQ(Stored(21), renamed);
  EXPECT_EQ(store_.All().size(), 1u);
}

TEST_F(InserterTest, SpentWindowMakesEventsWaitThenDrainWhenItFrees) {
  api_.UpsertActivity(MakeActivity(30, kAthlete, "2023-06-01T08:00:00Z"));
  api_.UpsertActivity(MakeActivity(31, kAthlete, "2023-06-02T08:00:00Z"));
  SpendWindow();
  Enqueue({Event("create", 30, kNow), Event("create", 31, kNow)});
  EXPECT_EQ(Run(), 2);
  EXPECT_EQ(Fetches(), 0);
  ASSERT_EQ(PendingEvents().size(), 2u);
  for (const auto& e : PendingEvents()) {
    EXPECT_EQ(e.available_at, kWindowEnd);
    EXPECT_THAT(e.last_error, HasSubstr("rate budget"));
  }
  EXPECT_EQ(Run(), 0);  // nothing claimable before the window frees
  EXPECT_EQ(inserter().Stats().rate_limited, 2);
  EXPECT_EQ(inserter().Stats().dead_lettered, 0);

  clock_.SetEpochS(kWindowEnd);
  EXPECT_EQ(Run(), 2);
  EXPECT_EQ(Fetches(), 2);
  EXPECT_TRUE(Stored(30));
  EXPECT_TRUE(Stored(31));
  EXPECT_EQ(Pending(), 0);
}

TEST_F(InserterTest, UpdatesArePatchedEvenWhileTheBudgetIsSpent) {
  store_.Put(MakeActivity(32, kAthlete, "2023-06-01T08:00:00Z"));
  SpendWindow();
  auto update = Event("update", 32, kNow);
  update.title = "Patched while waiting";
  Enqueue({update});
  EXPECT_EQ(Run(), 1);
  EXPECT_EQ(Stored(32)->name, "Patched while waiting");
  EXPECT_EQ(Fetches(), 0);
  EXPECT_EQ(Pending(), 1);
}

TEST_F(InserterTest, A429PutsTheBatchBackUntilTheNextWindow) {
  api_.UpsertActivity(MakeActivity(33, kAthlete, "2023-06-01T08:00:00Z"));
  api_.UpsertActivity(MakeActivity(34, kAthlete, "2023-06-01T09:00:00Z"));
  api_.FailNext(Method::kGetActivity, ErrorCode::kRateLimited, 1, 429);
  Enqueue({Event("create", 33, kNow), Event("create", 34, kNow)});
  EXPECT_EQ(Run(), 2);
  EXPECT_EQ(Fetches(), 1);  // the second fetch of the batch was not even tried
  for (const auto& e : PendingEvents()) EXPECT_EQ(e.available_at, kWindowEnd);
  clock_.SetEpochS(kWindowEnd);
  EXPECT_EQ(Run(), 2);
  EXPECT_EQ(store_.All().size(), 2u);
}

TEST_F(InserterTest, SpentDailyBudgetWaitsForMidnight) {
  api_.UpsertActivity(MakeActivity(35, kAthlete, "2023-06-01T08:00:00Z"));
  core::RateBudgetState s;
  core::RateWindows w;
  s.window_start_epoch_s = w.WindowStart(kNow);
  s.day_start_epoch_s = w.DayStart(kNow);
  s.used_daily = s.limit_daily;
  budget_.set_state(s);
  Enqueue({Event("create", 35, kNow)});
  EXPECT_EQ(Run(), 1);
  ASSERT_EQ(PendingEvents().size(), 1u);
  EXPECT_EQ(PendingEvents()[0].available_at, kMidnight);
  clock_.SetEpochS(kMidnight);
  EXPECT_EQ(Run(), 1);
  EXPECT_TRUE(Stored(35));
}

TEST_F(InserterTest, TransientFaultsAreRetriedWithBackoffThenDeadLettered) {
  options_.max_attempts = 3;
  api_.UpsertActivity(MakeActivity(40, kAthlete, "2023-06-01T08:00:00Z"));
  api_.FailNext(Method::kGetActivity, Error{ErrorCode::kTransient, "Strava answered HTTP 503"}, 3, 503);
  Enqueue({Event("create", 40, kNow)});
  EXPECT_EQ(Run(), 1);
  ASSERT_EQ(PendingEvents().size(), 1u);
  EXPECT_EQ(PendingEvents()[0].available_at, kNow + 10);
  EXPECT_EQ(PendingEvents()[0].last_error, "Strava answered HTTP 503");
  clock_.SetEpochS(kNow + 10);
  EXPECT_EQ(Run(), 1);
  EXPECT_EQ(PendingEvents()[0].available_at, kNow + 10 + 20);  // doubled
  clock_.SetEpochS(kNow + 30);
  EXPECT_EQ(Run(), 1);
  EXPECT_EQ(Pending(), 0);
  ASSERT_EQ(DeadLetters().size(), 1u);
  EXPECT_EQ(DeadLetters()[0].attempts, 3);
  EXPECT_EQ(DeadLetters()[0].last_error, "Strava answered HTTP 503");
  EXPECT_FALSE(Stored(40));

  // Re-driven by `desirelines events --retry`, it goes through.
  EXPECT_EQ(*queue_.Redrive(DeadLetters()[0].seq, clock_.NowEpochS()), 1);
  EXPECT_EQ(Run(), 1);
  EXPECT_TRUE(Stored(40));
  EXPECT_TRUE(DeadLetters().empty());
}

TEST_F(InserterTest, ErrorsThatRetriesCannotFixAreDeadLetteredAtOnce) {
  api_.FailNext(Method::kGetActivity, Error{ErrorCode::kMissingScope, "activity:read_all missing"}, 1, 401);
  Enqueue({Event("create", 41, kNow)});
  EXPECT_EQ(Run(), 1);
  ASSERT_EQ(DeadLetters().size(), 1u);
  EXPECT_THAT(DeadLetters()[0].last_error, HasSubstr("read_all"));
  EXPECT_EQ(DeadLetters()[0].attempts, 1);
}

// Strava's answer with a distance no activity can have is not stored (it
// would corrupt the integer daily totals): dead-lettered at once, saying why,
// and the stored copy stays.
TEST_F(InserterTest, AnAnswerWithImpossibleAmountsIsDeadLetteredAndTheStoredCopyKept) {
  const core::Activity ride = MakeActivity(43, kAthlete, "2023-06-01T08:00:00Z", 20'000);
  store_.Put(ride);
  core::Activity broken = ride;
  broken.distance_m = 1e300;
  broken.name = "renamed";
  api_.UpsertActivity(broken);
  Enqueue({Event("update", 43, kNow)});
  EXPECT_EQ(Run(), 1);
  ASSERT_EQ(DeadLetters().size(), 1u);
  EXPECT_THAT(DeadLetters()[0].last_error, HasSubstr("distance"));
  EXPECT_EQ(Stored(43), ride);
  auto days = store_.DailyForYear(kAthlete, 2023, "");
  ASSERT_TRUE(days.has_value());
  ASSERT_EQ(days->size(), 1u);
  EXPECT_EQ(days->at(0).distance_mm, 20'000'000);
}

// An answer whose start_date_local does not read as a date would be stored
// on no day: no total would count it and no backfill would reconcile it. It
// is dead-lettered at once instead (the backfill skips it as an error too).
TEST_F(InserterTest, AnAnswerWithoutAReadableLocalDateIsDeadLetteredNotStored) {
  core::Activity ride = MakeActivity(44, kAthlete, "2023-06-01T08:00:00Z", 20'000);
  ride.start_date_local = "2023-06-01 around eight";
  api_.UpsertActivity(ride);
  Enqueue({Event("create", 44, kNow)});
  EXPECT_EQ(Run(), 1);
  ASSERT_EQ(DeadLetters().size(), 1u);
  EXPECT_THAT(DeadLetters()[0].last_error, HasSubstr("start_date_local"));
  EXPECT_FALSE(Stored(44));
}

TEST_F(InserterTest, StoreFailuresAreRetriedNotLost) {
  api_.UpsertActivity(MakeActivity(42, kAthlete, "2023-06-01T08:00:00Z"));
  store_.FailNext(Error{ErrorCode::kIo, "disk full"});
  Enqueue({Event("create", 42, kNow)});
  EXPECT_EQ(Run(), 1);
  EXPECT_FALSE(Stored(42));
  ASSERT_EQ(PendingEvents().size(), 1u);
  EXPECT_EQ(PendingEvents()[0].last_error, "disk full");
  clock_.SetEpochS(kNow + 10);
  EXPECT_EQ(Run(), 1);
  EXPECT_TRUE(Stored(42));
}

TEST_F(InserterTest, EventsOfAthletesWithoutTokensAreDropped) {
  Enqueue({Event("create", 50, kNow, 999)});
  EXPECT_EQ(Run(), 1);
  EXPECT_EQ(Fetches(), 0);
  EXPECT_EQ(Pending(), 0);
  EXPECT_TRUE(DeadLetters().empty());
  EXPECT_EQ(inserter().Stats().dropped, 1);
}

TEST_F(InserterTest, ConfirmedDeauthorizationDeletesTheAthletesData) {
  store_.Put(MakeActivity(60, kAthlete, "2023-06-01T08:00:00Z"));
  store_.Put(MakeActivity(61, kAthlete, "2023-06-02T08:00:00Z"));
  api_.RevokeAccessToken();             // Strava revokes every token of the athlete
  api_.SetRefreshToken("someone-else");
  Enqueue({Deauthorization(kAthlete, kNow), Event("create", 62, kNow + 1)});
  EXPECT_EQ(Run(), 2);
  EXPECT_TRUE(store_.All().empty());
  EXPECT_FALSE(tokens_.Get(kAthlete));
  EXPECT_EQ(Pending(), 0);  // the later create was dropped: no token any more
  EXPECT_EQ(inserter().Stats().deauthorized, 1);
  EXPECT_TRUE(store_.DailyForYear(kAthlete, 2023, "")->empty());
}

TEST_F(InserterTest, DeauthorizationWithKeepDeletesOnlyTheTokens) {
  options_.on_deauthorize = OnDeauthorize::kKeep;
  store_.Put(MakeActivity(63, kAthlete, "2023-06-01T08:00:00Z"));
  api_.RevokeAccessToken();
  api_.SetRefreshToken("someone-else");
  Enqueue({Deauthorization(kAthlete, kNow)});
  EXPECT_EQ(Run(), 1);
  EXPECT_EQ(store_.All().size(), 1u);
  EXPECT_FALSE(tokens_.Get(kAthlete));
}

TEST_F(InserterTest, ForgedDeauthorizationChangesNothing) {
  store_.Put(MakeActivity(64, kAthlete, "2023-06-01T08:00:00Z"));
  Enqueue({Deauthorization(kAthlete, kNow)});  // the token still works
  EXPECT_EQ(Run(), 1);
  EXPECT_EQ(store_.All().size(), 1u);
  EXPECT_TRUE(tokens_.Get(kAthlete));
  EXPECT_EQ(inserter().Stats().forged_deauthorizations, 1);
  EXPECT_EQ(Pending(), 0);
}

TEST_F(InserterTest, ClaimedEventsOfADeadWorkerComeBackAfterTheLease) {
  api_.UpsertActivity(MakeActivity(70, kAthlete, "2023-06-01T08:00:00Z"));
  Enqueue({Event("create", 70, kNow)});
  // A worker claims it and dies without a word.
  ASSERT_EQ(queue_.Claim(10, kNow, options_.lease_s)->size(), 1u);
  EXPECT_EQ(Run(), 0);
  clock_.SetEpochS(kNow + options_.lease_s);
  EXPECT_EQ(Run(), 1);
  EXPECT_TRUE(Stored(70));
  EXPECT_EQ(Pending(), 0);
}

TEST_F(InserterTest, StopReleasesTheClaimedBatchAtOnce) {
  Enqueue({Event("create", 71, kNow), Event("create", 72, kNow)});
  std::atomic<bool> stop{true};
  auto r = inserter().RunOnce(&stop);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 2);
  EXPECT_EQ(Fetches(), 0);
  for (const auto& e : PendingEvents()) EXPECT_EQ(e.available_at, kNow);
  EXPECT_EQ(inserter().Stats().released, 2);
}

// Forwards to a FakeStravaApi; every GetActivity first runs `before_get`
// (which may move the fake clock, as a slow request would).
class HookedApi final : public ports::StravaApi {
 public:
  explicit HookedApi(FakeStravaApi& inner) : inner_(inner) {}
  std::function<void()> before_get;
  ports::ApiResponse<ports::TokenSet> ExchangeCode(const std::string& c) override { return inner_.ExchangeCode(c); }
  ports::ApiResponse<ports::TokenSet> Refresh(const std::string& r) override { return inner_.Refresh(r); }
  ports::ApiResponse<ports::Athlete> GetAthlete(const std::string& t) override { return inner_.GetAthlete(t); }
  ports::ApiResponse<std::vector<core::Activity>> ListActivities(const std::string& t,
                                                                 const ports::ListQuery& q) override {
    return inner_.ListActivities(t, q);
  }
  // Runs after the inner call, before its answer is returned (the answer is
  // "in flight" meanwhile).
  std::function<void()> after_get;
  ports::ApiResponse<core::Activity> GetActivity(const std::string& t, int64_t id) override {
    if (before_get) before_get();
    auto answer = inner_.GetActivity(t, id);
    if (after_get) after_get();
    return answer;
  }
  ports::ApiResponse<int64_t> CreateSubscription(const std::string& u, const std::string& v) override {
    return inner_.CreateSubscription(u, v);
  }
  ports::ApiResponse<std::vector<ports::Subscription>> ListSubscriptions() override {
    return inner_.ListSubscriptions();
  }
  ports::ApiResponse<bool> DeleteSubscription(int64_t id) override { return inner_.DeleteSubscription(id); }

 private:
  FakeStravaApi& inner_;
};

TEST_F(InserterTest, LeasesAreRenewedWhileALongBatchIsWorked) {
  options_.lease_s = 100;
  for (int64_t id : {80, 81, 82}) api_.UpsertActivity(MakeActivity(id, kAthlete, "2023-06-01T08:00:00Z"));
  Enqueue({Event("create", 80, kNow), Event("create", 81, kNow), Event("create", 82, kNow)});
  HookedApi slow(api_);
  size_t stolen = 0;
  int gets = 0;
  slow.before_get = [&] {
    // By the third fetch the original lease (kNow + 100) has run out; another
    // worker must still find nothing to claim.
    if (++gets == 3) stolen = queue_.Claim(10, clock_.NowEpochS(), 100)->size();
    clock_.Advance(std::chrono::seconds(60));
  };
  Inserter ins(InserterPorts{queue_, store_, store_, tokens_, budget_, slow, clock_}, locks_, options_);
  EXPECT_EQ(*ins.RunOnce(), 3);
  EXPECT_EQ(stolen, 0u);
  EXPECT_EQ(store_.All().size(), 3u);
  EXPECT_EQ(Pending(), 0);
}

TEST_F(InserterTest, ExternalQueueIsAckedAfterTheEffect) {
  options_.store_acks_events = false;
  testing::MemoryPipelineStore no_queue_store(core::SportCategories::Default(), nullptr, &tokens_);
  api_.UpsertActivity(MakeActivity(90, kAthlete, "2023-06-01T08:00:00Z"));
  Inserter ins(InserterPorts{queue_, no_queue_store, no_queue_store, tokens_, budget_, api_, clock_}, locks_, options_);
  Enqueue({Event("create", 90, kNow), Event("delete", 91, kNow)});
  EXPECT_EQ(*ins.RunOnce(), 2);
  EXPECT_TRUE(*no_queue_store.GetActivity(kAthlete, 90));
  EXPECT_EQ(Pending(), 0);
}

// A real SQLite store in a temporary folder (removed at the end), holding the
// athlete's live token, for tests where several inserters share one store.
struct SqliteOnDisk {
  std::filesystem::path dir;
  std::unique_ptr<adapters::sqlite::SqliteStore> store;
  std::string error;
  bool Open() {
    std::string pattern = (std::filesystem::temp_directory_path() / "dl_inserter_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      error = "mkdtemp failed";
      return false;
    }
    dir = pattern;
    auto opened = adapters::sqlite::SqliteStore::Open((dir / "store.db").string(), core::SportCategories::Default());
    if (!opened) {
      error = opened.error().message;
      return false;
    }
    store = std::move(*opened);
    auto saved = store->SaveToken({kAthlete, "access-live", "refresh-live", kNow + 6 * 3600, "activity:read_all"});
    if (!saved) error = saved.error().message;
    return saved.has_value();
  }
  ~SqliteOnDisk() {
    store.reset();
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
};

// Two inserter processes (own WorkLocks each) over one real store: a fetch
// whose answer was in flight while a later fetch of the same activity
// committed must not overwrite it (inserter.h: stamped with the fetch's
// start, fenced one second later).
TEST_F(InserterTest, AStaleFetchOfAnotherProcessNeverOverwritesANewerOne) {
  SqliteOnDisk disk;
  ASSERT_TRUE(disk.Open()) << disk.error;
  adapters::sqlite::SqliteStore& store = *disk.store;
  core::Activity ride = MakeActivity(700, kAthlete, "2023-06-01T08:00:00Z", 10'000);
  ride.name = "old title";
  api_.UpsertActivity(ride);
  ASSERT_TRUE(store.EnqueueBatch(std::vector<core::WebhookEvent>{Event("update", 700, kNow)}, kNow));

  options_.claim_batch = 1;
  HookedApi slow(api_);
  WorkLocks locks_b;
  Inserter b(InserterPorts{store, store, store, store, store, api_, clock_}, locks_b, options_);
  bool b_ran = false;
  slow.after_get = [&] {
    if (b_ran) return;
    b_ran = true;
    // While A's answer ("old title") is in flight, Strava changes and
    // another process works the newer event, a second later.
    clock_.Advance(std::chrono::seconds(1));
    core::Activity renamed = ride;
    renamed.name = "new title";
    api_.UpsertActivity(renamed);
    ASSERT_TRUE(store.EnqueueBatch(std::vector<core::WebhookEvent>{Event("update", 700, kNow + 1)}, kNow + 1));
    EXPECT_EQ(*b.RunOnce(), 1);
  };
  Inserter a(InserterPorts{store, store, store, store, store, slow, clock_}, locks_, options_);
  EXPECT_EQ(*a.RunOnce(), 1);
  ASSERT_TRUE(b_ran);
  EXPECT_EQ((*store.GetActivity(kAthlete, 700))->name, "new title");
  EXPECT_EQ(a.Stats().fenced, 1);
  EXPECT_EQ(b.Stats().fenced, 0);
  EXPECT_EQ(*store.PendingCount(), 0) << "a fenced event is completed, not retried";

  // Later fetches are not fenced: the row follows Strava again.
  clock_.Advance(std::chrono::seconds(5));
  ride.name = "newest title";
  api_.UpsertActivity(ride);
  ASSERT_TRUE(store.EnqueueBatch(std::vector<core::WebhookEvent>{Event("update", 700, kNow + 6)}, clock_.NowEpochS()));
  EXPECT_EQ(*a.RunOnce(), 1);
  EXPECT_EQ((*store.GetActivity(kAthlete, 700))->name, "newest title");
  EXPECT_EQ(a.Stats().fenced, 1);
}

// Another worker confirms the athlete's deauthorization while this one's
// fetch is in flight: the fetched copy is dropped, not stored, and its event
// completed (nothing left to retry). With on_deauthorize = keep only the
// token goes (DeleteAthleteData would also drop the queued events, so the
// ack would go unchecked).
TEST_F(InserterTest, AFetchInFlightDuringADeauthorizationIsNotStored) {
  SqliteOnDisk disk;
  ASSERT_TRUE(disk.Open()) << disk.error;
  adapters::sqlite::SqliteStore& store = *disk.store;
  api_.UpsertActivity(MakeActivity(800, kAthlete, "2023-06-01T08:00:00Z", 10'000));
  ASSERT_TRUE(store.EnqueueBatch(std::vector<core::WebhookEvent>{Event("create", 800, kNow)}, kNow));

  HookedApi slow(api_);
  slow.after_get = [&] { EXPECT_TRUE(store.DeleteToken(kAthlete).has_value()); };
  Inserter a(InserterPorts{store, store, store, store, store, slow, clock_}, locks_, options_);
  EXPECT_EQ(*a.RunOnce(), 1);
  EXPECT_FALSE((*store.GetActivity(kAthlete, 800)).has_value()) << "the deleted athlete's activity came back";
  EXPECT_EQ(a.Stats().dropped, 1);
  EXPECT_EQ(a.Stats().upserted, 0);
  EXPECT_EQ(*store.PendingCount(), 0) << "the dropped event is completed, not retried";
  EXPECT_TRUE((*store.ListEvents(true, 10)).empty()) << "nor dead-lettered";
}

// The inserter tells the aggregators about committed effects only.
TEST_F(InserterTest, CommittedEffectsAreSignalledToTheAggregators) {
  class CountingSignal final : public AggregationSignal {
   public:
    Status Publish(std::span<const core::WebhookEvent> applied) override {
      for (const auto& e : applied) objects.push_back(e.object_id);
      return Ok();
    }
    Result<Received> Wait(std::chrono::milliseconds) override { return Received{}; }
    Status Done(const Received&) override { return Ok(); }
    Status Again(const Received&) override { return Ok(); }
    void Interrupt() override {}
    std::vector<int64_t> objects;
  } signal;
  api_.UpsertActivity(MakeActivity(110, kAthlete, "2023-06-01T08:00:00Z"));
  Inserter ins(InserterPorts{queue_, store_, store_, tokens_, budget_, api_, clock_, &signal}, locks_, options_);
  // 111: gone from Strava and never stored (nothing archived); 112: an
  // athlete without tokens (dropped).
  Enqueue({Event("create", 110, kNow), Event("delete", 111, kNow), Event("create", 112, kNow, /*owner=*/999)});
  EXPECT_EQ(*ins.RunOnce(), 3);
  EXPECT_EQ(signal.objects, std::vector<int64_t>{110});
}

// An external queue (Pub/Sub): the batch's signals go out in one call, then
// its acks in one call, after every effect committed (a REST request per
// batch, not per event).
TEST_F(InserterTest, ExternalQueueSignalsThenAcksTheWholeBatchInOneCallEach) {
  std::vector<std::string> calls;
  class RecordingQueue final : public ports::EventQueue {
   public:
    RecordingQueue(ports::EventQueue& inner, std::vector<std::string>& calls) : inner_(inner), calls_(calls) {}
    Result<std::vector<ports::EnqueueOutcome>> EnqueueBatch(std::span<const core::WebhookEvent> e, int64_t now) override {
      return inner_.EnqueueBatch(e, now);
    }
    Result<std::vector<ports::QueuedEvent>> Claim(int max, int64_t now, int64_t lease) override {
      return inner_.Claim(max, now, lease);
    }
    Status Ack(std::span<const int64_t> seqs) override {
      calls_.push_back("ack:" + std::to_string(seqs.size()));
      return inner_.Ack(seqs);
    }
    Status Retry(int64_t seq, const std::string& error, int64_t at) override { return inner_.Retry(seq, error, at); }
    Status DeadLetter(int64_t seq, const std::string& error, int64_t now) override {
      return inner_.DeadLetter(seq, error, now);
    }
    Result<std::vector<ports::QueuedEvent>> ListEvents(bool failed, int limit) override {
      return inner_.ListEvents(failed, limit);
    }
    Result<int64_t> Redrive(std::optional<int64_t> seq, int64_t now) override { return inner_.Redrive(seq, now); }
    Result<int64_t> PendingCount() override { return inner_.PendingCount(); }

   private:
    ports::EventQueue& inner_;
    std::vector<std::string>& calls_;
  } queue(queue_, calls);
  class RecordingSignal final : public AggregationSignal {
   public:
    explicit RecordingSignal(std::vector<std::string>& calls) : calls_(calls) {}
    Status Publish(std::span<const core::WebhookEvent> applied) override {
      calls_.push_back("publish:" + std::to_string(applied.size()));
      return Ok();
    }
    Result<Received> Wait(std::chrono::milliseconds) override { return Received{}; }
    Status Done(const Received&) override { return Ok(); }
    Status Again(const Received&) override { return Ok(); }
    void Interrupt() override {}

   private:
    std::vector<std::string>& calls_;
  } signal(calls);
  for (int64_t id : {120, 121, 122}) api_.UpsertActivity(MakeActivity(id, kAthlete, "2023-06-01T08:00:00Z"));
  options_.store_acks_events = false;
  Inserter ins(InserterPorts{queue, store_, store_, tokens_, budget_, api_, clock_, &signal}, locks_, options_);
  // Three creates, and one event of an athlete without tokens (dropped, acked).
  Enqueue({Event("create", 120, kNow), Event("create", 121, kNow), Event("create", 122, kNow),
           Event("create", 123, kNow, /*owner=*/999)});
  EXPECT_EQ(*ins.RunOnce(), 4);
  EXPECT_EQ(calls, (std::vector<std::string>{"publish:3", "ack:4"}));
  EXPECT_EQ(Pending(), 0);
  for (int64_t id : {120, 121, 122}) EXPECT_TRUE(store_.GetActivity(kAthlete, id)->has_value()) << id;
}

// An AggregationSignal whose deliveries the test scripts; records Done/Again.
class ScriptedSignal final : public AggregationSignal {
 public:
  void Deliver(std::string id) {
    std::lock_guard lock(mu_);
    inbox_.push_back(std::move(id));
    cv_.notify_all();
  }
  Status Publish(std::span<const core::WebhookEvent>) override { return Ok(); }
  Result<Received> Wait(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return interrupted_ || !inbox_.empty(); });
    Received r;
    r.count = static_cast<int>(inbox_.size());
    r.ids = std::exchange(inbox_, {});
    return r;
  }
  Status Done(const Received& r) override { return Record(done_, r); }
  Status Again(const Received& r) override { return Record(again_, r); }
  void Interrupt() override {
    std::lock_guard lock(mu_);
    interrupted_ = true;
    cv_.notify_all();
  }
  std::vector<std::string> done() const {
    std::lock_guard lock(mu_);
    return done_;
  }
  std::vector<std::string> again() const {
    std::lock_guard lock(mu_);
    return again_;
  }

 private:
  Status Record(std::vector<std::string>& to, const Received& r) {
    std::lock_guard lock(mu_);
    to.insert(to.end(), r.ids.begin(), r.ids.end());
    return Ok();
  }
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> inbox_, done_, again_;
  bool interrupted_ = false;
};

// The aggregator acknowledges the signals it woke on only after its run
// succeeded; a failed run hands them back (Again) for a later delivery.
TEST_F(InserterTest, TheAggregatorSettlesItsSignalsByTheRunsOutcome) {
  class FlakyOutput final : public ports::YearOutput {
   public:
    Status WriteYear(int, const std::string&, std::span<const core::DailyTotals>, core::Date, bool) override {
      ++calls;
      if (failures_left.fetch_sub(1) > 0) return Fail(ErrorCode::kIo, "disk full");
      return Ok();
    }
    std::atomic<int> calls{0};
    std::atomic<int> failures_left{2};
  } output;
  ScriptedSignal signal;
  store_.Put(MakeActivity(120, kAthlete, "2023-06-01T08:00:00Z"));  // a dirty year
  PipelineOptions o;
  o.inserter_threads = 0;
  o.idle_poll = std::chrono::seconds(30);  // only the script wakes the aggregator
  o.aggregate_every = std::chrono::milliseconds(1);
  o.aggregator.categories = {"cycling"};
  PipelinePorts ports{queue_, store_, store_, store_, tokens_, budget_, clock_,
                      [this](int) -> ports::StravaApi& { return api_; },
                      [&output](int64_t) -> ports::YearOutput* { return &output; }, &signal};
  Pipeline pipeline(ports, core::SportCategories::Default(), o);
  pipeline.Start();
  // The start-up run (what was dirty before the process started) fails.
  ASSERT_TRUE(Eventually([&] { return output.calls.load() == 1; }));
  const auto after_lease = std::chrono::seconds(o.aggregator.lease_s + 1);
  clock_.Advance(after_lease);  // the failed year's claim runs out
  signal.Deliver("m1");
  EXPECT_TRUE(Eventually([&] { return signal.again() == std::vector<std::string>{"m1"}; }));
  EXPECT_TRUE(signal.done().empty()) << "a failed run does not consume its signals";
  clock_.Advance(after_lease);
  signal.Deliver("m2");
  EXPECT_TRUE(Eventually([&] { return signal.done() == std::vector<std::string>{"m2"}; }));
  EXPECT_EQ(store_.DirtyCount(), 0u) << "the third run wrote the year";
  pipeline.Stop();
}

TEST(WorkLocksTest, AnAthleteLockWaitsForTheWorkOnItsActivities) {
  WorkLocks locks;
  std::atomic<bool> athlete_locked{false};
  std::optional<WorkLocks::Guard> activity;
  activity.emplace(locks.LockActivity(1, 10));
  std::thread deauth([&] {
    auto guard = locks.LockAthlete(1);
    athlete_locked = true;
  });
  // Work on another athlete is not held up.
  { auto other = locks.LockActivity(2, 10); }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // give the waiter a chance to (wrongly) proceed
  EXPECT_FALSE(athlete_locked);
  activity.reset();
  deauth.join();
  EXPECT_TRUE(athlete_locked);
}

// ---- aggregator ----

class AggregatorTest : public ::testing::Test {
 protected:
  Aggregator Make(AggregatorOptions o = {}) {
    return Aggregator(store_, store_, [this](int64_t) -> ports::YearOutput* { return &output_; }, clock_,
                      core::SportCategories::Default(), std::move(o));
  }
  FakeClock clock_;
  fakes::InMemoryEventQueue queue_;
  testing::MemoryPipelineStore store_{core::SportCategories::Default(), &queue_, nullptr};
  RecordingOutput output_;
};

TEST_F(AggregatorTest, WritesEveryCategoryOfEachDirtyYearAndClearsIt) {
  store_.Put(MakeActivity(1, kAthlete, "2023-06-01T08:00:00Z", 10'000, "Ride"));
  store_.Put(MakeActivity(2, kAthlete, "2022-06-01T08:00:00Z", 7'000, "Run"));
  Aggregator aggregator = Make();
  EXPECT_EQ(*aggregator.RunOnce(), 2);
  EXPECT_EQ(store_.DirtyCount(), 0u);
  EXPECT_EQ(DistanceMmOn(*output_.Get(2023, "cycling"), "2023-06-01"), 10'000'000);
  EXPECT_EQ(DistanceMmOn(*output_.Get(2022, "running"), "2022-06-01"), 7'000'000);
  EXPECT_TRUE(output_.Get(2022, "cycling")->empty());  // written empty, not skipped
  EXPECT_TRUE(output_.HasLegacy(2023));
  const int writes = output_.writes();
  EXPECT_EQ(*aggregator.RunOnce(), 0);  // nothing dirty: nothing written
  EXPECT_EQ(output_.writes(), writes);
}

TEST_F(AggregatorTest, AYearChangedWhileBeingWrittenIsWrittenAgain) {
  store_.Put(MakeActivity(1, kAthlete, "2023-06-01T08:00:00Z", 10'000));
  AggregatorOptions o;
  o.categories = {"cycling"};
  Aggregator aggregator = Make(o);
  bool changed = false;
  output_.OnWrite([&](int, const std::string&) {
    if (changed) return;
    changed = true;
    store_.Put(MakeActivity(3, kAthlete, "2023-06-02T08:00:00Z", 5'000));  // a commit lands meanwhile
  });
  EXPECT_EQ(*aggregator.RunOnce(), 1);
  EXPECT_EQ(store_.DirtyCount(), 1u);  // still dirty
  EXPECT_EQ(*aggregator.RunOnce(), 1);
  EXPECT_EQ(store_.DirtyCount(), 0u);
  EXPECT_EQ(DistanceMmOn(*output_.Get(2023, "cycling"), "2023-06-02"), 5'000'000);
}

TEST_F(AggregatorTest, AFailedWriteKeepsTheYearForLater) {
  class FailingOutput final : public ports::YearOutput {
   public:
    Status WriteYear(int, const std::string&, std::span<const core::DailyTotals>, core::Date, bool) override {
      return Fail(ErrorCode::kIo, "read-only file system");
    }
  } failing;
  store_.Put(MakeActivity(1, kAthlete, "2023-06-01T08:00:00Z"));
  Aggregator aggregator(store_, store_, [&](int64_t) -> ports::YearOutput* { return &failing; }, clock_,
                        core::SportCategories::Default(), {});
  auto r = aggregator.RunOnce();
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("read-only"));
  EXPECT_EQ(store_.DirtyCount(), 1u);
  EXPECT_EQ(*aggregator.RunOnce(), 0);  // leased: not retried at once
  clock_.Advance(std::chrono::seconds(121));
  EXPECT_FALSE(aggregator.RunOnce());  // ... but after the lease
}

// ---- the pipeline with its threads ----

class PipelineTest : public InserterTest {
 protected:
  std::unique_ptr<Pipeline> MakePipeline(int threads,
                                         std::chrono::milliseconds aggregate_every = std::chrono::milliseconds(5),
                                         std::chrono::milliseconds idle_poll = std::chrono::milliseconds(20)) {
    PipelineOptions o;
    o.inserter_threads = threads;
    o.inserter = options_;
    o.idle_poll = idle_poll;
    o.aggregate_every = aggregate_every;
    o.aggregator.categories = {"cycling", "running"};
    PipelinePorts ports{queue_, store_, store_, store_, tokens_, budget_, clock_,
                        [this](int) -> ports::StravaApi& { return api_; },
                        [this](int64_t) -> ports::YearOutput* { return &output_; }};
    return std::make_unique<Pipeline>(ports, core::SportCategories::Default(), o);
  }
  RecordingOutput output_;
};

TEST_F(PipelineTest, ThreadsDrainTheQueueAndTheFilesFollow) {
  std::vector<core::WebhookEvent> events;
  for (int64_t id = 1; id <= 60; ++id) {
    api_.UpsertActivity(MakeActivity(id, kAthlete, "2023-05-" + std::string(id % 28 < 9 ? "0" : "") +
                                                       std::to_string(id % 28 + 1) + "T08:00:00Z",
                                     1000.0 * static_cast<double>(id), id % 3 == 0 ? "Run" : "Ride"));
    events.push_back(Event("create", id, kNow + id));
    if (id % 5 == 0) events.push_back(Event("delete", id, kNow + 100 + id));  // forged: Strava still has them
  }
  core::RateBudgetState roomy;
  roomy.limit_15min = roomy.read_limit_15min = roomy.limit_daily = roomy.read_limit_daily = 1'000'000;
  budget_.set_state(roomy);
  auto pipeline = MakePipeline(3);
  pipeline->Start();
  Enqueue(events);
  pipeline->Wake();
  ASSERT_TRUE(Eventually([&] { return Pending() == 0 && store_.DirtyCount() == 0; }));
  pipeline->Stop();
  EXPECT_EQ(store_.All().size(), 60u);
  // One per create and one per forged delete, unless both of an activity
  // were claimed in one batch (then they shared one fetch).
  EXPECT_GE(Fetches(), 60);
  EXPECT_LE(Fetches(), 72);
  auto cycling = *store_.DailyForYear(kAthlete, 2023, "cycling");
  EXPECT_EQ(output_.Get(2023, "cycling"), cycling);
  EXPECT_EQ(output_.Get(2023, "running"), *store_.DailyForYear(kAthlete, 2023, "running"));
  EXPECT_EQ(pipeline->Stats().inserter.forged_deletes, 12);
}

TEST_F(PipelineTest, WaitingEventsDrainWhenTheClockReachesTheWindow) {
  api_.UpsertActivity(MakeActivity(5, kAthlete, "2023-06-01T08:00:00Z"));
  SpendWindow();
  auto pipeline = MakePipeline(2);
  pipeline->Start();
  Enqueue({Event("create", 5, kNow)});
  pipeline->Wake();
  ASSERT_TRUE(Eventually([&] { return pipeline->Stats().inserter.rate_limited == 1; }));
  EXPECT_EQ(Pending(), 1);
  clock_.SetEpochS(kWindowEnd);
  pipeline->Wake();
  ASSERT_TRUE(Eventually([&] { return Pending() == 0; }));
  EXPECT_TRUE(Stored(5));
  pipeline->Stop();
  EXPECT_FALSE(pipeline->running());
}

// With the budget spent, new events do not each trigger a claim (each claim
// would scan the whole waiting backlog): the inserter looks again after
// idle_poll. Stop still ends the wait at once.
TEST_F(PipelineTest, WhileTheBudgetIsSpentNewEventsWaitForIdlePollNotAClaimEach) {
  api_.UpsertActivity(MakeActivity(5, kAthlete, "2023-06-01T08:00:00Z"));
  api_.UpsertActivity(MakeActivity(6, kAthlete, "2023-06-01T09:00:00Z"));
  SpendWindow();
  auto pipeline = MakePipeline(1, std::chrono::milliseconds(5), std::chrono::hours(1));
  WakingEventQueue intake_queue(queue_, [&] { pipeline->Wake(); });
  pipeline->Start();
  std::vector<core::WebhookEvent> first{Event("create", 5, kNow)};
  ASSERT_TRUE(intake_queue.EnqueueBatch(first, kNow));
  ASSERT_TRUE(Eventually([&] { return pipeline->Stats().inserter.rate_limited == 1; }));
  std::vector<core::WebhookEvent> second{Event("create", 6, kNow + 1)};
  ASSERT_TRUE(intake_queue.EnqueueBatch(second, kNow));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a claim would take microseconds
  auto pending = queue_.ListEvents(false, 10).value();
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending.at(1).attempts, 0) << "the second event was not claimed on its wake-up";
  EXPECT_EQ(pipeline->Stats().inserter.rate_limited, 1);
  const auto t0 = std::chrono::steady_clock::now();
  pipeline->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST_F(PipelineTest, StopIsGracefulAndTheLastChangesReachTheFiles) {
  api_.UpsertActivity(MakeActivity(6, kAthlete, "2023-06-01T08:00:00Z", 12'000));
  // The aggregator would next run in an hour: only its last pass at Stop()
  // can write the file in time.
  auto pipeline = MakePipeline(1, std::chrono::hours(1));
  pipeline->Start();
  Enqueue({Event("create", 6, kNow)});
  pipeline->Wake();
  ASSERT_TRUE(Eventually([&] { return Pending() == 0; }));
  pipeline->Stop();  // the aggregator's last pass runs after the inserters joined
  EXPECT_EQ(store_.DirtyCount(), 0u);
  EXPECT_EQ(DistanceMmOn(*output_.Get(2023, "cycling"), "2023-06-01"), 12'000'000);
  pipeline->Stop();  // idempotent
}

TEST_F(PipelineTest, AnEnqueueThroughTheWakingQueueStartsTheWorkAtOnce) {
  api_.UpsertActivity(MakeActivity(8, kAthlete, "2023-06-01T08:00:00Z"));
  // Idle workers would look again only in an hour: only Wake() can start them.
  auto pipeline = MakePipeline(2, std::chrono::milliseconds(5), std::chrono::hours(1));
  WakingEventQueue intake_queue(queue_, [&] { pipeline->Wake(); });
  pipeline->Start();
  std::vector<core::WebhookEvent> events{Event("create", 8, kNow)};
  ASSERT_TRUE(intake_queue.EnqueueBatch(events, kNow));
  ASSERT_TRUE(Eventually([&] { return Pending() == 0; }));
  EXPECT_TRUE(Stored(8));
  pipeline->Stop();
}

}  // namespace
}  // namespace dl::app
