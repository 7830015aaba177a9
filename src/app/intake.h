// Webhook intake with group commit: many handler threads Submit events
// concurrently; one writer thread takes whatever is waiting (up to
// max_batch events), commits it with a single EventQueue::EnqueueBatch (one
// durable transaction) and wakes each submitter with its own outcome. Under
// load, events that arrive while a commit is running share the next one, so
// throughput follows the number of concurrent submitters rather than the
// commit latency.
//
// Threading: Submit is thread-safe and blocks until the event's batch is
// committed (or failed). It must not be called from the queue's own
// callbacks. Shutdown (also run by the destructor) refuses new submissions
// and returns once everything already submitted has been committed or failed.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "core/result.h"
#include "core/webhook_event.h"
#include "ports/clock.h"
#include "ports/event_queue.h"

namespace dl::app {

struct IntakeOptions {
  size_t max_batch = 256;     // events per EnqueueBatch at most
  size_t max_waiting = 4096;  // submitted, not yet taken by the writer; beyond: kTransient
  // Run on the writer thread after a commit that queued at least one new
  // event, once its submitters are woken: e.g. Pipeline::Wake. Must not block
  // for long nor call Submit.
  std::function<void()> on_queued;
};

struct IntakeStats {
  uint64_t batches = 0;            // EnqueueBatch calls (failed ones included)
  uint64_t events_committed = 0;   // events in successful batches (duplicates included)
  uint64_t events_failed = 0;      // events answered with the queue's error
  uint64_t rejected_full = 0;      // Submit calls refused because the wait queue was full
  size_t largest_batch = 0;
  size_t waiting = 0;              // submitted, not yet taken by the writer
  bool shutting_down = false;      // Shutdown has begun: Submit is refused
};

class Intake {
 public:
  // `queue` and `clock` are not owned and must outlive the Intake. The
  // clock gives received_at (the `now` of each batch).
  Intake(ports::EventQueue& queue, const ports::Clock& clock, IntakeOptions options = {});
  ~Intake();
  Intake(const Intake&) = delete;
  Intake& operator=(const Intake&) = delete;

  // Blocks until the event is durably queued: kQueued, or kDuplicate when its
  // DedupKey was accepted before (also earlier in the same batch). Errors:
  // kTransient when the wait queue is full or the intake is shut down; the
  // queue's own error when its commit failed (then nothing of that batch was
  // queued).
  Result<ports::EnqueueOutcome> Submit(const core::WebhookEvent& event);

  // Refuses new submissions, commits those already waiting, joins the
  // writer. Idempotent.
  void Shutdown();

  IntakeStats Stats() const;

 private:
  struct Pending;

  void WriterLoop();
  std::deque<Pending*> TakeBatch(std::unique_lock<std::mutex>& lock);
  void Commit(std::deque<Pending*>& batch);

  ports::EventQueue& queue_;
  const ports::Clock& clock_;
  const IntakeOptions options_;

  mutable std::mutex mu_;
  std::condition_variable writer_cv_;
  std::deque<Pending*> waiting_;  // guarded by mu_; owned by the blocked submitters
  bool stopping_ = false;         // guarded by mu_
  IntakeStats stats_;             // guarded by mu_
  std::mutex shutdown_mu_;        // serialises Shutdown callers around the join
  std::thread writer_;
};

}  // namespace dl::app
