// Deterministic, realistic activity data for strava-sim, and the few time
// zone rules it needs. Internal to the sim module.
//
// Determinism: numbers come from splitmix64 streams derived from the seed
// (never from std::*_distribution, whose output is implementation-defined),
// so the same options give byte-identical JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/simulator.h"

namespace dl::sim {

// splitmix64: tiny, fast, and specified bit for bit.
class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  double Unit();                          // [0, 1), 53 bits
  int64_t Range(int64_t lo, int64_t hi);  // inclusive; hi >= lo
  double Between(double lo, double hi);   // [lo, hi)
  bool Chance(double p) { return Unit() < p; }

 private:
  uint64_t state_;
};

uint64_t MixSeed(uint64_t a, uint64_t b);

// UTC offset in seconds of a zone this simulator knows ("America/New_York",
// "Europe/Berlin", ...) at a UTC instant, with its DST rules; nullopt for an
// unknown zone.
std::optional<int> UtcOffsetAt(std::string_view zone_name, int64_t utc_epoch_s);
// "(GMT-05:00) America/New_York": the standard offset, as Strava labels it.
std::optional<std::string> ZoneLabel(std::string_view zone_name);
// The zone name in a Strava timezone label ("(GMT-05:00) America/New_York").
std::string ZoneNameFromLabel(std::string_view label);

// "2025-10-18T12:49:52Z" <-> epoch seconds (the Z form only).
std::string FormatIso(int64_t epoch_s);
std::optional<int64_t> ParseIso(std::string_view text);

// Legacy `type` for a sport_type ("MountainBikeRide" -> "Ride"); unknown
// sport types map to "Workout".
std::string LegacyTypeOf(std::string_view sport_type);

struct GeneratedActivity {
  int64_t id = 0;
  int64_t start_epoch_s = 0;
  bool only_me = false;
  std::string summary_json;  // resource_state 2, compact
  std::string detail_json;   // resource_state 3: summary plus DetailedActivity fields
};

// The whole athlete history, sorted by start_date (ids increase with it).
std::vector<GeneratedActivity> GenerateActivities(const GenerateOptions& options, int64_t athlete_id);

// One complete activity used to fill what an admin-created partial activity
// leaves out: sport and zone as given (unknown zone: America/New_York), the
// rest derived deterministically from `id`.
GeneratedActivity TemplateActivity(int64_t id, int64_t athlete_id, int64_t start_epoch_s, std::string_view sport_type,
                                   std::string_view zone_name);

// A realistic id for an activity starting at the instant (about 1e10 today).
int64_t IdForStart(int64_t start_epoch_s);

}  // namespace dl::sim
