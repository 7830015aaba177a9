// Generated data (determinism and realism), time zone rules, rate windows
// with an explicit clock, the command line and the strava-sim binary.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <set>

#include "sim/generator.h"
#include "sim/rate_buckets.h"
#include "sim_fixture.h"

namespace dl::sim::testing {
namespace {

std::string FullListing(RunningSim& s) {
  const std::string token = s.Token();
  std::string all;
  for (int page = 1;; ++page) {
    const HttpResponse r =
        Get(s.Url("/api/v3/athlete/activities?after=0&per_page=200&page=" + std::to_string(page)), token);
    EXPECT_EQ(r.status, 200);
    if (r.body == "[]" || r.status != 200) break;
    all += r.body;
  }
  return all;
}

SimOptions Seeded(uint64_t seed) {
  SimOptions o = SmallOptions();
  o.generate = GenerateOptions{seed, 2019, 2025, 60};
  return o;
}

TEST(SimGenerate, SameSeedSameBytesOtherSeedOtherBytes) {
  RunningSim a(Seeded(11)), b(Seeded(11)), c(Seeded(12));
  const std::string la = FullListing(a);
  EXPECT_GT(la.size(), 400u * 1000);
  EXPECT_EQ(la, FullListing(b));
  EXPECT_NE(la, FullListing(c));
  EXPECT_EQ(
      Get(a.Url("/api/v3/activities/" + std::to_string(json::parse(a.sim().ActivitiesJson())[5]["id"].get<int64_t>())),
          a.Token())
          .body,
      Get(b.Url("/api/v3/activities/" + std::to_string(json::parse(b.sim().ActivitiesJson())[5]["id"].get<int64_t>())),
          b.Token())
          .body);
}

// Everything a consumer of real Strava data has to cope with is present.
class GeneratedData : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto generated = GenerateActivities(GenerateOptions{3, 2019, 2025, 100}, 28475190);
    for (const auto& g : generated) {
      activities_->push_back(json::parse(g.summary_json));
      bytes_ += g.summary_json.size();
    }
  }
  static inline std::vector<json>* activities_ = new std::vector<json>();
  static inline size_t bytes_ = 0;
};

TEST_F(GeneratedData, LocalTimeMinusUtcIsTheOffsetAndMatchesTheZoneRules) {
  std::set<std::string> zones;
  for (const json& a : *activities_) {
    const auto utc = ParseIso(a["start_date"].get<std::string>());
    const auto local = ParseIso(a["start_date_local"].get<std::string>());  // its Z is not UTC
    ASSERT_TRUE(utc && local);
    EXPECT_TRUE(a["utc_offset"].is_number_float());
    EXPECT_EQ(*local - *utc, a["utc_offset"].get<double>()) << a["id"];
    const std::string zone = ZoneNameFromLabel(a["timezone"].get<std::string>());
    EXPECT_EQ(UtcOffsetAt(zone, *utc).value_or(-1), a["utc_offset"].get<double>());
    zones.insert(a["timezone"]);
  }
  EXPECT_GE(zones.size(), 6u);
  EXPECT_TRUE(zones.contains("(GMT-05:00) America/New_York"));
  EXPECT_TRUE(zones.contains("(GMT+14:00) Pacific/Kiritimati"));
}

TEST_F(GeneratedData, YearBoundaryManualTrainerAndPrivacyCasesOccur) {
  int ny_eve = 0, auckland_new_year = 0, manual_zero = 0, null_latlng = 0, empty_latlng = 0, only_me = 0, followers = 0;
  for (const json& a : *activities_) {
    const std::string utc = a["start_date"], local = a["start_date_local"];
    if (local.substr(5, 5) == "12-31" && utc.substr(5, 5) == "01-01") ++ny_eve;
    if (local.substr(5, 5) == "01-01" && utc.substr(5, 5) == "12-31") ++auckland_new_year;
    if (a["manual"].get<bool>() && a["distance"] == 0.0) ++manual_zero;
    if (a["trainer"].get<bool>() && a["start_latlng"].is_null()) ++null_latlng;
    if (a["trainer"].get<bool>() && a["start_latlng"] == json::array()) ++empty_latlng;
    const std::string vis = a["visibility"];
    EXPECT_EQ(a["private"].get<bool>(), vis == "only_me");
    only_me += vis == "only_me";
    followers += vis == "followers_only";
  }
  EXPECT_GE(ny_eve, 7);
  EXPECT_GE(auckland_new_year, 7);
  EXPECT_GE(manual_zero, 7);
  EXPECT_GE(null_latlng, 7);
  EXPECT_GE(empty_latlng, 7);
  EXPECT_GE(only_me, 7);
  EXPECT_GE(followers, 7);
}

TEST_F(GeneratedData, SportsTypesFieldsIdsAndSizeLookReal) {
  std::map<std::string, std::string> type_of;
  int64_t prev_id = 0;
  std::string prev_start;
  for (const json& a : *activities_) {
    type_of[a["sport_type"]] = a["type"];
    const std::string kind = a["type"];
    if (kind == "Run" || kind == "Walk" || kind == "Swim") {
      EXPECT_FALSE(a.contains("average_watts")) << a["id"];
    }
    if (!a["has_heartrate"].get<bool>()) {
      EXPECT_FALSE(a.contains("average_heartrate"));
    }
    for (const char* explicit_null : {"workout_type", "gear_id", "external_id", "location_city"}) {
      EXPECT_TRUE(a.contains(explicit_null)) << explicit_null;
    }
    EXPECT_GT(a["id"].get<int64_t>(), prev_id);  // ids grow with start_date
    EXPECT_GE(a["start_date"].get<std::string>(), prev_start);
    prev_id = a["id"];
    prev_start = a["start_date"];
    EXPECT_EQ(a["map"]["id"], "a" + std::to_string(prev_id));
  }
  EXPECT_GT(prev_id, 10'000'000'000);  // 2025 ids are about 1.8e10
  EXPECT_EQ(type_of["MountainBikeRide"], "Ride");
  EXPECT_EQ(type_of["GravelRide"], "Ride");
  EXPECT_EQ(type_of["EMountainBikeRide"], "EBikeRide");
  EXPECT_EQ(type_of["TrailRun"], "Run");
  EXPECT_EQ(type_of["VirtualRide"], "VirtualRide");
  EXPECT_EQ(type_of["Padel"], "Workout");  // a sport newer than the documented enum
  EXPECT_TRUE(type_of.contains("Walk") && type_of.contains("Hike") && type_of.contains("Swim"));
  const double mean = static_cast<double>(bytes_) / static_cast<double>(activities_->size());
  EXPECT_GT(mean, 1500);
  EXPECT_LT(mean, 2600);
}

TEST(SimTimeZones, DstTransitionsToTheSecond) {
  EXPECT_EQ(UtcOffsetAt("America/New_York", *ParseIso("2024-03-10T06:59:59Z")), -18000);
  EXPECT_EQ(UtcOffsetAt("America/New_York", *ParseIso("2024-03-10T07:00:00Z")), -14400);
  EXPECT_EQ(UtcOffsetAt("America/New_York", *ParseIso("2024-11-03T05:59:59Z")), -14400);
  EXPECT_EQ(UtcOffsetAt("America/New_York", *ParseIso("2024-11-03T06:00:00Z")), -18000);
  EXPECT_EQ(UtcOffsetAt("America/Los_Angeles", *ParseIso("2024-03-10T10:00:00Z")), -25200);
  EXPECT_EQ(UtcOffsetAt("America/Phoenix", *ParseIso("2024-07-01T00:00:00Z")), -25200);
  EXPECT_EQ(UtcOffsetAt("Europe/Berlin", *ParseIso("2024-03-31T00:59:59Z")), 3600);
  EXPECT_EQ(UtcOffsetAt("Europe/Berlin", *ParseIso("2024-03-31T01:00:00Z")), 7200);
  EXPECT_EQ(UtcOffsetAt("Europe/London", *ParseIso("2024-10-27T00:59:59Z")), 3600);
  EXPECT_EQ(UtcOffsetAt("Europe/London", *ParseIso("2024-10-27T01:00:00Z")), 0);
  EXPECT_EQ(UtcOffsetAt("Pacific/Auckland", *ParseIso("2024-04-06T13:59:59Z")), 46800);
  EXPECT_EQ(UtcOffsetAt("Pacific/Auckland", *ParseIso("2024-04-06T14:00:00Z")), 43200);
  EXPECT_EQ(UtcOffsetAt("Pacific/Auckland", *ParseIso("2024-09-28T13:59:59Z")), 43200);
  EXPECT_EQ(UtcOffsetAt("Pacific/Auckland", *ParseIso("2024-09-28T14:00:00Z")), 46800);
  EXPECT_EQ(UtcOffsetAt("Pacific/Kiritimati", 0), 50400);
  EXPECT_FALSE(UtcOffsetAt("Mars/Olympus", 0).has_value());
  EXPECT_EQ(ZoneLabel("Europe/London"), "(GMT+00:00) Europe/London");
  EXPECT_EQ(FormatIso(1700000000), "2023-11-14T22:13:20Z");
  EXPECT_FALSE(ParseIso("2023-02-30T00:00:00Z").has_value());
}

TEST(SimRateBuckets, WindowsAreAlignedAndScaled) {
  RateBuckets b(RateLimits{2, 3, 1, 100}, 900);  // 1 s windows, 96 s days
  const int64_t day = 96'000'000;
  const int64_t t = 1000 * day + 999'000;  // 1 ms before a window boundary
  EXPECT_EQ(b.Count(false, t), RateVerdict::kAllowed);
  EXPECT_EQ(b.Count(false, t), RateVerdict::kAllowed);
  EXPECT_EQ(b.Count(false, t), RateVerdict::kOverallExceeded);
  EXPECT_EQ(b.Count(false, t + 1000), RateVerdict::kOverallExceeded);  // daily 4 > 3 in the new window
  EXPECT_EQ(b.Usage(t + 1000).overall_15min, 1);
  EXPECT_EQ(b.Count(true, t + day), RateVerdict::kAllowed);  // a new day
  EXPECT_EQ(b.Count(true, t + day), RateVerdict::kReadExceeded);
  EXPECT_EQ(b.Count(false, t + day), RateVerdict::kOverallExceeded);  // overall 15-min: 3 > 2
  EXPECT_EQ(RateBuckets(RateLimits{}, 1).window_15min_us(), 900'000'000);
}

TEST(SimCli, DefaultsAndOverrides) {
  const char* none[] = {"strava-sim"};
  auto d = ParseSimArgs(1, none);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->options.host, "127.0.0.1");
  EXPECT_EQ(d->options.port, 0);
  EXPECT_EQ(d->options.limits.overall_15min, 200);
  EXPECT_EQ(d->options.limits.read_daily, 1000);
  EXPECT_EQ(d->options.faults.kinds.size(), 6u);
  const char* args[] = {"strava-sim",     "--listen",     "0.0.0.0:8080", "--rate-limit", "5,50",
                        "--window-scale", "900",          "--years",      "2020-2021",    "--faults",
                        "500,reset",      "--fault-rate", "0.25",         "--inactive"};
  auto p = ParseSimArgs(static_cast<int>(std::size(args)), args);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->options.host, "0.0.0.0");
  EXPECT_EQ(p->options.port, 8080);
  EXPECT_EQ(p->options.limits.overall_daily, 50);
  EXPECT_EQ(p->options.window_scale, 900);
  EXPECT_EQ(p->options.generate.first_year, 2020);
  EXPECT_EQ(p->options.faults.kinds, (std::vector<FaultKind>{FaultKind::kHttp500, FaultKind::kReset}));
  EXPECT_TRUE(p->options.faults.inactive);
  for (std::vector<const char*> bad : {std::vector<const char*>{"strava-sim", "--rate-limit", "5"},
                                       {"strava-sim", "--faults", "boom"},
                                       {"strava-sim", "--listen", "nohost"},
                                       {"strava-sim", "--window-scale", "0"}}) {
    EXPECT_FALSE(ParseSimArgs(static_cast<int>(bad.size()), bad.data()).has_value()) << bad[1];
  }
  const char* help[] = {"strava-sim", "--help"};
  auto h = ParseSimArgs(2, help);
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(h->help);
  EXPECT_NE(h->help_text.find("sim-client-secret"), std::string::npos);
}

TEST(SimBinary, PrintsListeningLineFirstAndStopsOnSigterm) {
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    execl(DL_STRAVA_SIM_BINARY, "strava-sim", "--per-year", "5", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  FILE* stream = fdopen(out[0], "r");
  char line[256] = {};
  ASSERT_NE(fgets(line, sizeof line, stream), nullptr);
  const std::string first(line);
  EXPECT_TRUE(first.starts_with("listening on http://127.0.0.1:")) << first;
  const std::string base = first.substr(13, first.size() - 14);
  EXPECT_EQ(Get(base + "/api/v3/athlete", "").status, 401);
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  fclose(stream);
}

}  // namespace
}  // namespace dl::sim::testing
