#include "http/api/json_views.h"

#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace dl::http::api {
namespace {

using Json = nlohmann::ordered_json;

// Labels come from users; never let a stray byte turn into an exception.
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

double R3(double v) { return std::round(v * 1000.0) / 1000.0; }

Json Rounded(std::span<const double> values) {
  Json out = Json::array();
  for (double v : values) out.push_back(R3(v));
  return out;
}

Json DateOrNull(const std::optional<core::Date>& d) { return d ? Json(core::FormatDate(*d)) : Json(nullptr); }

Json Jan1(int year) {
  return core::FormatDate(core::Date{std::chrono::year{year}, std::chrono::January, std::chrono::day{1}});
}

Json DayJson(const core::DailyTotals& d) {
  return Json{{"date", core::FormatDate(d.date)},
              {"distance_km", R3(core::MmToKm(d.distance_mm))},
              {"distance_mi", R3(core::MmToMiles(d.distance_mm))},
              {"moving_time_s", d.moving_time_s},
              {"elevation_gain_m", static_cast<double>(d.elevation_gain_cm) / 100.0},
              {"count", d.count},
              {"activity_ids", d.activity_ids}};
}

Json GoalJson(const core::DistanceGoal& g) {
  return Json{{"value", g.value}, {"unit", core::UnitName(g.unit)}, {"label", g.label}};
}

Json GoalPacingJson(const core::GoalPacing& g) {
  Json out = GoalJson(g.goal);
  out["target"] = R3(g.target);
  out["progress_pct"] = std::round(g.progress_pct * 100.0) / 100.0;
  out["gap"] = R3(g.gap);
  out["gap_days"] = std::round(g.gap_days * 100.0) / 100.0;
  out["pace_needed"] = R3(g.pace_needed_now);
  out["reached"] = g.reached;
  out["reached_on"] = DateOrNull(g.reached_on);
  out["desire_line"] = Rounded(g.desire_line);
  out["required_pace"] = Rounded(g.required_pace);
  return out;
}

}  // namespace

std::string YearsJson(std::span<const std::pair<int, std::string>> with_data, const core::SportCategories& categories,
                      core::Date today) {
  std::map<int, std::vector<std::string>, std::greater<>> by_year;
  for (const auto& [year, category] : with_data) {
    if (categories.Has(category)) by_year[year].push_back(category);
  }
  Json years = Json::array();
  for (const auto& [year, names] : by_year) years.push_back(Json{{"year", year}, {"categories", names}});
  return Dump(Json{{"today", core::FormatDate(today)},
              {"default_category", core::kDefaultCategory},
              {"categories", categories.Names()},
              {"years", years}});
}

std::string YearSummaryJson(int year, const std::string& category, std::span<const core::DailyTotals> days,
                            core::Date today) {
  Json out_days = Json::array();
  int64_t mm = 0, moving = 0, elevation_cm = 0, count = 0;
  std::optional<core::Date> last;
  for (const auto& d : days) {
    if (static_cast<int>(d.date.year()) != year) continue;
    out_days.push_back(DayJson(d));
    mm += d.distance_mm;
    moving += d.moving_time_s;
    elevation_cm += d.elevation_gain_cm;
    count += d.count;
    if (!last || std::chrono::sys_days{d.date} > std::chrono::sys_days{*last}) last = d.date;
  }
  Json km = Json::array(), mi = Json::array();
  std::optional<core::Date> through;
  for (const auto& p : core::Cumulative(days, year, today)) {
    km.push_back(R3(core::MmToKm(p.distance_mm)));
    mi.push_back(R3(core::MmToMiles(p.distance_mm)));
    through = p.date;
  }
  return Dump(Json{{"year", year},
              {"category", category},
              {"through", DateOrNull(through)},
              {"last_activity_date", DateOrNull(last)},
              {"totals",
               {{"distance_km", R3(core::MmToKm(mm))},
                {"distance_mi", R3(core::MmToMiles(mm))},
                {"moving_time_s", moving},
                {"elevation_gain_m", static_cast<double>(elevation_cm) / 100.0},
                {"count", count},
                {"active_days", out_days.size()}}},
              {"days", out_days},
              {"cumulative", {{"start", Jan1(year)}, {"km", km}, {"mi", mi}}}});
}

std::string PacingJson(const core::Pacing& p, const std::string& category, core::Date today) {
  Json goals = Json::array();
  for (const auto& g : p.goals) goals.push_back(GoalPacingJson(g));
  Json momentum = p.momentum_pct_per_week ? Json(std::round(*p.momentum_pct_per_week * 100.0) / 100.0) : Json(nullptr);
  return Dump(Json{{"year", p.year},
              {"category", category},
              {"unit", core::UnitName(p.unit)},
              {"today", core::FormatDate(today)},
              {"phase", core::PhaseName(p.phase)},
              {"through", DateOrNull(p.through)},
              {"days_in_year", p.days_in_year},
              {"days_elapsed", p.days_elapsed},
              {"days_left", p.days_left},
              {"distance", R3(p.distance)},
              {"average_pace", R3(p.average_pace_now)},
              {"projection", R3(p.projection)},
              {"momentum_pct_per_week", momentum},
              {"goals_source", p.default_goals ? "default" : "stored"},
              {"series",
               {{"start", Jan1(p.year)}, {"cumulative", Rounded(p.cumulative)}, {"average_pace", Rounded(p.average_pace)}}},
              {"goals", goals}});
}

std::string GoalsJson(int year, const std::string& category, bool stored, std::span<const core::DistanceGoal> goals) {
  Json list = Json::array();
  for (const auto& g : goals) list.push_back(GoalJson(g));
  return Dump(Json{{"year", year}, {"category", category}, {"source", stored ? "stored" : "default"}, {"goals", list}});
}

namespace {

std::string Field(size_t i, const std::string& name) {
  return "goals[" + std::to_string(i) + "]" + (name.empty() ? "" : "." + name);
}

// One element of "goals"; problems go to `errors`.
core::DistanceGoal ParseGoal(const Json& item, size_t i, std::vector<core::FieldError>& errors) {
  core::DistanceGoal goal;
  if (!item.is_object()) {
    errors.push_back({Field(i, ""), "must be an object with a value"});
    return goal;
  }
  for (const auto& [key, value] : item.items()) {
    if (key == "value") {
      if (value.is_number()) goal.value = value.get<double>();
      else errors.push_back({Field(i, "value"), "must be a number"});
    } else if (key == "unit") {
      auto unit = value.is_string() ? core::ParseUnit(value.get<std::string>()) : std::nullopt;
      if (unit) goal.unit = *unit;
      else errors.push_back({Field(i, "unit"), "must be \"km\" or \"mi\""});
    } else if (key == "label") {
      if (value.is_string()) goal.label = value.get<std::string>();
      else if (!value.is_null()) errors.push_back({Field(i, "label"), "must be a string"});
    } else {
      errors.push_back({Field(i, key), "is not a goal field (value, unit, label)"});
    }
  }
  if (!item.contains("value")) errors.push_back({Field(i, "value"), "is required"});
  return goal;
}

}  // namespace

ParsedGoals ParseGoalsBody(std::string_view body) {
  ParsedGoals out;
  // nlohmann keeps the last of duplicate keys without a word; a body that
  // says two things ({"value":100,"value":5000}) is refused instead.
  std::vector<std::set<std::string>> open_objects;  // keys seen, per object being parsed
  std::optional<std::string> duplicate;
  auto watch_keys = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == Json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == Json::parse_event_t::key && !open_objects.empty() &&
        !open_objects.back().insert(parsed.get<std::string>()).second && !duplicate) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  Json doc = Json::parse(body, watch_keys, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    out.syntax_error = "body is not valid JSON";
    return out;
  }
  if (duplicate) {
    std::string key = duplicate->substr(0, 64);  // echoed: printable ASCII only
    for (char& c : key) c = (c >= 0x20 && c < 0x7f) ? c : '?';
    out.syntax_error = "body is not valid JSON: duplicate key \"" + key + "\"";
    return out;
  }
  if (!doc.is_object() || !doc.contains("goals") || !doc["goals"].is_array()) {
    out.errors.push_back({"goals", "must be an array of goals, as in {\"goals\": [{\"value\": 5000, \"unit\": \"km\"}]}"});
    return out;
  }
  const Json& list = doc["goals"];
  for (size_t i = 0; i < list.size(); ++i) out.goals.push_back(ParseGoal(list[i], i, out.errors));
  return out;
}

std::string FieldErrorsJson(std::span<const core::FieldError> errors) {
  Json fields = Json::array();
  for (const auto& e : errors) fields.push_back(Json{{"field", e.field}, {"message", e.message}});
  std::string first = errors.empty() ? "" : errors.front().field + " " + errors.front().message;
  return Dump(Json{{"error", "invalid goals: " + first}, {"fields", fields}});
}

}  // namespace dl::http::api
