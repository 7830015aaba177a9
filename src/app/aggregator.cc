#include "app/aggregator.h"

#include <chrono>
#include <map>
#include <utility>

namespace dl::app {

Status LocalAggregationSignal::Publish(std::span<const core::WebhookEvent> applied) {
  if (applied.empty()) return Ok();
  {
    std::lock_guard lock(mu_);
    pending_ += static_cast<int>(applied.size());
  }
  cv_.notify_all();
  return Ok();
}

Result<AggregationSignal::Received> LocalAggregationSignal::Wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return interrupted_ || pending_ > 0; });
  Received received;
  received.count = std::exchange(pending_, 0);
  return received;
}

void LocalAggregationSignal::Interrupt() {
  {
    std::lock_guard lock(mu_);
    interrupted_ = true;
  }
  cv_.notify_all();
}

Aggregator::Aggregator(ports::PipelineStore& dirty, ports::AggregateStore& aggregates, OutputFor outputs,
                       const ports::Clock& clock, const core::SportCategories& categories, AggregatorOptions options)
    : dirty_(dirty),
      aggregates_(aggregates),
      outputs_(std::move(outputs)),
      clock_(clock),
      categories_(categories),
      options_(std::move(options)) {
  if (options_.categories.empty()) options_.categories = categories_.Names();
  options_.max_years = std::max(options_.max_years, 1);
  options_.lease_s = std::max<int64_t>(options_.lease_s, 1);
}

AggregatorStats Aggregator::Stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

Result<int> Aggregator::RunOnce() {
  const int64_t now = std::chrono::floor<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  auto claimed = dirty_.ClaimDirtyYears(options_.max_years, now, options_.lease_s);
  if (!claimed) {
    std::lock_guard lock(stats_mu_);
    ++stats_.store_errors;
    return std::unexpected(claimed.error());
  }
  if (claimed->empty()) return 0;
  std::vector<ports::DirtyYear> written;
  std::optional<Error> first_error;
  for (const ports::DirtyYear& year : *claimed) {
    if (Status s = WriteYear(year); !s) {
      // Left claimed: it comes back when the lease runs out.
      if (options_.log) {
        options_.log("could not write the files of " + std::to_string(year.year) + " (athlete " +
                     std::to_string(year.athlete_id) + "): " + s.error().message);
      }
      if (!first_error) first_error = s.error();
      std::lock_guard lock(stats_mu_);
      ++stats_.files_failed;
      continue;
    }
    written.push_back(year);
  }
  Status completed = dirty_.CompleteDirtyYears(written);
  {
    std::lock_guard lock(stats_mu_);
    ++stats_.runs;
    stats_.years_written += static_cast<int64_t>(written.size());
    if (!completed) ++stats_.store_errors;
  }
  if (!completed) return std::unexpected(completed.error());  // written again later: idempotent
  if (first_error) return std::unexpected(*first_error);
  return static_cast<int>(written.size());
}

Status Aggregator::WriteYear(const ports::DirtyYear& year) {
  ports::YearOutput* output = outputs_ ? outputs_(year.athlete_id) : nullptr;
  if (output == nullptr) return Ok();
  // One read for every category: the files of one run come from one commit.
  auto all = aggregates_.DailyForYear(year.athlete_id, year.year, "");
  if (!all) return std::unexpected(all.error());
  std::map<std::string, std::vector<core::DailyTotals>> by_category;
  for (auto& day : *all) by_category[day.category].push_back(std::move(day));
  const core::Date through = Through(year.athlete_id, year.year);
  for (const std::string& category : options_.categories) {
    const bool legacy = category == core::kDefaultCategory;
    if (Status s = output->WriteYear(year.year, category, by_category[category], through, legacy); !s) return s;
  }
  return Ok();
}

core::Date Aggregator::Through(int64_t athlete_id, int year) const {
  core::Date today = options_.today
                         ? options_.today(athlete_id)
                         : core::Date{std::chrono::floor<std::chrono::days>(clock_.Now())};
  if (static_cast<int>(today.year()) == year) return today;
  return core::Date{std::chrono::year{year}, std::chrono::December, std::chrono::day{31}};
}

}  // namespace dl::app
