// The durable event queue between webhook intake and the workers. On the
// embedded default it lives in the same SQLite store as the data, so that
// consuming an event and applying its effect commit in one transaction
// (exactly-once effects): the store's mutation methods take the sequence
// numbers of the events they complete (ports::EventAck).
//
// Delivery is at-least-once: a claimed event whose worker dies becomes
// available again when its lease expires.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/webhook_event.h"

namespace dl::ports {

struct QueuedEvent {
  int64_t seq = 0;
  core::WebhookEvent event;
  int attempts = 0;            // deliveries so far, this one included once claimed
  int64_t received_at = 0;     // epoch seconds
  int64_t available_at = 0;    // not claimable before (backoff, lease)
  std::string last_error;
};

enum class EnqueueOutcome { kQueued, kDuplicate };

class EventQueue {
 public:
  virtual ~EventQueue() = default;
  // Durable (committed) before it returns. One transaction for the batch;
  // an event whose DedupKey was ever accepted before is kDuplicate.
  virtual Result<std::vector<EnqueueOutcome>> EnqueueBatch(std::span<const core::WebhookEvent> events,
                                                           int64_t now_epoch_s) = 0;
  // Claims up to `max` available events (oldest first), leasing them for
  // lease_s seconds; attempts is incremented.
  virtual Result<std::vector<QueuedEvent>> Claim(int max, int64_t now_epoch_s, int64_t lease_s) = 0;
  // Completes events that had no effect to apply (e.g. dropped, no-op).
  virtual Status Ack(std::span<const int64_t> seqs) = 0;
  // A failed attempt: available again at retry_at, with the error kept.
  virtual Status Retry(int64_t seq, const std::string& error, int64_t retry_at_epoch_s) = 0;
  // Moves the event to the dead-letter table with its last error.
  virtual Status DeadLetter(int64_t seq, const std::string& error, int64_t now_epoch_s) = 0;
  // Pending (failed = false) or dead-lettered (failed = true) events.
  virtual Result<std::vector<QueuedEvent>> ListEvents(bool failed, int limit) = 0;
  // Dead letters back to the queue: one (seq) or all (nullopt). Returns count.
  virtual Result<int64_t> Redrive(std::optional<int64_t> seq, int64_t now_epoch_s) = 0;
  virtual Result<int64_t> PendingCount() = 0;
};

}  // namespace dl::ports
