// The webhook endpoint on the real server (port 0), driven with libcurl and
// raw sockets; the queue is the in-memory fake, inspected after each request.
#include "http/webhook/webhook_routes.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "fakes/fake_clock.h"
#include "fakes/in_memory_event_queue.h"
#include "http/http_test_client.h"
#include "http/webhook/webhook_cases.h"

namespace dl::http::webhook {
namespace {

using std::chrono::milliseconds;
using testing::BaseEvent;
using testing::InvalidCases;
using testing::Json;
using testing::kOwnerId;
using testing::kSubscriptionId;
using testing::With;
using http::testing::Curl;
using http::testing::CurlResult;
using http::testing::RawConn;

constexpr const char* kToken = "s3cret-verify-token";

class WebhookServer {
 public:
  explicit WebhookServer(WebhookOptions options, ServerOptions server_options = {}) : intake_(queue_, clock_) {
    context_.options = std::move(options);
    context_.intake = &intake_;
    context_.athlete_filter = [this](int64_t owner) -> Result<bool> {
      ++filter_calls_;
      if (filter_fails_) return Fail(ErrorCode::kIo, "database is locked at /var/secret/store.db");
      return owner == kOwnerId;
    };
    context_.ready = [this]() -> Status {
      if (!ready_) return Fail(ErrorCode::kIo, "attempt to write a readonly database");
      return Ok();
    };
    context_.log = [this](std::string_view line) {
      std::lock_guard lock(log_mu_);
      log_.emplace_back(line);
    };
    auto router = std::make_shared<Router>();
    RegisterWebhookRoutes(*router, context_);
    server_options.worker_threads = 8;
    server_ = std::make_unique<Server>(server_options, router);
    auto started = server_->Start();
    if (!started) throw std::runtime_error(started.error().message);
  }
  ~WebhookServer() { server_->Stop(); }  // before the intake and queue go

  std::string Url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + target;
  }
  uint16_t port() const { return server_->port(); }
  std::vector<std::string> Log() {
    std::lock_guard lock(log_mu_);
    return log_;
  }

  fakes::InMemoryEventQueue queue_;
  fakes::FakeClock clock_;
  app::Intake intake_;
  WebhookContext context_;
  std::atomic<int> filter_calls_{0};
  std::atomic<bool> filter_fails_{false};
  std::atomic<bool> ready_{true};

 private:
  std::mutex log_mu_;
  std::vector<std::string> log_;
  std::unique_ptr<Server> server_;
};

WebhookOptions Options() {
  WebhookOptions o;
  o.path = "/hooks/x7Q";
  o.verify_token = kToken;
  o.subscription_id = kSubscriptionId;
  return o;
}

class WebhookRoutesTest : public ::testing::Test {
 protected:
  CurlResult Post(const std::string& body) { return curl_.Fetch("POST", s_.Url("/hooks/x7Q"), body); }
  CurlResult Get(const std::string& target) { return curl_.Fetch("GET", s_.Url(target)); }

  WebhookServer s_{Options()};
  Curl curl_;
};

std::string ErrorBody(const std::string& message) { return Json{{"error", message}}.dump(); }

TEST_F(WebhookRoutesTest, AcceptedEventIsQueuedBeforeThe200) {
  auto r = Post(BaseEvent().dump());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"queued"})");
  // Synchronous: the event is in the queue when the answer arrives.
  auto all = s_.queue_.AllQueued();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].event.object_id, 1360128428);
  EXPECT_EQ(all[0].event.title, "Messy");
  EXPECT_EQ(all[0].received_at, fakes::FakeClock::kDefaultStartEpochS);
}

TEST_F(WebhookRoutesTest, StravasRetryIsAcknowledgedAndNotQueuedTwice) {
  EXPECT_EQ(Post(BaseEvent().dump()).body, R"({"status":"queued"})");
  for (int i = 0; i < 2; ++i) {
    auto r = Post(BaseEvent().dump());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"status":"duplicate"})");
  }
  EXPECT_EQ(s_.queue_.QueuedCount(), 1u);
  // A later change of the same activity is a new event.
  EXPECT_EQ(Post(With("event_time", 1516126041)).body, R"({"status":"queued"})");
  EXPECT_EQ(s_.queue_.QueuedCount(), 2u);
}

TEST_F(WebhookRoutesTest, EveryInvalidBodyIs400WithItsMessageAndNothingQueued) {
  for (const auto& c : InvalidCases()) {
    SCOPED_TRACE(c.name);
    auto r = Post(c.body);
    EXPECT_EQ(r.status, 400);
    auto body = Json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << r.body;
    const std::string message = body.value("error", "");
    if (c.prefix_only) {
      EXPECT_TRUE(message.starts_with(c.message)) << message;
      EXPECT_NE(message.find(c.fragment), std::string::npos) << message;
    } else {
      EXPECT_EQ(message, c.message);
    }
  }
  EXPECT_EQ(s_.queue_.EnqueueCalls(), 0);
  EXPECT_EQ(s_.queue_.QueuedCount(), 0u);
  EXPECT_EQ(s_.filter_calls_.load(), 0);  // the athlete check comes last
}

TEST_F(WebhookRoutesTest, OversizedBodyIs413EvenWhenMalformed) {
  const std::string malformed_and_big = "{" + std::string(17 * 1024, 'x');
  EXPECT_EQ(Post(malformed_and_big).status, 413);
  // A valid event padded with an unknown key past 16 KiB.
  Json big = BaseEvent();
  big["padding"] = std::string(16 * 1024, 'p');
  EXPECT_EQ(Post(big.dump()).status, 413);
  EXPECT_EQ(s_.queue_.EnqueueCalls(), 0);
}

TEST_F(WebhookRoutesTest, ChecksRunInOrderSyntaxFieldsSubscriptionAthlete) {
  // Malformed and from another subscription: 400.
  std::string malformed = With("subscription_id", 999);
  malformed.pop_back();
  EXPECT_EQ(Post(malformed).status, 400);
  // Invalid field and another subscription: 400.
  Json bad_field = Json::parse(With("subscription_id", 999));
  bad_field["object_id"] = 0;
  auto r = Post(bad_field.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, ErrorBody("object_id must be a positive integer"));
  // Valid, another subscription and an unknown athlete: 403, athlete not looked up.
  Json wrong_sub = Json::parse(With("subscription_id", 999));
  wrong_sub["owner_id"] = 5555;
  r = Post(wrong_sub.dump());
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, ErrorBody("subscription_id does not match"));
  EXPECT_EQ(s_.filter_calls_.load(), 0);
  EXPECT_EQ(s_.queue_.EnqueueCalls(), 0);
}

TEST_F(WebhookRoutesTest, UnknownAthleteIsAcknowledgedDroppedAndLoggedByOwnerIdOnly) {
  auto r = Post(With("owner_id", 5555));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"ignored"})");
  EXPECT_EQ(s_.queue_.EnqueueCalls(), 0);
  auto log = s_.Log();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back(), "webhook: dropped an event for unknown athlete 5555");
}

TEST_F(WebhookRoutesTest, AthleteLookupFailureIs503WithoutDetail) {
  s_.filter_fails_ = true;
  auto r = Post(BaseEvent().dump());
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, ErrorBody("temporarily unavailable"));
  EXPECT_EQ(s_.queue_.EnqueueCalls(), 0);
  ASSERT_FALSE(s_.Log().empty());
  EXPECT_NE(s_.Log().back().find("database is locked"), std::string::npos);  // the operator sees why
}

TEST_F(WebhookRoutesTest, QueueFailureIs503AndNothingAcceptedThenTheRetrySucceeds) {
  s_.queue_.FailEnqueue(Error{ErrorCode::kIo, "disk I/O error at /var/secret/store.db"});
  auto r = Post(BaseEvent().dump());
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, ErrorBody("temporarily unavailable"));
  EXPECT_EQ(r.body.find("secret"), std::string::npos);
  EXPECT_EQ(s_.queue_.QueuedCount(), 0u);
  EXPECT_EQ(s_.intake_.Stats().events_committed, 0u);
  // Strava retries; once the store is back the same event is queued, not a duplicate.
  s_.queue_.ClearFailure();
  EXPECT_EQ(Post(BaseEvent().dump()).body, R"({"status":"queued"})");
  EXPECT_EQ(s_.queue_.QueuedCount(), 1u);
}

TEST_F(WebhookRoutesTest, ValidationEchoesTheChallengeAsJson) {
  auto r = Get(std::string("/hooks/x7Q?hub.mode=subscribe&hub.challenge=15f7d1a91c1f40f8a748fd134752feb3"
                           "&hub.verify_token=") + kToken);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"hub.challenge":"15f7d1a91c1f40f8a748fd134752feb3"})");
  EXPECT_NE(r.headers.find("Content-Type: application/json"), std::string::npos) << r.headers;
  // Quotes, backslashes and control characters are escaped (percent-encoded on the wire).
  r = Get(std::string("/hooks/x7Q?hub.mode=subscribe&hub.challenge=a%22b%5Cc%0Ad%3C&hub.verify_token=") + kToken);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"hub.challenge":"a\"b\\c\nd<"})");
  EXPECT_EQ(Json::parse(r.body)["hub.challenge"], "a\"b\\c\nd<");
}

TEST_F(WebhookRoutesTest, ValidationRejectsWrongModeAndWrongTokenWithoutEchoingIt) {
  const std::string good = std::string("&hub.challenge=c&hub.verify_token=") + kToken;
  struct Case {
    std::string query;
    long status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"hub.mode=unsubscribe" + good, 400, R"(hub.mode must be "subscribe")"},
      {good.substr(1), 400, R"(hub.mode must be "subscribe")"},
      {"hub.mode=subscribe&hub.challenge=c&hub.verify_token=wrong", 403, "hub.verify_token does not match"},
      {"hub.mode=subscribe&hub.challenge=c&hub.verify_token=s3cret-verify-toke", 403,
       "hub.verify_token does not match"},
      {"hub.mode=subscribe&hub.challenge=c&hub.verify_token=s3cret-verify-tokenX", 403,
       "hub.verify_token does not match"},
      {"hub.mode=subscribe&hub.challenge=c", 403, "hub.verify_token does not match"},
      {"hub.mode=subscribe&hub.verify_token=" + std::string(kToken), 400, "hub.challenge is missing"},
      {"hub.mode=subscribe&hub.challenge=%C3%A9&hub.verify_token=" + std::string(kToken), 400,
       "hub.challenge must be at most 1024 ASCII characters"},
      {"hub.mode=subscribe&hub.challenge=" + std::string(1025, 'c') + "&hub.verify_token=" + kToken, 400,
       "hub.challenge must be at most 1024 ASCII characters"},
      // Wrong token and no challenge: the token is checked first.
      {"hub.mode=subscribe&hub.verify_token=wrong", 403, "hub.verify_token does not match"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.query);
    auto r = Get("/hooks/x7Q?" + c.query);
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.body, ErrorBody(c.message));
    EXPECT_EQ(r.body.find(kToken), std::string::npos);
  }
  for (const auto& line : s_.Log()) EXPECT_EQ(line.find(kToken), std::string::npos) << line;
}

TEST_F(WebhookRoutesTest, HeadOfTheWebhookAndHealthAre200) {
  auto head = curl_.Fetch("HEAD", s_.Url("/hooks/x7Q"));
  EXPECT_EQ(head.code, CURLE_OK);
  EXPECT_EQ(head.status, 200);
  auto health = Get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, R"({"status":"ok"})");
  EXPECT_EQ(Get("/webhook").status, 404);  // only the configured path
}

TEST_F(WebhookRoutesTest, ReadyzFollowsTheStore) {
  auto r = Get("/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"ready"})");
  s_.ready_ = false;
  r = Get("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, ErrorBody("not ready"));
  s_.ready_ = true;
  EXPECT_EQ(Get("/readyz").status, 200);
}

TEST_F(WebhookRoutesTest, ConcurrentClientsEachEventQueuedOnceInSharedCommits) {
  s_.queue_.SetCommitLatency(std::chrono::microseconds(300));  // models an fsync
  constexpr int kClients = 8, kPerClient = 60;
  std::atomic<int> queued{0}, duplicate{0}, other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      Curl curl;  // one kept-alive connection per client
      for (int i = 0; i < kPerClient; ++i) {
        const std::string body = With("object_id", int64_t{c} * 100000 + i + 1);
        for (int copy = 0; copy < (i % 4 == 0 ? 2 : 1); ++copy) {
          auto r = curl.Fetch("POST", s_.Url("/hooks/x7Q"), body);
          if (r.status == 200 && r.body == R"({"status":"queued"})") ++queued;
          else if (r.status == 200 && r.body == R"({"status":"duplicate"})") ++duplicate;
          else ++other;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(queued.load(), kClients * kPerClient);
  EXPECT_EQ(duplicate.load(), kClients * kPerClient / 4);
  auto all = s_.queue_.AllQueued();
  std::set<int64_t> ids;
  for (const auto& q : all) ids.insert(q.event.object_id);
  EXPECT_EQ(ids.size(), size_t{kClients * kPerClient});
  EXPECT_EQ(all.size(), ids.size());
  EXPECT_GT(s_.intake_.Stats().largest_batch, 1u);
}

TEST(WebhookRoutes, HandlerChecksTheSizeItselfWhenTheServerAllowsMore) {
  fakes::InMemoryEventQueue queue;
  fakes::FakeClock clock;
  app::Intake intake(queue, clock);
  WebhookContext context;
  context.options = Options();
  context.options.max_body_bytes = 300;
  context.intake = &intake;
  Router router;
  RegisterWebhookRoutes(router, context);
  Request request;
  request.method = "POST";
  request.path = "/hooks/x7Q";
  Json big = BaseEvent();
  big["padding"] = std::string(300, 'p');
  request.body = big.dump();
  EXPECT_EQ(router.Dispatch(request).status, 413);
  request.body = BaseEvent().dump();
  EXPECT_EQ(router.Dispatch(request).status, 200);
  EXPECT_EQ(queue.QueuedCount(), 1u);
}

TEST(WebhookRoutes, WithoutASubscriptionIdAnySubscriptionIsAcceptedAndAWarningLoggedOnce) {
  fakes::InMemoryEventQueue queue;
  fakes::FakeClock clock;
  app::Intake intake(queue, clock);
  std::vector<std::string> log;
  WebhookContext context;
  context.options.verify_token = kToken;  // path stays "/webhook"
  context.intake = &intake;
  context.log = [&](std::string_view line) { log.emplace_back(line); };
  Router router;
  RegisterWebhookRoutes(router, context);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("no subscription id configured"), std::string::npos);
  for (int64_t sub : {1, 999}) {
    Request request;
    request.method = "POST";
    request.path = "/webhook";
    request.body = With("subscription_id", sub);
    EXPECT_EQ(router.Dispatch(request).status, 200);
  }
  EXPECT_EQ(log.size(), 1u);
}

TEST(WebhookRoutes, WithoutAVerifyTokenValidationAlwaysFails) {
  fakes::InMemoryEventQueue queue;
  fakes::FakeClock clock;
  app::Intake intake(queue, clock);
  WebhookContext context;
  context.options.subscription_id = 1;
  context.intake = &intake;
  Router router;
  RegisterWebhookRoutes(router, context);
  Request request;
  request.method = "GET";
  request.path = "/webhook";
  request.query = {{"hub.mode", "subscribe"}, {"hub.verify_token", ""}, {"hub.challenge", "c"}};
  EXPECT_EQ(router.Dispatch(request).status, 403);
}

TEST(WebhookRoutes, ConstantTimeEqualsIsEquality) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abcd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", ""));
  EXPECT_FALSE(ConstantTimeEquals(std::string("ab\0", 3), "ab"));
}

TEST(WebhookRoutes, RegistrationRefusesAMissingIntakeOrABadPath) {
  WebhookContext context;
  Router router;
  EXPECT_THROW(RegisterWebhookRoutes(router, context), std::invalid_argument);
}

}  // namespace
}  // namespace dl::http::webhook
