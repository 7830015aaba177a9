#include "core/aggregates.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <tuple>

namespace dl::core {

double MmToMiles(int64_t mm) { return static_cast<double>(mm) / 1e6 * kMilesPerKm; }
double MmToKm(int64_t mm) { return static_cast<double>(mm) / 1e6; }

std::optional<std::string> ImplausibleAmounts(const Activity& a) {
  auto outside = [](double v, double max) { return !std::isfinite(v) || v < 0 || v > max; };
  auto text = [](double v) {
    std::ostringstream out;
    out << v;
    return out.str();
  };
  if (outside(a.distance_m, 1e8)) return "distance " + text(a.distance_m) + " m (out of range)";
  if (a.moving_time_s < 0 || a.moving_time_s > int64_t{10} * 366 * 86400)
    return "moving_time " + std::to_string(a.moving_time_s) + " s (out of range)";
  if (outside(a.total_elevation_gain_m, 1e6))
    return "total_elevation_gain " + text(a.total_elevation_gain_m) + " m (out of range)";
  return std::nullopt;
}

std::optional<DayShare> ShareOf(const Activity& a, std::string category) {
  auto date = a.LocalDate();
  if (!date) return std::nullopt;
  return DayShare{*date, std::move(category), a.id, a.DistanceMm(), a.moving_time_s, a.ElevationGainCm()};
}

std::vector<DailyTotals> SumDays(std::vector<DayShare> shares) {
  // Sorted by (date, category, id), each group is one day's totals with its
  // ids already ascending; sums are integers, so the order does not matter.
  auto by_category_id = [](const DayShare& a, const DayShare& b) {
    if (int c = a.category.compare(b.category); c != 0) return c < 0;
    return a.id < b.id;
  };
  auto by_date = [](const DayShare& a, const DayShare& b) {
    return std::chrono::sys_days{a.date} < std::chrono::sys_days{b.date};
  };
  auto same_date = [](const DayShare& a, const DayShare& b) {
    return std::chrono::sys_days{a.date} == std::chrono::sys_days{b.date};
  };
  if (std::is_sorted(shares.begin(), shares.end(), by_date)) {
    // Already in date order (the store's year query reads them along its
    // date index): only each day's few shares need ordering, far cheaper
    // than sorting the year's thousands again.
    for (auto first = shares.begin(); first != shares.end();) {
      auto last = std::find_if(first, shares.end(), [&](const DayShare& s) { return !same_date(s, *first); });
      std::sort(first, last, by_category_id);
      first = last;
    }
  } else {
    std::sort(shares.begin(), shares.end(), [&](const DayShare& a, const DayShare& b) {
      if (!same_date(a, b)) return by_date(a, b);
      return by_category_id(a, b);
    });
  }
  std::vector<DailyTotals> out;
  for (auto& s : shares) {
    if (out.empty() || out.back().date != s.date || out.back().category != s.category) {
      out.emplace_back();
      out.back().date = s.date;
      out.back().category = std::move(s.category);
    }
    DailyTotals& t = out.back();
    t.distance_mm += s.distance_mm;
    t.moving_time_s += s.moving_time_s;
    t.elevation_gain_cm += s.elevation_gain_cm;
    t.count += 1;
    t.activity_ids.push_back(s.id);
  }
  return out;
}

std::vector<DailyTotals> SummarizeDays(std::span<const Activity> activities, const SportCategories& categories) {
  std::vector<DayShare> shares;
  shares.reserve(activities.size());
  for (const auto& a : activities) {
    if (auto share = ShareOf(a, categories.Categorize(a))) shares.push_back(std::move(*share));
  }
  return SumDays(std::move(shares));
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
