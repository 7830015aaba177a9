// The yearly aggregate files under the data directory.
//
// Layout (the original system's two files must stay byte-compatible in names
// and fields so existing dashboards keep working):
//   DIR/activities/YEAR/summary_activities.json   legacy, default category
//   DIR/activities/YEAR/distances.json            legacy, default category
//   DIR/activities/YEAR/CATEGORY/summary.json     richer, every category
//   DIR/activities/YEAR/CATEGORY/distances.json   richer, every category
//
// Numbers: every value is computed once from the exact integer sums
// (millimetres, seconds, centimetres) and written with a fixed number of
// decimals, rounded half away from zero from the exact decimal value:
//   miles   = mm / 1e6 * 0.62137  (the original factor)  2 decimals
//   km      = mm / 1e6                                   3 decimals
//   metres  = mm / 1e3                                   1 decimal
//   elevation metres = cm / 100                          1 decimal
// Cumulative values are rounded from the running exact total, never summed
// from rounded values, so a series never drifts and never decreases.
// Rendering is pure and deterministic byte for byte: the HTTP API serves the
// same bytes by calling the Render* functions.
//
// `days` everywhere: the DailyTotals of one category (core::BuildYear); their
// `category` field is not read. Order does not matter; days outside `year`
// are ignored and several entries for one date are merged.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <utility>

#include "core/aggregates.h"
#include "core/result.h"
#include "ports/output.h"

namespace dl::adapters::files {

std::filesystem::path YearDir(const std::filesystem::path& data_dir, int year);
std::filesystem::path LegacySummaryPath(const std::filesystem::path& data_dir, int year);
std::filesystem::path LegacyDistancesPath(const std::filesystem::path& data_dir, int year);
std::filesystem::path CategorySummaryPath(const std::filesystem::path& data_dir, int year,
                                          const std::string& category);
std::filesystem::path CategoryDistancesPath(const std::filesystem::path& data_dir, int year,
                                            const std::string& category);

// "12.34": miles of `mm`, 2 decimals. "12.345": km, 3 decimals.
std::string FormatMiles(int64_t mm);
std::string FormatKm(int64_t mm);

// {"YYYY-MM-DD": {"distance_miles": M, "activity_ids": [ids ascending]}, ...}
// for the days with activity, ascending; "{}" when there are none.
std::string RenderLegacySummary(int year, std::span<const core::DailyTotals> days);

// {"distance_traveled": [{"x": "YYYY-MM-DD", "y": miles}, ...]}: one point per
// day from 1 January through `through` (clamped to 31 December; an empty list
// when `through` is before 1 January), as core::Cumulative.
std::string RenderLegacyDistances(int year, std::span<const core::DailyTotals> days, core::Date through);

// {"year", "category", "totals": {distance_m, distance_km, distance_miles,
// moving_time_s, elevation_gain_m, count, active_days, first_activity_date,
// last_activity_date}, "days": {"YYYY-MM-DD": {distance_m, distance_km,
// distance_miles, moving_time_s, elevation_gain_m, count, activity_ids}}}.
// The dates in totals are null when there is no activity.
std::string RenderCategorySummary(int year, const std::string& category,
                                  std::span<const core::DailyTotals> days);

// {"year", "category", "through": last date of the series or null,
//  "distance_traveled": [{"x": "YYYY-MM-DD", "km": K, "miles": M}, ...]}.
std::string RenderCategoryDistances(int year, const std::string& category,
                                    std::span<const core::DailyTotals> days, core::Date through);

// Replaces the category's two files and, when `write_legacy`, the two legacy
// files (meant for the default category only), each atomically.
// An empty `days` writes valid empty files ("{}" summaries, a flat zero
// series) rather than deleting them: a year whose last activity was deleted
// keeps answering 200 with zeros, it does not turn into a 404.
// Each file is atomic on its own; a reader may for a moment see a new
// summary beside the previous distances file.
// Errors: kInvalidArgument for a year outside 1..9999 or a category that is
// not a safe file name ([a-z0-9-], 1-32 characters); kIo from the writes.
Status WriteYearFiles(const std::filesystem::path& data_dir, int year, const std::string& category,
                      std::span<const core::DailyTotals> days, core::Date through, bool write_legacy);

// The YearOutput port on the local file system, rooted at `data_dir`.
// Stateless apart from the path; safe to call from several threads (two
// concurrent writes of the same year and category each land whole).
class FileYearOutput final : public ports::YearOutput {
 public:
  explicit FileYearOutput(std::filesystem::path data_dir) : data_dir_(std::move(data_dir)) {}
  Status WriteYear(int year, const std::string& category, std::span<const core::DailyTotals> days,
                   core::Date through, bool legacy) override {
    return WriteYearFiles(data_dir_, year, category, days, through, legacy);
  }
  const std::filesystem::path& data_dir() const { return data_dir_; }

 private:
  std::filesystem::path data_dir_;
};

}  // namespace dl::adapters::files
