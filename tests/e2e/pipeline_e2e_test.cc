// End-to-end live pipeline: the real `desirelines serve` receiving real
// webhooks from the real strava-sim binary, with the store, the queue and the
// yearly files on disk; and the operator tools (`replay`, `subscription`,
// `events`, `aggregate`) run as child processes against them.
//
// Each test has its own simulator, serve and data directory. The simulator
// generates 2025, a past year (the files' cumulative series end on
// 31 December, whatever today is), so a rebuild is comparable byte for byte.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support.h"

namespace dl::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kClientId = "12345";
constexpr const char* kSecret = "pipeline-e2e-client-secret";
constexpr const char* kRefresh = "pipeline-e2e-refresh-token";
constexpr const char* kVerifyToken = "pipeline-e2e-verify-token";
constexpr int64_t kAthlete = 28475190;       // strava-sim's generated athlete
constexpr int64_t kSubscription = 120475;    // strava-sim's first subscription id
constexpr int kYear = 2025;
constexpr const char* kFetchKey = "GET /api/v3/activities/{id}";
// No rate limit in the way unless a test asks for one.
const std::vector<std::string> kNoLimits = {"--rate-limit", "1000000,10000000", "--read-rate-limit",
                                            "1000000,10000000"};

struct RunResult {
  int code = -1;
  std::string out, err;
};

std::string Str(int64_t v) { return std::to_string(v); }

// A create event as Strava sends it.
std::string EventBody(const std::string& aspect, int64_t object_id, int64_t event_time,
                      int64_t subscription = kSubscription, const std::string& object_type = "activity",
                      const std::string& updates = "{}") {
  return R"({"aspect_type":")" + aspect + R"(","event_time":)" + Str(event_time) + R"(,"object_id":)" +
         Str(object_id) + R"(,"object_type":")" + object_type + R"(","owner_id":)" + Str(kAthlete) +
         R"(,"subscription_id":)" + Str(subscription) + R"(,"updates":)" + updates + "}";
}

// Runs one writing statement on an SQLite file (the support library only reads).
void SqliteExec(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(h);
}

int64_t NowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class PipelineE2E : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && serve_) {
      std::string err = serve_->Stderr();
      if (err.size() > 6000) err = err.substr(err.size() - 6000);
      std::cerr << "---- serve stderr (tail) ----\n" << err << "\n";
    }
  }

  void StartSim(std::vector<std::string> args) {
    std::vector<std::string> all = {"--client-id", kClientId, "--client-secret", kSecret, "--refresh-token", kRefresh};
    all.insert(all.end(), args.begin(), args.end());
    sim_ = std::make_unique<SimProcess>(all);
  }

  // The environment of every desirelines command of the test.
  std::map<std::string, std::string> Env(const std::filesystem::path& data) const {
    return {{"STRAVA_CLIENT_ID", kClientId},
            {"STRAVA_CLIENT_SECRET", kSecret},
            {"STRAVA_REFRESH_TOKEN", kRefresh},
            {"STRAVA_API_URL", sim_->url() + "/api/v3"},
            {"STRAVA_OAUTH_URL", sim_->url() + "/oauth"},
            {"STRAVA_VERIFY_TOKEN", kVerifyToken},
            {"STRAVA_SUBSCRIPTION_ID", Str(kSubscription)},
            {"DESIRELINES_DATA_DIR", data.string()},
            {"DESIRELINES_CONFIG", ""},
            {"STRAVA_TIMEOUT_S", "5"},
            // A killed worker's claimed events come back after the lease:
            // short here so the crash test does not wait two minutes.
            {"DESIRELINES_LEASE_S", "12"}};
  }

  RunResult Run(std::vector<std::string> args, std::map<std::string, std::string> extra = {},
                std::chrono::milliseconds timeout = 120s) {
    return RunIn(data_dir(), std::move(args), std::move(extra), timeout);
  }

  RunResult RunIn(const std::filesystem::path& data, std::vector<std::string> args,
                  std::map<std::string, std::string> extra = {}, std::chrono::milliseconds timeout = 120s) {
    std::vector<std::string> argv = {(BinDir() / "desirelines").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto env = Env(data);
    for (auto& [k, v] : extra) env[k] = v;
    Process p(argv, env);
    RunResult r;
    r.code = p.Wait(timeout).value_or(-1);
    r.out = p.Stdout();
    r.err = p.Stderr();
    return r;
  }

  void Backfill(std::map<std::string, std::string> extra = {}) {
    auto r = Run({"backfill", "--years", Str(kYear), "--sports", "all"}, std::move(extra), 180s);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
  }

  // Starts serve (port 0 unless `listen` says otherwise) and waits for its URL.
  void StartServe(std::vector<std::string> args = {}, std::map<std::string, std::string> extra = {},
                  const std::string& listen = "127.0.0.1:0") {
    std::vector<std::string> argv = {(BinDir() / "desirelines").string(), "serve", "--listen", listen};
    argv.insert(argv.end(), args.begin(), args.end());
    auto env = Env(data_dir());
    for (auto& [k, v] : extra) env[k] = v;
    serve_ = std::make_unique<Process>(argv, env);
    auto line = serve_->WaitForLine("listening on ", 60s);
    ASSERT_TRUE(line) << "serve did not start: " << serve_->Stderr();
    serve_url_ = *line;
  }

  // Subscribes serve's webhook: strava-sim validates the callback through serve.
  void Subscribe() {
    auto r = Run({"subscription", "create", "--callback-url", webhook(), "--json"});
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    ASSERT_EQ(json::parse(r.out)["id"].get<int64_t>(), kSubscription)
        << "serve was started with the id strava-sim gives its first subscription";
  }

  // Sim, backfill of kYear, serve, subscription: the common start.
  void StartAll(std::vector<std::string> sim_args, std::vector<std::string> serve_args = {},
                std::map<std::string, std::string> extra = {}) {
    StartSim(std::move(sim_args));
    ASSERT_NO_FATAL_FAILURE(Backfill(extra));
    ASSERT_NO_FATAL_FAILURE(StartServe(std::move(serve_args), extra));
    ASSERT_NO_FATAL_FAILURE(Subscribe());
  }

  // ---- strava-sim ----
  json SimGet(const std::string& path) {
    auto r = HttpRequest("GET", sim_->url() + path);
    EXPECT_EQ(r.status, 200) << path << " " << r.error;
    return json::parse(r.body.empty() ? "null" : r.body);
  }
  int64_t Fetches() { return SimGet("/_sim/stats")["by_endpoint"].value(kFetchKey, int64_t{0}); }
  json SimCreate(const json& partial) {
    auto r = HttpRequest("POST", sim_->url() + "/_sim/activities", partial.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body);
  }
  void SimUpdate(int64_t id, const json& partial) {
    auto r = HttpRequest("PUT", sim_->url() + "/_sim/activities/" + Str(id), partial.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void SimDelete(int64_t id) {
    ASSERT_EQ(HttpRequest("DELETE", sim_->url() + "/_sim/activities/" + Str(id)).status, 204);
  }
  // Raw body delivered by the simulator with Strava's retry policy.
  void SimEvent(const std::string& body) {
    auto r = HttpRequest("POST", sim_->url() + "/_sim/events", body);
    ASSERT_EQ(r.status, 202) << r.body;
  }
  // Every delivery finished (delivered or out of attempts).
  bool DeliveriesDone() {
    auto log = SimGet("/_sim/webhook-log");
    return std::none_of(log.begin(), log.end(), [](const json& d) { return d["pending"].get<bool>(); });
  }
  int64_t Delivered() {
    auto log = SimGet("/_sim/webhook-log");
    return std::count_if(log.begin(), log.end(), [](const json& d) { return d["delivered"].get<bool>(); });
  }
  std::set<int64_t> SimIds() {
    std::set<int64_t> ids;
    for (const auto& a : SimGet("/_sim/activities")) {
      if (a["athlete"]["id"].get<int64_t>() == kAthlete) ids.insert(a["id"].get<int64_t>());
    }
    return ids;
  }

  // Waits for the start of the next wall-clock second.
  void NextSecond() {
    const int64_t now = NowS();
    ASSERT_TRUE(WaitFor([&] { return NowS() > now; }, 5s));
  }
  // Updates on Strava in a new second and waits until serve fetched it.
  void UpdateAndSettle(int64_t id, const json& partial) {
    ASSERT_NO_FATAL_FAILURE(NextSecond());
    const int64_t fetches = Fetches();
    ASSERT_NO_FATAL_FAILURE(SimUpdate(id, partial));
    ASSERT_TRUE(WaitFor([&] { return DeliveriesDone() && QueueEmpty() && Fetches() > fetches; }, 30s))
        << "update " << partial.dump() << " was not applied";
  }

  // ---- serve and the store ----
  HttpResult PostEvent(const std::string& body) {
    return HttpRequest("POST", webhook(), body, {"Content-Type: application/json"});
  }
  std::vector<std::vector<std::string>> Sql(const std::string& sql) { return SqliteQuery(db(), sql); }
  int64_t SqlCount(const std::string& sql) { return std::stoll(Sql(sql).at(0).at(0)); }
  int64_t Rows(const std::string& table) { return SqlCount("SELECT COUNT(*) FROM " + table); }
  bool Stored(int64_t id) { return SqlCount("SELECT COUNT(*) FROM activities WHERE id=" + Str(id)) == 1; }
  std::set<int64_t> StoredIds() {
    std::set<int64_t> ids;
    for (auto& r : Sql("SELECT id FROM activities WHERE athlete_id=" + Str(kAthlete))) ids.insert(std::stoll(r[0]));
    return ids;
  }
  // A column of the stored row, "" when absent.
  std::string Column(int64_t id, const std::string& column) {
    auto rows = Sql("SELECT " + column + " FROM activities WHERE id=" + Str(id));
    return rows.empty() ? "" : rows[0][0];
  }
  bool QueueEmpty() { return Rows("event_queue") == 0; }
  // `desirelines events --json` (pending) or with --failed (dead letters).
  json Events(bool failed = false) {
    std::vector<std::string> args = {"events", "--json", "--limit", "100000"};
    if (failed) args.push_back("--failed");
    auto r = Run(args);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return json::parse(r.out);
  }
  // Whether daily_totals of (category, date) lists the activity.
  bool InDailyTotals(const std::string& category, const std::string& date, int64_t id) {
    auto rows = Sql("SELECT activity_ids FROM daily_totals WHERE category='" + category + "' AND local_date='" + date +
                    "'");
    if (rows.empty()) return false;
    auto ids = json::parse(rows[0][0]);
    return std::find(ids.begin(), ids.end(), json(id)) != ids.end();
  }
  // Whether the category's yearly summary file lists the activity on `date`.
  bool InSummaryFile(const std::string& category, const std::string& date, int64_t id) {
    auto path = data_dir() / "activities" / Str(kYear) / category / "summary.json";
    std::string text = ReadFileText(path);
    if (text.empty()) return false;
    auto j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j["days"].contains(date)) return false;
    const auto& ids = j["days"][date]["activity_ids"];
    return std::find(ids.begin(), ids.end(), json(id)) != ids.end();
  }
  json Api(const std::string& path) {
    auto r = HttpRequest("GET", serve_url_ + path);
    EXPECT_EQ(r.status, 200) << path << " " << r.body;
    return json::parse(r.body);
  }

  // The daily totals equal a recomputation from the stored activities in
  // SQL; after a clean stop, `desirelines aggregate` on a copy rebuilds the
  // same totals and the same yearly files, byte for byte.
  void ExpectAggregatesEqualARebuild() {
    const std::string recomputed =
        "SELECT athlete_id, category, local_date, SUM(CAST(round(distance_m * 1000) AS INTEGER)), "
        "SUM(moving_time_s), SUM(CAST(round(total_elevation_gain_m * 100) AS INTEGER)), COUNT(*) FROM activities "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
    const std::string stored_totals =
        "SELECT athlete_id, category, local_date, distance_mm, moving_time_s, elevation_gain_cm, count FROM "
        "daily_totals ORDER BY 1, 2, 3";
    EXPECT_EQ(Sql(stored_totals), Sql(recomputed));
    serve_->Signal(SIGTERM);
    ASSERT_EQ(serve_->Wait(60s), 0) << serve_->Stderr();
    auto copy = dir_.path() / "rebuilt";
    std::filesystem::copy(data_dir(), copy, std::filesystem::copy_options::recursive);
    // Nothing of the incremental results survives in the copy.
    std::filesystem::remove_all(copy / "activities");
    std::set<std::string> years;
    for (auto& r : Sql("SELECT DISTINCT substr(local_date, 1, 4) FROM activities")) years.insert(r[0]);
    std::vector<std::string> args = {"aggregate", "--sports", "all", "--years"};
    args.insert(args.end(), years.begin(), years.end());
    ASSERT_NO_FATAL_FAILURE(SqliteExec(copy / "desirelines.db", "DELETE FROM daily_totals"));
    auto rebuilt = RunIn(copy, args);
    ASSERT_EQ(rebuilt.code, 0) << rebuilt.err;
    const std::string all_totals = "SELECT * FROM daily_totals ORDER BY athlete_id, category, local_date";
    EXPECT_EQ(SqliteQuery(copy / "desirelines.db", all_totals), Sql(all_totals));
    int files = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(copy / "activities")) {
      if (!entry.is_regular_file()) continue;
      auto relative = std::filesystem::relative(entry.path(), copy);
      EXPECT_EQ(ReadFileText(data_dir() / relative), ReadFileText(entry.path())) << relative;
      ++files;
    }
    EXPECT_GE(files, 4 * static_cast<int>(years.size()));
  }

  std::string webhook() const { return serve_url_ + "/webhook"; }
  std::filesystem::path data_dir() const { return dir_.path() / "data"; }
  std::filesystem::path db() const { return data_dir() / "desirelines.db"; }

  TempDir dir_;
  std::unique_ptr<SimProcess> sim_;
  std::unique_ptr<Process> serve_;
  std::string serve_url_;
};

json Activity(const std::string& start, const std::string& type, double distance_m, const std::string& name) {
  return json{{"name", name},        {"type", type},      {"sport_type", type}, {"distance", distance_m},
              {"start_date", start}, {"moving_time", 3600}, {"timezone", "(GMT+00:00) Europe/London"}};
}

// ---- 10. Subscription validation through serve ----------------------------------

TEST_F(PipelineE2E, ValidationGetAnswersTheChallengeOnlyToTheRightToken) {
  StartSim({"--generate", "3", "--years", "2025-2025", "--per-year", "5"});
  ASSERT_NO_FATAL_FAILURE(Backfill());
  ASSERT_NO_FATAL_FAILURE(StartServe());
  auto ok = HttpRequest("GET", webhook() + "?hub.mode=subscribe&hub.challenge=abc123&hub.verify_token=" + kVerifyToken);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(json::parse(ok.body), json({{"hub.challenge", "abc123"}}));
  EXPECT_NE(ok.headers["content-type"].find("application/json"), std::string::npos);

  auto wrong = HttpRequest("GET", webhook() + "?hub.mode=subscribe&hub.challenge=abc123&hub.verify_token=nope");
  EXPECT_EQ(wrong.status, 403);
  EXPECT_TRUE(json::parse(wrong.body).contains("error"));
  EXPECT_EQ(wrong.body.find(kVerifyToken), std::string::npos) << "never echo the expected token";

  auto mode = HttpRequest("GET", webhook() + "?hub.mode=unsubscribe&hub.challenge=abc&hub.verify_token=" + kVerifyToken);
  EXPECT_EQ(mode.status, 400);
  EXPECT_TRUE(json::parse(mode.body).contains("error"));

  EXPECT_EQ(HttpRequest("HEAD", webhook()).status, 200);
  EXPECT_EQ(HttpRequest("GET", serve_url_ + "/healthz").status, 200);
  EXPECT_EQ(HttpRequest("GET", serve_url_ + "/readyz").status, 200);
  // strava-sim's own validation goes through the same path.
  ASSERT_NO_FATAL_FAILURE(Subscribe());
  auto view = Run({"subscription", "view", "--json"});
  ASSERT_EQ(view.code, 0) << view.err;
  EXPECT_EQ(json::parse(view.out)["subscriptions"][0]["callback_url"], webhook());
  EXPECT_EQ(serve_->Stderr().find(kVerifyToken), std::string::npos);
}

// ---- 1. Create, update, delete and deauthorize flows ---------------------------

TEST_F(PipelineE2E, CreateUpdateAndDeleteEndInTheRightRowsAndAggregates) {
  ASSERT_NO_FATAL_FAILURE(StartAll({"--generate", "5", "--years", "2025-2025", "--per-year", "50"}));
  auto created = SimCreate(Activity("2025-06-15T09:30:00Z", "Ride", 42195.5, "Morning ride"));
  const int64_t id = created["id"].get<int64_t>();
  const std::string date = "2025-06-15";
  ASSERT_TRUE(WaitFor([&] { return Stored(id); }, 30s)) << "create did not arrive";
  EXPECT_EQ(Column(id, "name"), "Morning ride");
  EXPECT_EQ(Column(id, "type"), "Ride");
  EXPECT_EQ(Column(id, "category"), "cycling");
  EXPECT_EQ(Column(id, "local_date"), date);
  EXPECT_DOUBLE_EQ(std::stod(Column(id, "distance_m")), 42195.5);
  EXPECT_EQ(Column(id, "is_private"), "0");
  EXPECT_FALSE(Column(id, "webhook_changed_at").empty());
  EXPECT_TRUE(InDailyTotals("cycling", date, id));
  EXPECT_TRUE(WaitFor([&] { return InSummaryFile("cycling", date, id); }, 30s)) << "yearly file not rewritten";

  // Each update is settled (its fetch applied) before the next one, which
  // starts in a later second (see the next test for two in one second).
  // Title.
  ASSERT_NO_FATAL_FAILURE(UpdateAndSettle(id, {{"name", "Renamed ride"}}));
  EXPECT_EQ(Column(id, "name"), "Renamed ride");
  // Type: the activity moves from cycling to running, in the totals and files.
  ASSERT_NO_FATAL_FAILURE(UpdateAndSettle(id, {{"type", "Run"}, {"sport_type", "Run"}}));
  EXPECT_EQ(Column(id, "category"), "running");
  EXPECT_EQ(Column(id, "type"), "Run");
  EXPECT_EQ(Column(id, "sport_type"), "Run");
  EXPECT_TRUE(InDailyTotals("running", date, id));
  EXPECT_FALSE(InDailyTotals("cycling", date, id));
  EXPECT_TRUE(WaitFor([&] { return InSummaryFile("running", date, id) && !InSummaryFile("cycling", date, id); }, 30s));
  // Privacy.
  ASSERT_NO_FATAL_FAILURE(UpdateAndSettle(id, {{"private", true}}));
  EXPECT_EQ(Column(id, "is_private"), "1");
  EXPECT_EQ(Column(id, "visibility"), "only_me");
  EXPECT_EQ(Column(id, "name"), "Renamed ride") << "earlier updates stay applied";
  EXPECT_EQ(Column(id, "category"), "running") << "earlier updates stay applied";

  // Delete: archived, out of the totals and the files.
  ASSERT_NO_FATAL_FAILURE(SimDelete(id));
  EXPECT_TRUE(WaitFor([&] { return !Stored(id); }, 30s));
  EXPECT_EQ(SqlCount("SELECT COUNT(*) FROM deleted_activities WHERE id=" + Str(id)), 1);
  EXPECT_EQ(Sql("SELECT name FROM deleted_activities WHERE id=" + Str(id)).at(0).at(0), "Renamed ride");
  EXPECT_FALSE(InDailyTotals("running", date, id));
  EXPECT_TRUE(WaitFor([&] { return !InSummaryFile("running", date, id); }, 30s));
  EXPECT_TRUE(WaitFor([&] { return QueueEmpty(); }, 30s));
  EXPECT_TRUE(Events(true)["events"].empty()) << "no dead letters";
}

TEST_F(PipelineE2E, TwoUpdatesOfOneActivityWithinOneSecondAreBothApplied) {
  // Strava's retries of one event share object, aspect and event_time. Two
  // different changes within one second share them too and must not be
  // taken for a retry: here the first update is applied (fetched) before the
  // second change is made, so only the second event can bring it.
  ASSERT_NO_FATAL_FAILURE(StartAll({"--generate", "6", "--years", "2025-2025", "--per-year", "20"}));
  auto created = SimCreate(Activity("2025-03-02T09:30:00Z", "Ride", 10000, "Before"));
  const int64_t id = created["id"].get<int64_t>();
  ASSERT_TRUE(WaitFor([&] { return Stored(id) && QueueEmpty(); }, 30s));
  bool same_second = false;
  for (int attempt = 0; attempt < 5 && !same_second; ++attempt) {
    ASSERT_NO_FATAL_FAILURE(NextSecond());
    const int64_t second = NowS(), fetches = Fetches();
    ASSERT_NO_FATAL_FAILURE(SimUpdate(id, {{"name", "Title " + Str(attempt)}}));
    ASSERT_TRUE(WaitFor([&] { return DeliveriesDone() && QueueEmpty() && Fetches() > fetches; }, 30s));
    ASSERT_NO_FATAL_FAILURE(SimUpdate(id, {{"type", attempt % 2 ? "Ride" : "Run"}, {"sport_type", attempt % 2 ? "Ride" : "Run"}}));
    same_second = NowS() == second;
    ASSERT_TRUE(WaitFor([&] { return DeliveriesDone() && QueueEmpty(); }, 30s));
    if (!same_second) continue;  // too slow this time: the events differ anyway
    const std::string want = attempt % 2 ? "cycling" : "running";
    EXPECT_TRUE(WaitFor([&] { return Column(id, "category") == want; }, 10s))
        << "the type change of the second update was dropped as a duplicate of the title update: category "
        << Column(id, "category") << ", Strava has " << want << "; received_events: "
        << ::testing::PrintToString(Sql("SELECT dedup_key FROM received_events"));
  }
  EXPECT_TRUE(same_second) << "could not make two updates within one second";
}

TEST_F(PipelineE2E, DeauthorizationDeletesTokensAndActivitiesByDefault) {
  ASSERT_NO_FATAL_FAILURE(StartAll({"--generate", "7", "--years", "2025-2025", "--per-year", "30"}));
  ASSERT_GT(Rows("activities"), 0);
  ASSERT_EQ(Rows("tokens"), 1);
  ASSERT_EQ(HttpRequest("POST", sim_->url() + "/_sim/deauthorize").status, 200);
  EXPECT_TRUE(WaitFor([&] { return Rows("tokens") == 0; }, 30s));
  EXPECT_TRUE(WaitFor([&] { return Rows("activities") == 0; }, 30s));
  EXPECT_EQ(SqlCount("SELECT COUNT(*) FROM daily_totals WHERE athlete_id=" + Str(kAthlete)), 0);
  EXPECT_TRUE(WaitFor([&] { return QueueEmpty(); }, 30s));
}

TEST_F(PipelineE2E, DeauthorizationKeepsActivitiesWhenConfigured) {
  ASSERT_NO_FATAL_FAILURE(
      StartAll({"--generate", "7", "--years", "2025-2025", "--per-year", "30"}, {"--on-deauthorize", "keep"}));
  const int64_t before = Rows("activities");
  const int64_t totals = Rows("daily_totals");
  ASSERT_GT(before, 0);
  ASSERT_EQ(HttpRequest("POST", sim_->url() + "/_sim/deauthorize").status, 200);
  EXPECT_TRUE(WaitFor([&] { return Rows("tokens") == 0; }, 30s));
  EXPECT_TRUE(WaitFor([&] { return QueueEmpty(); }, 30s));
  EXPECT_EQ(Rows("activities"), before);
  EXPECT_EQ(Rows("daily_totals"), totals);
}

// ---- 2. Strava's retries are deduplicated ----------------------------------------

TEST_F(PipelineE2E, RetriedEventIsQueuedAndFetchedOnce) {
  ASSERT_NO_FATAL_FAILURE(StartAll({"--generate", "8", "--years", "2025-2025", "--per-year", "20"}));
  const int64_t id = *StoredIds().begin();
  const int64_t fetches = Fetches();
  const std::string body = EventBody("create", id, NowS());
  ASSERT_NO_FATAL_FAILURE(SimEvent(body));
  ASSERT_NO_FATAL_FAILURE(SimEvent(body));
  ASSERT_TRUE(WaitFor([&] { return DeliveriesDone() && QueueEmpty() && Fetches() > fetches; }, 30s));
  EXPECT_EQ(Delivered(), 2) << "both acknowledged with 200";
  EXPECT_EQ(Fetches() - fetches, 1) << "one fetch for the two deliveries";
  EXPECT_EQ(Rows("received_events"), 1);
  // Direct: the same body again is acknowledged as a duplicate.
  auto again = PostEvent(body);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(json::parse(again.body)["status"], "duplicate");
  auto other = PostEvent(EventBody("create", id, NowS() - 7));
  EXPECT_EQ(json::parse(other.body)["status"], "queued");
}

TEST_F(PipelineE2E, ConcurrentCopiesOfOneEventAreQueuedOnce) {
  // Retries racing each other: the intake commits concurrent submissions in
  // one batch, and a duplicate inside a batch must be caught too.
  ASSERT_NO_FATAL_FAILURE(StartAll({"--generate", "9", "--years", "2025-2025", "--per-year", "20"}));
  const int64_t id = *StoredIds().begin();
  const int64_t fetches = Fetches();
  const std::string body = EventBody("create", id, NowS() - 60);
  constexpr int kCopies = 12;
  std::vector<std::string> statuses(kCopies);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCopies; ++i) {
    threads.emplace_back([&, i] {
      auto r = PostEvent(body);
      auto j = json::parse(r.body, nullptr, false);
      statuses[static_cast<size_t>(i)] = r.status == 200 && j.is_object() ? j.value("status", "?") : Str(r.status);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), "queued"), 1);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), "duplicate"), kCopies - 1);
  ASSERT_TRUE(WaitFor([&] { return QueueEmpty() && Fetches() > fetches; }, 30s));
  EXPECT_EQ(Fetches() - fetches, 1);
  EXPECT_EQ(Rows("received_events"), 1);
}

// ---- 3. One Strava request per create ----------------------------------------------

TEST_F(PipelineE2E, ExactlyOneStravaRequestPerCreate) {
  ASSERT_NO_FATAL_FAILURE(StartAll({"--generate", "10", "--years", "2025-2025", "--per-year", "20"}));
  const int64_t fetches = Fetches();
  const int64_t listings = SimGet("/_sim/stats")["by_endpoint"].value("GET /api/v3/athlete/activities", int64_t{0});
  constexpr int kCreates = 25;
  std::set<int64_t> ids;
  for (int i = 0; i < kCreates; ++i) {
    std::string start = "2025-07-" + std::string(i + 1 < 10 ? "0" : "") + Str(i + 1) + "T08:00:00Z";
    ids.insert(SimCreate(Activity(start, i % 2 ? "Run" : "Ride", 1000.0 * (i + 1), "c" + Str(i)))["id"].get<int64_t>());
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        auto stored = StoredIds();
        return DeliveriesDone() && QueueEmpty() &&
               std::includes(stored.begin(), stored.end(), ids.begin(), ids.end());
      },
      60s));
  EXPECT_EQ(Fetches() - fetches, kCreates);
  EXPECT_EQ(SimGet("/_sim/stats")["by_endpoint"].value("GET /api/v3/athlete/activities", int64_t{0}), listings)
      << "the pipeline never lists";
}

// ---- 4. Forged events change nothing -----------------------------------------------

TEST_F(PipelineE2E, ForgedDeleteAndDeauthorizationLeaveTheDataInPlace) {
  ASSERT_NO_FATAL_FAILURE(StartAll({"--generate", "11", "--years", "2025-2025", "--per-year", "20"}));
  const int64_t id = *StoredIds().begin();
  const int64_t activities = Rows("activities");
  const std::string totals = Sql("SELECT group_concat(activity_ids, ';') FROM daily_totals").at(0).at(0);
  const int64_t fetches = Fetches();
  ASSERT_NO_FATAL_FAILURE(SimEvent(EventBody("delete", id, NowS())));
  ASSERT_TRUE(WaitFor([&] { return DeliveriesDone() && QueueEmpty() && Fetches() > fetches; }, 30s));
  EXPECT_EQ(Delivered(), 1);
  EXPECT_TRUE(Stored(id)) << "a delete for an activity Strava still has is forged or stale";
  EXPECT_EQ(Rows("deleted_activities"), 0);
  EXPECT_EQ(Rows("activities"), activities);
  EXPECT_EQ(Sql("SELECT group_concat(activity_ids, ';') FROM daily_totals").at(0).at(0), totals);

  // A deauthorization while the athlete's tokens still work.
  ASSERT_NO_FATAL_FAILURE(
      SimEvent(EventBody("update", kAthlete, NowS(), kSubscription, "athlete", R"({"authorized":"false"})")));
  ASSERT_TRUE(WaitFor([&] { return DeliveriesDone() && QueueEmpty(); }, 30s));
  EXPECT_EQ(Delivered(), 2);
  EXPECT_EQ(Rows("tokens"), 1);
  EXPECT_EQ(Rows("activities"), activities);
  EXPECT_TRUE(Events(true)["events"].empty());
}

// ---- 5. Bad bodies are refused and nothing is queued ------------------------------

TEST_F(PipelineE2E, MalformedOversizedAndWronglyTypedBodiesAreRefused) {
  ASSERT_NO_FATAL_FAILURE(StartAll({"--generate", "12", "--years", "2025-2025", "--per-year", "20"}));
  const int64_t id = *StoredIds().begin();
  const int64_t activities = Rows("activities");
  const int64_t t = NowS();
  struct Case {
    std::string name, body;
    long status;
  };
  std::string big = EventBody("create", id, t);
  big.insert(big.size() - 1, R"(,"padding":")" + std::string(17 * 1024, 'x') + "\"");
  const std::vector<Case> cases = {
      {"malformed", R"({"aspect_type":"create",)", 400},
      {"not an object", "[1,2,3]", 400},
      {"empty", "", 400},
      {"oversized", big, 413},
      {"object_id as string", R"({"aspect_type":"create","event_time":1,"object_id":"5","object_type":"activity",)"
                              R"("owner_id":28475190,"subscription_id":120475,"updates":{}})", 400},
      {"missing owner", R"({"aspect_type":"create","event_time":1,"object_id":5,"object_type":"activity",)"
                        R"("subscription_id":120475,"updates":{}})", 400},
      {"zero id", EventBody("create", 0, t), 400},
      {"unknown aspect", EventBody("destroy", id, t), 400},
      {"unknown object type", EventBody("create", id, t, kSubscription, "segment"), 400},
      {"updates not an object", EventBody("update", id, t, kSubscription, "activity", "[]"), 400},
      {"long updates", EventBody("update", id, t, kSubscription, "activity",
                                 R"({"title":")" + std::string(2100, 'a') + "\"}"), 400},
      {"other subscription", EventBody("create", id, t, 999), 403},
  };
  for (const auto& c : cases) {
    auto r = PostEvent(c.body);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body;
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error")) << c.name << ": " << r.body;
  }
  // An athlete without tokens: acknowledged and dropped.
  std::string stranger = EventBody("create", id, t);
  stranger.replace(stranger.find(Str(kAthlete)), Str(kAthlete).size(), "777");
  auto dropped = PostEvent(stranger);
  EXPECT_EQ(dropped.status, 200);
  EXPECT_EQ(json::parse(dropped.body)["status"], "ignored");

  auto pending = Events();
  EXPECT_EQ(pending["pending"].get<int64_t>(), 0) << pending.dump();
  EXPECT_EQ(Rows("received_events"), 0) << "nothing was accepted";
  EXPECT_EQ(Rows("event_queue"), 0);
  EXPECT_EQ(Rows("activities"), activities);
  EXPECT_EQ(serve_->Stderr().find(std::string(200, 'x')), std::string::npos) << "bodies are not logged whole";
}

// ---- 7. The rate budget runs out mid-stream --------------------------------------

TEST_F(PipelineE2E, EventsWaitForTheRateWindowAndThenDrain) {
  // 5 reads per scaled 15-minute window of 3 s.
  const std::map<std::string, std::string> scale = {{"DESIRELINES_RATE_WINDOW_SCALE", "300"}};
  ASSERT_NO_FATAL_FAILURE(StartAll({"--generate", "13", "--years", "2025-2025", "--per-year", "20",
                                    "--read-rate-limit", "5,1000", "--window-scale", "300"},
                                   {}, scale));
  constexpr int kCreates = 20;
  std::set<int64_t> ids;
  for (int i = 0; i < kCreates; ++i) {
    std::string start = "2025-08-" + std::string(i + 1 < 10 ? "0" : "") + Str(i + 1) + "T08:00:00Z";
    ids.insert(SimCreate(Activity(start, "Ride", 5000.0 + i, "r" + Str(i)))["id"].get<int64_t>());
  }
  // The budget allows 5 fetches per window: most events must wait, queued.
  int64_t most_waiting = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        most_waiting = std::max(most_waiting, Events()["pending"].get<int64_t>());
        return most_waiting >= 8;
      },
      20s))
      << "events should wait in the queue for the rate window; most seen " << most_waiting;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto stored = StoredIds();
        return QueueEmpty() && std::includes(stored.begin(), stored.end(), ids.begin(), ids.end());
      },
      90s))
      << "the queue did not drain; pending " << Rows("event_queue");
  auto stats = SimGet("/_sim/stats");
  EXPECT_EQ(stats["rate_limited"].get<int64_t>(), 0) << "a request the budget knew would be refused was sent";
  EXPECT_EQ(Events()["pending"].get<int64_t>(), 0);
  EXPECT_TRUE(Events(true)["events"].empty()) << "waiting for the budget never dead-letters";
}

// ---- 8. replay in all its selection modes ------------------------------------------

class ReplayE2E : public PipelineE2E {
 protected:
  void SetUp() override {
    StartSim({"--generate", "14", "--years", "2024-2025", "--per-year", "30"});
    auto r = Run({"backfill", "--years", "2024", "2025", "--sports", "all"}, {}, 180s);
    ASSERT_EQ(r.code, 0) << r.err;
    // A second store with 2025 only, with tokens of its own.
    auto tokens = HttpRequest("POST", sim_->url() + "/_sim/tokens", "{}");
    ASSERT_EQ(tokens.status, 200);
    auto refresh = json::parse(tokens.body)["refresh_token"].get<std::string>();
    auto other = RunIn(other_dir(), {"backfill", "--years", "2025"}, {{"STRAVA_REFRESH_TOKEN", refresh}}, 180s);
    ASSERT_EQ(other.code, 0) << other.err;
    ASSERT_NO_FATAL_FAILURE(StartServe());
    ASSERT_NO_FATAL_FAILURE(Subscribe());
  }

  json Replay(std::vector<std::string> args, int expected_code = 0) {
    std::vector<std::string> argv = {"replay", "--dispatcher-url", webhook(), "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = Run(argv);
    EXPECT_EQ(r.code, expected_code) << r.out << r.err;
    auto j = json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << r.out << r.err;
    return j;
  }

  std::filesystem::path other_dir() const { return dir_.path() / "other"; }
};

TEST_F(ReplayE2E, DryRunListsAndPostsNothing) {
  const int64_t received = Rows("received_events");
  auto j = Replay({"--from-store", "--dry-run"});
  EXPECT_TRUE(j["dry_run"].get<bool>());
  EXPECT_EQ(j["count"].get<int64_t>(), Rows("activities"));
  EXPECT_EQ(j["first"].size(), 10u);
  EXPECT_EQ(j["first"][0]["aspect_type"], "create");
  EXPECT_EQ(j["first"][0]["subscription_id"].get<int64_t>(), kSubscription);
  EXPECT_EQ(Rows("received_events"), received);
  auto human = Run({"replay", "--dispatcher-url", webhook(), "--from-store", "--dry-run"});
  EXPECT_EQ(human.code, 0);
  EXPECT_NE(human.out.find(Str(Rows("activities")) + " events would be posted"), std::string::npos) << human.out;
  EXPECT_EQ(Rows("received_events"), received);
}

TEST_F(ReplayE2E, FromStoreWithDatesPostsThatRangeAndServeFetchesEachOnce) {
  const int64_t expected = SqlCount(
      "SELECT COUNT(*) FROM activities WHERE local_date BETWEEN '2024-03-01' AND '2024-05-31'");
  ASSERT_GT(expected, 0);
  const int64_t fetches = Fetches();
  auto j = Replay({"--from-store", "--start-date", "2024-03-01", "--end-date", "2024-05-31", "--rate-limit", "200"});
  EXPECT_EQ(j["selected"].get<int64_t>(), expected);
  EXPECT_EQ(j["posted"].get<int64_t>(), expected);
  EXPECT_EQ(j["succeeded"].get<int64_t>(), expected);
  EXPECT_EQ(j["errors"].get<int64_t>(), 0);
  EXPECT_EQ(Rows("received_events"), expected);
  EXPECT_TRUE(WaitFor([&] { return QueueEmpty() && Fetches() - fetches >= expected; }, 60s));
  EXPECT_EQ(Fetches() - fetches, expected);
}

TEST_F(ReplayE2E, IdsFileAndLimitAndRateLimit) {
  auto ids = StoredIds();
  std::vector<int64_t> some(ids.begin(), std::next(ids.begin(), 4));
  auto file = dir_.path() / "ids.txt";
  {
    std::ofstream out(file);
    out << "# activities to replay\n" << some[0] << "\n\n  " << some[1] << "  \n" << some[2] << "\n" << some[3] << "\n";
  }
  auto j = Replay({"--ids", file.string(), "--rate-limit", "100"});
  EXPECT_EQ(j["selected"].get<int64_t>(), 4);
  EXPECT_EQ(j["succeeded"].get<int64_t>(), 4);
  EXPECT_EQ(Rows("received_events"), 4);

  // --limit with --rate-limit 10: 10 posts take at least 9 intervals of 0.1 s.
  auto start = std::chrono::steady_clock::now();
  auto limited = Replay({"--from-store", "--limit", "10", "--rate-limit", "10"});
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(limited["selected"].get<int64_t>(), 10);
  EXPECT_EQ(limited["posted"].get<int64_t>(), 10);
  EXPECT_EQ(limited["succeeded"].get<int64_t>(), 10);
  EXPECT_GE(elapsed, 900ms);

  // A bad line in the ids file is a usage error.
  {
    std::ofstream out(file);
    out << some[0] << "\nnot-an-id\n";
  }
  auto bad = Run({"replay", "--dispatcher-url", webhook(), "--ids", file.string()});
  EXPECT_EQ(bad.code, 2) << bad.err;
}

TEST_F(ReplayE2E, MissingFromPostsWhatTheOtherStoreLacks) {
  const int64_t missing = SqlCount("SELECT COUNT(*) FROM activities WHERE substr(local_date,1,4)='2024'");
  ASSERT_GT(missing, 5);
  auto other_db = (other_dir() / "desirelines.db").string();
  auto dry = Replay({"--missing-from", other_db, "--dry-run"});
  EXPECT_EQ(dry["count"].get<int64_t>(), missing);
  std::set<int64_t> in_2024;
  for (auto& r : Sql("SELECT id FROM activities WHERE substr(local_date,1,4)='2024'")) in_2024.insert(std::stoll(r[0]));
  for (const auto& e : dry["first"]) EXPECT_EQ(in_2024.count(e["object_id"].get<int64_t>()), 1u) << e.dump();

  auto j = Replay({"--missing-from", other_db, "--limit", "5", "--rate-limit", "100"});
  EXPECT_EQ(j["selected"].get<int64_t>(), 5);
  EXPECT_EQ(j["succeeded"].get<int64_t>(), 5);
  auto queued = Sql("SELECT dedup_key FROM received_events");
  EXPECT_EQ(queued.size(), 5u);
  for (auto& r : queued) {
    int64_t object = std::stoll(r[0].substr(r[0].find(':') + 1));
    EXPECT_EQ(in_2024.count(object), 1u) << r[0];
  }
}

TEST_F(ReplayE2E, RefusedEventsCountAsErrorsAndExitNonZero) {
  auto j = Replay({"--from-store", "--limit", "3", "--rate-limit", "100", "--subscription-id", "999"}, 1);
  EXPECT_FALSE(j["ok"].get<bool>());
  EXPECT_EQ(j["posted"].get<int64_t>(), 3);
  EXPECT_EQ(j["succeeded"].get<int64_t>(), 0);
  EXPECT_EQ(j["errors"].get<int64_t>(), 3);
  EXPECT_EQ(Rows("received_events"), 0);
  // Nobody listening: errors too.
  auto gone = Run({"replay", "--dispatcher-url", "http://127.0.0.1:1/webhook", "--from-store", "--limit", "1",
                   "--rate-limit", "100", "--json"});
  EXPECT_EQ(gone.code, 1) << gone.out;
}

// A stand-in dispatcher that records each POST (body, arrival time) and how
// many were in flight at once. The first `barrier` requests are held until
// that many are in flight together (or 5 s pass), so posting over N
// connections shows as N in flight and posting over one shows as 1.
class RecordingDispatcher {
 public:
  explicit RecordingDispatcher(int barrier) : barrier_(barrier) {
    server_.set_tcp_nodelay(true);
    server_.Post("/webhook", [this](const httplib::Request& req, httplib::Response& res) {
      std::unique_lock lock(mu_);
      posts_.push_back({req.body, std::chrono::steady_clock::now()});
      max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
      if (in_flight_ >= barrier_) released_ = true;
      cv_.notify_all();
      cv_.wait_for(lock, 5s, [this] { return released_; });
      --in_flight_;
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    EXPECT_TRUE(WaitFor([this] { return server_.is_running(); }, 10s));
  }
  ~RecordingDispatcher() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/webhook"; }
  int max_in_flight() {
    std::lock_guard lock(mu_);
    return max_in_flight_;
  }
  // Bodies and arrival times since the last call.
  std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> TakePosts() {
    std::lock_guard lock(mu_);
    return std::exchange(posts_, {});
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  const int barrier_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  int in_flight_ = 0, max_in_flight_ = 0;
  std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> posts_;
};

TEST_F(ReplayE2E, ConcurrencyPostsInParallelOnceEachWithTheRateLimitGlobal) {
  // Four connections: four requests in flight at once, every event once.
  RecordingDispatcher recorder(4);
  auto run = Run({"replay", "--dispatcher-url", recorder.url(), "--from-store", "--limit", "16", "--rate-limit",
                  "10000", "--concurrency", "4", "--json"});
  ASSERT_EQ(run.code, 0) << run.out << run.err;
  auto summary = json::parse(run.out);
  EXPECT_EQ(summary["posted"].get<int64_t>(), 16);
  EXPECT_EQ(summary["succeeded"].get<int64_t>(), 16);
  EXPECT_EQ(recorder.max_in_flight(), 4) << "the four connections should post at the same time";
  auto posts = recorder.TakePosts();
  std::set<int64_t> posted;
  auto stored = StoredIds();
  for (const auto& [body, at] : posts) {
    const int64_t id = json::parse(body)["object_id"].get<int64_t>();
    EXPECT_TRUE(posted.insert(id).second) << "activity " << id << " posted twice";
    EXPECT_EQ(stored.count(id), 1u) << id;
  }
  EXPECT_EQ(posted.size(), 16u);

  // The rate limit is global: 11 events at 20/s over 4 connections take at
  // least 10 intervals of 50 ms between the first and the last arrival (a
  // limit per connection would take about 2).
  auto paced = Run({"replay", "--dispatcher-url", recorder.url(), "--from-store", "--limit", "11", "--rate-limit",
                    "20", "--concurrency", "4", "--json"});
  ASSERT_EQ(paced.code, 0) << paced.out << paced.err;
  posts = recorder.TakePosts();
  ASSERT_EQ(posts.size(), 11u);
  auto [first, last] = std::minmax_element(posts.begin(), posts.end(),
                                           [](const auto& a, const auto& b) { return a.second < b.second; });
  EXPECT_GE(last->second - first->second, 450ms);

  // Against the real serve: every selected event accepted and queued once,
  // each activity fetched once.
  const int64_t fetches = Fetches(), count = Rows("activities");
  auto all = Replay({"--from-store", "--rate-limit", "10000", "--concurrency", "8"});
  EXPECT_EQ(all["selected"].get<int64_t>(), count);
  EXPECT_EQ(all["succeeded"].get<int64_t>(), count);
  EXPECT_EQ(all["errors"].get<int64_t>(), 0);
  EXPECT_EQ(Rows("received_events"), count);
  EXPECT_TRUE(WaitFor([&] { return QueueEmpty() && Fetches() - fetches >= count; }, 60s));
  EXPECT_EQ(Fetches() - fetches, count);
}

// ---- 9. Slow clients do not delay a valid event -----------------------------------

// Keeps `n` connections to 127.0.0.1:port each sending one header byte a
// second (reconnecting when the server closes one) until stopped.
class SlowClients {
 public:
  SlowClients(uint16_t port, int n) : port_(port) {
    for (int i = 0; i < n; ++i) fds_.push_back(Connect());
    thread_ = std::thread([this] { Run(); });
  }
  ~SlowClients() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) ::close(fd);
  }
  int connected_ok() const { return connected_ok_.load(); }
  int64_t bytes_sent() const { return bytes_sent_.load(); }

 private:
  int Connect() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) ++connected_ok_;
    return fd;
  }
  void Run() {
    static constexpr char kRequest[] = "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n";
    size_t offset = 0;
    while (!stop_) {
      for (auto& fd : fds_) {
        if (::send(fd, kRequest + offset % (sizeof kRequest - 1), 1, MSG_NOSIGNAL) == 1) {
          ++bytes_sent_;
        } else {
          ::close(fd);
          fd = Connect();
        }
      }
      ++offset;
      auto until = std::chrono::steady_clock::now() + 1s;
      while (!stop_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
    }
  }

  uint16_t port_;
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connected_ok_{0};
  std::atomic<int64_t> bytes_sent_{0};
  std::thread thread_;
};

TEST_F(PipelineE2E, SixtyFourSlowClientsDoNotDelayAValidEvent) {
  ASSERT_NO_FATAL_FAILURE(StartAll({"--generate", "15", "--years", "2025-2025", "--per-year", "10"}));
  const auto port = static_cast<uint16_t>(std::stoi(serve_url_.substr(serve_url_.rfind(':') + 1)));
  auto ids = StoredIds();
  SlowClients slow(port, 64);
  ASSERT_EQ(slow.connected_ok(), 64);
  // Events over about four seconds, while the slow clients trickle.
  int64_t t = NowS() - 1000;
  std::chrono::milliseconds worst{0};
  for (int i = 0; i < 8; ++i) {
    auto start = std::chrono::steady_clock::now();
    auto r = PostEvent(EventBody("create", *std::next(ids.begin(), i % 5), t + i));
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    worst = std::max(worst, took);
    EXPECT_EQ(r.status, 200) << r.error << r.body;
    EXPECT_LT(took, 1000ms) << "event " << i;
    auto until = std::chrono::steady_clock::now() + 500ms;
    while (std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  }
  EXPECT_GE(slow.bytes_sent(), 64 * 3) << "the slow clients were trickling meanwhile";
  EXPECT_EQ(Rows("received_events"), 8);
  std::cerr << "slowest acknowledgement under 64 slow clients: " << worst.count() << " ms\n";
}

// ---- 6. SIGKILL mid-stream, restart, nothing lost ---------------------------------

// The activity ids that `replay --verbose` reports as acknowledged (2xx).
std::set<int64_t> AcknowledgedByReplay(const std::string& stderr_text) {
  std::set<int64_t> ids;
  std::stringstream lines(stderr_text);
  std::string line;
  while (std::getline(lines, line)) {
    auto at = line.find(" activity ");
    if (at == std::string::npos || line.size() < 5 || line.substr(line.size() - 5) != ": 200") continue;
    ids.insert(std::stoll(line.substr(at + 10)));
  }
  return ids;
}

TEST_F(PipelineE2E, KilledMidStreamLosesNoAcceptedEventAndAggregatesEqualARebuild) {
  // Two streams at once: 2000 activities of 2024 that Strava has and the
  // store does not, replayed as fast as serve takes them (a backlog builds
  // in the queue), and 300 new activities of 2025 whose webhooks strava-sim
  // delivers, retrying for ~6 s while serve is down.
  // Until the kill, Strava answers slowly (most fetches wait 120 ms) so
  // that the queue holds a backlog when serve dies.
  std::vector<std::string> sim = {"--generate", "16", "--years", "2024-2024", "--per-year", "2000",
                                  "--webhook-attempts", "40", "--webhook-retry-delay-ms", "150",
                                  "--fault-rate", "0.7", "--faults", "slow", "--slow-ms", "120"};
  sim.insert(sim.end(), kNoLimits.begin(), kNoLimits.end());
  ASSERT_NO_FATAL_FAILURE(StartAll(sim));  // backfills 2025: tokens, no activity
  const std::string port = serve_url_.substr(serve_url_.rfind(':') + 1);
  const auto strava_2024 = SimIds();
  ASSERT_EQ(strava_2024.size(), 2000u);
  auto ids_file = dir_.path() / "ids.txt";
  {
    std::ofstream out(ids_file);
    for (int64_t id : strava_2024) out << id << "\n";
  }
  auto env = Env(data_dir());
  Process replay({(BinDir() / "desirelines").string(), "replay", "--dispatcher-url", webhook(), "--ids",
                  ids_file.string(), "--rate-limit", "10000", "--verbose"},
                 env);
  constexpr int kCreates = 300;
  std::atomic<int> created{0};
  std::jthread producer([&] {  // joined on every way out, early assertion failures included
    static const char* kTypes[] = {"Ride", "Run", "Walk", "VirtualRide", "Hike"};
    for (int i = 0; i < kCreates; ++i) {
      char start[32];
      std::snprintf(start, sizeof start, "2025-%02d-%02dT%02d:%02d:00Z", 1 + i % 12, 1 + i % 28, 6 + i % 12, i % 60);
      auto r = HttpRequest("POST", sim_->url() + "/_sim/activities",
                           Activity(start, kTypes[i % 5], 1000.0 + 37.3 * i, "s" + Str(i)).dump());
      if (r.status == 201) ++created;
    }
  });
  // Kill in the middle: events accepted, some applied, more coming.
  const bool midway = WaitFor([&] { return Rows("received_events") >= 700; }, 120s);
  serve_->Signal(SIGKILL);
  serve_->Wait(10s);
  const auto killed_at = std::chrono::steady_clock::now();
  const int64_t received_at_kill = Rows("received_events"), queued_at_kill = Rows("event_queue");
  const int64_t stored_at_kill = Rows("activities");
  ASSERT_TRUE(midway) << "the streams never got going";
  EXPECT_GE(queued_at_kill, 100) << "the kill should find a backlog in the queue";
  ASSERT_EQ(HttpRequest("POST", sim_->url() + "/_sim/faults", R"({"rate":0})").status, 200);
  ASSERT_NO_FATAL_FAILURE(StartServe({}, {}, "127.0.0.1:" + port));  // same port: the callback URL stays valid
  producer.join();
  ASSERT_EQ(created.load(), kCreates);
  ASSERT_TRUE(replay.Wait(120s).has_value());
  const auto accepted = AcknowledgedByReplay(replay.Stderr());
  EXPECT_GT(accepted.size(), 0u);
  EXPECT_LT(accepted.size(), strava_2024.size()) << "replay should have met the killed serve";
  ASSERT_TRUE(WaitFor([&] { return DeliveriesDone(); }, 120s));
  EXPECT_EQ(Delivered(), kCreates) << "every webhook was eventually acknowledged";

  // Every accepted event is applied once the queue drains; the events the
  // killed process had claimed come back when their lease (12 s here) ends.
  ASSERT_TRUE(WaitFor([&] { return QueueEmpty(); }, 200s)) << "queued " << Rows("event_queue");
  std::cerr << "killed with " << received_at_kill << " events accepted, " << queued_at_kill << " of them queued, "
            << stored_at_kill << " activities stored; replay had " << accepted.size()
            << " acknowledged; drained "
            << std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - killed_at).count()
            << " s after the kill\n";
  auto stored = StoredIds();
  for (int64_t id : accepted) EXPECT_EQ(stored.count(id), 1u) << "accepted event for " << id << " was lost";
  EXPECT_EQ(Events()["pending"].get<int64_t>(), 0);
  EXPECT_TRUE(Events(true)["events"].empty());

  // What the pipeline missed while down is fed with replay; then the store
  // holds everything Strava has.
  {
    std::ofstream out(ids_file);
    for (int64_t id : SimIds()) {
      if (!stored.count(id)) out << id << "\n";
    }
  }
  auto rest = Run({"replay", "--dispatcher-url", webhook(), "--ids", ids_file.string(), "--rate-limit", "10000"});
  EXPECT_EQ(rest.code, 0) << rest.out << rest.err;
  auto sim_ids = SimIds();
  ASSERT_TRUE(WaitFor([&] { return QueueEmpty() && StoredIds() == sim_ids; }, 120s))
      << "stored " << Rows("activities") << " of " << sim_ids.size();
  ASSERT_NO_FATAL_FAILURE(ExpectAggregatesEqualARebuild());
}

}  // namespace
}  // namespace dl::testing
