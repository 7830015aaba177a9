// The aggregator: rewrites the yearly aggregate files of the (athlete, year)s
// whose daily totals changed.
//
// The daily totals themselves are exact at every commit: the store
// recomputes the touched days inside each mutation's transaction and marks
// the (athlete, year) dirty in that same transaction. The aggregator claims
// dirty years (PipelineStore::ClaimDirtyYears, leased so that two
// aggregators never work one year at once), reads each year's totals in one
// read (a consistent snapshot), writes every configured category's files
// through ports::YearOutput (each file atomic; the legacy files for the
// default category) and completes the claim. A year marked again while it
// was being written stays dirty and is written again: the files always end
// equal to the latest totals. Idempotent: writing a year twice writes the
// same bytes.
//
// A year whose writing fails keeps its mark and comes back after its lease
// (a natural backoff); the other years of the claim are still written.
//
// Threads: one Aggregator per thread; several may run (in several
// processes) over one store.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "app/inserter.h"
#include "core/aggregates.h"
#include "core/result.h"
#include "core/sports.h"
#include "core/webhook_event.h"
#include "ports/clock.h"
#include "ports/output.h"
#include "ports/store.h"

namespace dl::app {

// How the aggregators learn that there is work, beside the store's dirty
// marks (which stay the truth: an Aggregator::RunOnce claims whatever is
// dirty, whoever signalled it). Inserters Publish after an effect that may
// change daily totals committed; the aggregator thread Waits, runs, then
// calls Done (or Again when the run failed, so the signals come back).
//  - LocalAggregationSignal (below): in-process, the embedded default; the
//    signals are only wake-ups (an aggregator in another process finds the
//    marks at its idle poll).
//  - adapters/pubsub/PubSubAggregationSignal (`serve --transport pubsub`):
//    one message per applied event to the aggregates topic, pulled by every
//    aggregator process of the fleet.
// A lost signal loses nothing: the pipeline's idle poll runs the aggregator
// anyway (it also covers years marked by backfill). Thread-safe.
class AggregationSignal {
 public:
  // What one Wait handed out; opaque to the caller (ack handles, counts).
  struct Received {
    int count = 0;                 // signals received (0: woke on timeout)
    std::vector<std::string> ids;  // transport handles for Done/Again
  };
  virtual ~AggregationSignal() = default;
  // After the effects of `applied` committed (one signal per event).
  virtual Status Publish(std::span<const core::WebhookEvent> applied) = 0;
  // Blocks until a signal arrives, `timeout` passes or Interrupt() was
  // called; what arrived meanwhile is returned together.
  virtual Result<Received> Wait(std::chrono::milliseconds timeout) = 0;
  // The aggregation that followed `received` committed: they are consumed.
  virtual Status Done(const Received& received) = 0;
  // It failed: the signals are delivered again later.
  virtual Status Again(const Received& received) = 0;
  // Ends the current and every later Wait at once (shutdown).
  virtual void Interrupt() = 0;
};

// In-process signal: Publish wakes a Wait of this process.
class LocalAggregationSignal final : public AggregationSignal {
 public:
  Status Publish(std::span<const core::WebhookEvent> applied) override;
  Result<Received> Wait(std::chrono::milliseconds timeout) override;
  Status Done(const Received&) override { return Ok(); }
  Status Again(const Received&) override { return Ok(); }
  void Interrupt() override;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int pending_ = 0;          // guarded by mu_
  bool interrupted_ = false;  // guarded by mu_
};

// Where an athlete's yearly files go; nullptr: not written by this process
// (the claim is completed anyway). The embedded default has one athlete and
// one FileYearOutput under the data directory.
using OutputFor = std::function<ports::YearOutput*(int64_t athlete_id)>;

struct AggregatorOptions {
  // Categories whose files are written for every dirty year; empty = every
  // category of the SportCategories ("other" included). The default category
  // also gets the legacy files.
  std::vector<std::string> categories;
  int max_years = 32;      // dirty years per claim
  int64_t lease_s = 120;   // a claimed year is invisible to other aggregators this long
  // The athlete's local today: it ends the current year's cumulative series.
  // Empty = the UTC date of the clock.
  std::function<core::Date(int64_t athlete_id)> today;
  LogFn log;  // may be empty
};

struct AggregatorStats {
  int64_t runs = 0;          // RunOnce calls that found work
  int64_t years_written = 0;
  int64_t files_failed = 0;  // years whose writing failed (retried later)
  int64_t store_errors = 0;
};

class Aggregator {
 public:
  // References are not owned and must outlive the aggregator.
  Aggregator(ports::PipelineStore& dirty, ports::AggregateStore& aggregates, OutputFor outputs,
             const ports::Clock& clock, const core::SportCategories& categories, AggregatorOptions options);

  // Claims up to max_years dirty years, writes them, completes them. Returns
  // how many were written. Errors: the store's (nothing is completed then),
  // or the first failed write after the other years were done.
  Result<int> RunOnce();

  AggregatorStats Stats() const;  // thread-safe snapshot

 private:
  Status WriteYear(const ports::DirtyYear& year);
  core::Date Through(int64_t athlete_id, int year) const;

  ports::PipelineStore& dirty_;
  ports::AggregateStore& aggregates_;
  OutputFor outputs_;
  const ports::Clock& clock_;
  const core::SportCategories& categories_;
  AggregatorOptions options_;
  mutable std::mutex stats_mu_;
  AggregatorStats stats_;
};

}  // namespace dl::app
