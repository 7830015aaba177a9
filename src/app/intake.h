// Webhook intake with group commit: many handler threads Submit events
// concurrently; one writer thread takes whatever is waiting (up to
// max_batch events), commits it with a single EventQueue::EnqueueBatch (one
// durable transaction) and wakes each submitter with its own outcome. Under
// load, events that arrive while a commit is running share the next one, so
// throughput follows the number of concurrent submitters rather than the
// commit latency.
//
// Gathering: when fewer events are waiting than took part in the last round
// (the last batch plus those that arrived while it committed), the writer
// waits a little for the rest before committing: with C clients that each
// send their next event as soon as the previous one is answered, the batches
// then hold all C events (C per commit + round trip) instead of splitting
// into two alternating halves (C/2 per commit). That pays only when the
// clients' round trip R is short against the commit F (C/(F+R) > C/(2F)),
// so the wait is at most min(max_gather, F/2) of the last commit; when it
// runs out, gathering backs off exponentially (skips 2, 4, ... 64 commits)
// before it is tried again. A lone client never waits (its round has one
// event). Measured in docs/PERFORMANCE.md (webhook intake).
//
// Threading: Submit is thread-safe and blocks until the event's batch is
// committed (or failed). It must not be called from the queue's own
// callbacks. Shutdown (also run by the destructor) refuses new submissions
// and returns once everything already submitted has been committed or failed.
#pragma once

#include <chrono>
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
  // Longest wait for the rest of a round before committing (see above);
  // zero (the default) commits whatever is waiting at once. Off by default
  // because on the shared 2-core test machine it won when the machine was
  // quiet and lost under other builds' load (the writer's extra wake-up then
  // costs more than the larger batches save; docs/PERFORMANCE.md). 1000 µs
  // is a reasonable value where cores are idle.
  std::chrono::microseconds max_gather{0};
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
  uint64_t gathers = 0;            // commits preceded by a wait for the rest of the round
  uint64_t gather_timeouts = 0;    // ... of which the wait ran out before the round was complete
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
  void Gather(std::unique_lock<std::mutex>& lock);
  std::deque<Pending*> TakeBatch();
  void Commit(std::deque<Pending*>& batch);

  ports::EventQueue& queue_;
  const ports::Clock& clock_;
  const IntakeOptions options_;

  mutable std::mutex mu_;
  std::condition_variable writer_cv_;
  std::deque<Pending*> waiting_;  // guarded by mu_; owned by the blocked submitters
  bool stopping_ = false;         // guarded by mu_
  // Submit wakes the writer once this many events wait: 1 while it is idle,
  // the size of the round while it gathers. Guarded by mu_.
  size_t wake_at_ = 1;
  // The last round (batch + arrivals during its commit) and the last
  // commit's duration: what Gather waits for, and how long at most.
  // Written by the writer thread under mu_.
  size_t round_ = 0;
  std::chrono::microseconds last_commit_{0};
  unsigned gather_backoff_ = 0;  // consecutive gathers that ran out (capped)
  unsigned gather_skips_ = 0;    // commits left before gathering is tried again
  IntakeStats stats_;             // guarded by mu_
  std::mutex shutdown_mu_;        // serialises Shutdown callers around the join
  std::thread writer_;
};

}  // namespace dl::app
