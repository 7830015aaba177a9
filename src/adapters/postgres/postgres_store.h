// The store port on PostgreSQL (issue 6: many stateless processes on one
// database), selected by a URL: `postgresql://user[:password]@host:port/db`
// (libpq's URL and key=value forms both work; `?sslmode=...` and the like
// pass through to libpq).
//
// Schema and migrations
// - Versioned migrations in schema_migrations (v1: activities, aggregates,
//   tokens, budget, checkpoints, goals; v2: event queue and dirty years; v3: tombstones of
//   deletes confirmed before the activity was stored), run only when asked: Migrate()
//   (`desirelines migrate`) or OpenOptions::migrate. Open() checks the version
//   and refuses a database that is behind ("database schema is at version X,
//   this program needs Y: run `desirelines migrate`") or ahead of this program.
// - Concurrent Migrate() calls from several processes are safe: they
//   serialise on a transaction-scoped advisory lock.
//
// Concurrency (several threads and processes on one database)
// - Every port method is one READ COMMITTED transaction. Mutations lock what
//   they read: activity rows with SELECT ... FOR UPDATE, the aggregates of an
//   (athlete, local year) with an advisory lock taken after the activity
//   writes and held to commit, so that the daily totals always equal a full
//   rebuild whatever the interleaving (see activity_ops.h). The rate budget
//   is read and written under SELECT ... FOR UPDATE of its one row. Run ids
//   come from a sequence. Queue events and dirty years are claimed with
//   SELECT ... FOR UPDATE SKIP LOCKED.
// - A transaction that loses a deadlock or a unique-key race is rolled back
//   and run again (bounded), invisibly to the caller.
//
// Threading
// - One PostgresStore may be shared by any number of threads: it keeps a pool
//   of up to OpenOptions::max_connections connections, opened lazily; a call
//   holds one connection for its duration, and a call that finds them all
//   busy waits for one. A connection that lost its server is dropped and the
//   next call opens a fresh one (the failed call returns kIo).
// - UpdateRateBudget's callback runs inside the transaction while the budget
//   row is locked, possibly more than once (retries): it must be quick, must
//   only compute from the state it is given, and must not call the store.
//
// Durability: bulk backfill upserts, checkpoints, the rate budget and
// aggregate rebuilds commit with synchronous_commit off (a server crash can
// lose the last commits, never consistency; a page's checkpoint rides in the
// same transaction, so a resumed backfill re-fetches exactly what was lost);
// everything else (webhook upserts, archives, tokens, goals, run ids,
// migrations, deletions) waits for the WAL flush.
//
// Errors are kIo (kInvalidArgument for bad input), with messages that name
// the server as postgresql://user@host:port/db and never contain the password.
//
// Raw JSON is BYTEA: any bytes round-trip exactly.
#pragma once

#include <memory>
#include <string>

#include "core/sports.h"
#include "ports/store.h"

namespace dl::adapters::postgres {

class ConnectionPool;

struct OpenOptions {
  // Apply pending migrations while opening (tests, `desirelines migrate`);
  // otherwise a database that is behind is refused.
  bool migrate = false;
  int max_connections = 8;  // per PostgresStore
  int connect_timeout_s = 10;
  // How long the keys of received webhook events are kept for dedup
  // (Strava retries an event within minutes to hours).
  int64_t dedup_retention_s = 7 * 86400;
};

class PostgresStore final : public ports::Store {
 public:
  // Connects (one connection, kept in the pool) and checks the schema
  // version. Keeps a copy of `categories`: they decide each activity's
  // category and the daily aggregates.
  static Result<std::unique_ptr<PostgresStore>> Open(const std::string& url, const core::SportCategories& categories,
                                                     const OpenOptions& options = {});
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // The schema version this program needs.
  static int LatestSchemaVersion();

  // ActivityStore
  Result<ports::UpsertSummary> UpsertActivities(std::span<const core::Activity> activities,
                                                const ports::UpsertOptions& options) override;
  Result<std::optional<core::Activity>> GetActivity(int64_t athlete_id, int64_t id) override;
  Result<std::vector<core::Activity>> ActivitiesInLocalYear(int64_t athlete_id, int year) override;
  Result<std::vector<int64_t>> UnseenInLocalYear(int64_t athlete_id, int year, int64_t run_id) override;
  Result<int64_t> ArchiveActivities(const ports::ArchiveRequest& request) override;
  // Returns the number of activities removed (archive, aggregates, goals,
  // tokens, the athlete's checkpoints and queued/dead-lettered events go
  // too; the athlete's years are marked dirty).
  Result<int64_t> DeleteAthleteData(int64_t athlete_id) override;

  // AggregateStore
  Result<std::vector<core::DailyTotals>> DailyForYear(int64_t athlete_id, int year,
                                                      const std::string& category) override;
  Result<std::vector<std::pair<int, std::string>>> YearsWithData(int64_t athlete_id) override;
  Status RebuildYear(int64_t athlete_id, int year) override;

  // TokenStore
  Result<std::optional<ports::StoredToken>> LoadToken(int64_t athlete_id) override;
  Status SaveToken(const ports::StoredToken& token) override;
  Status ReplaceToken(const ports::StoredToken& token) override;
  Status DeleteToken(int64_t athlete_id) override;
  Result<std::vector<int64_t>> AthletesWithTokens() override;
  Status SavePendingToken(const ports::StoredToken& token) override;
  Result<std::optional<ports::StoredToken>> LoadPendingToken() override;
  Status ClaimPendingToken(const ports::StoredToken& token) override;

  // RateBudgetStore
  Result<core::RateBudgetState> UpdateRateBudget(const std::function<void(core::RateBudgetState&)>& change) override;

  // CheckpointStore. Keys of the form "<kind>:<athlete id>:..." belong to
  // that athlete (DeleteAthleteData removes them).
  Result<std::optional<std::string>> LoadCheckpoint(const std::string& key) override;
  Status SaveCheckpoint(const std::string& key, const std::string& value) override;
  Status DeleteCheckpoint(const std::string& key) override;
  Result<int64_t> NextRunId() override;

  // GoalStore
  Result<std::optional<std::vector<ports::Goal>>> LoadGoals(int64_t athlete_id, int year,
                                                            const std::string& category) override;
  Status SaveGoals(int64_t athlete_id, int year, const std::string& category,
                   const std::vector<ports::Goal>& goals) override;

  // EventQueue (schema v2). EnqueueBatch waits for the WAL flush (the
  // webhook's 200 follows it); claims, acks, retries and dead letters do not
  // (a loss in a server crash only means a redelivery). Claim uses
  // FOR UPDATE SKIP LOCKED: concurrent workers never get the same event.
  Result<std::vector<ports::EnqueueOutcome>> EnqueueBatch(std::span<const core::WebhookEvent> events,
                                                          int64_t now_epoch_s) override;
  Result<std::vector<ports::QueuedEvent>> Claim(int max, int64_t now_epoch_s, int64_t lease_s) override;
  Status Ack(std::span<const int64_t> seqs) override;
  Status Retry(int64_t seq, const std::string& error, int64_t retry_at_epoch_s) override;
  Status DeadLetter(int64_t seq, const std::string& error, int64_t now_epoch_s) override;
  Result<std::vector<ports::QueuedEvent>> ListEvents(bool failed, int limit) override;
  Result<int64_t> Redrive(std::optional<int64_t> seq, int64_t now_epoch_s) override;
  Result<int64_t> PendingCount() override;

  // DedupStore: received_events, shared with EnqueueBatch.
  Result<std::vector<bool>> RecordDedupKeys(std::span<const std::string> keys, int64_t now_epoch_s) override;
  Result<std::vector<bool>> KnownDedupKeys(std::span<const std::string> keys, int64_t now_epoch_s) override;

  // PipelineStore
  Result<bool> PatchActivity(const ports::ActivityPatch& patch) override;
  Result<std::vector<ports::DirtyYear>> ClaimDirtyYears(int max, int64_t now_epoch_s, int64_t lease_s) override;
  Status CompleteDirtyYears(std::span<const ports::DirtyYear> years) override;

  // Store
  Status Migrate() override;
  Result<int> SchemaVersion() override;
  Status CheckWritable() override;  // commits a one-row write

 private:
  PostgresStore(core::SportCategories categories, std::unique_ptr<ConnectionPool> pool, int64_t dedup_retention_s);
  Status CheckSchema();

  const core::SportCategories categories_;
  const int64_t dedup_retention_s_;
  std::unique_ptr<ConnectionPool> pool_;  // thread-safe
};

// `url` with any password replaced by "***", for logs and messages.
std::string RedactedUrl(const std::string& url);

}  // namespace dl::adapters::postgres
