// Scale-out end to end (issue 6): the live pipeline as separate processes on
// real distributed infrastructure. One fresh PostgreSQL database (on the
// server at DL_TEST_PG_URL, which scripts/run-tests.sh starts), the real
// Pub/Sub emulator (started here, one project per run), the real strava-sim,
// and seven `desirelines serve` processes: 2 dispatchers, 3 inserters and
// 2 aggregators, all on --store postgresql://... --transport pubsub.
//
// The load, about two thousand events at once:
//   - strava-sim creates, updates and deletes activities and pushes their
//     webhooks to dispatcher 1 (with Strava's retries when it is slow);
//   - `desirelines replay --concurrency 4` posts a create for every activity
//     of a year the store has not seen to dispatcher 2;
//   - copies of the simulator's delivered webhooks (Strava retries) and
//     deliberately out-of-order events (stale updates and creates, forged
//     deletes) are posted to dispatcher 2 directly.
// One inserter is SIGKILLed midway; its leased messages come back after the
// (short) lease. At the end: the store holds exactly what strava-sim holds,
// with its current data, once; deleted activities are archived once; every
// distinct event was recorded once across both dispatchers; nothing was
// dead-lettered; the daily totals equal a SQL recomputation and a full
// rebuild (`desirelines aggregate`), and the files the aggregators wrote equal
// the rebuild's files byte for byte.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator.h"
#include "pg_test_server.h"
#include "support.h"

namespace dl::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace pg = adapters::postgres::testing;

constexpr const char* kClientId = "12345";
constexpr const char* kSecret = "scaleout-e2e-client-secret";
constexpr const char* kRefresh = "scaleout-e2e-refresh-token";
constexpr const char* kVerifyToken = "scaleout-e2e-verify-token";
constexpr int64_t kAthlete = 28475190;     // strava-sim's generated athlete
constexpr int64_t kSubscription = 120475;  // strava-sim's first subscription id
constexpr int kPerYear = 900;              // generated activities in each of 2023 and 2024
constexpr int kSimCreates = 300;           // new 2024 activities made on "Strava" during the run
constexpr int kUpdated = 200;              // 2023 activities updated (the first 100 of them twice)
constexpr int kTwice = 100;
constexpr int kDeleteFirst = 150, kDeleteEnd = 300;  // 2023 activities [150, 300) deleted
constexpr int kForgedFirst = 300, kForgedEnd = 320;  // forged deletes: still on Strava
constexpr const char* kFetchKey = "GET /api/v3/activities/{id}";

std::string Str(int64_t v) { return std::to_string(v); }

int64_t NowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Polls `condition` every `every` until true or the deadline (WaitFor polls
// every 20 ms: too often for queries that parse a thousand rows while seven
// processes share two cores).
bool Poll(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
          std::chrono::milliseconds every = 500ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(every);
  }
  return true;
}

// A webhook event as Strava sends it.
std::string EventBody(const std::string& aspect, int64_t object_id, int64_t event_time, const json& updates) {
  return json{{"aspect_type", aspect},         {"event_time", event_time}, {"object_id", object_id},
              {"object_type", "activity"},     {"owner_id", kAthlete},     {"subscription_id", kSubscription},
              {"updates", updates}}
      .dump();
}

// What makes two events the same event (core::WebhookEvent::DedupKey).
std::string DedupIdentity(const std::string& body) {
  auto e = json::parse(body);
  return e["object_type"].get<std::string>() + ":" + e["object_id"].dump() + ":" + e["aspect_type"].get<std::string>() +
         ":" + e["event_time"].dump() + ":" + e["updates"].dump();
}

// Sim-side changes, each pushed by strava-sim's webhook to dispatcher 1.
struct SimChanges {
  std::vector<int64_t> created;
  std::set<int64_t> deleted;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
};

void MakeSimChanges(const std::string& sim, const std::vector<int64_t>& y2023, SimChanges& out) {
  static const char* kTypes[] = {"Ride", "Run", "Walk", "Hike"};
  for (int i = 0; i < std::max({kSimCreates, kUpdated, kDeleteEnd}); ++i) {
    if (i < kSimCreates) {
      char start[32];
      std::snprintf(start, sizeof start, "2024-%02d-%02dT%02d:%02d:00Z", 1 + i % 12, 1 + i % 28, 5 + i % 14, i % 60);
      json a = {{"name", "new-" + Str(i)},  {"type", kTypes[i % 4]},  {"sport_type", kTypes[i % 4]},
                {"distance", 1000.5 + 41.3 * i}, {"start_date", start}, {"moving_time", 1800 + i},
                {"timezone", "(GMT+01:00) Europe/Paris"}};
      auto r = HttpRequest("POST", sim + "/_sim/activities", a.dump());
      if (r.status == 201) {
        out.created.push_back(json::parse(r.body)["id"].get<int64_t>());
      } else {
        ++out.failures;
      }
    }
    if (i < kUpdated) {  // a title change; every third also a type change
      const int64_t id = y2023[static_cast<size_t>(i)];
      json change = {{"name", "renamed-" + Str(i)}};
      if (i % 3 == 0) change.update({{"type", "Run"}, {"sport_type", "Run"}});
      if (HttpRequest("PUT", sim + "/_sim/activities/" + Str(id), change.dump()).status != 200) ++out.failures;
    }
    if (i < kTwice) {
      const int64_t id = y2023[static_cast<size_t>(i)];
      json change = {{"name", "renamed-again-" + Str(i)}};
      if (HttpRequest("PUT", sim + "/_sim/activities/" + Str(id), change.dump()).status != 200) ++out.failures;
    }
    // The second half of the run deletes [150, 300): the first 50 of them
    // just after their update.
    if (i >= kDeleteFirst && i < kDeleteEnd) {
      const int64_t id = y2023[static_cast<size_t>(i)];
      if (HttpRequest("DELETE", sim + "/_sim/activities/" + Str(id)).status == 204) {
        out.deleted.insert(id);
      } else {
        ++out.failures;
      }
    }
  }
  out.done = true;
}

// Posts to dispatcher 2 copies of every third webhook strava-sim delivered
// to dispatcher 1 (Strava's retries of one event reaching another
// dispatcher), as deliveries complete, until the changes are all delivered.
// Returns the bodies it posted; failures are counted.
std::vector<std::string> PostRetryCopies(const std::function<json()>& webhook_log, const std::string& dispatcher2,
                                         const SimChanges& changes, std::atomic<int>& failures) {
  std::vector<std::string> posted;
  size_t next = 0;
  const auto deadline = std::chrono::steady_clock::now() + 150s;
  while (std::chrono::steady_clock::now() < deadline) {
    const bool producer_done = changes.done.load();
    auto log = webhook_log();
    bool pending = false;
    for (; next < log.size(); ++next) {
      const json& d = log[next];
      if (d["pending"].get<bool>()) {
        pending = true;
        break;
      }
      if (d["body"].get<std::string>().find("\"object_type\":\"activity\"") == std::string::npos) continue;
      if (next % 3 != 0) continue;
      const std::string body = d["body"].get<std::string>();
      if (HttpRequest("POST", dispatcher2, body, {"Content-Type: application/json"}).status == 200) {
        posted.push_back(body);
      } else {
        ++failures;
      }
    }
    if (producer_done && !pending && next == log.size()) break;
    std::this_thread::sleep_for(250ms);  // pacing of a producer, not synchronisation
  }
  return posted;
}

class ScaleOutE2E : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      for (auto& [name, p] : serves_) {
        std::string err = p->Stderr();
        if (err.size() > 3000) err = err.substr(err.size() - 3000);
        std::cerr << "---- " << name << " stderr (tail) ----\n" << err << "\n";
      }
    }
    for (auto& [name, p] : serves_) p->Signal(SIGKILL);
    serves_.clear();
    if (!database_.empty()) {
      pg::AdminSql admin(admin_url_);
      if (admin.ok()) admin.Exec("DROP DATABASE IF EXISTS " + database_ + " WITH (FORCE)");
    }
    emulator_.Stop();
  }

  // ---- infrastructure ----
  void CreateDatabase() {
    std::mt19937_64 rng(std::random_device{}());
    database_ = "dl_scaleout_" + Str(getpid()) + "_" + Str(static_cast<int64_t>(rng() % 1000000));
    pg::AdminSql admin(admin_url_);
    ASSERT_TRUE(admin.ok()) << "PostgreSQL at DL_TEST_PG_URL: " << admin.error();
    admin.Exec("CREATE DATABASE " + database_ + " TEMPLATE template0 ENCODING 'UTF8'");
    store_url_ = pg::WithDatabase(admin_url_, database_);
  }

  std::map<std::string, std::string> Env() const {
    return {{"STRAVA_CLIENT_ID", kClientId},
            {"STRAVA_CLIENT_SECRET", kSecret},
            {"STRAVA_REFRESH_TOKEN", kRefresh},
            {"STRAVA_API_URL", sim_->url() + "/api/v3"},
            {"STRAVA_OAUTH_URL", sim_->url() + "/oauth"},
            {"STRAVA_VERIFY_TOKEN", kVerifyToken},
            {"STRAVA_SUBSCRIPTION_ID", Str(kSubscription)},
            {"DESIRELINES_DATA_DIR", data_dir().string()},
            {"DESIRELINES_CONFIG", ""},
            {"DESIRELINES_STORE", ""},
            // A killed inserter's messages come back after the lease: short
            // here (it must exceed twice the Strava timeout).
            {"STRAVA_TIMEOUT_S", "5"},
            {"DESIRELINES_LEASE_S", "12"},
            {"PUBSUB_EMULATOR_HOST", emulator_host_},  // empty (unset) until the emulator is up
            {"PUBSUB_PROJECT_ID", project_}};
  }

  struct RunResult {
    int code = -1;
    std::string out, err;
  };
  // `desirelines ARGS --store URL`.
  RunResult Run(std::vector<std::string> args, std::chrono::milliseconds timeout = 120s) {
    std::vector<std::string> argv = {(BinDir() / "desirelines").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--store", store_url_});
    Process p(argv, Env());
    RunResult r;
    r.code = p.Wait(timeout).value_or(-1);
    r.out = p.Stdout();
    r.err = p.Stderr();
    return r;
  }

  // Starts `serve --role ROLE` on port 0 (see ServeUrl).
  void StartServe(const std::string& name, const std::string& role) {
    std::vector<std::string> argv = {(BinDir() / "desirelines").string(), "serve", "--role", role, "--listen",
                                     "127.0.0.1:0", "--transport", "pubsub", "--store", store_url_};
    serves_[name] = std::make_unique<Process>(argv, Env());
  }
  // Its base URL once it listens; "" when it did not start.
  std::string ServeUrl(const std::string& name) {
    return serves_[name]->WaitForLine("listening on ", 90s).value_or("");
  }

  // The inserter subscription with a short ack deadline, created before
  // `pubsub setup` (which leaves existing resources alone) with setup's other
  // settings: a message pulled by an inserter killed before it extended the
  // deadline to its lease would otherwise wait setup's 120 s.
  void CreateInserterSubscription() {
    const std::string base = emulator_.endpoint() + "/v1/projects/" + project_;
    for (const char* topic : {"desirelines-events", "desirelines-dead-letters"}) {
      auto r = HttpRequest("PUT", base + "/topics/" + topic, "{}", {"Content-Type: application/json"});
      ASSERT_EQ(r.status, 200) << topic << ": " << r.body << r.error;
    }
    json sub = {{"topic", "projects/" + project_ + "/topics/desirelines-events"},
                {"ackDeadlineSeconds", 10},
                {"enableMessageOrdering", true},
                {"deadLetterPolicy",
                 {{"deadLetterTopic", "projects/" + project_ + "/topics/desirelines-dead-letters"},
                  {"maxDeliveryAttempts", 5}}}};
    auto r = HttpRequest("PUT", base + "/subscriptions/desirelines-inserter", sub.dump(),
                         {"Content-Type: application/json"});
    ASSERT_EQ(r.status, 200) << r.body << r.error;
  }

  // Messages waiting on the dead-letter subscription (pulled, not acked).
  size_t DeadLetters() {
    auto r = HttpRequest("POST",
                         emulator_.endpoint() + "/v1/projects/" + project_ +
                             "/subscriptions/desirelines-dead-letters-sub:pull",
                         R"({"maxMessages":100,"returnImmediately":true})", {"Content-Type: application/json"});
    EXPECT_EQ(r.status, 200) << r.body << r.error;
    auto j = json::parse(r.body.empty() ? "{}" : r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("receivedMessages")) return 0;
    for (const auto& m : j["receivedMessages"]) std::cerr << "dead letter: " << m.dump() << "\n";
    return j["receivedMessages"].size();
  }

  // ---- strava-sim ----
  json SimGet(const std::string& path) {
    auto r = HttpRequest("GET", sim_->url() + path);
    EXPECT_EQ(r.status, 200) << path << " " << r.error;
    return json::parse(r.body.empty() ? "null" : r.body);
  }
  // id -> the simulator's current summary, for our athlete.
  std::map<int64_t, json> SimActivities() {
    std::map<int64_t, json> out;
    for (auto& a : SimGet("/_sim/activities")) {
      if (a["athlete"]["id"].get<int64_t>() == kAthlete) out[a["id"].get<int64_t>()] = a;
    }
    return out;
  }
  bool DeliveriesDone() {
    auto log = SimGet("/_sim/webhook-log");
    return std::none_of(log.begin(), log.end(), [](const json& d) { return d["pending"].get<bool>(); });
  }

  // ---- the store ----
  // Rows of a query as a JSON array of objects (one round trip).
  json PgRows(const std::string& sql) {
    pg::AdminSql db(store_url_);
    EXPECT_TRUE(db.ok()) << db.error();
    auto col = db.Column("SELECT coalesce(json_agg(t), '[]'::json)::text FROM (" + sql + ") t");
    return json::parse(col.empty() ? "[]" : col[0]);
  }
  int64_t PgCount(const std::string& sql) {
    pg::AdminSql db(store_url_);
    auto col = db.Column(sql);
    return col.empty() ? -1 : std::stoll(col[0]);
  }
  // id -> the stored row's fields that strava-sim's summary also has.
  std::map<int64_t, json> StoredActivities() {
    std::map<int64_t, json> out;
    for (auto& r : PgRows("SELECT id, name, type, sport_type, distance_m, start_date, is_private FROM activities "
                          "WHERE athlete_id = " + Str(kAthlete))) {
      out[r["id"].get<int64_t>()] = r;
    }
    return out;
  }
  // Ids whose stored row differs from Strava's (or is missing/extra).
  std::vector<std::string> Differences(const std::map<int64_t, json>& sim, const std::map<int64_t, json>& stored) {
    std::vector<std::string> diffs;
    for (const auto& [id, a] : sim) {
      auto it = stored.find(id);
      if (it == stored.end()) {
        diffs.push_back(Str(id) + " missing");
        continue;
      }
      const json& s = it->second;
      const bool same = s["name"] == a["name"] && s["type"] == a["type"] && s["sport_type"] == a["sport_type"] &&
                        s["start_date"] == a["start_date"] && s["is_private"] == a.value("private", false) &&
                        std::llround(s["distance_m"].get<double>() * 1000) ==
                            std::llround(a["distance"].get<double>() * 1000);
      if (!same) diffs.push_back(Str(id) + " stored " + s.dump() + " but Strava has name " + a["name"].dump() +
                                 " type " + a["sport_type"].dump());
    }
    for (const auto& [id, s] : stored) {
      if (!sim.contains(id)) diffs.push_back(Str(id) + " stored but not on Strava");
    }
    return diffs;
  }

  std::filesystem::path data_dir() const { return dir_.path() / "data"; }
  int64_t Elapsed() const {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
  }

  void StartInfrastructure();
  void StartRoles();
  void RunLoadAndKillAnInserter();
  void PostOutOfOrderEvents();
  void ExpectStoreEqualsStrava();
  void ExpectAggregatesEqualARebuild();

  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  TempDir dir_;
  adapters::pubsub::testing::Emulator emulator_;
  std::string admin_url_, database_, store_url_, project_;
  std::string emulator_host_;  // HOST:PORT for PUBSUB_EMULATOR_HOST, once started
  std::unique_ptr<SimProcess> sim_;
  std::map<std::string, std::unique_ptr<Process>> serves_;
  std::vector<int64_t> y2023_, y2024_;  // generated activity ids by local year
  std::string d1_, d2_;                 // the dispatchers' base URLs
  SimChanges changes_;
  std::vector<std::string> copies_;        // retry copies posted to dispatcher 2
  std::vector<std::string> out_of_order_;  // stale and forged events posted to dispatcher 2
};

// ---- the steps of the test, in order ----

// Database, emulator, simulator; the store migrated, with the athlete's
// tokens and 2023 from a backfill (2024 is new to it); the Pub/Sub resources.
void ScaleOutE2E::StartInfrastructure() {
  project_ = "scaleout-" + Str(getpid());
  ASSERT_NO_FATAL_FAILURE(CreateDatabase());
  // The emulator (Java) takes the longest to start: meanwhile, the store.
  std::string emulator_error = "not started";
  std::jthread emulator([&] { emulator_error = emulator_.Start(); });
  sim_ = std::make_unique<SimProcess>(std::vector<std::string>{
      "--client-id", kClientId, "--client-secret", kSecret, "--refresh-token", kRefresh, "--generate", "61",
      "--years", "2023-2024", "--per-year", Str(kPerYear), "--rate-limit", "1000000,10000000", "--read-rate-limit",
      "1000000,10000000", "--threads", "64", "--webhook-attempts", "30", "--webhook-retry-delay-ms", "200"});
  auto migrate = Run({"migrate"});
  ASSERT_EQ(migrate.code, 0) << migrate.out << migrate.err;
  auto backfill = Run({"backfill", "--years", "2023", "--sports", "all"}, 180s);
  ASSERT_EQ(backfill.code, 0) << backfill.out << backfill.err;
  for (const auto& [id, a] : SimActivities()) {
    (a["start_date_local"].get<std::string>().starts_with("2023") ? y2023_ : y2024_).push_back(id);
  }
  ASSERT_EQ(PgCount("SELECT COUNT(*) FROM activities"), static_cast<int64_t>(y2023_.size()));
  ASSERT_GE(y2023_.size(), static_cast<size_t>(kForgedEnd));
  emulator.join();  // emulator_ is not touched before: Start() runs on that thread
  ASSERT_EQ(emulator_error, "") << "Pub/Sub emulator unavailable: " << emulator_error;
  emulator_host_ = emulator_.endpoint().substr(std::string("http://").size());
  ASSERT_NO_FATAL_FAILURE(CreateInserterSubscription());
  auto setup = Run({"pubsub", "setup"});
  ASSERT_EQ(setup.code, 0) << setup.out << setup.err;
}

// Seven processes, each one role; Strava's subscription points at dispatcher 1.
void ScaleOutE2E::StartRoles() {
  const std::vector<std::pair<std::string, std::string>> roles = {
      {"dispatcher-1", "dispatcher"}, {"dispatcher-2", "dispatcher"}, {"inserter-1", "inserter"},
      {"inserter-2", "inserter"},     {"inserter-3", "inserter"},     {"aggregator-1", "aggregator"},
      {"aggregator-2", "aggregator"}};
  for (const auto& [name, role] : roles) StartServe(name, role);  // all at once: they start in parallel
  for (const auto& [name, role] : roles) {
    const std::string url = ServeUrl(name);
    ASSERT_NE(url, "") << name << " did not start: " << serves_[name]->Stderr();
    if (name == "dispatcher-1") d1_ = url;
    if (name == "dispatcher-2") d2_ = url;
  }
  auto subscribed = Run({"subscription", "create", "--callback-url", d1_ + "/webhook", "--json"});
  ASSERT_EQ(subscribed.code, 0) << subscribed.out << subscribed.err;
  ASSERT_EQ(json::parse(subscribed.out)["id"].get<int64_t>(), kSubscription);
}

// The three streams at once (replay, sim changes, retry copies), and the
// SIGKILL of inserter-2 once 300 activities of 2024 are stored.
void ScaleOutE2E::RunLoadAndKillAnInserter() {
  auto ids_file = dir_.path() / "ids-2024.txt";
  {
    std::ofstream out(ids_file);
    for (int64_t id : y2024_) out << id << "\n";
  }
  Process replay({(BinDir() / "desirelines").string(), "replay", "--dispatcher-url", d2_ + "/webhook", "--ids",
                  ids_file.string(), "--rate-limit", "10000", "--concurrency", "4", "--json", "--store", store_url_},
                 Env());
  std::atomic<int> copy_failures{0};
  {
    std::jthread producer([&] { MakeSimChanges(sim_->url(), y2023_, changes_); });
    std::jthread copier([&] {
      copies_ = PostRetryCopies([&] { return SimGet("/_sim/webhook-log"); }, d2_ + "/webhook", changes_, copy_failures);
    });
    const std::string stored_2024 = "SELECT COUNT(*) FROM activities WHERE local_date LIKE '2024%'";
    const bool midway = Poll([&] { return PgCount(stored_2024) >= 300; }, 120s, 100ms);
    serves_["inserter-2"]->Signal(SIGKILL);
    EXPECT_EQ(serves_["inserter-2"]->Wait(10s), 128 + SIGKILL);
    EXPECT_TRUE(midway) << "the pipeline never got going";
    const int64_t at_kill = PgCount(stored_2024);
    EXPECT_LT(at_kill, static_cast<int64_t>(y2024_.size()) + kSimCreates) << "the kill came after all the work";
    std::cerr << "inserter-2 killed with " << at_kill << " activities of 2024 stored, " << Elapsed() << " s in\n";
  }  // producer and copier joined
  ASSERT_EQ(changes_.failures.load(), 0);
  ASSERT_EQ(copy_failures.load(), 0) << "a dispatcher refused a retry copy";
  ASSERT_TRUE(replay.Wait(120s).has_value()) << "replay did not finish";
  auto replayed = json::parse(replay.Stdout(), nullptr, false);
  ASSERT_TRUE(replayed.is_object()) << replay.Stdout() << replay.Stderr();
  EXPECT_EQ(replayed["succeeded"].get<int64_t>(), static_cast<int64_t>(y2024_.size())) << replayed.dump();
  ASSERT_TRUE(Poll([&] { return DeliveriesDone(); }, 120s));
}

// Out of order, after the newer events: stale title updates of activities
// updated twice, creates (older than their delete) of deleted activities,
// and forged deletes of activities Strava still has.
void ScaleOutE2E::PostOutOfOrderEvents() {
  const int64_t old_time = NowS() - 3600;
  for (int i = 0; i < kTwice; ++i) {
    out_of_order_.push_back(
        EventBody("update", y2023_[static_cast<size_t>(i)], old_time + i, {{"title", "stale-" + Str(i)}}));
  }
  for (int i = kDeleteFirst; i < kDeleteFirst + 50; ++i) {
    out_of_order_.push_back(EventBody("create", y2023_[static_cast<size_t>(i)], old_time + i, json::object()));
  }
  for (int i = kForgedFirst; i < kForgedEnd; ++i) {
    out_of_order_.push_back(EventBody("delete", y2023_[static_cast<size_t>(i)], NowS(), json::object()));
  }
  for (const auto& body : out_of_order_) {
    auto r = HttpRequest("POST", d2_ + "/webhook", body, {"Content-Type: application/json"});
    ASSERT_EQ(r.status, 200) << r.body << r.error;
  }
}

// The store holds what Strava holds, once, with its current data; deletes
// archived once; forged deletes ignored; every distinct event recorded once
// whichever dispatcher got it; no dead letter.
void ScaleOutE2E::ExpectStoreEqualsStrava() {
  const auto sim = SimActivities();
  std::vector<std::string> diffs;
  const bool converged = Poll(
      [&] {
        diffs = Differences(sim, StoredActivities());
        return diffs.empty();
      },
      150s);
  EXPECT_TRUE(converged) << diffs.size() << " differences, the first: "
                         << ::testing::PrintToString(std::vector<std::string>(
                                diffs.begin(), diffs.begin() + std::min<std::ptrdiff_t>(10, diffs.size())));
  EXPECT_EQ(PgCount("SELECT COUNT(*) - COUNT(DISTINCT (athlete_id, id)) FROM activities"), 0);
  EXPECT_EQ(sim.size(), y2023_.size() + y2024_.size() + kSimCreates - changes_.deleted.size());
  for (int64_t id : changes_.deleted) {
    EXPECT_EQ(PgCount("SELECT COUNT(*) FROM deleted_activities WHERE id = " + Str(id)), 1)
        << "deleted activity " << id << " should be archived once";
  }
  for (int i = kForgedFirst; i < kForgedEnd; ++i) {
    EXPECT_TRUE(sim.contains(y2023_[static_cast<size_t>(i)])) << "a forged delete must not delete on Strava";
  }
  EXPECT_EQ(PgCount("SELECT COUNT(*) FROM deleted_activities WHERE id IN (SELECT id FROM activities)"), 0)
      << "a forged delete archived an activity that Strava still has";
  // The store-backed dedup: retry copies at the other dispatcher add nothing.
  std::set<std::string> distinct;
  for (const auto& d : SimGet("/_sim/webhook-log")) distinct.insert(DedupIdentity(d["body"].get<std::string>()));
  for (const auto& body : out_of_order_) distinct.insert(DedupIdentity(body));
  const int64_t expected_events = static_cast<int64_t>(distinct.size() + y2024_.size());
  EXPECT_EQ(PgCount("SELECT COUNT(*) FROM received_events"), expected_events)
      << copies_.size() << " retry copies were posted to the second dispatcher";
  EXPECT_EQ(DeadLetters(), 0u) << "no event should be dead-lettered";
  std::cerr << expected_events << " distinct events + " << copies_.size() << " retry copies; "
            << SimGet("/_sim/stats")["by_endpoint"].value(kFetchKey, int64_t{0}) << " activity fetches; converged "
            << Elapsed() << " s after the start\n";
}

// 1. The daily totals equal a recomputation from the stored rows in SQL.
// 2. A full rebuild (`desirelines aggregate`: RebuildYear, then the files)
//    changes nothing in the store, and its files are the files the two
//    aggregators wrote, byte for byte.
void ScaleOutE2E::ExpectAggregatesEqualARebuild() {
  const std::string totals =
      "SELECT athlete_id, category, local_date, distance_mm, moving_time_s, elevation_gain_cm, count, activity_ids "
      "FROM daily_totals ORDER BY 1, 2, 3";
  const std::string recomputed =
      "SELECT athlete_id, category, local_date, SUM(round(distance_m * 1000)::bigint) AS distance_mm, "
      "SUM(moving_time_s) AS moving_time_s, SUM(round(total_elevation_gain_m * 100)::bigint) AS elevation_gain_cm, "
      "COUNT(*) AS count, array_agg(id ORDER BY id) AS activity_ids FROM activities GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
  json incremental;
  EXPECT_TRUE(Poll(
      [&] {
        incremental = PgRows(totals);
        return incremental == PgRows(recomputed);
      },
      30s))
      << "daily_totals differ from a recomputation";
  const auto rebuilt_dir = dir_.path() / "rebuilt";
  auto rebuilt = Run({"aggregate", "--years", "2023", "2024", "--sports", "all", "--data-dir", rebuilt_dir.string(),
                      "--json"});
  ASSERT_EQ(rebuilt.code, 0) << rebuilt.out << rebuilt.err;
  EXPECT_EQ(PgRows(totals), incremental) << "a full rebuild changed the daily totals";
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(rebuilt_dir / "activities")) {
    if (!entry.is_regular_file()) continue;
    const auto relative = std::filesystem::relative(entry.path(), rebuilt_dir);
    const std::string want = ReadFileText(entry.path());
    EXPECT_TRUE(WaitFor([&] { return ReadFileText(data_dir() / relative) == want; }, 30s))
        << relative << " written by the aggregators differs from the rebuild";
    ++files;
  }
  EXPECT_GE(files, 8) << "2 years x at least 4 category files";
}

TEST_F(ScaleOutE2E, TwoDispatchersThreeInsertersTwoAggregatorsLoseNothingAndAgreeWithARebuild) {
  const char* admin = std::getenv("DL_TEST_PG_URL");
  if (admin == nullptr || *admin == '\0') GTEST_SKIP() << "DL_TEST_PG_URL is not set (scripts/run-tests.sh sets it)";
  admin_url_ = admin;
  ASSERT_NO_FATAL_FAILURE(StartInfrastructure());
  ASSERT_NO_FATAL_FAILURE(StartRoles());
  std::cerr << "seven roles running " << Elapsed() << " s after the start\n";
  ASSERT_NO_FATAL_FAILURE(RunLoadAndKillAnInserter());
  ASSERT_NO_FATAL_FAILURE(PostOutOfOrderEvents());
  ASSERT_NO_FATAL_FAILURE(ExpectStoreEqualsStrava());
  ASSERT_NO_FATAL_FAILURE(ExpectAggregatesEqualARebuild());
  // Every role still running stops cleanly on SIGTERM.
  for (auto& [name, p] : serves_) {
    if (name != "inserter-2") p->Signal(SIGTERM);
  }
  for (auto& [name, p] : serves_) {
    if (name != "inserter-2") {
      EXPECT_EQ(p->Wait(60s), 0) << name << ": " << p->Stderr();
    }
  }
}

// The store URL may hold the database password (the PostgreSQL adapter
// scrubs it from every message): the commands that name the store print it
// redacted. The test server trusts every local user, so any password works.
TEST(StoreUrlOutput, StatusAndMigrateNeverPrintTheDatabasePassword) {
  const char* admin = std::getenv("DL_TEST_PG_URL");
  if (admin == nullptr || *admin == '\0') GTEST_SKIP() << "DL_TEST_PG_URL is not set (scripts/run-tests.sh sets it)";
  const std::string database = "dl_redact_" + Str(getpid());
  pg::AdminSql sql(admin);
  ASSERT_TRUE(sql.ok()) << sql.error();
  sql.Exec("CREATE DATABASE " + database + " TEMPLATE template0 ENCODING 'UTF8'");
  std::string url = pg::WithDatabase(admin, database);
  const std::string password = "hunter2-not-for-your-eyes";
  const size_t at = url.find('@');
  ASSERT_NE(at, std::string::npos) << url;
  url.insert(at, ":" + password);
  TempDir data;
  const std::map<std::string, std::string> env = {
      {"DESIRELINES_DATA_DIR", data.path().string()}, {"DESIRELINES_CONFIG", ""}, {"DESIRELINES_STORE", ""}};
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"migrate"}, {"status"}, {"status", "--json"}}) {
    std::vector<std::string> argv = {(BinDir() / "desirelines").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--store", url});
    Process p(argv, env);
    EXPECT_EQ(p.Wait(60s), 0) << args[0] << p.Stdout() << p.Stderr();
    EXPECT_EQ(p.Stdout().find(password), std::string::npos) << p.Stdout();
    EXPECT_EQ(p.Stderr().find(password), std::string::npos) << p.Stderr();
    if (args[0] == "status") {
      EXPECT_NE(p.Stdout().find(":***@"), std::string::npos) << p.Stdout();
    }
  }
  sql.Exec("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
}

}  // namespace
}  // namespace dl::testing
