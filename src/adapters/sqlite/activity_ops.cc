#include "adapters/sqlite/activity_ops.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <deque>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "adapters/sqlite/activity_columns.h"
#include "adapters/sqlite/connection.h"
#include "adapters/sqlite/pipeline_ops.h"
#include "adapters/sqlite/raw_codec.h"

namespace dl::adapters::sqlite {
namespace {

using core::Activity;

constexpr const char* kSelectState =
    "SELECT content_hash, webhook_changed_at, seen_by_run, local_date, category, row_id FROM activities "
    "WHERE athlete_id = ?1 AND id = ?2";
// The batch forms of kSelectState and kArchivedSince: ?2 is a JSON array of ids.
constexpr const char* kSelectStates =
    "SELECT content_hash, webhook_changed_at, seen_by_run, local_date, category, row_id, id FROM activities "
    "WHERE athlete_id = ?1 AND id IN (SELECT value FROM json_each(?2))";
// Archived or never-stored-but-deleted (a tombstone) at or after ?3.
constexpr const char* kArchivedSinceAny =
    "SELECT id FROM deleted_activities WHERE athlete_id = ?1 AND deleted_at >= ?3 "
    "AND id IN (SELECT value FROM json_each(?2)) "
    "UNION SELECT id FROM activity_tombstones WHERE athlete_id = ?1 AND deleted_at >= ?3 "
    "AND id IN (SELECT value FROM json_each(?2))";
constexpr const char* kArchivedSince =
    "SELECT 1 FROM deleted_activities WHERE athlete_id = ?1 AND id = ?2 AND deleted_at >= ?3 "
    "UNION ALL SELECT 1 FROM activity_tombstones WHERE athlete_id = ?1 AND id = ?2 AND deleted_at >= ?3 LIMIT 1";
constexpr const char* kRememberDeleted =
    "INSERT INTO activity_tombstones (athlete_id, id, deleted_at, reason) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (athlete_id, id) DO UPDATE SET deleted_at = excluded.deleted_at, reason = excluded.reason "
    "WHERE excluded.deleted_at > deleted_at";
constexpr const char* kPruneTombstones = "DELETE FROM activity_tombstones WHERE athlete_id = ?1 AND deleted_at < ?2";
constexpr const char* kStamp =
    "UPDATE activities SET seen_by_run = COALESCE(?2, seen_by_run), "
    "webhook_changed_at = COALESCE(?3, webhook_changed_at), category = COALESCE(?4, category) "
    "WHERE row_id = ?1";
constexpr const char* kMaxRowId = "SELECT max(row_id) FROM activities";
constexpr const char* kInsertRaw = "INSERT INTO activity_raw (row_id, codec, raw) VALUES (?1, ?2, ?3)";
constexpr const char* kUpdateRaw = "UPDATE activity_raw SET codec = ?2, raw = ?3 WHERE row_id = ?1";
constexpr const char* kDeleteRaw = "DELETE FROM activity_raw WHERE row_id = ?1";
constexpr const char* kDeleteActivity = "DELETE FROM activities WHERE row_id = ?1";
constexpr const char* kDeleteDays =
    "DELETE FROM daily_totals WHERE athlete_id = ?1 AND local_date IN (SELECT value FROM json_each(?2))";
constexpr const char* kSelectDays =
    "SELECT id, type, sport_type, distance_m, moving_time_s, total_elevation_gain_m, start_date_local "
    "FROM activities WHERE athlete_id = ?1 AND local_date IN (SELECT value FROM json_each(?2))";
constexpr const char* kSelectYear =
    "SELECT id, type, sport_type, distance_m, moving_time_s, total_elevation_gain_m, start_date_local, category "
    "FROM activities WHERE athlete_id = ?1 AND local_date BETWEEN ?2 AND ?3 "
    // Free (rows come along activities_by_local_date) and lets SumDays sort
    // each day's shares rather than the whole year's.
    "ORDER BY local_date";
constexpr const char* kSetCategory = "UPDATE activities SET category = ?3 WHERE athlete_id = ?1 AND id = ?2";
constexpr const char* kDeleteYearDays =
    "DELETE FROM daily_totals WHERE athlete_id = ?1 AND local_date BETWEEN ?2 AND ?3";
constexpr const char* kSelectDaily =
    "SELECT local_date, category, distance_mm, moving_time_s, elevation_gain_cm, count, activity_ids "
    "FROM daily_totals WHERE athlete_id = ?1 AND local_date BETWEEN ?2 AND ?3 AND (?4 = '' OR category = ?4) "
    "ORDER BY local_date, category";
constexpr const char* kMarkStale = "INSERT OR IGNORE INTO stale_years (athlete_id, year) VALUES (?1, ?2)";
constexpr const char* kClearStale = "DELETE FROM stale_years WHERE athlete_id = ?1 AND year = ?2";
constexpr const char* kSelectStale = "SELECT year FROM stale_years WHERE athlete_id = ?1 ORDER BY year";
constexpr const char* kSaveCheckpoint =
    "INSERT INTO checkpoints (key, value, athlete_id, updated_at) "
    "VALUES (?1, ?2, ?3, CAST(strftime('%s', 'now') AS INTEGER)) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, athlete_id = excluded.athlete_id, "
    "updated_at = excluded.updated_at";

// The years of 'YYYY-MM-DD' dates.
std::set<int> YearsOf(const std::set<std::string>& dates) {
  std::set<int> years;
  for (const auto& date : dates) {
    int year = 0;
    std::from_chars(date.data(), date.data() + std::min<size_t>(date.size(), 4), year);
    if (year > 0) years.insert(year);
  }
  return years;
}

std::string JsonArrayOfDates(const std::set<std::string>& dates) {
  std::string json = "[";
  for (const auto& d : dates) {
    if (json.size() > 1) json += ',';
    json += '"' + d + '"';  // 'YYYY-MM-DD': nothing to escape
  }
  return json + "]";
}

std::string JsonArrayOfIds(const std::vector<int64_t>& ids) {
  std::string json = "[";
  for (int64_t id : ids) {
    if (json.size() > 1) json += ',';
    json += std::to_string(id);
  }
  return json + "]";
}

bool OneAthleteDistinctIds(std::span<const core::Activity> activities) {
  std::unordered_set<int64_t> ids;
  for (const auto& a : activities) {
    if (a.athlete_id != activities.front().athlete_id || !ids.insert(a.id).second) return false;
  }
  return true;
}

// What the store holds for one (athlete, id).
struct RowState {
  int64_t row_id = 0;
  int64_t hash = 0;
  std::optional<int64_t> webhook_changed_at;
  std::optional<int64_t> seen_by_run;
  std::optional<std::string> local_date;
  std::string category;
};

// A row of kSelectState or kSelectStates.
RowState ReadState(const Query& q) {
  RowState s;
  s.hash = q.Int64(0);
  if (!q.IsNull(1)) s.webhook_changed_at = q.Int64(1);
  if (!q.IsNull(2)) s.seen_by_run = q.Int64(2);
  if (!q.IsNull(3)) s.local_date = q.Text(3);
  s.category = q.Text(4);
  s.row_id = q.Int64(5);
  return s;
}

Result<std::optional<RowState>> LoadState(Connection& c, int64_t athlete_id, int64_t id) {
  auto q = c.Prepare(kSelectState);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, athlete_id);
  q->Bind(2, id);
  auto row = q->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  return ReadState(*q);
}

Result<bool> ArchivedSince(Connection& c, int64_t athlete_id, int64_t id, int64_t since_epoch_s) {
  auto q = c.Prepare(kArchivedSince);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, athlete_id);
  q->Bind(2, id);
  q->Bind(3, since_epoch_s);
  return q->Step();
}

// NULL arguments leave the stored value as it is.
Status Stamp(Connection& c, int64_t row_id, std::optional<int64_t> seen_by_run,
             std::optional<int64_t> webhook_changed_at, std::optional<std::string> category) {
  auto q = c.Prepare(kStamp);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, row_id);
  q->Bind(2, seen_by_run);
  q->Bind(3, webhook_changed_at);
  q->Bind(4, category);
  return q->Run();
}

struct RowMeta {
  std::string category;
  std::optional<std::string> local_date;
  int64_t hash = 0;
};

RowMeta MetaOf(const core::SportCategories& categories, const Activity& a) {
  RowMeta meta{categories.Categorize(a), std::nullopt, ContentHash(a)};
  if (auto date = a.LocalDate()) meta.local_date = core::FormatDate(*date);
  return meta;
}

// Binds the parameters of ActivitySql::insert/update from `i` on (the
// update's row_id excepted); `i` ends past them.
void BindRow(Query& q, int& i, const Activity& a, const RowMeta& meta, const ports::UpsertOptions& options) {
  for (const auto& column : ActivityColumns()) column.bind(q, i++, a);
  q.Bind(i++, meta.category);
  q.Bind(i++, meta.local_date);
  auto start = a.StartUtc();
  if (start)
    q.Bind(i++, static_cast<int64_t>(start->time_since_epoch().count()));
  else
    q.BindNull(i++);
  q.Bind(i++, meta.hash);
  q.Bind(i++, options.now_epoch_s);  // first_seen_at (not used by the update)
  q.Bind(i++, options.now_epoch_s);  // updated_at
  if (options.from_webhook)
    q.Bind(i++, options.now_epoch_s);
  else
    q.BindNull(i++);
  if (options.seen_by_run != 0)
    q.Bind(i++, options.seen_by_run);
  else
    q.BindNull(i++);
}

// The row's raw JSON as stored: prepared ahead, or encoded now (a view into
// `codec`'s buffer, valid until its next Encode).
EncodedRaw RawOf(RawJsonCodec& codec, const Activity& a, const PreparedRows::Row* prepared) {
  // A prepared text row carries no bytes (the JSON itself is stored).
  return prepared && prepared->codec != RawCodec::kPlain ? EncodedRaw{prepared->codec, prepared->bytes}
                                                         : codec.Encode(a.raw_json, a.map_summary_polyline);
}

// Inserts (row_id 0) or rewrites the row and its raw JSON (RawOf).
Status WriteRow(Connection& c, const Activity& a, const RowMeta& meta, const ports::UpsertOptions& options,
                int64_t row_id, const EncodedRaw& raw) {
  auto q = c.Prepare(row_id == 0 ? Sql().insert.c_str() : Sql().update.c_str());
  if (!q) return std::unexpected(q.error());
  int i = 1;
  BindRow(*q, i, a, meta, options);
  if (row_id != 0) q->Bind(Sql().row_id_param, row_id);
  DL_SQLITE_TRY(q->Run());
  const int64_t raw_row = row_id != 0 ? row_id : c.LastInsertRowId();
  auto r = c.Prepare(row_id == 0 ? kInsertRaw : kUpdateRaw);
  if (!r) return std::unexpected(r.error());
  r->Bind(1, raw_row);
  r->Bind(2, static_cast<int64_t>(raw.codec));
  r->BindBlobRef(3, raw.bytes);  // valid until the next Encode, after this Run
  return r->Run();
}

// New rows of a batch, inserted together by InsertPending after the batch's
// other writes: several rows per statement step (InsertRows).
struct PendingRow {
  const Activity* activity;
  RowMeta meta;
  EncodedRaw raw;
  std::string raw_copy;  // owns raw.bytes when they were encoded here
};
using PendingRows = std::deque<PendingRow>;  // a deque: raw.bytes may point into raw_copy

const MultiRowInsert& InsertRawRows() {
  static const MultiRowInsert kInsert("INSERT OR FAIL INTO activity_raw (row_id, codec, raw)", "(?, ?, ?)",
                                      InsertRows().max_rows());
  return kInsert;
}

// Inserts the pending rows in their order with the row ids SQLite would have
// given them one by one (max(row_id) + 1, + 2, ...: row_id is an INTEGER
// PRIMARY KEY without AUTOINCREMENT), so activity_raw.row_id can be bound
// without reading each insert's rowid back.
Status InsertPending(Connection& c, const PendingRows& pending, const ports::UpsertOptions& options) {
  if (pending.empty()) return Ok();
  int64_t max_row_id = 0;
  {
    auto q = c.Prepare(kMaxRowId);
    if (!q) return std::unexpected(q.error());
    auto row = q->Step();
    if (!row) return std::unexpected(row.error());
    if (*row && !q->IsNull(0)) max_row_id = q->Int64(0);
  }
  if (max_row_id > std::numeric_limits<int64_t>::max() - static_cast<int64_t>(pending.size())) {
    // SQLite picks free row ids at random past the largest: its own way, row by row.
    for (const auto& p : pending) DL_SQLITE_TRY(WriteRow(c, *p.activity, p.meta, options, 0, p.raw));
    return Ok();
  }
  for (size_t first = 0; first < pending.size();) {
    const int rows = static_cast<int>(std::min<size_t>(InsertRows().max_rows(), pending.size() - first));
    {
      auto q = c.Prepare(InsertRows().Sql(rows));
      if (!q) return std::unexpected(q.error());
      int i = 1;
      for (int k = 0; k < rows; ++k) {
        q->Bind(i++, max_row_id + static_cast<int64_t>(first) + k + 1);
        BindRow(*q, i, *pending[first + k].activity, pending[first + k].meta, options);
      }
      DL_SQLITE_TRY(q->Run());
    }
    {
      auto r = c.Prepare(InsertRawRows().Sql(rows));
      if (!r) return std::unexpected(r.error());
      int i = 1;
      for (int k = 0; k < rows; ++k) {
        const EncodedRaw& raw = pending[first + k].raw;
        r->Bind(i++, max_row_id + static_cast<int64_t>(first) + k + 1);
        r->Bind(i++, static_cast<int64_t>(raw.codec));
        r->BindBlobRef(i++, raw.bytes);  // the prepared rows' or raw_copy: outlive this Run
      }
      DL_SQLITE_TRY(r->Run());
    }
    first += static_cast<size_t>(rows);
  }
  return Ok();
}

enum class Outcome { kInserted, kUpdated, kUnchanged, kFenced };

bool IsFenced(const RowState& s, int64_t fence_epoch_s) {
  return fence_epoch_s > 0 && s.webhook_changed_at && *s.webhook_changed_at >= fence_epoch_s;
}

// What the store held for one activity before the batch, looked up for the
// whole batch at once (two statements instead of two per row).
struct Prior {
  std::optional<RowState> state;
  bool archived_since_fence = false;  // absent, and archived at or after the fence
};

// Reads Prior for every activity of one athlete's batch (ids distinct), in
// the batch's order.
Result<std::vector<Prior>> LoadPriors(Connection& c, std::span<const core::Activity> batch, int64_t fence_epoch_s) {
  std::vector<Prior> priors(batch.size());
  std::unordered_map<int64_t, size_t> index;
  std::vector<int64_t> ids;
  for (size_t i = 0; i < batch.size(); ++i) {
    index.emplace(batch[i].id, i);
    ids.push_back(batch[i].id);
  }
  const std::string json = JsonArrayOfIds(ids);
  const int64_t athlete_id = batch.front().athlete_id;
  size_t found = 0;
  {
    auto q = c.Prepare(kSelectStates);
    if (!q) return std::unexpected(q.error());
    q->Bind(1, athlete_id);
    q->Bind(2, json);
    DL_SQLITE_TRY(q->ForEachRow([&] {
      priors[index.at(q->Int64(6))].state = ReadState(*q);
      ++found;
    }));
  }
  if (fence_epoch_s <= 0 || found == batch.size()) return priors;
  auto q = c.Prepare(kArchivedSinceAny);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, athlete_id);
  q->Bind(2, json);
  q->Bind(3, fence_epoch_s);
  DL_SQLITE_TRY(q->ForEachRow([&] {
    priors[index.at(q->Int64(0))].archived_since_fence = true;
  }));
  return priors;
}

Result<Prior> LoadPrior(Connection& c, const Activity& a, int64_t fence_epoch_s) {
  Prior prior;
  auto state = LoadState(c, a.athlete_id, a.id);
  if (!state) return std::unexpected(state.error());
  prior.state = std::move(*state);
  if (!prior.state && fence_epoch_s > 0) {
    auto archived = ArchivedSince(c, a.athlete_id, a.id, fence_epoch_s);
    if (!archived) return std::unexpected(archived.error());
    prior.archived_since_fence = *archived;
  }
  return prior;
}

// One activity: decides from the stored hash and stamps, then writes.
Result<Outcome> UpsertOne(Connection& c, RawJsonCodec& codec, const core::SportCategories& categories,
                          const Activity& a, const Prior& prior, const ports::UpsertOptions& options,
                          const PreparedRows::Row* prepared, std::set<std::string>& days, PendingRows* pending) {
  const std::optional<RowState>* state = &prior.state;
  const std::optional<int64_t> run = options.seen_by_run != 0 ? std::optional(options.seen_by_run) : std::nullopt;
  const bool stamp_run = run && (!*state || (*state)->seen_by_run != run);
  if (*state && IsFenced(**state, options.fence_epoch_s)) {
    if (stamp_run) DL_SQLITE_TRY(Stamp(c, (*state)->row_id, run, std::nullopt, std::nullopt));
    return Outcome::kFenced;
  }
  // Removed (e.g. a confirmed delete webhook) after this run started: the
  // caller's copy is older than that removal.
  if (!*state && prior.archived_since_fence) return Outcome::kFenced;
  const RowMeta meta = prepared ? RowMeta{prepared->category, prepared->local_date, prepared->hash}
                                : MetaOf(categories, a);
  if (*state && (*state)->hash == meta.hash) {
    // Same data; a category that differs means the categories changed since
    // it was stored: fix it and its day so the aggregates follow.
    const bool recategorise = (*state)->category != meta.category;
    const std::optional<int64_t> webhook = options.from_webhook ? std::optional(options.now_epoch_s) : std::nullopt;
    if (stamp_run || webhook || recategorise) {
      DL_SQLITE_TRY(Stamp(c, (*state)->row_id, stamp_run ? run : std::nullopt, webhook,
                          recategorise ? std::optional(meta.category) : std::nullopt));
    }
    if (recategorise && meta.local_date) days.insert(*meta.local_date);
    return Outcome::kUnchanged;
  }
  if (!*state && pending) {
    // Inserted later, with the batch's other new rows (InsertPending).
    auto& p = pending->emplace_back(PendingRow{&a, meta, RawOf(codec, a, prepared), {}});
    if (!(prepared && prepared->codec != RawCodec::kPlain)) {
      p.raw_copy.assign(p.raw.bytes);  // the codec's buffer is reused by the next Encode
      p.raw.bytes = p.raw_copy;
    }
    if (meta.local_date) days.insert(*meta.local_date);
    return Outcome::kInserted;
  }
  DL_SQLITE_TRY(WriteRow(c, a, meta, options, *state ? (*state)->row_id : 0, RawOf(codec, a, prepared)));
  if (*state && (*state)->local_date) days.insert(*(*state)->local_date);
  if (meta.local_date) days.insert(*meta.local_date);
  return *state ? Outcome::kUpdated : Outcome::kInserted;
}

// Not stored (yet): an older copy may still be on its way (a backfill page
// in the run's write-ahead, another process's fetch); the tombstone keeps
// it out (LoadPriors). Not an archived activity: never counted or listed.
Status RememberDeleted(Connection& c, const ports::ArchiveRequest& request, int64_t id) {
  auto q = c.Prepare(kRememberDeleted);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, request.athlete_id);
  q->Bind(2, id);
  q->Bind(3, request.now_epoch_s);
  q->Bind(4, request.reason);
  return q->Run();
}

// Keeps the athlete's tombstones bounded: a copy older than the retention
// is no longer in flight.
Status PruneTombstones(Connection& c, const ports::ArchiveRequest& request) {
  auto q = c.Prepare(kPruneTombstones);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, request.athlete_id);
  q->Bind(2, request.now_epoch_s - ports::kTombstoneRetentionS);
  return q->Run();
}

std::vector<int64_t> ParseIds(std::string_view json) {
  std::vector<int64_t> ids;
  const char* p = json.data();
  const char* end = p + json.size();
  while (p < end) {
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
      int64_t v = 0;
      auto [next, ec] = std::from_chars(p, end, v);
      if (ec == std::errc()) ids.push_back(v);
      p = next > p ? next : p + 1;
    } else {
      ++p;
    }
  }
  return ids;
}

// The fields the daily math needs, from a row of kSelectDays/kSelectYear.
void ReadSummaryFields(const Query& q, Activity& a) {
  a.id = q.Int64(0);
  a.type.assign(q.View(1));
  a.sport_type.assign(q.View(2));
  a.distance_m = q.Double(3);
  a.moving_time_s = q.Int64(4);
  a.total_elevation_gain_m = q.Double(5);
  a.start_date_local.assign(q.View(6));
}
Activity ReadSummaryFields(const Query& q) {
  Activity a;
  ReadSummaryFields(q, a);
  return a;
}

// A year is a few hundred day rows; one statement step per row was most of
// the rebuild's insert cost. The rows never conflict: their days were
// deleted just before, and SumDays yields each (date, category) once.
constexpr int kMaxDayRows = 32;
const MultiRowInsert& InsertDayRows() {
  static const MultiRowInsert kInsert(
      "INSERT OR FAIL INTO daily_totals (athlete_id, category, local_date, distance_mm, moving_time_s, "
      "elevation_gain_cm, count, activity_ids)",
      "(?, ?, ?, ?, ?, ?, ?, ?)", kMaxDayRows);
  return kInsert;
}

Status InsertDays(Connection& c, int64_t athlete_id, const std::vector<core::DailyTotals>& days) {
  // The texts of one statement's rows, bound by reference (BindTextRef) until
  // its Run: no copy into SQLite per value.
  std::array<std::string, kMaxDayRows> dates, ids;
  for (size_t first = 0; first < days.size();) {
    const int rows = static_cast<int>(std::min<size_t>(kMaxDayRows, days.size() - first));
    auto q = c.Prepare(InsertDayRows().Sql(rows));
    if (!q) return std::unexpected(q.error());
    int i = 1;
    for (int k = 0; k < rows; ++k) {
      const core::DailyTotals& d = days[first + static_cast<size_t>(k)];
      dates[k] = core::FormatDate(d.date);
      ids[k] = JsonArrayOfIds(d.activity_ids);
      q->Bind(i++, athlete_id);
      q->BindTextRef(i++, d.category);
      q->BindTextRef(i++, dates[k]);
      q->Bind(i++, d.distance_mm);
      q->Bind(i++, d.moving_time_s);
      q->Bind(i++, d.elevation_gain_cm);
      q->Bind(i++, d.count);
      q->BindTextRef(i++, ids[k]);
    }
    DL_SQLITE_TRY(q->Run());
    first += static_cast<size_t>(rows);
  }
  return Ok();
}

Status RecomputeAthleteDays(Connection& c, const core::SportCategories& categories, int64_t athlete_id,
                            const std::set<std::string>& dates) {
  const std::string json = JsonArrayOfDates(dates);
  {
    auto del = c.Prepare(kDeleteDays);
    if (!del) return std::unexpected(del.error());
    del->Bind(1, athlete_id);
    del->Bind(2, json);
    DL_SQLITE_TRY(del->Run());
  }
  std::vector<Activity> activities;
  {
    auto q = c.Prepare(kSelectDays);
    if (!q) return std::unexpected(q.error());
    q->Bind(1, athlete_id);
    q->Bind(2, json);
    DL_SQLITE_TRY(q->ForEachRow([&] {
      activities.push_back(ReadSummaryFields(*q));
    }));
  }
  return InsertDays(c, athlete_id, core::SummarizeDays(activities, categories));
}

Result<core::Activity> ReadFullRow(const Query& q, RawJsonCodec& codec) {
  Activity a;
  int column = 0;
  for (const auto& c : ActivityColumns()) c.read(q, column++, a);
  if (!q.IsNull(column + 1)) {
    auto raw = codec.Decode(static_cast<RawCodec>(q.Int64(column)), q.View(column + 1), a.map_summary_polyline);
    if (!raw) return std::unexpected(raw.error());
    a.raw_json = std::move(*raw);
  }
  return a;
}

}  // namespace

std::unique_ptr<PreparedRows> PrepareRows(RawJsonCodec& codec, const core::SportCategories& categories,
                                          std::span<const core::Activity> activities) {
  auto out = std::make_unique<PreparedRows>();
  out->rows.reserve(activities.size());
  for (const Activity& a : activities) {
    const EncodedRaw raw = codec.Encode(a.raw_json, a.map_summary_polyline);
    std::string bytes = raw.codec == RawCodec::kPlain ? std::string() : std::string(raw.bytes);
    RowMeta meta = MetaOf(categories, a);
    out->rows.push_back({a.id, a.raw_json.size(), meta.hash, raw.codec, std::move(bytes), std::move(meta.category),
                         std::move(meta.local_date)});
  }
  return out;
}

std::string FirstDay(int year) {
  return core::FormatDate(core::Date{std::chrono::year{year}, std::chrono::January, std::chrono::day{1}});
}

std::string LastDay(int year) {
  return core::FormatDate(core::Date{std::chrono::year{year}, std::chrono::December, std::chrono::day{31}});
}

Result<ports::UpsertSummary> UpsertBatch(Connection& c, RawJsonCodec& codec, const core::SportCategories& categories,
                                         std::span<const core::Activity> activities,
                                         const ports::UpsertOptions& options, TouchedDays& touched) {
  ports::UpsertSummary summary;
  // A batch of distinct ids of one athlete (a backfill page) is looked up at
  // once; otherwise row by row, so that a repeated id sees the earlier write.
  std::vector<Prior> priors;
  const auto* prepared = dynamic_cast<const PreparedRows*>(options.prepared);
  if (prepared && prepared->rows.size() != activities.size()) prepared = nullptr;
  const bool batched = activities.size() > 1 && OneAthleteDistinctIds(activities);
  if (batched) {
    auto loaded = LoadPriors(c, activities, options.fence_epoch_s);
    if (!loaded) return std::unexpected(loaded.error());
    priors = std::move(*loaded);
  }
  PendingRows pending;
  for (size_t i = 0; i < activities.size(); ++i) {
    const auto& a = activities[i];
    if (!batched) {
      auto prior = LoadPrior(c, a, options.fence_epoch_s);
      if (!prior) return std::unexpected(prior.error());
      priors.assign(1, std::move(*prior));
    }
    const Prior& prior = batched ? priors[i] : priors.front();
    const PreparedRows::Row* row = prepared ? &prepared->rows[i] : nullptr;
    if (row && (row->id != a.id || row->raw_size != a.raw_json.size())) row = nullptr;
    // Distinct ids (batched): no row of the batch reads another's insert.
    auto outcome =
        UpsertOne(c, codec, categories, a, prior, options, row, touched[a.athlete_id], batched ? &pending : nullptr);
    if (!outcome) return std::unexpected(outcome.error());
    switch (*outcome) {
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
  DL_SQLITE_TRY(InsertPending(c, pending, options));
  return summary;
}

Result<int64_t> ArchiveBatch(Connection& c, const ports::ArchiveRequest& request, TouchedDays& touched) {
  int64_t archived = 0;
  bool pruned = false;
  for (int64_t id : std::set<int64_t>(request.ids.begin(), request.ids.end())) {
    auto state = LoadState(c, request.athlete_id, id);
    if (!state) return std::unexpected(state.error());
    if (!*state) {
      if (!pruned) DL_SQLITE_TRY(PruneTombstones(c, request));
      pruned = true;
      DL_SQLITE_TRY(RememberDeleted(c, request, id));
      continue;
    }
    if (IsFenced(**state, request.fence_epoch_s)) continue;
    auto copy = c.Prepare(Sql().archive.c_str());
    if (!copy) return std::unexpected(copy.error());
    copy->Bind(1, request.athlete_id);
    copy->Bind(2, id);
    copy->Bind(3, request.now_epoch_s);
    copy->Bind(4, request.reason);
    DL_SQLITE_TRY(copy->Run());
    for (const char* sql : {kDeleteRaw, kDeleteActivity}) {
      auto del = c.Prepare(sql);
      if (!del) return std::unexpected(del.error());
      del->Bind(1, (*state)->row_id);
      DL_SQLITE_TRY(del->Run());
    }
    if ((*state)->local_date) touched[request.athlete_id].insert(*(*state)->local_date);
    ++archived;
  }
  return archived;
}

Status RecomputeDays(Connection& c, const core::SportCategories& categories, const TouchedDays& touched) {
  for (const auto& [athlete_id, dates] : touched) {
    if (dates.empty()) continue;
    DL_SQLITE_TRY(RecomputeAthleteDays(c, categories, athlete_id, dates));
    DL_SQLITE_TRY(MarkDirtyYears(c, athlete_id, YearsOf(dates)));
  }
  return Ok();
}

Status DeferDays(Connection& c, const TouchedDays& touched) {
  for (const auto& [athlete_id, dates] : touched) {
    if (dates.empty()) continue;
    const std::set<int> years = YearsOf(dates);
    for (int year : years) {
      auto q = c.Prepare(kMarkStale);
      if (!q) return std::unexpected(q.error());
      q->Bind(1, athlete_id);
      q->Bind(2, year);
      DL_SQLITE_TRY(q->Run());
    }
    DL_SQLITE_TRY(MarkDirtyYears(c, athlete_id, years));
  }
  return Ok();
}

Result<std::vector<int>> StaleYears(Connection& c, int64_t athlete_id) {
  auto q = c.Prepare(kSelectStale);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, athlete_id);
  std::vector<int> years;
  DL_SQLITE_TRY(q->ForEachRow([&] {
    years.push_back(static_cast<int>(q->Int64(0)));
  }));
  return years;
}

Status RebuildYearRows(Connection& c, const core::SportCategories& categories, int64_t athlete_id, int year) {
  // Only what the totals need of each row (no core::Activity: a year is
  // thousands of rows, rebuilt at the end of every backfilled year).
  std::vector<core::DayShare> shares;
  std::vector<std::pair<int64_t, std::string>> recategorised;
  {
    auto q = c.Prepare(kSelectYear);
    if (!q) return std::unexpected(q.error());
    q->Bind(1, athlete_id);
    q->Bind(2, FirstDay(year));
    q->Bind(3, LastDay(year));
    Activity a;  // reused: the fields ReadSummaryFields sets
    DL_SQLITE_TRY(q->ForEachRow([&] {
      ReadSummaryFields(*q, a);
      std::string category = categories.Categorize(a);
      if (category != q->View(7)) recategorised.emplace_back(a.id, category);
      if (auto share = core::ShareOf(a, std::move(category))) shares.push_back(std::move(*share));
    }));
  }
  for (const auto& [id, category] : recategorised) {
    auto q = c.Prepare(kSetCategory);
    if (!q) return std::unexpected(q.error());
    q->Bind(1, athlete_id);
    q->Bind(2, id);
    q->Bind(3, category);
    DL_SQLITE_TRY(q->Run());
  }
  {
    auto del = c.Prepare(kDeleteYearDays);
    if (!del) return std::unexpected(del.error());
    del->Bind(1, athlete_id);
    del->Bind(2, FirstDay(year));
    del->Bind(3, LastDay(year));
    DL_SQLITE_TRY(del->Run());
  }
  DL_SQLITE_TRY(MarkDirtyYears(c, athlete_id, {year}));
  {
    auto clear = c.Prepare(kClearStale);
    if (!clear) return std::unexpected(clear.error());
    clear->Bind(1, athlete_id);
    clear->Bind(2, year);
    DL_SQLITE_TRY(clear->Run());
  }
  return InsertDays(c, athlete_id, core::SumDays(std::move(shares)));
}

Result<std::vector<core::Activity>> ReadActivities(Connection& c, RawJsonCodec& codec, int64_t athlete_id,
                                                   const std::string& first_date, const std::string& last_date) {
  auto q = c.Prepare(Sql().select_range.c_str());
  if (!q) return std::unexpected(q.error());
  q->Bind(1, athlete_id);
  q->Bind(2, first_date);
  q->Bind(3, last_date);
  std::vector<Activity> out;
  DL_SQLITE_TRY(q->ForEachRow([&]() -> Status {
    auto a = ReadFullRow(*q, codec);
    if (!a) return std::unexpected(a.error());
    out.push_back(std::move(*a));
    return Ok();
  }));
  return out;
}

Result<std::optional<core::Activity>> ReadActivity(Connection& c, RawJsonCodec& codec, int64_t athlete_id, int64_t id) {
  auto q = c.Prepare(Sql().select_one.c_str());
  if (!q) return std::unexpected(q.error());
  q->Bind(1, athlete_id);
  q->Bind(2, id);
  auto row = q->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::nullopt;
  auto a = ReadFullRow(*q, codec);
  if (!a) return std::unexpected(a.error());
  return std::optional<Activity>(std::move(*a));
}

Result<std::vector<core::DailyTotals>> ReadDaily(Connection& c, int64_t athlete_id, int year,
                                                 const std::string& category) {
  auto q = c.Prepare(kSelectDaily);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, athlete_id);
  q->Bind(2, FirstDay(year));
  q->Bind(3, LastDay(year));
  q->Bind(4, category);
  std::vector<core::DailyTotals> out;
  DL_SQLITE_TRY(q->ForEachRow([&]() -> Status {
    auto date = core::ParseDate(q->View(0));
    if (!date) return Fail(ErrorCode::kIo, "sqlite " + c.path() + ": bad local_date in daily_totals");
    core::DailyTotals d;
    d.date = *date;
    d.category = q->Text(1);
    d.distance_mm = q->Int64(2);
    d.moving_time_s = q->Int64(3);
    d.elevation_gain_cm = q->Int64(4);
    d.count = q->Int64(5);
    d.activity_ids = ParseIds(q->View(6));
    out.push_back(std::move(d));
    return Ok();
  }));
  return out;
}

Result<bool> PatchOne(Connection& c, RawJsonCodec& codec, const core::SportCategories& categories,
                      const ports::ActivityPatch& patch, TouchedDays& touched) {
  auto stored = ReadActivity(c, codec, patch.athlete_id, patch.id);
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
  auto written = UpsertBatch(c, codec, categories, std::span(&a, 1), options, touched);
  if (!written) return std::unexpected(written.error());
  return true;
}

Status WriteCheckpoint(Connection& c, const std::string& key, const std::string& value) {
  const std::optional<int64_t> athlete_id = ports::CheckpointAthlete(key);
  auto q = c.Prepare(kSaveCheckpoint);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, key);
  q->Bind(2, value);
  q->Bind(3, athlete_id);
  return q->Run();
}

}  // namespace dl::adapters::sqlite
