// End-to-end over the Pub/Sub transport: the real `desirelines serve
// --transport pubsub` on the real Pub/Sub emulator (started here, or
// PUBSUB_EMULATOR_HOST), fed by real webhooks from the real strava-sim.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator.h"
#include "support.h"

namespace dl::testing {
namespace {

using adapters::pubsub::testing::SharedEmulator;

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kClientId = "12345";
constexpr const char* kSecret = "pubsub-e2e-client-secret";
constexpr const char* kRefresh = "pubsub-e2e-refresh-token";
constexpr int64_t kSubscription = 120475;  // strava-sim's first subscription id

// HOST:PORT of the emulator ("" before it started).
std::string EmulatorHost() {
  const std::string& endpoint = SharedEmulator().endpoint();
  const std::string scheme = "http://";
  return endpoint.starts_with(scheme) ? endpoint.substr(scheme.size()) : endpoint;
}

class PubSubE2E : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && serve_) std::cerr << "---- serve stderr ----\n" << serve_->Stderr() << "\n";
    for (const auto& p : roles_) {
      if (HasFailure()) std::cerr << "---- serve (one role) stderr ----\n" << p->Stderr() << "\n";
    }
  }

  std::map<std::string, std::string> Env() const {
    const std::string sim = sim_ ? sim_->url() : std::string("http://127.0.0.1:1");  // no simulator: unused
    return {{"STRAVA_CLIENT_ID", kClientId},
            {"STRAVA_CLIENT_SECRET", kSecret},
            {"STRAVA_REFRESH_TOKEN", kRefresh},
            {"STRAVA_API_URL", sim + "/api/v3"},
            {"STRAVA_OAUTH_URL", sim + "/oauth"},
            {"STRAVA_VERIFY_TOKEN", "pubsub-e2e-verify-token"},
            {"STRAVA_SUBSCRIPTION_ID", std::to_string(kSubscription)},
            {"DESIRELINES_DATA_DIR", data_dir().string()},
            {"DESIRELINES_CONFIG", ""},
            {"STRAVA_TIMEOUT_S", "5"},
            // The emulator's address without the scheme; a project per run.
            {"PUBSUB_EMULATOR_HOST", EmulatorHost()},
            {"PUBSUB_PROJECT_ID", project_}};
  }

  int Run(std::vector<std::string> args, std::string* out = nullptr) {
    std::vector<std::string> argv = {(BinDir() / "desirelines").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    Process p(argv, Env());
    int code = p.Wait(120s).value_or(-1);
    if (out) *out = p.Stdout();
    if (code != 0) ADD_FAILURE() << p.Stdout() << p.Stderr();
    return code;
  }

  // Starts the simulator, backfills 2025 and creates the Pub/Sub resources.
  void Prepare() {
    const std::string error = SharedEmulator().Start();
    ASSERT_EQ(error, "") << "Pub/Sub emulator unavailable: " << error;
    sim_ = std::make_unique<SimProcess>(std::vector<std::string>{
        "--client-id", kClientId, "--client-secret", kSecret, "--refresh-token", kRefresh, "--generate", "3",
        "--years", "2025-2025", "--per-year", "5", "--rate-limit", "1000000,10000000", "--read-rate-limit",
        "1000000,10000000"});
    ASSERT_EQ(Run({"backfill", "--years", "2025", "--sports", "all"}), 0);
    ASSERT_EQ(Run({"pubsub", "setup"}), 0);
  }

  // `desirelines serve --transport pubsub --role ROLE`; returns its URL.
  std::string StartServe(const std::string& role) {
    auto p = std::make_unique<Process>(std::vector<std::string>{(BinDir() / "desirelines").string(), "serve",
                                                                "--listen", "127.0.0.1:0", "--transport", "pubsub",
                                                                "--role", role, "--inserters", "1"},
                                       Env());
    auto url = p->WaitForLine("listening on ", 60s);
    EXPECT_TRUE(url) << "serve --role " << role << " did not start: " << p->Stderr();
    roles_.push_back(std::move(p));
    return url.value_or("");
  }

  // The emulator's REST API, for what the CLI does not do (publish a dead letter).
  HttpResult Emulator(const std::string& method, const std::string& path, const json& body) {
    return HttpRequest(method,
                       SharedEmulator().endpoint() + "/v1/projects/" + Env().at("PUBSUB_PROJECT_ID") + path,
                       body.dump(), {"Content-Type: application/json"});
  }

  std::filesystem::path data_dir() const { return dir_.path() / "data"; }
  int64_t Count(const std::string& sql) {
    return std::stoll(SqliteQuery(data_dir() / "desirelines.db", sql).at(0).at(0));
  }

  // A project per test: its topics and subscriptions start empty.
  const std::string project_ = [] {
    static int counter = 0;
    return "e2e-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  }();
  TempDir dir_;
  std::unique_ptr<SimProcess> sim_;
  std::unique_ptr<Process> serve_;
  std::vector<std::unique_ptr<Process>> roles_;  // serve processes of one role each
};

std::string Base64(const std::string& in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto n = (static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16) |
                   (static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8) |
                   static_cast<uint32_t>(static_cast<unsigned char>(in[i + 2]));
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i < in.size()) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (i + 1 < in.size()) n |= static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

TEST_F(PubSubE2E, CreatedActivityIsStoredThroughPubSub) {
  const std::string error = SharedEmulator().Start();
  ASSERT_EQ(error, "") << "Pub/Sub emulator unavailable: " << error;
  sim_ = std::make_unique<SimProcess>(std::vector<std::string>{
      "--client-id", kClientId, "--client-secret", kSecret, "--refresh-token", kRefresh, "--generate", "3",
      "--years", "2025-2025", "--per-year", "5", "--rate-limit", "1000000,10000000", "--read-rate-limit",
      "1000000,10000000"});
  ASSERT_EQ(Run({"backfill", "--years", "2025", "--sports", "all"}), 0);
  ASSERT_EQ(Run({"pubsub", "setup"}), 0);
  ASSERT_EQ(Run({"pubsub", "setup"}), 0) << "setup is idempotent";
  serve_ = std::make_unique<Process>(std::vector<std::string>{(BinDir() / "desirelines").string(), "serve",
                                                              "--listen", "127.0.0.1:0", "--transport", "pubsub"},
                                     Env());
  auto url = serve_->WaitForLine("listening on ", 60s);
  ASSERT_TRUE(url) << "serve did not start: " << serve_->Stderr();
  std::string out;
  ASSERT_EQ(Run({"subscription", "create", "--callback-url", *url + "/webhook", "--json"}, &out), 0);
  ASSERT_EQ(json::parse(out)["id"].get<int64_t>(), kSubscription);

  auto created = HttpRequest("POST", sim_->url() + "/_sim/activities", R"({"name":"Pub/Sub ride","sport_type":"Ride"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t id = json::parse(created.body)["id"].get<int64_t>();
  const std::string stored = "SELECT COUNT(*) FROM activities WHERE id=" + std::to_string(id);
  EXPECT_TRUE(WaitFor([&] { return Count(stored) == 1; }, 30s)) << "activity " << id << " was not stored";
  // The event went through Pub/Sub, not the store's embedded queue.
  EXPECT_NE(serve_->Stderr().find("transport pubsub"), std::string::npos);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM event_queue"), 0);
  serve_->Signal(SIGTERM);
  EXPECT_EQ(serve_->Wait(60s), 0) << serve_->Stderr();
}

// Dispatcher, inserter and aggregator as separate processes over Pub/Sub:
// the webhook goes dispatcher -> desirelines-events -> inserter, which
// stores the activity and signals desirelines-aggregates -> the aggregator
// process, which writes the year's files.
TEST_F(PubSubE2E, RolesInSeparateProcessesCarryAnEventToTheFiles) {
  ASSERT_NO_FATAL_FAILURE(Prepare());
  const std::string dispatcher = StartServe("dispatcher");
  ASSERT_FALSE(dispatcher.empty());
  ASSERT_FALSE(StartServe("inserter").empty());
  ASSERT_FALSE(StartServe("aggregator").empty());
  std::string out;
  ASSERT_EQ(Run({"subscription", "create", "--callback-url", dispatcher + "/webhook", "--json"}, &out), 0);

  auto created = HttpRequest("POST", sim_->url() + "/_sim/activities", R"({"name":"Split roles","sport_type":"Ride"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const json activity = json::parse(created.body);
  const int64_t id = activity["id"].get<int64_t>();
  const std::string year = activity["start_date_local"].get<std::string>().substr(0, 4);
  EXPECT_TRUE(WaitFor([&] { return Count("SELECT COUNT(*) FROM activities WHERE id=" + std::to_string(id)) == 1; },
                      30s))
      << "activity " << id << " was not stored";
  const auto file = data_dir() / "activities" / year / "summary_activities.json";
  EXPECT_TRUE(WaitFor([&] { return std::filesystem::exists(file); }, 30s)) << file << " was not written";
  for (auto& p : roles_) {
    p->Signal(SIGTERM);
    EXPECT_EQ(p->Wait(60s), 0) << p->Stderr();
  }
}

// `desirelines events --transport pubsub`: dead letters are listed (and
// stay), re-driven by message id into the events topic, and a running serve
// then applies them.
TEST_F(PubSubE2E, DeadLettersAreListedAndReDrivenByTheEventsCommand) {
  ASSERT_NO_FATAL_FAILURE(Prepare());
  // An activity Strava has, whose create event ended in the dead letters.
  auto created = HttpRequest("POST", sim_->url() + "/_sim/activities", R"({"name":"Re-driven","sport_type":"Run"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t id = json::parse(created.body)["id"].get<int64_t>();
  const int64_t athlete = Count("SELECT athlete_id FROM activities LIMIT 1");
  const json event{{"object_type", "activity"}, {"object_id", id},          {"aspect_type", "create"},
                   {"owner_id", athlete},       {"subscription_id", kSubscription}, {"event_time", 1'700'000'000},
                   {"updates_json", "{}"}};
  auto published = Emulator("POST", "/topics/desirelines-dead-letters:publish",
                            {{"messages", {{{"data", Base64(event.dump())},
                                            {"attributes", {{"error", "HTTP 503 from Strava"},
                                                            {"received_at", "1700000000"}}}}}}});
  ASSERT_EQ(published.status, 200) << published.body;

  std::string out;
  json listed;
  ASSERT_TRUE(WaitFor(
      [&] {
        if (Run({"events", "--transport", "pubsub", "--failed", "--json"}, &out) != 0) return false;
        listed = json::parse(out);
        return listed["events"].size() == 1;
      },
      30s))
      << out;
  EXPECT_EQ(listed["events"][0]["object_id"].get<int64_t>(), id);
  EXPECT_EQ(listed["events"][0]["last_error"], "HTTP 503 from Strava");
  EXPECT_TRUE(listed["pending"].is_null());
  EXPECT_NE(listed["pending_note"].get<std::string>().find("not available from the Pub/Sub REST API"),
            std::string::npos);
  ASSERT_EQ(Run({"events", "--transport", "pubsub", "--failed"}, &out), 0);
  EXPECT_NE(out.find("HTTP 503 from Strava"), std::string::npos) << out;
  EXPECT_NE(out.find("not available from the Pub/Sub REST API"), std::string::npos) << out;
  {  // Pending events: said plainly that the REST API cannot tell.
    Process pending({(BinDir() / "desirelines").string(), "events", "--transport", "pubsub"}, Env());
    EXPECT_NE(pending.Wait(60s).value_or(-1), 0);
    EXPECT_NE(pending.Stderr().find("not available from the Pub/Sub REST API"), std::string::npos)
        << pending.Stderr();
  }

  serve_ = std::make_unique<Process>(std::vector<std::string>{(BinDir() / "desirelines").string(), "serve",
                                                              "--listen", "127.0.0.1:0", "--transport", "pubsub"},
                                     Env());
  ASSERT_TRUE(serve_->WaitForLine("listening on ", 60s)) << serve_->Stderr();
  const std::string message_id = listed["events"][0]["message_id"].get<std::string>();
  ASSERT_EQ(Run({"events", "--transport", "pubsub", "--retry", message_id}, &out), 0);
  EXPECT_NE(out.find("re-drove 1 event"), std::string::npos) << out;
  EXPECT_TRUE(WaitFor([&] { return Count("SELECT COUNT(*) FROM activities WHERE id=" + std::to_string(id)) == 1; },
                      30s))
      << "the re-driven event was not applied";
  ASSERT_EQ(Run({"events", "--transport", "pubsub", "--failed", "--json"}, &out), 0);
  EXPECT_TRUE(json::parse(out)["events"].empty()) << out;
  serve_->Signal(SIGTERM);
  EXPECT_EQ(serve_->Wait(60s), 0) << serve_->Stderr();
}

// Without the emulator: a key file readable by others is refused (it holds a
// private key), and with no key file the metadata server is asked (here an
// address where nothing listens), each with a message that says so.
TEST_F(PubSubE2E, CredentialsFollowGooglesOrderAndAWorldReadableKeyIsRefused) {
  const auto key = dir_.path() / "key.json";
  {
    std::ofstream out(key);
    out << R"({"type":"service_account","client_email":"dl@example.iam.gserviceaccount.com",)"
        << R"("private_key":"-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n"})";
  }
  std::filesystem::permissions(key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                        std::filesystem::perms::group_read | std::filesystem::perms::others_read);
  auto env = Env();
  env["PUBSUB_EMULATOR_HOST"] = "";
  env["GOOGLE_APPLICATION_CREDENTIALS"] = key.string();
  {
    Process setup({(BinDir() / "desirelines").string(), "pubsub", "setup"}, env);
    EXPECT_EQ(setup.Wait(60s).value_or(-1), 2) << setup.Stderr();
    EXPECT_NE(setup.Stderr().find("chmod 600"), std::string::npos) << setup.Stderr();
    EXPECT_EQ(setup.Stderr().find("not-a-key"), std::string::npos) << "the key never appears in messages";
  }
  env["GOOGLE_APPLICATION_CREDENTIALS"] = "";
  env["GCE_METADATA_HOST"] = "127.0.0.1:1";  // nothing listens there
  {
    Process setup({(BinDir() / "desirelines").string(), "pubsub", "setup"}, env);
    EXPECT_NE(setup.Wait(60s).value_or(-1), 0);
    EXPECT_NE(setup.Stderr().find("metadata server 127.0.0.1:1"), std::string::npos) << setup.Stderr();
  }
}

}  // namespace
}  // namespace dl::testing
