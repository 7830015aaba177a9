// Internal to the PostgreSQL adapter: the activity and aggregate work of
// PostgresStore. Every function runs inside the caller's transaction
// (InTransaction in pool.h); nothing here commits.
//
// Locking, so that several processes never lose an update to the aggregates:
// - every mutation of an athlete's activities first takes that athlete's
//   advisory lock in shared mode; DeleteAthleteData takes it exclusively;
// - existing activity rows are locked (SELECT ... FOR UPDATE, in key order)
//   before their state is read, so the decision inserted / updated /
//   unchanged / fenced and the old local date are those of the latest commit;
// - the daily totals of an (athlete, local year) are recomputed only under
//   that year's advisory lock, taken after every activity write of the
//   transaction and held until commit. The last transaction to recompute a
//   day therefore sees every committed change to that day's activities.
// Locks of one kind are always taken in ascending key order.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/activity.h"
#include "core/aggregates.h"
#include "core/sports.h"
#include "ports/store.h"

namespace dl::adapters::postgres {

class Connection;

// Local dates ('YYYY-MM-DD') whose daily totals must be recomputed, per athlete.
using TouchedDays = std::map<int64_t, std::set<std::string>>;

Status LockAthletesShared(Connection& c, const std::set<int64_t>& athletes);
Status LockAthleteExclusive(Connection& c, int64_t athlete_id);

// Upserts every activity (in order; a repeated id sees the earlier write),
// one statement per kind of write for the whole batch, and records the days
// whose totals changed in `touched`. The caller holds the athletes' locks.
Result<ports::UpsertSummary> UpsertBatch(Connection& c, const core::SportCategories& categories,
                                         std::span<const core::Activity> activities,
                                         const ports::UpsertOptions& options, TouchedDays& touched);

// Moves the requested rows to deleted_activities; fenced rows stay.
Result<int64_t> ArchiveBatch(Connection& c, const ports::ArchiveRequest& request, TouchedDays& touched);

// Takes the (athlete, year) locks of the touched days, then rewrites their
// daily_totals rows from the activities of those days and marks their
// (athlete, year)s dirty for the aggregator.
Status RecomputeDays(Connection& c, const core::SportCategories& categories, const TouchedDays& touched);

// Re-categorises the year's activities and rewrites the year's daily rows
// (the year is marked dirty).
Status RebuildYearRows(Connection& c, const core::SportCategories& categories, int64_t athlete_id, int year);

Result<std::vector<core::Activity>> ReadActivities(Connection& c, int64_t athlete_id, int year);
// lock: SELECT ... FOR UPDATE (the row stays locked until the caller commits).
Result<std::optional<core::Activity>> ReadActivity(Connection& c, int64_t athlete_id, int64_t id, bool lock = false);
Result<std::vector<core::DailyTotals>> ReadDaily(Connection& c, int64_t athlete_id, int year,
                                                 const std::string& category);

// Checkpoints are written from two places (SaveCheckpoint and an upsert's
// options), always through this.
Status WriteCheckpoint(Connection& c, const std::string& key, const std::string& value);

// Applies a webhook's fields to the stored row (locked first) through the
// upsert path, so the category, the local date, the content hash and the
// touched days all follow, stamped as a webhook change. false when the row
// is not stored.
Result<bool> PatchOne(Connection& c, const core::SportCategories& categories, const ports::ActivityPatch& patch,
                      TouchedDays& touched);

// "YYYY-01-01" and "YYYY-12-31".
std::string FirstDay(int year);
std::string LastDay(int year);

}  // namespace dl::adapters::postgres
