#include "app/backfill.h"

#include <pthread.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <sstream>
#include <thread>
#include <unordered_set>
#include <utility>

namespace dl::app {
namespace backfill_internal {

struct PageProgress {
  double fraction = 0;  // how far the cursor got in the range (0..1)
  int64_t pages = 0, found = 0;
};

// One local year's activities in a page: page[begin, end).
struct YearRun {
  int year = 0;
  size_t begin = 0, end = 0;
  size_t size() const { return end - begin; }
};

// One fetched page's store work: its activities by local year, written in
// year order, the range checkpoint riding on the last write.
struct PageWork {
  // The page's activities to store, grouped by local year (ascending), each
  // year's in listing order; `years` says where each year's run is. Kept as
  // the page's own vector: no activity is moved into per-year vectors.
  std::vector<core::Activity> page;
  std::vector<YearRun> years;
  // The store's work for each year's batch (years[i]) done ahead, on the fetching thread.
  std::vector<std::unique_ptr<ports::PreparedUpsert>> prepared;
  std::string key, checkpoint;
  int64_t now_epoch_s = 0, fence_epoch_s = 0, run_id = 0;
  PageProgress progress;
  // Years whose listing is complete with this page: reconciled and their
  // aggregates written after it, while the next pages are fetched.
  std::vector<int> finalize;
  std::vector<int64_t> boundaries;  // RangeCheckpoint::boundaries, when `finalize` is not empty
  std::vector<int64_t> rejected;    // Range::rejected (sorted), when `finalize` is not empty
  core::Date today;                 // Backfill::Today, when `finalize` is not empty

  std::span<const core::Activity> Of(const YearRun& run) const {
    return std::span<const core::Activity>(page).subspan(run.begin, run.size());
  }
};

struct PageDone {
  std::map<int, ports::UpsertSummary> by_year;
  std::map<int, int64_t> removed;  // finalized years: activities archived
  double fraction = 0;
  int64_t pages = 0, found = 0;
  double finalize_s = 0;
  std::map<int, std::vector<int64_t>> kept;  // finalized years: unlisted activities kept (Reconciled::kept)
};

}  // namespace backfill_internal

namespace {

using backfill_internal::PageDone;
using backfill_internal::PageProgress;
using backfill_internal::PageWork;
using backfill_internal::YearRun;

int64_t EpochOf(const ports::Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
}

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string RangeKey(int64_t athlete_id, int first, int last) {
  return "backfill:" + std::to_string(athlete_id) + ":" + std::to_string(first) + "-" + std::to_string(last);
}

bool IsStopping(const Error& e) {
  switch (e.code) {
    case ErrorCode::kDailyRateLimited:
    case ErrorCode::kRateLimited:
    case ErrorCode::kTransient:
      return true;
    default:
      return false;
  }
}

// Reconciles one year whose listing is complete and writes its aggregates:
// the number of activities archived.
using FinalizeYear = std::function<Result<backfill_internal::Reconciled>(int year, const PageWork& work)>;

// Writes pages in the order pushed, on a thread of its own, so that the
// caller fetches and parses the next page meanwhile; after a page, it
// finalizes the years the page completed (FinalizeYear: the store and the
// output, used by no other thread during the run). After a failure it
// writes nothing more and Push/Close return the error.
class PageWriter {
 public:
  PageWriter(ports::Store& store, FinalizeYear finalize)
      : store_(store), finalize_(std::move(finalize)), thread_([this] {
          pthread_setname_np(pthread_self(), "dl-pagewriter");  // in top, perf and gdb
          Loop();
        }) {}
  ~PageWriter() { (void)Close(); }
  PageWriter(const PageWriter&) = delete;
  PageWriter& operator=(const PageWriter&) = delete;

  // Queues a page while fewer than kWriteAheadPages wait (backfill.h).
  Status Push(PageWork work) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return queue_.size() < kWriteAheadPages || error_; });
    if (error_) return std::unexpected(*error_);
    queue_.push_back(std::move(work));
    cv_.notify_all();
    return Ok();
  }

  // Pages written since the last call, in order.
  std::vector<PageDone> TakeDone() {
    std::lock_guard lock(mu_);
    return std::exchange(done_, {});
  }

  // The activities of the pages written since the last call, given back for
  // the fetching thread to parse later pages into (their strings keep their
  // buffers), instead of the writer freeing them. The rest of a page's work
  // (the prepared rows) the writer frees: freeing it on the fetching thread
  // measured no cheaper there.
  std::vector<std::vector<core::Activity>> TakeWritten() {
    std::lock_guard lock(mu_);
    return std::exchange(written_, {});
  }

  // Writes what is queued (unless the writer failed), then stops the thread.
  Status Close() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
    if (error_) return std::unexpected(*error_);
    return Ok();
  }

  // Seconds spent writing (after Close).
  double busy_s() const { return busy_s_; }

 private:
  void Loop() {
    for (;;) {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;  // closing, and everything is written
      PageWork work = std::move(queue_.front());
      queue_.pop_front();
      cv_.notify_all();  // room for the next page
      lock.unlock();
      auto t0 = std::chrono::steady_clock::now();
      PageDone done{{}, {}, work.progress.fraction, work.progress.pages, work.progress.found, 0, {}};
      Status written = Write(work, done);
      lock.lock();
      busy_s_ += SecondsSince(t0);
      // What was committed counts even when a later step of the page failed.
      done_.push_back(std::move(done));
      written_.push_back(std::move(work.page));
      if (!written) {
        error_ = written.error();
        queue_.clear();
        cv_.notify_all();
        return;
      }
    }
  }

  Status Write(const PageWork& work, PageDone& done) {
    if (auto s = WritePage(work, done); !s) return s;
    auto t0 = std::chrono::steady_clock::now();
    for (int year : work.finalize) {
      auto reconciled = finalize_(year, work);
      if (!reconciled) return std::unexpected(reconciled.error());
      done.removed[year] = reconciled->removed;
      if (!reconciled->kept.empty()) done.kept[year] = std::move(reconciled->kept);
    }
    done.finalize_s = SecondsSince(t0);
    return Ok();
  }

  Status WritePage(const PageWork& work, PageDone& done) {
    ports::UpsertOptions uo;
    uo.now_epoch_s = work.now_epoch_s;
    uo.fence_epoch_s = work.fence_epoch_s;
    uo.seen_by_run = work.run_id;
    uo.defer_daily = true;  // each year is rebuilt once its listing is complete
    // A deauthorization meanwhile (a webhook, maybe in serve) wins, over the
    // checkpoint of a page with nothing to write too.
    uo.require_token = true;
    if (work.years.empty()) {
      uo.checkpoint = std::make_pair(work.key, work.checkpoint);
      auto summary = store_.UpsertActivities({}, uo);
      return summary ? Ok() : Status(std::unexpected(summary.error()));
    }
    for (size_t i = 0; i < work.years.size(); ++i) {
      const auto& run = work.years[i];
      if (i + 1 == work.years.size()) uo.checkpoint = std::make_pair(work.key, work.checkpoint);
      uo.prepared = i < work.prepared.size() ? work.prepared[i].get() : nullptr;
      auto summary = store_.UpsertActivities(work.Of(run), uo);
      if (!summary) return std::unexpected(summary.error());
      done.by_year[run.year] = *summary;
    }
    return Ok();
  }

  ports::Store& store_;
  FinalizeYear finalize_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<PageWork> queue_;   // guarded by mu_
  std::vector<PageDone> done_;   // guarded by mu_
  std::vector<std::vector<core::Activity>> written_;  // guarded by mu_
  std::optional<Error> error_;   // guarded by mu_; read after join
  bool closing_ = false;         // guarded by mu_
  double busy_s_ = 0;            // guarded by mu_; read after join
  std::thread thread_;           // last: starts once the members above exist
};

}  // namespace

std::string RangeCheckpoint::Encode() const {
  std::string out = "run=" + std::to_string(run_id) + ";fence=" + std::to_string(fence_epoch_s) +
                    ";after=" + std::to_string(cursor_after_epoch_s) + ";pages=" + std::to_string(pages) +
                    ";found=" + std::to_string(found);
  for (size_t i = 0; i < boundaries.size(); ++i) out += (i == 0 ? ";edges=" : ",") + std::to_string(boundaries[i]);
  return out;
}

namespace {

// A whole decimal int64, nothing else.
std::optional<int64_t> ParseWhole(const std::string& text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<RangeCheckpoint> RangeCheckpoint::Decode(const std::string& text) {
  RangeCheckpoint c;
  std::map<std::string, int64_t*> fields = {{"run", &c.run_id},
                                            {"fence", &c.fence_epoch_s},
                                            {"after", &c.cursor_after_epoch_s},
                                            {"pages", &c.pages},
                                            {"found", &c.found}};
  std::set<std::string> seen;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ';')) {
    auto eq = part.find('=');
    if (eq == std::string::npos) return std::nullopt;
    const std::string name = part.substr(0, eq), value = part.substr(eq + 1);
    if (name == "edges") {  // optional: absent in checkpoints written before session 4
      std::stringstream list(value);
      std::string item;
      while (std::getline(list, item, ',')) {
        auto edge = ParseWhole(item);
        if (!edge || (!c.boundaries.empty() && *edge <= c.boundaries.back())) return std::nullopt;
        c.boundaries.push_back(*edge);
      }
      if (c.boundaries.empty()) return std::nullopt;
      continue;
    }
    auto it = fields.find(name);
    if (it == fields.end()) return std::nullopt;
    auto v = ParseWhole(value);
    if (!v) return std::nullopt;
    *it->second = *v;
    seen.insert(it->first);
  }
  if (seen.size() != fields.size() || c.run_id <= 0) return std::nullopt;
  return c;
}

std::vector<std::pair<int, int>> MergeYears(std::vector<int> years) {
  std::sort(years.begin(), years.end());
  years.erase(std::unique(years.begin(), years.end()), years.end());
  std::vector<std::pair<int, int>> ranges;
  for (int y : years) {
    if (!ranges.empty() && ranges.back().second + 1 == y) {
      ranges.back().second = y;
    } else {
      ranges.emplace_back(y, y);
    }
  }
  return ranges;
}

Backfill::Backfill(ActivitySource& source, ports::Store* store, ports::YearOutput* output, ports::Clock& clock,
                   const core::SportCategories& categories, BackfillObserver& observer)
    : source_(source), store_(store), output_(output), clock_(clock), categories_(categories), observer_(observer) {}

YearReport& Backfill::YearOf(BackfillReport& report, int year) {
  for (auto& y : report.years) {
    if (y.year == year) return y;
  }
  YearReport fresh;
  fresh.year = year;
  report.years.push_back(std::move(fresh));
  return report.years.back();
}

Result<BackfillReport> Backfill::Run(const BackfillOptions& options) {
  if (options.years.empty()) return Fail(ErrorCode::kInvalidArgument, "no year given");
  for (int y : options.years) {
    if (y < 2000 || y > 2100) {
      return Fail(ErrorCode::kInvalidArgument, "year " + std::to_string(y) + " is out of range (2000-2100)");
    }
  }
  if (!options.dry_run && (store_ == nullptr || output_ == nullptr)) {
    return Fail(ErrorCode::kInternal, "backfill needs a store and an output unless it is a dry run");
  }
  BackfillReport report;
  auto athlete = source_.AthleteId();
  if (!athlete) return std::unexpected(athlete.error());
  athlete_id_ = *athlete;
  report.athlete_id = athlete_id_;
  auto ranges = MergeYears(options.years);
  for (const auto& [first, last] : ranges) {
    for (int y = first; y <= last; ++y) YearOf(report, y);
  }
  for (const auto& [first, last] : ranges) {
    auto status = RunRange(options, first, last, report);
    if (!status) {
      if (IsStopping(status.error())) {
        report.stopped = status.error();
        break;
      }
      return std::unexpected(status.error());
    }
  }
  return report;
}

struct Backfill::Range {
  int first_year = 0, last_year = 0;
  std::string key;            // the checkpoint's key
  int64_t range_after = 0;    // the widened UTC range of the local years
  int64_t range_before = 0;
  int64_t effective_end = 0;  // range_before, or now for the current year (progress)
  RangeCheckpoint cp;
  // The report's per-year requests and duration: each page's are its year's
  // (AttributePage); the range's other time goes to the year it ended in.
  int page_year = 0;  // the year of the last page attributed
  int64_t page_requests = 0;
  double page_s = 0, attributed_s = 0;
  std::optional<double> latest_offset_s;  // utc_offset of the latest activity listed by this run
  // Listed by this run but not stored (unreadable local date, impossible
  // amounts): a stored copy is kept, not taken for deleted on Strava. Not in
  // the checkpoint: a resumed run knows only its own.
  std::set<int64_t> rejected;
};

Status Backfill::RunRange(const BackfillOptions& options, int first_year, int last_year, BackfillReport& report) {
  auto t0 = std::chrono::steady_clock::now();
  Range range;
  range.first_year = first_year;
  range.last_year = last_year;
  range.key = RangeKey(athlete_id_, first_year, last_year);
  range.range_after = core::WidenedUtcRangeForLocalYear(first_year).after_epoch_s;
  range.range_before = core::WidenedUtcRangeForLocalYear(last_year).before_epoch_s;
  RangeCheckpoint& cp = range.cp;
  if (!options.dry_run) {
    auto saved = store_->LoadCheckpoint(range.key);
    if (!saved) return std::unexpected(saved.error());
    if (*saved) {
      if (auto decoded = RangeCheckpoint::Decode(**saved)) {
        cp = *decoded;
        report.resumed = true;
        observer_.OnMessage("resuming " + std::to_string(first_year) + "-" + std::to_string(last_year) +
                            " from its checkpoint (" + std::to_string(cp.pages) + " pages already stored)");
      }
    }
    if (cp.run_id == 0) {
      auto run = store_->NextRunId();
      if (!run) return std::unexpected(run.error());
      cp.run_id = *run;
      cp.fence_epoch_s = EpochOf(clock_);
      cp.cursor_after_epoch_s = range.range_after;
    }
  } else {
    cp.cursor_after_epoch_s = range.range_after;
  }
  report.run_id = cp.run_id;
  const int64_t now = EpochOf(clock_);
  range.effective_end = std::min(range.range_before, std::max(now, range.range_after + 1));
  range.page_year = first_year;
  Status fetched = FetchRange(options, range, report);
  // Every request of the range is a page's (AttributePage); the time
  // besides the pages' (writing the last pages, the last finalize) counts for
  // the year the listing ended in.
  YearOf(report, range.page_year).duration_s += std::max(0.0, SecondsSince(t0) - range.attributed_s);
  if (!fetched) return fetched;
  // Every year was reconciled and written by the page writer as the listing
  // passed it (FetchRange); the range is complete.
  if (!options.dry_run)
    if (auto s = store_->DeleteCheckpoint(range.key); !s) return s;
  observer_.OnRangeDone(first_year, last_year);
  return Ok();
}

struct Backfill::Split {
  std::vector<core::Activity> page;  // the activities to store, grouped by year (PageWork::page)
  std::vector<YearRun> years;
  int64_t max_start = 0;
  std::optional<double> latest_offset_s;  // of the activity that starts at max_start
};

// A page's requests (retries and rate-limit waits included) and time count
// for the year most of its activities belong to (the earlier on a tie); a
// page with none of the range's years (or none at all: a failed request),
// for the year of the page before.
void Backfill::AttributePage(Range& range, const Split& split, BackfillReport& report) {
  size_t most = 0;
  for (const auto& run : split.years) {
    if (run.size() > most) {
      most = run.size();
      range.page_year = run.year;
    }
  }
  auto& yr = YearOf(report, range.page_year);
  yr.requests += range.page_requests;
  yr.duration_s += range.page_s;
  range.attributed_s += range.page_s;
}

namespace {

// Orders the first kept.size() activities of `page` (kept[i]: the year of
// page[i]) by year, stably, and drops the rest: the runs of each year. A
// page comes oldest first, so its years are almost always in order already
// and nothing moves; a page out of order (time zones apart) is sorted.
std::vector<YearRun> GroupByYear(std::vector<core::Activity>& page, const std::vector<int>& kept) {
  page.resize(kept.size());
  if (!std::is_sorted(kept.begin(), kept.end())) {
    std::vector<size_t> order(kept.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return kept[x] < kept[y]; });
    std::vector<core::Activity> sorted;
    sorted.reserve(page.size());
    for (size_t i : order) sorted.push_back(std::move(page[i]));
    page = std::move(sorted);
  }
  std::vector<int> years = kept;
  std::sort(years.begin(), years.end());
  std::vector<YearRun> runs;
  for (size_t i = 0; i < years.size(); ++i) {
    if (runs.empty() || runs.back().year != years[i]) runs.push_back(YearRun{years[i], i, i});
    runs.back().end = i + 1;
  }
  return runs;
}

}  // namespace

Backfill::Split Backfill::SplitByYear(std::vector<core::Activity>& page, Range& range,
                                      std::unordered_set<int64_t>& seen_ids, BackfillReport& report) {
  Split split;
  split.max_start = range.cp.cursor_after_epoch_s;
  std::vector<int> kept;  // the year of each activity kept, moved to the front of the page
  kept.reserve(page.size());
  for (size_t i = 0; i < page.size(); ++i) {
    auto& a = page[i];
    auto start = a.StartUtc();
    if (start && start->time_since_epoch().count() >= split.max_start) {
      split.max_start = start->time_since_epoch().count();
      split.latest_offset_s = a.utc_offset_s;
    }
    if (!seen_ids.insert(a.id).second) continue;
    auto date = a.LocalDate();
    if (!date) {
      range.rejected.insert(a.id);
      ++YearOf(report, range.first_year).errors;
      observer_.OnMessage("activity " + std::to_string(a.id) + " has an unreadable start_date_local; skipped");
      continue;
    }
    int y = static_cast<int>(date->year());
    if (y < range.first_year || y > range.last_year) continue;
    if (auto why = core::ImplausibleAmounts(a)) {
      range.rejected.insert(a.id);
      ++YearOf(report, y).errors;
      observer_.OnMessage("activity " + std::to_string(a.id) + " skipped: Strava sent " + *why);
      continue;
    }
    if (kept.size() != i) page[kept.size()] = std::move(a);
    kept.push_back(y);
  }
  split.years = GroupByYear(page, kept);
  split.page = std::move(page);
  return split;
}

// Adds the written pages' counts to the report, in order, and tells the
// observer how far the range got.
struct Backfill::Tally {
  Backfill& backfill;
  const Range& range;
  BackfillReport& report;
  double finalize_s = 0;

  void Add(std::vector<PageDone> pages) {
    for (auto& page : pages) {
      for (const auto& [year, summary] : page.by_year) {
        auto& yr = backfill.YearOf(report, year);
        yr.inserted += summary.inserted;
        yr.updated += summary.updated;
        yr.unchanged += summary.unchanged;
        yr.fenced += summary.fenced;
      }
      for (const auto& [year, removed] : page.removed) backfill.YearOf(report, year).removed += removed;
      for (const auto& [year, ids] : page.kept)
        for (int64_t id : ids)
          backfill.observer_.OnMessage("activity " + std::to_string(id) + " (" + std::to_string(year) +
                                       ") was not listed, but it starts in the second a full page ended with, "
                                       "which Strava's listing skips: kept; a later backfill or its webhook settles it");
      finalize_s += page.finalize_s;
      backfill.observer_.OnPage(range.first_year, range.last_year, page.fraction, page.pages, page.found);
    }
  }
};

Result<std::vector<core::Activity>> Backfill::ListPage(const BackfillOptions& options, Range& range,
                                                       BackfillReport& report) {
  auto fetch_start = std::chrono::steady_clock::now();
  int64_t sent_before = source_.RequestsSent();
  ports::ListQuery q;
  q.after_epoch_s = range.cp.cursor_after_epoch_s;
  q.before_epoch_s = range.range_before;
  q.page = 1;
  q.per_page = options.per_page;
  auto page = source_.ListActivities(q);
  range.page_s = SecondsSince(fetch_start);
  range.page_requests = source_.RequestsSent() - sent_before;  // retries included
  report.fetch_s += range.page_s;
  report.list_requests += range.page_requests;
  if (page) ++report.pages;
  return page;
}

// Counts the page's activities (and keeps a dry run's sample), advances the
// checkpoint and says how far the range got.
PageWork Backfill::MakeWork(const BackfillOptions& options, Range& range, Split& split, bool last_page,
                            BackfillReport& report) {
  RangeCheckpoint& cp = range.cp;
  cp.cursor_after_epoch_s = split.max_start;
  if (split.latest_offset_s) range.latest_offset_s = split.latest_offset_s;
  if (!last_page) cp.boundaries.push_back(split.max_start);  // a full page: the next `after` hides its second
  ++cp.pages;
  PageWork work;
  work.page = std::move(split.page);
  work.years = std::move(split.years);
  for (const auto& run : work.years) {
    auto& yr = YearOf(report, run.year);
    yr.found += static_cast<int64_t>(run.size());
    cp.found += static_cast<int64_t>(run.size());
    for (size_t i = run.begin; options.dry_run && i < run.end && yr.sample.size() < 10; ++i)
      yr.sample.push_back(work.page[i]);
  }
  double span = static_cast<double>(range.effective_end - range.range_after);
  double fraction = span > 0 ? static_cast<double>(cp.cursor_after_epoch_s - range.range_after) / span : 1.0;
  work.progress = PageProgress{std::clamp(last_page ? 1.0 : fraction, 0.0, 1.0), cp.pages, cp.found};
  return work;
}

// Readies a page for the writer: the store's work done here, the checkpoint,
// and the years the listing has now passed (results come oldest first: once
// the cursor passes a year's widened UTC end, nothing of that local year can
// follow). Years before next_final are already queued; on resume, years
// passed before the interruption are finalized again (harmless).
void Backfill::ReadyForWriter(PageWork& work, const Range& range, bool last_page, int& next_final,
                              BackfillReport& report) {
  const RangeCheckpoint& cp = range.cp;
  for (const auto& run : work.years) work.prepared.push_back(store_->PrepareUpsert(work.Of(run)));
  for (const auto& run : work.years) {
    // Only an activity outside the widest time-zone offsets can come after
    // its year was reconciled: say so, so that the year is run again.
    const int year = run.year;
    if (year >= next_final) continue;
    YearOf(report, year).errors += static_cast<int64_t>(run.size());
    observer_.OnMessage(std::to_string(run.size()) + " activities of " + std::to_string(year) +
                        " were listed after " + std::to_string(year) +
                        " was reconciled (a time-zone offset beyond -12/+14 h?); run the backfill for " +
                        std::to_string(year) + " again");
  }
  while (next_final <= range.last_year &&
         (last_page || cp.cursor_after_epoch_s >= core::WidenedUtcRangeForLocalYear(next_final).before_epoch_s))
    work.finalize.push_back(next_final++);
  if (!work.finalize.empty()) {
    work.boundaries = cp.boundaries;
    work.rejected.assign(range.rejected.begin(), range.rejected.end());
  }
  work.key = range.key;
  work.checkpoint = cp.Encode();
  work.now_epoch_s = EpochOf(clock_);
  work.fence_epoch_s = cp.fence_epoch_s;
  work.run_id = cp.run_id;
}

Status Backfill::FetchRange(const BackfillOptions& options, Range& range, BackfillReport& report) {
  std::optional<PageWriter> writer;
  if (!options.dry_run) {
    writer.emplace(*store_, [this, &options](int year, const PageWork& work) -> Result<backfill_internal::Reconciled> {
      auto reconciled =
          Reconcile(year, work.run_id, work.fence_epoch_s, work.now_epoch_s, work.boundaries, work.rejected);
      if (!reconciled) return reconciled;
      if (auto s = WriteAggregates(options, year, work.today); !s) return std::unexpected(s.error());
      return reconciled;
    });
  }
  Tally tally{*this, range, report};
  std::unordered_set<int64_t> seen_ids;
  int next_final = range.first_year;
  Status status = Ok();
  for (bool last_page = false; !last_page;) {
    auto page = ListPage(options, range, report);
    if (!page) {
      AttributePage(range, Split{}, report);  // its requests and waits: the year the listing is in
      status = std::unexpected(page.error());
      break;
    }
    last_page = static_cast<int>(page->size()) < options.per_page;
    Split split = SplitByYear(*page, range, seen_ids, report);
    AttributePage(range, split, report);
    if (!last_page && split.max_start <= range.cp.cursor_after_epoch_s) {
      // A full page that does not move the cursor would loop forever.
      status = Fail(ErrorCode::kProtocol, "Strava returned a full page without newer activities; stopping");
      break;
    }
    PageWork work = MakeWork(options, range, split, last_page, report);
    if (!writer) {
      tally.Add({PageDone{{}, {}, work.progress.fraction, work.progress.pages, work.progress.found, 0, {}}});
      continue;
    }
    ReadyForWriter(work, range, last_page, next_final, report);
    if (!work.finalize.empty()) work.today = Today(options, range);
    if (auto s = writer->Push(std::move(work)); !s) {
      status = s;
      break;
    }
    tally.Add(writer->TakeDone());
    for (auto& written : writer->TakeWritten()) source_.RecyclePage(std::move(written));
  }
  if (writer) {
    // The pages already fetched are written even when the fetching stopped:
    // their checkpoint lets a re-run continue after them.
    Status closed = writer->Close();
    tally.Add(writer->TakeDone());
    report.store_s += writer->busy_s() - tally.finalize_s;
    report.aggregate_s += tally.finalize_s;
    if (!closed) return closed;  // a store failure outranks a fetch stop
  }
  return status;
}

// Runs on the page writer's thread: reports through its result, never the observer.
Result<backfill_internal::Reconciled> Backfill::Reconcile(int year, int64_t run_id, int64_t fence,
                                                          int64_t now_epoch_s, const std::vector<int64_t>& boundaries,
                                                          const std::vector<int64_t>& rejected) {
  backfill_internal::Reconciled out;
  auto unseen = store_->UnseenInLocalYear(athlete_id_, year, run_id);
  if (!unseen) return std::unexpected(unseen.error());
  if (unseen->empty()) return out;
  ports::ArchiveRequest req;
  req.athlete_id = athlete_id_;
  for (int64_t id : *unseen) {
    if (std::binary_search(rejected.begin(), rejected.end(), id)) continue;  // listed; its error is reported
    auto hidden = MayBeHiddenByAPageBoundary(id, boundaries);
    if (!hidden) return std::unexpected(hidden.error());
    (*hidden ? out.kept : req.ids).push_back(id);
  }
  if (req.ids.empty()) return out;
  req.reason = "not listed by Strava in backfill run " + std::to_string(run_id);
  req.now_epoch_s = now_epoch_s;
  req.fence_epoch_s = fence;
  auto removed = store_->ArchiveActivities(req);
  if (!removed) return std::unexpected(removed.error());
  out.removed = *removed;
  return out;
}

Result<bool> Backfill::MayBeHiddenByAPageBoundary(int64_t id, const std::vector<int64_t>& boundaries) {
  if (boundaries.empty()) return false;
  auto stored = store_->GetActivity(athlete_id_, id);
  if (!stored) return std::unexpected(stored.error());
  auto start = *stored ? (*stored)->StartUtc() : std::nullopt;
  return start && std::binary_search(boundaries.begin(), boundaries.end(), start->time_since_epoch().count());
}

std::optional<double> LatestUtcOffset(ports::ActivityStore& store, const ports::Clock& clock, int64_t athlete_id) {
  const int year = static_cast<int>(core::LocalDateAt(EpochOf(clock), 0).year());
  for (int y : {year + 1, year, year - 1}) {  // at +14 h, local today may be in the next year
    auto acts = store.ActivitiesInLocalYear(athlete_id, y);
    if (acts && !acts->empty()) return acts->back().utc_offset_s;
  }
  return std::nullopt;
}

core::Date AthleteToday(ports::ActivityStore& store, const ports::Clock& clock, int64_t athlete_id) {
  return core::LocalDateAt(EpochOf(clock), LatestUtcOffset(store, clock, athlete_id).value_or(0));
}

// Runs on the fetching thread: the activities listed so far may not be
// stored yet.
core::Date Backfill::Today(const BackfillOptions& options, const Range& range) {
  if (options.today) return *options.today;
  if (range.latest_offset_s) return core::LocalDateAt(EpochOf(clock_), *range.latest_offset_s);
  return AthleteToday(*store_, clock_, athlete_id_);
}

Status Backfill::WriteAggregates(const BackfillOptions& options, int year, core::Date today) {
  if (auto s = store_->RebuildYear(athlete_id_, year); !s) return s;
  core::Date dec31{std::chrono::year{year}, std::chrono::December, std::chrono::day{31}};
  core::Date through = dec31;
  if (static_cast<int>(today.year()) == year) through = today;
  std::vector<std::string> categories = options.categories;
  if (categories.empty()) categories.emplace_back(core::kDefaultCategory);
  auto write_files = [&]() -> Status {
    for (const auto& category : categories) {
      auto days = store_->DailyForYear(athlete_id_, year, category);
      if (!days) return std::unexpected(days.error());
      bool legacy = category == core::kDefaultCategory;
      if (auto s = output_->WriteYear(year, category, *days, through, legacy); !s) return s;
    }
    return Ok();
  };
  if (auto s = write_files(); !s) return s;
  // A deauthorization (serve, another process) that deleted the athlete's
  // data after the totals above were read: its dirty mark has serve's
  // aggregator rewrite these files, but that may have run before this write.
  // Once the token is seen gone, the files are written again from the store;
  // a deletion committed after this check is rewritten by the aggregator.
  auto token = store_->LoadToken(athlete_id_);
  if (!token) return std::unexpected(token.error());
  if (!*token) return write_files();
  return Ok();
}

}  // namespace dl::app
