#include "adapters/sqlite/schema.h"

#include <string>

#include "adapters/sqlite/connection.h"

namespace dl::adapters::sqlite {
namespace {

// Version 1. The typed activity columns mirror core::Activity (names are its
// member names; lat/lng pairs are two REAL columns; booleans INTEGER 0/1).
// Activities are keyed by (athlete_id, id); everything else by athlete too.
// The raw JSON lives in activity_raw, so that re-stamping or re-reading the
// typed rows never moves the 2 KB payload. Both are rowid tables: rows append
// at the end of the B-tree, which measured far cheaper for rows this large
// than a WITHOUT ROWID table keyed by (athlete_id, id) (bench/store_ingest_bench).
constexpr const char* kV1 = R"sql(
CREATE TABLE activities (
  row_id INTEGER PRIMARY KEY,          -- internal; new rows append (cheap B-tree inserts)
  id INTEGER NOT NULL,
  athlete_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  distance_m REAL NOT NULL,
  moving_time_s INTEGER NOT NULL,
  elapsed_time_s INTEGER NOT NULL,
  total_elevation_gain_m REAL NOT NULL,
  elev_high_m REAL,
  elev_low_m REAL,
  type TEXT NOT NULL,
  sport_type TEXT NOT NULL,
  workout_type INTEGER,
  start_date TEXT NOT NULL,
  start_date_local TEXT NOT NULL,
  timezone TEXT NOT NULL,
  utc_offset_s REAL NOT NULL,
  start_lat REAL,
  start_lng REAL,
  end_lat REAL,
  end_lng REAL,
  map_id TEXT,
  map_summary_polyline TEXT,
  trainer INTEGER NOT NULL,
  commute INTEGER NOT NULL,
  manual INTEGER NOT NULL,
  is_private INTEGER NOT NULL,
  flagged INTEGER NOT NULL,
  visibility TEXT NOT NULL,
  average_speed_mps REAL,
  max_speed_mps REAL,
  average_cadence REAL,
  average_watts REAL,
  weighted_average_watts REAL,
  max_watts REAL,
  kilojoules REAL,
  device_watts INTEGER,
  has_heartrate INTEGER NOT NULL,
  average_heartrate REAL,
  max_heartrate REAL,
  average_temp_c REAL,
  suffer_score REAL,
  gear_id TEXT,
  device_name TEXT,
  external_id TEXT,
  upload_id INTEGER,
  achievement_count INTEGER NOT NULL,
  kudos_count INTEGER NOT NULL,
  comment_count INTEGER NOT NULL,
  athlete_count INTEGER NOT NULL,
  photo_count INTEGER NOT NULL,
  total_photo_count INTEGER NOT NULL,
  pr_count INTEGER NOT NULL,
  description TEXT,
  calories REAL,
  -- bookkeeping
  category TEXT NOT NULL,              -- from the SportCategories in force
  local_date TEXT,                     -- 'YYYY-MM-DD' of start_date_local; NULL when unparseable
  start_epoch_s INTEGER,               -- start_date as seconds since the epoch
  content_hash INTEGER NOT NULL,       -- XXH64 of the raw JSON and the typed fields
  first_seen_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  webhook_changed_at INTEGER,          -- last change by a live webhook event (backfill fencing)
  seen_by_run INTEGER,                 -- last backfill run that listed it (reconciliation)
  UNIQUE (athlete_id, id)
) STRICT;
CREATE INDEX activities_by_local_date ON activities (athlete_id, local_date);
CREATE INDEX activities_by_seen_run ON activities (athlete_id, seen_by_run);

-- The raw JSON of activities.row_id. codec 0: UTF-8 JSON text as received;
-- 1: the same compressed with zstd. No foreign key: the store deletes both
-- rows together (a foreign key makes SQLite keep a statement journal for
-- every insert, which measured twice as slow).
CREATE TABLE activity_raw (
  row_id INTEGER PRIMARY KEY,
  codec INTEGER NOT NULL,
  raw BLOB NOT NULL
) STRICT;

-- The full row of every activity moved out of `activities`, when and why.
-- An id may be archived more than once (deleted, re-created, deleted).
CREATE TABLE deleted_activities (
  archive_id INTEGER PRIMARY KEY,
  deleted_at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  id INTEGER NOT NULL,
  athlete_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  distance_m REAL NOT NULL,
  moving_time_s INTEGER NOT NULL,
  elapsed_time_s INTEGER NOT NULL,
  total_elevation_gain_m REAL NOT NULL,
  elev_high_m REAL,
  elev_low_m REAL,
  type TEXT NOT NULL,
  sport_type TEXT NOT NULL,
  workout_type INTEGER,
  start_date TEXT NOT NULL,
  start_date_local TEXT NOT NULL,
  timezone TEXT NOT NULL,
  utc_offset_s REAL NOT NULL,
  start_lat REAL,
  start_lng REAL,
  end_lat REAL,
  end_lng REAL,
  map_id TEXT,
  map_summary_polyline TEXT,
  trainer INTEGER NOT NULL,
  commute INTEGER NOT NULL,
  manual INTEGER NOT NULL,
  is_private INTEGER NOT NULL,
  flagged INTEGER NOT NULL,
  visibility TEXT NOT NULL,
  average_speed_mps REAL,
  max_speed_mps REAL,
  average_cadence REAL,
  average_watts REAL,
  weighted_average_watts REAL,
  max_watts REAL,
  kilojoules REAL,
  device_watts INTEGER,
  has_heartrate INTEGER NOT NULL,
  average_heartrate REAL,
  max_heartrate REAL,
  average_temp_c REAL,
  suffer_score REAL,
  gear_id TEXT,
  device_name TEXT,
  external_id TEXT,
  upload_id INTEGER,
  achievement_count INTEGER NOT NULL,
  kudos_count INTEGER NOT NULL,
  comment_count INTEGER NOT NULL,
  athlete_count INTEGER NOT NULL,
  photo_count INTEGER NOT NULL,
  total_photo_count INTEGER NOT NULL,
  pr_count INTEGER NOT NULL,
  description TEXT,
  calories REAL,
  category TEXT NOT NULL,
  local_date TEXT,
  start_epoch_s INTEGER,
  content_hash INTEGER NOT NULL,
  first_seen_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  webhook_changed_at INTEGER,
  seen_by_run INTEGER,
  raw_codec INTEGER,
  raw_json BLOB
) STRICT;
CREATE INDEX deleted_activities_by_id ON deleted_activities (athlete_id, id, deleted_at);

-- Per (athlete, local date, category): exact integer sums and the ids
-- (a JSON array, ascending). Always equal to core::SummarizeDays over the
-- stored activities of that date: rewritten in the transaction that changes them.
CREATE TABLE daily_totals (
  athlete_id INTEGER NOT NULL,
  category TEXT NOT NULL,
  local_date TEXT NOT NULL,
  distance_mm INTEGER NOT NULL,
  moving_time_s INTEGER NOT NULL,
  elevation_gain_cm INTEGER NOT NULL,
  count INTEGER NOT NULL,
  activity_ids TEXT NOT NULL,
  PRIMARY KEY (athlete_id, local_date, category)
) STRICT, WITHOUT ROWID;

CREATE TABLE tokens (
  athlete_id INTEGER PRIMARY KEY,
  access_token TEXT NOT NULL,
  refresh_token TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  scope TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

-- The one shared Strava rate budget (core::RateBudgetState).
CREATE TABLE rate_budget (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  window_start_epoch_s INTEGER NOT NULL,
  day_start_epoch_s INTEGER NOT NULL,
  limit_15min INTEGER NOT NULL,
  limit_daily INTEGER NOT NULL,
  read_limit_15min INTEGER NOT NULL,
  read_limit_daily INTEGER NOT NULL,
  used_15min INTEGER NOT NULL,
  used_daily INTEGER NOT NULL,
  read_used_15min INTEGER NOT NULL,
  read_used_daily INTEGER NOT NULL
) STRICT;

-- athlete_id is parsed from keys of the form "<kind>:<athlete id>:..." so
-- that DeleteAthleteData can find them; NULL for other keys.
CREATE TABLE checkpoints (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  athlete_id INTEGER,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX checkpoints_by_athlete ON checkpoints (athlete_id);

-- Monotonic counters (run ids) and the write probe.
CREATE TABLE counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;

-- A goal set exists once saved, even when empty ("never set" is no row).
CREATE TABLE goal_sets (
  athlete_id INTEGER NOT NULL,
  year INTEGER NOT NULL,
  category TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (athlete_id, year, category)
) STRICT, WITHOUT ROWID;
CREATE TABLE goals (
  athlete_id INTEGER NOT NULL,
  year INTEGER NOT NULL,
  category TEXT NOT NULL,
  position INTEGER NOT NULL,
  value REAL NOT NULL,
  unit TEXT NOT NULL,
  label TEXT NOT NULL,
  PRIMARY KEY (athlete_id, year, category, position),
  FOREIGN KEY (athlete_id, year, category) REFERENCES goal_sets (athlete_id, year, category) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
)sql";

// Version 2: the live pipeline. The event queue lives beside the data so
// that an event completes in the transaction that applies its effect.
//  - event_queue: accepted webhook events not yet completed; a claimed event
//    is leased by moving available_at forward (backoff uses the same column).
//    AUTOINCREMENT: a seq is never reused, so a late ack can never complete
//    a newer event (dead letters keep their seq and return with it).
//  - received_events: the dedup keys of accepted events (Strava retries one
//    event up to 3 times), pruned after SqliteOptions::dedup_retention_s.
//  - dead_letters: events that kept failing, with their last error.
//  - dirty_years: (athlete, year)s whose daily totals changed since the
//    aggregator last wrote their files; generation comes from the
//    'dirty_generation' counter (monotonic, never reused), claimed_until is
//    the aggregator's lease.
constexpr const char* kV2 = R"sql(
CREATE TABLE event_queue (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  object_type TEXT NOT NULL,
  object_id INTEGER NOT NULL,
  aspect_type TEXT NOT NULL,
  owner_id INTEGER NOT NULL,
  subscription_id INTEGER NOT NULL,
  event_time INTEGER NOT NULL,
  title TEXT,
  type TEXT,
  is_private INTEGER,
  visibility TEXT,
  authorized INTEGER,
  updates_json TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  available_at INTEGER NOT NULL,
  last_error TEXT NOT NULL
) STRICT;
CREATE INDEX event_queue_by_available ON event_queue (available_at);
CREATE INDEX event_queue_by_owner ON event_queue (owner_id);

CREATE TABLE received_events (
  dedup_key TEXT PRIMARY KEY,
  received_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX received_events_by_time ON received_events (received_at);

CREATE TABLE dead_letters (
  seq INTEGER PRIMARY KEY,
  object_type TEXT NOT NULL,
  object_id INTEGER NOT NULL,
  aspect_type TEXT NOT NULL,
  owner_id INTEGER NOT NULL,
  subscription_id INTEGER NOT NULL,
  event_time INTEGER NOT NULL,
  title TEXT,
  type TEXT,
  is_private INTEGER,
  visibility TEXT,
  authorized INTEGER,
  updates_json TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  available_at INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  dead_at INTEGER NOT NULL
) STRICT;
CREATE INDEX dead_letters_by_owner ON dead_letters (owner_id);

CREATE TABLE dirty_years (
  athlete_id INTEGER NOT NULL,
  year INTEGER NOT NULL,
  generation INTEGER NOT NULL,
  claimed_until INTEGER NOT NULL,
  PRIMARY KEY (athlete_id, year)
) STRICT, WITHOUT ROWID;
)sql";

// Version 3: bulk ingest. stale_years holds the (athlete, year)s whose daily
// totals a backfill upsert left for one rebuild per year
// (UpsertOptions::defer_daily); written in the upsert's own transaction,
// cleared by the rebuild, and every read of the aggregates rebuilds stale
// years first. activities_by_seen_run goes: it cost an index write for every
// new row and for every row a backfill re-stamps, while the one query that
// used it (UnseenInLocalYear) reads a local year through
// activities_by_local_date anyway.
constexpr const char* kV3 = R"sql(
CREATE TABLE IF NOT EXISTS stale_years (
  athlete_id INTEGER NOT NULL,
  year INTEGER NOT NULL,
  PRIMARY KEY (athlete_id, year)
) STRICT, WITHOUT ROWID;
DROP INDEX IF EXISTS activities_by_seen_run;
)sql";

// Version 4: a leaner queue for the durable intake commit. With WAL and
// 16 KiB pages every b-tree page an enqueue dirties is a 16 KiB frame
// written and fsynced before the webhook's 200; v2 dirtied about six per
// commit (docs/PERFORMANCE.md, webhook intake). Now:
//  - event_queue without AUTOINCREMENT (no sqlite_sequence write per
//    commit). A seq is still never reused: the store assigns
//    max(MAX(seq), counters.event_seq_floor) + 1, and every statement that
//    deletes from event_queue first raises event_seq_floor to MAX(seq), so a
//    deleted seq stays below every later one (a late ack can never complete
//    a newer event; a dead letter's seq never comes back for another event).
//    The floor starts at the highest seq v3 ever handed out.
//  - no event_queue_by_owner (only deauthorization's DeleteAthleteEvents
//    used it: a scan of the pending queue, rare) and no
//    event_queue_by_available (claims scan in seq order and stop after
//    `max` available events; only leased or backing-off events are skipped).
//  - dedup keys expire by generation instead of by a time index (which
//    cost a page per commit, and a prune DELETE in every commit):
//    received_events is the current generation, received_events_old the
//    one before; when the current one is the retention old, the old one is
//    dropped and the current one renamed (RotateDedupKeysIfDue). The first
//    generation starts at the oldest key v3 kept (or at the first check of
//    the store's clock when there is none). Runs once, in the migration's
//    transaction, like every version.
constexpr const char* kV4 = R"sql(
CREATE TABLE event_queue_v4 (
  seq INTEGER PRIMARY KEY,
  object_type TEXT NOT NULL,
  object_id INTEGER NOT NULL,
  aspect_type TEXT NOT NULL,
  owner_id INTEGER NOT NULL,
  subscription_id INTEGER NOT NULL,
  event_time INTEGER NOT NULL,
  title TEXT,
  type TEXT,
  is_private INTEGER,
  visibility TEXT,
  authorized INTEGER,
  updates_json TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  available_at INTEGER NOT NULL,
  last_error TEXT NOT NULL
) STRICT;
INSERT INTO event_queue_v4 SELECT * FROM event_queue ORDER BY seq;
INSERT INTO counters (name, value)
  SELECT 'event_seq_floor', max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'event_queue'), 0),
                                COALESCE((SELECT MAX(seq) FROM event_queue), 0),
                                COALESCE((SELECT MAX(seq) FROM dead_letters), 0)) WHERE true
  ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value);
DROP TABLE event_queue;
ALTER TABLE event_queue_v4 RENAME TO event_queue;

DROP INDEX IF EXISTS received_events_by_time;
CREATE TABLE IF NOT EXISTS received_events_old (
  dedup_key TEXT PRIMARY KEY,
  received_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO counters (name, value)
  SELECT 'dedup_generation_since', oldest FROM (SELECT MIN(received_at) AS oldest FROM received_events)
  WHERE oldest IS NOT NULL
  ON CONFLICT (name) DO UPDATE SET value = excluded.value;
)sql";

// Version 5: tombstones. A delete confirmed (ports::ArchiveRequest) for an
// id that is not stored yet leaves no row in deleted_activities, whose
// columns are the activity's; yet an older copy may still be on its way (a
// backfill page in the run's write-ahead, another process's fetch) and must
// be fenced out like an archived one. One row per (athlete, id), the latest
// delete; pruned after ports::kTombstoneRetentionS; never an archived
// activity (not counted, not listed).
constexpr const char* kV5 = R"sql(
CREATE TABLE IF NOT EXISTS activity_tombstones (
  athlete_id INTEGER NOT NULL,
  id INTEGER NOT NULL,
  deleted_at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (athlete_id, id)
) STRICT, WITHOUT ROWID;
)sql";

constexpr Migration kMigrations[] = {
    {1, "activities, archive, daily totals, tokens, rate budget, checkpoints, counters, goals", kV1},
    {2, "live pipeline: event queue, received event keys, dead letters, dirty years", kV2},
    {3, "bulk ingest: stale years (deferred daily totals), no seen-run index", kV3},
    {4, "lean event queue: no AUTOINCREMENT (seq floor counter), no owner/available indexes, dedup key generations",
     kV4},
    {5, "tombstones: deletes confirmed for ids not stored yet (fencing)", kV5},
};

constexpr const char* kCreateMigrations =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)";

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

int LatestVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

Result<int> CurrentVersion(Connection& connection) {
  auto exists = connection.Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
  if (!exists) return std::unexpected(exists.error());
  auto found = exists->Step();
  if (!found) return std::unexpected(found.error());
  if (!*found) return 0;
  auto q = connection.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!q) return std::unexpected(q.error());
  auto row = q->Step();
  if (!row) return std::unexpected(row.error());
  return static_cast<int>(q->Int64(0));
}

Status ApplyMigrations(Connection& connection) {
  auto txn = connection.Begin(Durability::kFull);
  if (!txn) return std::unexpected(txn.error());
  if (auto s = connection.Exec(kCreateMigrations); !s) return s;
  auto current = CurrentVersion(connection);
  if (!current) return std::unexpected(current.error());
  if (*current > LatestVersion()) {
    return Fail(ErrorCode::kIo, "sqlite " + connection.path() + ": schema version " + std::to_string(*current) +
                                    " is newer than this program supports (" + std::to_string(LatestVersion()) +
                                    "); use a newer desirelines");
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= *current) continue;
    if (auto s = connection.Exec(m.sql); !s) {
      return Fail(ErrorCode::kIo, "migration " + std::to_string(m.version) + " failed: " + s.error().message);
    }
    auto record = connection.Prepare(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))");
    if (!record) return std::unexpected(record.error());
    record->Bind(1, m.version);
    if (auto s = record->Run(); !s) return s;
  }
  return txn->Commit();
}

}  // namespace dl::adapters::sqlite
