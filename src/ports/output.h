// Where the yearly aggregate files go. The files adapter writes them under
// the data directory, atomically, in the original system's layout.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/aggregates.h"
#include "core/result.h"

namespace dl::ports {

class YearOutput {
 public:
  virtual ~YearOutput() = default;
  // Replaces the files of (year, category). `through` is the last day of the
  // cumulative series (31 December, or today for the current year).
  // `legacy` also writes the original summary_activities.json/distances.json.
  virtual Status WriteYear(int year, const std::string& category, std::span<const core::DailyTotals> days,
                           core::Date through, bool legacy) = 0;
};

}  // namespace dl::ports
