#include "adapters/postgres/activity_ops.h"

#include <algorithm>
#include <bit>
#include <charconv>

#include "adapters/postgres/activity_columns.h"
#include "adapters/postgres/connection.h"
#include "adapters/postgres/pipeline_ops.h"

namespace dl::adapters::postgres {
namespace {

using core::Activity;

constexpr const char* kLockShared = "SELECT count(pg_advisory_xact_lock_shared(k)) FROM unnest($1::bigint[]) AS k";
constexpr const char* kLockExclusive = "SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS k";
constexpr const char* kSelectStates =
    "SELECT a.athlete_id, a.id, a.content_hash, a.webhook_changed_at, a.seen_by_run, a.local_date, a.category "
    "FROM activities a JOIN unnest($1::bigint[], $2::bigint[]) AS k(athlete_id, id) "
    "ON a.athlete_id = k.athlete_id AND a.id = k.id ORDER BY a.athlete_id, a.id FOR UPDATE OF a";
// Archived, or deleted before it was stored (a tombstone), at or after $3.
constexpr const char* kArchivedSince =
    "SELECT d.athlete_id, d.id FROM deleted_activities d "
    "JOIN unnest($1::bigint[], $2::bigint[]) AS k(athlete_id, id) ON d.athlete_id = k.athlete_id AND d.id = k.id "
    "WHERE d.deleted_at >= $3 "
    "UNION SELECT t.athlete_id, t.id FROM activity_tombstones t "
    "JOIN unnest($1::bigint[], $2::bigint[]) AS k(athlete_id, id) ON t.athlete_id = k.athlete_id AND t.id = k.id "
    "WHERE t.deleted_at >= $3";
constexpr const char* kRememberDeleted =
    "INSERT INTO activity_tombstones (athlete_id, id, deleted_at, reason) "
    "SELECT $1, id, $3, $4 FROM unnest($2::bigint[]) AS u(id) ON CONFLICT (athlete_id, id) DO UPDATE SET deleted_at = excluded.deleted_at, reason = excluded.reason "
    "WHERE excluded.deleted_at > activity_tombstones.deleted_at";
constexpr const char* kPruneTombstones = "DELETE FROM activity_tombstones WHERE athlete_id = $1 AND deleted_at < $2";
constexpr const char* kStamp =
    "UPDATE activities a SET seen_by_run = u.seen_by_run, webhook_changed_at = u.webhook_changed_at, "
    "category = u.category FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[]) "
    "AS u(athlete_id, id, seen_by_run, webhook_changed_at, category) "
    "WHERE a.athlete_id = u.athlete_id AND a.id = u.id";
constexpr const char* kSelectForArchive =
    "SELECT id, webhook_changed_at, local_date FROM activities WHERE athlete_id = $1 AND id = ANY($2) "
    "ORDER BY id FOR UPDATE";
constexpr const char* kDeleteActivities = "DELETE FROM activities WHERE athlete_id = $1 AND id = ANY($2)";
constexpr const char* kDeleteDays = "DELETE FROM daily_totals WHERE athlete_id = $1 AND local_date = ANY($2)";
constexpr const char* kSelectDays =
    "SELECT id, type, sport_type, distance_m, moving_time_s, total_elevation_gain_m, start_date_local "
    "FROM activities WHERE athlete_id = $1 AND local_date = ANY($2)";
constexpr const char* kSelectYear =
    "SELECT id, type, sport_type, distance_m, moving_time_s, total_elevation_gain_m, start_date_local, category "
    "FROM activities WHERE athlete_id = $1 AND local_date BETWEEN $2 AND $3 ORDER BY id FOR UPDATE";
constexpr const char* kSetCategories =
    "UPDATE activities a SET category = u.category FROM unnest($2::bigint[], $3::text[]) AS u(id, category) "
    "WHERE a.athlete_id = $1 AND a.id = u.id";
constexpr const char* kDeleteYearDays =
    "DELETE FROM daily_totals WHERE athlete_id = $1 AND local_date BETWEEN $2 AND $3";
constexpr const char* kInsertDays =
    "INSERT INTO daily_totals (athlete_id, local_date, category, distance_mm, moving_time_s, elevation_gain_cm, "
    "count, activity_ids) SELECT $1, d, c, mm, s, cm, n, ids::bigint[] "
    "FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[]) "
    "AS u(d, c, mm, s, cm, n, ids)";
constexpr const char* kSelectDaily =
    "SELECT local_date, category, distance_mm, moving_time_s, elevation_gain_cm, count, activity_ids "
    "FROM daily_totals WHERE athlete_id = $1 AND local_date BETWEEN $2 AND $3 AND ($4 = '' OR category = $4) "
    "ORDER BY local_date, category";
constexpr const char* kSaveCheckpoint =
    "INSERT INTO checkpoints (key, value, athlete_id, updated_at) "
    "VALUES ($1, $2, $3, extract(epoch FROM now())::bigint) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, athlete_id = excluded.athlete_id, "
    "updated_at = excluded.updated_at";

// Advisory lock keys: a hash of (kind, a, b), so that different kinds never
// share a key except by a 2^-64 accident (which only serialises more).
enum class LockKind : uint64_t { kAthlete = 1, kYear = 2 };

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

int64_t LockKey(LockKind kind, int64_t a, int64_t b = 0) {
  uint64_t x = Mix(static_cast<uint64_t>(kind) * 0x9E3779B97F4A7C15ULL ^ static_cast<uint64_t>(a));
  return std::bit_cast<int64_t>(Mix(x ^ static_cast<uint64_t>(b)));
}

// Locks the keys in ascending order (unnest hands them to the aggregate in
// array order), so that two transactions never wait on each other in a cycle.
Status LockKeys(Connection& c, std::vector<int64_t> keys, bool shared) {
  if (keys.empty()) return Ok();
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  ArrayBuilder array(oid::kInt8);
  for (int64_t k : keys) array.AddInt8(k);
  auto r = c.Exec(shared ? kLockShared : kLockExclusive, {array.Finish()});
  if (!r) return std::unexpected(r.error());
  return Ok();
}

Param Int8Array(std::span<const int64_t> values) {
  ArrayBuilder array(oid::kInt8);
  for (int64_t v : values) array.AddInt8(v);
  return array.Finish();
}

Param TextArray(const std::set<std::string>& values) {
  ArrayBuilder array(oid::kText);
  for (const auto& v : values) array.AddBytes(v);
  return array.Finish();
}

int YearOf(const std::string& local_date) {
  int year = 0;
  std::from_chars(local_date.data(), local_date.data() + std::min<size_t>(4, local_date.size()), year);
  return year;
}

// ---- upsert ----

using Key = std::pair<int64_t, int64_t>;  // (athlete_id, id)

// One (athlete, id) of the batch: what is stored, updated as the batch's
// activities are applied in order, and what must be written at the end.
struct Slot {
  bool in_db = false;           // stored before this transaction
  bool exists = false;          // stored, or inserted earlier in this batch
  bool archived_since = false;  // archived at or after the fence (absent rows only)
  std::string hash;
  std::optional<int64_t> webhook_changed_at;
  std::optional<int64_t> seen_by_run;
  std::optional<std::string> local_date;
  std::string category;
  const Activity* data = nullptr;  // the data to write, if any
  bool restamp = false;            // bookkeeping to write without data
};

using Slots = std::map<Key, Slot>;

Status LoadSlots(Connection& c, std::span<const Activity> activities, int64_t fence_epoch_s, Slots& slots) {
  for (const auto& a : activities) slots[{a.athlete_id, a.id}];
  std::vector<int64_t> athletes, ids;
  for (const auto& [key, slot] : slots) {
    athletes.push_back(key.first);
    ids.push_back(key.second);
  }
  auto rows = c.Exec(kSelectStates, {Int8Array(athletes), Int8Array(ids)});
  if (!rows) return std::unexpected(rows.error());
  for (int r = 0; r < rows->size(); ++r) {
    Slot& s = slots[{rows->Int64(r, 0), rows->Int64(r, 1)}];
    s.in_db = s.exists = true;
    s.hash = rows->Text(r, 2);
    s.webhook_changed_at = rows->OptionalInt64(r, 3);
    s.seen_by_run = rows->OptionalInt64(r, 4);
    s.local_date = rows->OptionalText(r, 5);
    s.category = rows->Text(r, 6);
  }
  if (fence_epoch_s <= 0 || static_cast<size_t>(rows->size()) == slots.size()) return Ok();
  // Absent rows removed after the run started (e.g. a confirmed delete
  // webhook): the caller's copy is older than that removal.
  athletes.clear();
  ids.clear();
  for (const auto& [key, slot] : slots) {
    if (slot.in_db) continue;
    athletes.push_back(key.first);
    ids.push_back(key.second);
  }
  auto archived = c.Exec(kArchivedSince, {Int8Array(athletes), Int8Array(ids), Param::Int8(fence_epoch_s)});
  if (!archived) return std::unexpected(archived.error());
  for (int r = 0; r < archived->size(); ++r)
    slots[{archived->Int64(r, 0), archived->Int64(r, 1)}].archived_since = true;
  return Ok();
}

enum class Outcome { kInserted, kUpdated, kUnchanged, kFenced };

// One activity against its slot, as SqliteStore decides it row by row.
Outcome Apply(Slot& s, const Activity& a, const core::SportCategories& categories, const ports::UpsertOptions& options,
              std::set<std::string>& days) {
  const std::optional<int64_t> run = options.seen_by_run != 0 ? std::optional(options.seen_by_run) : std::nullopt;
  const bool stamp_run = run && (!s.exists || s.seen_by_run != run);
  const bool fenced =
      s.exists && options.fence_epoch_s > 0 && s.webhook_changed_at && *s.webhook_changed_at >= options.fence_epoch_s;
  if (fenced) {
    if (stamp_run) {
      s.seen_by_run = run;
      s.restamp = true;
    }
    return Outcome::kFenced;
  }
  if (!s.exists && s.archived_since) return Outcome::kFenced;
  std::string category = categories.Categorize(a);
  std::optional<std::string> local_date;
  if (auto date = a.LocalDate()) local_date = core::FormatDate(*date);
  std::string hash = ContentHash(a);
  if (s.exists && !hash.empty() && s.hash == hash) {
    // Same data; a category that differs means the categories changed since
    // it was stored: fix it and its day so the aggregates follow.
    const bool recategorise = s.category != category;
    if (stamp_run) s.seen_by_run = run;
    if (options.from_webhook) s.webhook_changed_at = options.now_epoch_s;
    if (recategorise) s.category = std::move(category);
    if (recategorise && local_date) days.insert(*local_date);
    s.restamp = s.restamp || stamp_run || options.from_webhook || recategorise;
    return Outcome::kUnchanged;
  }
  if (s.exists && s.local_date) days.insert(*s.local_date);
  if (local_date) days.insert(*local_date);
  const bool existed = s.exists;
  s.exists = true;
  s.hash = std::move(hash);
  s.category = std::move(category);
  s.local_date = std::move(local_date);
  if (options.from_webhook) s.webhook_changed_at = options.now_epoch_s;
  if (run) s.seen_by_run = run;
  s.data = &a;
  return existed ? Outcome::kUpdated : Outcome::kInserted;
}

// One array per column of ActivitySql::insert/update, over `rows`.
std::vector<Param> RowArrays(const std::vector<const Slot*>& rows, int64_t now_epoch_s) {
  std::vector<Param> params;
  for (const auto& column : ActivityColumns()) {
    ArrayBuilder array(column.element_oid);
    for (const Slot* s : rows) column.append(array, *s->data);
    params.push_back(array.Finish());
  }
  ArrayBuilder raw(oid::kBytea), category(oid::kText), local_date(oid::kText), start(oid::kInt8), hash(oid::kBytea),
      first_seen(oid::kInt8), updated(oid::kInt8), webhook(oid::kInt8), seen(oid::kInt8);
  for (const Slot* s : rows) {
    raw.AddBytes(s->data->raw_json);
    category.AddBytes(s->category);
    local_date.AddOptional(s->local_date);
    auto utc = s->data->StartUtc();
    start.AddOptional(utc ? std::optional<int64_t>(utc->time_since_epoch().count()) : std::nullopt);
    hash.AddBytes(s->hash);
    first_seen.AddInt8(now_epoch_s);
    updated.AddInt8(now_epoch_s);
    webhook.AddOptional(s->webhook_changed_at);
    seen.AddOptional(s->seen_by_run);
  }
  for (const ArrayBuilder* a : {&raw, &category, &local_date, &start, &hash, &first_seen, &updated, &webhook, &seen})
    params.push_back(a->Finish());
  return params;
}

Status WriteStamps(Connection& c, const Slots& slots) {
  ArrayBuilder athletes(oid::kInt8), ids(oid::kInt8), seen(oid::kInt8), webhook(oid::kInt8), category(oid::kText);
  for (const auto& [key, s] : slots) {
    if (s.data != nullptr || !s.restamp || !s.in_db) continue;
    athletes.AddInt8(key.first);
    ids.AddInt8(key.second);
    seen.AddOptional(s.seen_by_run);
    webhook.AddOptional(s.webhook_changed_at);
    category.AddBytes(s.category);
  }
  if (athletes.size() == 0) return Ok();
  auto r = c.Exec(kStamp, {athletes.Finish(), ids.Finish(), seen.Finish(), webhook.Finish(), category.Finish()});
  if (!r) return std::unexpected(r.error());
  return Ok();
}

// Inserts, updates and restamps: one statement each for the whole batch,
// rows in key order.
Status WriteSlots(Connection& c, const Slots& slots, int64_t now_epoch_s) {
  std::vector<const Slot*> inserts, updates;
  for (const auto& [key, s] : slots) {
    if (s.data != nullptr) (s.in_db ? updates : inserts).push_back(&s);
  }
  if (!inserts.empty()) {
    auto r = c.Exec(Sql().insert, RowArrays(inserts, now_epoch_s));
    if (!r) return std::unexpected(r.error());
  }
  if (!updates.empty()) {
    auto r = c.Exec(Sql().update, RowArrays(updates, now_epoch_s));
    if (!r) return std::unexpected(r.error());
  }
  return WriteStamps(c, slots);
}

// ---- aggregates ----

// The fields the daily math needs, from a row of kSelectDays/kSelectYear.
Activity ReadSummaryFields(const Rows& rows, int r) {
  Activity a;
  a.id = rows.Int64(r, 0);
  a.type = rows.Text(r, 1);
  a.sport_type = rows.Text(r, 2);
  a.distance_m = rows.Double(r, 3);
  a.moving_time_s = rows.Int64(r, 4);
  a.total_elevation_gain_m = rows.Double(r, 5);
  a.start_date_local = rows.Text(r, 6);
  return a;
}

std::string PgIntArrayLiteral(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (int64_t id : ids) {
    if (out.size() > 1) out += ',';
    out += std::to_string(id);
  }
  return out + "}";
}

Status InsertDays(Connection& c, int64_t athlete_id, const std::vector<core::DailyTotals>& days) {
  if (days.empty()) return Ok();
  ArrayBuilder date(oid::kText), category(oid::kText), mm(oid::kInt8), s(oid::kInt8), cm(oid::kInt8), count(oid::kInt8),
      ids(oid::kText);
  for (const auto& d : days) {
    date.AddBytes(core::FormatDate(d.date));
    category.AddBytes(d.category);
    mm.AddInt8(d.distance_mm);
    s.AddInt8(d.moving_time_s);
    cm.AddInt8(d.elevation_gain_cm);
    count.AddInt8(d.count);
    ids.AddBytes(PgIntArrayLiteral(d.activity_ids));
  }
  auto r = c.Exec(kInsertDays, {Param::Int8(athlete_id), date.Finish(), category.Finish(), mm.Finish(), s.Finish(),
                                cm.Finish(), count.Finish(), ids.Finish()});
  if (!r) return std::unexpected(r.error());
  return Ok();
}

Status RecomputeAthleteDays(Connection& c, const core::SportCategories& categories, int64_t athlete_id,
                            const std::set<std::string>& dates) {
  const Param dates_param = TextArray(dates);
  if (auto del = c.Exec(kDeleteDays, {Param::Int8(athlete_id), dates_param}); !del) return std::unexpected(del.error());
  auto rows = c.Exec(kSelectDays, {Param::Int8(athlete_id), dates_param});
  if (!rows) return std::unexpected(rows.error());
  std::vector<Activity> activities;
  activities.reserve(static_cast<size_t>(rows->size()));
  for (int r = 0; r < rows->size(); ++r) activities.push_back(ReadSummaryFields(*rows, r));
  return InsertDays(c, athlete_id, core::SummarizeDays(activities, categories));
}

Result<core::Activity> ReadFullRow(const Rows& rows, int r) {
  Activity a;
  int column = 0;
  for (const auto& c : ActivityColumns()) c.read(rows, r, column++, a);
  a.raw_json = rows.Text(r, column);
  return a;
}

// ---- archive ----

// The requested ids (ascending) that `stored` (kSelectForArchive, by id) lacks
// are remembered as deleted: an older copy may still be on its way (a
// backfill page in a run's write-ahead, another process's fetch); the
// tombstone keeps it out (LoadSlots). Not an archived activity: never
// counted or listed. The athlete's expired tombstones go first.
Status RememberAbsent(Connection& c, const ports::ArchiveRequest& request, const std::vector<int64_t>& requested,
                      const Rows& stored) {
  std::vector<int64_t> absent;
  int r = 0;
  for (int64_t id : requested) {
    if (r < stored.size() && stored.Int64(r, 0) == id) {
      ++r;
      continue;
    }
    absent.push_back(id);
  }
  if (absent.empty()) return Ok();
  const Param athlete = Param::Int8(request.athlete_id);
  auto pruned = c.Exec(kPruneTombstones, {athlete, Param::Int8(request.now_epoch_s - ports::kTombstoneRetentionS)});
  if (!pruned) return std::unexpected(pruned.error());
  auto remembered = c.Exec(kRememberDeleted, {athlete, Int8Array(absent), Param::Int8(request.now_epoch_s),
                                              Param::Text(request.reason)});
  if (!remembered) return std::unexpected(remembered.error());
  return Ok();
}

}  // namespace

std::string FirstDay(int year) {
  return core::FormatDate(core::Date{std::chrono::year{year}, std::chrono::January, std::chrono::day{1}});
}

std::string LastDay(int year) {
  return core::FormatDate(core::Date{std::chrono::year{year}, std::chrono::December, std::chrono::day{31}});
}

Status LockAthletesShared(Connection& c, const std::set<int64_t>& athletes) {
  std::vector<int64_t> keys;
  for (int64_t a : athletes) keys.push_back(LockKey(LockKind::kAthlete, a));
  return LockKeys(c, std::move(keys), /*shared=*/true);
}

Status LockAthleteExclusive(Connection& c, int64_t athlete_id) {
  return LockKeys(c, {LockKey(LockKind::kAthlete, athlete_id)}, /*shared=*/false);
}

Result<ports::UpsertSummary> UpsertBatch(Connection& c, const core::SportCategories& categories,
                                         std::span<const core::Activity> activities,
                                         const ports::UpsertOptions& options, TouchedDays& touched) {
  ports::UpsertSummary summary;
  if (activities.empty()) return summary;
  Slots slots;
  if (auto s = LoadSlots(c, activities, options.fence_epoch_s, slots); !s) return std::unexpected(s.error());
  for (const auto& a : activities) {
    switch (Apply(slots.at({a.athlete_id, a.id}), a, categories, options, touched[a.athlete_id])) {
      case Outcome::kInserted:
        ++summary.inserted;
        break;
      case Outcome::kUpdated:
        ++summary.updated;
        break;
      case Outcome::kUnchanged:
        ++summary.unchanged;
        break;
      case Outcome::kFenced:
        ++summary.fenced;
        break;
    }
  }
  if (auto s = WriteSlots(c, slots, options.now_epoch_s); !s) return std::unexpected(s.error());
  return summary;
}

Result<int64_t> ArchiveBatch(Connection& c, const ports::ArchiveRequest& request, TouchedDays& touched) {
  std::vector<int64_t> requested(request.ids.begin(), request.ids.end());
  std::sort(requested.begin(), requested.end());
  requested.erase(std::unique(requested.begin(), requested.end()), requested.end());
  if (requested.empty()) return 0;
  const Param athlete = Param::Int8(request.athlete_id);
  auto rows = c.Exec(kSelectForArchive, {athlete, Int8Array(requested)});
  if (!rows) return std::unexpected(rows.error());
  if (auto s = RememberAbsent(c, request, requested, *rows); !s) return std::unexpected(s.error());
  std::vector<int64_t> ids;
  for (int r = 0; r < rows->size(); ++r) {
    const auto webhook = rows->OptionalInt64(r, 1);
    if (request.fence_epoch_s > 0 && webhook && *webhook >= request.fence_epoch_s) continue;  // fenced
    ids.push_back(rows->Int64(r, 0));
    if (auto date = rows->OptionalText(r, 2)) touched[request.athlete_id].insert(*date);
  }
  if (ids.empty()) return 0;
  const Param ids_param = Int8Array(ids);
  auto copy =
      c.Exec(Sql().archive, {athlete, ids_param, Param::Int8(request.now_epoch_s), Param::Text(request.reason)});
  if (!copy) return std::unexpected(copy.error());
  auto del = c.Exec(kDeleteActivities, {athlete, ids_param});
  if (!del) return std::unexpected(del.error());
  return del->affected();
}

Status RecomputeDays(Connection& c, const core::SportCategories& categories, const TouchedDays& touched) {
  std::vector<int64_t> keys;
  for (const auto& [athlete_id, dates] : touched) {
    for (const auto& d : dates) keys.push_back(LockKey(LockKind::kYear, athlete_id, YearOf(d)));
  }
  if (auto s = LockKeys(c, std::move(keys), /*shared=*/false); !s) return s;
  for (const auto& [athlete_id, dates] : touched) {
    if (dates.empty()) continue;
    if (auto s = RecomputeAthleteDays(c, categories, athlete_id, dates); !s) return s;
    std::set<int> years;
    for (const auto& d : dates) {
      if (YearOf(d) > 0) years.insert(YearOf(d));
    }
    if (auto s = MarkDirtyYears(c, athlete_id, years); !s) return s;
  }
  return Ok();
}

Status RebuildYearRows(Connection& c, const core::SportCategories& categories, int64_t athlete_id, int year) {
  const Param athlete = Param::Int8(athlete_id), first = Param::Text(FirstDay(year)), last = Param::Text(LastDay(year));
  auto rows = c.Exec(kSelectYear, {athlete, first, last});
  if (!rows) return std::unexpected(rows.error());
  std::vector<Activity> activities;
  ArrayBuilder ids(oid::kInt8), new_categories(oid::kText);
  for (int r = 0; r < rows->size(); ++r) {
    activities.push_back(ReadSummaryFields(*rows, r));
    const std::string category = categories.Categorize(activities.back());
    if (category == rows->View(r, 7)) continue;
    ids.AddInt8(activities.back().id);
    new_categories.AddBytes(category);
  }
  if (ids.size() > 0) {
    auto set = c.Exec(kSetCategories, {athlete, ids.Finish(), new_categories.Finish()});
    if (!set) return std::unexpected(set.error());
  }
  if (auto s = LockKeys(c, {LockKey(LockKind::kYear, athlete_id, year)}, false); !s) return s;
  if (auto del = c.Exec(kDeleteYearDays, {athlete, first, last}); !del) return std::unexpected(del.error());
  if (auto s = MarkDirtyYears(c, athlete_id, {year}); !s) return s;
  return InsertDays(c, athlete_id, core::SummarizeDays(activities, categories));
}

Result<std::vector<core::Activity>> ReadActivities(Connection& c, int64_t athlete_id, int year) {
  auto rows =
      c.Exec(Sql().select_range, {Param::Int8(athlete_id), Param::Text(FirstDay(year)), Param::Text(LastDay(year))});
  if (!rows) return std::unexpected(rows.error());
  std::vector<Activity> out;
  out.reserve(static_cast<size_t>(rows->size()));
  for (int r = 0; r < rows->size(); ++r) {
    auto a = ReadFullRow(*rows, r);
    if (!a) return std::unexpected(a.error());
    out.push_back(std::move(*a));
  }
  return out;
}

Result<std::optional<core::Activity>> ReadActivity(Connection& c, int64_t athlete_id, int64_t id, bool lock) {
  auto rows = c.Exec(lock ? Sql().select_one_for_update : Sql().select_one, {Param::Int8(athlete_id), Param::Int8(id)});
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::nullopt;
  auto a = ReadFullRow(*rows, 0);
  if (!a) return std::unexpected(a.error());
  return std::optional<Activity>(std::move(*a));
}

Result<std::vector<core::DailyTotals>> ReadDaily(Connection& c, int64_t athlete_id, int year,
                                                 const std::string& category) {
  auto rows = c.Exec(kSelectDaily, {Param::Int8(athlete_id), Param::Text(FirstDay(year)), Param::Text(LastDay(year)),
                                    Param::Text(category)});
  if (!rows) return std::unexpected(rows.error());
  std::vector<core::DailyTotals> out;
  for (int r = 0; r < rows->size(); ++r) {
    auto date = core::ParseDate(rows->View(r, 0));
    if (!date) return Fail(ErrorCode::kIo, Describe(c.target(), "bad local_date in daily_totals"));
    core::DailyTotals d;
    d.date = *date;
    d.category = rows->Text(r, 1);
    d.distance_mm = rows->Int64(r, 2);
    d.moving_time_s = rows->Int64(r, 3);
    d.elevation_gain_cm = rows->Int64(r, 4);
    d.count = rows->Int64(r, 5);
    d.activity_ids = rows->Int64Array(r, 6);
    out.push_back(std::move(d));
  }
  return out;
}

Status WriteCheckpoint(Connection& c, const std::string& key, const std::string& value) {
  const std::optional<int64_t> athlete_id = ports::CheckpointAthlete(key);
  auto r = c.Exec(kSaveCheckpoint, {Param::Text(key), Param::Text(value), Param::OptionalInt8(athlete_id)});
  if (!r) return std::unexpected(r.error());
  return Ok();
}

Result<bool> PatchOne(Connection& c, const core::SportCategories& categories, const ports::ActivityPatch& patch,
                      TouchedDays& touched) {
  auto stored = ReadActivity(c, patch.athlete_id, patch.id, /*lock=*/true);
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return false;
  Activity a = std::move(**stored);
  if (patch.name) a.name = *patch.name;
  if (patch.type) a.type = a.sport_type = *patch.type;
  if (patch.is_private) a.is_private = *patch.is_private;
  if (patch.visibility) a.visibility = *patch.visibility;
  ports::UpsertOptions options;
  options.now_epoch_s = patch.now_epoch_s;
  options.from_webhook = true;
  auto written = UpsertBatch(c, categories, std::span(&a, 1), options, touched);
  if (!written) return std::unexpected(written.error());
  return true;
}

}  // namespace dl::adapters::postgres
