#include "adapters/files/year_files.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <vector>

#include "adapters/files/atomic_file.h"
#include "core/time.h"

namespace dl::adapters::files {
namespace {

namespace fs = std::filesystem;

// Exact arithmetic for the rounding: mm * 62137 overflows int64 only past
// 1.4e8 km, but the writer must be right for any input it is given.
__extension__ using Int128 = __int128;

// core::kMilesPerKm as an exact ratio, so miles are rounded from the exact
// decimal value instead of from a binary double.
constexpr int64_t kMilesPerKmNumerator = 62137;
constexpr int64_t kMilesPerKmDenominator = 100000;
static_assert(static_cast<double>(kMilesPerKmNumerator) / kMilesPerKmDenominator == core::kMilesPerKm,
              "the files adapter's exact miles factor must match core::kMilesPerKm");

Int128 Pow10(int n) {
  Int128 p = 1;
  while (n-- > 0) p *= 10;
  return p;
}

// num/den written with `decimals` decimals, rounded half away from zero.
// Precondition: den > 0 and even (an exact half is then scaled % den == den / 2).
std::string FormatRatio(Int128 num, Int128 den, int decimals) {
  bool negative = num < 0;
  Int128 scaled = (negative ? -num : num) * Pow10(decimals);
  Int128 q = (scaled + den / 2) / den;
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(q % 10)));
    q /= 10;
  } while (q > 0);
  if (digits.size() <= static_cast<size_t>(decimals)) {
    digits.insert(0, static_cast<size_t>(decimals) + 1 - digits.size(), '0');
  }
  if (decimals > 0) digits.insert(digits.size() - static_cast<size_t>(decimals), 1, '.');
  bool zero = digits.find_first_not_of("0.") == std::string::npos;
  return (negative && !zero ? "-" : "") + digits;
}

std::string FormatMetres(int64_t mm) { return FormatRatio(mm, 1000, 1); }
std::string FormatElevationM(int64_t cm) { return FormatRatio(cm, 100, 1); }

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }  // dates and safe names only

std::string IdList(const std::vector<int64_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(ids[i]);
  }
  return out + "]";
}

// The days of `year`, one entry per date, ascending, ids ascending.
std::vector<core::DailyTotals> NormalizeDays(int year, std::span<const core::DailyTotals> days) {
  std::map<std::chrono::sys_days, core::DailyTotals> by_date;
  for (const auto& d : days) {
    if (!d.date.ok() || static_cast<int>(d.date.year()) != year) continue;
    auto [it, inserted] = by_date.try_emplace(std::chrono::sys_days{d.date}, d);
    if (inserted) continue;
    auto& t = it->second;
    t.distance_mm += d.distance_mm;
    t.moving_time_s += d.moving_time_s;
    t.elevation_gain_cm += d.elevation_gain_cm;
    t.count += d.count;
    t.activity_ids.insert(t.activity_ids.end(), d.activity_ids.begin(), d.activity_ids.end());
  }
  std::vector<core::DailyTotals> out;
  out.reserve(by_date.size());
  for (auto& [date, t] : by_date) {
    std::sort(t.activity_ids.begin(), t.activity_ids.end());
    out.push_back(std::move(t));
  }
  return out;
}

// Shared by the per-day and total objects of the richer summary.
std::string MeasureFields(int64_t mm, int64_t moving_s, int64_t elevation_cm, int64_t count) {
  return "\"distance_m\": " + FormatMetres(mm) + ", \"distance_km\": " + FormatKm(mm) +
         ", \"distance_miles\": " + FormatMiles(mm) + ", \"moving_time_s\": " + std::to_string(moving_s) +
         ", \"elevation_gain_m\": " + FormatElevationM(elevation_cm) + ", \"count\": " + std::to_string(count);
}

std::string CategoryTotals(const std::vector<core::DailyTotals>& days) {
  int64_t mm = 0, moving_s = 0, elevation_cm = 0, count = 0;
  for (const auto& d : days) {
    mm += d.distance_mm;
    moving_s += d.moving_time_s;
    elevation_cm += d.elevation_gain_cm;
    count += d.count;
  }
  std::string first = days.empty() ? "null" : Quoted(core::FormatDate(days.front().date));
  std::string last = days.empty() ? "null" : Quoted(core::FormatDate(days.back().date));
  return "{" + MeasureFields(mm, moving_s, elevation_cm, count) +
         ", \"active_days\": " + std::to_string(days.size()) + ", \"first_activity_date\": " + first +
         ", \"last_activity_date\": " + last + "}";
}

// A JSON array body, one element per line at `indent`, or "[]" when empty.
std::string LinesArray(const std::vector<std::string>& items, const std::string& indent) {
  if (items.empty()) return "[]";
  std::string out = "[\n";
  for (size_t i = 0; i < items.size(); ++i) {
    out += indent + "  " + items[i] + (i + 1 < items.size() ? ",\n" : "\n");
  }
  return out + indent + "]";
}

bool SafeCategoryName(const std::string& name) {
  if (name.empty() || name.size() > 32) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

}  // namespace

fs::path YearDir(const fs::path& data_dir, int year) { return data_dir / "activities" / std::to_string(year); }
fs::path LegacySummaryPath(const fs::path& data_dir, int year) {
  return YearDir(data_dir, year) / "summary_activities.json";
}
fs::path LegacyDistancesPath(const fs::path& data_dir, int year) { return YearDir(data_dir, year) / "distances.json"; }
fs::path CategorySummaryPath(const fs::path& data_dir, int year, const std::string& category) {
  return YearDir(data_dir, year) / category / "summary.json";
}
fs::path CategoryDistancesPath(const fs::path& data_dir, int year, const std::string& category) {
  return YearDir(data_dir, year) / category / "distances.json";
}

std::string FormatMiles(int64_t mm) {
  // miles = mm / 1e6 * 62137 / 1e5
  return FormatRatio(Int128{mm} * kMilesPerKmNumerator, Int128{1000000} * kMilesPerKmDenominator, 2);
}
std::string FormatKm(int64_t mm) { return FormatRatio(mm, 1000000, 3); }

std::string RenderLegacySummary(int year, std::span<const core::DailyTotals> days) {
  auto normal = NormalizeDays(year, days);
  if (normal.empty()) return "{}\n";
  std::string out = "{\n";
  for (size_t i = 0; i < normal.size(); ++i) {
    const auto& d = normal[i];
    out += "  " + Quoted(core::FormatDate(d.date)) + ": {\"distance_miles\": " + FormatMiles(d.distance_mm) +
           ", \"activity_ids\": " + IdList(d.activity_ids) + "}" + (i + 1 < normal.size() ? ",\n" : "\n");
  }
  return out + "}\n";
}

std::string RenderLegacyDistances(int year, std::span<const core::DailyTotals> days, core::Date through) {
  auto normal = NormalizeDays(year, days);
  std::vector<std::string> points;
  for (const auto& p : core::Cumulative(normal, year, through)) {
    points.push_back("{\"x\": " + Quoted(core::FormatDate(p.date)) + ", \"y\": " + FormatMiles(p.distance_mm) + "}");
  }
  return "{\n  \"distance_traveled\": " + LinesArray(points, "  ") + "\n}\n";
}

std::string RenderCategorySummary(int year, const std::string& category, std::span<const core::DailyTotals> days) {
  auto normal = NormalizeDays(year, days);
  std::string out = "{\n  \"year\": " + std::to_string(year) + ",\n  \"category\": " + Quoted(category) +
                    ",\n  \"totals\": " + CategoryTotals(normal) + ",\n  \"days\": ";
  if (normal.empty()) return out + "{}\n}\n";
  out += "{\n";
  for (size_t i = 0; i < normal.size(); ++i) {
    const auto& d = normal[i];
    out += "    " + Quoted(core::FormatDate(d.date)) + ": {" +
           MeasureFields(d.distance_mm, d.moving_time_s, d.elevation_gain_cm, d.count) +
           ", \"activity_ids\": " + IdList(d.activity_ids) + "}" + (i + 1 < normal.size() ? ",\n" : "\n");
  }
  return out + "  }\n}\n";
}

std::string RenderCategoryDistances(int year, const std::string& category, std::span<const core::DailyTotals> days,
                                    core::Date through) {
  auto normal = NormalizeDays(year, days);
  auto series = core::Cumulative(normal, year, through);
  std::vector<std::string> points;
  points.reserve(series.size());
  for (const auto& p : series) {
    points.push_back("{\"x\": " + Quoted(core::FormatDate(p.date)) + ", \"km\": " + FormatKm(p.distance_mm) +
                     ", \"miles\": " + FormatMiles(p.distance_mm) + "}");
  }
  std::string last = series.empty() ? "null" : Quoted(core::FormatDate(series.back().date));
  return "{\n  \"year\": " + std::to_string(year) + ",\n  \"category\": " + Quoted(category) +
         ",\n  \"through\": " + last + ",\n  \"distance_traveled\": " + LinesArray(points, "  ") + "\n}\n";
}

Status WriteYearFiles(const fs::path& data_dir, int year, const std::string& category,
                      std::span<const core::DailyTotals> days, core::Date through, bool write_legacy) {
  if (year < 1 || year > 9999) {
    return Fail(ErrorCode::kInvalidArgument, "year " + std::to_string(year) + " is outside 1..9999");
  }
  if (!SafeCategoryName(category)) {
    return Fail(ErrorCode::kInvalidArgument,
                "category '" + category + "' must be 1-32 characters of a-z, 0-9 and '-'");
  }
  auto normal = NormalizeDays(year, days);  // once, not in each renderer
  // One group: the year's files share their fsyncs (AtomicWriteFiles).
  std::vector<FileContent> files;
  files.push_back({CategorySummaryPath(data_dir, year, category), RenderCategorySummary(year, category, normal)});
  files.push_back(
      {CategoryDistancesPath(data_dir, year, category), RenderCategoryDistances(year, category, normal, through)});
  if (write_legacy) {
    files.push_back({LegacySummaryPath(data_dir, year), RenderLegacySummary(year, normal)});
    files.push_back({LegacyDistancesPath(data_dir, year), RenderLegacyDistances(year, normal, through)});
  }
  return AtomicWriteFiles(files);
}

}  // namespace dl::adapters::files
