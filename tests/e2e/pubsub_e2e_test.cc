// End-to-end over the Pub/Sub transport: the real `desirelines serve
// --transport pubsub` on the real Pub/Sub emulator (started here, or
// PUBSUB_EMULATOR_HOST), fed by real webhooks from the real strava-sim.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
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

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kClientId = "12345";
constexpr const char* kSecret = "pubsub-e2e-client-secret";
constexpr const char* kRefresh = "pubsub-e2e-refresh-token";
constexpr int64_t kSubscription = 120475;  // strava-sim's first subscription id

adapters::pubsub::testing::Emulator& SharedEmulator() {
  static adapters::pubsub::testing::Emulator emulator;
  return emulator;
}

class StopEmulator : public ::testing::Environment {
 public:
  void TearDown() override { SharedEmulator().Stop(); }
};
[[maybe_unused]] ::testing::Environment* const kStopEmulator =
    ::testing::AddGlobalTestEnvironment(new StopEmulator);

class PubSubE2E : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && serve_) std::cerr << "---- serve stderr ----\n" << serve_->Stderr() << "\n";
  }

  std::map<std::string, std::string> Env() const {
    return {{"STRAVA_CLIENT_ID", kClientId},
            {"STRAVA_CLIENT_SECRET", kSecret},
            {"STRAVA_REFRESH_TOKEN", kRefresh},
            {"STRAVA_API_URL", sim_->url() + "/api/v3"},
            {"STRAVA_OAUTH_URL", sim_->url() + "/oauth"},
            {"STRAVA_VERIFY_TOKEN", "pubsub-e2e-verify-token"},
            {"STRAVA_SUBSCRIPTION_ID", std::to_string(kSubscription)},
            {"DESIRELINES_DATA_DIR", data_dir().string()},
            {"DESIRELINES_CONFIG", ""},
            {"STRAVA_TIMEOUT_S", "5"},
            // The emulator's address without the scheme; a project per run.
            {"PUBSUB_EMULATOR_HOST", SharedEmulator().endpoint().substr(std::string("http://").size())},
            {"PUBSUB_PROJECT_ID", "e2e-" + std::to_string(getpid())}};
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

  std::filesystem::path data_dir() const { return dir_.path() / "data"; }
  int64_t Count(const std::string& sql) {
    return std::stoll(SqliteQuery(data_dir() / "desirelines.db", sql).at(0).at(0));
  }

  TempDir dir_;
  std::unique_ptr<SimProcess> sim_;
  std::unique_ptr<Process> serve_;
};

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

}  // namespace
}  // namespace dl::testing
