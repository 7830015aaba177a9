#include "adapters/sqlite/sqlite_store.h"

#include <algorithm>
#include <utility>

#include "adapters/sqlite/activity_ops.h"
#include "adapters/sqlite/connection.h"
#include "adapters/sqlite/pipeline_ops.h"
#include "adapters/sqlite/raw_codec.h"
#include "adapters/sqlite/schema.h"

namespace dl::adapters::sqlite {
namespace {

// The pending token (ports::TokenStore::SavePendingToken) is the row of
// athlete_id 0, which no athlete has (CheckAthlete): the secrets stay in the
// one owner-only table, with no schema change. Per-athlete reads skip it.
constexpr int64_t kPendingTokenId = 0;
constexpr const char* kSelectToken =
    "SELECT athlete_id, access_token, refresh_token, expires_at, scope FROM tokens WHERE athlete_id = ?1";
constexpr const char* kSelectTwoTokens =
    "SELECT athlete_id, access_token, refresh_token, expires_at, scope FROM tokens WHERE athlete_id > 0 "
    "ORDER BY athlete_id LIMIT 2";
constexpr const char* kSaveToken =
    "INSERT INTO tokens (athlete_id, access_token, refresh_token, expires_at, scope, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, CAST(strftime('%s', 'now') AS INTEGER)) "
    "ON CONFLICT (athlete_id) DO UPDATE SET access_token = excluded.access_token, "
    "refresh_token = excluded.refresh_token, expires_at = excluded.expires_at, scope = excluded.scope, "
    "updated_at = excluded.updated_at";
constexpr const char* kReplaceToken =
    "UPDATE tokens SET access_token = ?2, refresh_token = ?3, expires_at = ?4, scope = ?5, "
    "updated_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE athlete_id = ?1";
constexpr const char* kDeleteToken = "DELETE FROM tokens WHERE athlete_id = ?1 AND athlete_id > 0";
constexpr const char* kDeletePendingToken = "DELETE FROM tokens WHERE athlete_id = 0";
constexpr const char* kTokenAthletes = "SELECT athlete_id FROM tokens WHERE athlete_id > 0 ORDER BY athlete_id";
constexpr const char* kSelectBudget =
    "SELECT window_start_epoch_s, day_start_epoch_s, limit_15min, limit_daily, read_limit_15min, "
    "read_limit_daily, used_15min, used_daily, read_used_15min, read_used_daily FROM rate_budget WHERE id = 1";
constexpr const char* kSaveBudget =
    "INSERT OR REPLACE INTO rate_budget (id, window_start_epoch_s, day_start_epoch_s, limit_15min, limit_daily, "
    "read_limit_15min, read_limit_daily, used_15min, used_daily, read_used_15min, read_used_daily) "
    "VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
constexpr const char* kLoadCheckpoint = "SELECT value FROM checkpoints WHERE key = ?1";
constexpr const char* kDeleteCheckpoint = "DELETE FROM checkpoints WHERE key = ?1";
constexpr const char* kBumpCounter =
    "INSERT INTO counters (name, value) VALUES (?1, 1) "
    "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value";
constexpr const char* kSelectGoalSet = "SELECT 1 FROM goal_sets WHERE athlete_id = ?1 AND year = ?2 AND category = ?3";
constexpr const char* kSelectGoals =
    "SELECT value, unit, label FROM goals WHERE athlete_id = ?1 AND year = ?2 AND category = ?3 "
    "ORDER BY position";
constexpr const char* kDeleteGoalSet = "DELETE FROM goal_sets WHERE athlete_id = ?1 AND year = ?2 AND category = ?3";
constexpr const char* kInsertGoalSet =
    "INSERT INTO goal_sets (athlete_id, year, category, updated_at) "
    "VALUES (?1, ?2, ?3, CAST(strftime('%s', 'now') AS INTEGER))";
constexpr const char* kInsertGoal =
    "INSERT INTO goals (athlete_id, year, category, position, value, unit, label) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* kUnseen =
    "SELECT id FROM activities WHERE athlete_id = ?1 AND local_date BETWEEN ?2 AND ?3 "
    "AND (seen_by_run IS NULL OR seen_by_run != ?4) ORDER BY id";
constexpr const char* kYearsWithData =
    "SELECT DISTINCT CAST(substr(local_date, 1, 4) AS INTEGER), category FROM daily_totals "
    "WHERE athlete_id = ?1 ORDER BY 1, 2";
// The change count of the statement on `activities` is the result.
constexpr const char* kDeleteAthleteActivities = "DELETE FROM activities WHERE athlete_id = ?1";
constexpr const char* kHasToken = "SELECT 1 FROM tokens WHERE athlete_id = ?1";
constexpr const char* kDeleteAthlete[] = {
    "DELETE FROM activity_raw WHERE row_id IN (SELECT row_id FROM activities WHERE athlete_id = ?1)",
    kDeleteAthleteActivities,
    "DELETE FROM deleted_activities WHERE athlete_id = ?1",
    "DELETE FROM activity_tombstones WHERE athlete_id = ?1",
    "DELETE FROM daily_totals WHERE athlete_id = ?1",
    "DELETE FROM goal_sets WHERE athlete_id = ?1",
    "DELETE FROM tokens WHERE athlete_id = ?1",
    "DELETE FROM checkpoints WHERE athlete_id = ?1",
};

// WAL frames (16 KiB pages) after which the background checkpointer is
// poked (4 MiB), and after which the committing connection checkpoints
// itself (64 MiB; SQLite's default is 1,000 frames in the commit).
constexpr int kBackgroundCheckpointFrames = 256;
constexpr int kForegroundCheckpointFrames = 4000;

Status CheckAthlete(int64_t athlete_id) {
  if (athlete_id <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "athlete id must be positive, got " + std::to_string(athlete_id));
  }
  return Ok();
}

Status CheckActivities(std::span<const core::Activity> activities) {
  for (const auto& a : activities) {
    if (a.id <= 0 || a.athlete_id <= 0) {
      return Fail(ErrorCode::kInvalidArgument, "activity " + std::to_string(a.id) + " of athlete " +
                                                   std::to_string(a.athlete_id) + ": ids must be positive");
    }
  }
  return Ok();
}

ports::StoredToken ReadToken(const Query& q) {
  return ports::StoredToken{q.Int64(0), q.Text(1), q.Text(2), q.Int64(3), q.Text(4)};
}

// Upserts (kSaveToken) or replaces (kReplaceToken) `token` as the row of
// `row_id` (an athlete, or kPendingTokenId), inside the caller's transaction.
Status WriteToken(Connection& c, int64_t row_id, const ports::StoredToken& token, const char* sql = kSaveToken) {
  auto q = c.Prepare(sql);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, row_id);
  q->Bind(2, token.access_token);
  q->Bind(3, token.refresh_token);
  q->Bind(4, token.expires_at_epoch_s);
  q->Bind(5, token.scope);
  return q->Run();
}

core::RateBudgetState ReadBudget(const Query& q) {
  core::RateBudgetState s;
  int64_t* fields[] = {&s.window_start_epoch_s, &s.day_start_epoch_s, &s.limit_15min, &s.limit_daily,
                       &s.read_limit_15min,     &s.read_limit_daily,  &s.used_15min,  &s.used_daily,
                       &s.read_used_15min,      &s.read_used_daily};
  int column = 0;
  for (int64_t* f : fields) *f = q.Int64(column++);
  return s;
}

void BindBudget(Query& q, const core::RateBudgetState& s) {
  const int64_t fields[] = {s.window_start_epoch_s, s.day_start_epoch_s, s.limit_15min, s.limit_daily,
                            s.read_limit_15min,     s.read_limit_daily,  s.used_15min,  s.used_daily,
                            s.read_used_15min,      s.read_used_daily};
  int index = 1;
  for (int64_t f : fields) q.Bind(index++, f);
}

Result<int64_t> BumpCounter(Connection& c, const char* name) {
  auto q = c.Prepare(kBumpCounter);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, name);
  auto row = q->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return Fail(ErrorCode::kInternal, "sqlite: counter update returned no row");
  return q->Int64(0);
}

}  // namespace

SqliteStore::SqliteStore(core::SportCategories categories, std::unique_ptr<Connection> connection,
                         std::unique_ptr<RawJsonCodec> codec, bool compact_raw_json, int zstd_level,
                         int64_t dedup_retention_s)
    : categories_(std::move(categories)),
      connection_(std::move(connection)),
      codec_(std::move(codec)),
      compact_raw_json_(compact_raw_json),
      zstd_level_(zstd_level),
      dedup_retention_s_(dedup_retention_s) {}

namespace {

Status CheckTokenStored(Connection& c, int64_t athlete_id, const char* consequence) {
  auto q = c.Prepare(kHasToken);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, athlete_id);
  auto row = q->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::unexpected(ports::NoStoredToken(athlete_id, consequence));
  return Ok();
}

// UpsertOptions::require_token, for the athletes of the activities and of the
// checkpoint: under the write lock, so a deauthorization (DeleteAthleteData,
// another connection) either committed before and is seen here, or waits for
// this transaction and deletes what it writes.
Status CheckTokensStored(Connection& c, std::span<const core::Activity> activities, const ports::UpsertOptions& options) {
  int64_t checked = 0;
  for (const auto& a : activities) {
    if (a.athlete_id == checked) continue;  // a batch is usually one athlete's page
    DL_SQLITE_TRY(CheckTokenStored(c, a.athlete_id, "their activities were not written"));
    checked = a.athlete_id;
  }
  if (!options.checkpoint) return Ok();
  const auto owner = ports::CheckpointAthlete(options.checkpoint->first);
  if (owner && *owner != checked) DL_SQLITE_TRY(CheckTokenStored(c, *owner, "their checkpoint was not saved"));
  return Ok();
}

}  // namespace

Status SqliteStore::InTransaction(bool full, const std::function<Status()>& work) {
  std::lock_guard lock(mu_);
  auto txn = connection_->Begin(full ? Durability::kFull : Durability::kNormal);
  if (!txn) return std::unexpected(txn.error());
  DL_SQLITE_TRY(work());
  return txn->Commit();
}

SqliteStore::~SqliteStore() {
  if (checkpointer_) {
    std::lock_guard lock(mu_);
    connection_->UseCheckpointer(nullptr, 0, 0);
  }
}

int SqliteStore::LatestSchemaVersion() { return LatestVersion(); }

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                       const core::SportCategories& categories) {
  return Open(path, categories, SqliteOptions{});
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path, const core::SportCategories& categories,
                                                       const SqliteOptions& options) {
  ConnectionOptions connection_options;
  connection_options.busy_timeout_ms = options.busy_timeout_ms;
  connection_options.cache_size_kib = options.cache_size_kib;
  auto connection = Connection::Open(path, connection_options);
  if (!connection) return std::unexpected(connection.error());
  auto codec = std::make_unique<RawJsonCodec>(options.compact_raw_json, options.zstd_level);
  std::unique_ptr<SqliteStore> store(
      new SqliteStore(categories, std::move(*connection), std::move(codec), options.compact_raw_json,
                      options.zstd_level, options.dedup_retention_s));
  DL_SQLITE_TRY(store->Migrate());
  if (options.background_checkpoint && path != ":memory:" && !path.starts_with("file:")) {
    auto checkpointer = BackgroundCheckpointer::Start(path, connection_options);
    if (!checkpointer) return std::unexpected(checkpointer.error());
    store->checkpointer_ = std::move(*checkpointer);
    store->connection_->UseCheckpointer(store->checkpointer_.get(), kBackgroundCheckpointFrames,
                                        kForegroundCheckpointFrames);
  }
  return store;
}

Status SqliteStore::Migrate() {
  std::lock_guard lock(mu_);
  return ApplyMigrations(*connection_);
}

Result<int> SqliteStore::SchemaVersion() {
  std::lock_guard lock(mu_);
  return CurrentVersion(*connection_);
}

Status SqliteStore::CheckWritable() {
  std::lock_guard lock(mu_);
  auto txn = connection_->Begin(Durability::kNormal);
  if (!txn) return std::unexpected(txn.error());
  DL_SQLITE_TRY(BumpCounter(*connection_, "write_probe"));
  return txn->Commit();
}

// ---- ActivityStore ----

std::unique_ptr<ports::PreparedUpsert> SqliteStore::PrepareUpsert(std::span<const core::Activity> activities) const {
  // One codec per preparing thread (zstd contexts are not thread-safe), made
  // again only if this thread prepares for a store with other settings.
  thread_local std::unique_ptr<RawJsonCodec> codec;
  thread_local std::pair<bool, int> settings;
  if (!codec || settings != std::pair(compact_raw_json_, zstd_level_)) {
    settings = {compact_raw_json_, zstd_level_};
    codec = std::make_unique<RawJsonCodec>(compact_raw_json_, zstd_level_);
  }
  return PrepareRows(*codec, categories_, activities);
}

Result<ports::UpsertSummary> SqliteStore::UpsertActivities(std::span<const core::Activity> activities,
                                                           const ports::UpsertOptions& options) {
  DL_SQLITE_TRY(CheckActivities(activities));
  std::lock_guard lock(mu_);
  // A webhook effect that completes queue events may be lost by a power
  // failure only together with its acks: the event (committed FULL at intake)
  // is then delivered again. Without acks, a webhook change is made durable.
  const bool full = options.from_webhook && options.ack_events.empty();
  auto txn = connection_->Begin(full ? Durability::kFull : Durability::kNormal);
  if (!txn) return std::unexpected(txn.error());
  if (options.require_token) DL_SQLITE_TRY(CheckTokensStored(*connection_, activities, options));
  TouchedDays touched;
  auto summary = UpsertBatch(*connection_, *codec_, categories_, activities, options, touched);
  if (!summary) return summary;
  // Deferred: the years are recorded as stale in this transaction, so the
  // checkpoint below can never be committed without them.
  DL_SQLITE_TRY(options.defer_daily ? DeferDays(*connection_, touched)
                                    : RecomputeDays(*connection_, categories_, touched));
  if (options.checkpoint)
    DL_SQLITE_TRY(WriteCheckpoint(*connection_, options.checkpoint->first, options.checkpoint->second));
  DL_SQLITE_TRY(AckEvents(*connection_, options.ack_events));
  DL_SQLITE_TRY(txn->Commit());
  return summary;
}

Result<std::optional<core::Activity>> SqliteStore::GetActivity(int64_t athlete_id, int64_t id) {
  std::lock_guard lock(mu_);
  return ReadActivity(*connection_, *codec_, athlete_id, id);
}

Result<std::vector<core::Activity>> SqliteStore::ActivitiesInLocalYear(int64_t athlete_id, int year) {
  std::lock_guard lock(mu_);
  return ReadActivities(*connection_, *codec_, athlete_id, FirstDay(year), LastDay(year));
}

Result<std::vector<int64_t>> SqliteStore::UnseenInLocalYear(int64_t athlete_id, int year, int64_t run_id) {
  std::lock_guard lock(mu_);
  auto q = connection_->Prepare(kUnseen);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, athlete_id);
  q->Bind(2, FirstDay(year));
  q->Bind(3, LastDay(year));
  q->Bind(4, run_id);
  std::vector<int64_t> ids;
  DL_SQLITE_TRY(q->ForEachRow([&] {
    ids.push_back(q->Int64(0));
  }));
  return ids;
}

Result<int64_t> SqliteStore::ArchiveActivities(const ports::ArchiveRequest& request) {
  DL_SQLITE_TRY(CheckAthlete(request.athlete_id));
  std::lock_guard lock(mu_);
  auto txn = connection_->Begin(request.ack_events.empty() ? Durability::kFull : Durability::kNormal);
  if (!txn) return std::unexpected(txn.error());
  TouchedDays touched;
  auto archived = ArchiveBatch(*connection_, request, touched);
  if (!archived) return archived;
  DL_SQLITE_TRY(RecomputeDays(*connection_, categories_, touched));
  DL_SQLITE_TRY(AckEvents(*connection_, request.ack_events));
  DL_SQLITE_TRY(txn->Commit());
  return archived;
}

Result<int64_t> SqliteStore::DeleteAthleteData(int64_t athlete_id) {
  DL_SQLITE_TRY(CheckAthlete(athlete_id));
  std::lock_guard lock(mu_);
  auto txn = connection_->Begin(Durability::kFull);
  if (!txn) return std::unexpected(txn.error());
  // The files of every year that had totals must be rewritten (empty); a
  // stale year (deferred totals) is rebuilt first so that it is one of them.
  auto stale = StaleYears(*connection_, athlete_id);
  if (!stale) return std::unexpected(stale.error());
  for (int year : *stale) DL_SQLITE_TRY(RebuildYearRows(*connection_, categories_, athlete_id, year));
  DL_SQLITE_TRY(MarkAthleteYearsDirty(*connection_, athlete_id));
  DL_SQLITE_TRY(DeleteAthleteEvents(*connection_, athlete_id));
  int64_t activities = 0;
  for (const char* sql : kDeleteAthlete) {
    auto q = connection_->Prepare(sql);
    if (!q) return std::unexpected(q.error());
    q->Bind(1, athlete_id);
    DL_SQLITE_TRY(q->Run());
    if (sql == kDeleteAthleteActivities) activities = connection_->Changes();
  }
  DL_SQLITE_TRY(txn->Commit());
  return activities;
}

// ---- AggregateStore ----

Status SqliteStore::RebuildStaleYears(int64_t athlete_id, std::optional<int> only_year) {
  auto wanted = [&](int year) { return !only_year || *only_year == year; };
  auto stale = StaleYears(*connection_, athlete_id);
  if (!stale) return std::unexpected(stale.error());
  if (std::ranges::none_of(*stale, wanted)) return Ok();
  auto txn = connection_->Begin(Durability::kNormal);
  if (!txn) return std::unexpected(txn.error());
  // Again under the write lock: another connection may have rebuilt them.
  stale = StaleYears(*connection_, athlete_id);
  if (!stale) return std::unexpected(stale.error());
  for (int year : *stale) {
    if (wanted(year)) DL_SQLITE_TRY(RebuildYearRows(*connection_, categories_, athlete_id, year));
  }
  return txn->Commit();
}

Result<std::vector<core::DailyTotals>> SqliteStore::DailyForYear(int64_t athlete_id, int year,
                                                                 const std::string& category) {
  std::lock_guard lock(mu_);
  DL_SQLITE_TRY(RebuildStaleYears(athlete_id, year));
  return ReadDaily(*connection_, athlete_id, year, category);
}

Result<std::vector<std::pair<int, std::string>>> SqliteStore::YearsWithData(int64_t athlete_id) {
  std::lock_guard lock(mu_);
  DL_SQLITE_TRY(RebuildStaleYears(athlete_id, std::nullopt));
  auto q = connection_->Prepare(kYearsWithData);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, athlete_id);
  std::vector<std::pair<int, std::string>> out;
  DL_SQLITE_TRY(q->ForEachRow([&] {
    out.emplace_back(static_cast<int>(q->Int64(0)), q->Text(1));
  }));
  return out;
}

Status SqliteStore::RebuildYear(int64_t athlete_id, int year) {
  std::lock_guard lock(mu_);
  auto txn = connection_->Begin(Durability::kNormal);
  if (!txn) return std::unexpected(txn.error());
  DL_SQLITE_TRY(RebuildYearRows(*connection_, categories_, athlete_id, year));
  return txn->Commit();
}

// ---- TokenStore ----

Result<std::optional<ports::StoredToken>> SqliteStore::LoadToken(int64_t athlete_id) {
  if (athlete_id < 0) return Fail(ErrorCode::kInvalidArgument, "athlete id must not be negative");
  std::lock_guard lock(mu_);
  auto q = connection_->Prepare(athlete_id == 0 ? kSelectTwoTokens : kSelectToken);
  if (!q) return std::unexpected(q.error());
  if (athlete_id != 0) q->Bind(1, athlete_id);
  auto row = q->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  ports::StoredToken token = ReadToken(*q);
  if (athlete_id == 0) {
    auto second = q->Step();
    if (!second) return std::unexpected(second.error());
    if (*second) {
      return Fail(ErrorCode::kInvalidArgument,
                  "tokens are stored for several athletes; say which athlete to use (athlete id 0 means the only one)");
    }
  }
  return std::optional(std::move(token));
}

Status SqliteStore::SaveToken(const ports::StoredToken& token) {
  DL_SQLITE_TRY(CheckAthlete(token.athlete_id));
  std::lock_guard lock(mu_);
  auto txn = connection_->Begin(Durability::kFull);
  if (!txn) return std::unexpected(txn.error());
  DL_SQLITE_TRY(WriteToken(*connection_, token.athlete_id, token));
  return txn->Commit();
}

Status SqliteStore::SavePendingToken(const ports::StoredToken& token) {
  std::lock_guard lock(mu_);
  auto txn = connection_->Begin(Durability::kFull);
  if (!txn) return std::unexpected(txn.error());
  DL_SQLITE_TRY(WriteToken(*connection_, kPendingTokenId, token));
  return txn->Commit();
}

Result<std::optional<ports::StoredToken>> SqliteStore::LoadPendingToken() {
  std::lock_guard lock(mu_);
  auto q = connection_->Prepare(kSelectToken);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, kPendingTokenId);
  auto row = q->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  return std::optional(ReadToken(*q));
}

Status SqliteStore::ClaimPendingToken(const ports::StoredToken& token) {
  DL_SQLITE_TRY(CheckAthlete(token.athlete_id));
  std::lock_guard lock(mu_);
  auto txn = connection_->Begin(Durability::kFull);
  if (!txn) return std::unexpected(txn.error());
  DL_SQLITE_TRY(WriteToken(*connection_, token.athlete_id, token));
  auto q = connection_->Prepare(kDeletePendingToken);
  if (!q) return std::unexpected(q.error());
  DL_SQLITE_TRY(q->Run());
  return txn->Commit();
}

Status SqliteStore::ReplaceToken(const ports::StoredToken& token) {
  DL_SQLITE_TRY(CheckAthlete(token.athlete_id));
  std::lock_guard lock(mu_);
  auto txn = connection_->Begin(Durability::kFull);
  if (!txn) return std::unexpected(txn.error());
  DL_SQLITE_TRY(WriteToken(*connection_, token.athlete_id, token, kReplaceToken));
  if (connection_->Changes() == 0) {
    return std::unexpected(ports::NoStoredToken(token.athlete_id, "the refreshed token was not saved"));
  }
  return txn->Commit();
}

Status SqliteStore::DeleteToken(int64_t athlete_id) {
  std::lock_guard lock(mu_);
  auto txn = connection_->Begin(Durability::kFull);
  if (!txn) return std::unexpected(txn.error());
  auto q = connection_->Prepare(kDeleteToken);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, athlete_id);
  DL_SQLITE_TRY(q->Run());
  return txn->Commit();
}

Result<std::vector<int64_t>> SqliteStore::AthletesWithTokens() {
  std::lock_guard lock(mu_);
  auto q = connection_->Prepare(kTokenAthletes);
  if (!q) return std::unexpected(q.error());
  std::vector<int64_t> ids;
  DL_SQLITE_TRY(q->ForEachRow([&] {
    ids.push_back(q->Int64(0));
  }));
  return ids;
}

// ---- RateBudgetStore ----

Result<core::RateBudgetState> SqliteStore::UpdateRateBudget(const std::function<void(core::RateBudgetState&)>& change) {
  std::lock_guard lock(mu_);
  // IMMEDIATE: the read and the write happen under the one write lock, so
  // no other process can slip an update in between.
  auto txn = connection_->Begin(Durability::kNormal);
  if (!txn) return std::unexpected(txn.error());
  core::RateBudgetState state;
  {
    auto q = connection_->Prepare(kSelectBudget);
    if (!q) return std::unexpected(q.error());
    auto row = q->Step();
    if (!row) return std::unexpected(row.error());
    if (*row) state = ReadBudget(*q);
  }
  change(state);
  auto save = connection_->Prepare(kSaveBudget);
  if (!save) return std::unexpected(save.error());
  BindBudget(*save, state);
  DL_SQLITE_TRY(save->Run());
  DL_SQLITE_TRY(txn->Commit());
  return state;
}

// ---- CheckpointStore ----

Result<std::optional<std::string>> SqliteStore::LoadCheckpoint(const std::string& key) {
  std::lock_guard lock(mu_);
  auto q = connection_->Prepare(kLoadCheckpoint);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, key);
  auto row = q->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  return std::optional(q->Text(0));
}

Status SqliteStore::SaveCheckpoint(const std::string& key, const std::string& value) {
  std::lock_guard lock(mu_);
  auto txn = connection_->Begin(Durability::kNormal);
  if (!txn) return std::unexpected(txn.error());
  DL_SQLITE_TRY(WriteCheckpoint(*connection_, key, value));
  return txn->Commit();
}

Status SqliteStore::DeleteCheckpoint(const std::string& key) {
  std::lock_guard lock(mu_);
  auto txn = connection_->Begin(Durability::kNormal);
  if (!txn) return std::unexpected(txn.error());
  auto q = connection_->Prepare(kDeleteCheckpoint);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, key);
  DL_SQLITE_TRY(q->Run());
  return txn->Commit();
}

Result<int64_t> SqliteStore::NextRunId() {
  std::lock_guard lock(mu_);
  // FULL: a run id handed out must never be handed out again, even after a
  // power loss (rows already carry it as seen_by_run).
  auto txn = connection_->Begin(Durability::kFull);
  if (!txn) return std::unexpected(txn.error());
  auto id = BumpCounter(*connection_, "run_id");
  if (!id) return id;
  DL_SQLITE_TRY(txn->Commit());
  return id;
}

// ---- GoalStore ----

Result<std::optional<std::vector<ports::Goal>>> SqliteStore::LoadGoals(int64_t athlete_id, int year,
                                                                       const std::string& category) {
  std::lock_guard lock(mu_);
  {
    auto q = connection_->Prepare(kSelectGoalSet);
    if (!q) return std::unexpected(q.error());
    q->Bind(1, athlete_id);
    q->Bind(2, year);
    q->Bind(3, category);
    auto row = q->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return std::nullopt;
  }
  auto q = connection_->Prepare(kSelectGoals);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, athlete_id);
  q->Bind(2, year);
  q->Bind(3, category);
  std::vector<ports::Goal> goals;
  DL_SQLITE_TRY(q->ForEachRow([&] {
    goals.push_back(ports::Goal{q->Double(0), q->Text(1), q->Text(2)});
  }));
  return std::optional(std::move(goals));
}

Status SqliteStore::SaveGoals(int64_t athlete_id, int year, const std::string& category,
                              const std::vector<ports::Goal>& goals) {
  std::lock_guard lock(mu_);
  auto txn = connection_->Begin(Durability::kFull);
  if (!txn) return std::unexpected(txn.error());
  for (const char* sql : {kDeleteGoalSet, kInsertGoalSet}) {  // goals follow the set by cascade
    auto q = connection_->Prepare(sql);
    if (!q) return std::unexpected(q.error());
    q->Bind(1, athlete_id);
    q->Bind(2, year);
    q->Bind(3, category);
    DL_SQLITE_TRY(q->Run());
  }
  int64_t position = 0;
  for (const auto& g : goals) {
    auto q = connection_->Prepare(kInsertGoal);
    if (!q) return std::unexpected(q.error());
    q->Bind(1, athlete_id);
    q->Bind(2, year);
    q->Bind(3, category);
    q->Bind(4, position++);
    q->Bind(5, g.value);
    q->Bind(6, g.unit);
    q->Bind(7, g.label);
    DL_SQLITE_TRY(q->Run());
  }
  return txn->Commit();
}

// ---- EventQueue ----

// The generation check reads a counter; once a minute of store time is
// enough (keys then live up to a minute longer). A clock that went
// backwards checks at once. If the commit fails, the next check waits its
// minute: keys are then kept a little longer, never shorter.
bool SqliteStore::DedupRotationCheckDue(int64_t now_epoch_s) {
  const int64_t every_s = std::min(kDedupCheckEvery_s, dedup_retention_s_);
  if (last_dedup_check_epoch_s_ && now_epoch_s >= *last_dedup_check_epoch_s_ &&
      now_epoch_s - *last_dedup_check_epoch_s_ < every_s) {
    return false;
  }
  last_dedup_check_epoch_s_ = now_epoch_s;
  return true;
}

Result<std::vector<ports::EnqueueOutcome>> SqliteStore::EnqueueBatch(std::span<const core::WebhookEvent> events,
                                                                     int64_t now_epoch_s) {
  std::vector<ports::EnqueueOutcome> out;
  DL_SQLITE_TRY(InTransaction(true, [&]() -> Status {
    if (DedupRotationCheckDue(now_epoch_s)) {
      if (auto s = RotateDedupKeysIfDue(*connection_, now_epoch_s, dedup_retention_s_); !s) return s;
    }
    auto queued = EnqueueEvents(*connection_, events, now_epoch_s);
    if (!queued) return std::unexpected(queued.error());
    out = std::move(*queued);
    return Ok();
  }));
  return out;
}

Result<std::vector<ports::QueuedEvent>> SqliteStore::Claim(int max, int64_t now_epoch_s, int64_t lease_s) {
  std::vector<ports::QueuedEvent> out;
  DL_SQLITE_TRY(InTransaction(false, [&]() -> Status {
    auto claimed = ClaimEvents(*connection_, max, now_epoch_s, lease_s);
    if (!claimed) return std::unexpected(claimed.error());
    out = std::move(*claimed);
    return Ok();
  }));
  return out;
}

Status SqliteStore::Ack(std::span<const int64_t> seqs) {
  if (seqs.empty()) return Ok();
  return InTransaction(false, [&] { return AckEvents(*connection_, seqs); });
}

Status SqliteStore::Retry(int64_t seq, const std::string& error, int64_t retry_at_epoch_s) {
  return InTransaction(false, [&] { return RetryEvent(*connection_, seq, error, retry_at_epoch_s); });
}

Status SqliteStore::DeadLetter(int64_t seq, const std::string& error, int64_t now_epoch_s) {
  return InTransaction(false, [&] { return DeadLetterEvent(*connection_, seq, error, now_epoch_s); });
}

Result<std::vector<ports::QueuedEvent>> SqliteStore::ListEvents(bool failed, int limit) {
  std::lock_guard lock(mu_);
  return ListQueued(*connection_, failed, limit);
}

Result<int64_t> SqliteStore::Redrive(std::optional<int64_t> seq, int64_t now_epoch_s) {
  int64_t moved = 0;
  DL_SQLITE_TRY(InTransaction(true, [&]() -> Status {
    auto n = RedriveEvents(*connection_, seq, now_epoch_s);
    if (!n) return std::unexpected(n.error());
    moved = *n;
    return Ok();
  }));
  return moved;
}

Result<int64_t> SqliteStore::PendingCount() {
  std::lock_guard lock(mu_);
  return CountPending(*connection_);
}

// ---- DedupStore ----

Result<std::vector<bool>> SqliteStore::RecordDedupKeys(std::span<const std::string> keys, int64_t now_epoch_s) {
  std::vector<bool> out;
  // FULL, as EnqueueBatch: the webhook's 200 follows this commit.
  DL_SQLITE_TRY(InTransaction(true, [&]() -> Status {
    if (DedupRotationCheckDue(now_epoch_s)) {
      if (auto s = RotateDedupKeysIfDue(*connection_, now_epoch_s, dedup_retention_s_); !s) return s;
    }
    auto fresh = sqlite::RecordDedupKeys(*connection_, keys, now_epoch_s);
    if (!fresh) return std::unexpected(fresh.error());
    out = std::move(*fresh);
    return Ok();
  }));
  return out;
}

Result<std::vector<bool>> SqliteStore::KnownDedupKeys(std::span<const std::string> keys, int64_t) {
  std::lock_guard lock(mu_);
  return sqlite::KnownDedupKeys(*connection_, keys);
}

// ---- PipelineStore ----

Result<bool> SqliteStore::PatchActivity(const ports::ActivityPatch& patch) {
  DL_SQLITE_TRY(CheckAthlete(patch.athlete_id));
  bool patched = false;
  // NORMAL: a patch lost to a power failure is applied again, because the
  // events that carry it are still queued (they complete after the refresh).
  Status done = InTransaction(false, [&]() -> Status {
    TouchedDays touched;
    auto found = PatchOne(*connection_, *codec_, categories_, patch, touched);
    if (!found) return std::unexpected(found.error());
    patched = *found;
    DL_SQLITE_TRY(RecomputeDays(*connection_, categories_, touched));
    return AckEvents(*connection_, patch.ack_events);
  });
  if (!done) return std::unexpected(done.error());
  return patched;
}

Result<std::vector<ports::DirtyYear>> SqliteStore::ClaimDirtyYears(int max, int64_t now_epoch_s, int64_t lease_s) {
  std::vector<ports::DirtyYear> out;
  DL_SQLITE_TRY(InTransaction(false, [&]() -> Status {
    auto claimed = ClaimDirty(*connection_, max, now_epoch_s, lease_s);
    if (!claimed) return std::unexpected(claimed.error());
    out = std::move(*claimed);
    return Ok();
  }));
  return out;
}

Status SqliteStore::CompleteDirtyYears(std::span<const ports::DirtyYear> years) {
  if (years.empty()) return Ok();
  return InTransaction(false, [&] { return CompleteDirty(*connection_, years); });
}

}  // namespace dl::adapters::sqlite
