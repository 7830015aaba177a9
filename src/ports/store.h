// The store: activities, aggregates, tokens, the shared rate budget,
// checkpoints. Implemented on SQLite (adapters/sqlite, the embedded default)
// and PostgreSQL (adapters/postgres). Every method is one transaction; every
// method is safe to call from several threads and processes at once.
//
// The store is built with the sport categories in force, and keeps each
// activity's category and local date in columns so that the daily aggregates
// can be recomputed day by day, exactly, inside the same transaction as the
// change that touched them (see core/aggregates.h for the math).
#pragma once

#include <charconv>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/activity.h"
#include "core/aggregates.h"
#include "core/rate_budget.h"
#include "core/result.h"
#include "ports/event_queue.h"

namespace dl::ports {

// Work a store did ahead of one UpsertActivities call (see
// ActivityStore::PrepareUpsert). Opaque to callers.
class PreparedUpsert {
 public:
  virtual ~PreparedUpsert() = default;
};

struct UpsertOptions {
  int64_t now_epoch_s = 0;
  // Backfill fencing: a row whose last webhook change is at or after this
  // time is kept as it is (reported as fenced), and so is the absence of an
  // id archived (or deleted before it was stored) at or after it. 0 = no fence.
  int64_t fence_epoch_s = 0;
  // Backfill: stamp rows as seen by this run (for reconciliation). 0 = no.
  int64_t seen_by_run = 0;
  // Live pipeline: stamp the rows' webhook_changed_at = now.
  bool from_webhook = false;
  // Only for athletes who still have a stored token, checked in the same
  // transaction: otherwise nothing is written and the error is
  // kUnauthorized. A deauthorization deletes the athlete's tokens (and, by
  // default, their data); a backfill's write-ahead pages or an inserter's
  // fetch in flight, possibly in another process, must not bring the data
  // back after it. Backfill and inserter set it. It covers the athlete of
  // `checkpoint` too (CheckpointAthlete), so that a page with no activity to
  // write cannot leave a checkpoint behind a deauthorization either.
  bool require_token = false;
  // Saved in the same transaction (a checkpoint after every page).
  std::optional<std::pair<std::string, std::string>> checkpoint;  // key, value
  // Live pipeline: queue events (ports::EventQueue seqs) completed in the same
  // transaction as the effect (exactly-once effects).
  std::vector<int64_t> ack_events;
  // Bulk (backfill): the store may leave the touched days' daily totals to be
  // recomputed later, once per (athlete, year), instead of in this
  // transaction. It then records the (athlete, year)s as stale in this same
  // transaction (so a crash cannot lose the debt, and a checkpoint saved with
  // the rows never runs ahead of it) and marks them dirty; every read of the
  // aggregates (DailyForYear, YearsWithData) and RebuildYear recomputes stale
  // years first, so what the port returns always equals a full rebuild. A
  // store may ignore this and recompute at once (PostgreSQL does).
  bool defer_daily = false;
  // From PrepareUpsert for exactly these activities (same order, unchanged
  // since: the caller's promise; a store may check only cheap signs of it,
  // the SQLite store checks each row's id and raw JSON size): the store
  // uses it instead of redoing that work. nullptr = none.
  const PreparedUpsert* prepared = nullptr;
};

// The athlete a checkpoint belongs to: its key reads "<kind>:<athlete id>:..."
// (a deauthorization deletes that athlete's checkpoints). nullopt when the
// key names none.
inline std::optional<int64_t> CheckpointAthlete(std::string_view key) {
  const auto colon = key.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const char* begin = key.data() + colon + 1;
  const char* end = key.data() + key.size();
  int64_t v = 0;
  auto [next, ec] = std::from_chars(begin, end, v);
  if (ec != std::errc() || next == begin || (next != end && *next != ':') || v <= 0) return std::nullopt;
  return v;
}

// The error of UpsertOptions::require_token and ReplaceToken, in every store.
inline Error NoStoredToken(int64_t athlete_id, const std::string& consequence) {
  return Error{ErrorCode::kUnauthorized,
               "athlete " + std::to_string(athlete_id) + " has no stored token (deauthorized?): " + consequence};
}

struct UpsertSummary {
  int64_t inserted = 0, updated = 0, unchanged = 0, fenced = 0;
};

// How long a store remembers a delete confirmed for an id it did not hold
// (ArchiveActivities): far longer than any copy fetched before the delete
// can take to be written (a backfill's write-ahead, a fetch in flight).
inline constexpr int64_t kTombstoneRetentionS = 30 * 86400;

struct ArchiveRequest {
  int64_t athlete_id = 0;
  std::vector<int64_t> ids;
  std::string reason;  // e.g. "not listed by Strava in backfill run 7", "delete webhook confirmed"
  int64_t now_epoch_s = 0;
  int64_t fence_epoch_s = 0;  // as UpsertOptions::fence_epoch_s
  std::vector<int64_t> ack_events;  // as UpsertOptions::ack_events
};

class ActivityStore {
 public:
  virtual ~ActivityStore() = default;
  // Inserts or updates by (athlete_id, id); updated/unchanged is decided by
  // comparing the stored data, never by matching error strings. Touched days
  // are recomputed in the same transaction.
  virtual Result<UpsertSummary> UpsertActivities(std::span<const core::Activity> activities,
                                                 const UpsertOptions& options) = 0;
  // Optional work for a later UpsertActivities of `activities`, done on the
  // calling thread, outside any transaction and lock (the SQLite store
  // encodes the raw JSON and hashes the rows), so that a pipelined caller
  // prepares one batch while the previous one is written. Thread-safe.
  // nullptr = nothing to prepare (the default).
  virtual std::unique_ptr<PreparedUpsert> PrepareUpsert(std::span<const core::Activity> activities) const {
    (void)activities;
    return nullptr;
  }
  virtual Result<std::optional<core::Activity>> GetActivity(int64_t athlete_id, int64_t id) = 0;
  // All activities whose local date is in `year`, ordered by start_date.
  virtual Result<std::vector<core::Activity>> ActivitiesInLocalYear(int64_t athlete_id, int year) = 0;
  // Ids stored for the local year that backfill run `run_id` did not see.
  virtual Result<std::vector<int64_t>> UnseenInLocalYear(int64_t athlete_id, int year, int64_t run_id) = 0;
  // Moves rows to deleted_activities (the row, when, why) and out of the
  // aggregates. Returns how many were archived (fenced rows are skipped).
  // An id not stored is remembered as deleted at now_epoch_s (a tombstone,
  // kept kTombstoneRetentionS; not archived, not counted): an upsert fenced
  // at or before that time then reports it fenced instead of storing it.
  virtual Result<int64_t> ArchiveActivities(const ArchiveRequest& request) = 0;
  // Everything of the athlete: activities, archive, aggregates, tokens.
  virtual Result<int64_t> DeleteAthleteData(int64_t athlete_id) = 0;
};

class AggregateStore {
 public:
  virtual ~AggregateStore() = default;
  // Days with at least one activity, ordered by date. Empty category = all.
  virtual Result<std::vector<core::DailyTotals>> DailyForYear(int64_t athlete_id, int year,
                                                              const std::string& category) = 0;
  // (year, category) pairs with data, ordered.
  virtual Result<std::vector<std::pair<int, std::string>>> YearsWithData(int64_t athlete_id) = 0;
  // Recomputes the year's categories and daily rows from the activities alone.
  virtual Status RebuildYear(int64_t athlete_id, int year) = 0;
};

struct StoredToken {
  int64_t athlete_id = 0;
  std::string access_token;
  std::string refresh_token;
  int64_t expires_at_epoch_s = 0;
  std::string scope;
};

class TokenStore {
 public:
  virtual ~TokenStore() = default;
  // athlete_id 0: the only stored athlete (the embedded default has one).
  virtual Result<std::optional<StoredToken>> LoadToken(int64_t athlete_id) = 0;
  virtual Status SaveToken(const StoredToken& token) = 0;  // atomic replace
  // A refresh's rotated token for an athlete whose token is stored: replaces
  // it, never creates it. kUnauthorized (nothing written) when the athlete
  // has none, i.e. a deauthorization deleted it while the refresh was in
  // flight: re-creating the row would let the run go on writing their data
  // (UpsertOptions::require_token).
  virtual Status ReplaceToken(const StoredToken& token) = 0;
  virtual Status DeleteToken(int64_t athlete_id) = 0;
  virtual Result<std::vector<int64_t>> AthletesWithTokens() = 0;

  // The pending token: one token set not yet known to belong to an athlete
  // (a seed refresh token's rotation, before GET /athlete names the
  // athlete). Strava kills the seed when it rotates it, so the new set is
  // kept durably from the refresh on, even if the process dies before the
  // athlete is known. At most one per store; never returned by LoadToken or
  // AthletesWithTokens, never removed by DeleteToken.
  // Atomic replace; the token's athlete_id is ignored.
  virtual Status SavePendingToken(const StoredToken& token) = 0;
  // nullopt when there is none; athlete_id is 0.
  virtual Result<std::optional<StoredToken>> LoadPendingToken() = 0;
  // Saves `token` under its athlete (> 0; atomic replace, as SaveToken) and
  // drops the pending token, in one transaction.
  virtual Status ClaimPendingToken(const StoredToken& token) = 0;
};

class RateBudgetStore {
 public:
  virtual ~RateBudgetStore() = default;
  // Atomic read-modify-write of the one shared budget row (created with
  // defaults when absent); returns the state as written.
  virtual Result<core::RateBudgetState> UpdateRateBudget(
      const std::function<void(core::RateBudgetState&)>& change) = 0;
};

class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;
  virtual Result<std::optional<std::string>> LoadCheckpoint(const std::string& key) = 0;
  virtual Status SaveCheckpoint(const std::string& key, const std::string& value) = 0;
  virtual Status DeleteCheckpoint(const std::string& key) = 0;
  // A new, never reused run id (monotonic).
  virtual Result<int64_t> NextRunId() = 0;
};

// Yearly distance goals per category (dashboard). Units: "km" or "mi".
struct Goal {
  double value = 0;
  std::string unit = "km";
  std::string label;  // optional
  bool operator==(const Goal&) const = default;
};

class GoalStore {
 public:
  virtual ~GoalStore() = default;
  // nullopt when none were ever set for (athlete, year, category).
  virtual Result<std::optional<std::vector<Goal>>> LoadGoals(int64_t athlete_id, int year,
                                                             const std::string& category) = 0;
  // Replaces the set atomically; validation is the caller's job.
  virtual Status SaveGoals(int64_t athlete_id, int year, const std::string& category,
                           const std::vector<Goal>& goals) = 0;
};

// ---- Live pipeline (app/inserter, app/aggregator) ----

// The fields a webhook `update` event carries, applied at once, before the
// refresh fetch brings the whole activity. nullopt leaves the stored value.
struct ActivityPatch {
  int64_t athlete_id = 0;
  int64_t id = 0;
  std::optional<std::string> name;        // updates.title
  // updates.type (a legacy type such as "Run"): written to both type and
  // sport_type, so that the category follows at once; the refresh brings
  // the exact sport_type.
  std::optional<std::string> type;
  std::optional<bool> is_private;         // updates.private
  std::optional<std::string> visibility;  // updates.visibility
  int64_t now_epoch_s = 0;                // stamps webhook_changed_at (backfill fencing)
  std::vector<int64_t> ack_events;        // as UpsertOptions::ack_events
};

// An (athlete, local year) whose daily totals changed since its yearly files
// were last written.
struct DirtyYear {
  int64_t athlete_id = 0;
  int year = 0;
  int64_t generation = 0;  // changes with every new mark of the year
  bool operator==(const DirtyYear&) const = default;
};

class PipelineStore {
 public:
  virtual ~PipelineStore() = default;
  // Applies the patch to the stored activity in one transaction: category
  // recomputed, touched days recomputed, webhook_changed_at = now, the
  // content hash updated (so that a refresh bringing the pre-patch data is
  // written, not taken as unchanged), ack_events completed. Returns false
  // when the activity is not stored (the events are still completed).
  virtual Result<bool> PatchActivity(const ActivityPatch& patch) = 0;
  // Every mutation that changes daily totals (upsert, patch, archive,
  // athlete deletion) marks the (athlete, year)s it touched as dirty in its
  // own transaction. Claim leases up to `max` dirty years that no other
  // worker holds (until now + lease_s).
  virtual Result<std::vector<DirtyYear>> ClaimDirtyYears(int max, int64_t now_epoch_s, int64_t lease_s) = 0;
  // After their files are written: clears each year whose generation is
  // still the claimed one; a year marked again meanwhile stays dirty and is
  // released for the next claim.
  virtual Status CompleteDirtyYears(std::span<const DirtyYear> years) = 0;
};

// Strava retries an event up to 3 times, and behind one URL several
// dispatchers (`serve --role dispatcher`) may each receive a copy. A
// transport outside the store (Pub/Sub) deduplicates through the store, so
// that a retry is dropped whichever dispatcher it reaches. The keys live in
// the table EnqueueBatch uses (received_events), so both transports share
// one record; keys older than the store's dedup retention are pruned.
class DedupStore {
 public:
  virtual ~DedupStore() = default;
  // Records the keys in one durable transaction. Element i is true when
  // keys[i] was not known before (a key repeated within the call: true for
  // its first occurrence only). Two processes racing on one key: exactly one
  // gets true.
  virtual Result<std::vector<bool>> RecordDedupKeys(std::span<const std::string> keys, int64_t now_epoch_s) = 0;
  // Element i is true when keys[i] is recorded (and not expired at
  // now_epoch_s); records nothing. A transport that hands events on outside
  // the store (Pub/Sub) checks first and records only what it handed on, so
  // that a crash or a failure in between can never leave a key recorded for
  // an event nobody got (Strava's retry would be taken for a duplicate).
  virtual Result<std::vector<bool>> KnownDedupKeys(std::span<const std::string> keys, int64_t now_epoch_s) = 0;
};

// The whole store, as the app layer receives it. The live pipeline's queue
// lives in it (EventQueue), so that an event completes in the transaction
// that applies its effect (UpsertOptions/ArchiveRequest/ActivityPatch
// ack_events). DeleteAthleteData also drops the athlete's queued and
// dead-lettered events and marks their years dirty.
class Store : public ActivityStore,
              public AggregateStore,
              public TokenStore,
              public RateBudgetStore,
              public CheckpointStore,
              public GoalStore,
              public EventQueue,
              public PipelineStore,
              public DedupStore {
 public:
  ~Store() override = default;
  virtual Status Migrate() = 0;                 // applies pending migrations
  virtual Result<int> SchemaVersion() = 0;
  virtual Status CheckWritable() = 0;           // for /readyz
};

}  // namespace dl::ports
