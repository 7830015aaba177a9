// The data API and the dashboard routes over real HTTP: a real dl::http::Server
// on port 0, a real SQLite store in a temporary directory, libcurl as the
// client, and a fake clock that fixes "today" at 10 January 2025 (UTC).
//
// The data, small enough to check by hand (athlete 42):
//   2024 cycling: 1 Jan 100 km, 29 Feb 50 km (leap day), 31 Dec 23:59 10 km
//   2025 cycling: 1 Jan 40 km, 2 Jan 60 km;  2025 running: 2 Jan 10 km
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "adapters/files/year_files.h"
#include "adapters/sqlite/sqlite_store.h"
#include "core/sports.h"
#include "fakes/fake_clock.h"
#include "http/api/api.h"
#include "http/server.h"
#include "support.h"

namespace dl::http::api {
namespace {

using Json = nlohmann::json;
using dl::testing::HttpRequest;
using dl::testing::HttpResult;

constexpr int64_t kAthlete = 42;
constexpr const char* kToken = "s3cret-write-token";
constexpr const char* kAllowedOrigin = "https://friends.example";
// 2025-01-10T12:00:00Z
constexpr int64_t kNowEpochS = 1736510400;

core::Activity Ride(int64_t id, const std::string& local, double km, const std::string& type = "Ride") {
  core::Activity a;
  a.id = id;
  a.athlete_id = kAthlete;
  a.name = "activity " + std::to_string(id);
  a.distance_m = km * 1000;
  a.moving_time_s = static_cast<int64_t>(km * 120);  // 30 km/h
  a.elapsed_time_s = a.moving_time_s;
  a.total_elevation_gain_m = km;  // 1 m per km
  a.type = type;
  a.sport_type = type;
  a.start_date = local;
  a.start_date_local = local;
  a.timezone = "(GMT+00:00) Europe/London";
  a.raw_json = "{\"id\":" + std::to_string(id) + "}";
  return a;
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = adapters::sqlite::SqliteStore::Open((dir_.path() / "desirelines.db").string(),
                                                     core::SportCategories::Default());
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
    std::vector<core::Activity> activities{
        Ride(1, "2024-01-01T08:00:00Z", 100), Ride(2, "2024-02-29T08:00:00Z", 50),
        Ride(3, "2024-12-31T23:59:00Z", 10),  Ride(4, "2025-01-01T09:00:00Z", 40),
        Ride(5, "2025-01-02T09:00:00Z", 60),  Ride(6, "2025-01-02T18:00:00Z", 10, "Run")};
    ports::UpsertOptions options;
    options.now_epoch_s = kNowEpochS;
    ASSERT_TRUE(store_->UpsertActivities(activities, options).has_value());
    WriteLegacyFiles(2024);
    server_ = StartServer(kToken, {kAllowedOrigin});
  }

  void TearDown() override {
    if (server_) server_->Stop();
  }

  // The aggregator's files for `year`, as the files adapter writes them.
  void WriteLegacyFiles(int year) {
    auto days = store_->DailyForYear(kAthlete, year, "cycling");
    ASSERT_TRUE(days.has_value());
    core::Date dec31{std::chrono::year{year}, std::chrono::December, std::chrono::day{31}};
    ASSERT_TRUE(adapters::files::WriteYearFiles(dir_.path(), year, "cycling", *days, dec31, true).has_value());
  }

  std::unique_ptr<Server> StartServer(std::string token, std::vector<std::string> origins) {
    contexts_.push_back(std::make_unique<ApiContext>(ApiContext{
        *store_, *store_, core::SportCategories::Default(), clock_,
        [](const Request&) -> Result<int64_t> { return kAthlete; }, nullptr,
        ApiOptions{std::move(token), std::move(origins), dir_.path()}}));
    auto router = std::make_shared<Router>();
    RegisterApiRoutes(*router, *contexts_.back());
    auto server = std::make_unique<Server>(ServerOptions{}, router);
    auto started = server->Start();
    EXPECT_TRUE(started.has_value()) << (started ? "" : started.error().message);
    return server;
  }

  std::string Url(const std::string& path, const Server* server = nullptr) const {
    return "http://127.0.0.1:" + std::to_string((server ? server : server_.get())->port()) + path;
  }

  HttpResult Get(const std::string& path, const std::vector<std::string>& headers = {}) const {
    return HttpRequest("GET", Url(path), "", headers);
  }

  Json GetJson(const std::string& path) const {
    auto r = Get(path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return Json::parse(r.body);
  }

  HttpResult PutGoals(const std::string& body, const std::string& token = kToken) const {
    std::vector<std::string> headers{"Content-Type: application/json"};
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    return HttpRequest("PUT", Url("/api/v1/goals/2025/cycling"), body, headers);
  }

  dl::testing::TempDir dir_;
  fakes::FakeClock clock_{kNowEpochS};
  std::unique_ptr<adapters::sqlite::SqliteStore> store_;
  std::vector<std::unique_ptr<ApiContext>> contexts_;
  std::unique_ptr<Server> server_;
};

TEST_F(ApiTest, HealthAnswersJsonWithSecurityHeaders) {
  auto r = Get("/api/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Json::parse(r.body)["status"], "ok");
  EXPECT_EQ(r.headers["content-type"].rfind("application/json", 0), 0u);
  EXPECT_EQ(r.headers["x-content-type-options"], "nosniff");
  EXPECT_FALSE(r.headers.contains("access-control-allow-origin"));
}

TEST_F(ApiTest, YearsListsYearsAndCategoriesWithDataNewestFirst) {
  auto j = GetJson("/api/v1/years");
  EXPECT_EQ(j["today"], "2025-01-10");
  EXPECT_EQ(j["default_category"], "cycling");
  ASSERT_EQ(j["years"].size(), 2u);
  EXPECT_EQ(j["years"][0]["year"], 2025);
  EXPECT_EQ(j["years"][0]["categories"], (Json{"cycling", "running"}));
  EXPECT_EQ(j["years"][1]["year"], 2024);
  EXPECT_EQ(j["years"][1]["categories"], (Json{"cycling"}));
}

TEST_F(ApiTest, YearSummaryHasDaysTotalsAndCumulativeThroughToday) {
  auto j = GetJson("/api/v1/years/2025/cycling");
  EXPECT_EQ(j["through"], "2025-01-10");
  EXPECT_EQ(j["last_activity_date"], "2025-01-02");
  EXPECT_EQ(j["totals"]["distance_km"], 100.0);            // 40 + 60
  EXPECT_EQ(j["totals"]["distance_mi"], 62.137);           // 100 * 0.62137
  EXPECT_EQ(j["totals"]["moving_time_s"], 12000);          // 100 km * 120 s
  EXPECT_EQ(j["totals"]["elevation_gain_m"], 100.0);
  EXPECT_EQ(j["totals"]["count"], 2);
  ASSERT_EQ(j["days"].size(), 2u);
  EXPECT_EQ(j["days"][1]["activity_ids"], (Json{5}));
  ASSERT_EQ(j["cumulative"]["km"].size(), 10u);  // 1..10 January
  EXPECT_EQ(j["cumulative"]["km"][0], 40.0);
  EXPECT_EQ(j["cumulative"]["km"][9], 100.0);

  // A past leap year runs to 31 December: 366 points, the 23:59 ride counted.
  auto past = GetJson("/api/v1/years/2024/cycling");
  EXPECT_EQ(past["through"], "2024-12-31");
  EXPECT_EQ(past["cumulative"]["km"].size(), 366u);
  EXPECT_EQ(past["cumulative"]["km"][365], 160.0);  // 100 + 50 + 10
}

TEST_F(ApiTest, PacingUsesDefaultGoalsFromTheProjection) {
  // 100 km in 10 days: 10 km/day, projection 10 * 365 = 3650 km. Defaults:
  // 0.9 * 3650 = 3285 -> 3300; 3650 -> 3700; 1.15 * 3650 = 4197.5 -> 4200.
  auto j = GetJson("/api/v1/years/2025/cycling/pacing");
  EXPECT_EQ(j["unit"], "km");
  EXPECT_EQ(j["phase"], "in_progress");
  EXPECT_EQ(j["days_elapsed"], 10);
  EXPECT_EQ(j["days_left"], 356);  // 365 - 9
  EXPECT_EQ(j["distance"], 100.0);
  EXPECT_EQ(j["average_pace"], 10.0);
  EXPECT_EQ(j["projection"], 3650.0);
  EXPECT_TRUE(j["momentum_pct_per_week"].is_null());  // 2 riding days
  EXPECT_EQ(j["goals_source"], "default");
  ASSERT_EQ(j["goals"].size(), 3u);
  EXPECT_EQ(j["goals"][0]["value"], 3300.0);
  EXPECT_EQ(j["goals"][1]["value"], 3700.0);
  EXPECT_EQ(j["goals"][2]["value"], 4200.0);
  EXPECT_EQ(j["goals"][1]["pace_needed"], 10.112);  // (3700 - 100) / 356 = 10.1124
  EXPECT_EQ(j["goals"][1]["desire_line"].size(), 365u);
  EXPECT_EQ(j["series"]["cumulative"].size(), 10u);

  auto mi = GetJson("/api/v1/years/2025/cycling/pacing?unit=mi");
  EXPECT_EQ(mi["unit"], "mi");
  EXPECT_EQ(mi["distance"], 62.137);
  EXPECT_EQ(mi["goals"][0]["unit"], "mi");  // defaults come in the asked unit
}

TEST_F(ApiTest, MalformedAndUnknownTargetsAreClientErrors) {
  EXPECT_EQ(Get("/api/v1/years/2025/underwater-rugby").status, 404);
  EXPECT_EQ(Get("/api/v1/years/2025/Cycling").status, 400);
  EXPECT_EQ(Get("/api/v1/years/20x5/cycling").status, 400);
  EXPECT_EQ(Get("/api/v1/years/1800/cycling/pacing").status, 400);
  auto unit = Get("/api/v1/years/2025/cycling/pacing?unit=furlong");
  EXPECT_EQ(unit.status, 400);
  EXPECT_EQ(Json::parse(unit.body)["error"], "unit must be \"km\" or \"mi\"");
  EXPECT_EQ(Get("/api/v1/goals/2025/nope").status, 404);
  // A known category without activity that year: zeros, not an error.
  auto empty = GetJson("/api/v1/years/2023/running");
  EXPECT_EQ(empty["totals"]["count"], 0);
  EXPECT_TRUE(empty["last_activity_date"].is_null());
}

TEST_F(ApiTest, LegacyEndpointsServeTheAggregatorFilesByteForByte) {
  auto days = store_->DailyForYear(kAthlete, 2024, "cycling");
  ASSERT_TRUE(days.has_value());
  auto summary = Get("/api/activities/2024/summary");
  EXPECT_EQ(summary.status, 200);
  EXPECT_EQ(summary.body, adapters::files::RenderLegacySummary(2024, *days));
  EXPECT_EQ(Json::parse(summary.body)["2024-02-29"]["activity_ids"], (Json{2}));
  auto distances = Get("/api/activities/2024/distances");
  EXPECT_EQ(distances.status, 200);
  core::Date dec31{std::chrono::year{2024}, std::chrono::December, std::chrono::day{31}};
  EXPECT_EQ(distances.body, adapters::files::RenderLegacyDistances(2024, *days, dec31));
  EXPECT_EQ(Json::parse(distances.body)["distance_traveled"].size(), 366u);

  auto missing = Get("/api/activities/2019/summary");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(Json::parse(missing.body)["error"], "no data for 2019");
  EXPECT_EQ(Get("/api/activities/19x9/summary").status, 400);
  EXPECT_EQ(Get("/api/activities/2024/everything").status, 400);
}

TEST_F(ApiTest, EtagAnswers304AndChangesWithTheData) {
  auto first = Get("/api/v1/years/2025/cycling/pacing");
  const std::string etag = first.headers["etag"];
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(first.headers["cache-control"], "no-cache");
  auto again = Get("/api/v1/years/2025/cycling/pacing", {"If-None-Match: " + etag});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(again.headers["etag"], etag);
  EXPECT_EQ(Get("/api/v1/years/2025/cycling/pacing", {"If-None-Match: \"other\""}).status, 200);

  ASSERT_EQ(PutGoals(R"({"goals":[{"value":5000,"unit":"km","label":"Big"}]})").status, 200);
  auto changed = Get("/api/v1/years/2025/cycling/pacing", {"If-None-Match: " + etag});
  EXPECT_EQ(changed.status, 200);
  EXPECT_NE(changed.headers["etag"], etag);
}

TEST_F(ApiTest, GoalsRoundTripAndDrivePacing) {
  auto before = GetJson("/api/v1/goals/2025/cycling");
  EXPECT_EQ(before["source"], "default");
  ASSERT_EQ(before["goals"].size(), 3u);

  auto put = PutGoals(R"({"goals":[{"value":4000,"unit":"km","label":"Target"},{"value":2000,"unit":"mi"}]})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.headers["cache-control"], "no-store");
  auto after = GetJson("/api/v1/goals/2025/cycling");
  EXPECT_EQ(after["source"], "stored");
  EXPECT_EQ(after["goals"], Json::parse(R"([{"value":4000.0,"unit":"km","label":"Target"},
                                             {"value":2000.0,"unit":"mi","label":""}])"));
  auto pacing = GetJson("/api/v1/years/2025/cycling/pacing");
  EXPECT_EQ(pacing["goals_source"], "stored");
  EXPECT_EQ(pacing["goals"][0]["target"], 4000.0);
  EXPECT_EQ(pacing["goals"][1]["target"], 3218.694);  // 2000 / 0.62137 = 3218.6942
  EXPECT_EQ(pacing["goals"][0]["progress_pct"], 2.5);  // 100 / 4000
  // Goals are per (year, category): running still has defaults.
  EXPECT_EQ(GetJson("/api/v1/goals/2025/running")["source"], "default");
}

TEST_F(ApiTest, GoalValidationNamesEachField) {
  auto dup = PutGoals(R"({"goals":[{"value":5000},{"value":6000},{"value":5000}]})");
  ASSERT_EQ(dup.status, 400);
  auto j = Json::parse(dup.body);
  ASSERT_EQ(j["fields"].size(), 1u);
  EXPECT_EQ(j["fields"][0]["field"], "goals[2].value");
  EXPECT_EQ(j["fields"][0]["message"], "duplicates goals[0] (5000 km); goal values must be unique");
  EXPECT_EQ(j["error"], "invalid goals: goals[2].value duplicates goals[0] (5000 km); goal values must be unique");

  auto types = PutGoals(R"({"goals":[{"value":"5000"},{"value":1,"unit":"leagues"},{"value":2,"label":7,"pace":3}]})");
  ASSERT_EQ(types.status, 400);
  auto t = Json::parse(types.body)["fields"];
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0]["field"], "goals[0].value");
  EXPECT_EQ(t[1]["field"], "goals[1].unit");
  EXPECT_EQ(t[2]["field"], "goals[2].label");
  EXPECT_EQ(t[3]["field"], "goals[2].pace");

  EXPECT_EQ(Json::parse(PutGoals(R"({"goals":[]})").body)["fields"][0]["field"], "goals");
  EXPECT_EQ(Json::parse(PutGoals(R"({"goals":[{"value":-3}]})").body)["fields"][0]["message"],
            "must be a positive number");
  auto syntax = PutGoals("{\"goals\": [");
  EXPECT_EQ(syntax.status, 400);
  EXPECT_EQ(Json::parse(syntax.body)["error"], "body is not valid JSON");
  EXPECT_EQ(GetJson("/api/v1/goals/2025/cycling")["source"], "default");  // nothing saved
}

// A body that says two things is refused, as the webhook refuses it:
// nlohmann alone keeps the last of duplicate keys without a word, so
// {"value":100,"value":5000} saved a 5000 km goal.
TEST_F(ApiTest, GoalsWithDuplicateKeysAreRefusedAndNothingIsSaved) {
  for (const char* body : {R"({"goals":[{"value":100,"value":5000}]})",
                                  R"({"goals":[{"value":100}],"goals":[{"value":5000}]})",
                                  R"({"goals":[{"value":100,"unit":"km","label":"a","unit":"mi"}]})"}) {
    auto r = PutGoals(body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(Json::parse(r.body)["error"].get<std::string>().find("duplicate key"), std::string::npos) << r.body;
  }
  EXPECT_EQ(GetJson("/api/v1/goals/2025/cycling")["source"], "default");  // nothing saved
  // The same key in two different objects is no duplicate.
  EXPECT_EQ(PutGoals(R"({"goals":[{"value":100},{"value":200}]})").status, 200);
}

TEST_F(ApiTest, WritesNeedTheConfiguredToken) {
  const std::string body = R"({"goals":[{"value":5000}]})";
  auto missing = PutGoals(body, "");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.headers["www-authenticate"], "Bearer");
  EXPECT_EQ(PutGoals(body, "s3cret-write-tokeX").status, 401);
  EXPECT_EQ(PutGoals(body, "s3cret").status, 401);
  auto wrong = PutGoals(body, "nope");
  EXPECT_EQ(wrong.body.find(kToken), std::string::npos);  // never echoed
  // Validation is not reached without the token: no field names leak.
  EXPECT_EQ(PutGoals(R"({"goals":[]})", "nope").status, 401);

  auto read_only = StartServer("", {});
  auto r = HttpRequest("PUT", Url("/api/v1/goals/2025/cycling", read_only.get()), body,
                       {"Authorization: Bearer " + std::string(kToken)});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Json::parse(r.body)["error"], "writes are disabled");
  read_only->Stop();
  EXPECT_EQ(GetJson("/api/v1/goals/2025/cycling")["source"], "default");
}

TEST_F(ApiTest, CorsOnlyForAllowedOrigins) {
  auto other = Get("/api/v1/years", {"Origin: https://evil.example"});
  EXPECT_EQ(other.status, 200);
  EXPECT_FALSE(other.headers.contains("access-control-allow-origin"));
  EXPECT_EQ(other.headers["vary"], "Origin");
  auto friendly = Get("/api/v1/years", {std::string("Origin: ") + kAllowedOrigin});
  EXPECT_EQ(friendly.headers["access-control-allow-origin"], kAllowedOrigin);

  auto preflight = HttpRequest("OPTIONS", Url("/api/v1/goals/2025/cycling"), "",
                               {std::string("Origin: ") + kAllowedOrigin, "Access-Control-Request-Method: PUT"});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.headers["access-control-allow-origin"], kAllowedOrigin);
  EXPECT_NE(preflight.headers["access-control-allow-methods"].find("PUT"), std::string::npos);
  EXPECT_NE(preflight.headers["access-control-allow-headers"].find("Authorization"), std::string::npos);
  auto denied = HttpRequest("OPTIONS", Url("/api/v1/years"), "",
                            {"Origin: https://evil.example", "Access-Control-Request-Method: GET"});
  EXPECT_EQ(denied.status, 403);
  EXPECT_FALSE(denied.headers.contains("access-control-allow-origin"));
}

TEST_F(ApiTest, DashboardIsServedFromTheBinaryWithAStrictPolicy) {
  auto index = Get("/");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_EQ(index.headers["cache-control"], "no-cache");
  const std::string csp = index.headers["content-security-policy"];
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(csp.find("http"), std::string::npos);  // no external source anywhere
  EXPECT_EQ(index.body.find("http://"), std::string::npos);
  EXPECT_EQ(index.body.find("https://"), std::string::npos);

  // Follow the page to its script: hashed name, cached for a year.
  const size_t src = index.body.find("src=\"/assets/");
  ASSERT_NE(src, std::string::npos);
  const size_t at = src + 5;
  const std::string js_path = index.body.substr(at, index.body.find('"', at) - at);
  auto js = Get(js_path);
  ASSERT_EQ(js.status, 200) << js_path;
  EXPECT_EQ(js.headers["content-type"], "text/javascript; charset=utf-8");
  EXPECT_EQ(js.headers["cache-control"], "public, max-age=31536000, immutable");
  EXPECT_EQ(js.headers["content-security-policy"], index.headers["content-security-policy"]);
  EXPECT_GT(js.body.size(), 10000u);  // uPlot is bundled in
  EXPECT_EQ(Get(js_path, {"If-None-Match: " + js.headers["etag"]}).status, 304);
  const size_t href = index.body.find("href=\"/assets/");
  ASSERT_NE(href, std::string::npos);
  const std::string css_path = index.body.substr(href + 6, index.body.find('"', href + 6) - href - 6);
  EXPECT_EQ(Get(css_path).headers["content-type"], "text/css; charset=utf-8");
  EXPECT_EQ(HttpRequest("HEAD", Url("/")).status, 200);
  EXPECT_EQ(Get("/assets/missing.js").status, 404);
}

TEST_F(ApiTest, TodayComesFromTheAthletesTimeZone) {
  // At 12:00 UTC on 10 January it is already 11 January at UTC+14.
  contexts_.push_back(std::make_unique<ApiContext>(ApiContext{
      *store_, *store_, core::SportCategories::Default(), clock_,
      [](const Request&) -> Result<int64_t> { return kAthlete; },
      [](int64_t, ports::Clock::TimePoint now) { return UtcDate(now + std::chrono::hours(14)); },
      ApiOptions{}}));
  auto router = std::make_shared<Router>();
  RegisterApiRoutes(*router, *contexts_.back());
  Server kiribati(ServerOptions{}, router);
  ASSERT_TRUE(kiribati.Start().has_value());
  auto r = HttpRequest("GET", Url("/api/v1/years/2025/cycling/pacing", &kiribati));
  auto j = Json::parse(r.body);
  EXPECT_EQ(j["today"], "2025-01-11");
  EXPECT_EQ(j["days_elapsed"], 11);
  kiribati.Stop();
}

}  // namespace
}  // namespace dl::http::api
