#include "sim/generator.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <tuple>

namespace dl::sim {
namespace {

using Json = nlohmann::ordered_json;  // keeps Strava's field order

// ---- time zones ------------------------------------------------------------

enum class Dst { kNone, kUs, kEu, kNz };

struct Zone {
  std::string_view name;
  int standard_offset_s;
  Dst rule;
  double lat, lng;     // where activities in this zone start
  double base_elev_m;  // typical ground elevation there
};

// Home (index 0) plus travel zones: US and EU DST, a southern-hemisphere DST
// zone that reaches +13, two zones without DST, and +14.
constexpr std::array<Zone, 9> kZones = {{
    {"America/New_York", -18000, Dst::kUs, 40.7128, -74.0060, 10},
    {"America/Denver", -25200, Dst::kUs, 39.7392, -104.9903, 1600},
    {"America/Los_Angeles", -28800, Dst::kUs, 34.0522, -118.2437, 60},
    {"America/Phoenix", -25200, Dst::kNone, 33.4484, -112.0740, 330},
    {"Europe/London", 0, Dst::kEu, 51.5074, -0.1278, 15},
    {"Europe/Berlin", 3600, Dst::kEu, 52.5200, 13.4050, 35},
    {"Asia/Tokyo", 32400, Dst::kNone, 35.6762, 139.6503, 20},
    {"Pacific/Auckland", 43200, Dst::kNz, -36.8485, 174.7633, 10},
    {"Pacific/Kiritimati", 50400, Dst::kNone, 1.8721, -157.4278, 2},
}};
constexpr int kHomeZone = 0;
constexpr int kAucklandZone = 7;

int ZoneIndex(std::string_view name) {
  for (size_t i = 0; i < kZones.size(); ++i) {
    if (kZones[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

int64_t DayEpoch(std::chrono::sys_days day) { return static_cast<int64_t>(day.time_since_epoch().count()) * 86400; }
int64_t NthSunday(int y, unsigned month, unsigned n) {
  using namespace std::chrono;
  return DayEpoch(sys_days{year{y} / std::chrono::month{month} / Sunday[n]});
}
int64_t LastSunday(int y, unsigned month) {
  using namespace std::chrono;
  return DayEpoch(sys_days{year{y} / std::chrono::month{month} / Sunday[last]});
}
int UtcYear(int64_t epoch_s) {
  using namespace std::chrono;
  const auto day = sys_days{days{static_cast<int>(std::floor(static_cast<double>(epoch_s) / 86400.0))}};
  return static_cast<int>(year_month_day{day}.year());
}

// DST rules in UTC instants: US since 2007 (2nd Sunday March 02:00 standard
// to 1st Sunday November 02:00 daylight), EU since 1996 (last Sunday March to
// last Sunday October, 01:00 UTC), NZ since 2007 (last Sunday September 02:00
// standard to 1st Sunday April 03:00 daylight).
bool InDst(const Zone& z, int64_t t) {
  const int y = UtcYear(t);
  const int64_t std_off = z.standard_offset_s;
  switch (z.rule) {
    case Dst::kNone:
      return false;
    case Dst::kUs:
      return t >= NthSunday(y, 3, 2) + 7200 - std_off && t < NthSunday(y, 11, 1) + 7200 - (std_off + 3600);
    case Dst::kEu:
      return t >= LastSunday(y, 3) + 3600 && t < LastSunday(y, 10) + 3600;
    case Dst::kNz:
      return t < NthSunday(y, 4, 1) + 3 * 3600 - (std_off + 3600) || t >= LastSunday(y, 9) + 7200 - std_off;
  }
  return false;
}

int OffsetAt(const Zone& z, int64_t t) { return z.standard_offset_s + (InDst(z, t) ? 3600 : 0); }

// Wall-clock time (as if UTC) to the UTC instant. In a DST gap the result is
// an hour later; in an overlap it is the first occurrence. Callers recompute
// the local time from the result, so the two always agree.
int64_t LocalToUtc(const Zone& z, int64_t naive_local) {
  int64_t utc = naive_local - z.standard_offset_s;
  utc = naive_local - OffsetAt(z, utc);
  return naive_local - OffsetAt(z, utc);
}

std::string Label(const Zone& z) {
  const int off = z.standard_offset_s;
  const int a = off < 0 ? -off : off;
  char buf[96];
  std::snprintf(buf, sizeof buf, "(GMT%c%02d:%02d) %.*s", off < 0 ? '-' : '+', a / 3600, (a % 3600) / 60,
                static_cast<int>(z.name.size()), z.name.data());
  return buf;
}

int64_t CivilEpoch(int y, unsigned m, unsigned d) {
  using namespace std::chrono;
  return DayEpoch(sys_days{year{y} / month{m} / day{d}});
}

// ---- sports ----------------------------------------------------------------

enum class Kind { kRide, kVirtualRide, kRun, kWalk, kSwim, kStatic, kSki, kWater };

struct Sport {
  std::string_view sport_type;
  std::string_view type;  // legacy ActivityType
  int weight;             // share of the mix, out of the sum
  Kind kind;
  double km_lo, km_hi, kmh_lo, kmh_hi, gain_per_km;
  std::string_view noun;  // "Morning <noun>"
};

constexpr std::array<Sport, 22> kSports = {{
    {"Ride", "Ride", 22, Kind::kRide, 20, 120, 22, 32, 8, "Ride"},
    {"VirtualRide", "VirtualRide", 9, Kind::kVirtualRide, 15, 60, 25, 35, 10, "Virtual Ride"},
    {"MountainBikeRide", "Ride", 5, Kind::kRide, 10, 50, 12, 20, 25, "Mountain Bike Ride"},
    {"GravelRide", "Ride", 5, Kind::kRide, 30, 120, 18, 26, 12, "Gravel Ride"},
    {"EBikeRide", "EBikeRide", 1, Kind::kRide, 10, 40, 18, 25, 8, "E-Bike Ride"},
    {"EMountainBikeRide", "EBikeRide", 1, Kind::kRide, 10, 40, 14, 20, 25, "E-Mountain Bike Ride"},
    {"Run", "Run", 18, Kind::kRun, 4, 21, 9, 14, 6, "Run"},
    {"TrailRun", "Run", 4, Kind::kRun, 6, 30, 7, 11, 35, "Trail Run"},
    {"VirtualRun", "VirtualRun", 1, Kind::kRun, 3, 12, 9, 14, 0, "Virtual Run"},
    {"Walk", "Walk", 9, Kind::kWalk, 2, 8, 4, 6, 5, "Walk"},
    {"Hike", "Hike", 5, Kind::kWalk, 5, 20, 3, 5, 60, "Hike"},
    {"Swim", "Swim", 4, Kind::kSwim, 1, 4, 2, 4, 0, "Swim"},
    {"WeightTraining", "WeightTraining", 3, Kind::kStatic, 0, 0, 0, 0, 0, "Weight Training"},
    {"Yoga", "Yoga", 2, Kind::kStatic, 0, 0, 0, 0, 0, "Yoga"},
    {"Workout", "Workout", 1, Kind::kStatic, 0, 0, 0, 0, 0, "Workout"},
    {"HighIntensityIntervalTraining", "Workout", 1, Kind::kStatic, 0, 0, 0, 0, 0, "HIIT"},
    {"Pickleball", "Workout", 1, Kind::kStatic, 0, 0, 0, 0, 0, "Pickleball"},
    {"Padel", "Workout", 1, Kind::kStatic, 0, 0, 0, 0, 0, "Padel"},  // newer than our enum list
    {"AlpineSki", "AlpineSki", 1, Kind::kSki, 10, 40, 15, 30, 5, "Alpine Ski"},
    {"NordicSki", "NordicSki", 1, Kind::kRun, 8, 30, 8, 14, 10, "Nordic Ski"},
    {"Rowing", "Rowing", 1, Kind::kWater, 5, 15, 8, 12, 0, "Row"},
    {"Kayaking", "Kayaking", 1, Kind::kWater, 5, 15, 5, 8, 0, "Kayak"},
}};
constexpr int kSportRide = 0;
constexpr int kSportRun = 6;
constexpr int kSportWeights = 12;

int SportIndex(std::string_view sport_type) {
  for (size_t i = 0; i < kSports.size(); ++i) {
    if (kSports[i].sport_type == sport_type) return static_cast<int>(i);
  }
  return -1;
}

int PickSport(SplitMix& r) {
  int total = 0;
  for (const auto& s : kSports) total += s.weight;
  int64_t pick = r.Range(0, total - 1);
  for (size_t i = 0; i < kSports.size(); ++i) {
    pick -= kSports[i].weight;
    if (pick < 0) return static_cast<int>(i);
  }
  return 0;
}

double Round(double x, int decimals) {
  const double f = std::pow(10.0, decimals);
  return std::round(x * f) / f;
}

// ---- one activity ------------------------------------------------------------

enum class LatLng { kGps, kNull, kEmpty };
enum class Visibility { kEveryone, kFollowers, kOnlyMe };

// What is decided before ids are known; the rest is drawn from `stream`.
struct Draft {
  int64_t start_utc = 0;
  int zone = kHomeZone;
  int sport = kSportRide;
  std::string sport_override;  // an unknown sport_type given by an admin call
  uint64_t stream = 0;
  bool trainer = false;
  bool manual = false;
  LatLng latlng = LatLng::kGps;
  Visibility visibility = Visibility::kEveryone;
  int64_t order = 0;  // ties on start_utc
};

struct Metrics {
  double distance = 0, moving = 0, elapsed = 0, gain = 0, avg_speed = 0, max_speed = 0;
};

bool Indoor(const Draft& d) { return d.latlng != LatLng::kGps; }

Metrics MakeMetrics(const Sport& s, const Draft& d, SplitMix& r) {
  Metrics m;
  if (s.kind == Kind::kStatic || (d.manual && r.Chance(0.5))) {
    m.moving = static_cast<double>(r.Range(20, 75) * 60);
    m.elapsed = d.manual ? m.moving : m.moving + static_cast<double>(r.Range(0, 300));
    return m;  // distance 0.0, speeds 0.0, as Strava sends them
  }
  const double u = r.Unit();
  const double km = s.km_lo + (s.km_hi - s.km_lo) * u * u;
  const double kmh = r.Between(s.kmh_lo, s.kmh_hi);
  m.distance = d.manual ? std::round(km) * 1000.0 : Round(km * 1000.0, 1);
  m.moving = std::round(m.distance / (kmh / 3.6));
  if (d.manual) {
    m.moving = std::round(m.moving / 60.0) * 60.0;
    m.elapsed = m.moving;
    m.avg_speed = Round(m.distance / m.moving, 3);
    return m;
  }
  m.elapsed = std::round(m.moving * r.Between(1.0, 1.25));
  m.gain = Indoor(d) && s.kind != Kind::kVirtualRide ? 0.0 : Round(km * s.gain_per_km * r.Between(0.5, 1.5), 1);
  m.avg_speed = Round(m.distance / m.moving, 3);
  m.max_speed = Round(m.avg_speed * r.Between(1.3, 2.2), 3);
  return m;
}

std::string NameFor(const Sport& s, int local_hour, const Draft& d, SplitMix& r) {
  static constexpr std::array<std::string_view, 8> kCustom = {
      "Café ride ☕ with the crew", "Recovery spin", "Tempo \"Tuesday\"", "Löwen loop", "Long run 🏃", "Hill repeats",
      "Sunday long one",           "Intervals 5x5'"};
  if (!d.sport_override.empty()) return "Morning " + d.sport_override;
  if (r.Chance(0.15)) return std::string(kCustom[static_cast<size_t>(r.Range(0, kCustom.size() - 1))]);
  if (s.kind == Kind::kVirtualRide) return "Zwift - Watopia Figure 8";
  const char* part = local_hour < 5    ? "Night"
                     : local_hour < 11 ? "Morning"
                     : local_hour < 13 ? "Lunch"
                     : local_hour < 17 ? "Afternoon"
                     : local_hour < 21 ? "Evening"
                                       : "Night";
  return std::string(part) + " " + std::string(s.noun);
}

// Google encoded polyline of a loop-ish random walk from `start` (1e-5 deg).
std::string Polyline(int64_t lat, int64_t lng, double distance_m, SplitMix& r, Json& end_latlng) {
  static constexpr int kDir[8][2] = {{10, 0}, {7, 7}, {0, 10}, {-7, 7}, {-10, 0}, {-7, -7}, {0, -10}, {7, -7}};
  const int points = std::clamp(static_cast<int>(distance_m / 60.0), 30, 400);
  const int64_t step = std::max<int64_t>(2, static_cast<int64_t>(distance_m / points / 1.11));
  std::string out;
  int64_t prev_lat = 0, prev_lng = 0;
  int64_t dir = r.Range(0, 7);
  auto put = [&out](int64_t v) {
    uint64_t u = static_cast<uint64_t>(v < 0 ? ~(v << 1) : (v << 1));
    while (u >= 0x20) {
      out.push_back(static_cast<char>((0x20 | (u & 0x1f)) + 63));
      u >>= 5;
    }
    out.push_back(static_cast<char>(u + 63));
  };
  for (int i = 0; i < points; ++i) {
    put(lat - prev_lat);
    put(lng - prev_lng);
    prev_lat = lat;
    prev_lng = lng;
    if (r.Chance(0.25)) dir = (dir + (r.Chance(0.5) ? 1 : 7)) % 8;
    if (i == points / 2) dir = (dir + 4) % 8;  // head home
    lat += kDir[dir][0] * step / 10 + r.Range(-step / 3, step / 3);
    lng += kDir[dir][1] * step / 10 + r.Range(-step / 3, step / 3);
  }
  end_latlng =
      Json::array({Round(static_cast<double>(prev_lat) / 1e5, 6), Round(static_cast<double>(prev_lng) / 1e5, 6)});
  return out;
}

std::string Digits(SplitMix& r, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>('0' + (i == 0 ? r.Range(1, 9) : r.Range(0, 9))));
  return s;
}
std::string Hex(SplitMix& r, int n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(kHex[r.Range(0, 15)]);
  return s;
}

int LocalHour(int64_t local_naive) { return static_cast<int>(((local_naive % 86400) + 86400) % 86400 / 3600); }

int TemperatureC(int64_t local_naive, const Zone& z, SplitMix& r) {
  static constexpr std::array<int, 12> kNorth = {0, 2, 6, 11, 16, 21, 24, 23, 19, 13, 7, 2};
  using namespace std::chrono;
  const year_month_day ymd{sys_days{days{static_cast<int>(local_naive / 86400)}}};
  size_t month = static_cast<unsigned>(ymd.month()) - 1;
  if (z.lat < 0) month = (month + 6) % 12;
  return kNorth[month] + static_cast<int>(r.Range(-4, 4)) + (std::abs(z.lat) < 15 ? 10 : 0);
}

// Values decided while building the summary and needed again later.
struct Power {
  double avg = 0;       // average_watts, 0 when absent
  bool device = false;  // device_watts
  double suffer = -1;   // suffer_score, < 0 for null
};

// Fields between average_speed and has_heartrate; absent when not applicable.
void AddSensors(Json& a, const Sport& s, const Draft& d, const Metrics& m, const Zone& z, int64_t local, SplitMix& r,
                Power& p) {
  const bool ride = s.kind == Kind::kRide || s.kind == Kind::kVirtualRide;
  const bool recorded = !d.manual && s.kind != Kind::kStatic;
  if (recorded && (ride || s.kind == Kind::kRun || s.kind == Kind::kWalk)) {
    const double lo = ride ? 75 : s.kind == Kind::kRun ? 80 : 50;
    if (!ride || r.Chance(0.7)) a["average_cadence"] = Round(r.Between(lo, lo + 15), 1);
  }
  if (recorded && !Indoor(d) && s.kind != Kind::kVirtualRide && r.Chance(0.6)) {
    a["average_temp"] = TemperatureC(local, z, r);
  }
  if (ride && !d.manual) {
    const bool ebike = s.type == "EBikeRide";
    p.device = s.kind == Kind::kVirtualRide || d.trainer || r.Chance(0.55);
    p.avg = Round(ebike ? r.Between(80, 140) : r.Between(120, 230), 1);
    a["average_watts"] = p.avg;
    if (p.device) {
      a["max_watts"] = static_cast<int64_t>(p.avg * r.Between(2.5, 5.0));
      a["weighted_average_watts"] = static_cast<int64_t>(p.avg * r.Between(1.03, 1.15));
    }
    a["device_watts"] = p.device;
    a["kilojoules"] = Round(p.avg * m.moving / 1000.0, 1);
  }
}

void AddHeartRate(Json& a, const Sport& s, const Draft& d, const Metrics& m, SplitMix& r, Power& p) {
  const bool has_hr = !d.manual && r.Chance(0.85);
  a["has_heartrate"] = has_hr;
  if (has_hr) {
    const double lo = s.kind == Kind::kRun ? 140 : s.kind == Kind::kWalk ? 95 : s.kind == Kind::kStatic ? 100 : 120;
    const double avg = Round(r.Between(lo, lo + 25), 1);
    a["average_heartrate"] = avg;
    a["max_heartrate"] = std::round(avg + r.Between(15, 35));
    p.suffer = std::round(m.moving / 60.0 * (avg - 85.0) / 40.0);
  }
  a["heartrate_opt_out"] = false;
  a["display_hide_heartrate_option"] = has_hr;
}

Json Gear(const Sport& s, const Draft& d, SplitMix& r) {
  if (d.manual) return nullptr;
  if (s.kind == Kind::kRide || s.kind == Kind::kVirtualRide) {
    static constexpr std::array<std::string_view, 3> kBikes = {"b8423916", "b10234871", "b6102390"};
    return std::string(kBikes[static_cast<size_t>(r.Range(0, 2))]);
  }
  if (s.kind == Kind::kRun || s.kind == Kind::kWalk) {
    return r.Chance(0.8) ? Json(std::string("g12873466")) : Json(std::string("g9823410"));
  }
  return nullptr;
}

Json LatLngValue(LatLng style) { return style == LatLng::kNull ? Json(nullptr) : Json::array(); }

void AddCounts(Json& a, const Draft& d, SplitMix& r) {
  const bool hidden = d.visibility == Visibility::kOnlyMe;
  a["achievement_count"] = hidden || !r.Chance(0.2) ? 0 : r.Range(1, 8);
  a["kudos_count"] = hidden ? 0 : r.Range(0, 25);
  a["comment_count"] = hidden || !r.Chance(0.1) ? 0 : r.Range(1, 3);
  a["athlete_count"] = r.Chance(0.25) ? r.Range(2, 6) : 1;
  a["photo_count"] = 0;
}

// The summary object, in the order Strava sends its fields.
Json Summary(const Draft& d, int64_t id, int64_t athlete_id, SplitMix& r, Power& power, Json& gear) {
  const Sport& s = kSports[static_cast<size_t>(d.sport)];
  const Zone& z = kZones[static_cast<size_t>(d.zone)];
  const int offset = OffsetAt(z, d.start_utc);
  const int64_t local = d.start_utc + offset;
  const Metrics m = MakeMetrics(s, d, r);
  const std::string sport_type = d.sport_override.empty() ? std::string(s.sport_type) : d.sport_override;
  Json a;
  a["resource_state"] = 2;
  a["athlete"] = Json{{"id", athlete_id}, {"resource_state", 1}};
  a["name"] = NameFor(s, LocalHour(local), d, r);
  a["distance"] = m.distance;
  a["moving_time"] = static_cast<int64_t>(m.moving);
  a["elapsed_time"] = static_cast<int64_t>(m.elapsed);
  a["total_elevation_gain"] = m.gain;
  a["type"] = d.sport_override.empty() ? std::string(s.type) : LegacyTypeOf(sport_type);
  a["sport_type"] = sport_type;
  const bool run = s.kind == Kind::kRun, ride = s.kind == Kind::kRide;
  a["workout_type"] = (run || ride) && r.Chance(0.6) ? Json(ride ? r.Range(10, 12) : r.Range(0, 3)) : Json(nullptr);
  a["id"] = id;
  a["start_date"] = FormatIso(d.start_utc);
  a["start_date_local"] = FormatIso(local);  // wall clock with Strava's misleading Z
  a["timezone"] = Label(z);
  a["utc_offset"] = static_cast<double>(offset);
  a["location_city"] = nullptr;
  a["location_state"] = nullptr;
  a["location_country"] = nullptr;
  AddCounts(a, d, r);
  Json start = LatLngValue(d.latlng), end = LatLngValue(d.latlng);
  Json polyline = d.latlng == LatLng::kNull ? Json(nullptr) : Json("");
  if (!Indoor(d)) {
    const bool watopia = s.kind == Kind::kVirtualRide;
    const double lat = Round((watopia ? -11.6401 : z.lat) + r.Between(-0.08, 0.08), 6);
    const double lng = Round((watopia ? 166.9522 : z.lng) + r.Between(-0.08, 0.08), 6);
    start = Json::array({lat, lng});
    polyline = Polyline(std::llround(lat * 1e5), std::llround(lng * 1e5), std::max(m.distance, 2000.0), r, end);
  }
  a["map"] = Json{{"id", "a" + std::to_string(id)}, {"summary_polyline", polyline}, {"resource_state", 2}};
  a["trainer"] = d.trainer;
  a["commute"] = s.kind == Kind::kRide && !d.trainer && r.Chance(0.08);
  a["manual"] = d.manual;
  a["private"] = d.visibility == Visibility::kOnlyMe;
  a["visibility"] = d.visibility == Visibility::kOnlyMe      ? "only_me"
                    : d.visibility == Visibility::kFollowers ? "followers_only"
                                                             : "everyone";
  a["flagged"] = false;
  gear = Gear(s, d, r);
  a["gear_id"] = gear;
  a["start_latlng"] = start;
  a["end_latlng"] = end;
  a["average_speed"] = m.avg_speed;
  a["max_speed"] = m.max_speed;
  AddSensors(a, s, d, m, z, local, r, power);
  AddHeartRate(a, s, d, m, r, power);
  if (!d.manual && !Indoor(d)) {
    const double low = Round((s.kind == Kind::kVirtualRide ? 2.0 : z.base_elev_m) + r.Between(-5, 40), 1);
    a["elev_high"] = Round(low + m.gain * r.Between(0.15, 0.45), 1);
    a["elev_low"] = low;
  }
  return a;
}

// Closes the summary: upload and bookkeeping fields, then suffer_score last.
void Finish(Json& a, const Draft& d, int64_t id, SplitMix& r, std::string_view device, double suffer) {
  if (d.manual) {
    a["upload_id"] = nullptr;
    a["external_id"] = nullptr;
  } else {
    const int64_t upload = id + id / 14 + r.Range(0, 999);
    a["upload_id"] = upload;
    a["upload_id_str"] = std::to_string(upload);
    a["external_id"] = device.starts_with("Garmin") ? "garmin_ping_" + Digits(r, 12) : Hex(r, 16) + ".fit";
  }
  a["from_accepted_tag"] = false;
  const int64_t achievements = a["achievement_count"].get<int64_t>();
  a["pr_count"] = achievements == 0 ? 0 : r.Range(0, achievements);
  a["total_photo_count"] = r.Chance(0.1) ? r.Range(1, 3) : 0;
  a["has_kudoed"] = false;
  a["suffer_score"] = suffer < 0 ? Json(nullptr) : Json(suffer);
}

std::string_view DeviceFor(const Sport& s, const Draft& d) {
  if (d.manual) return "";
  if (s.kind == Kind::kVirtualRide) return "Zwift";
  if (d.trainer) return "Wahoo KICKR";
  if (s.kind == Kind::kRide) return "Garmin Edge 530";
  return "Garmin Forerunner 255";
}

// DetailedActivity extras appended to the summary.
void AddDetail(Json& a, const Draft& d, SplitMix& r, const Power& p, const Json& gear, std::string_view device) {
  static constexpr std::array<std::string_view, 4> kDescriptions = {"Legs felt good today.", "Windy on the way back 💨",
                                                                    "With Anna and Tom", "Easy one, HR zone 2."};
  a["resource_state"] = 3;
  a["description"] =
      r.Chance(0.3) ? Json(std::string(kDescriptions[static_cast<size_t>(r.Range(0, 3))])) : Json(nullptr);
  const double moving = a["moving_time"].get<double>();
  a["calories"] =
      d.manual ? 0.0 : Round(p.avg > 0 ? p.avg * moving / 1000.0 * 1.05 : moving / 60.0 * r.Between(6, 11), 1);
  if (!device.empty()) a["device_name"] = std::string(device);
  a["embed_token"] = Hex(r, 40);
  a["segment_leaderboard_opt_out"] = false;
  a["leaderboard_opt_out"] = false;
  if (!gear.is_null()) {
    a["gear"] = Json{{"id", gear},
                     {"primary", true},
                     {"name", gear.get<std::string>()[0] == 'b' ? "Road bike" : "Pegasus 40"},
                     {"resource_state", 2},
                     {"distance", Round(r.Between(1e6, 2e7), 1)}};
  }
  a["photos"] = Json{{"primary", nullptr}, {"count", 0}};
  a["perceived_exertion"] = nullptr;
  a["prefer_perceived_exertion"] = false;
  a["hide_from_home"] = false;
  Json zones = Json::array();
  if (a["has_heartrate"].get<bool>()) zones.push_back("heartrate");
  if (p.device) zones.push_back("power");
  a["available_zones"] = zones;
}

GeneratedActivity Build(const Draft& d, int64_t id, int64_t athlete_id) {
  SplitMix r(d.stream);
  Power power;
  Json gear;
  Json a = Summary(d, id, athlete_id, r, power, gear);
  const std::string_view device = DeviceFor(kSports[static_cast<size_t>(d.sport)], d);
  Finish(a, d, id, r, device, power.suffer);
  GeneratedActivity out;
  out.id = id;
  out.start_epoch_s = d.start_utc;
  out.only_me = d.visibility == Visibility::kOnlyMe;
  out.summary_json = a.dump(-1, ' ', false, Json::error_handler_t::replace);
  AddDetail(a, d, r, power, gear, device);
  out.detail_json = a.dump(-1, ' ', false, Json::error_handler_t::replace);
  return out;
}

// ---- the athlete's history -------------------------------------------------

Draft RandomDraft(uint64_t seed, int year, int index, int days_in_year) {
  SplitMix r(MixSeed(MixSeed(seed, static_cast<uint64_t>(year)), static_cast<uint64_t>(index)));
  Draft d;
  d.stream = r.Next();
  d.order = static_cast<int64_t>(year) * 1000000 + index;
  d.sport = PickSport(r);
  const int64_t day = r.Range(0, days_in_year - 1);
  // Travel comes in whole weeks: 15% of weeks are spent in another zone.
  SplitMix week(MixSeed(seed ^ 0x5eedf00dULL, static_cast<uint64_t>(year * 64 + day / 7)));
  d.zone = week.Chance(0.15) ? static_cast<int>(week.Range(1, kZones.size() - 1)) : kHomeZone;
  const int64_t local = CivilEpoch(year, 1, 1) + day * 86400 + r.Range(6, 20) * 3600 + r.Range(0, 3599);
  d.start_utc = LocalToUtc(kZones[static_cast<size_t>(d.zone)], local);
  const Kind kind = kSports[static_cast<size_t>(d.sport)].kind;
  const std::string_view st = kSports[static_cast<size_t>(d.sport)].sport_type;
  d.trainer = (st == "Ride" && r.Chance(0.25)) || st == "VirtualRun";
  d.manual = r.Chance(0.04);
  if (d.trainer || d.manual || kind == Kind::kStatic || kind == Kind::kSwim) {
    d.latlng = r.Chance(d.trainer ? 0.5 : 0.1) ? LatLng::kNull : LatLng::kEmpty;
  }
  const double v = r.Unit();
  d.visibility = v < 0.05 ? Visibility::kOnlyMe : v < 0.15 ? Visibility::kFollowers : Visibility::kEveryone;
  return d;
}

// The first activities of every year are fixed cases a consumer must handle:
// New Year's Eve in New York (already next year in UTC), New Year's morning
// in Auckland (still last year in UTC), trainer rides with null and []
// latlng, a manual zero-distance entry, an only-me and a followers-only one.
void ApplySpecial(Draft& d, int year, int index) {
  auto at_local = [&d](int zone, int64_t naive) {
    d.zone = zone;
    d.start_utc = LocalToUtc(kZones[static_cast<size_t>(zone)], naive);
  };
  switch (index) {
    case 0:
      d.sport = kSportRun;
      at_local(kHomeZone, CivilEpoch(year, 12, 31) + 20 * 3600);
      break;
    case 1:
      d.sport = kSportRide;
      at_local(kAucklandZone, CivilEpoch(year, 1, 1) + 9 * 3600 + 1800);
      break;
    case 2:
    case 3:
      d.sport = kSportRide;
      d.trainer = true;
      d.latlng = index == 2 ? LatLng::kNull : LatLng::kEmpty;
      break;
    case 4:
      d.sport = kSportWeights;
      d.manual = true;
      d.latlng = LatLng::kEmpty;
      break;
    case 5:
      d.visibility = Visibility::kOnlyMe;
      break;
    case 6:
      d.visibility = Visibility::kFollowers;
      break;
    default:
      return;
  }
  if (index <= 1) d.trainer = false;
  if (index == 4) d.trainer = false;
  if (index <= 3) d.manual = false;
  if (index <= 1) d.latlng = LatLng::kGps;
  if (index <= 4) d.visibility = Visibility::kEveryone;
}

}  // namespace

// ---- public helpers ------------------------------------------------------------

uint64_t SplitMix::Next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
double SplitMix::Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
int64_t SplitMix::Range(int64_t lo, int64_t hi) {
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int64_t>(Next() % span);  // bias < 2^-40 for our spans
}
double SplitMix::Between(double lo, double hi) { return lo + (hi - lo) * Unit(); }

uint64_t MixSeed(uint64_t a, uint64_t b) {
  SplitMix m(a ^ (b * 0xD1B54A32D192ED03ULL));
  m.Next();
  return m.Next();
}

std::optional<int> UtcOffsetAt(std::string_view zone_name, int64_t utc_epoch_s) {
  const int i = ZoneIndex(zone_name);
  if (i < 0) return std::nullopt;
  return OffsetAt(kZones[static_cast<size_t>(i)], utc_epoch_s);
}

std::optional<std::string> ZoneLabel(std::string_view zone_name) {
  const int i = ZoneIndex(zone_name);
  if (i < 0) return std::nullopt;
  return Label(kZones[static_cast<size_t>(i)]);
}

std::string ZoneNameFromLabel(std::string_view label) {
  const size_t close = label.find(") ");
  return std::string(close == std::string_view::npos ? label : label.substr(close + 2));
}

std::string FormatIso(int64_t epoch_s) {
  using namespace std::chrono;
  const sys_seconds tp{seconds{epoch_s}};
  const auto day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss hms{tp - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

std::optional<int64_t> ParseIso(std::string_view t) {
  if (t.size() != 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' || t[19] != 'Z') {
    return std::nullopt;
  }
  auto num = [&t](size_t pos, size_t len) -> int {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (t[i] < '0' || t[i] > '9') return -1;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  const int y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), s = num(17, 2);
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (y < 0 || mo < 0 || d < 0 || !ymd.ok() || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) {
    return std::nullopt;
  }
  return DayEpoch(sys_days{ymd}) + h * 3600 + mi * 60 + s;
}

std::string LegacyTypeOf(std::string_view sport_type) {
  static constexpr std::array<std::string_view, 37> kLegacy = {"AlpineSki",
                                                               "BackcountrySki",
                                                               "Canoeing",
                                                               "Crossfit",
                                                               "EBikeRide",
                                                               "Elliptical",
                                                               "Golf",
                                                               "Handcycle",
                                                               "Hike",
                                                               "IceSkate",
                                                               "InlineSkate",
                                                               "Kayaking",
                                                               "Kitesurf",
                                                               "NordicSki",
                                                               "Ride",
                                                               "RockClimbing",
                                                               "RollerSki",
                                                               "Rowing",
                                                               "Run",
                                                               "Sail",
                                                               "Skateboard",
                                                               "Snowboard",
                                                               "Snowshoe",
                                                               "Soccer",
                                                               "StairStepper",
                                                               "StandUpPaddling",
                                                               "Surfing",
                                                               "Swim",
                                                               "Velomobile",
                                                               "VirtualRide",
                                                               "VirtualRun",
                                                               "Walk",
                                                               "WeightTraining",
                                                               "Wheelchair",
                                                               "Windsurf",
                                                               "Workout",
                                                               "Yoga"};
  const int i = SportIndex(sport_type);
  if (i >= 0) return std::string(kSports[static_cast<size_t>(i)].type);
  if (sport_type == "VirtualRow") return "Rowing";
  for (auto legacy : kLegacy) {
    if (legacy == sport_type) return std::string(legacy);
  }
  return "Workout";
}

int64_t IdForStart(int64_t start_epoch_s) {
  constexpr int64_t k2019 = 1546300800;
  // About 2e9 at the start of 2019 and 1.8e10 by late 2025, as on Strava;
  // earlier activities fall towards 0 in 2009.
  if (start_epoch_s >= k2019) return 2'000'000'000 + (start_epoch_s - k2019) * 75;
  return std::max<int64_t>(1000, 2'000'000'000 + (start_epoch_s - k2019) * 6);
}

std::vector<GeneratedActivity> GenerateActivities(const GenerateOptions& options, int64_t athlete_id) {
  std::vector<Draft> drafts;
  for (int year = options.first_year; year <= options.last_year; ++year) {
    const int days = static_cast<int>((CivilEpoch(year + 1, 1, 1) - CivilEpoch(year, 1, 1)) / 86400);
    for (int i = 0; i < options.per_year; ++i) {
      Draft d = RandomDraft(options.seed, year, i, days);
      ApplySpecial(d, year, i);
      if (options.until_epoch_s > 0 && d.start_utc > options.until_epoch_s) continue;
      drafts.push_back(std::move(d));
    }
  }
  std::sort(drafts.begin(), drafts.end(), [](const Draft& a, const Draft& b) {
    return std::tie(a.start_utc, a.order) < std::tie(b.start_utc, b.order);
  });
  std::vector<GeneratedActivity> out;
  out.reserve(drafts.size());
  int64_t prev_id = 0;
  for (const Draft& d : drafts) {
    const int64_t id = std::max(prev_id + 1, IdForStart(d.start_utc) + static_cast<int64_t>(d.stream % 75));
    prev_id = id;
    out.push_back(Build(d, id, athlete_id));
  }
  return out;
}

GeneratedActivity TemplateActivity(int64_t id, int64_t athlete_id, int64_t start_epoch_s, std::string_view sport_type,
                                   std::string_view zone_name) {
  Draft d;
  d.stream = MixSeed(static_cast<uint64_t>(id), 0x7e3);
  d.start_utc = start_epoch_s;
  d.zone = std::max(ZoneIndex(zone_name), kHomeZone);
  const int sport = SportIndex(sport_type);
  d.sport = sport >= 0 ? sport : kSportWeights;
  if (sport < 0 && !sport_type.empty()) d.sport_override = std::string(sport_type);
  const Kind kind = kSports[static_cast<size_t>(d.sport)].kind;
  if (kind == Kind::kStatic || kind == Kind::kSwim) d.latlng = LatLng::kEmpty;
  return Build(d, id, athlete_id);
}

}  // namespace dl::sim
