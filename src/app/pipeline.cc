#include "app/pipeline.h"

#include <algorithm>
#include <utility>

namespace dl::app {

PipelinePorts StorePipelinePorts(ports::Store& store, ports::Clock& clock,
                                 std::function<ports::StravaApi&(int thread_index)> api_for_thread,
                                 OutputFor outputs) {
  return PipelinePorts{store, store, store, store, store, store, clock, std::move(api_for_thread), std::move(outputs)};
}

Result<std::vector<ports::EnqueueOutcome>> WakingEventQueue::EnqueueBatch(std::span<const core::WebhookEvent> events,
                                                                          int64_t now_epoch_s) {
  auto outcomes = inner_.EnqueueBatch(events, now_epoch_s);
  if (outcomes && on_queued_ && std::ranges::count(*outcomes, ports::EnqueueOutcome::kQueued) > 0) on_queued_();
  return outcomes;
}

Result<int64_t> WakingEventQueue::Redrive(std::optional<int64_t> seq, int64_t now_epoch_s) {
  auto moved = inner_.Redrive(seq, now_epoch_s);
  if (moved && *moved > 0 && on_queued_) on_queued_();
  return moved;
}

Pipeline::Pipeline(PipelinePorts ports, const core::SportCategories& categories, PipelineOptions options)
    : ports_(std::move(ports)), categories_(categories), options_(std::move(options)) {
  options_.inserter_threads = std::max(options_.inserter_threads, 0);
  if (ports_.signal == nullptr) local_signal_ = std::make_unique<LocalAggregationSignal>();
  signal_ = ports_.signal != nullptr ? ports_.signal : local_signal_.get();
  if (!options_.inserter.log) options_.inserter.log = options_.aggregator.log;
  if (!options_.aggregator.log) options_.aggregator.log = options_.inserter.log;
}

Pipeline::~Pipeline() { Stop(); }

void Pipeline::Log(const std::string& line) const {
  if (options_.inserter.log) options_.inserter.log(line);
}

void Pipeline::Start() {
  {
    std::lock_guard lock(mu_);
    if (started_) return;
    started_ = true;
  }
  for (int i = 0; i < options_.inserter_threads; ++i) {
    InserterPorts ip{ports_.queue,  ports_.activities,        ports_.pipeline, ports_.tokens,
                     ports_.budget, ports_.api_for_thread(i), ports_.clock, signal_};
    inserters_.push_back(std::make_unique<Inserter>(ip, locks_, options_.inserter));
  }
  if (options_.run_aggregator) {
    aggregator_ = std::make_unique<Aggregator>(ports_.pipeline, ports_.aggregates, ports_.outputs, ports_.clock,
                                               categories_, options_.aggregator);
  }
  for (auto& inserter : inserters_) threads_.emplace_back([this, &inserter] { InserterLoop(*inserter); });
  if (aggregator_) aggregator_thread_ = std::thread([this] { AggregatorLoop(); });
}

void Pipeline::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Only now: the aggregator's last pass must see every commit of the inserters.
  {
    std::lock_guard lock(mu_);
    aggregator_stop_ = true;
  }
  cv_.notify_all();
  signal_->Interrupt();
  if (aggregator_thread_.joinable()) aggregator_thread_.join();
}

bool Pipeline::running() const {
  std::lock_guard lock(mu_);
  return started_ && !stopped_;
}

void Pipeline::Wake() {
  {
    std::lock_guard lock(mu_);
    ++wake_count_;
  }
  cv_.notify_all();
}

PipelineStats Pipeline::Stats() const {
  PipelineStats stats;
  for (const auto& inserter : inserters_) stats.inserter += inserter->Stats();
  if (aggregator_) stats.aggregator = aggregator_->Stats();
  return stats;
}

void Pipeline::InserterLoop(Inserter& inserter) {
  uint64_t seen = 0;
  std::chrono::milliseconds idle = options_.idle_poll;
  while (!stop_) {
    {
      std::lock_guard lock(mu_);
      seen = wake_count_;  // a Wake() from now on is not missed
    }
    auto claimed = inserter.RunOnce(&stop_);
    if (!claimed) {
      Log("event queue: " + claimed.error().message);
      Pause(options_.error_pause);
      continue;
    }
    if (*claimed > 0 && inserter.WaitingForBudget()) {
      // The batch went back to wait for the rate budget: look again after
      // idle_poll, not at every new event, so that a long backlog is not
      // scanned by a claim per webhook (the queue's claims scan in order).
      Pause(options_.idle_poll);
      continue;
    }
    if (*claimed > 0) {
      idle = std::chrono::milliseconds(2);  // more may be waiting (the inserter signalled its commits)
      continue;
    }
    // After work, look again soon (a queue outside the store, e.g. Pub/Sub
    // with ordering keys, hands out the next events a moment after the
    // acks); backing off to idle_poll while it stays empty.
    WaitForWork(seen, idle);
    idle = std::min(idle * 2, options_.idle_poll);
  }
}

void Pipeline::AggregatorLoop() {
  Aggregate(AggregationSignal::Received{});  // what was dirty before this process started
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (aggregator_stop_) break;
    }
    // Returns after idle_poll anyway: the safety net for years marked by
    // another process (backfill) or whose signal was lost.
    auto received = signal_->Wait(options_.idle_poll);
    if (!received) {
      // The store's marks still work without the signal: run anyway.
      Log("aggregation signal: " + received.error().message);
      Aggregate(AggregationSignal::Received{});
      Pause(options_.error_pause);
      continue;
    }
    Aggregate(*received);
    Pause(options_.aggregate_every);  // lets a burst gather into the next run
  }
  // The inserters are joined: write everything they committed.
  for (int i = 0; i < 64; ++i) {
    auto r = aggregator_->RunOnce();
    if (!r) {
      Log("aggregator: " + r.error().message);
      break;
    }
    if (*r == 0) break;
  }
}

void Pipeline::WaitForWork(uint64_t& seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return stop_.load() || wake_count_ != seen; });
  seen = wake_count_;
}

void Pipeline::Aggregate(const AggregationSignal::Received& received) {
  Result<int> r = aggregator_->RunOnce();
  // A full claim means more may be dirty: go on before settling the signals.
  for (int i = 0; r && *r >= std::max(options_.aggregator.max_years, 1) && i < 16; ++i) r = aggregator_->RunOnce();
  if (!r) Log("aggregator: " + r.error().message);
  if (received.count == 0) return;
  Status settled = r ? signal_->Done(received) : signal_->Again(received);
  if (!settled) Log("aggregation signal: " + settled.error().message);
}

void Pipeline::Pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  // The aggregator's pauses end with the inserters' stop as well: its last
  // pass follows at once.
  cv_.wait_for(lock, d, [&] { return stop_.load() || aggregator_stop_; });
}

}  // namespace dl::app
