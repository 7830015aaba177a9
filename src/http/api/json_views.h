// JSON bodies of the /api/v1 endpoints, and the parser of the goals a PUT
// sends. Distances are rounded to 3 decimals (metres, or thousandths of a
// mile) to keep the bodies small; nothing else is rounded.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/aggregates.h"
#include "core/pacing.h"
#include "core/sports.h"
#include "core/time.h"

namespace dl::http::api {

// {"today", "default_category", "categories": [every configured name],
//  "years": [{"year", "categories": [...]}, ...]} with the most recent year
// first; categories the configuration no longer knows are left out.
std::string YearsJson(std::span<const std::pair<int, std::string>> with_data, const core::SportCategories& categories,
                      core::Date today);

// {"year", "category", "through" (null before the year), "last_activity_date"
//  (null without activity), "totals": {distance_km, distance_mi,
//  moving_time_s, elevation_gain_m, count, active_days},
//  "days": [{date, distance_km, distance_mi, moving_time_s, elevation_gain_m,
//  count, activity_ids}], "cumulative": {"start", "km": [...], "mi": [...]}}.
std::string YearSummaryJson(int year, const std::string& category, std::span<const core::DailyTotals> days,
                            core::Date today);

// The pacing of core/pacing.h, field for field (see the README's API section).
std::string PacingJson(const core::Pacing& pacing, const std::string& category, core::Date today);

// {"year", "category", "source": "stored"|"default", "goals": [{value, unit, label}]}.
std::string GoalsJson(int year, const std::string& category, bool stored, std::span<const core::DistanceGoal> goals);

struct ParsedGoals {
  std::vector<core::DistanceGoal> goals;
  std::vector<core::FieldError> errors;  // wrong types and unknown fields
  std::string syntax_error;              // non-empty when the body is not JSON
};

// Reads {"goals": [{"value": number, "unit": "km"|"mi" (default "km"),
// "label": string (optional)}, ...]}. Type problems are reported per field;
// the rules on values are core::ValidateGoals'.
ParsedGoals ParseGoalsBody(std::string_view body);

// {"error": "invalid goals: <first problem>", "fields": [{field, message}]}.
std::string FieldErrorsJson(std::span<const core::FieldError> errors);

}  // namespace dl::http::api
