#include "core/aggregates.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace dl::core {

double MmToMiles(int64_t mm) { return static_cast<double>(mm) / 1e6 * kMilesPerKm; }
double MmToKm(int64_t mm) { return static_cast<double>(mm) / 1e6; }

std::vector<DailyTotals> SummarizeDays(std::span<const Activity> activities, const SportCategories& categories) {
  std::map<std::pair<std::chrono::sys_days, std::string>, DailyTotals> by_key;
  for (const auto& a : activities) {
    auto date = a.LocalDate();
    if (!date) continue;
    std::string category = categories.Categorize(a);
    auto& t = by_key[{std::chrono::sys_days{*date}, category}];
    t.date = *date;
    t.category = category;
    t.distance_mm += a.DistanceMm();
    t.moving_time_s += a.moving_time_s;
    t.elevation_gain_cm += a.ElevationGainCm();
    t.count += 1;
    t.activity_ids.push_back(a.id);
  }
  std::vector<DailyTotals> out;
  out.reserve(by_key.size());
  for (auto& [key, t] : by_key) {
    std::sort(t.activity_ids.begin(), t.activity_ids.end());
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<DailyTotals> BuildYear(std::span<const Activity> activities, int year, const std::string& category,
                                   const SportCategories& categories) {
  std::vector<DailyTotals> out;
  for (auto& t : SummarizeDays(activities, categories)) {
    if (static_cast<int>(t.date.year()) == year && t.category == category) out.push_back(std::move(t));
  }
  return out;
}

std::vector<CumulativePoint> Cumulative(std::span<const DailyTotals> days, int year, Date through) {
  Date jan1{std::chrono::year{year}, std::chrono::January, std::chrono::day{1}};
  Date dec31{std::chrono::year{year}, std::chrono::December, std::chrono::day{31}};
  if (std::chrono::sys_days{through} > std::chrono::sys_days{dec31}) through = dec31;
  std::vector<CumulativePoint> out;
  if (std::chrono::sys_days{through} < std::chrono::sys_days{jan1}) return out;
  std::map<std::chrono::sys_days, int64_t> per_day;
  for (const auto& d : days) {
    if (static_cast<int>(d.date.year()) == year) per_day[std::chrono::sys_days{d.date}] += d.distance_mm;
  }
  int64_t total = 0;
  for (auto day = std::chrono::sys_days{jan1}; day <= std::chrono::sys_days{through}; day += std::chrono::days{1}) {
    auto it = per_day.find(day);
    if (it != per_day.end()) total += it->second;
    out.push_back({Date{day}, total});
  }
  return out;
}

}  // namespace dl::core
