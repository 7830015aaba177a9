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
#include "ports/aggregation_signal.h"
#include "ports/clock.h"
#include "ports/output.h"
#include "ports/store.h"

namespace dl::app {

// The aggregators' wake-up (ports/aggregation_signal.h). In-process: Publish
// wakes a Wait of this process; the embedded default.
using ports::AggregationSignal;
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
