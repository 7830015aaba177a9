#include "adapters/postgres/postgres_store.h"

#include <set>
#include <utility>

#include "adapters/postgres/activity_ops.h"
#include "adapters/postgres/connection.h"
#include "adapters/postgres/pipeline_ops.h"
#include "adapters/postgres/pool.h"
#include "adapters/postgres/schema.h"

namespace dl::adapters::postgres {
namespace {

// The pending token (ports::TokenStore::SavePendingToken) is the row of
// athlete_id 0, which no athlete has (CheckAthlete): the secrets stay in the
// one tokens table, with no schema change. Per-athlete reads skip it.
constexpr int64_t kPendingTokenId = 0;
constexpr const char* kSelectToken =
    "SELECT athlete_id, access_token, refresh_token, expires_at, scope FROM tokens WHERE athlete_id = $1";
constexpr const char* kSelectTwoTokens =
    "SELECT athlete_id, access_token, refresh_token, expires_at, scope FROM tokens WHERE athlete_id > 0 "
    "ORDER BY athlete_id LIMIT 2";
constexpr const char* kSaveToken =
    "INSERT INTO tokens (athlete_id, access_token, refresh_token, expires_at, scope, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, extract(epoch FROM now())::bigint) "
    "ON CONFLICT (athlete_id) DO UPDATE SET access_token = excluded.access_token, "
    "refresh_token = excluded.refresh_token, expires_at = excluded.expires_at, scope = excluded.scope, "
    "updated_at = excluded.updated_at";
constexpr const char* kReplaceToken =
    "UPDATE tokens SET access_token = $2, refresh_token = $3, expires_at = $4, scope = $5, "
    "updated_at = extract(epoch FROM now())::bigint WHERE athlete_id = $1";
constexpr const char* kDeleteToken = "DELETE FROM tokens WHERE athlete_id = $1 AND athlete_id > 0";
constexpr const char* kDeletePendingToken = "DELETE FROM tokens WHERE athlete_id = 0";
constexpr const char* kTokenAthletes = "SELECT athlete_id FROM tokens WHERE athlete_id > 0 ORDER BY athlete_id";
constexpr const char* kBudgetColumns =
    "window_start_epoch_s, day_start_epoch_s, limit_15min, limit_daily, read_limit_15min, read_limit_daily, "
    "used_15min, used_daily, read_used_15min, read_used_daily";
constexpr const char* kLoadCheckpoint = "SELECT value FROM checkpoints WHERE key = $1";
constexpr const char* kDeleteCheckpoint = "DELETE FROM checkpoints WHERE key = $1";
constexpr const char* kNextRunId = "SELECT nextval('run_ids')";
constexpr const char* kProbe =
    "INSERT INTO write_probe (id, probes) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET probes = write_probe.probes + 1";
// One statement: no row = never set; one row of NULLs = set to nothing.
constexpr const char* kSelectGoals =
    "SELECT g.value, g.unit, g.label FROM goal_sets s LEFT JOIN goals g "
    "ON g.athlete_id = s.athlete_id AND g.year = s.year AND g.category = s.category "
    "WHERE s.athlete_id = $1 AND s.year = $2 AND s.category = $3 ORDER BY g.position";
constexpr const char* kDeleteGoalSet = "DELETE FROM goal_sets WHERE athlete_id = $1 AND year = $2 AND category = $3";
constexpr const char* kInsertGoalSet =
    "INSERT INTO goal_sets (athlete_id, year, category, updated_at) "
    "VALUES ($1, $2, $3, extract(epoch FROM now())::bigint)";
constexpr const char* kInsertGoals =
    "INSERT INTO goals (athlete_id, year, category, position, value, unit, label) "
    "SELECT $1, $2, $3, (p - 1)::integer, v, u, l FROM unnest($4::double precision[], $5::text[], $6::text[]) "
    "WITH ORDINALITY AS x(v, u, l, p)";
constexpr const char* kUnseen =
    "SELECT id FROM activities WHERE athlete_id = $1 AND local_date BETWEEN $2 AND $3 "
    "AND seen_by_run IS DISTINCT FROM $4 ORDER BY id";
constexpr const char* kYearsWithData =
    "SELECT DISTINCT substr(local_date, 1, 4)::integer, category FROM daily_totals WHERE athlete_id = $1 "
    "ORDER BY 1, 2";
// The row count of the statement on `activities` is the result.
constexpr const char* kDeleteAthleteActivities = "DELETE FROM activities WHERE athlete_id = $1";
// KEY SHARE: a DELETE waits for it, a token rotation (UPDATE) does not.
constexpr const char* kHasTokenForShare = "SELECT 1 FROM tokens WHERE athlete_id = $1 FOR KEY SHARE";
constexpr const char* kDeleteAthlete[] = {
    kDeleteAthleteActivities,
    "DELETE FROM deleted_activities WHERE athlete_id = $1",
    "DELETE FROM activity_tombstones WHERE athlete_id = $1",
    "DELETE FROM daily_totals WHERE athlete_id = $1",
    "DELETE FROM goal_sets WHERE athlete_id = $1",
    "DELETE FROM tokens WHERE athlete_id = $1",
    "DELETE FROM checkpoints WHERE athlete_id = $1",
};

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

// Runs a Result-returning body in a transaction.
template <class T, class F>
Result<T> Transact(ConnectionPool& pool, Durability durability, F&& body) {
  std::optional<T> out;
  auto s = InTransaction(pool, durability, [&](Connection& c) -> Status {
    auto r = body(c);
    if (!r) return std::unexpected(r.error());
    out = std::move(*r);
    return Ok();
  });
  if (!s) return std::unexpected(s.error());
  return std::move(*out);
}

// Runs a Result-returning read on a pooled connection.
template <class T, class F>
Result<T> Read(ConnectionPool& pool, F&& body) {
  std::optional<T> out;
  auto s = WithConnection(pool, [&](Connection& c) -> Status {
    auto r = body(c);
    if (!r) return std::unexpected(r.error());
    out = std::move(*r);
    return Ok();
  });
  if (!s) return std::unexpected(s.error());
  return std::move(*out);
}

Status Discard(const Result<Rows>& r) {
  if (!r) return std::unexpected(r.error());
  return Ok();
}

// Runs kSaveToken (upsert) or kReplaceToken (update only) for `token` as the
// row of `row_id` (an athlete, or kPendingTokenId), in the caller's transaction.
Result<Rows> ExecToken(Connection& c, int64_t row_id, const ports::StoredToken& token, const char* sql) {
  return c.Exec(sql, {Param::Int8(row_id), Param::Text(token.access_token), Param::Text(token.refresh_token),
                      Param::Int8(token.expires_at_epoch_s), Param::Text(token.scope)});
}

Status WriteToken(Connection& c, int64_t row_id, const ports::StoredToken& token) {
  return Discard(ExecToken(c, row_id, token, kSaveToken));
}

core::RateBudgetState ReadBudget(const Rows& rows) {
  core::RateBudgetState s;
  int64_t* fields[] = {&s.window_start_epoch_s, &s.day_start_epoch_s, &s.limit_15min, &s.limit_daily,
                       &s.read_limit_15min,     &s.read_limit_daily,  &s.used_15min,  &s.used_daily,
                       &s.read_used_15min,      &s.read_used_daily};
  int column = 0;
  for (int64_t* f : fields) *f = rows.Int64(0, column++);
  return s;
}

std::vector<Param> BudgetParams(const core::RateBudgetState& s) {
  std::vector<Param> out;
  for (int64_t v : {s.window_start_epoch_s, s.day_start_epoch_s, s.limit_15min, s.limit_daily, s.read_limit_15min,
                    s.read_limit_daily, s.used_15min, s.used_daily, s.read_used_15min, s.read_used_daily}) {
    out.push_back(Param::Int8(v));
  }
  return out;
}

const std::string& SelectBudgetForUpdate() {
  static const std::string sql = std::string("SELECT ") + kBudgetColumns + " FROM rate_budget WHERE id = 1 FOR UPDATE";
  return sql;
}

// Creates the row with the defaults when absent (a concurrent creator wins
// harmlessly), so that FOR UPDATE always has a row to lock.
const std::string& InsertDefaultBudget() {
  static const std::string sql = std::string("INSERT INTO rate_budget (id, ") + kBudgetColumns +
                                 ") VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING";
  return sql;
}

const std::string& UpdateBudget() {
  static const std::string sql =
      "UPDATE rate_budget SET window_start_epoch_s = $1, day_start_epoch_s = $2, limit_15min = $3, "
      "limit_daily = $4, read_limit_15min = $5, read_limit_daily = $6, used_15min = $7, used_daily = $8, "
      "read_used_15min = $9, read_used_daily = $10 WHERE id = 1";
  return sql;
}

}  // namespace

std::string RedactedUrl(const std::string& url) { return RedactUrl(url); }

PostgresStore::PostgresStore(core::SportCategories categories, std::unique_ptr<ConnectionPool> pool,
                             int64_t dedup_retention_s)
    : categories_(std::move(categories)), dedup_retention_s_(dedup_retention_s), pool_(std::move(pool)) {}

PostgresStore::~PostgresStore() = default;

int PostgresStore::LatestSchemaVersion() { return LatestVersion(); }

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& url,
                                                           const core::SportCategories& categories,
                                                           const OpenOptions& options) {
  auto target = ParseTarget(url);
  if (!target) return std::unexpected(target.error());
  auto pool = std::make_unique<ConnectionPool>(std::move(*target), options.max_connections, options.connect_timeout_s);
  std::unique_ptr<PostgresStore> store(new PostgresStore(categories, std::move(pool), options.dedup_retention_s));
  if (options.migrate) {
    if (auto s = store->Migrate(); !s) return std::unexpected(s.error());
  }
  if (auto s = store->CheckSchema(); !s) return std::unexpected(s.error());
  return store;
}

Status PostgresStore::CheckSchema() {
  auto version = SchemaVersion();
  if (!version) return std::unexpected(version.error());
  const int needed = LatestVersion();
  if (*version < needed) {
    return Fail(ErrorCode::kIo, Describe(pool_->target(), "database schema is at version " + std::to_string(*version) +
                                                              ", this program needs " + std::to_string(needed) +
                                                              ": run `desirelines migrate`"));
  }
  if (*version > needed) {
    return Fail(ErrorCode::kIo, Describe(pool_->target(), "database schema is at version " + std::to_string(*version) +
                                                              ", newer than this program supports (" +
                                                              std::to_string(needed) + "): use a newer desirelines"));
  }
  return Ok();
}

Status PostgresStore::Migrate() { return ApplyMigrations(*pool_); }

Result<int> PostgresStore::SchemaVersion() {
  return Read<int>(*pool_, [](Connection& c) { return CurrentVersion(c); });
}

Status PostgresStore::CheckWritable() {
  return InTransaction(*pool_, Durability::kRelaxed, [](Connection& c) { return Discard(c.Exec(kProbe)); });
}

// ---- ActivityStore ----

Result<ports::UpsertSummary> PostgresStore::UpsertActivities(std::span<const core::Activity> activities,
                                                             const ports::UpsertOptions& options) {
  if (auto s = CheckActivities(activities); !s) return std::unexpected(s.error());
  std::set<int64_t> athletes;
  for (const auto& a : activities) athletes.insert(a.athlete_id);
  // The checkpoint's athlete too: locked like the others (DeleteAthleteData
  // deletes checkpoints under the exclusive lock) and, with require_token,
  // checked like them.
  if (options.checkpoint)
    if (auto owner = ports::CheckpointAthlete(options.checkpoint->first)) athletes.insert(*owner);
  const Durability durability = options.from_webhook ? Durability::kFull : Durability::kRelaxed;
  return Transact<ports::UpsertSummary>(*pool_, durability, [&](Connection& c) -> Result<ports::UpsertSummary> {
    if (auto s = LockAthletesShared(c, athletes); !s) return std::unexpected(s.error());
    if (options.require_token) {
      // After the athlete lock, which DeleteAthleteData holds exclusively;
      // FOR KEY SHARE makes a token-only delete (on_deauthorize = keep) wait too.
      for (int64_t athlete : athletes) {
        auto token = c.Exec(kHasTokenForShare, {Param::Int8(athlete)});
        if (!token) return std::unexpected(token.error());
        if (token->empty()) return std::unexpected(ports::NoStoredToken(athlete, "nothing of theirs was written"));
      }
    }
    TouchedDays touched;
    auto summary = UpsertBatch(c, categories_, activities, options, touched);
    if (!summary) return summary;
    if (auto s = RecomputeDays(c, categories_, touched); !s) return std::unexpected(s.error());
    if (options.checkpoint) {
      if (auto s = WriteCheckpoint(c, options.checkpoint->first, options.checkpoint->second); !s)
        return std::unexpected(s.error());
    }
    if (auto s = AckEvents(c, options.ack_events); !s) return std::unexpected(s.error());
    return summary;
  });
}

Result<std::optional<core::Activity>> PostgresStore::GetActivity(int64_t athlete_id, int64_t id) {
  return Read<std::optional<core::Activity>>(*pool_, [&](Connection& c) { return ReadActivity(c, athlete_id, id); });
}

Result<std::vector<core::Activity>> PostgresStore::ActivitiesInLocalYear(int64_t athlete_id, int year) {
  return Read<std::vector<core::Activity>>(*pool_, [&](Connection& c) { return ReadActivities(c, athlete_id, year); });
}

Result<std::vector<int64_t>> PostgresStore::UnseenInLocalYear(int64_t athlete_id, int year, int64_t run_id) {
  return Read<std::vector<int64_t>>(*pool_, [&](Connection& c) -> Result<std::vector<int64_t>> {
    auto rows = c.Exec(kUnseen, {Param::Int8(athlete_id), Param::Text(FirstDay(year)), Param::Text(LastDay(year)),
                                 Param::Int8(run_id)});
    if (!rows) return std::unexpected(rows.error());
    std::vector<int64_t> ids;
    for (int r = 0; r < rows->size(); ++r) ids.push_back(rows->Int64(r, 0));
    return ids;
  });
}

Result<int64_t> PostgresStore::ArchiveActivities(const ports::ArchiveRequest& request) {
  if (auto s = CheckAthlete(request.athlete_id); !s) return std::unexpected(s.error());
  return Transact<int64_t>(*pool_, Durability::kFull, [&](Connection& c) -> Result<int64_t> {
    // Exclusive: an id not stored has no row to lock, and its tombstone must
    // not race an upsert that inserts it (that upsert holds the lock shared,
    // and reads the tombstones after taking it).
    if (auto s = LockAthleteExclusive(c, request.athlete_id); !s) return std::unexpected(s.error());
    TouchedDays touched;
    auto archived = ArchiveBatch(c, request, touched);
    if (!archived) return archived;
    if (auto s = RecomputeDays(c, categories_, touched); !s) return std::unexpected(s.error());
    if (auto s = AckEvents(c, request.ack_events); !s) return std::unexpected(s.error());
    return archived;
  });
}

Result<int64_t> PostgresStore::DeleteAthleteData(int64_t athlete_id) {
  if (auto s = CheckAthlete(athlete_id); !s) return std::unexpected(s.error());
  return Transact<int64_t>(*pool_, Durability::kFull, [&](Connection& c) -> Result<int64_t> {
    if (auto s = LockAthleteExclusive(c, athlete_id); !s) return std::unexpected(s.error());
    if (auto s = MarkAthleteYearsDirty(c, athlete_id); !s) return std::unexpected(s.error());  // before they go
    if (auto s = DeleteAthleteEvents(c, athlete_id); !s) return std::unexpected(s.error());
    int64_t activities = 0;
    for (const char* sql : kDeleteAthlete) {
      auto r = c.Exec(sql, {Param::Int8(athlete_id)});
      if (!r) return std::unexpected(r.error());
      if (sql == kDeleteAthleteActivities) activities = r->affected();
    }
    return activities;
  });
}

// ---- AggregateStore ----

Result<std::vector<core::DailyTotals>> PostgresStore::DailyForYear(int64_t athlete_id, int year,
                                                                   const std::string& category) {
  return Read<std::vector<core::DailyTotals>>(*pool_,
                                              [&](Connection& c) { return ReadDaily(c, athlete_id, year, category); });
}

Result<std::vector<std::pair<int, std::string>>> PostgresStore::YearsWithData(int64_t athlete_id) {
  using Years = std::vector<std::pair<int, std::string>>;
  return Read<Years>(*pool_, [&](Connection& c) -> Result<Years> {
    auto rows = c.Exec(kYearsWithData, {Param::Int8(athlete_id)});
    if (!rows) return std::unexpected(rows.error());
    Years out;
    for (int r = 0; r < rows->size(); ++r) out.emplace_back(static_cast<int>(rows->Int64(r, 0)), rows->Text(r, 1));
    return out;
  });
}

Status PostgresStore::RebuildYear(int64_t athlete_id, int year) {
  return InTransaction(*pool_, Durability::kRelaxed, [&](Connection& c) -> Status {
    if (auto s = LockAthletesShared(c, {athlete_id}); !s) return s;
    return RebuildYearRows(c, categories_, athlete_id, year);
  });
}

// ---- TokenStore ----

Result<std::optional<ports::StoredToken>> PostgresStore::LoadToken(int64_t athlete_id) {
  if (athlete_id < 0) return Fail(ErrorCode::kInvalidArgument, "athlete id must not be negative");
  using Token = std::optional<ports::StoredToken>;
  return Read<Token>(*pool_, [&](Connection& c) -> Result<Token> {
    auto rows = athlete_id == 0 ? c.Exec(kSelectTwoTokens) : c.Exec(kSelectToken, {Param::Int8(athlete_id)});
    if (!rows) return std::unexpected(rows.error());
    if (rows->empty()) return std::nullopt;
    if (rows->size() > 1) {
      return Fail(ErrorCode::kInvalidArgument,
                  "tokens are stored for several athletes; say which athlete to use (athlete id 0 means the only one)");
    }
    return Token(
        ports::StoredToken{rows->Int64(0, 0), rows->Text(0, 1), rows->Text(0, 2), rows->Int64(0, 3), rows->Text(0, 4)});
  });
}

Status PostgresStore::SaveToken(const ports::StoredToken& token) {
  if (auto s = CheckAthlete(token.athlete_id); !s) return s;
  return InTransaction(*pool_, Durability::kFull,
                       [&](Connection& c) { return WriteToken(c, token.athlete_id, token); });
}

Status PostgresStore::SavePendingToken(const ports::StoredToken& token) {
  return InTransaction(*pool_, Durability::kFull,
                       [&](Connection& c) { return WriteToken(c, kPendingTokenId, token); });
}

Result<std::optional<ports::StoredToken>> PostgresStore::LoadPendingToken() {
  using Token = std::optional<ports::StoredToken>;
  return Read<Token>(*pool_, [&](Connection& c) -> Result<Token> {
    auto rows = c.Exec(kSelectToken, {Param::Int8(kPendingTokenId)});
    if (!rows) return std::unexpected(rows.error());
    if (rows->empty()) return std::nullopt;
    return Token(
        ports::StoredToken{rows->Int64(0, 0), rows->Text(0, 1), rows->Text(0, 2), rows->Int64(0, 3), rows->Text(0, 4)});
  });
}

Status PostgresStore::ClaimPendingToken(const ports::StoredToken& token) {
  if (auto s = CheckAthlete(token.athlete_id); !s) return s;
  return InTransaction(*pool_, Durability::kFull, [&](Connection& c) -> Status {
    if (auto s = WriteToken(c, token.athlete_id, token); !s) return s;
    return Discard(c.Exec(kDeletePendingToken));
  });
}

Status PostgresStore::ReplaceToken(const ports::StoredToken& token) {
  if (auto s = CheckAthlete(token.athlete_id); !s) return s;
  return InTransaction(*pool_, Durability::kFull, [&](Connection& c) -> Status {
    auto r = ExecToken(c, token.athlete_id, token, kReplaceToken);
    if (!r) return std::unexpected(r.error());
    if (r->affected() == 0) {
      return std::unexpected(ports::NoStoredToken(token.athlete_id, "the refreshed token was not saved"));
    }
    return Ok();
  });
}

Status PostgresStore::DeleteToken(int64_t athlete_id) {
  return InTransaction(*pool_, Durability::kFull,
                       [&](Connection& c) { return Discard(c.Exec(kDeleteToken, {Param::Int8(athlete_id)})); });
}

Result<std::vector<int64_t>> PostgresStore::AthletesWithTokens() {
  return Read<std::vector<int64_t>>(*pool_, [](Connection& c) -> Result<std::vector<int64_t>> {
    auto rows = c.Exec(kTokenAthletes);
    if (!rows) return std::unexpected(rows.error());
    std::vector<int64_t> ids;
    for (int r = 0; r < rows->size(); ++r) ids.push_back(rows->Int64(r, 0));
    return ids;
  });
}

// ---- RateBudgetStore ----

Result<core::RateBudgetState> PostgresStore::UpdateRateBudget(
    const std::function<void(core::RateBudgetState&)>& change) {
  using State = core::RateBudgetState;
  return Transact<State>(*pool_, Durability::kRelaxed, [&](Connection& c) -> Result<State> {
    auto rows = c.Exec(SelectBudgetForUpdate());
    if (!rows) return std::unexpected(rows.error());
    if (rows->empty()) {
      if (auto s = Discard(c.Exec(InsertDefaultBudget(), BudgetParams(State{}))); !s) return std::unexpected(s.error());
      rows = c.Exec(SelectBudgetForUpdate());
      if (!rows) return std::unexpected(rows.error());
      if (rows->empty()) return Fail(ErrorCode::kInternal, Describe(c.target(), "rate budget row missing"));
    }
    State state = ReadBudget(*rows);
    change(state);
    if (auto s = Discard(c.Exec(UpdateBudget(), BudgetParams(state))); !s) return std::unexpected(s.error());
    return state;
  });
}

// ---- CheckpointStore ----

Result<std::optional<std::string>> PostgresStore::LoadCheckpoint(const std::string& key) {
  using Value = std::optional<std::string>;
  return Read<Value>(*pool_, [&](Connection& c) -> Result<Value> {
    auto rows = c.Exec(kLoadCheckpoint, {Param::Text(key)});
    if (!rows) return std::unexpected(rows.error());
    if (rows->empty()) return std::nullopt;
    return Value(rows->Text(0, 0));
  });
}

Status PostgresStore::SaveCheckpoint(const std::string& key, const std::string& value) {
  return InTransaction(*pool_, Durability::kRelaxed, [&](Connection& c) { return WriteCheckpoint(c, key, value); });
}

Status PostgresStore::DeleteCheckpoint(const std::string& key) {
  return InTransaction(*pool_, Durability::kRelaxed,
                       [&](Connection& c) { return Discard(c.Exec(kDeleteCheckpoint, {Param::Text(key)})); });
}

Result<int64_t> PostgresStore::NextRunId() {
  // A sequence never hands a value out twice, even across crashes (it logs
  // ahead), and values increase.
  return Read<int64_t>(*pool_, [](Connection& c) -> Result<int64_t> {
    auto rows = c.Exec(kNextRunId);
    if (!rows) return std::unexpected(rows.error());
    return rows->Int64(0, 0);
  });
}

// ---- GoalStore ----

Result<std::optional<std::vector<ports::Goal>>> PostgresStore::LoadGoals(int64_t athlete_id, int year,
                                                                         const std::string& category) {
  using Goals = std::optional<std::vector<ports::Goal>>;
  return Read<Goals>(*pool_, [&](Connection& c) -> Result<Goals> {
    auto rows = c.Exec(kSelectGoals, {Param::Int8(athlete_id), Param::Int4(year), Param::Text(category)});
    if (!rows) return std::unexpected(rows.error());
    if (rows->empty()) return std::nullopt;
    std::vector<ports::Goal> goals;
    for (int r = 0; r < rows->size(); ++r) {
      if (rows->IsNull(r, 0)) continue;  // a set saved empty
      goals.push_back(ports::Goal{rows->Double(r, 0), rows->Text(r, 1), rows->Text(r, 2)});
    }
    return Goals(std::move(goals));
  });
}

Status PostgresStore::SaveGoals(int64_t athlete_id, int year, const std::string& category,
                                const std::vector<ports::Goal>& goals) {
  return InTransaction(*pool_, Durability::kFull, [&](Connection& c) -> Status {
    const Param athlete = Param::Int8(athlete_id), y = Param::Int4(year), cat = Param::Text(category);
    for (const char* sql : {kDeleteGoalSet, kInsertGoalSet}) {  // goals follow the set by cascade
      if (auto s = Discard(c.Exec(sql, {athlete, y, cat})); !s) return s;
    }
    if (goals.empty()) return Ok();
    ArrayBuilder values(oid::kFloat8), units(oid::kText), labels(oid::kText);
    for (const auto& g : goals) {
      values.AddFloat8(g.value);
      units.AddBytes(g.unit);
      labels.AddBytes(g.label);
    }
    return Discard(c.Exec(kInsertGoals, {athlete, y, cat, values.Finish(), units.Finish(), labels.Finish()}));
  });
}

// ---- EventQueue ----

Result<std::vector<ports::EnqueueOutcome>> PostgresStore::EnqueueBatch(std::span<const core::WebhookEvent> events,
                                                                       int64_t now_epoch_s) {
  using Outcomes = std::vector<ports::EnqueueOutcome>;
  return Transact<Outcomes>(*pool_, Durability::kFull,
                            [&](Connection& c) { return EnqueueEvents(c, events, now_epoch_s, dedup_retention_s_); });
}

Result<std::vector<ports::QueuedEvent>> PostgresStore::Claim(int max, int64_t now_epoch_s, int64_t lease_s) {
  using Events = std::vector<ports::QueuedEvent>;
  return Transact<Events>(*pool_, Durability::kRelaxed,
                          [&](Connection& c) { return ClaimEvents(c, max, now_epoch_s, lease_s); });
}

Result<std::vector<bool>> PostgresStore::RecordDedupKeys(std::span<const std::string> keys, int64_t now_epoch_s) {
  return Transact<std::vector<bool>>(*pool_, Durability::kFull, [&](Connection& c) {
    return postgres::RecordDedupKeys(c, keys, now_epoch_s, dedup_retention_s_);
  });
}

Result<std::vector<bool>> PostgresStore::KnownDedupKeys(std::span<const std::string> keys, int64_t now_epoch_s) {
  return Transact<std::vector<bool>>(*pool_, Durability::kRelaxed, [&](Connection& c) {
    return postgres::KnownDedupKeys(c, keys, now_epoch_s, dedup_retention_s_);
  });
}

Status PostgresStore::Ack(std::span<const int64_t> seqs) {
  return InTransaction(*pool_, Durability::kRelaxed, [&](Connection& c) { return AckEvents(c, seqs); });
}

Status PostgresStore::Retry(int64_t seq, const std::string& error, int64_t retry_at_epoch_s) {
  return InTransaction(*pool_, Durability::kRelaxed,
                       [&](Connection& c) { return RetryEvent(c, seq, error, retry_at_epoch_s); });
}

Status PostgresStore::DeadLetter(int64_t seq, const std::string& error, int64_t now_epoch_s) {
  return InTransaction(*pool_, Durability::kRelaxed,
                       [&](Connection& c) { return DeadLetterEvent(c, seq, error, now_epoch_s); });
}

Result<std::vector<ports::QueuedEvent>> PostgresStore::ListEvents(bool failed, int limit) {
  using Events = std::vector<ports::QueuedEvent>;
  return Read<Events>(*pool_, [&](Connection& c) { return ListQueued(c, failed, limit); });
}

Result<int64_t> PostgresStore::Redrive(std::optional<int64_t> seq, int64_t now_epoch_s) {
  return Transact<int64_t>(*pool_, Durability::kFull,
                           [&](Connection& c) { return RedriveEvents(c, seq, now_epoch_s); });
}

Result<int64_t> PostgresStore::PendingCount() {
  return Read<int64_t>(*pool_, [](Connection& c) { return CountPending(c); });
}

// ---- PipelineStore ----

Result<bool> PostgresStore::PatchActivity(const ports::ActivityPatch& patch) {
  if (auto s = CheckAthlete(patch.athlete_id); !s) return std::unexpected(s.error());
  return Transact<bool>(*pool_, Durability::kFull, [&](Connection& c) -> Result<bool> {
    if (auto s = LockAthletesShared(c, {patch.athlete_id}); !s) return std::unexpected(s.error());
    TouchedDays touched;
    auto patched = PatchOne(c, categories_, patch, touched);
    if (!patched) return patched;
    if (auto s = RecomputeDays(c, categories_, touched); !s) return std::unexpected(s.error());
    if (auto s = AckEvents(c, patch.ack_events); !s) return std::unexpected(s.error());
    return patched;
  });
}

Result<std::vector<ports::DirtyYear>> PostgresStore::ClaimDirtyYears(int max, int64_t now_epoch_s, int64_t lease_s) {
  using Years = std::vector<ports::DirtyYear>;
  return Transact<Years>(*pool_, Durability::kRelaxed,
                         [&](Connection& c) { return ClaimDirty(c, max, now_epoch_s, lease_s); });
}

Status PostgresStore::CompleteDirtyYears(std::span<const ports::DirtyYear> years) {
  return InTransaction(*pool_, Durability::kRelaxed, [&](Connection& c) { return CompleteDirty(c, years); });
}

}  // namespace dl::adapters::postgres
