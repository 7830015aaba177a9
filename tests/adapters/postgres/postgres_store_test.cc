// The PostgreSQL store: the shared store contract suite, plus what only a
// server database has: explicit migrations checked at start-up, several
// processes and threads on one database, connection loss, and passwords
// kept out of messages. Every test gets a fresh database.
#include "adapters/postgres/postgres_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "contract/store_contract.h"
#include "core/aggregates.h"
#include "pg_test_server.h"
#include "postgres_test_env.h"

namespace dl::adapters::postgres {
namespace {

using contract::MakeActivity;
using contract::StoreContractTest;  // INSTANTIATE_TEST_SUITE_P wants the bare name
using testing::AdminSql;

std::string NewDatabase() {
  auto url = testing::CreateDatabase();
  EXPECT_TRUE(url.has_value()) << (url ? "" : url.error().message);
  return url.value_or("");
}

OpenOptions Migrating(int max_connections = 8) {
  OpenOptions o;
  o.migrate = true;
  o.max_connections = max_connections;
  return o;
}

std::unique_ptr<PostgresStore> OpenOrDie(const std::string& url, const OpenOptions& options = Migrating()) {
  auto store = PostgresStore::Open(url, core::SportCategories::Default(), options);
  EXPECT_TRUE(store.has_value()) << (store ? "" : store.error().message);
  return store ? std::move(*store) : nullptr;
}

std::unique_ptr<ports::Store> MakePostgresStore() {
  auto url = testing::CreateDatabase();
  if (!url) {
    ADD_FAILURE() << url.error().message;
    return nullptr;
  }
  return OpenOrDie(*url);
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreContractTest,
                         ::testing::Values(contract::StoreContractParam{"postgres", MakePostgresStore}),
                         contract::StoreContractName);

ports::UpsertOptions Now(int64_t now_epoch_s) {
  ports::UpsertOptions o;
  o.now_epoch_s = now_epoch_s;
  return o;
}

std::string SelfExe() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec).string();
}

// Starts `count` copies of this executable in a child mode at once and
// returns their exit codes.
std::vector<int> RunChildren(int count, const std::vector<std::string>& args) {
  std::vector<std::thread> threads;
  std::vector<int> codes(static_cast<size_t>(count), -1);
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      std::vector<std::string> argv = {SelfExe(), "--dl-child"};
      argv.insert(argv.end(), args.begin(), args.end());
      codes[static_cast<size_t>(i)] = testing::RunAndWait(argv);
    });
  }
  for (auto& t : threads) t.join();
  return codes;
}

// Every test needs the server: without one it fails at once, with the reason.
class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(testing::ServerError().empty()) << testing::ServerError(); }
};

// ---- migrations ----

TEST_F(PostgresStoreTest, MigrationsAreExplicitAndCheckedAtStartUp) {
  const std::string url = NewDatabase();
  const int latest = PostgresStore::LatestSchemaVersion();
  ASSERT_GE(latest, 2);
  auto refused = PostgresStore::Open(url, core::SportCategories::Default());
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kIo);
  EXPECT_NE(refused.error().message.find("database schema is at version 0, this program needs " +
                                         std::to_string(latest) + ": run `desirelines migrate`"),
            std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find(url.substr(url.rfind('/') + 1)), std::string::npos)
      << "names the database: " << refused.error().message;

  auto store = OpenOrDie(url);  // migrate = true
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion().value_or(-1), latest);
  AdminSql admin(url);
  std::vector<std::string> versions;
  for (int v = 1; v <= latest; ++v) versions.push_back(std::to_string(v));
  EXPECT_EQ(admin.Column("SELECT version FROM schema_migrations ORDER BY version"), versions);
  EXPECT_NE(OpenOrDie(url, OpenOptions{}), nullptr);  // up to date: no migration needed

  // One version behind: refused with the versions named.
  admin.Exec("DELETE FROM schema_migrations WHERE version = " + std::to_string(latest));
  auto behind = PostgresStore::Open(url, core::SportCategories::Default());
  ASSERT_FALSE(behind.has_value());
  EXPECT_NE(behind.error().message.find("at version " + std::to_string(latest - 1) + ", this program needs " +
                                        std::to_string(latest)),
            std::string::npos)
      << behind.error().message;
}

TEST_F(PostgresStoreTest, NewerSchemaIsRefused) {
  const std::string url = NewDatabase();
  ASSERT_NE(OpenOrDie(url), nullptr);
  AdminSql(url).Exec("INSERT INTO schema_migrations VALUES (999, 'from the future', 0)");
  auto store = PostgresStore::Open(url, core::SportCategories::Default());
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().message.find("newer"), std::string::npos) << store.error().message;
  auto migrating = PostgresStore::Open(url, core::SportCategories::Default(), Migrating());
  ASSERT_FALSE(migrating.has_value());
  EXPECT_NE(migrating.error().message.find("newer"), std::string::npos) << migrating.error().message;
}

TEST_F(PostgresStoreTest, ConcurrentMigrateFromSeveralProcessesAndThreads) {
  const std::string url = NewDatabase();
  EXPECT_EQ(RunChildren(3, {"migrate", url}), (std::vector<int>{0, 0, 0}));
  AdminSql admin(url);
  EXPECT_EQ(admin.Column("SELECT count(*) FROM schema_migrations")[0],
            std::to_string(PostgresStore::LatestSchemaVersion()));
  EXPECT_NE(OpenOrDie(url, OpenOptions{}), nullptr);

  const std::string fresh = NewDatabase();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto s = PostgresStore::Open(fresh, core::SportCategories::Default(), Migrating());
      if (!s) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(AdminSql(fresh).Column("SELECT count(*) FROM schema_migrations")[0],
            std::to_string(PostgresStore::LatestSchemaVersion()));
}

// ---- several processes and threads ----

void IncrementBudget(PostgresStore& store, int increments, std::atomic<int>& failures) {
  for (int i = 0; i < increments; ++i) {
    auto r = store.UpdateRateBudget([](core::RateBudgetState& s) {
      const int64_t read = s.used_daily;  // a read-modify-write that would lose updates without the row lock
      s.used_daily = read + 1;
    });
    if (!r) ++failures;
  }
}

TEST_F(PostgresStoreTest, RateBudgetIncrementsAreNeverLostAcrossProcesses) {
  const std::string url = NewDatabase();
  auto store = OpenOrDie(url);
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 3, kIncrements = 40, kChildren = 2;
  std::vector<int> codes;
  std::thread children([&] {
    codes = RunChildren(kChildren, {"budget", url, std::to_string(kThreads), std::to_string(kIncrements)});
  });
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back([&] { IncrementBudget(*store, kIncrements, failures); });
  for (auto& t : threads) t.join();
  children.join();
  EXPECT_EQ(codes, std::vector<int>(kChildren, 0));
  EXPECT_EQ(failures.load(), 0);
  auto state = store->UpdateRateBudget([](core::RateBudgetState&) {});
  ASSERT_TRUE(state.has_value()) << state.error().message;
  EXPECT_EQ(state->used_daily, (kChildren + 1) * kThreads * kIncrements);
}

// Four threads (two store objects, as two processes would have) upsert,
// move, re-type and archive overlapping activities of the same few days.
// Whatever the interleaving, the daily totals must equal a full rebuild.
TEST_F(PostgresStoreTest, ConcurrentUpsertsOfTheSameDaysLeaveTotalsEqualToAFullRebuild) {
  const std::string url = NewDatabase();
  auto a = OpenOrDie(url, Migrating(2));
  auto b = OpenOrDie(url, Migrating(2));
  ASSERT_TRUE(a && b);
  const std::vector<std::string> days = {"2023-12-31T23:30:00Z", "2024-01-01T07:00:00Z", "2024-01-01T18:00:00Z",
                                         "2024-01-02T12:00:00Z"};
  const std::vector<std::string> types = {"Ride", "Run", "VirtualRide", "EBikeRide"};
  std::atomic<int> failures{0};
  std::atomic<int64_t> fresh_id{1000};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      PostgresStore& store = t % 2 == 0 ? *a : *b;
      std::mt19937_64 rng(static_cast<uint64_t>(t) * 7919 + 1);
      for (int round = 0; round < 25; ++round) {
        std::vector<core::Activity> batch;
        for (int k = 0; k < 4; ++k) {
          const int64_t id = rng() % 3 == 0 ? fresh_id++ : 1 + static_cast<int64_t>(rng() % 12);  // shared ids
          batch.push_back(MakeActivity(1, id, days[rng() % days.size()], types[rng() % types.size()],
                                       1000.0 * static_cast<double>(1 + rng() % 50) + 0.5));
        }
        if (!store.UpsertActivities(batch, Now(round))) ++failures;
        if (round % 5 == 4) {
          ports::ArchiveRequest r;
          r.athlete_id = 1;
          r.ids = {1 + static_cast<int64_t>(rng() % 12)};
          r.reason = "test";
          r.now_epoch_s = round;
          if (!store.ArchiveActivities(r)) ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (int year : {2023, 2024}) {
    auto activities = a->ActivitiesInLocalYear(1, year);
    auto stored = a->DailyForYear(1, year, "");
    ASSERT_TRUE(activities && stored);
    EXPECT_FALSE(activities->empty());
    EXPECT_EQ(*stored, core::SummarizeDays(*activities, core::SportCategories::Default())) << "year " << year;
  }
}

TEST_F(PostgresStoreTest, ManyNewActivitiesOfOneDayFromFourThreadsAreAllCounted) {
  const std::string url = NewDatabase();
  auto store = OpenOrDie(url, Migrating(4));
  ASSERT_NE(store, nullptr);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const int64_t id = 1 + t * 100 + i;
        auto r =
            store->UpsertActivities(std::vector{MakeActivity(7, id, "2024-07-07T10:00:00Z", "Ride", 1000)}, Now(1));
        if (!r || r->inserted != 1) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto days = store->DailyForYear(7, 2024, "cycling");
  ASSERT_TRUE(days.has_value());
  ASSERT_EQ(days->size(), 1u);
  EXPECT_EQ((*days)[0].count, 80);
  EXPECT_EQ((*days)[0].distance_mm, 80 * 1000000);
  EXPECT_EQ((*days)[0].activity_ids.size(), 80u);
}

TEST_F(PostgresStoreTest, ThreadsShareOneStoreThroughABoundedPool) {
  const std::string url = NewDatabase();
  auto store = OpenOrDie(url, Migrating(3));
  ASSERT_NE(store, nullptr);
  std::mutex mu;
  std::set<int64_t> all;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      int64_t last = 0;
      for (int i = 0; i < 15; ++i) {
        auto id = store->NextRunId();
        if (!id || *id <= last) ++failures;
        last = id.value_or(last);
        std::lock_guard lock(mu);
        all.insert(last);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(all.size(), 120u);  // never handed out twice
  const std::string db = url.substr(url.rfind('/') + 1);
  const auto connections = std::stoi(AdminSql(url).Column("SELECT count(*) FROM pg_stat_activity WHERE datname = '" +
                                                          db + "' AND application_name = 'desirelines'")[0]);
  EXPECT_GE(connections, 1);
  EXPECT_LE(connections, 3);
}

TEST_F(PostgresStoreTest, QueueClaimsNeverHandTheSameEventToTwoWorkers) {
  const std::string url = NewDatabase();
  auto a = OpenOrDie(url, Migrating(2));
  auto b = OpenOrDie(url, Migrating(2));
  ASSERT_TRUE(a && b);
  std::vector<core::WebhookEvent> events;
  for (int i = 0; i < 150; ++i) {
    core::WebhookEvent e;
    e.object_type = "activity";
    e.object_id = i;
    e.aspect_type = "create";
    e.owner_id = 1 + i % 3;
    e.event_time = 1000 + i;
    events.push_back(e);
  }
  ASSERT_TRUE(a->EnqueueBatch(events, 100).has_value());
  std::mutex mu;
  std::multiset<int64_t> seen;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      PostgresStore& store = t % 2 == 0 ? *a : *b;
      for (;;) {
        auto claimed = store.Claim(7, 100, 600);  // a long lease: nothing comes back
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
        if (!store.Ack(seqs)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(seen.size(), 150u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 150u) << "an event was claimed twice";
  EXPECT_EQ(a->PendingCount().value_or(-1), 0);
}

// ---- connections and messages ----

// Pooled connections killed on the server side (a restart, a failover, an
// administrator): the next calls open fresh connections, and nothing is lost.
TEST_F(PostgresStoreTest, DeadPooledConnectionsAreReplacedTransparently) {
  const std::string url = NewDatabase();
  auto store = OpenOrDie(url, Migrating(2));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->SaveCheckpoint("k", "v").has_value());
  const std::string db = url.substr(url.rfind('/') + 1);
  AdminSql admin(url);
  auto terminate = [&] {
    return admin.Column(
        "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
        "WHERE datname = '" +
        db + "' AND application_name = 'desirelines'")[0];
  };
  EXPECT_EQ(terminate(), "1");
  EXPECT_EQ(store->LoadCheckpoint("k").value_or(std::nullopt), std::optional<std::string>("v"));  // a read
  EXPECT_EQ(terminate(), "1");
  auto upserted = store->UpsertActivities(std::vector{MakeActivity(1, 1, "2024-01-01T10:00:00Z")}, Now(1));
  ASSERT_TRUE(upserted.has_value()) << upserted.error().message;  // a write
  EXPECT_EQ(upserted->inserted, 1);
  EXPECT_EQ(store->DailyForYear(1, 2024, "").value().size(), 1u);
}

TEST_F(PostgresStoreTest, PasswordsNeverAppearInErrorMessages) {
  const std::string secret = "S3cr3tPassw0rd";
  // 127.0.0.1:1: nobody listens there.
  const std::string url = testing::WithDatabase(testing::AdminUrl(), "x");
  const std::string host_port = url.substr(url.find('@') + 1, url.rfind('/') - url.find('@') - 1);
  const std::string dead = "127.0.0.1:1";
  const std::vector<std::string> urls = {
      "postgresql://dl_user:" + secret + "@" + dead + "/desirelines",
      "postgresql://dl_user:" + secret + "%21@" + dead + "/desirelines",
      "postgresql://dl_user@" + dead + "/desirelines?password=" + secret + "&sslmode=disable",
      "host=127.0.0.1 port=1 user=dl_user password=" + secret + " dbname=desirelines",
      "postgresql://dl_user:" + secret + "@127.0.0.1:notaport/desirelines",
      "postgresql://dl_user:" + secret + "@" + host_port + "/no_such_database_here",
  };
  for (const auto& u : urls) {
    auto store = PostgresStore::Open(u, core::SportCategories::Default());
    ASSERT_FALSE(store.has_value()) << u;
    EXPECT_EQ(store.error().message.find(secret), std::string::npos) << store.error().message;
    EXPECT_NE(store.error().message.find("127.0.0.1"), std::string::npos) << store.error().message;
  }
  auto refused = PostgresStore::Open(urls[0], core::SportCategories::Default());
  EXPECT_EQ(refused.error().code, ErrorCode::kIo);
  EXPECT_NE(refused.error().message.find("postgresql://dl_user@127.0.0.1:1/desirelines"), std::string::npos)
      << refused.error().message;
  auto missing = PostgresStore::Open(urls.back(), core::SportCategories::Default());
  EXPECT_NE(missing.error().message.find("no_such_database_here"), std::string::npos) << missing.error().message;
  EXPECT_EQ(RedactedUrl(urls[0]), "postgresql://dl_user:***@127.0.0.1:1/desirelines");
  EXPECT_EQ(RedactedUrl(urls[3]).find(secret), std::string::npos);
}

// ---- data ----

TEST_F(PostgresStoreTest, RawJsonRoundTripsAnyBytes) {
  auto store = OpenOrDie(NewDatabase());
  ASSERT_NE(store, nullptr);
  auto a = MakeActivity(1, 1, "2024-01-01T10:00:00Z");
  a.raw_json = std::string("{\"x\":\"\xff\xfe\x00\x01 \\u0000\"}", 16);
  ASSERT_TRUE(store->UpsertActivities(std::vector{a}, Now(1)).has_value());
  EXPECT_EQ(store->GetActivity(1, 1).value(), a);
  EXPECT_EQ(store->ActivitiesInLocalYear(1, 2024).value().at(0).raw_json, a.raw_json);
  auto same = store->UpsertActivities(std::vector{a}, Now(2));
  EXPECT_EQ(same.value().unchanged, 1);
}

TEST_F(PostgresStoreTest, ArchiveKeepsTheFullRowWithReasonAndTime) {
  const std::string url = NewDatabase();
  auto store = OpenOrDie(url);
  ASSERT_NE(store, nullptr);
  auto a = MakeActivity(3, 44, "2024-09-09T09:00:00Z");
  ASSERT_TRUE(store->UpsertActivities(std::vector{a}, Now(10)).has_value());
  ports::ArchiveRequest r;
  r.athlete_id = 3;
  r.ids = {44};
  r.reason = "delete webhook confirmed";
  r.now_epoch_s = 1234;
  ASSERT_EQ(store->ArchiveActivities(r).value_or(-1), 1);
  AdminSql admin(url);
  EXPECT_EQ(admin.Column("SELECT reason || '|' || deleted_at || '|' || name || '|' || gear_id FROM deleted_activities"),
            std::vector<std::string>{"delete webhook confirmed|1234|" + a.name + "|b12345"});
  EXPECT_EQ(admin.Column("SELECT convert_from(raw_json, 'UTF8') FROM deleted_activities"),
            std::vector<std::string>{a.raw_json});
  EXPECT_EQ(admin.Column("SELECT count(*) FROM activities"), std::vector<std::string>{"0"});
}

TEST_F(PostgresStoreTest, RebuildYearAppliesChangedSportCategories) {
  const std::string url = NewDatabase();
  std::vector<core::Activity> v = {MakeActivity(1, 1, "2024-03-01T10:00:00Z", "Run", 5000),
                                   MakeActivity(1, 2, "2024-03-01T12:00:00Z", "Ride", 20000)};
  ASSERT_TRUE(OpenOrDie(url)->UpsertActivities(v, Now(1)).has_value());
  auto rules = core::SportCategories::FromRules({{"cycling", {"Ride", "Run"}, {}}});
  ASSERT_TRUE(rules.has_value());
  auto store = PostgresStore::Open(url, *rules);
  ASSERT_TRUE(store.has_value()) << store.error().message;
  ASSERT_TRUE((*store)->RebuildYear(1, 2024).has_value());
  auto days = (*store)->DailyForYear(1, 2024, "").value();
  EXPECT_EQ(days, core::SummarizeDays(v, *rules));
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].distance_mm, 25000000);
  EXPECT_EQ(AdminSql(url).Column("SELECT DISTINCT category FROM activities"), std::vector<std::string>{"cycling"});
}

}  // namespace

// ---- child processes (postgres_test_main.cc dispatches --dl-child here) ----

namespace testing {

int RunChild(int argc, char** argv) {
  const std::string mode = argc > 2 ? argv[2] : "";
  const std::string url = argc > 3 ? argv[3] : "";
  if (mode == "migrate") {
    auto store = PostgresStore::Open(url, core::SportCategories::Default(), Migrating());
    if (!store) std::fprintf(stderr, "child migrate: %s\n", store.error().message.c_str());
    return store ? 0 : 1;
  }
  if (mode == "budget" && argc == 6) {
    auto store = PostgresStore::Open(url, core::SportCategories::Default());
    if (!store) {
      std::fprintf(stderr, "child budget: %s\n", store.error().message.c_str());
      return 1;
    }
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < std::atoi(argv[4]); ++t) {
      threads.emplace_back([&] { IncrementBudget(**store, std::atoi(argv[5]), failures); });
    }
    for (auto& t : threads) t.join();
    return failures.load() == 0 ? 0 : 1;
  }
  std::fprintf(stderr, "unknown child mode %s\n", mode.c_str());
  return 2;
}

}  // namespace testing
}  // namespace dl::adapters::postgres
