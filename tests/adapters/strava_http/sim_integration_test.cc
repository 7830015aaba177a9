// StravaHttpClient against the real strava-sim (in-process, port 0): the
// client and the simulator must agree on the wire contract.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "adapters/strava_http/strava_http_client.h"
#include "sim/simulator.h"

namespace dl::adapters::strava_http {
namespace {

using namespace std::chrono_literals;

sim::SimOptions SmallAthlete() {
  sim::SimOptions o;
  o.generate.seed = 7;
  o.generate.first_year = 2023;
  o.generate.last_year = 2024;
  o.generate.per_year = 40;
  o.threads = 4;
  return o;
}

class SimTest : public ::testing::Test {
 protected:
  void Start(sim::SimOptions o) {
    sim_ = std::make_unique<sim::Simulator>(std::move(o));
    Status s = sim_->Start();
    ASSERT_TRUE(s) << s.error().message;
  }
  StravaHttpOptions Options() const {
    StravaHttpOptions o;
    o.api_url = sim_->base_url() + "/api/v3";
    o.oauth_url = sim_->base_url() + "/oauth";
    o.client_id = "12345";
    o.client_secret = "sim-client-secret";
    o.total_timeout_ms = 5000;
    return o;
  }
  std::unique_ptr<sim::Simulator> sim_;
};

TEST_F(SimTest, RefreshRotatesAndTheOldRefreshTokenStopsWorking) {
  Start(SmallAthlete());
  StravaHttpClient client(Options());
  auto first = client.Refresh("sim-refresh-token");
  ASSERT_TRUE(first.value) << first.value.error().message;
  EXPECT_NE(first.value->refresh_token, "sim-refresh-token");
  EXPECT_FALSE(first.value->access_token.empty());
  EXPECT_FALSE(first.rate) << "/oauth carries no rate headers";
  auto again = client.Refresh("sim-refresh-token");
  ASSERT_FALSE(again.value);
  EXPECT_EQ(again.value.error().code, ErrorCode::kUnauthorized) << again.value.error().message;
  auto next = client.Refresh(first.value->refresh_token);
  EXPECT_TRUE(next.value) << next.value.error().message;
}

TEST_F(SimTest, ListsEveryGeneratedActivityWithHeaders) {
  Start(SmallAthlete());
  StravaHttpClient client(Options());
  auto tokens = client.Refresh("sim-refresh-token");
  ASSERT_TRUE(tokens.value) << tokens.value.error().message;
  std::set<int64_t> ids;
  for (int page = 1; page < 10; ++page) {
    auto r = client.ListActivities(tokens.value->access_token, ports::ListQuery{std::nullopt, 0, page, 30});
    ASSERT_TRUE(r.value) << r.value.error().message;
    ASSERT_TRUE(r.rate);
    EXPECT_TRUE(r.rate->has_read);
    EXPECT_EQ(r.rate->read_usage_15min, page) << "each GET counts in the read bucket";
    for (const core::Activity& a : *r.value) {
      EXPECT_GT(a.id, 0);
      EXPECT_EQ(a.athlete_id, sim_->athlete_id());
      EXPECT_TRUE(a.raw_json.starts_with("{") && a.raw_json.ends_with("}"));
      EXPECT_TRUE(a.LocalDate().has_value()) << a.start_date_local;
      ids.insert(a.id);
    }
    if (r.value->size() < 30) break;
  }
  EXPECT_EQ(ids.size(), sim_->ActivityCount());
  auto who = client.GetAthlete(tokens.value->access_token);
  ASSERT_TRUE(who.value) << who.value.error().message;
  EXPECT_EQ(who.value->id, sim_->athlete_id());
  auto missing = client.GetActivity(tokens.value->access_token, 1);
  ASSERT_FALSE(missing.value);
  EXPECT_EQ(missing.value.error().code, ErrorCode::kNotFound);
}

TEST_F(SimTest, MissingScopeAndInactiveApplication) {
  Start(SmallAthlete());
  StravaHttpClient client(Options());
  auto narrow = client.ListActivities(sim_->MintAccessToken("read"), ports::ListQuery{});
  ASSERT_FALSE(narrow.value);
  EXPECT_EQ(narrow.value.error().code, ErrorCode::kMissingScope) << narrow.value.error().message;

  sim::FaultOptions inactive;
  inactive.inactive = true;
  sim_->SetFaults(inactive);
  auto r = client.ListActivities(sim_->MintAccessToken("read,activity:read_all"), ports::ListQuery{});
  ASSERT_FALSE(r.value);
  EXPECT_EQ(r.value.error().code, ErrorCode::kInactiveApp) << r.value.error().message;
}

TEST_F(SimTest, FifteenMinuteAndDailyLimits) {
  sim::SimOptions o = SmallAthlete();
  o.limits = sim::RateLimits{100, 1000, 2, 5};
  Start(o);
  StravaHttpClient client(Options());
  std::string token = sim_->MintAccessToken("read,activity:read_all");
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(client.GetAthlete(token).value);
  auto limited = client.GetAthlete(token);
  ASSERT_FALSE(limited.value);
  EXPECT_EQ(limited.http_status, 429);
  EXPECT_EQ(limited.value.error().code, ErrorCode::kRateLimited) << limited.value.error().message;
  ASSERT_TRUE(limited.rate);
  EXPECT_EQ(limited.rate->read_usage_15min, 3) << "rejected requests still count";

  sim::SimOptions daily = SmallAthlete();
  daily.limits = sim::RateLimits{100, 1000, 50, 2};
  Start(daily);
  StravaHttpClient client2(Options());
  token = sim_->MintAccessToken("read,activity:read_all");
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(client2.GetAthlete(token).value);
  auto spent = client2.GetAthlete(token);
  ASSERT_FALSE(spent.value);
  EXPECT_EQ(spent.value.error().code, ErrorCode::kDailyRateLimited) << spent.value.error().message;
}

TEST_F(SimTest, InjectedFaultsAreAllTransient) {
  sim::SimOptions o = SmallAthlete();
  o.faults.slow_ms = 2000;
  Start(o);
  StravaHttpOptions opts = Options();
  opts.total_timeout_ms = 300;
  StravaHttpClient client(opts);
  std::string token = sim_->MintAccessToken("read,activity:read_all");
  std::vector<sim::FaultKind> kinds = {sim::FaultKind::kHttp500, sim::FaultKind::kHttp502, sim::FaultKind::kHttp503,
                                       sim::FaultKind::kTruncate, sim::FaultKind::kReset, sim::FaultKind::kSlow};
  for (sim::FaultKind kind : kinds) {
    sim_->QueueFaults({kind});
    auto r = client.ListActivities(token, ports::ListQuery{std::nullopt, 0, 1, 200});
    ASSERT_FALSE(r.value) << sim::FaultKindName(kind);
    EXPECT_EQ(r.value.error().code, ErrorCode::kTransient)
        << sim::FaultKindName(kind) << ": " << ErrorCodeName(r.value.error().code) << " " << r.value.error().message;
  }
  auto ok = client.ListActivities(token, ports::ListQuery{std::nullopt, 0, 1, 200});
  EXPECT_TRUE(ok.value) << ok.value.error().message;
}

}  // namespace
}  // namespace dl::adapters::strava_http
