// Internal to the SQLite adapter: the live pipeline's tables (schema v2, v4):
// the event queue, the dedup keys of received events, dead letters and the
// dirty years of the aggregator. Functions that write expect the caller to
// hold an open write transaction (Connection::Begin) and to commit it.
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

namespace dl::adapters::sqlite {

class Connection;

// Every event is queued unless its dedup key is known (kDuplicate). New
// events get seqs above every seq handed out before (schema v4: never
// reused).
Result<std::vector<ports::EnqueueOutcome>> EnqueueEvents(Connection& c, std::span<const core::WebhookEvent> events,
                                                         int64_t now_epoch_s);
// Oldest available first, leased until now + lease_s, attempts + 1.
// ports::DedupStore on received_events (EnqueueEvents records its keys the
// same way): records each key; element i is true when keys[i] was in
// neither generation (a repeat within the call is false).
Result<std::vector<bool>> RecordDedupKeys(Connection& c, std::span<const std::string> keys, int64_t now_epoch_s);
// Dedup keys expire by generation (schema v4): when the current generation
// (received_events) is retention_s old, the previous one is dropped and the
// current one becomes received_events_old. A key is therefore known for at
// least retention_s and at most twice that (plus the caller's check
// interval). Starts the first generation when none is recorded.
Status RotateDedupKeysIfDue(Connection& c, int64_t now_epoch_s, int64_t retention_s);
Result<std::vector<bool>> KnownDedupKeys(Connection& c, std::span<const std::string> keys);
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

// Marks the (athlete, year)s dirty with a new generation.
Status MarkDirtyYears(Connection& c, int64_t athlete_id, const std::set<int>& years);
// Marks every year for which the athlete has daily totals (before they go).
Status MarkAthleteYearsDirty(Connection& c, int64_t athlete_id);
Result<std::vector<ports::DirtyYear>> ClaimDirty(Connection& c, int max, int64_t now_epoch_s, int64_t lease_s);
Status CompleteDirty(Connection& c, std::span<const ports::DirtyYear> years);

}  // namespace dl::adapters::sqlite
