// Internal to the SQLite adapter: the activity and aggregate work of
// SqliteStore. Functions that write expect the caller to hold an open write
// transaction (Connection::Begin) and to commit it; nothing here commits.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "adapters/sqlite/raw_codec.h"
#include "core/activity.h"
#include "core/aggregates.h"
#include "core/sports.h"
#include "ports/store.h"

namespace dl::adapters::sqlite {

class Connection;

// What SqliteStore::PrepareUpsert computes ahead, per activity, in the
// batch's order: the content hash, the raw JSON as it will be stored, the
// category and the local date.
class PreparedRows final : public ports::PreparedUpsert {
 public:
  struct Row {
    int64_t id = 0;
    size_t raw_size = 0;  // with id: a cheap check that the row is the one prepared
    int64_t hash = 0;
    RawCodec codec = RawCodec::kPlain;
    std::string bytes;  // empty for kPlain: the activity's raw_json is stored as it is
    std::string category;
    std::optional<std::string> local_date;
  };
  std::vector<Row> rows;
};

// Hashes, categorises and encodes `activities` with `codec` (the calling
// thread's own).
std::unique_ptr<PreparedRows> PrepareRows(RawJsonCodec& codec, const core::SportCategories& categories,
                                          std::span<const core::Activity> activities);

// Local dates ('YYYY-MM-DD') whose daily totals must be recomputed, per athlete.
using TouchedDays = std::map<int64_t, std::set<std::string>>;

// Upserts every activity (in order; a repeated id sees the earlier write) and
// records the days whose totals changed in `touched`.
Result<ports::UpsertSummary> UpsertBatch(Connection& c, RawJsonCodec& codec, const core::SportCategories& categories,
                                         std::span<const core::Activity> activities,
                                         const ports::UpsertOptions& options, TouchedDays& touched);

// Moves the requested rows to deleted_activities; fenced rows stay.
Result<int64_t> ArchiveBatch(Connection& c, const ports::ArchiveRequest& request, TouchedDays& touched);

// Rewrites the daily_totals rows of the touched days from the activities of
// those days (one select per athlete), with the categories in force, and
// marks their (athlete, year)s dirty for the aggregator.
Status RecomputeDays(Connection& c, const core::SportCategories& categories, const TouchedDays& touched);

// UpsertOptions::defer_daily: instead of recomputing the touched days, records
// their (athlete, year)s in stale_years and marks them dirty. A stale year's
// daily rows are NOT to be read before RebuildYearRows (see StaleYears).
Status DeferDays(Connection& c, const TouchedDays& touched);

// The athlete's (athlete, year)s whose daily rows wait for RebuildYearRows.
Result<std::vector<int>> StaleYears(Connection& c, int64_t athlete_id);

// Re-categorises the year's activities and rewrites the year's daily rows
// (the year is marked dirty and is no longer stale).
Status RebuildYearRows(Connection& c, const core::SportCategories& categories, int64_t athlete_id, int year);

Result<std::vector<core::Activity>> ReadActivities(Connection& c, RawJsonCodec& codec, int64_t athlete_id,
                                                   const std::string& first_date, const std::string& last_date);
Result<std::optional<core::Activity>> ReadActivity(Connection& c, RawJsonCodec& codec, int64_t athlete_id, int64_t id);
Result<std::vector<core::DailyTotals>> ReadDaily(Connection& c, int64_t athlete_id, int year,
                                                 const std::string& category);

// Checkpoints are written from two places (SaveCheckpoint and an upsert's
// options), always through this.
Status WriteCheckpoint(Connection& c, const std::string& key, const std::string& value);

// Applies a webhook's fields to the stored row through the upsert path (so
// the category, the local date, the content hash and the touched days all
// follow), stamped as a webhook change. false when the row is not stored.
Result<bool> PatchOne(Connection& c, RawJsonCodec& codec, const core::SportCategories& categories,
                      const ports::ActivityPatch& patch, TouchedDays& touched);

// "YYYY-01-01" and "YYYY-12-31".
std::string FirstDay(int year);
std::string LastDay(int year);

}  // namespace dl::adapters::sqlite
