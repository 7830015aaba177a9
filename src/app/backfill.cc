#include "app/backfill.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <unordered_set>

namespace dl::app {
namespace {

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

}  // namespace

std::string RangeCheckpoint::Encode() const {
  return "run=" + std::to_string(run_id) + ";fence=" + std::to_string(fence_epoch_s) +
         ";after=" + std::to_string(cursor_after_epoch_s) + ";pages=" + std::to_string(pages) +
         ";found=" + std::to_string(found);
}

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
    auto it = fields.find(part.substr(0, eq));
    if (it == fields.end()) return std::nullopt;
    try {
      size_t used = 0;
      std::string value = part.substr(eq + 1);
      *it->second = std::stoll(value, &used);
      if (used != value.size()) return std::nullopt;
    } catch (...) {
      return std::nullopt;
    }
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

Status Backfill::RunRange(const BackfillOptions& options, int first_year, int last_year, BackfillReport& report) {
  auto t0 = std::chrono::steady_clock::now();
  int64_t requests_before = source_.RequestsSent();
  const std::string key = RangeKey(athlete_id_, first_year, last_year);
  const int64_t range_after = core::WidenedUtcRangeForLocalYear(first_year).after_epoch_s;
  const int64_t range_before = core::WidenedUtcRangeForLocalYear(last_year).before_epoch_s;

  RangeCheckpoint cp;
  if (!options.dry_run) {
    auto saved = store_->LoadCheckpoint(key);
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
      cp.cursor_after_epoch_s = range_after;
    }
  } else {
    cp.cursor_after_epoch_s = range_after;
  }
  report.run_id = cp.run_id;

  std::unordered_set<int64_t> seen_ids;
  const int64_t now = EpochOf(clock_);
  const int64_t effective_end = std::min(range_before, std::max(now, range_after + 1));
  bool done = false;
  while (!done) {
    ports::ListQuery q;
    q.after_epoch_s = cp.cursor_after_epoch_s;
    q.before_epoch_s = range_before;
    q.page = 1;
    q.per_page = options.per_page;
    auto fetch_start = std::chrono::steady_clock::now();
    int64_t sent_before = source_.RequestsSent();
    auto page = source_.ListActivities(q);
    report.fetch_s += SecondsSince(fetch_start);
    report.list_requests += source_.RequestsSent() - sent_before;  // retries included
    if (!page) return std::unexpected(page.error());
    ++report.pages;
    done = static_cast<int>(page->size()) < options.per_page;

    // Keep the activities of the requested years, by local date.
    std::map<int, std::vector<core::Activity>> by_year;
    int64_t max_start = cp.cursor_after_epoch_s;
    for (auto& a : *page) {
      auto start = a.StartUtc();
      if (start) max_start = std::max<int64_t>(max_start, start->time_since_epoch().count());
      if (!seen_ids.insert(a.id).second) continue;
      auto date = a.LocalDate();
      if (!date) {
        ++YearOf(report, first_year).errors;
        observer_.OnMessage("activity " + std::to_string(a.id) + " has an unreadable start_date_local; skipped");
        continue;
      }
      int y = static_cast<int>(date->year());
      if (y < first_year || y > last_year) continue;
      by_year[y].push_back(std::move(a));
    }
    if (!done && max_start <= cp.cursor_after_epoch_s) {
      // A full page that does not move the cursor would loop forever.
      return Fail(ErrorCode::kProtocol, "Strava returned a full page without newer activities; stopping");
    }
    cp.cursor_after_epoch_s = max_start;
    ++cp.pages;

    for (auto& [year, acts] : by_year) {
      auto& yr = YearOf(report, year);
      yr.found += static_cast<int64_t>(acts.size());
      cp.found += static_cast<int64_t>(acts.size());
      if (options.dry_run) {
        for (auto& a : acts) {
          if (yr.sample.size() < 10) yr.sample.push_back(a);
        }
      }
    }
    auto store_start = std::chrono::steady_clock::now();
    if (!options.dry_run) {
      // One transaction per year group; the checkpoint rides on the last one
      // (or on its own when the page held nothing of the requested years).
      size_t groups = by_year.size();
      size_t i = 0;
      for (auto& [year, acts] : by_year) {
        ports::UpsertOptions uo;
        uo.now_epoch_s = EpochOf(clock_);
        uo.fence_epoch_s = cp.fence_epoch_s;
        uo.seen_by_run = cp.run_id;
        if (++i == groups) uo.checkpoint = std::make_pair(key, cp.Encode());
        auto summary = store_->UpsertActivities(acts, uo);
        if (!summary) return std::unexpected(summary.error());
        auto& yr = YearOf(report, year);
        yr.inserted += summary->inserted;
        yr.updated += summary->updated;
        yr.unchanged += summary->unchanged;
        yr.fenced += summary->fenced;
      }
      if (groups == 0) {
        if (auto s = store_->SaveCheckpoint(key, cp.Encode()); !s) return s;
      }
    }
    report.store_s += SecondsSince(store_start);
    double span = static_cast<double>(effective_end - range_after);
    double fraction = span > 0 ? static_cast<double>(cp.cursor_after_epoch_s - range_after) / span : 1.0;
    observer_.OnPage(first_year, last_year, std::clamp(done ? 1.0 : fraction, 0.0, 1.0), cp.pages, cp.found);
  }

  auto aggregate_start = std::chrono::steady_clock::now();
  if (!options.dry_run) {
    for (int y = first_year; y <= last_year; ++y) {
      if (auto s = Reconcile(y, cp.run_id, cp.fence_epoch_s, YearOf(report, y)); !s) return s;
      if (auto s = WriteAggregates(options, y); !s) return s;
    }
    if (auto s = store_->DeleteCheckpoint(key); !s) return s;
  }
  report.aggregate_s += SecondsSince(aggregate_start);
  auto& first = YearOf(report, first_year);
  first.requests += source_.RequestsSent() - requests_before;
  first.duration_s += SecondsSince(t0);
  observer_.OnRangeDone(first_year, last_year);
  return Ok();
}

Status Backfill::Reconcile(int year, int64_t run_id, int64_t fence, YearReport& yr) {
  auto unseen = store_->UnseenInLocalYear(athlete_id_, year, run_id);
  if (!unseen) return std::unexpected(unseen.error());
  if (unseen->empty()) return Ok();
  ports::ArchiveRequest req;
  req.athlete_id = athlete_id_;
  req.ids = *unseen;
  req.reason = "not listed by Strava in backfill run " + std::to_string(run_id);
  req.now_epoch_s = EpochOf(clock_);
  req.fence_epoch_s = fence;
  auto archived = store_->ArchiveActivities(req);
  if (!archived) return std::unexpected(archived.error());
  yr.removed += *archived;
  return Ok();
}

Status Backfill::WriteAggregates(const BackfillOptions& options, int year) {
  if (auto s = store_->RebuildYear(athlete_id_, year); !s) return s;
  core::Date dec31{std::chrono::year{year}, std::chrono::December, std::chrono::day{31}};
  core::Date through = dec31;
  if (options.today && static_cast<int>(options.today->year()) == year) through = *options.today;
  std::vector<std::string> categories = options.categories;
  if (categories.empty()) categories.emplace_back(core::kDefaultCategory);
  for (const auto& category : categories) {
    auto days = store_->DailyForYear(athlete_id_, year, category);
    if (!days) return std::unexpected(days.error());
    bool legacy = category == core::kDefaultCategory;
    if (auto s = output_->WriteYear(year, category, *days, through, legacy); !s) return s;
  }
  return Ok();
}

}  // namespace dl::app
