// The typed columns of the `activities` table, in the table's column order,
// written once for every store adapter (SQLite and PostgreSQL bind, read and
// hash the same list, so their schemas cannot drift apart).
//
//   DL_ACTIVITY_COLUMNS(COL, COORD)
//     COL(member, "column")            a core::Activity member of its own
//     COORD(member, is_lat, "column")  one half of an optional LatLng member
//
// Each adapter defines COL and COORD to build its own column descriptors, e.g.
//   #define COL(m, name) Col<&Activity::m>(name),
//   constexpr ActivityColumn kColumns[] = {DL_ACTIVITY_COLUMNS(COL, COORD)};
#pragma once

// clang-format off
#define DL_ACTIVITY_COLUMNS(COL, COORD)                        \
  COL(id, "id")                                                \
  COL(athlete_id, "athlete_id")                                \
  COL(name, "name")                                            \
  COL(distance_m, "distance_m")                                \
  COL(moving_time_s, "moving_time_s")                          \
  COL(elapsed_time_s, "elapsed_time_s")                        \
  COL(total_elevation_gain_m, "total_elevation_gain_m")        \
  COL(elev_high_m, "elev_high_m")                              \
  COL(elev_low_m, "elev_low_m")                                \
  COL(type, "type")                                            \
  COL(sport_type, "sport_type")                                \
  COL(workout_type, "workout_type")                            \
  COL(start_date, "start_date")                                \
  COL(start_date_local, "start_date_local")                    \
  COL(timezone, "timezone")                                    \
  COL(utc_offset_s, "utc_offset_s")                            \
  COORD(start_latlng, true, "start_lat")                       \
  COORD(start_latlng, false, "start_lng")                      \
  COORD(end_latlng, true, "end_lat")                           \
  COORD(end_latlng, false, "end_lng")                          \
  COL(map_id, "map_id")                                        \
  COL(map_summary_polyline, "map_summary_polyline")            \
  COL(trainer, "trainer")                                      \
  COL(commute, "commute")                                      \
  COL(manual, "manual")                                        \
  COL(is_private, "is_private")                                \
  COL(flagged, "flagged")                                      \
  COL(visibility, "visibility")                                \
  COL(average_speed_mps, "average_speed_mps")                  \
  COL(max_speed_mps, "max_speed_mps")                          \
  COL(average_cadence, "average_cadence")                      \
  COL(average_watts, "average_watts")                          \
  COL(weighted_average_watts, "weighted_average_watts")        \
  COL(max_watts, "max_watts")                                  \
  COL(kilojoules, "kilojoules")                                \
  COL(device_watts, "device_watts")                            \
  COL(has_heartrate, "has_heartrate")                          \
  COL(average_heartrate, "average_heartrate")                  \
  COL(max_heartrate, "max_heartrate")                          \
  COL(average_temp_c, "average_temp_c")                        \
  COL(suffer_score, "suffer_score")                            \
  COL(gear_id, "gear_id")                                      \
  COL(device_name, "device_name")                              \
  COL(external_id, "external_id")                              \
  COL(upload_id, "upload_id")                                  \
  COL(achievement_count, "achievement_count")                  \
  COL(kudos_count, "kudos_count")                              \
  COL(comment_count, "comment_count")                          \
  COL(athlete_count, "athlete_count")                          \
  COL(photo_count, "photo_count")                              \
  COL(total_photo_count, "total_photo_count")                  \
  COL(pr_count, "pr_count")                                    \
  COL(description, "description")                              \
  COL(calories, "calories")
// clang-format on
