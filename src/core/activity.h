// The activity as desirelines keeps it: the typed SummaryActivity fields that
// the original BigQuery schema kept, plus the raw JSON exactly as received.
// Units are in the names. Optional fields are the ones Strava leaves out or
// sends as null.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "core/time.h"

namespace dl::core {

struct LatLng {
  double lat = 0;
  double lng = 0;
  bool operator==(const LatLng&) const = default;
};

struct Activity {
  int64_t id = 0;
  int64_t athlete_id = 0;
  std::string name;
  double distance_m = 0;
  int64_t moving_time_s = 0;
  int64_t elapsed_time_s = 0;
  double total_elevation_gain_m = 0;
  std::optional<double> elev_high_m;
  std::optional<double> elev_low_m;
  std::string type;        // legacy ActivityType (deprecated by Strava, still sent)
  std::string sport_type;  // SportType; unknown values are kept as they are
  std::optional<int64_t> workout_type;
  std::string start_date;        // UTC, "2025-10-18T12:49:52Z"
  std::string start_date_local;  // local wall clock; its 'Z' is not UTC
  std::string timezone;          // "(GMT-05:00) America/New_York"
  double utc_offset_s = 0;
  std::optional<LatLng> start_latlng;  // nullopt for null and for []
  std::optional<LatLng> end_latlng;
  std::optional<std::string> map_id;
  std::optional<std::string> map_summary_polyline;
  bool trainer = false;
  bool commute = false;
  bool manual = false;
  bool is_private = false;
  bool flagged = false;
  std::string visibility;  // everyone | followers_only | only_me
  std::optional<double> average_speed_mps;
  std::optional<double> max_speed_mps;
  std::optional<double> average_cadence;
  std::optional<double> average_watts;
  std::optional<double> weighted_average_watts;
  std::optional<double> max_watts;
  std::optional<double> kilojoules;
  std::optional<bool> device_watts;
  bool has_heartrate = false;
  std::optional<double> average_heartrate;
  std::optional<double> max_heartrate;
  std::optional<double> average_temp_c;
  std::optional<double> suffer_score;
  std::optional<std::string> gear_id;
  std::optional<std::string> device_name;
  std::optional<std::string> external_id;
  std::optional<int64_t> upload_id;
  int64_t achievement_count = 0;
  int64_t kudos_count = 0;
  int64_t comment_count = 0;
  int64_t athlete_count = 0;
  int64_t photo_count = 0;
  int64_t total_photo_count = 0;
  int64_t pr_count = 0;
  // DetailedActivity extras, present when fetched by id.
  std::optional<std::string> description;
  std::optional<double> calories;

  std::string raw_json;  // the object exactly as received from Strava

  bool operator==(const Activity&) const = default;

  // Distance in whole millimetres: sums of these are exact and do not depend
  // on the order activities arrive in.
  int64_t DistanceMm() const { return std::llround(distance_m * 1000.0); }
  int64_t ElevationGainCm() const { return std::llround(total_elevation_gain_m * 100.0); }
  std::optional<Date> LocalDate() const { return LocalDateOf(start_date_local); }
  std::optional<TimePoint> StartUtc() const { return ParseIsoUtc(start_date); }
};

}  // namespace dl::core
