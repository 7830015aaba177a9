// Internal to the PostgreSQL adapter: the live pipeline's tables (schema v2):
// the event queue, the dedup keys of received events, dead letters and the
// aggregator's dirty years. Same semantics as the SQLite adapter's
// pipeline_ops.h; every function runs in the caller's transaction.
//
// Several workers claim at once: Claim and ClaimDirty pick rows with
// SELECT ... FOR UPDATE SKIP LOCKED, so a row another transaction is
// claiming, acknowledging or re-marking is skipped instead of waited for,
// and no row is handed to two workers.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/webhook_event.h"
#include "ports/event_queue.h"
#include "ports/store.h"

namespace dl::adapters::postgres {

class Connection;

// Dedup keys older than now - retention_s are forgotten first; then every
// event is queued unless its key is known (kDuplicate; also for a repeat
// within the batch). Two intakes racing on one key: one queues it, the other
// waits for that commit and reports kDuplicate.
Result<std::vector<ports::EnqueueOutcome>> EnqueueEvents(Connection& c, std::span<const core::WebhookEvent> events,
                                                         int64_t now_epoch_s, int64_t retention_s);
// ports::DedupStore on received_events (the keys EnqueueEvents records):
// prunes keys older than now - retention_s, then records the keys; element i
// is true when keys[i] was new (a repeat within the call is false). Keys are
// inserted in sorted order, so that racing dispatchers wait, not deadlock.
Result<std::vector<bool>> RecordDedupKeys(Connection& c, std::span<const std::string> keys, int64_t now_epoch_s,
                                          int64_t retention_s);
// Keys recorded since now_epoch_s - retention_s (older ones are expired even
// before RecordDedupKeys deletes them).
Result<std::vector<bool>> KnownDedupKeys(Connection& c, std::span<const std::string> keys, int64_t now_epoch_s,
                                         int64_t retention_s);
// Oldest available first, leased until now + lease_s, attempts + 1.
Result<std::vector<ports::QueuedEvent>> ClaimEvents(Connection& c, int max, int64_t now_epoch_s, int64_t lease_s);
// Completes events (unknown or already completed seqs are skipped): used by
// Ack and, inside the effect's transaction, by every mutation's ack_events.
Status AckEvents(Connection& c, std::span<const int64_t> seqs);
// kNotFound when `seq` is not pending.
Status RetryEvent(Connection& c, int64_t seq, const std::string& error, int64_t retry_at_epoch_s);
Status DeadLetterEvent(Connection& c, int64_t seq, const std::string& error, int64_t now_epoch_s);
Result<std::vector<ports::QueuedEvent>> ListQueued(Connection& c, bool failed, int limit);
Result<int64_t> RedriveEvents(Connection& c, std::optional<int64_t> seq, int64_t now_epoch_s);
Result<int64_t> CountPending(Connection& c);
// The athlete's queued and dead-lettered events (DeleteAthleteData).
Status DeleteAthleteEvents(Connection& c, int64_t athlete_id);

// Marks the (athlete, year)s dirty with a new generation (from a sequence).
// Called under the years' advisory locks (activity_ops.h).
Status MarkDirtyYears(Connection& c, int64_t athlete_id, const std::set<int>& years);
// Marks every year for which the athlete has daily totals (before they go).
Status MarkAthleteYearsDirty(Connection& c, int64_t athlete_id);
Result<std::vector<ports::DirtyYear>> ClaimDirty(Connection& c, int max, int64_t now_epoch_s, int64_t lease_s);
// Clears each year still at the claimed generation; releases the others.
Status CompleteDirty(Connection& c, std::span<const ports::DirtyYear> years);

}  // namespace dl::adapters::postgres
