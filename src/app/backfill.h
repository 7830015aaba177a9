// Backfill: pull every activity of the requested years from Strava (the
// source of truth) into the store, archive what Strava no longer lists, and
// regenerate the yearly aggregate files.
//
// Fetching: the requested years are merged into contiguous ranges; each range
// is listed with per_page=200, oldest first, by moving `after` forward to the
// last start_date seen (exclusive) and de-duplicating by id, so activities
// created or deleted while the run is under way cannot shift a page and make
// it skip one. A short page ends the range: N activities cost ceil(N/200)
// list requests (one more when N is a multiple of 200).
//
// Years are local: an activity belongs to the year of its start_date_local.
// The API filters on UTC start_date, so each range is widened by the widest
// time-zone offsets and activities are kept by local date.
//
// Resumable: a checkpoint is saved with every page, in the same transaction
// as the page's rows. A re-run continues from it with the same run id, so
// reconciliation still sees every activity listed before the interruption.
//
// Overlap: while the store writes page k on a writer thread, the calling
// thread fetches and parses page k+1 and has the store prepare it
// (Store::PrepareUpsert: the raw JSON encoded off the writer thread); four
// pages in flight at most. Pages are written in order, so a checkpoint never
// runs ahead of an earlier page's rows. Every call to the source and to the
// observer stays on the calling thread; the writer thread calls the store
// and the output. A stop (fault, rate limit) lets the writer finish the
// pages already fetched before Run returns.
//
// Aggregates: pages are upserted with UpsertOptions::defer_daily (the store
// may leave the touched years' daily totals to a rebuild, marking them in
// the same transaction). As soon as the listing passes a year's widened UTC
// end (results come oldest first, so nothing of that local year can follow),
// the writer reconciles the year, rebuilds it (RebuildYear) and writes its
// files after the page, while the next pages are fetched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/activity.h"
#include "core/result.h"
#include "core/sports.h"
#include "ports/clock.h"
#include "ports/output.h"
#include "ports/store.h"
#include "ports/strava_api.h"

namespace dl::app {

namespace backfill_internal {
struct PageWork;  // one fetched page on its way to the writer (backfill.cc)
// What reconciling a year did: activities archived, and the unlisted ones
// kept because a page boundary may have hidden them (Backfill::Reconcile).
struct Reconciled {
  int64_t removed = 0;
  std::vector<int64_t> kept;
};
}  // namespace backfill_internal

// What backfill needs from Strava: the session (tokens, rate budget, retries)
// implements it; tests may use a fake.
class ActivitySource {
 public:
  virtual ~ActivitySource() = default;
  virtual Result<int64_t> AthleteId() = 0;
  virtual Result<std::vector<core::Activity>> ListActivities(const ports::ListQuery& query) = 0;
  // A page ListActivities returned, once written: the source may list a
  // later page into it (ports::StravaApi::RecyclePage). Optional.
  virtual void RecyclePage(std::vector<core::Activity> page) { (void)page; }
  // Requests this source has sent so far (for the report).
  virtual int64_t RequestsSent() const = 0;
};

// Pages fetched ahead of the writer, waiting for it (write-ahead: a plain
// hand-off was 20-25 % slower than one page; 16 instead of 2 keep the
// fetching going while the writer finalizes a year, 6-13 % faster on
// 2026-11-29). So at most kWriteAheadPages + 2 pages are in flight: the one
// being written, the waiting ones and the one being fetched. A kill
// re-fetches at most those (uncommitted) pages, never a completed one.
inline constexpr size_t kWriteAheadPages = 16;

struct BackfillOptions {
  std::vector<int> years;                 // any order, duplicates ignored
  std::vector<std::string> categories;    // files to write; empty = the default category
  bool dry_run = false;                   // fetch and report; write nothing
  int per_page = 200;
  // The athlete's local today (the current year's series ends there); unset:
  // now in the time zone of the latest activity listed (else stored).
  std::optional<core::Date> today;
};

struct YearReport {
  int year = 0;
  int64_t found = 0, inserted = 0, updated = 0, unchanged = 0, fenced = 0, removed = 0, errors = 0;
  // A merged range is one listing: each page's list requests (retries
  // included) and wall time count for the year most of its activities belong
  // to; the range's remaining time (writing the last pages, the last year's
  // finalize) for the year the listing ended in.
  double duration_s = 0;
  int64_t requests = 0;
  std::vector<core::Activity> sample;  // dry run: the first ten
};

struct BackfillReport {
  int64_t athlete_id = 0;
  int64_t run_id = 0;
  bool resumed = false;
  std::vector<YearReport> years;
  int64_t list_requests = 0;
  int64_t pages = 0;
  // Where the time went (seconds of wall time): fetching and parsing pages
  // (including rate-limit waits), upserting them, reconciling and rebuilding
  // the aggregates and files. Fetching and upserting overlap (two threads),
  // so fetch_s + store_s may exceed the run's wall time.
  double fetch_s = 0, store_s = 0, aggregate_s = 0;
  std::optional<Error> stopped;  // set when the run stopped early (resumable)
};

class BackfillObserver {
 public:
  virtual ~BackfillObserver() = default;
  // After each page: the range, how far the cursor got (0..1), totals so far.
  virtual void OnPage(int /*first_year*/, int /*last_year*/, double /*fraction*/, int64_t /*pages*/,
                      int64_t /*activities*/) {}
  virtual void OnRangeDone(int /*first_year*/, int /*last_year*/) {}
  virtual void OnMessage(const std::string& /*line*/) {}
};

// The utc_offset of the athlete's latest stored activity of the local years
// around now (UTC's year, the one before, the one after); nullopt when none.
std::optional<double> LatestUtcOffset(ports::ActivityStore& store, const ports::Clock& clock, int64_t athlete_id);
// The athlete's local today: now at LatestUtcOffset; the UTC date when there is none.
core::Date AthleteToday(ports::ActivityStore& store, const ports::Clock& clock, int64_t athlete_id);

// Contiguous ranges of the sorted, de-duplicated years: {2023,2024,2025,2019}
// -> {{2019,2019},{2023,2025}}.
std::vector<std::pair<int, int>> MergeYears(std::vector<int> years);

class Backfill {
 public:
  // `store` and `output` may be null only in a dry run.
  Backfill(ActivitySource& source, ports::Store* store, ports::YearOutput* output, ports::Clock& clock,
           const core::SportCategories& categories, BackfillObserver& observer);

  // Errors that stop the run (rate limit, faults past retries, auth) come back
  // in report.stopped with everything done so far committed; a re-run resumes.
  Result<BackfillReport> Run(const BackfillOptions& options);

 private:
  struct Range;
  Status RunRange(const BackfillOptions& options, int first_year, int last_year, BackfillReport& report);
  Status FetchRange(const BackfillOptions& options, Range& range, BackfillReport& report);
  struct Split;
  struct Tally;
  // One list request at the range's cursor, timed and counted in the report.
  Result<std::vector<core::Activity>> ListPage(const BackfillOptions& options, Range& range,
                                               BackfillReport& report);
  void AttributePage(Range& range, const Split& split, BackfillReport& report);
  backfill_internal::PageWork MakeWork(const BackfillOptions& options, Range& range, Split& split, bool last_page,
                                       BackfillReport& report);
  void ReadyForWriter(backfill_internal::PageWork& work, const Range& range, bool last_page, int& next_final,
                      BackfillReport& report);
  // The page's new activities of the range's years, by local year, and the
  // latest start_date seen (the next cursor).
  Split SplitByYear(std::vector<core::Activity>& page, Range& range, std::unordered_set<int64_t>& seen_ids,
                    BackfillReport& report);
  // Archives what run `run_id` did not list in the local year, except what
  // starts in one of the run's page `boundaries` (the listing skips those)
  // and what it listed but `rejected` (sorted ids; errors of their own).
  Result<backfill_internal::Reconciled> Reconcile(int year, int64_t run_id, int64_t fence, int64_t now_epoch_s,
                                                  const std::vector<int64_t>& boundaries,
                                                  const std::vector<int64_t>& rejected);
  // Whether stored activity `id` starts in one of `boundaries` (sorted):
  // then the listing may have skipped it, and it is not taken for deleted.
  Result<bool> MayBeHiddenByAPageBoundary(int64_t id, const std::vector<int64_t>& boundaries);
  // The date that ends the current year's series (BackfillOptions::today).
  core::Date Today(const BackfillOptions& options, const Range& range);
  Status WriteAggregates(const BackfillOptions& options, int year, core::Date today);
  YearReport& YearOf(BackfillReport& report, int year);

  ActivitySource& source_;
  ports::Store* store_;
  ports::YearOutput* output_;
  ports::Clock& clock_;
  const core::SportCategories& categories_;
  BackfillObserver& observer_;
  int64_t athlete_id_ = 0;
};

// Checkpoint of one range, saved with every page. Text form:
// "run=7;fence=1700000000;after=1690000000;pages=3;found=600".
struct RangeCheckpoint {
  int64_t run_id = 0;
  int64_t fence_epoch_s = 0;
  int64_t cursor_after_epoch_s = 0;
  int64_t pages = 0;
  int64_t found = 0;
  // The `after` of every request that followed a full page (its last
  // start_date, ascending). Strava's `after` is exclusive: an activity that
  // starts in that same second but did not fit on the page is never listed,
  // so reconciliation must not take it for deleted (see Backfill::Reconcile).
  std::vector<int64_t> boundaries;
  std::string Encode() const;
  static std::optional<RangeCheckpoint> Decode(const std::string& text);
};

}  // namespace dl::app
