// The live pipeline's workers in one process: N inserter threads and one
// aggregator thread over the ports (app/inserter.h, app/aggregator.h).
//
// Waiting: the injected clock gives every timestamp the queue and store see
// (claims, leases, backoff, rate windows). Idle threads wait on a condition
// variable in real time: an inserter looks at the queue again after
// `idle_poll` (2 ms after a claim that found work, doubling while the queue
// stays empty) or at once when Wake() is called (intake calls it after each
// commit); the aggregator runs when an inserter applied something, at most
// once per `aggregate_every` (so that bursts share one rewrite), and every
// `idle_poll` anyway (years made dirty by another process, e.g. backfill).
// "An inserter applied something" travels through PipelinePorts::signal
// (app/aggregator.h): in-process by default, a Pub/Sub topic on
// `--transport pubsub`, so that aggregators in other processes hear of the
// inserters' commits too; the aggregator acknowledges the signals it woke on
// only after its run succeeded (else they come back).
//
// Crash safety comes from the queue: a claimed event is leased, and an event
// whose worker died (SIGKILL) is delivered again when its lease runs out;
// effects commit with their acks, so a redelivery changes nothing twice.
//
// Stop(): the stop flag is raised, every thread finishes the group it is
// working on (one Strava request at most; sessions never sleep), releases
// the rest of its claimed batch (available again at once), the aggregator
// writes what is dirty one last time, and the threads are joined.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "app/aggregator.h"
#include "app/inserter.h"
#include "core/sports.h"
#include "ports/clock.h"
#include "ports/event_queue.h"
#include "ports/store.h"
#include "ports/strava_api.h"

namespace dl::app {

struct PipelineOptions {
  int inserter_threads = 2;
  bool run_aggregator = true;
  InserterOptions inserter;
  AggregatorOptions aggregator;
  std::chrono::milliseconds idle_poll{250};
  std::chrono::milliseconds aggregate_every{200};
  std::chrono::milliseconds error_pause{1000};  // after the queue or store failed
};

// Not owned; everything must outlive the pipeline. With the embedded store,
// every store port is the one SqliteStore (which is also the queue).
struct PipelinePorts {
  ports::EventQueue& queue;
  ports::ActivityStore& activities;
  ports::AggregateStore& aggregates;
  ports::PipelineStore& pipeline;
  ports::TokenStore& tokens;
  ports::RateBudgetStore& budget;
  ports::Clock& clock;
  // The Strava client of inserter thread i (0 <= i < inserter_threads),
  // called once per thread by Start(). HTTP clients serialise their calls:
  // give each thread its own for parallel fetches.
  std::function<ports::StravaApi&(int thread_index)> api_for_thread;
  OutputFor outputs;  // may be empty when run_aggregator is false
  // Inserters -> aggregator wake-ups; null: an in-process one owned by the
  // pipeline (LocalAggregationSignal).
  AggregationSignal* signal = nullptr;
};

// The ports of the embedded default: every store port is `store` (which is
// also the queue, so events complete in their effect's transaction).
PipelinePorts StorePipelinePorts(ports::Store& store, ports::Clock& clock,
                                 std::function<ports::StravaApi&(int thread_index)> api_for_thread,
                                 OutputFor outputs);

struct PipelineStats {
  InserterStats inserter;  // summed over the threads
  AggregatorStats aggregator;
};

// An EventQueue that forwards to another and calls `on_queued` after every
// EnqueueBatch that queued at least one new event: hand it to app::Intake
// with on_queued = [&] { pipeline.Wake(); } so that workers start at once
// instead of at their next idle poll. Thread-safe if `inner` is.
class WakingEventQueue final : public ports::EventQueue {
 public:
  WakingEventQueue(ports::EventQueue& inner, std::function<void()> on_queued)
      : inner_(inner), on_queued_(std::move(on_queued)) {}
  Result<std::vector<ports::EnqueueOutcome>> EnqueueBatch(std::span<const core::WebhookEvent> events,
                                                          int64_t now_epoch_s) override;
  Result<std::vector<ports::QueuedEvent>> Claim(int max, int64_t now_epoch_s, int64_t lease_s) override {
    return inner_.Claim(max, now_epoch_s, lease_s);
  }
  Status Ack(std::span<const int64_t> seqs) override { return inner_.Ack(seqs); }
  Status Retry(int64_t seq, const std::string& error, int64_t retry_at_epoch_s) override {
    return inner_.Retry(seq, error, retry_at_epoch_s);
  }
  Status DeadLetter(int64_t seq, const std::string& error, int64_t now_epoch_s) override {
    return inner_.DeadLetter(seq, error, now_epoch_s);
  }
  Result<std::vector<ports::QueuedEvent>> ListEvents(bool failed, int limit) override {
    return inner_.ListEvents(failed, limit);
  }
  Result<int64_t> Redrive(std::optional<int64_t> seq, int64_t now_epoch_s) override;
  Result<int64_t> PendingCount() override { return inner_.PendingCount(); }

 private:
  ports::EventQueue& inner_;
  std::function<void()> on_queued_;
};

class Pipeline {
 public:
  Pipeline(PipelinePorts ports, const core::SportCategories& categories, PipelineOptions options);
  ~Pipeline();  // Stop()
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Starts the threads. Once only.
  void Start();
  // Graceful stop (see above); idempotent; returns when the threads are joined.
  void Stop();
  // Events were queued (or the clock moved): idle inserters look now.
  void Wake();
  bool running() const;

  PipelineStats Stats() const;

 private:
  void InserterLoop(Inserter& inserter);
  void AggregatorLoop();
  // Waits until woken (wake counter past `seen`), stopped or `timeout`.
  void WaitForWork(uint64_t& seen, std::chrono::milliseconds timeout);
  // One aggregation after a Wait, then Done/Again on what woke it.
  void Aggregate(const AggregationSignal::Received& received);
  void Pause(std::chrono::milliseconds d);
  void Log(const std::string& line) const;

  PipelinePorts ports_;
  const core::SportCategories& categories_;
  PipelineOptions options_;
  std::unique_ptr<LocalAggregationSignal> local_signal_;  // when ports_.signal was null
  AggregationSignal* signal_ = nullptr;                   // ports_.signal or local_signal_
  WorkLocks locks_;
  std::vector<std::unique_ptr<Inserter>> inserters_;
  std::unique_ptr<Aggregator> aggregator_;
  std::vector<std::thread> threads_;  // the inserters
  std::thread aggregator_thread_;

  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t wake_count_ = 0;      // guarded by mu_
  bool started_ = false;            // guarded by mu_
  bool stopped_ = false;            // guarded by mu_
  bool aggregator_stop_ = false;    // guarded by mu_; raised after the inserters are joined
};

}  // namespace dl::app
