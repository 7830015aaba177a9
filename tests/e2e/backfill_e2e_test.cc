// End-to-end backfill: the real desirelines binary against the real
// strava-sim binary, a real SQLite file, and the files on disk.
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "adapters/files/year_files.h"
#include "adapters/sqlite/sqlite_store.h"
#include "core/aggregates.h"
#include "core/sports.h"
#include "support.h"

namespace dl::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kClientId = "12345";
constexpr const char* kSecret = "e2e-client-secret";
constexpr const char* kRefresh = "e2e-refresh-token";

struct RunResult {
  int code = -1;
  std::string out, err;
};

core::Activity FromSim(const json& j) {
  core::Activity a;
  a.id = j.at("id").get<int64_t>();
  a.athlete_id = j.at("athlete").at("id").get<int64_t>();
  a.type = j.value("type", "");
  a.sport_type = j.value("sport_type", "");
  a.distance_m = j.value("distance", 0.0);
  a.moving_time_s = j.value("moving_time", int64_t{0});
  a.total_elevation_gain_m = j.value("total_elevation_gain", 0.0);
  a.start_date = j.at("start_date").get<std::string>();
  a.start_date_local = j.at("start_date_local").get<std::string>();
  return a;
}

class BackfillE2E : public ::testing::Test {
 protected:
  void StartSim(std::vector<std::string> args) {
    std::vector<std::string> all = {"--client-id", kClientId, "--client-secret", kSecret, "--refresh-token", kRefresh};
    all.insert(all.end(), args.begin(), args.end());
    sim_ = std::make_unique<SimProcess>(all);
  }

  std::map<std::string, std::string> Env() const {
    return {{"STRAVA_CLIENT_ID", kClientId},
            {"STRAVA_CLIENT_SECRET", kSecret},
            {"STRAVA_REFRESH_TOKEN", kRefresh},
            {"STRAVA_API_URL", sim_->url() + "/api/v3"},
            {"STRAVA_OAUTH_URL", sim_->url() + "/oauth"},
            {"DESIRELINES_DATA_DIR", data_dir().string()},
            {"DESIRELINES_CONFIG", ""},
            {"STRAVA_TIMEOUT_S", "2"}};
  }

  std::unique_ptr<Process> Start(std::vector<std::string> args, std::map<std::string, std::string> extra = {}) {
    std::vector<std::string> argv = {(BinDir() / "desirelines").string(), "backfill"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto env = Env();
    for (auto& [k, v] : extra) env[k] = v;
    return std::make_unique<Process>(argv, env);
  }

  RunResult Backfill(std::vector<std::string> args, std::map<std::string, std::string> extra = {},
                     std::chrono::milliseconds timeout = 120s) {
    auto p = Start(std::move(args), std::move(extra));
    auto code = p->Wait(timeout);
    RunResult r;
    r.code = code.value_or(-1);
    r.out = p->Stdout();
    r.err = p->Stderr();
    return r;
  }

  json SimGet(const std::string& path) {
    auto r = HttpRequest("GET", sim_->url() + path);
    EXPECT_EQ(r.status, 200) << path << " " << r.error;
    return json::parse(r.body);
  }

  int64_t ListRequests() {
    auto s = SimGet("/_sim/stats");
    return s["by_endpoint"].value("GET /api/v3/athlete/activities", int64_t{0});
  }

  std::vector<core::Activity> SimActivities() {
    std::vector<core::Activity> out;
    for (const auto& j : SimGet("/_sim/activities")) out.push_back(FromSim(j));
    return out;
  }

  // The listing of one range returns every activity with after < start < before.
  static int64_t ExpectedListRequests(const std::vector<core::Activity>& all, int first, int last) {
    auto lo = core::WidenedUtcRangeForLocalYear(first).after_epoch_s;
    auto hi = core::WidenedUtcRangeForLocalYear(last).before_epoch_s;
    int64_t n = 0;
    for (const auto& a : all) {
      auto t = a.StartUtc()->time_since_epoch().count();
      if (t > lo && t < hi) ++n;
    }
    return n / 200 + 1;  // ceil(n/200), one more when n is a multiple of 200
  }

  std::set<int64_t> StoredIds(int year) {
    std::set<int64_t> ids;
    auto rows = SqliteQuery(db(), "SELECT id FROM activities WHERE substr(local_date,1,4)='" + std::to_string(year) + "'");
    for (auto& r : rows) ids.insert(std::stoll(r[0]));
    return ids;
  }

  static std::set<int64_t> IdsOfYear(const std::vector<core::Activity>& all, int year) {
    std::set<int64_t> ids;
    for (const auto& a : all) {
      if (static_cast<int>(a.LocalDate()->year()) == year) ids.insert(a.id);
    }
    return ids;
  }

  std::filesystem::path data_dir() const { return dir_.path() / "data"; }
  std::filesystem::path db() const { return data_dir() / "desirelines.db"; }

  TempDir dir_;
  std::unique_ptr<SimProcess> sim_;
};

TEST_F(BackfillE2E, StoresEveryActivityOfTheLocalYearsWithTheMinimumOfRequests) {
  StartSim({"--generate", "7", "--years", "2022-2025", "--per-year", "230"});
  auto all = SimActivities();
  auto r = Backfill({"--years", "2023", "2024", "2025", "--sports", "all", "--json"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto report = json::parse(r.out);
  EXPECT_EQ(ListRequests(), ExpectedListRequests(all, 2023, 2025));
  EXPECT_EQ(report["list_requests"].get<int64_t>(), ListRequests());
  for (int year : {2023, 2024, 2025}) {
    auto expected = IdsOfYear(all, year);
    EXPECT_EQ(StoredIds(year), expected) << year;
    // The legacy files equal what the original formula gives on Strava's data.
    auto days = core::BuildYear(all, year, "cycling", core::SportCategories::Default());
    EXPECT_EQ(ReadFileText(adapters::files::LegacySummaryPath(data_dir(), year)),
              adapters::files::RenderLegacySummary(year, days));
    core::Date dec31{std::chrono::year{year}, std::chrono::December, std::chrono::day{31}};
    EXPECT_EQ(ReadFileText(adapters::files::LegacyDistancesPath(data_dir(), year)),
              adapters::files::RenderLegacyDistances(year, days, dec31));
  }
  EXPECT_TRUE(StoredIds(2022).empty()) << "2022 was not requested";
  // Tokens live in the store, readable by the owner only.
  EXPECT_EQ(std::filesystem::status(db()).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// The raw JSON is kept byte for byte in both formats: the compact rows (the
// default: polyline kept once, the rest compressed) give back exactly the
// bytes the text format keeps as received, which are the simulator's
// activities. Two simulators with the same seed serve the same history (each
// run rotates its simulator's refresh token).
TEST_F(BackfillE2E, RawJsonIsKeptByteForByteCompactByDefaultOrAsText) {
  const std::vector<std::string> sim_args = {"--generate", "5", "--years", "2024-2024", "--per-year", "120"};
  StartSim(sim_args);
  auto compact = Backfill({"--years", "2024", "--json"});
  ASSERT_EQ(compact.code, 0) << compact.out << compact.err;
  // The simulator's activities: its listing's objects, byte for byte.
  const std::string sim_body = HttpRequest("GET", sim_->url() + "/_sim/activities").body;
  std::map<int64_t, json> on_strava;
  for (const auto& j : json::parse(sim_body)) on_strava[j.at("id").get<int64_t>()] = j;

  StartSim(sim_args);
  const auto text_dir = dir_.path() / "text";
  auto text = Backfill({"--years", "2024", "--json"},
                       {{"DESIRELINES_DATA_DIR", text_dir.string()}, {"DESIRELINES_RAW_JSON", "text"}});
  ASSERT_EQ(text.code, 0) << text.out << text.err;

  const auto join = "SELECT a.athlete_id, a.id, r.codec, r.raw FROM activities a JOIN activity_raw r USING (row_id)";
  auto text_rows = SqliteQuery(text_dir / "desirelines.db", join);
  ASSERT_EQ(text_rows.size(), StoredIds(2024).size());
  ASSERT_GT(text_rows.size(), 100u);
  EXPECT_EQ(SqliteQuery(db(), "SELECT DISTINCT codec FROM activity_raw"), (std::vector<std::vector<std::string>>{{"3"}}));
  auto store = adapters::sqlite::SqliteStore::Open(db().string(), core::SportCategories::Default());
  ASSERT_TRUE(store.has_value()) << store.error().message;
  size_t polylines = 0;
  for (const auto& row : text_rows) {
    ASSERT_EQ(row[2], "0");
    const int64_t id = std::stoll(row[1]);
    auto back = (*store)->GetActivity(std::stoll(row[0]), id);
    ASSERT_TRUE(back.has_value() && back->has_value()) << id;
    EXPECT_EQ((*back)->raw_json, row[3]) << id;
    const json received = json::parse(row[3]);
    EXPECT_EQ(received, on_strava.at(id)) << id;
    EXPECT_NE(sim_body.find(row[3]), std::string::npos) << "not the bytes the simulator sent: " << id;
    const json& polyline = received.at("map").at("summary_polyline");
    if (polyline.is_string() && !polyline.get<std::string>().empty()) ++polylines;
  }
  EXPECT_GT(polylines, 50u);
  // A codec-3 row starts with the cut's offset + 1 (0: nothing cut).
  auto cut = SqliteQuery(db(), "SELECT count(*) FROM activity_raw WHERE hex(substr(raw, 1, 1)) != '00'");
  EXPECT_EQ(std::stoul(cut.at(0).at(0)), polylines) << "every polyline was cut out of its JSON";
}

TEST_F(BackfillE2E, ReRunIsUnchangedAndDeletionsOnStravaAreArchived) {
  StartSim({"--generate", "11", "--years", "2024-2024", "--per-year", "150"});
  ASSERT_EQ(Backfill({"--years", "2024"}).code, 0);
  auto again = Backfill({"--years", "2024", "--json"});
  ASSERT_EQ(again.code, 0) << again.err;
  auto y = json::parse(again.out)["years"][0];
  auto all = SimActivities();
  int64_t n2024 = static_cast<int64_t>(IdsOfYear(all, 2024).size());
  EXPECT_EQ(y["unchanged"].get<int64_t>(), n2024);
  EXPECT_EQ(y["inserted"].get<int64_t>(), 0);
  EXPECT_EQ(y["updated"].get<int64_t>(), 0);
  EXPECT_EQ(y["removed"].get<int64_t>(), 0);

  int64_t victim = *IdsOfYear(all, 2024).begin();
  ASSERT_EQ(HttpRequest("DELETE", sim_->url() + "/_sim/activities/" + std::to_string(victim)).status / 100, 2);
  auto third = Backfill({"--years", "2024", "--json"});
  ASSERT_EQ(third.code, 0) << third.err;
  EXPECT_EQ(json::parse(third.out)["years"][0]["removed"].get<int64_t>(), 1);
  EXPECT_EQ(StoredIds(2024).count(victim), 0u);
  auto archived = SqliteQuery(db(), "SELECT id FROM deleted_activities WHERE id=" + std::to_string(victim));
  EXPECT_EQ(archived.size(), 1u);
}

TEST_F(BackfillE2E, DryRunWritesNothing) {
  StartSim({"--generate", "3", "--years", "2024-2024", "--per-year", "40"});
  auto r = Backfill({"--years", "2024", "--dry-run"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(data_dir()));
  EXPECT_NE(r.out.find("dry run"), std::string::npos);
  EXPECT_NE(r.out.find("2024"), std::string::npos);
}

TEST_F(BackfillE2E, WaitsForTheNextWindowInsteadOfBeingRefused) {
  // 3 read requests per (scaled) 15-minute window of 2 s; about 7 pages.
  StartSim({"--generate", "5", "--years", "2024-2024", "--per-year", "1300", "--read-rate-limit", "3,1000",
            "--window-scale", "450"});
  auto r = Backfill({"--years", "2024", "--json"}, {{"DESIRELINES_RATE_WINDOW_SCALE", "450"}}, 180s);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto stats = SimGet("/_sim/stats");
  EXPECT_EQ(stats["rate_limited"].get<int64_t>(), 0) << "a request the budget knew would be refused was sent";
  EXPECT_EQ(StoredIds(2024), IdsOfYear(SimActivities(), 2024));
}

TEST_F(BackfillE2E, DailyLimitExitsThreeAndResumesCleanly) {
  // Scaled day of 10 s: 3 reads a day.
  StartSim({"--generate", "9", "--years", "2024-2024", "--per-year", "900", "--read-rate-limit", "100,3",
            "--window-scale", "8640"});
  auto first = Backfill({"--years", "2024", "--json"}, {{"DESIRELINES_RATE_WINDOW_SCALE", "8640"}});
  ASSERT_EQ(first.code, 3) << first.out << first.err;
  EXPECT_EQ(SimGet("/_sim/stats")["rate_limited"].get<int64_t>(), 0);
  int64_t before = ListRequests();
  // Resume, waiting for the scaled UTC midnight when needed.
  auto second = Backfill({"--years", "2024", "--wait", "--json"}, {{"DESIRELINES_RATE_WINDOW_SCALE", "8640"}}, 180s);
  ASSERT_EQ(second.code, 0) << second.out << second.err;
  EXPECT_TRUE(json::parse(second.out)["resumed"].get<bool>());
  auto all = SimActivities();
  EXPECT_EQ(StoredIds(2024), IdsOfYear(all, 2024));
  // No completed page was fetched twice.
  EXPECT_EQ(ListRequests(), ExpectedListRequests(all, 2024, 2024));
  EXPECT_GT(before, 0);
}

TEST_F(BackfillE2E, KilledMidRunResumesToTheSameState) {
  StartSim({"--generate", "13", "--years", "2024-2024", "--per-year", "1100", "--read-rate-limit", "2,1000",
            "--window-scale", "450"});
  auto p = Start({"--years", "2024"}, {{"DESIRELINES_RATE_WINDOW_SCALE", "450"}});
  ASSERT_TRUE(WaitFor([&] { return ListRequests() >= 3; }, 60s));
  ::kill(p->pid(), SIGKILL);
  p->Wait(10s);
  int64_t fetched = ListRequests();
  auto r = Backfill({"--years", "2024", "--json"}, {{"DESIRELINES_RATE_WINDOW_SCALE", "450"}}, 180s);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(json::parse(r.out)["resumed"].get<bool>());
  auto all = SimActivities();
  EXPECT_EQ(StoredIds(2024), IdsOfYear(all, 2024));
  // Only pages fetched but not committed when killed are fetched again
  // (completed pages never). Up to kWriteAheadPages may wait for the writer
  // (bound tested in BackfillTest), but here two reads per window keep the
  // fetching at most a window ahead of it: the one being written, the ones
  // waiting and the one being fetched are at most 4.
  EXPECT_LE(ListRequests(), ExpectedListRequests(all, 2024, 2024) + 4);
  EXPECT_GE(fetched, 3);
}

TEST_F(BackfillE2E, HistoryChangingBetweenPagesSkipsNothing) {
  // 2 reads per 2-second window: the run pauses between pages, and Strava's
  // history changes meanwhile.
  StartSim({"--generate", "29", "--years", "2024-2024", "--per-year", "1000", "--read-rate-limit", "2,1000",
            "--window-scale", "450"});
  auto before = SimActivities();
  auto p = Start({"--years", "2024", "--json"}, {{"DESIRELINES_RATE_WINDOW_SCALE", "450"}});
  ASSERT_TRUE(WaitFor([&] { return ListRequests() >= 1; }, 60s));
  // Delete the oldest activities (on the first page, already fetched: a
  // page-offset listing would now skip as many), and add two activities,
  // one in the past part of the year and one ahead of the cursor.
  for (int i = 0; i < 3; ++i) {
    auto id = std::to_string(before[static_cast<size_t>(i)].id);
    ASSERT_EQ(HttpRequest("DELETE", sim_->url() + "/_sim/activities/" + id).status / 100, 2);
  }
  for (const char* when : {"2024-01-02T10:00:00Z", "2024-12-20T10:00:00Z"}) {
    std::string body = std::string(R"({"name":"added","sport_type":"Ride","type":"Ride","distance":1000,)") +
                       R"("start_date":")" + when + R"(","start_date_local":")" + when + R"(","utc_offset":0})";
    ASSERT_EQ(HttpRequest("POST", sim_->url() + "/_sim/activities", body).status / 100, 2);
  }
  auto code = p->Wait(180s);
  ASSERT_EQ(code, 0) << p->Stdout() << p->Stderr();
  auto after = SimActivities();
  auto stored = StoredIds(2024);
  // Every activity that Strava had throughout the run is stored.
  for (const auto& a : before) {
    bool still_there = std::any_of(after.begin(), after.end(), [&](const core::Activity& b) { return b.id == a.id; });
    if (still_there && static_cast<int>(a.LocalDate()->year()) == 2024) {
      EXPECT_EQ(stored.count(a.id), 1u) << "skipped " << a.id;
    }
  }
  // The one added ahead of the cursor is picked up by this run; a re-run
  // reconciles the rest (the deleted are archived, the one added behind
  // the cursor is fetched).
  auto again = Backfill({"--years", "2024", "--json"}, {{"DESIRELINES_RATE_WINDOW_SCALE", "450"}}, 180s);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["years"][0]["removed"].get<int64_t>(), 3);
  EXPECT_EQ(StoredIds(2024), IdsOfYear(after, 2024));
}

TEST_F(BackfillE2E, SurvivesFaultsAtAHighRate) {
  StartSim({"--generate", "17", "--years", "2024-2024", "--per-year", "700", "--fault-rate", "0.35", "--faults",
            "500,502,503,reset,truncate,slow", "--slow-ms", "3000"});
  auto r = Backfill({"--years", "2024", "--json"}, {}, 240s);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(StoredIds(2024), IdsOfYear(SimActivities(), 2024));
}

TEST_F(BackfillE2E, RotatedRefreshTokenIsPersistedAcrossRuns) {
  StartSim({"--generate", "19", "--years", "2024-2024", "--per-year", "20"});
  ASSERT_EQ(Backfill({"--years", "2024"}).code, 0);
  // The seed token was rotated by the first run: the second must use the
  // stored one (the simulator rejects a used refresh token).
  auto r = Backfill({"--years", "2024"}, {{"STRAVA_REFRESH_TOKEN", kRefresh}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find(kRefresh), std::string::npos);
  EXPECT_EQ(r.out.find(kSecret), std::string::npos);
}

TEST_F(BackfillE2E, InactiveApplicationAndMissingScopeSayWhatIsWrong) {
  StartSim({"--generate", "23", "--years", "2024-2024", "--per-year", "20", "--inactive"});
  auto r = Backfill({"--years", "2024"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("inactive"), std::string::npos) << r.err;
  EXPECT_LE(SimGet("/_sim/stats")["api_requests"].get<int64_t>(), 2) << "no retry loop";

  StartSim({"--generate", "23", "--years", "2024-2024", "--per-year", "20", "--scopes", "read"});
  std::filesystem::remove_all(data_dir());
  auto s = Backfill({"--years", "2024"});
  EXPECT_EQ(s.code, 1);
  EXPECT_NE(s.err.find("activity:read_all"), std::string::npos) << s.err;
}

// The OAuth flow: `desirelines auth` prints the authorize URL, the browser
// (here: two plain GETs) follows Strava's redirect to the loopback listener.
TEST_F(BackfillE2E, AuthStoresTokensFromTheRedirectAndChecksTheScope) {
  for (bool full_scope : {true, false}) {
    std::vector<std::string> args = {"--generate", "31", "--years", "2024-2024", "--per-year", "12"};
    if (!full_scope) args.insert(args.end(), {"--scopes", "read,activity:read"});
    StartSim(args);
    std::filesystem::remove_all(data_dir());
    auto env = Env();
    env["STRAVA_REFRESH_TOKEN"] = "";  // no seed: the tokens must come from the flow
    Process auth({(BinDir() / "desirelines").string(), "auth", "--json", "--timeout", "60"}, env);
    ASSERT_TRUE(WaitFor([&] { return auth.Stdout().find('\n') != std::string::npos || !auth.Running(); }, 30s));
    auto first = json::parse(auth.Stdout().substr(0, auth.Stdout().find('\n')));
    std::string url = first["authorize_url"].get<std::string>();
    EXPECT_EQ(url.rfind(sim_->url() + "/oauth/authorize?", 0), 0u) << url;
    EXPECT_NE(url.find("activity%3Aread_all"), std::string::npos);
    auto consent = HttpRequest("GET", url);
    ASSERT_EQ(consent.status, 302) << consent.body;
    // A request without this flow's state (another local process, a stale
    // tab of an earlier run) is refused and does not end the flow.
    const std::string location = consent.headers["location"];
    const std::string callback_url = location.substr(0, location.find('?'));
    for (const char* forged : {"?state=forged&code=x&scope=read,activity:read_all", "?error=access_denied"}) {
      EXPECT_EQ(HttpRequest("GET", callback_url + forged).status, 400) << forged;
      EXPECT_TRUE(auth.Running()) << forged << auth.Stdout() << auth.Stderr();
    }
    auto callback = HttpRequest("GET", location);
    auto code = auth.Wait(30s);
    ASSERT_TRUE(code.has_value());
    if (full_scope) {
      EXPECT_EQ(callback.status, 200);
      EXPECT_EQ(*code, 0) << auth.Stderr();
      EXPECT_EQ(SqliteQuery(db(), "SELECT count(*) FROM tokens")[0][0], "1");
      EXPECT_EQ(std::filesystem::status(db()).permissions() & std::filesystem::perms::all,
                std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
      // The stored tokens are enough for a backfill.
      auto r = Backfill({"--years", "2024"}, {{"STRAVA_REFRESH_TOKEN", ""}});
      EXPECT_EQ(r.code, 0) << r.err;
    } else {
      EXPECT_EQ(callback.status, 400);
      EXPECT_EQ(*code, 1);
      EXPECT_NE(auth.Stdout().find("activity:read_all"), std::string::npos) << auth.Stdout();
      EXPECT_FALSE(std::filesystem::exists(db()) &&
                   SqliteQuery(db(), "SELECT count(*) FROM tokens")[0][0] != "0");
    }
  }
}

// The data API of `serve` over a store filled through strava-sim and backfill.
TEST_F(BackfillE2E, ServeAnswersTheDataApiFromTheBackfilledStore) {
  StartSim({"--generate", "37", "--years", "2024-2025", "--per-year", "120"});
  ASSERT_EQ(Backfill({"--years", "2024", "2025", "--sports", "all"}).code, 0);
  auto env = Env();
  env["DESIRELINES_WRITE_TOKEN"] = "e2e-write-token";
  Process serve({(BinDir() / "desirelines").string(), "serve", "--listen", "127.0.0.1:0"}, env);
  auto base = serve.WaitForLine("listening on ", 30s);
  ASSERT_TRUE(base.has_value()) << serve.Stderr();
  // The original gateway's endpoint answers the original file's bytes.
  auto summary = HttpRequest("GET", *base + "/api/activities/2024/summary");
  ASSERT_EQ(summary.status, 200);
  EXPECT_EQ(json::parse(summary.body), json::parse(ReadFileText(adapters::files::LegacySummaryPath(data_dir(), 2024))));
  EXPECT_EQ(HttpRequest("GET", *base + "/api/activities/2019/summary").status, 404);
  EXPECT_EQ(HttpRequest("GET", *base + "/api/activities/20x4/summary").status, 400);
  // The richer view's totals equal the simulator's activities of that year and category.
  auto all = SimActivities();
  int64_t mm = 0, count = 0;
  for (const auto& a : all) {
    if (static_cast<int>(a.LocalDate()->year()) == 2024 &&
        core::SportCategories::Default().Categorize(a) == "running") {
      mm += a.DistanceMm();
      ++count;
    }
  }
  auto year = HttpRequest("GET", *base + "/api/v1/years/2024/running");
  ASSERT_EQ(year.status, 200) << year.body;
  auto totals = json::parse(year.body)["totals"];
  EXPECT_EQ(totals["count"].get<int64_t>(), count);
  EXPECT_NEAR(totals["distance_km"].get<double>(), static_cast<double>(mm) / 1e6, 0.0005);
  auto pacing = HttpRequest("GET", *base + "/api/v1/years/2024/cycling/pacing");
  ASSERT_EQ(pacing.status, 200);
  EXPECT_EQ(json::parse(pacing.body)["goals"].size(), 3u) << "three default goals";
  // ?athlete= is an id or a 400, never a prefix or a truncation of one.
  const std::string athlete = SqliteQuery(db(), "SELECT athlete_id FROM tokens")[0][0];
  EXPECT_EQ(HttpRequest("GET", *base + "/api/v1/years?athlete=" + athlete).status, 200);
  for (const std::string& bad : std::vector<std::string>{athlete + "abc", athlete + ".0", athlete + "%20", "-" + athlete,
                                                         "0", "", "99999999999999999999", "1e5"}) {
    auto r = HttpRequest("GET", *base + "/api/v1/years?athlete=" + bad);
    EXPECT_EQ(r.status, 400) << bad << " " << r.body;
  }
  // Writes need the token.
  std::string goals = R"({"goals":[{"value":3000,"unit":"km","label":"Target"}]})";
  EXPECT_EQ(HttpRequest("PUT", *base + "/api/v1/goals/2024/cycling", goals).status, 401);
  auto put = HttpRequest("PUT", *base + "/api/v1/goals/2024/cycling", goals,
                         {"Authorization: Bearer e2e-write-token", "Content-Type: application/json"});
  EXPECT_EQ(put.status / 100, 2) << put.body;
  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(30s), 0) << serve.Stderr();
}

TEST_F(BackfillE2E, BadUsageIsExitTwo) {
  StartSim({"--generate", "1", "--years", "2024-2024", "--per-year", "1"});
  EXPECT_EQ(Backfill({"--years", "1999"}).code, 2);
  EXPECT_EQ(Backfill({"--years", "2024", "--sports", "curling"}).code, 2);
  EXPECT_EQ(Backfill({"--years", "2024"}, {{"STRAVA_API_URL", "ftp://nope"}}).code, 2);
  // A configuration or sports file that is not there is a configuration error too.
  auto missing = (dir_.path() / "absent.toml").string();
  RunResult no_config = Backfill({"--years", "2024", "--config", missing});
  EXPECT_EQ(no_config.code, 2) << no_config.err;
  EXPECT_NE(no_config.err.find("absent.toml does not exist"), std::string::npos) << no_config.err;
  EXPECT_EQ(Backfill({"--years", "2024"}, {{"DESIRELINES_CONFIG", missing}}).code, 2);
  EXPECT_EQ(Backfill({"--years", "2024"}, {{"DESIRELINES_SPORTS_FILE", (dir_.path() / "absent.json").string()}}).code,
            2);
}

}  // namespace
}  // namespace dl::testing
