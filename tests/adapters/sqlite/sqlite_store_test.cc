#include "adapters/sqlite/sqlite_store.h"
#include "adapters/sqlite/raw_codec.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "adapters/sqlite/schema.h"
#include "contract/store_contract.h"
#include "core/aggregates.h"

namespace dl::adapters::sqlite {
namespace {

using contract::MakeActivity;
using contract::StoreContractTest;  // INSTANTIATE_TEST_SUITE_P wants the bare name

// One temporary directory for the whole executable, removed at the end.
class TempDirEnvironment : public ::testing::Environment {
 public:
  static const std::string& Dir() { return dir_; }
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "dl_sqlite_store_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

 private:
  static inline std::string dir_;
};
const auto* const kTempDir = ::testing::AddGlobalTestEnvironment(new TempDirEnvironment);

std::string NewPath() {
  static std::atomic<int> counter{0};
  return TempDirEnvironment::Dir() + "/store_" + std::to_string(counter++) + ".db";
}

std::unique_ptr<ports::Store> MakeSqliteStore() {
  auto store = SqliteStore::Open(NewPath(), core::SportCategories::Default());
  if (!store) {
    ADD_FAILURE() << store.error().message;
    return nullptr;
  }
  return std::move(*store);
}

std::unique_ptr<ports::Store> MakeTextSqliteStore() {
  SqliteOptions options;
  options.compact_raw_json = false;
  auto store = SqliteStore::Open(NewPath(), core::SportCategories::Default(), options);
  if (!store) {
    ADD_FAILURE() << store.error().message;
    return nullptr;
  }
  return std::move(*store);
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest,
                         ::testing::Values(contract::StoreContractParam{"sqlite", MakeSqliteStore},
                                           contract::StoreContractParam{"sqlite_text", MakeTextSqliteStore}),
                         contract::StoreContractName);

std::unique_ptr<SqliteStore> OpenOrDie(const std::string& path,
                                       const core::SportCategories& categories = core::SportCategories::Default(),
                                       const SqliteOptions& options = {}) {
  auto store = SqliteStore::Open(path, categories, options);
  EXPECT_TRUE(store.has_value()) << (store ? "" : store.error().message);
  return store ? std::move(*store) : nullptr;
}

// A webhook "create" event of activity `id` owned by `owner`.
core::WebhookEvent ActivityCreated(int64_t id, int64_t owner, int64_t event_time) {
  core::WebhookEvent e;
  e.object_type = "activity";
  e.object_id = id;
  e.aspect_type = "create";
  e.owner_id = owner;
  e.event_time = event_time;
  return e;
}

// Raw access to look at what the port does not expose.
class RawDb {
 public:
  explicit RawDb(const std::string& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK); }
  ~RawDb() { sqlite3_close(db_); }
  // The first column of every row, as text.
  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
    while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      out.emplace_back(text != nullptr ? text : "NULL");
    }
    sqlite3_finalize(stmt);
    return out;
  }
  void Exec(const std::string& sql) { EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK); }

 private:
  sqlite3* db_ = nullptr;
};

ports::UpsertOptions Now(int64_t now_epoch_s) {
  ports::UpsertOptions o;
  o.now_epoch_s = now_epoch_s;
  return o;
}

ports::ArchiveRequest ArchiveOne(int64_t athlete_id, int64_t id, std::string reason, int64_t now_epoch_s) {
  ports::ArchiveRequest r;
  r.athlete_id = athlete_id;
  r.ids = {id};
  r.reason = std::move(reason);
  r.now_epoch_s = now_epoch_s;
  return r;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t m) : old_(::umask(m)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST(SqliteStoreTest, DatabaseAndWalFilesAreOwnerOnly) {
  ScopedUmask permissive(022);  // what a user's shell usually has
  const std::string path = NewPath();
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->SaveToken({1, "a", "r", 1, "s"}).has_value());
  for (const std::string& file : {path, path + "-wal", path + "-shm"}) {
    EXPECT_EQ(ModeOf(file), 0600u) << file;
  }
}

TEST(SqliteStoreTest, ExistingWorldReadableDatabaseIsTightened) {
  ScopedUmask permissive(022);
  const std::string path = NewPath();
  { std::ofstream touch(path); }  // an empty file is an empty database
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(ModeOf(path + "-wal"), 0600u);
}

TEST(SqliteStoreTest, MigrationsAreRecordedAndIdempotentOnReopen) {
  const std::string path = NewPath();
  {
    auto store = OpenOrDie(path);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->SchemaVersion().value_or(-1), SqliteStore::LatestSchemaVersion());
  }
  auto again = OpenOrDie(path);
  ASSERT_NE(again, nullptr);
  ASSERT_TRUE(again->Migrate().has_value());
  RawDb raw(path);
  std::vector<std::string> every_version;  // each migration recorded once
  for (int v = 1; v <= SqliteStore::LatestSchemaVersion(); ++v) every_version.push_back(std::to_string(v));
  EXPECT_EQ(raw.Column("SELECT version FROM schema_migrations ORDER BY version"), every_version);
  auto applied_at = raw.Column("SELECT applied_at FROM schema_migrations");
  ASSERT_EQ(applied_at.size(), every_version.size());
  EXPECT_GT(std::stoll(applied_at[0]), 1700000000);
  EXPECT_EQ(raw.Column("PRAGMA journal_mode"), std::vector<std::string>{"wal"});
  EXPECT_EQ(raw.Column("PRAGMA page_size"), std::vector<std::string>{"16384"});
}

// A database created by the first release (schema v1) gains the live
// pipeline's tables when opened, and keeps its data.
TEST(SqliteStoreTest, VersionOneDatabaseIsMigratedToTheEventQueue) {
  const std::string path = NewPath();
  {
    auto store = OpenOrDie(path);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->SaveCheckpoint("k", "v").has_value());
  }
  RawDb(path).Exec(
      "DROP TABLE event_queue; DROP TABLE received_events; DROP TABLE dead_letters; DROP TABLE dirty_years; "
      "DELETE FROM schema_migrations WHERE version > 1");
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion().value_or(-1), SqliteStore::LatestSchemaVersion());
  EXPECT_EQ(store->LoadCheckpoint("k").value_or(std::nullopt), std::optional<std::string>("v"));
  std::vector<core::WebhookEvent> events{ActivityCreated(1, 2, 3)};
  ASSERT_TRUE(store->EnqueueBatch(events, 1700000000).has_value());
  EXPECT_EQ(store->PendingCount().value_or(-1), 1);
}

// A database at schema v3 (event_queue with AUTOINCREMENT and two indexes)
// upgrades to the lean queue of v4 and keeps its events, dead letters and
// dedup keys; a seq v3 handed out (here the acked newest, 3) is never handed
// out again.
TEST(SqliteStoreTest, VersionThreeQueueIsMigratedWithItsEventsAndSeqs) {
  const std::string path = NewPath();
  {
    RawDb raw(path);
    raw.Exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    for (const auto& m : Migrations()) {
      if (m.version > 3) continue;
      raw.Exec(m.sql);
      raw.Exec("INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", 1700000000)");
    }
    raw.Exec(
        "INSERT INTO event_queue (object_type, object_id, aspect_type, owner_id, subscription_id, event_time, "
        "updates_json, attempts, received_at, available_at, last_error) VALUES "
        "('activity', 11, 'create', 5, 77, 1001, '{}', 2, 100, 100, 'HTTP 503'), "
        "('activity', 12, 'create', 5, 77, 1002, '{}', 1, 100, 100, ''), "
        "('activity', 13, 'create', 5, 77, 1003, '{}', 0, 100, 100, '')");
    raw.Exec("INSERT INTO dead_letters SELECT *, 150 FROM event_queue WHERE seq = 2");
    raw.Exec("DELETE FROM event_queue WHERE seq IN (2, 3)");  // 2 dead-lettered, 3 acked
    raw.Exec("INSERT INTO received_events VALUES ('activity:11:create:1001:5:{}', 100)");
  }
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion().value_or(-1), SqliteStore::LatestSchemaVersion());
  RawDb raw(path);
  EXPECT_EQ(raw.Column("SELECT name FROM sqlite_master WHERE name LIKE 'event_queue%' OR name LIKE 'received_events%' "
                       "ORDER BY name"),
            (std::vector<std::string>{"event_queue", "received_events", "received_events_old"}));
  EXPECT_EQ(raw.Column("SELECT value FROM counters WHERE name = 'dedup_generation_since'"),
            std::vector<std::string>{"100"});  // the oldest key's
  auto pending = store->ListEvents(false, 10).value_or(std::vector<ports::QueuedEvent>{});
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].seq, 1);
  EXPECT_EQ(pending[0].event.object_id, 11);
  EXPECT_EQ(pending[0].attempts, 2);
  EXPECT_EQ(pending[0].last_error, "HTTP 503");
  core::WebhookEvent retry = pending[0].event;  // a Strava retry of the queued event
  core::WebhookEvent fresh = retry;
  fresh.object_id = 14;
  fresh.event_time = 1004;
  std::vector<core::WebhookEvent> events{retry, fresh};
  EXPECT_EQ(store->EnqueueBatch(events, 200).value_or(std::vector<ports::EnqueueOutcome>{}),
            (std::vector{ports::EnqueueOutcome::kDuplicate, ports::EnqueueOutcome::kQueued}));
  pending = store->ListEvents(false, 10).value_or(std::vector<ports::QueuedEvent>{});
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[1].seq, 4);  // not 2 (a dead letter) nor 3 (acked)
  EXPECT_EQ(store->Redrive(2, 300).value_or(-1), 1);
  EXPECT_EQ(store->PendingCount().value_or(-1), 3);
}

// Dedup keys expire by generation: known for at least the retention (here
// 100 s), at most twice that; the queue's keys share the generations.
TEST(SqliteStoreTest, DedupKeysExpireByGenerationAfterOneToTwoRetentions) {
  const std::string path = NewPath();
  SqliteOptions options;
  options.dedup_retention_s = 100;
  auto opened = SqliteStore::Open(path, core::SportCategories::Default(), options);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  SqliteStore& store = **opened;
  auto record = [&](std::vector<std::string> keys, int64_t now) {
    return store.RecordDedupKeys(keys, now).value_or(std::vector<bool>{});
  };
  EXPECT_EQ(record({"a"}, 1000), std::vector<bool>{true});  // the first generation starts
  EXPECT_EQ(record({"a", "b"}, 1050), (std::vector<bool>{false, true}));
  EXPECT_EQ(record({"a", "c"}, 1100), (std::vector<bool>{false, true}));  // rotated: a, b in the old one
  RawDb raw(path);
  EXPECT_EQ(raw.Column("SELECT dedup_key FROM received_events"), std::vector<std::string>{"c"});
  EXPECT_EQ(raw.Column("SELECT dedup_key FROM received_events_old ORDER BY 1"), (std::vector<std::string>{"a", "b"}));
  std::vector<core::WebhookEvent> events{ActivityCreated(1, 2, 3)};
  using ports::EnqueueOutcome;
  EXPECT_EQ(store.EnqueueBatch(events, 1150).value_or(std::vector<EnqueueOutcome>{}),
            std::vector{EnqueueOutcome::kQueued});
  EXPECT_EQ(record({"a", "c"}, 1199), (std::vector<bool>{false, false}));
  // The generations are checked once a minute (last at 1199): rotated again
  // at 1260, a (260 s old) is forgotten, c and the event's key are not.
  EXPECT_EQ(record({"a"}, 1260), std::vector<bool>{true});
  EXPECT_EQ(record({"c"}, 1300), std::vector<bool>{false});
  EXPECT_EQ(store.EnqueueBatch(events, 1300).value_or(std::vector<EnqueueOutcome>{}),
            std::vector{EnqueueOutcome::kDuplicate});
  // Known in either generation (c and the event's key are in the old one now, a in the new).
  std::vector<std::string> ask{"a", "c", events[0].DedupKey(), "b"};
  EXPECT_EQ(store.KnownDedupKeys(ask, 1300).value_or(std::vector<bool>{}),
            (std::vector<bool>{true, true, true, false}));
}

TEST(SqliteStoreTest, NewerSchemaIsRefusedWithAClearMessage) {
  const std::string path = NewPath();
  { ASSERT_NE(OpenOrDie(path), nullptr); }
  RawDb(path).Exec("INSERT INTO schema_migrations VALUES (999, 0)");
  auto store = SqliteStore::Open(path, core::SportCategories::Default());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kIo);
  EXPECT_NE(store.error().message.find("newer"), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find(path), std::string::npos) << store.error().message;
}

TEST(SqliteStoreTest, OpenFailureNamesThePath) {
  const std::string path = TempDirEnvironment::Dir() + "/no/such/dir/x.db";
  auto store = SqliteStore::Open(path, core::SportCategories::Default());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kIo);
  EXPECT_NE(store.error().message.find(path), std::string::npos) << store.error().message;
}

// Two stores on one file behave as two processes: their own connections,
// arbitrated by SQLite's file locks. No increment may be lost.
TEST(SqliteStoreTest, RateBudgetIncrementsAreNeverLostAcrossConnections) {
  const std::string path = NewPath();
  auto a = OpenOrDie(path);
  auto b = OpenOrDie(path);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  constexpr int kThreadsPerStore = 2, kIncrements = 100;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (SqliteStore* store : {a.get(), b.get()}) {
    for (int t = 0; t < kThreadsPerStore; ++t) {
      threads.emplace_back([store, &failures] {
        for (int i = 0; i < kIncrements; ++i) {
          auto r = store->UpdateRateBudget([](core::RateBudgetState& s) {
            const int64_t read = s.used_daily;
            s.used_daily = read + 1;
          });
          if (!r) ++failures;
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto final_state = a->UpdateRateBudget([](core::RateBudgetState&) {});
  ASSERT_TRUE(final_state.has_value());
  EXPECT_EQ(final_state->used_daily, 2 * kThreadsPerStore * kIncrements);
}

TEST(SqliteStoreTest, RunIdsStayMonotonicAcrossConnectionsAndReopen) {
  const std::string path = NewPath();
  int64_t last = 0;
  for (int round = 0; round < 2; ++round) {
    auto a = OpenOrDie(path);
    auto b = OpenOrDie(path);
    for (SqliteStore* s : {a.get(), b.get(), a.get()}) {
      int64_t id = s->NextRunId().value_or(-1);
      EXPECT_GT(id, last);
      last = id;
    }
  }
  EXPECT_EQ(last, 6);
}

TEST(SqliteStoreTest, ArchiveKeepsTheFullRowWithReasonAndTime) {
  const std::string path = NewPath();
  auto store = OpenOrDie(path);
  auto a = MakeActivity(3, 44, "2024-09-09T09:00:00Z");
  ASSERT_TRUE(store->UpsertActivities(std::vector{a}, Now(10)).has_value());
  ASSERT_EQ(store->ArchiveActivities(ArchiveOne(3, 44, "delete webhook confirmed", 1234)).value_or(-1), 1);
  RawDb raw(path);
  EXPECT_EQ(raw.Column("SELECT reason || '|' || deleted_at || '|' || name || '|' || gear_id FROM deleted_activities"),
            std::vector<std::string>{"delete webhook confirmed|1234|" + a.name + "|b12345"});
  // The raw JSON as stored (compact: codec 3, its polyline in the archived
  // row's typed column) gives back the JSON received.
  const auto codec = raw.Column("SELECT raw_codec FROM deleted_activities");
  const auto hex = raw.Column("SELECT hex(raw_json) FROM deleted_activities");
  const auto polyline = raw.Column("SELECT map_summary_polyline FROM deleted_activities");
  ASSERT_EQ(codec, std::vector<std::string>{"3"});
  ASSERT_EQ(hex.size(), 1u);
  std::string bytes;
  for (size_t i = 0; i + 1 < hex[0].size(); i += 2) bytes.push_back(static_cast<char>(std::stoi(hex[0].substr(i, 2), nullptr, 16)));
  RawJsonCodec decoder(true, 1);
  EXPECT_EQ(decoder.Decode(RawCodec::kCompact, bytes, polyline.at(0)).value(), a.raw_json);
  EXPECT_EQ(raw.Column("SELECT count(*) FROM activity_raw"), std::vector<std::string>{"0"});
}

// Every column of every row of `table`, ordered by its first column.
std::vector<std::string> DumpTable(RawDb& db, const std::string& table) {
  const auto columns = db.Column("SELECT group_concat('quote(' || name || ')', ' || ''|'' || ') "
                                 "FROM pragma_table_info('" + table + "')");
  EXPECT_EQ(columns.size(), 1u);
  return db.Column("SELECT " + columns.at(0) + " FROM " + table + " ORDER BY 1");
}

// A batch of distinct ids (a backfill page) inserts its new rows several per
// statement with row ids it assigns itself: the rows, their row ids, the raw
// JSON and the summaries must be exactly those of the same activities upserted
// one at a time (the row-by-row path), over a batch that mixes new (more than
// one statement's worth, and a remainder), updated, unchanged, fenced and
// archived-after-the-fence rows, with one stale preparation, after the
// largest row id was archived (SQLite then reuses it); raw JSON compressed
// (prepared bytes) and as text (bytes encoded on the writer).
class BatchedNewRowsTest : public ::testing::TestWithParam<bool> {};

TEST_P(BatchedNewRowsTest, MatchRowByRowUpserts) {
  SqliteOptions store_options;
  store_options.compact_raw_json = GetParam();
  const std::string batched_path = NewPath(), single_path = NewPath();
  auto batched = OpenOrDie(batched_path, core::SportCategories::Default(), store_options);
  auto single = OpenOrDie(single_path, core::SportCategories::Default(), store_options);
  auto day = [](int64_t id) {
    return "2024-" + std::string(id % 12 < 9 ? "0" : "") + std::to_string(id % 12 + 1) + "-1" + std::to_string(id % 9) +
           "T08:00:00Z";
  };
  // Upserts `batch` into both stores (prepared ahead in the batched one) and
  // checks that the summaries agree.
  auto upsert_both = [&](std::vector<core::Activity> batch, ports::UpsertOptions options, bool stale_preparation) {
    auto prepared = batched->PrepareUpsert(batch);
    if (stale_preparation) batch[batch.size() - 2].raw_json.insert(1, R"("edited":true,)");
    options.prepared = prepared.get();
    auto one = batched->UpsertActivities(batch, options);
    ASSERT_TRUE(one.has_value()) << one.error().message;
    options.prepared = nullptr;
    ports::UpsertSummary sum;
    for (const auto& a : batch) {
      auto s = single->UpsertActivities(std::span(&a, 1), options);
      ASSERT_TRUE(s.has_value()) << s.error().message;
      sum.inserted += s->inserted;
      sum.updated += s->updated;
      sum.unchanged += s->unchanged;
      sum.fenced += s->fenced;
    }
    EXPECT_EQ(one->inserted, sum.inserted);
    EXPECT_EQ(one->updated, sum.updated);
    EXPECT_EQ(one->unchanged, sum.unchanged);
    EXPECT_EQ(one->fenced, sum.fenced);
  };
  std::vector<core::Activity> first;
  for (int64_t id = 1; id <= 40; ++id) first.push_back(MakeActivity(5, id, day(id)));
  upsert_both(first, Now(100), false);
  for (SqliteStore* store : {batched.get(), single.get()}) {
    ASSERT_EQ(store->ArchiveActivities(ArchiveOne(5, 40, "gone", 450)).value_or(-1), 1);  // the largest row id
    ports::UpsertOptions webhook = Now(500);
    webhook.from_webhook = true;
    auto changed = first[2];  // id 3, changed by a webhook after the fence
    changed.name = "renamed";
    ASSERT_TRUE(store->UpsertActivities(std::vector{changed}, webhook).has_value());
  }
  std::vector<core::Activity> second(first.begin(), first.begin() + 10);  // 1..10 unchanged, 3 fenced
  for (int64_t id : {4, 5, 6}) second[id - 1].distance_m += 1000;       // updated
  second.push_back(first[39]);                                           // 40: archived after the fence
  for (int64_t id = 41; id <= 41 + 2 * 16 + 2; ++id) second.push_back(MakeActivity(5, id, day(id)));  // new
  ports::UpsertOptions options = Now(600);
  options.fence_epoch_s = 400;
  options.seen_by_run = 9;
  upsert_both(second, options, true);

  RawDb b(batched_path), s(single_path);
  for (const char* table : {"activities", "activity_raw", "daily_totals"}) {
    const auto rows = DumpTable(b, table);
    EXPECT_EQ(rows, DumpTable(s, table)) << table;
    EXPECT_FALSE(rows.empty()) << table;
  }
  EXPECT_EQ(b.Column("SELECT count(*) FROM activities WHERE row_id = 40"), std::vector<std::string>{"1"});
  EXPECT_EQ(b.Column("SELECT count(*) FROM activity_raw r LEFT JOIN activities a USING (row_id) WHERE a.id IS NULL"),
            std::vector<std::string>{"0"});
  EXPECT_EQ(b.Column("SELECT DISTINCT codec FROM activity_raw"), std::vector<std::string>{GetParam() ? "3" : "0"});
}

INSTANTIATE_TEST_SUITE_P(RawFormats, BatchedNewRowsTest, ::testing::Values(true, false),
                         [](const auto& test) { return test.param ? "compact" : "text"; });

// activity_raw has no foreign key (see schema.cc): the store keeps it in step.
TEST(SqliteStoreTest, RawJsonRowsFollowTheirActivities) {
  const std::string path = NewPath();
  auto store = OpenOrDie(path);
  for (int64_t athlete : {1, 2}) {
    std::vector<core::Activity> v;
    for (int64_t id = 1; id <= 5; ++id)
      v.push_back(MakeActivity(athlete, id, "2024-02-0" + std::to_string(id) + "T10:00:00Z"));
    ASSERT_TRUE(store->UpsertActivities(v, Now(1)).has_value());
    v[0].raw_json += " ";  // an update rewrites the raw row in place
    ASSERT_TRUE(store->UpsertActivities(v, Now(2)).has_value());
  }
  ASSERT_EQ(store->ArchiveActivities(ArchiveOne(1, 3, "gone", 3)).value_or(-1), 1);
  ASSERT_EQ(store->DeleteAthleteData(2).value_or(-1), 5);
  RawDb raw(path);
  EXPECT_EQ(raw.Column("SELECT count(*) FROM activities"), std::vector<std::string>{"4"});
  EXPECT_EQ(raw.Column("SELECT count(*) FROM activity_raw"), std::vector<std::string>{"4"});
  EXPECT_EQ(raw.Column("SELECT count(*) FROM activity_raw r LEFT JOIN activities a USING (row_id) "
                       "WHERE a.row_id IS NULL"),
            std::vector<std::string>{"0"});
}

// The page cache is a cap the store's connection honours: a bulk writer with
// a small cache stays small while the file grows past it; the default keeps
// what it wrote. sqlite3_memory_used() counts every SQLite allocation of the
// process (this test's stores only: they run one at a time).
TEST(SqliteStoreTest, PageCacheSizeIsTheConfiguredCap) {
  auto grown_by = [](int cache_size_kib) -> int64_t {
    SqliteOptions options;
    options.cache_size_kib = cache_size_kib;
    options.background_checkpoint = false;
    const int64_t before = sqlite3_memory_used();
    auto store = OpenOrDie(NewPath(), core::SportCategories::Default(), options);
    for (int64_t page = 0; page < 12; ++page) {
      std::vector<core::Activity> v;
      for (int64_t i = 1; i <= 200; ++i) v.push_back(MakeActivity(1, page * 200 + i, "2024-05-01T10:00:00Z"));
      EXPECT_TRUE(store->UpsertActivities(v, Now(1)).has_value());
    }
    return sqlite3_memory_used() - before;  // with the store still open
  };
  const int64_t small = grown_by(1024);
  const int64_t large = grown_by(32768);
  EXPECT_LT(small, 3 << 20) << "a 1 MiB cache grew SQLite's memory by " << small << " bytes";
  EXPECT_GT(large, 4 << 20) << "the 32 MiB default kept only " << large << " bytes of a ~6 MB file";
}

TEST(SqliteStoreTest, TextAndCompactRawJsonCoexist) {
  const std::string path = NewPath();
  auto a = MakeActivity(1, 1, "2024-01-01T10:00:00Z");
  auto b = MakeActivity(1, 2, "2024-01-02T10:00:00Z");
  {
    SqliteOptions text;
    text.compact_raw_json = false;
    auto plain = OpenOrDie(path, core::SportCategories::Default(), text);
    ASSERT_TRUE(plain->UpsertActivities(std::vector{a}, Now(1)).has_value());
  }
  auto compressed = OpenOrDie(path);  // compact by default
  ASSERT_TRUE(compressed->UpsertActivities(std::vector{b}, Now(2)).has_value());
  EXPECT_EQ(RawDb(path).Column("SELECT codec FROM activity_raw ORDER BY row_id"), (std::vector<std::string>{"0", "3"}));
  EXPECT_EQ(RawDb(path).Column("SELECT raw FROM activity_raw WHERE codec = 0"), std::vector<std::string>{a.raw_json});
  EXPECT_EQ(compressed->GetActivity(1, 1).value(), a);
  EXPECT_EQ(compressed->GetActivity(1, 2).value(), b);
}

TEST(SqliteStoreTest, RebuildYearAppliesChangedSportCategories) {
  const std::string path = NewPath();
  std::vector<core::Activity> v = {MakeActivity(1, 1, "2024-03-01T10:00:00Z", "Run", 5000),
                                   MakeActivity(1, 2, "2024-03-01T12:00:00Z", "Ride", 20000)};
  {
    auto store = OpenOrDie(path);
    ASSERT_TRUE(store->UpsertActivities(v, Now(1)).has_value());
  }
  // The user's override: runs count with rides.
  auto rules = core::SportCategories::FromRules({{"cycling", {"Ride", "Run"}, {}}});
  ASSERT_TRUE(rules.has_value());
  auto store = OpenOrDie(path, *rules);
  ASSERT_TRUE(store->RebuildYear(1, 2024).has_value());
  auto days = store->DailyForYear(1, 2024, "").value();
  EXPECT_EQ(days, core::SummarizeDays(v, *rules));
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].distance_mm, 25000000);
  EXPECT_EQ(RawDb(path).Column("SELECT DISTINCT category FROM activities"), std::vector<std::string>{"cycling"});
}

TEST(SqliteStoreTest, UnchangedUpsertUnderNewCategoriesFixesItsDay) {
  const std::string path = NewPath();
  auto run = MakeActivity(1, 1, "2024-03-01T10:00:00Z", "Run", 5000);
  { ASSERT_TRUE(OpenOrDie(path)->UpsertActivities(std::vector{run}, Now(1)).has_value()); }
  auto rules = core::SportCategories::FromRules({{"cycling", {"Ride", "Run"}, {}}});
  auto store = OpenOrDie(path, *rules);
  auto s = store->UpsertActivities(std::vector{run}, Now(2));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->unchanged, 1);
  EXPECT_EQ(store->DailyForYear(1, 2024, "").value(), core::SummarizeDays(std::vector{run}, *rules));
}

TEST(SqliteStoreTest, CheckpointKeysBelongToTheirAthlete) {
  const std::string path = NewPath();
  auto store = OpenOrDie(path);
  ASSERT_TRUE(store->SaveCheckpoint("backfill:12:2023-2025", "x").has_value());
  ASSERT_TRUE(store->SaveCheckpoint("backfill:123", "x").has_value());
  ASSERT_TRUE(store->SaveCheckpoint("global", "x").has_value());
  ASSERT_TRUE(store->SaveCheckpoint("odd:12x:1", "x").has_value());
  EXPECT_EQ(
      RawDb(path).Column("SELECT key || '=' || COALESCE(athlete_id, 'NULL') FROM checkpoints ORDER BY key"),
      (std::vector<std::string>{"backfill:123=123", "backfill:12:2023-2025=12", "global=NULL", "odd:12x:1=NULL"}));
}

}  // namespace
}  // namespace dl::adapters::sqlite
