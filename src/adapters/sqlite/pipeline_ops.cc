#include "adapters/sqlite/pipeline_ops.h"

#include <algorithm>
#include <string>

#include "adapters/sqlite/connection.h"

// The columns event_queue and dead_letters share, after seq (16 of them).
#define DL_EVENT_COLUMNS                                                                                         \
  "object_type, object_id, aspect_type, owner_id, subscription_id, event_time, title, type, is_private, "      \
  "visibility, authorized, updates_json, attempts, received_at, available_at, last_error"

namespace dl::adapters::sqlite {
namespace {

// Dedup keys live in two generations (schema v4): received_events, the
// current one, and received_events_old, the one before. A key is known when
// it is in either; it is written to the current one only.
constexpr const char* kRememberKey =
    "INSERT INTO received_events (dedup_key, received_at) SELECT ?1, ?2 "
    "WHERE NOT EXISTS (SELECT 1 FROM received_events_old WHERE dedup_key = ?1) "
    "ON CONFLICT (dedup_key) DO NOTHING";
constexpr const char* kKnownKey =
    "SELECT EXISTS (SELECT 1 FROM received_events WHERE dedup_key = ?1) "
    "OR EXISTS (SELECT 1 FROM received_events_old WHERE dedup_key = ?1)";
constexpr const char* kGenerationSince = "SELECT value FROM counters WHERE name = 'dedup_generation_since'";
constexpr const char* kSetGenerationSince =
    "INSERT INTO counters (name, value) VALUES ('dedup_generation_since', ?1) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value";
// O(1) in the number of keys: no copy, the old generation's pages are freed.
constexpr const char* kRotateGenerations =
    "DROP TABLE received_events_old; "
    "ALTER TABLE received_events RENAME TO received_events_old; "
    "CREATE TABLE received_events (dedup_key TEXT PRIMARY KEY, received_at INTEGER NOT NULL) STRICT, WITHOUT ROWID;";
constexpr const char* kInsertEvent =
    "INSERT INTO event_queue (seq, " DL_EVENT_COLUMNS ") "
    "VALUES (?14, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0, ?13, ?13, '')";
// Schema v4: seqs are never reused. Every deletion from event_queue first
// raises the floor to the highest seq handed out so far; the next seq is
// above both the floor and every pending event.
constexpr const char* kNextSeq =
    "SELECT max(COALESCE((SELECT MAX(seq) FROM event_queue), 0), "
    "COALESCE((SELECT value FROM counters WHERE name = 'event_seq_floor'), 0)) + 1";
constexpr const char* kRaiseSeqFloor =
    "INSERT INTO counters (name, value) SELECT 'event_seq_floor', COALESCE(MAX(seq), 0) FROM event_queue WHERE true "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE excluded.value > value";
constexpr const char* kClaim =
    "UPDATE event_queue SET attempts = attempts + 1, available_at = ?1 + ?2 "
    "WHERE seq IN (SELECT seq FROM event_queue WHERE available_at <= ?1 ORDER BY seq LIMIT ?3) "
    "RETURNING seq, " DL_EVENT_COLUMNS;
constexpr const char* kAck = "DELETE FROM event_queue WHERE seq IN (SELECT value FROM json_each(?1))";
constexpr const char* kRetry = "UPDATE event_queue SET last_error = ?2, available_at = ?3 WHERE seq = ?1";
constexpr const char* kToDeadLetters =
    "INSERT INTO dead_letters (seq, " DL_EVENT_COLUMNS ", dead_at) "
    "SELECT seq, object_type, object_id, aspect_type, owner_id, subscription_id, event_time, title, type, "
    "is_private, visibility, authorized, updates_json, attempts, received_at, available_at, ?2, ?3 "
    "FROM event_queue WHERE seq = ?1";
constexpr const char* kDeleteEvent = "DELETE FROM event_queue WHERE seq = ?1";
constexpr const char* kListPending = "SELECT seq, " DL_EVENT_COLUMNS " FROM event_queue ORDER BY seq LIMIT ?1";
constexpr const char* kListDead = "SELECT seq, " DL_EVENT_COLUMNS " FROM dead_letters ORDER BY seq LIMIT ?1";
// A re-driven event keeps its seq and last error; it gets its full retry
// allowance again (attempts 0) and is available at once.
constexpr const char* kRedrive =
    "INSERT INTO event_queue (seq, " DL_EVENT_COLUMNS ") "
    "SELECT seq, object_type, object_id, aspect_type, owner_id, subscription_id, event_time, title, type, "
    "is_private, visibility, authorized, updates_json, 0, received_at, ?2, last_error "
    "FROM dead_letters WHERE (?1 IS NULL OR seq = ?1) ORDER BY seq";
constexpr const char* kDeleteRedriven = "DELETE FROM dead_letters WHERE (?1 IS NULL OR seq = ?1)";
constexpr const char* kCountPending = "SELECT COUNT(*) FROM event_queue";
constexpr const char* kDeleteAthleteQueued = "DELETE FROM event_queue WHERE owner_id = ?1";
constexpr const char* kDeleteAthleteDead = "DELETE FROM dead_letters WHERE owner_id = ?1";

constexpr const char* kBumpGeneration =
    "INSERT INTO counters (name, value) VALUES ('dirty_generation', 1) "
    "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value";
// A new mark keeps claimed_until: the aggregator holding the year completes
// with the old generation, which releases the year instead of clearing it.
constexpr const char* kMarkDirty =
    "INSERT INTO dirty_years (athlete_id, year, generation, claimed_until) VALUES (?1, ?2, ?3, 0) "
    "ON CONFLICT (athlete_id, year) DO UPDATE SET generation = excluded.generation";
constexpr const char* kAthleteYears =
    "SELECT DISTINCT CAST(substr(local_date, 1, 4) AS INTEGER) FROM daily_totals WHERE athlete_id = ?1";
constexpr const char* kClaimDirty =
    "UPDATE dirty_years SET claimed_until = ?1 + ?2 WHERE (athlete_id, year) IN "
    "(SELECT athlete_id, year FROM dirty_years WHERE claimed_until <= ?1 ORDER BY athlete_id, year LIMIT ?3) "
    "RETURNING athlete_id, year, generation";
constexpr const char* kClearDirty =
    "DELETE FROM dirty_years WHERE athlete_id = ?1 AND year = ?2 AND generation = ?3";
constexpr const char* kReleaseDirty = "UPDATE dirty_years SET claimed_until = 0 WHERE athlete_id = ?1 AND year = ?2";

std::string JsonArrayOf(std::span<const int64_t> ids) {
  std::string json = "[";
  for (int64_t id : ids) {
    if (json.size() > 1) json += ',';
    json += std::to_string(id);
  }
  return json + "]";
}

std::optional<std::string> OptionalText(const Query& q, int column) {
  if (q.IsNull(column)) return std::nullopt;
  return q.Text(column);
}

std::optional<bool> OptionalBool(const Query& q, int column) {
  if (q.IsNull(column)) return std::nullopt;
  return q.Int64(column) != 0;
}

// A row of "seq, DL_EVENT_COLUMNS".
ports::QueuedEvent ReadQueued(const Query& q) {
  ports::QueuedEvent out;
  out.seq = q.Int64(0);
  core::WebhookEvent& e = out.event;
  e.object_type = q.Text(1);
  e.object_id = q.Int64(2);
  e.aspect_type = q.Text(3);
  e.owner_id = q.Int64(4);
  e.subscription_id = q.Int64(5);
  e.event_time = q.Int64(6);
  e.title = OptionalText(q, 7);
  e.type = OptionalText(q, 8);
  e.is_private = OptionalBool(q, 9);
  e.visibility = OptionalText(q, 10);
  e.authorized = OptionalBool(q, 11);
  e.updates_json = q.Text(12);
  out.attempts = static_cast<int>(q.Int64(13));
  out.received_at = q.Int64(14);
  out.available_at = q.Int64(15);
  out.last_error = q.Text(16);
  return out;
}

Result<std::vector<ports::QueuedEvent>> ReadAllQueued(Query& q) {
  std::vector<ports::QueuedEvent> out;
  DL_SQLITE_TRY(q.ForEachRow([&] {
    out.push_back(ReadQueued(q));
  }));
  return out;
}

Status InsertEvent(Connection& c, const core::WebhookEvent& e, int64_t seq, int64_t now_epoch_s) {
  auto q = c.Prepare(kInsertEvent);
  if (!q) return std::unexpected(q.error());
  q->Bind(14, seq);
  q->Bind(1, e.object_type);
  q->Bind(2, e.object_id);
  q->Bind(3, e.aspect_type);
  q->Bind(4, e.owner_id);
  q->Bind(5, e.subscription_id);
  q->Bind(6, e.event_time);
  q->Bind(7, e.title);
  q->Bind(8, e.type);
  q->Bind(9, e.is_private);
  q->Bind(10, e.visibility);
  q->Bind(11, e.authorized);
  q->Bind(12, e.updates_json);
  q->Bind(13, now_epoch_s);
  return q->Run();
}

Result<int64_t> NextSeq(Connection& c) {
  auto q = c.Prepare(kNextSeq);
  if (!q) return std::unexpected(q.error());
  auto row = q->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return Fail(ErrorCode::kInternal, "sqlite: next seq returned no row");
  return q->Int64(0);
}

// Before any deletion from event_queue (see kRaiseSeqFloor).
Status RaiseSeqFloor(Connection& c) {
  auto q = c.Prepare(kRaiseSeqFloor);
  if (!q) return std::unexpected(q.error());
  return q->Run();
}

Status RunWithId(Connection& c, const char* sql, int64_t id) {
  auto q = c.Prepare(sql);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, id);
  return q->Run();
}

}  // namespace

Status RotateDedupKeysIfDue(Connection& c, int64_t now_epoch_s, int64_t retention_s) {
  std::optional<int64_t> since;
  {
    auto q = c.Prepare(kGenerationSince);
    if (!q) return std::unexpected(q.error());
    auto row = q->Step();
    if (!row) return std::unexpected(row.error());
    if (*row) since = q->Int64(0);
  }
  // A clock that went backwards rotates later, never earlier.
  if (since && now_epoch_s - *since < retention_s) return Ok();
  if (since) DL_SQLITE_TRY(c.Exec(kRotateGenerations));
  auto set = c.Prepare(kSetGenerationSince);
  if (!set) return std::unexpected(set.error());
  set->Bind(1, now_epoch_s);
  return set->Run();
}

Result<std::vector<bool>> RecordDedupKeys(Connection& c, std::span<const std::string> keys, int64_t now_epoch_s) {
  std::vector<bool> fresh;
  fresh.reserve(keys.size());
  for (const std::string& key : keys) {
    auto remember = c.Prepare(kRememberKey);
    if (!remember) return std::unexpected(remember.error());
    remember->Bind(1, key);
    remember->Bind(2, now_epoch_s);
    DL_SQLITE_TRY(remember->Run());
    fresh.push_back(c.Changes() > 0);
  }
  return fresh;
}

Result<std::vector<bool>> KnownDedupKeys(Connection& c, std::span<const std::string> keys) {
  std::vector<bool> known;
  known.reserve(keys.size());
  for (const std::string& key : keys) {
    auto q = c.Prepare(kKnownKey);
    if (!q) return std::unexpected(q.error());
    q->Bind(1, key);
    bool found = false;
    DL_SQLITE_TRY(q->ForEachRow([&] { found = q->Int64(0) != 0; }));
    known.push_back(found);
  }
  return known;
}

Result<std::vector<ports::EnqueueOutcome>> EnqueueEvents(Connection& c, std::span<const core::WebhookEvent> events,
                                                         int64_t now_epoch_s) {
  std::vector<std::string> keys;
  keys.reserve(events.size());
  for (const core::WebhookEvent& e : events) keys.push_back(e.DedupKey());
  auto fresh = RecordDedupKeys(c, keys, now_epoch_s);
  if (!fresh) return std::unexpected(fresh.error());
  std::vector<ports::EnqueueOutcome> out;
  out.reserve(events.size());
  std::optional<int64_t> next_seq;  // read once, for the first new event
  for (size_t i = 0; i < events.size(); ++i) {
    if (!(*fresh)[i]) {
      out.push_back(ports::EnqueueOutcome::kDuplicate);
      continue;
    }
    if (!next_seq) {
      auto seq = NextSeq(c);
      if (!seq) return std::unexpected(seq.error());
      next_seq = *seq;
    }
    DL_SQLITE_TRY(InsertEvent(c, events[i], (*next_seq)++, now_epoch_s));
    out.push_back(ports::EnqueueOutcome::kQueued);
  }
  return out;
}

Result<std::vector<ports::QueuedEvent>> ClaimEvents(Connection& c, int max, int64_t now_epoch_s, int64_t lease_s) {
  auto q = c.Prepare(kClaim);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, now_epoch_s);
  q->Bind(2, lease_s);
  q->Bind(3, static_cast<int64_t>(std::max(max, 0)));
  auto claimed = ReadAllQueued(*q);
  if (!claimed) return claimed;
  // RETURNING follows no particular order.
  std::ranges::sort(*claimed, {}, &ports::QueuedEvent::seq);
  return claimed;
}

Status AckEvents(Connection& c, std::span<const int64_t> seqs) {
  if (seqs.empty()) return Ok();
  DL_SQLITE_TRY(RaiseSeqFloor(c));
  const std::string json = JsonArrayOf(seqs);
  auto q = c.Prepare(kAck);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, json);
  return q->Run();
}

Status RetryEvent(Connection& c, int64_t seq, const std::string& error, int64_t retry_at_epoch_s) {
  auto q = c.Prepare(kRetry);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, seq);
  q->Bind(2, error);
  q->Bind(3, retry_at_epoch_s);
  DL_SQLITE_TRY(q->Run());
  if (c.Changes() == 0) return Fail(ErrorCode::kNotFound, "no pending event " + std::to_string(seq));
  return Ok();
}

Status DeadLetterEvent(Connection& c, int64_t seq, const std::string& error, int64_t now_epoch_s) {
  auto q = c.Prepare(kToDeadLetters);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, seq);
  q->Bind(2, error);
  q->Bind(3, now_epoch_s);
  DL_SQLITE_TRY(q->Run());
  if (c.Changes() == 0) return Fail(ErrorCode::kNotFound, "no pending event " + std::to_string(seq));
  DL_SQLITE_TRY(RaiseSeqFloor(c));
  return RunWithId(c, kDeleteEvent, seq);
}

Result<std::vector<ports::QueuedEvent>> ListQueued(Connection& c, bool failed, int limit) {
  auto q = c.Prepare(failed ? kListDead : kListPending);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, static_cast<int64_t>(std::max(limit, 0)));
  return ReadAllQueued(*q);
}

Result<int64_t> RedriveEvents(Connection& c, std::optional<int64_t> seq, int64_t now_epoch_s) {
  auto move = c.Prepare(kRedrive);
  if (!move) return std::unexpected(move.error());
  move->Bind(1, seq);
  move->Bind(2, now_epoch_s);
  DL_SQLITE_TRY(move->Run());
  const int64_t moved = c.Changes();
  if (seq && moved == 0) return Fail(ErrorCode::kNotFound, "no dead letter " + std::to_string(*seq));
  auto del = c.Prepare(kDeleteRedriven);
  if (!del) return std::unexpected(del.error());
  del->Bind(1, seq);
  DL_SQLITE_TRY(del->Run());
  return moved;
}

Result<int64_t> CountPending(Connection& c) {
  auto q = c.Prepare(kCountPending);
  if (!q) return std::unexpected(q.error());
  auto row = q->Step();
  if (!row) return std::unexpected(row.error());
  return *row ? q->Int64(0) : 0;
}

Status DeleteAthleteEvents(Connection& c, int64_t athlete_id) {
  DL_SQLITE_TRY(RaiseSeqFloor(c));
  DL_SQLITE_TRY(RunWithId(c, kDeleteAthleteQueued, athlete_id));
  return RunWithId(c, kDeleteAthleteDead, athlete_id);
}

// ---- dirty years ----

Status MarkDirtyYears(Connection& c, int64_t athlete_id, const std::set<int>& years) {
  if (years.empty()) return Ok();
  int64_t generation = 0;
  {
    auto bump = c.Prepare(kBumpGeneration);
    if (!bump) return std::unexpected(bump.error());
    auto row = bump->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return Fail(ErrorCode::kInternal, "sqlite: generation counter returned no row");
    generation = bump->Int64(0);
  }
  for (int year : years) {
    auto q = c.Prepare(kMarkDirty);
    if (!q) return std::unexpected(q.error());
    q->Bind(1, athlete_id);
    q->Bind(2, year);
    q->Bind(3, generation);
    DL_SQLITE_TRY(q->Run());
  }
  return Ok();
}

Status MarkAthleteYearsDirty(Connection& c, int64_t athlete_id) {
  std::set<int> years;
  {
    auto q = c.Prepare(kAthleteYears);
    if (!q) return std::unexpected(q.error());
    q->Bind(1, athlete_id);
    DL_SQLITE_TRY(q->ForEachRow([&] {
      years.insert(static_cast<int>(q->Int64(0)));
    }));
  }
  return MarkDirtyYears(c, athlete_id, years);
}

Result<std::vector<ports::DirtyYear>> ClaimDirty(Connection& c, int max, int64_t now_epoch_s, int64_t lease_s) {
  auto q = c.Prepare(kClaimDirty);
  if (!q) return std::unexpected(q.error());
  q->Bind(1, now_epoch_s);
  q->Bind(2, lease_s);
  q->Bind(3, static_cast<int64_t>(std::max(max, 0)));
  std::vector<ports::DirtyYear> out;
  DL_SQLITE_TRY(q->ForEachRow([&] {
    out.push_back(ports::DirtyYear{q->Int64(0), static_cast<int>(q->Int64(1)), q->Int64(2)});
  }));
  std::ranges::sort(out, [](const auto& a, const auto& b) {
    return std::pair(a.athlete_id, a.year) < std::pair(b.athlete_id, b.year);
  });
  return out;
}

Status CompleteDirty(Connection& c, std::span<const ports::DirtyYear> years) {
  for (const ports::DirtyYear& y : years) {
    auto clear = c.Prepare(kClearDirty);
    if (!clear) return std::unexpected(clear.error());
    clear->Bind(1, y.athlete_id);
    clear->Bind(2, y.year);
    clear->Bind(3, y.generation);
    DL_SQLITE_TRY(clear->Run());
    if (c.Changes() > 0) continue;
    auto release = c.Prepare(kReleaseDirty);
    if (!release) return std::unexpected(release.error());
    release->Bind(1, y.athlete_id);
    release->Bind(2, y.year);
    DL_SQLITE_TRY(release->Run());
  }
  return Ok();
}

}  // namespace dl::adapters::sqlite
