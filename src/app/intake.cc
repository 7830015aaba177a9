#include "app/intake.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dl::app {
namespace {
constexpr unsigned kMaxGatherBackoff = 6;  // skip at most 64 commits between probes
}  // namespace

// Lives on the submitter's stack from Submit until it sees `done`; the
// writer sets `result` and `done` and notifies under `mu`, so the submitter
// cannot return (and destroy this) before the writer has let go of it. A
// mutex and condition variable rather than a std::binary_semaphore: with
// libstdc++ a blocked acquire first spins with sched_yield, and 8 blocked
// handlers yielding took 18 % of the server's samples on 2 cores (perf,
// docs/PERFORMANCE.md), CPU the writer and the event loop needed.
struct Intake::Pending {
  const core::WebhookEvent* event = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;  // guarded by mu
  std::optional<Result<ports::EnqueueOutcome>> result;  // written before done
};

Intake::Intake(ports::EventQueue& queue, const ports::Clock& clock, IntakeOptions options)
    : queue_(queue), clock_(clock), options_(options) {
  writer_ = std::thread([this] { WriterLoop(); });
}

Intake::~Intake() { Shutdown(); }

Result<ports::EnqueueOutcome> Intake::Submit(const core::WebhookEvent& event) {
  Pending pending;
  pending.event = &event;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Fail(ErrorCode::kTransient, "intake is shutting down");
    if (waiting_.size() >= options_.max_waiting) {
      ++stats_.rejected_full;
      return Fail(ErrorCode::kTransient, "intake queue is full");
    }
    waiting_.push_back(&pending);
    wake = waiting_.size() >= wake_at_;
  }
  // Waking the writer for every arrival while it gathers would cost a
  // context switch each on a 2-core machine: only the one it waits for.
  if (wake) writer_cv_.notify_one();
  std::unique_lock done_lock(pending.mu);
  pending.cv.wait(done_lock, [&] { return pending.done; });
  return std::move(*pending.result);
}

void Intake::Shutdown() {
  std::lock_guard shutdown_lock(shutdown_mu_);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  writer_cv_.notify_one();
  if (writer_.joinable()) writer_.join();
}

IntakeStats Intake::Stats() const {
  std::lock_guard lock(mu_);
  IntakeStats stats = stats_;
  stats.waiting = waiting_.size();
  stats.shutting_down = stopping_;
  return stats;
}

// Exits only when stopping and nothing is waiting: a shutdown drains.
void Intake::WriterLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_at_ = 1;
    writer_cv_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
    if (waiting_.empty()) return;  // stopping_ and drained
    Gather(lock);
    std::deque<Pending*> batch = TakeBatch();
    lock.unlock();
    const auto start = std::chrono::steady_clock::now();
    Commit(batch);
    const auto took = std::chrono::steady_clock::now() - start;
    lock.lock();
    last_commit_ = std::chrono::duration_cast<std::chrono::microseconds>(took);
  }
}

// Waits (mu_ held by `lock`) until the round of the last commit is complete
// again, up to min(max_gather, half the last commit's duration); see intake.h.
// steady_clock, not the injected clock: this is a synchronisation timeout
// of well under a millisecond, not domain time.
void Intake::Gather(std::unique_lock<std::mutex>& lock) {
  const size_t target = std::min(round_, std::max<size_t>(options_.max_batch, 1));
  const auto limit = std::min(options_.max_gather, last_commit_ / 2);
  if (waiting_.size() >= target || limit.count() <= 0 || stopping_) return;
  if (gather_skips_ > 0) {  // backing off after a gather that ran out
    --gather_skips_;
    return;
  }
  ++stats_.gathers;
  wake_at_ = target;
  const bool complete = writer_cv_.wait_until(lock, std::chrono::steady_clock::now() + limit, [&] {
    return stopping_ || waiting_.size() >= target;
  });
  wake_at_ = 1;
  if (complete) {
    gather_backoff_ = 0;
    return;
  }
  // The round did not come back within half a commit: with C clients, one
  // gathered batch per (commit + round trip) then beats two alternating
  // halves per commit by too little or not at all, so commit at once and
  // probe again after 2, 4, ... 64 commits.
  ++stats_.gather_timeouts;
  gather_backoff_ = std::min(gather_backoff_ + 1, kMaxGatherBackoff);
  gather_skips_ = 1u << gather_backoff_;
}

// Takes up to max_batch waiting events (mu_ held).
std::deque<Intake::Pending*> Intake::TakeBatch() {
  std::deque<Pending*> batch;
  const size_t n = std::min(waiting_.size(), std::max<size_t>(options_.max_batch, 1));
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(waiting_.front());
    waiting_.pop_front();
  }
  return batch;
}

// Sends each DedupKey once per batch (a later copy in the same batch is a
// duplicate of the first whatever the queue does with the first), commits,
// and wakes every submitter of the batch with its own outcome.
void Intake::Commit(std::deque<Pending*>& batch) {
  std::vector<core::WebhookEvent> unique;
  std::vector<std::optional<size_t>> slot(batch.size());  // index into `unique`; nullopt: in-batch duplicate
  std::unordered_map<std::string, size_t> seen;
  unique.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    if (seen.emplace(batch[i]->event->DedupKey(), unique.size()).second) {
      slot[i] = unique.size();
      unique.push_back(*batch[i]->event);
    }
  }
  const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  auto outcomes = queue_.EnqueueBatch(unique, static_cast<int64_t>(now_s));
  if (outcomes && outcomes->size() != unique.size()) {
    outcomes = Fail(ErrorCode::kInternal, "event queue returned " + std::to_string(outcomes->size()) +
                                              " outcomes for " + std::to_string(unique.size()) + " events");
  }
  {
    std::lock_guard lock(mu_);
    ++stats_.batches;
    stats_.largest_batch = std::max(stats_.largest_batch, batch.size());
    (outcomes ? stats_.events_committed : stats_.events_failed) += batch.size();
    // The round: this batch plus what arrived during its commit, counted
    // before its submitters are woken (one of them may submit again at once
    // and must not count twice).
    round_ = batch.size() + waiting_.size();
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    Pending* p = batch[i];
    std::lock_guard done_lock(p->mu);  // `p` may be gone once this is released
    if (!outcomes) {
      p->result = std::unexpected(outcomes.error());
    } else {
      p->result = slot[i] ? (*outcomes)[*slot[i]] : ports::EnqueueOutcome::kDuplicate;
    }
    p->done = true;
    p->cv.notify_one();
  }
  const bool queued_any =
      outcomes && std::find(outcomes->begin(), outcomes->end(), ports::EnqueueOutcome::kQueued) != outcomes->end();
  if (queued_any && options_.on_queued) options_.on_queued();
}

}  // namespace dl::app
