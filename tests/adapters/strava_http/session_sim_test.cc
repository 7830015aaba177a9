// The whole client side against the real strava-sim (in-process, port 0):
// app::StravaSession over StravaHttpClient, with the real (interruptible)
// SystemClock and in-memory token and budget stores. Windows are scaled so
// that the waits these tests prove take about a second.
#include <gtest/gtest.h>

#include <set>

#include "adapters/strava_http/strava_http_client.h"
#include "adapters/system/system_clock.h"
#include "app/strava_session.h"
#include "fakes/in_memory_rate_budget_store.h"
#include "fakes/in_memory_token_store.h"
#include "sim/simulator.h"

namespace dl::adapters::strava_http {
namespace {

class CountingObserver : public app::SessionObserver {
 public:
  void OnWaitStart(app::WaitReason reason, int64_t) override { ++starts[static_cast<int>(reason)]; }
  void OnRetry(const Error&, int, int64_t) override { ++retries; }
  int starts[3] = {0, 0, 0};
  int retries = 0;
};

class SessionSimTest : public ::testing::Test {
 protected:
  void Start(sim::SimOptions o) {
    o.generate.seed = 11;
    o.generate.first_year = 2023;
    o.generate.last_year = 2024;
    o.generate.per_year = 40;
    o.threads = 4;
    window_scale_ = o.window_scale;
    sim_ = std::make_unique<sim::Simulator>(std::move(o));
    Status s = sim_->Start();
    ASSERT_TRUE(s) << s.error().message;
    StravaHttpOptions h;
    h.api_url = sim_->base_url() + "/api/v3";
    h.oauth_url = sim_->base_url() + "/oauth";
    h.client_id = "12345";
    h.client_secret = "sim-client-secret";
    h.total_timeout_ms = 2000;
    http_ = std::make_unique<StravaHttpClient>(h);
  }
  app::SessionOptions Options() const {
    app::SessionOptions o;
    o.windows.window_scale = window_scale_;
    o.seed_refresh_token = "sim-refresh-token";
    o.base_backoff_ms = 5;
    o.max_backoff_ms = 50;
    o.rng_seed = 3;
    return o;
  }
  app::StravaSession Session(app::SessionOptions o) {
    return app::StravaSession(*http_, tokens_, budget_, clock_, std::move(o), &observer_);
  }
  // Pages through everything with per_page `per_page`; ids seen.
  Result<std::set<int64_t>> ListAll(app::StravaSession& s, int per_page) {
    std::set<int64_t> ids;
    for (int page = 1;; ++page) {
      auto r = s.ListActivities(ports::ListQuery{std::nullopt, 0, page, per_page});
      if (!r) return std::unexpected(r.error());
      for (const auto& a : *r) ids.insert(a.id);
      if (static_cast<int>(r->size()) < per_page) return ids;
    }
  }

  double window_scale_ = 1;
  std::unique_ptr<sim::Simulator> sim_;
  std::unique_ptr<StravaHttpClient> http_;
  fakes::InMemoryTokenStore tokens_;
  fakes::InMemoryRateBudgetStore budget_;
  system::SystemClock clock_;
  CountingObserver observer_;
};

TEST_F(SessionSimTest, SeedsThenListsAcrossScaledWindowsWithoutBeingRefused) {
  sim::SimOptions o;
  o.limits = sim::RateLimits{100, 1000, 4, 1000};
  o.window_scale = 900;  // one-second "15-minute" windows
  Start(o);
  app::StravaSession s = Session(Options());
  auto ids = ListAll(s, 10);  // 9 list requests + GET /athlete, at most 4 a window
  ASSERT_TRUE(ids) << ids.error().message;
  EXPECT_EQ(ids->size(), sim_->ActivityCount());
  EXPECT_GE(observer_.starts[static_cast<int>(app::WaitReason::kWindow)], 1) << "the budget made it wait";
  sim::SimStats stats = sim_->Stats();
  // A request in flight across a window edge may still meet a 429 on a
  // loaded machine; the session then waits, it never hammers.
  EXPECT_LE(stats.rate_limited, 1);
  EXPECT_EQ(stats.api_requests, s.RequestsSent());
  auto stored = tokens_.Get(sim_->athlete_id());
  ASSERT_TRUE(stored) << "the seed's rotation was stored under the athlete";
  EXPECT_NE(stored->refresh_token, "sim-refresh-token");
}

TEST_F(SessionSimTest, EveryRotationIsPersistedSoALaterRunCanRefresh) {
  sim::SimOptions o;
  o.token_lifetime_s = 200;  // inside the 300 s margin: every call refreshes
  Start(o);
  {
    app::StravaSession first = Session(Options());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(first.ListActivities(ports::ListQuery{std::nullopt, 0, 1, 5}));
  }
  EXPECT_GE(sim_->Stats().oauth_requests, 4);
  app::SessionOptions later = Options();
  later.seed_refresh_token.clear();  // a new run: only the store
  app::StravaSession second = Session(later);
  auto r = second.ListActivities(ports::ListQuery{std::nullopt, 0, 1, 5});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->size(), 5u);
}

TEST_F(SessionSimTest, ListsCompletelyThroughAHighFaultRate) {
  sim::SimOptions o;
  o.faults.rate = 0.3;
  o.faults.kinds = {sim::FaultKind::kHttp500, sim::FaultKind::kHttp502, sim::FaultKind::kHttp503,
                    sim::FaultKind::kTruncate, sim::FaultKind::kReset};
  o.faults.seed = 5;
  Start(o);
  app::SessionOptions so = Options();
  so.max_attempts = 12;
  app::StravaSession s = Session(so);
  auto ids = ListAll(s, 20);
  ASSERT_TRUE(ids) << ids.error().message;
  EXPECT_EQ(ids->size(), sim_->ActivityCount());
  EXPECT_GT(sim_->Stats().faults, 0);
  EXPECT_GT(observer_.retries, 0);
}

TEST_F(SessionSimTest, InactiveApplicationStopsAfterOneRequest) {
  sim::SimOptions o;
  o.faults.inactive = true;
  Start(o);
  app::StravaSession s = Session(Options());
  auto r = s.ListActivities(ports::ListQuery{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInactiveApp) << r.error().message;
  EXPECT_EQ(sim_->Stats().api_requests, 1);
}

TEST_F(SessionSimTest, MissingScopeStopsWithoutRetrying) {
  sim::SimOptions o;
  o.scopes = "read";
  Start(o);
  app::SessionOptions so = Options();
  so.athlete_id = sim_->athlete_id();
  app::StravaSession s = Session(so);
  auto r = s.ListActivities(ports::ListQuery{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kMissingScope) << r.error().message;
  EXPECT_NE(r.error().message.find("desirelines auth"), std::string::npos);
  EXPECT_EQ(sim_->Stats().api_requests, 1);
}

TEST_F(SessionSimTest, ASpentDailyBudgetEndsTheCallWithoutAskingStrava) {
  sim::SimOptions o;
  o.limits = sim::RateLimits{100, 1000, 50, 3};
  Start(o);
  app::SessionOptions so = Options();
  so.athlete_id = sim_->athlete_id();
  app::StravaSession s = Session(so);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.ListActivities(ports::ListQuery{std::nullopt, 0, 1, 5}));
  auto r = s.ListActivities(ports::ListQuery{std::nullopt, 0, 2, 5});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDailyRateLimited) << r.error().message;
  EXPECT_NE(r.error().message.find("T00:00:00Z"), std::string::npos) << r.error().message;
  EXPECT_EQ(sim_->Stats().api_requests, 3);
  EXPECT_EQ(sim_->Stats().rate_limited, 0);
}

}  // namespace
}  // namespace dl::adapters::strava_http
