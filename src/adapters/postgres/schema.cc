#include "adapters/postgres/schema.h"

#include <string>

#include "adapters/postgres/connection.h"
#include "adapters/postgres/pool.h"

namespace dl::adapters::postgres {
namespace {

// Version 1. The typed activity columns mirror core::Activity (names are its
// member names; a lat/lng pair is two columns). Everything is keyed by
// athlete. Text that is compared or sorted (dates, categories, keys) uses the
// "C" collation: byte order, as on SQLite, whatever the database's locale.
// The raw JSON is BYTEA (byte for byte as received, any bytes), stored
// EXTERNAL: out of line and uncompressed, so that restamping a row
// (seen_by_run, category) never copies or recompresses the 2 KB payload.
constexpr const char* kV1 = R"sql(
CREATE TABLE activities (
  athlete_id BIGINT NOT NULL,
  id BIGINT NOT NULL,
  name TEXT NOT NULL,
  distance_m DOUBLE PRECISION NOT NULL,
  moving_time_s BIGINT NOT NULL,
  elapsed_time_s BIGINT NOT NULL,
  total_elevation_gain_m DOUBLE PRECISION NOT NULL,
  elev_high_m DOUBLE PRECISION,
  elev_low_m DOUBLE PRECISION,
  type TEXT NOT NULL,
  sport_type TEXT NOT NULL,
  workout_type BIGINT,
  start_date TEXT COLLATE "C" NOT NULL,
  start_date_local TEXT COLLATE "C" NOT NULL,
  timezone TEXT NOT NULL,
  utc_offset_s DOUBLE PRECISION NOT NULL,
  start_lat DOUBLE PRECISION,
  start_lng DOUBLE PRECISION,
  end_lat DOUBLE PRECISION,
  end_lng DOUBLE PRECISION,
  map_id TEXT,
  map_summary_polyline TEXT,
  trainer BOOLEAN NOT NULL,
  commute BOOLEAN NOT NULL,
  manual BOOLEAN NOT NULL,
  is_private BOOLEAN NOT NULL,
  flagged BOOLEAN NOT NULL,
  visibility TEXT NOT NULL,
  average_speed_mps DOUBLE PRECISION,
  max_speed_mps DOUBLE PRECISION,
  average_cadence DOUBLE PRECISION,
  average_watts DOUBLE PRECISION,
  weighted_average_watts DOUBLE PRECISION,
  max_watts DOUBLE PRECISION,
  kilojoules DOUBLE PRECISION,
  device_watts BOOLEAN,
  has_heartrate BOOLEAN NOT NULL,
  average_heartrate DOUBLE PRECISION,
  max_heartrate DOUBLE PRECISION,
  average_temp_c DOUBLE PRECISION,
  suffer_score DOUBLE PRECISION,
  gear_id TEXT,
  device_name TEXT,
  external_id TEXT,
  upload_id BIGINT,
  achievement_count BIGINT NOT NULL,
  kudos_count BIGINT NOT NULL,
  comment_count BIGINT NOT NULL,
  athlete_count BIGINT NOT NULL,
  photo_count BIGINT NOT NULL,
  total_photo_count BIGINT NOT NULL,
  pr_count BIGINT NOT NULL,
  description TEXT,
  calories DOUBLE PRECISION,
  raw_json BYTEA NOT NULL,
  -- bookkeeping
  category TEXT COLLATE "C" NOT NULL,    -- from the SportCategories in force
  local_date TEXT COLLATE "C",           -- 'YYYY-MM-DD' of start_date_local; NULL when unparseable
  start_epoch_s BIGINT,                  -- start_date as seconds since the epoch
  content_hash BYTEA NOT NULL,           -- SHA-256 of the typed fields and the raw JSON
  first_seen_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  webhook_changed_at BIGINT,             -- last change by a live webhook event (backfill fencing)
  seen_by_run BIGINT,                    -- last backfill run that listed it (reconciliation)
  PRIMARY KEY (athlete_id, id)
);
ALTER TABLE activities ALTER COLUMN raw_json SET STORAGE EXTERNAL;
CREATE INDEX activities_by_local_date ON activities (athlete_id, local_date);

-- The full row of every activity moved out of `activities`, when and why.
-- An id may be archived more than once (deleted, re-created, deleted).
CREATE TABLE deleted_activities (
  archive_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  deleted_at BIGINT NOT NULL,
  reason TEXT NOT NULL,
  LIKE activities
);
ALTER TABLE deleted_activities ALTER COLUMN raw_json SET STORAGE EXTERNAL;
CREATE INDEX deleted_activities_by_id ON deleted_activities (athlete_id, id, deleted_at);

-- Per (athlete, local date, category): exact integer sums and the ids
-- (ascending). Always equal to core::SummarizeDays over the stored
-- activities of that date: rewritten in the transaction that changes them,
-- under the (athlete, year) advisory lock.
CREATE TABLE daily_totals (
  athlete_id BIGINT NOT NULL,
  local_date TEXT COLLATE "C" NOT NULL,
  category TEXT COLLATE "C" NOT NULL,
  distance_mm BIGINT NOT NULL,
  moving_time_s BIGINT NOT NULL,
  elevation_gain_cm BIGINT NOT NULL,
  count BIGINT NOT NULL,
  activity_ids BIGINT[] NOT NULL,
  PRIMARY KEY (athlete_id, local_date, category)
);

CREATE TABLE tokens (
  athlete_id BIGINT PRIMARY KEY,
  access_token TEXT NOT NULL,
  refresh_token TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  scope TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);

-- The one shared Strava rate budget (core::RateBudgetState), read and
-- written under SELECT ... FOR UPDATE.
CREATE TABLE rate_budget (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  window_start_epoch_s BIGINT NOT NULL,
  day_start_epoch_s BIGINT NOT NULL,
  limit_15min BIGINT NOT NULL,
  limit_daily BIGINT NOT NULL,
  read_limit_15min BIGINT NOT NULL,
  read_limit_daily BIGINT NOT NULL,
  used_15min BIGINT NOT NULL,
  used_daily BIGINT NOT NULL,
  read_used_15min BIGINT NOT NULL,
  read_used_daily BIGINT NOT NULL
);

-- athlete_id is parsed from keys of the form "<kind>:<athlete id>:..." so
-- that DeleteAthleteData can find them; NULL for other keys.
CREATE TABLE checkpoints (
  key TEXT COLLATE "C" PRIMARY KEY,
  value TEXT NOT NULL,
  athlete_id BIGINT,
  updated_at BIGINT NOT NULL
);
CREATE INDEX checkpoints_by_athlete ON checkpoints (athlete_id);

-- Backfill run ids: never reused, increasing.
CREATE SEQUENCE run_ids;

-- CheckWritable's one-row write.
CREATE TABLE write_probe (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  probes BIGINT NOT NULL
);

-- A goal set exists once saved, even when empty ("never set" is no row).
CREATE TABLE goal_sets (
  athlete_id BIGINT NOT NULL,
  year INTEGER NOT NULL,
  category TEXT COLLATE "C" NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (athlete_id, year, category)
);
CREATE TABLE goals (
  athlete_id BIGINT NOT NULL,
  year INTEGER NOT NULL,
  category TEXT COLLATE "C" NOT NULL,
  position INTEGER NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  unit TEXT NOT NULL,
  label TEXT NOT NULL,
  PRIMARY KEY (athlete_id, year, category, position),
  FOREIGN KEY (athlete_id, year, category) REFERENCES goal_sets (athlete_id, year, category) ON DELETE CASCADE
);
)sql";

// Version 2: the live pipeline. The event queue lives beside the data so
// that an event completes in the transaction that applies its effect.
//  - event_queue: accepted webhook events not yet completed; a claimed event
//    is leased by moving available_at forward (backoff uses the same column).
//    seq comes from an identity sequence: never reused, so a late ack can
//    never complete a newer event (dead letters keep their seq and return
//    with it, hence BY DEFAULT).
//  - received_events: the dedup keys of accepted events (Strava retries one
//    event up to 3 times), pruned after OpenOptions::dedup_retention_s.
//  - dead_letters: events that kept failing, with their last error.
//  - dirty_years: (athlete, year)s whose daily totals changed since the
//    aggregator last wrote their files; generation comes from the
//    dirty_generations sequence, claimed_until is the aggregator's lease.
constexpr const char* kV2 = R"sql(
CREATE TABLE event_queue (
  seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  object_type TEXT NOT NULL,
  object_id BIGINT NOT NULL,
  aspect_type TEXT NOT NULL,
  owner_id BIGINT NOT NULL,
  subscription_id BIGINT NOT NULL,
  event_time BIGINT NOT NULL,
  title TEXT,
  type TEXT,
  is_private BOOLEAN,
  visibility TEXT,
  authorized BOOLEAN,
  updates_json TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  received_at BIGINT NOT NULL,
  available_at BIGINT NOT NULL,
  last_error TEXT NOT NULL
);
CREATE INDEX event_queue_by_available ON event_queue (available_at, seq);
CREATE INDEX event_queue_by_owner ON event_queue (owner_id);

CREATE TABLE received_events (
  dedup_key TEXT COLLATE "C" PRIMARY KEY,
  received_at BIGINT NOT NULL
);
CREATE INDEX received_events_by_time ON received_events (received_at);

CREATE TABLE dead_letters (
  seq BIGINT PRIMARY KEY,
  object_type TEXT NOT NULL,
  object_id BIGINT NOT NULL,
  aspect_type TEXT NOT NULL,
  owner_id BIGINT NOT NULL,
  subscription_id BIGINT NOT NULL,
  event_time BIGINT NOT NULL,
  title TEXT,
  type TEXT,
  is_private BOOLEAN,
  visibility TEXT,
  authorized BOOLEAN,
  updates_json TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  received_at BIGINT NOT NULL,
  available_at BIGINT NOT NULL,
  last_error TEXT NOT NULL,
  dead_at BIGINT NOT NULL
);
CREATE INDEX dead_letters_by_owner ON dead_letters (owner_id);

CREATE SEQUENCE dirty_generations;
CREATE TABLE dirty_years (
  athlete_id BIGINT NOT NULL,
  year INTEGER NOT NULL,
  generation BIGINT NOT NULL,
  claimed_until BIGINT NOT NULL,
  PRIMARY KEY (athlete_id, year)
);
)sql";

// Version 3: tombstones. A delete confirmed (ports::ArchiveRequest) for an
// id that is not stored yet leaves no row in deleted_activities, whose
// columns are the activity's; yet an older copy may still be on its way (a
// backfill page in a run's write-ahead, another process's fetch) and must be
// fenced out like an archived one. One row per (athlete, id), the latest
// delete; pruned after ports::kTombstoneRetentionS; never an archived
// activity (not counted, not listed).
constexpr const char* kV3 = R"sql(
CREATE TABLE IF NOT EXISTS activity_tombstones (
  athlete_id BIGINT NOT NULL,
  id BIGINT NOT NULL,
  deleted_at BIGINT NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (athlete_id, id)
);
)sql";

constexpr Migration kMigrations[] = {
    {1, "activities, archive, daily totals, tokens, rate budget, checkpoints, run ids, goals", kV1},
    {2, "live pipeline: event queue, received event keys, dead letters, dirty years", kV2},
    {3, "tombstones: deletes confirmed for ids not stored yet (fencing)", kV3},
};

// Serialises Migrate() across processes (pg_advisory_xact_lock key; any
// fixed value that no other lock of this schema uses: see LockKey in
// activity_ops.cc, whose keys are hashes).
constexpr int64_t kMigrationLock = 0x646c5f6d69677261;  // "dl_migra"

constexpr const char* kCreateMigrations =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
    "applied_at BIGINT NOT NULL)";
constexpr const char* kRecordMigration =
    "INSERT INTO schema_migrations (version, description, applied_at) "
    "VALUES ($1, $2, extract(epoch FROM now())::bigint)";

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

int LatestVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

Result<int> CurrentVersion(Connection& c) {
  auto exists = c.Exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists) return std::unexpected(exists.error());
  if (!exists->Bool(0, 0)) return 0;
  auto max = c.Exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!max) return std::unexpected(max.error());
  return static_cast<int>(max->Int64(0, 0));
}

Status ApplyMigrations(ConnectionPool& pool) {
  return InTransaction(pool, Durability::kFull, [](Connection& c) -> Status {
    if (auto lock = c.Exec("SELECT pg_advisory_xact_lock($1)", {Param::Int8(kMigrationLock)}); !lock)
      return std::unexpected(lock.error());
    if (auto s = c.Run(kCreateMigrations); !s) return s;
    auto current = CurrentVersion(c);
    if (!current) return std::unexpected(current.error());
    if (*current > LatestVersion()) {
      return Fail(ErrorCode::kIo,
                  Describe(c.target(), "database schema is at version " + std::to_string(*current) +
                                           ", newer than this program supports (" + std::to_string(LatestVersion()) +
                                           "): use a newer desirelines"));
    }
    for (const Migration& m : kMigrations) {
      if (m.version <= *current) continue;
      if (auto s = c.Run(m.sql); !s) {
        return Fail(ErrorCode::kIo, "migration " + std::to_string(m.version) + " failed: " + s.error().message);
      }
      auto record = c.Exec(kRecordMigration, {Param::Int4(m.version), Param::Text(m.description)});
      if (!record) return std::unexpected(record.error());
    }
    return Ok();
  });
}

}  // namespace dl::adapters::postgres
