// Real-looking Strava bodies for the strava_http tests. Shapes follow the
// recorded Oct-2025 /athlete/activities answer (shared/strava-api.md §2):
// runs without power have no power keys at all, utc_offset is a float,
// latlng may be null or [], and Strava adds keys we do not know.
#pragma once

#include <cstdint>
#include <string>

namespace dl::adapters::strava_http::fixtures {

// A road ride with power and heart rate, every typed field present.
inline constexpr const char* kRide = R"({"resource_state":2,"athlete":{"id":134815,"resource_state":1},"name":"Morning Ride","distance":40123.7,"moving_time":5400,"elapsed_time":6012,"total_elevation_gain":402.0,"type":"Ride","sport_type":"GravelRide","workout_type":10,"id":16182345678,"start_date":"2025-10-18T12:49:52Z","start_date_local":"2025-10-18T08:49:52Z","timezone":"(GMT-05:00) America/New_York","utc_offset":-14400.0,"location_city":null,"location_state":null,"location_country":"United States","achievement_count":7,"kudos_count":12,"comment_count":2,"athlete_count":3,"photo_count":1,"map":{"id":"a16182345678","summary_polyline":"ki{eFvqfiVqAWQIGEEKAYJgBVqDJ{BHa@jAkNJw@Pw@V{APs@^aABQAOEQGKoJ_FuJkFqAo@{A}@sH{DiAs@Q]?WVy@`@oAt@cB\\eAp@qAp@m@","resource_state":2},"trainer":false,"commute":false,"manual":false,"private":false,"visibility":"everyone","flagged":false,"gear_id":"b1234567","start_latlng":[40.72,-73.99],"end_latlng":[40.73,-73.98],"average_speed":7.43,"max_speed":15.2,"average_cadence":85.5,"average_temp":18,"average_watts":201.4,"max_watts":612,"weighted_average_watts":219,"device_watts":true,"kilojoules":1087.6,"has_heartrate":true,"average_heartrate":141.2,"max_heartrate":174.0,"heartrate_opt_out":false,"display_hide_heartrate_option":true,"elev_high":121.4,"elev_low":-3.2,"upload_id":17300012345,"upload_id_str":"17300012345","external_id":"garmin_ping_492266071674","from_accepted_tag":false,"pr_count":4,"total_photo_count":2,"has_kudoed":false,"suffer_score":96.0,"device_name":"Garmin Edge 540"})";

// A run: no power keys at all, float heart rates, null workout_type.
inline constexpr const char* kRun = R"({"resource_state":2,"athlete":{"id":134815,"resource_state":1},"name":"Lunch Run","distance":10012.3,"moving_time":3000,"elapsed_time":3100,"total_elevation_gain":45.1,"type":"Run","sport_type":"Run","workout_type":null,"id":16182345679,"start_date":"2025-10-19T16:00:00Z","start_date_local":"2025-10-19T12:00:00Z","timezone":"(GMT-05:00) America/New_York","utc_offset":-14400.0,"start_latlng":[40.7,-73.9],"end_latlng":[40.71,-73.91],"map":{"id":"a16182345679","summary_polyline":"abc","resource_state":2},"trainer":false,"commute":true,"manual":false,"private":false,"visibility":"followers_only","flagged":false,"gear_id":null,"average_speed":3.33,"max_speed":4.9,"average_cadence":84.0,"has_heartrate":true,"average_heartrate":152.0,"max_heartrate":181.0,"elev_high":30.0,"elev_low":2.0,"external_id":null,"upload_id":null,"pr_count":0,"total_photo_count":0,"achievement_count":0,"kudos_count":0,"comment_count":0,"athlete_count":1,"photo_count":0})";

// A trainer ride: null latlng, null map polyline, no elevation keys.
inline constexpr const char* kTrainerNullLatlng = R"({"id":16182345680,"athlete":{"id":134815},"name":"Zwift","distance":30000,"moving_time":3600,"elapsed_time":3600,"type":"VirtualRide","sport_type":"VirtualRide","start_date":"2025-10-20T18:00:00Z","start_date_local":"2025-10-20T20:00:00Z","timezone":"(GMT+01:00) Europe/Paris","utc_offset":7200,"start_latlng":null,"end_latlng":null,"map":{"id":"a16182345680","summary_polyline":null},"trainer":true,"commute":false,"manual":false,"private":true,"visibility":"only_me","has_heartrate":false})";

// A manual activity: [] latlng, zero distance, an unknown sport type.
inline constexpr const char* kManualEmptyLatlng = R"({"id":16182345681,"athlete":{"id":134815},"name":"Pickleball","distance":0,"moving_time":3600,"elapsed_time":3600,"type":"Workout","sport_type":"Hoverboarding","start_date":"2025-10-21T10:00:00Z","start_date_local":"2025-10-21T10:00:00Z","timezone":"(GMT+00:00) UTC","utc_offset":0,"start_latlng":[],"end_latlng":[],"map":{"id":"a16182345681","summary_polyline":""},"trainer":false,"commute":false,"manual":true,"private":false,"visibility":"everyone"})";

// A DetailedActivity (GET /activities/{id}): extra keys and nested arrays.
inline constexpr const char* kDetailed = R"({"id":16182345678,"resource_state":3,"athlete":{"id":134815,"resource_state":1},"name":"Morning Ride","distance":40123.7,"moving_time":5400,"elapsed_time":6012,"type":"Ride","sport_type":"Ride","start_date":"2025-10-18T12:49:52Z","start_date_local":"2025-10-18T08:49:52Z","timezone":"(GMT-05:00) America/New_York","utc_offset":-14400.0,"description":"Windy \"out\", fast back\nwith caf\u00e9 stop","calories":870.4,"perceived_exertion":null,"prefer_perceived_exertion":false,"stats_visibility":[{"type":"heart_rate","visibility":"everyone"}],"available_zones":["heartrate","power"],"segment_efforts":[{"id":1,"name":"Climb","segment":{"id":2,"city":null}}],"splits_metric":[{"distance":1000.5,"elapsed_time":240}],"gear":{"id":"b1234567","name":"Gravel"},"map":{"id":"a16182345678","polyline":"long","summary_polyline":"short"}})";

// A page of `n` activities of about 2.1 KB each, like real summaries (a
// 200-activity page is about 418 KB): copies of kRide with a longer route
// polyline and distinct ids (ascending from first_id).
inline std::string MakePage(int n, int64_t first_id = 16'000'000'000) {
  std::string ride = kRide;
  const std::string polyline_key = "\"summary_polyline\":\"";
  ride.insert(ride.find(polyline_key) + polyline_key.size(), std::string(560, 'x'));
  const std::string id_text = "\"id\":16182345678";
  std::string page = "[";
  for (int i = 0; i < n; ++i) {
    std::string copy = ride;
    copy.replace(copy.find(id_text), id_text.size(), "\"id\":" + std::to_string(first_id + i));
    if (i > 0) page += ",";
    page += copy;
  }
  return page + "]";
}

}  // namespace dl::adapters::strava_http::fixtures
