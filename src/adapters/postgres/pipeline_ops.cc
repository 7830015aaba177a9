#include "adapters/postgres/pipeline_ops.h"

#include <algorithm>
#include <unordered_set>

#include "adapters/postgres/connection.h"

// The columns event_queue and dead_letters share, after seq (16 of them).
#define DL_EVENT_COLUMNS                                                                                  \
  "object_type, object_id, aspect_type, owner_id, subscription_id, event_time, title, type, is_private, " \
  "visibility, authorized, updates_json, attempts, received_at, available_at, last_error"

namespace dl::adapters::postgres {
namespace {

constexpr const char* kForgetKeys = "DELETE FROM received_events WHERE received_at < $1";
// RETURNING names the keys this statement inserted: the others were known
// (or repeated within the batch, which DO NOTHING also skips).
constexpr const char* kRememberKeys =
    "INSERT INTO received_events (dedup_key, received_at) SELECT k, $2 FROM unnest($1::text[]) WITH ORDINALITY AS "
    "u(k, n) ORDER BY n "
    "ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key";
constexpr const char* kInsertEvents =
    "INSERT INTO event_queue (" DL_EVENT_COLUMNS
    ") "
    "SELECT ot, oi, at, ow, su, et, ti, ty, pr, vi, au, uj, 0, $13, $13, '' FROM unnest($1::text[], $2::bigint[], "
    "$3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::boolean[], $10::text[], "
    "$11::boolean[], $12::text[]) WITH ORDINALITY AS u(ot, oi, at, ow, su, et, ti, ty, pr, vi, au, uj, n) ORDER BY n";
constexpr const char* kClaim =
    "UPDATE event_queue SET attempts = attempts + 1, available_at = $1 + $2 WHERE seq IN "
    "(SELECT seq FROM event_queue WHERE available_at <= $1 ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED) "
    "RETURNING seq, " DL_EVENT_COLUMNS;
constexpr const char* kAck = "DELETE FROM event_queue WHERE seq = ANY($1)";
constexpr const char* kRetry = "UPDATE event_queue SET last_error = $2, available_at = $3 WHERE seq = $1";
constexpr const char* kToDeadLetters =
    "WITH gone AS (DELETE FROM event_queue WHERE seq = $1 RETURNING *) "
    "INSERT INTO dead_letters (seq, " DL_EVENT_COLUMNS
    ", dead_at) "
    "SELECT seq, object_type, object_id, aspect_type, owner_id, subscription_id, event_time, title, type, "
    "is_private, visibility, authorized, updates_json, attempts, received_at, available_at, $2, $3 FROM gone";
constexpr const char* kListPending = "SELECT seq, " DL_EVENT_COLUMNS " FROM event_queue ORDER BY seq LIMIT $1";
constexpr const char* kListDead = "SELECT seq, " DL_EVENT_COLUMNS " FROM dead_letters ORDER BY seq LIMIT $1";
// A re-driven event keeps its seq and last error; it gets its full retry
// allowance again (attempts 0) and is available at once.
constexpr const char* kRedrive =
    "WITH gone AS (DELETE FROM dead_letters WHERE ($1::bigint IS NULL OR seq = $1) RETURNING *) "
    "INSERT INTO event_queue (seq, " DL_EVENT_COLUMNS
    ") "
    "SELECT seq, object_type, object_id, aspect_type, owner_id, subscription_id, event_time, title, type, "
    "is_private, visibility, authorized, updates_json, 0, received_at, $2, last_error FROM gone ORDER BY seq";
constexpr const char* kCountPending = "SELECT count(*) FROM event_queue";
constexpr const char* kDeleteAthleteQueued = "DELETE FROM event_queue WHERE owner_id = $1";
constexpr const char* kDeleteAthleteDead = "DELETE FROM dead_letters WHERE owner_id = $1";

// A new mark keeps claimed_until: the aggregator holding the year completes
// with the old generation, which releases the year instead of clearing it.
constexpr const char* kMarkDirty =
    "INSERT INTO dirty_years (athlete_id, year, generation, claimed_until) "
    "SELECT $1, y, nextval('dirty_generations'), 0 FROM unnest($2::integer[]) AS y ORDER BY y "
    "ON CONFLICT (athlete_id, year) DO UPDATE SET generation = excluded.generation";
constexpr const char* kAthleteYears =
    "SELECT DISTINCT substr(local_date, 1, 4)::integer FROM daily_totals WHERE athlete_id = $1";
constexpr const char* kClaimDirty =
    "UPDATE dirty_years SET claimed_until = $1 + $2 WHERE (athlete_id, year) IN "
    "(SELECT athlete_id, year FROM dirty_years WHERE claimed_until <= $1 ORDER BY athlete_id, year LIMIT $3 "
    "FOR UPDATE SKIP LOCKED) RETURNING athlete_id, year, generation";
constexpr const char* kClearDirty = "DELETE FROM dirty_years WHERE athlete_id = $1 AND year = $2 AND generation = $3";
constexpr const char* kReleaseDirty = "UPDATE dirty_years SET claimed_until = 0 WHERE athlete_id = $1 AND year = $2";

Status Done(const Result<Rows>& r) {
  if (!r) return std::unexpected(r.error());
  return Ok();
}

Param Int8Array(std::span<const int64_t> values) {
  ArrayBuilder array(oid::kInt8);
  for (int64_t v : values) array.AddInt8(v);
  return array.Finish();
}

// A row of "seq, DL_EVENT_COLUMNS".
ports::QueuedEvent ReadQueued(const Rows& rows, int r) {
  ports::QueuedEvent out;
  out.seq = rows.Int64(r, 0);
  core::WebhookEvent& e = out.event;
  e.object_type = rows.Text(r, 1);
  e.object_id = rows.Int64(r, 2);
  e.aspect_type = rows.Text(r, 3);
  e.owner_id = rows.Int64(r, 4);
  e.subscription_id = rows.Int64(r, 5);
  e.event_time = rows.Int64(r, 6);
  e.title = rows.OptionalText(r, 7);
  e.type = rows.OptionalText(r, 8);
  if (!rows.IsNull(r, 9)) e.is_private = rows.Bool(r, 9);
  e.visibility = rows.OptionalText(r, 10);
  if (!rows.IsNull(r, 11)) e.authorized = rows.Bool(r, 11);
  e.updates_json = rows.Text(r, 12);
  out.attempts = static_cast<int>(rows.Int64(r, 13));
  out.received_at = rows.Int64(r, 14);
  out.available_at = rows.Int64(r, 15);
  out.last_error = rows.Text(r, 16);
  return out;
}

std::vector<ports::QueuedEvent> ReadAllQueued(const Rows& rows) {
  std::vector<ports::QueuedEvent> out;
  out.reserve(static_cast<size_t>(rows.size()));
  for (int r = 0; r < rows.size(); ++r) out.push_back(ReadQueued(rows, r));
  return out;
}

Status InsertEvents(Connection& c, const std::vector<const core::WebhookEvent*>& events, int64_t now_epoch_s) {
  ArrayBuilder ot(oid::kText), oi(oid::kInt8), at(oid::kText), ow(oid::kInt8), su(oid::kInt8), et(oid::kInt8),
      ti(oid::kText), ty(oid::kText), pr(oid::kBool), vi(oid::kText), au(oid::kBool), uj(oid::kText);
  for (const core::WebhookEvent* e : events) {
    ot.AddBytes(e->object_type);
    oi.AddInt8(e->object_id);
    at.AddBytes(e->aspect_type);
    ow.AddInt8(e->owner_id);
    su.AddInt8(e->subscription_id);
    et.AddInt8(e->event_time);
    ti.AddOptional(e->title);
    ty.AddOptional(e->type);
    pr.AddOptional(e->is_private);
    vi.AddOptional(e->visibility);
    au.AddOptional(e->authorized);
    uj.AddBytes(e->updates_json);
  }
  return Done(c.Exec(kInsertEvents,
                     {ot.Finish(), oi.Finish(), at.Finish(), ow.Finish(), su.Finish(), et.Finish(), ti.Finish(),
                      ty.Finish(), pr.Finish(), vi.Finish(), au.Finish(), uj.Finish(), Param::Int8(now_epoch_s)}));
}

}  // namespace

Result<std::vector<bool>> RecordDedupKeys(Connection& c, std::span<const std::string> keys, int64_t now_epoch_s,
                                          int64_t retention_s) {
  if (auto s = Done(c.Exec(kForgetKeys, {Param::Int8(now_epoch_s - retention_s)})); !s)
    return std::unexpected(s.error());
  std::vector<bool> out;
  if (keys.empty()) return out;
  // Inserted in sorted order, so that two writers racing on the same keys
  // wait for each other instead of deadlocking.
  std::vector<std::string> sorted(keys.begin(), keys.end());
  std::sort(sorted.begin(), sorted.end());
  ArrayBuilder key_array(oid::kText);
  for (const auto& k : sorted) key_array.AddBytes(k);
  auto fresh = c.Exec(kRememberKeys, {key_array.Finish(), Param::Int8(now_epoch_s)});
  if (!fresh) return std::unexpected(fresh.error());
  std::unordered_set<std::string> new_keys;
  for (int r = 0; r < fresh->size(); ++r) new_keys.insert(fresh->Text(r, 0));
  for (const std::string& k : keys) out.push_back(new_keys.erase(k) > 0);  // a repeat finds its key gone
  return out;
}

Result<std::vector<ports::EnqueueOutcome>> EnqueueEvents(Connection& c, std::span<const core::WebhookEvent> events,
                                                         int64_t now_epoch_s, int64_t retention_s) {
  std::vector<std::string> keys;
  keys.reserve(events.size());
  for (const auto& e : events) keys.push_back(e.DedupKey());
  auto fresh = RecordDedupKeys(c, keys, now_epoch_s, retention_s);
  if (!fresh) return std::unexpected(fresh.error());
  std::vector<ports::EnqueueOutcome> out;
  std::vector<const core::WebhookEvent*> queued;
  for (size_t i = 0; i < events.size(); ++i) {
    out.push_back((*fresh)[i] ? ports::EnqueueOutcome::kQueued : ports::EnqueueOutcome::kDuplicate);
    if ((*fresh)[i]) queued.push_back(&events[i]);
  }
  if (!queued.empty()) {
    if (auto s = InsertEvents(c, queued, now_epoch_s); !s) return std::unexpected(s.error());
  }
  return out;
}

Result<std::vector<bool>> KnownDedupKeys(Connection& c, std::span<const std::string> keys, int64_t now_epoch_s,
                                         int64_t retention_s) {
  std::vector<bool> out;
  if (keys.empty()) return out;
  ArrayBuilder key_array(oid::kText);
  for (const auto& k : keys) key_array.AddBytes(k);
  auto rows = c.Exec("SELECT dedup_key FROM received_events WHERE dedup_key = ANY($1) AND received_at >= $2",
                     {key_array.Finish(), Param::Int8(now_epoch_s - retention_s)});
  if (!rows) return std::unexpected(rows.error());
  std::unordered_set<std::string> known;
  for (int r = 0; r < rows->size(); ++r) known.insert(rows->Text(r, 0));
  for (const std::string& k : keys) out.push_back(known.contains(k));
  return out;
}

Result<std::vector<ports::QueuedEvent>> ClaimEvents(Connection& c, int max, int64_t now_epoch_s, int64_t lease_s) {
  auto rows = c.Exec(kClaim, {Param::Int8(now_epoch_s), Param::Int8(lease_s), Param::Int8(std::max(max, 0))});
  if (!rows) return std::unexpected(rows.error());
  auto claimed = ReadAllQueued(*rows);
  std::ranges::sort(claimed, {}, &ports::QueuedEvent::seq);  // RETURNING follows no particular order
  return claimed;
}

Status AckEvents(Connection& c, std::span<const int64_t> seqs) {
  if (seqs.empty()) return Ok();
  return Done(c.Exec(kAck, {Int8Array(seqs)}));
}

Status RetryEvent(Connection& c, int64_t seq, const std::string& error, int64_t retry_at_epoch_s) {
  auto r = c.Exec(kRetry, {Param::Int8(seq), Param::Text(error), Param::Int8(retry_at_epoch_s)});
  if (!r) return std::unexpected(r.error());
  if (r->affected() == 0) return Fail(ErrorCode::kNotFound, "no pending event " + std::to_string(seq));
  return Ok();
}

Status DeadLetterEvent(Connection& c, int64_t seq, const std::string& error, int64_t now_epoch_s) {
  auto r = c.Exec(kToDeadLetters, {Param::Int8(seq), Param::Text(error), Param::Int8(now_epoch_s)});
  if (!r) return std::unexpected(r.error());
  if (r->affected() == 0) return Fail(ErrorCode::kNotFound, "no pending event " + std::to_string(seq));
  return Ok();
}

Result<std::vector<ports::QueuedEvent>> ListQueued(Connection& c, bool failed, int limit) {
  auto rows = c.Exec(failed ? kListDead : kListPending, {Param::Int8(std::max(limit, 0))});
  if (!rows) return std::unexpected(rows.error());
  return ReadAllQueued(*rows);
}

Result<int64_t> RedriveEvents(Connection& c, std::optional<int64_t> seq, int64_t now_epoch_s) {
  auto r = c.Exec(kRedrive, {Param::OptionalInt8(seq), Param::Int8(now_epoch_s)});
  if (!r) return std::unexpected(r.error());
  if (seq && r->affected() == 0) return Fail(ErrorCode::kNotFound, "no dead letter " + std::to_string(*seq));
  return r->affected();
}

Result<int64_t> CountPending(Connection& c) {
  auto rows = c.Exec(kCountPending);
  if (!rows) return std::unexpected(rows.error());
  return rows->Int64(0, 0);
}

Status DeleteAthleteEvents(Connection& c, int64_t athlete_id) {
  if (auto s = Done(c.Exec(kDeleteAthleteQueued, {Param::Int8(athlete_id)})); !s) return s;
  return Done(c.Exec(kDeleteAthleteDead, {Param::Int8(athlete_id)}));
}

// ---- dirty years ----

Status MarkDirtyYears(Connection& c, int64_t athlete_id, const std::set<int>& years) {
  if (years.empty()) return Ok();
  ArrayBuilder array(oid::kInt4);
  for (int y : years) array.AddInt4(y);
  return Done(c.Exec(kMarkDirty, {Param::Int8(athlete_id), array.Finish()}));
}

Status MarkAthleteYearsDirty(Connection& c, int64_t athlete_id) {
  auto rows = c.Exec(kAthleteYears, {Param::Int8(athlete_id)});
  if (!rows) return std::unexpected(rows.error());
  std::set<int> years;
  for (int r = 0; r < rows->size(); ++r) years.insert(static_cast<int>(rows->Int64(r, 0)));
  return MarkDirtyYears(c, athlete_id, years);
}

Result<std::vector<ports::DirtyYear>> ClaimDirty(Connection& c, int max, int64_t now_epoch_s, int64_t lease_s) {
  auto rows = c.Exec(kClaimDirty, {Param::Int8(now_epoch_s), Param::Int8(lease_s), Param::Int8(std::max(max, 0))});
  if (!rows) return std::unexpected(rows.error());
  std::vector<ports::DirtyYear> out;
  for (int r = 0; r < rows->size(); ++r) {
    out.push_back(ports::DirtyYear{rows->Int64(r, 0), static_cast<int>(rows->Int64(r, 1)), rows->Int64(r, 2)});
  }
  std::ranges::sort(out, [](const auto& a, const auto& b) {
    return std::pair(a.athlete_id, a.year) < std::pair(b.athlete_id, b.year);
  });
  return out;
}

Status CompleteDirty(Connection& c, std::span<const ports::DirtyYear> years) {
  for (const ports::DirtyYear& y : years) {
    const Param athlete = Param::Int8(y.athlete_id), year = Param::Int4(y.year);
    auto clear = c.Exec(kClearDirty, {athlete, year, Param::Int8(y.generation)});
    if (!clear) return std::unexpected(clear.error());
    if (clear->affected() > 0) continue;
    if (auto s = Done(c.Exec(kReleaseDirty, {athlete, year})); !s) return s;
  }
  return Ok();
}

}  // namespace dl::adapters::postgres
