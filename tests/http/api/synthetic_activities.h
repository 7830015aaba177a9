// A deterministic, plausible athlete for developing and testing the
// dashboard: rides most weeks (longer in summer, some indoor), runs now and
// then, the odd walk. Test-only.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/activity.h"
#include "core/time.h"

namespace dl::testing {

// Activities of athlete `athlete_id` for every day of [first_year, through],
// the same for the same seed.
inline std::vector<core::Activity> SyntheticActivities(int64_t athlete_id, int first_year, core::Date through,
                                                       uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<core::Activity> out;
  int64_t next_id = 10'000'000'000;
  core::Date day{std::chrono::year{first_year}, std::chrono::January, std::chrono::day{1}};
  for (; std::chrono::sys_days{day} <= std::chrono::sys_days{through}; day = core::AddDays(day, 1)) {
    // Seasonal factor: 0.6 in winter to 1.4 in midsummer.
    const double season = 1.0 - 0.4 * std::cos(2 * 3.14159265 * core::DayOfYear(day) / 365.0);
    auto add = [&](const std::string& type, double km, int hour, double speed_kmh) {
      core::Activity a;
      a.id = next_id;
      next_id += 7919;
      a.athlete_id = athlete_id;
      a.type = type;
      a.sport_type = type;
      a.name = type + " " + core::FormatDate(day);
      a.distance_m = std::round(km * 1000 * 10) / 10;
      a.moving_time_s = static_cast<int64_t>(km / speed_kmh * 3600);
      a.elapsed_time_s = a.moving_time_s + 600;
      a.total_elevation_gain_m = std::round(km * (type == "VirtualRide" ? 4 : 9));
      a.start_date_local = core::FormatDate(day) + "T" + (hour < 10 ? "0" : "") + std::to_string(hour) + ":15:00Z";
      a.start_date = a.start_date_local;
      a.timezone = "(GMT+00:00) Europe/London";
      a.raw_json = "{\"id\":" + std::to_string(a.id) + "}";
      out.push_back(std::move(a));
    };
    if (unit(rng) < 0.30 * season) {
      const bool indoor = unit(rng) < 0.2 / season;
      const double km = std::clamp(20 + 45 * season * unit(rng) + (unit(rng) < 0.08 ? 60 : 0), 8.0, 160.0);
      add(indoor ? "VirtualRide" : "Ride", km, 8 + static_cast<int>(unit(rng) * 10), indoor ? 31 : 26);
    }
    if (unit(rng) < 0.12) add("Run", 4 + 10 * unit(rng), 7, 11);
    if (unit(rng) < 0.05) add("Walk", 2 + 6 * unit(rng), 17, 5);
  }
  return out;
}

}  // namespace dl::testing
