// The store port on SQLite: the embedded default (`DIR/desirelines.db`).
//
// File and durability
// - WAL journal, foreign keys on, a busy timeout (several processes share the
//   file: the backfill CLI, `serve`, `aggregate`). Every write transaction is
//   BEGIN IMMEDIATE, so it waits for the write lock up front instead of
//   failing halfway.
// - The database and its -wal/-shm are created readable by the owner only
//   (0600, umask around the open plus chmod of existing files): tokens live here.
// - Durability per operation. Bulk backfill upserts, checkpoints, the rate
//   budget and aggregate rebuilds commit with synchronous=NORMAL: they survive
//   a crash of the process, and a power loss can only lose the last commits
//   (the database stays consistent, and the page checkpoint rides in the same
//   transaction, so a resumed backfill re-fetches exactly what was lost).
//   Upserts with from_webhook, archives, tokens, goals, run ids, migrations
//   and athlete deletions commit with synchronous=FULL (on disk when the call returns), and a FULL
//   commit also makes every earlier NORMAL commit durable.
// - The live pipeline: EnqueueBatch commits FULL (the webhook's 200 follows
//   it). An upsert, archive or patch that completes queue events
//   (ack_events) commits NORMAL: a power failure can lose it only together
//   with its acks, and the durable event is then delivered again. Patches
//   (their events complete later), claims, retries and dead letters are
//   NORMAL for the same reason.
// - New files use 16 KiB pages (fewer pages per 2 KB raw JSON row).
// - The WAL is checkpointed by a background thread with its own connection
//   (SqliteOptions::background_checkpoint), with SQLite's own PASSIVE
//   checkpoint in the commit as the fallback past 4,000 frames.
//
// Raw JSON
// - Kept byte for byte in its own table (activity_raw), compact by default
//   (SqliteOptions::compact_raw_json, raw_codec.h). Re-upserting an unchanged
//   activity compares a content hash and writes nothing but the run stamp;
//   the raw payload is only rewritten when the data changed.
//
// Deferred daily totals (UpsertOptions::defer_daily, used by backfill)
// - The upsert records the touched (athlete, year)s in stale_years and marks
//   them dirty in its own transaction instead of recomputing the days.
//   RebuildYear clears a year's mark; DailyForYear and YearsWithData first
//   rebuild the athlete's stale years (a write transaction), and
//   DeleteAthleteData rebuilds them before marking the athlete's years dirty.
//
// Upsert details the port leaves open
// - A from_webhook upsert stamps webhook_changed_at even when the data is
//   unchanged (the row is then known current as of that time).
// - With a fence, an id that is absent but was archived at or after the
//   fence is reported fenced, not re-inserted (a confirmed delete after the
//   run started beats the run's older copy).
// - An unchanged row whose stored category differs from the categories in
//   force is re-categorised and its day recomputed (counted as unchanged).
//
// Threading
// - One connection per SqliteStore, guarded by a mutex: every method may be
//   called from any thread; calls on one instance are serialised. For writers
//   in parallel open one SqliteStore per thread or process (SQLite admits one
//   writer at a time anyway; readers do not block it in WAL mode).
// - UpdateRateBudget's callback runs under the mutex inside the write
//   transaction: it must be quick and must not call back into the store.
//
// Timestamps that only record when something happened (applied_at,
// updated_at of tokens/checkpoints/goals) come from SQLite's clock; every
// timestamp that decisions depend on comes from the caller.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/sports.h"
#include "ports/store.h"

namespace dl::adapters::sqlite {

class BackgroundCheckpointer;
class Connection;
class RawJsonCodec;

struct SqliteOptions {
  int busy_timeout_ms = 10000;
  // How new rows keep their raw JSON (see raw_codec.h): compact (default:
  // the polyline kept once, in its typed column, the rest zstd-compressed
  // with a built-in dictionary; about 220 of 1,974 bytes on strava-sim's
  // activities) or text (the JSON as received, readable with SQL's json
  // functions). Both give the JSON back byte for byte; rows keep the codec
  // they were written with, so the setting can change at any time.
  bool compact_raw_json = true;
  int zstd_level = -1;  // measured: 0.6x level 1's time for 1.15x its bytes
  // How long the keys of received webhook events are kept for dedup
  // (Strava retries an event within minutes to hours): at least this, at
  // most twice this (they expire by generation, in O(1)).
  int64_t dedup_retention_s = 7 * 86400;
  // Copy the WAL into the database file from a thread and connection of the
  // store's own (see Connection::UseCheckpointer) instead of inside the
  // commit that crosses the threshold. Files only (not ":memory:").
  // Measured (bench/store_ingest_bench): the checkpoint was about a sixth of
  // a bulk upsert's CPU, now spent beside the writer.
  bool background_checkpoint = true;
  // SQLite's page cache for the store's connection, in KiB (a cap: pages are
  // allocated as they are first used). Every page the cache holds is memory
  // the process touches for the first time, a page fault and a zeroed page:
  // a bulk writer whose new pages are never read again (backfill) runs
  // cheaper with a small cache; a long-running process that reads keeps the
  // larger default. Measured in docs/PERFORMANCE.md (session 7).
  int cache_size_kib = 32768;
};

class SqliteStore final : public ports::Store {
 public:
  // Opens or creates the database at `path` and applies pending migrations
  // (the embedded default migrates itself). Keeps a copy of `categories`:
  // they decide each activity's category and the daily aggregates.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path, const core::SportCategories& categories);
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path, const core::SportCategories& categories,
                                                   const SqliteOptions& options);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // The schema version this program creates.
  static int LatestSchemaVersion();

  // ActivityStore
  Result<ports::UpsertSummary> UpsertActivities(std::span<const core::Activity> activities,
                                                const ports::UpsertOptions& options) override;
  // Encodes the raw JSON and hashes the rows on the calling thread.
  std::unique_ptr<ports::PreparedUpsert> PrepareUpsert(std::span<const core::Activity> activities) const override;
  Result<std::optional<core::Activity>> GetActivity(int64_t athlete_id, int64_t id) override;
  Result<std::vector<core::Activity>> ActivitiesInLocalYear(int64_t athlete_id, int year) override;
  Result<std::vector<int64_t>> UnseenInLocalYear(int64_t athlete_id, int year, int64_t run_id) override;
  Result<int64_t> ArchiveActivities(const ports::ArchiveRequest& request) override;
  // Returns the number of activities removed (archive, aggregates, goals,
  // tokens and the athlete's checkpoints go too).
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

  // EventQueue (schema v2, v4). EnqueueBatch commits with synchronous=FULL
  // (the webhook's 200 follows it); claims, acks, retries and dead letters
  // with NORMAL (a loss on power failure only means a redelivery). Dedup keys
  // are kept at least dedup_retention_s, at most twice that (generations,
  // see RotateDedupKeysIfDue), not forever.
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
  SqliteStore(core::SportCategories categories, std::unique_ptr<Connection> connection,
              std::unique_ptr<RawJsonCodec> codec, bool compact_raw_json, int zstd_level, int64_t dedup_retention_s);
  // Rebuilds the athlete's stale years (UpsertOptions::defer_daily), or only
  // `only_year` when it is stale, in one transaction, so that the aggregates
  // read next equal a full rebuild. Caller holds mu_.
  Status RebuildStaleYears(int64_t athlete_id, std::optional<int> only_year);
  // Runs `work` in a write transaction of the given durability and commits.
  Status InTransaction(bool full, const std::function<Status()>& work);
  // True when the dedup key generations are to be checked (at most once
  // per kDedupCheckEvery_s of store time). Caller holds mu_.
  bool DedupRotationCheckDue(int64_t now_epoch_s);
  static constexpr int64_t kDedupCheckEvery_s = 60;

  std::mutex mu_;
  const core::SportCategories categories_;
  std::unique_ptr<Connection> connection_;  // guarded by mu_
  std::unique_ptr<RawJsonCodec> codec_;     // guarded by mu_
  const bool compact_raw_json_;             // codec_'s settings, for PrepareUpsert's codecs
  const int zstd_level_;
  const int64_t dedup_retention_s_;
  std::optional<int64_t> last_dedup_check_epoch_s_;  // guarded by mu_
  // Declared after connection_: detached and stopped before it closes.
  std::unique_ptr<BackgroundCheckpointer> checkpointer_;
};

}  // namespace dl::adapters::sqlite
