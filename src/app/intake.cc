#include "app/intake.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <semaphore>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dl::app {

// Lives on the submitter's stack from Submit until `done` is released; the
// writer writes `result` and then releases, which publishes it.
struct Intake::Pending {
  const core::WebhookEvent* event = nullptr;
  std::optional<Result<ports::EnqueueOutcome>> result;
  std::binary_semaphore done{0};
};

Intake::Intake(ports::EventQueue& queue, const ports::Clock& clock, IntakeOptions options)
    : queue_(queue), clock_(clock), options_(options) {
  writer_ = std::thread([this] { WriterLoop(); });
}

Intake::~Intake() { Shutdown(); }

Result<ports::EnqueueOutcome> Intake::Submit(const core::WebhookEvent& event) {
  Pending pending;
  pending.event = &event;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Fail(ErrorCode::kTransient, "intake is shutting down");
    if (waiting_.size() >= options_.max_waiting) {
      ++stats_.rejected_full;
      return Fail(ErrorCode::kTransient, "intake queue is full");
    }
    waiting_.push_back(&pending);
  }
  writer_cv_.notify_one();
  pending.done.acquire();
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
    writer_cv_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
    if (waiting_.empty()) return;  // stopping_ and drained
    std::deque<Pending*> batch = TakeBatch(lock);
    lock.unlock();
    Commit(batch);
    lock.lock();
  }
}

// Takes up to max_batch waiting events (whatever is there: no waiting for
// more, so a lone event is committed at once).
std::deque<Intake::Pending*> Intake::TakeBatch(std::unique_lock<std::mutex>&) {
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
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    Pending* p = batch[i];
    if (!outcomes) {
      p->result = std::unexpected(outcomes.error());
    } else {
      p->result = slot[i] ? (*outcomes)[*slot[i]] : ports::EnqueueOutcome::kDuplicate;
    }
    p->done.release();  // `p` may be gone after this line
  }
  const bool queued_any =
      outcomes && std::find(outcomes->begin(), outcomes->end(), ports::EnqueueOutcome::kQueued) != outcomes->end();
  if (queued_any && options_.on_queued) options_.on_queued();
}

}  // namespace dl::app
