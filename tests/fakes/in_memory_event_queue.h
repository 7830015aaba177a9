// ports::EventQueue in memory, for tests and benchmarks. Thread-safe (one
// mutex). Semantics, as the port documents them:
//  - EnqueueBatch is all or nothing: an injected failure records nothing.
//    Dedup is by core::WebhookEvent::DedupKey(), forever (a key stays known
//    after its event is acked or dead-lettered), and within one batch (the
//    second of two equal events is kDuplicate).
//  - Claim takes available events (available_at <= now) oldest first (by
//    seq), leases them until now + lease_s and increments attempts; an event
//    whose worker died becomes claimable again when its lease runs out.
//  - Ack completes events; acking an unknown or already completed seq is a
//    no-op (a redelivered event may be acked twice).
//  - Retry / DeadLetter of an unknown seq: kNotFound.
//  - Redrive moves dead letters back, available at `now`, attempts reset to 0
//    (a re-driven event gets its full retry allowance again).
//
// Test hooks: FailEnqueue (one or every call), a hook run inside EnqueueBatch
// before the commit (to hold the writer and observe batching), an artificial
// commit latency (benchmarks only; never for synchronisation), and
// counters of calls and batch sizes.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/webhook_event.h"
#include "ports/event_queue.h"

namespace dl::fakes {

class InMemoryEventQueue final : public ports::EventQueue {
 public:
  Result<std::vector<ports::EnqueueOutcome>> EnqueueBatch(std::span<const core::WebhookEvent> events,
                                                          int64_t now_epoch_s) override {
    std::function<void(size_t)> hook;
    std::chrono::microseconds latency{0};
    {
      std::lock_guard lock(mu_);
      ++enqueue_calls_;
      hook = before_commit_;
      latency = commit_latency_;
    }
    // Outside the lock: the hook may block until the test releases it.
    if (hook) hook(events.size());
    if (latency.count() > 0) std::this_thread::sleep_for(latency);  // models an fsync
    std::lock_guard lock(mu_);
    if (fail_enqueue_) {
      Error error = *fail_enqueue_;
      if (fail_once_) fail_enqueue_.reset();
      return std::unexpected(std::move(error));
    }
    std::vector<ports::EnqueueOutcome> out;
    out.reserve(events.size());
    for (const core::WebhookEvent& event : events) {
      if (!keys_.insert(event.DedupKey()).second) {
        out.push_back(ports::EnqueueOutcome::kDuplicate);
        continue;
      }
      ports::QueuedEvent queued;
      queued.seq = next_seq_++;
      queued.event = event;
      queued.received_at = now_epoch_s;
      queued.available_at = now_epoch_s;
      pending_.emplace(queued.seq, queued);
      all_.push_back(std::move(queued));
      out.push_back(ports::EnqueueOutcome::kQueued);
    }
    batch_sizes_.push_back(events.size());
    return out;
  }

  Result<std::vector<ports::QueuedEvent>> Claim(int max, int64_t now_epoch_s, int64_t lease_s) override {
    std::lock_guard lock(mu_);
    std::vector<ports::QueuedEvent> out;
    for (auto& [seq, queued] : pending_) {  // std::map: oldest seq first
      if (static_cast<int>(out.size()) >= max) break;
      if (queued.available_at > now_epoch_s) continue;
      ++queued.attempts;
      queued.available_at = now_epoch_s + lease_s;
      out.push_back(queued);
    }
    return out;
  }

  Status Ack(std::span<const int64_t> seqs) override {
    std::lock_guard lock(mu_);
    for (int64_t seq : seqs) pending_.erase(seq);
    return Ok();
  }

  Status Retry(int64_t seq, const std::string& error, int64_t retry_at_epoch_s) override {
    std::lock_guard lock(mu_);
    auto it = pending_.find(seq);
    if (it == pending_.end()) return Fail(ErrorCode::kNotFound, "no pending event " + std::to_string(seq));
    it->second.last_error = error;
    it->second.available_at = retry_at_epoch_s;
    return Ok();
  }

  Status DeadLetter(int64_t seq, const std::string& error, int64_t /*now_epoch_s*/) override {
    std::lock_guard lock(mu_);
    auto it = pending_.find(seq);
    if (it == pending_.end()) return Fail(ErrorCode::kNotFound, "no pending event " + std::to_string(seq));
    it->second.last_error = error;
    dead_.insert(pending_.extract(it));
    return Ok();
  }

  Result<std::vector<ports::QueuedEvent>> ListEvents(bool failed, int limit) override {
    std::lock_guard lock(mu_);
    std::vector<ports::QueuedEvent> out;
    for (const auto& [seq, queued] : failed ? dead_ : pending_) {
      if (static_cast<int>(out.size()) >= limit) break;
      out.push_back(queued);
    }
    return out;
  }

  Result<int64_t> Redrive(std::optional<int64_t> seq, int64_t now_epoch_s) override {
    std::lock_guard lock(mu_);
    if (seq && !dead_.contains(*seq))
      return Fail(ErrorCode::kNotFound, "no dead letter " + std::to_string(*seq));
    int64_t moved = 0;
    for (auto it = dead_.begin(); it != dead_.end();) {
      if (seq && it->first != *seq) {
        ++it;
        continue;
      }
      it->second.available_at = now_epoch_s;
      it->second.attempts = 0;
      pending_.insert(dead_.extract(it++));
      ++moved;
    }
    return moved;
  }

  Result<int64_t> PendingCount() override {
    std::lock_guard lock(mu_);
    return static_cast<int64_t>(pending_.size());
  }

  // ---- test hooks ----

  // Every later EnqueueBatch fails with `error` (once: only the next one).
  void FailEnqueue(Error error, bool once = false) {
    std::lock_guard lock(mu_);
    fail_enqueue_ = std::move(error);
    fail_once_ = once;
  }
  void ClearFailure() {
    std::lock_guard lock(mu_);
    fail_enqueue_.reset();
  }
  // Runs at the start of every EnqueueBatch, outside the lock, with the
  // batch size. May block (a test holding the writer).
  void BeforeCommit(std::function<void(size_t)> hook) {
    std::lock_guard lock(mu_);
    before_commit_ = std::move(hook);
  }
  // Benchmarks: each EnqueueBatch takes at least this long.
  void SetCommitLatency(std::chrono::microseconds latency) {
    std::lock_guard lock(mu_);
    commit_latency_ = latency;
  }

  // Every event ever queued (not duplicates), in seq order.
  std::vector<ports::QueuedEvent> AllQueued() const {
    std::lock_guard lock(mu_);
    return all_;
  }
  size_t QueuedCount() const {
    std::lock_guard lock(mu_);
    return all_.size();
  }
  // Calls to EnqueueBatch, failed ones included.
  int64_t EnqueueCalls() const {
    std::lock_guard lock(mu_);
    return enqueue_calls_;
  }
  // Sizes of the committed batches, in order.
  std::vector<size_t> BatchSizes() const {
    std::lock_guard lock(mu_);
    return batch_sizes_;
  }

 private:
  mutable std::mutex mu_;
  int64_t next_seq_ = 1;
  std::map<int64_t, ports::QueuedEvent> pending_;  // by seq; leased ones included
  std::map<int64_t, ports::QueuedEvent> dead_;
  std::vector<ports::QueuedEvent> all_;
  std::unordered_set<std::string> keys_;
  std::optional<Error> fail_enqueue_;
  bool fail_once_ = false;
  std::function<void(size_t)> before_commit_;
  std::chrono::microseconds commit_latency_{0};
  int64_t enqueue_calls_ = 0;
  std::vector<size_t> batch_sizes_;
};

}  // namespace dl::fakes
