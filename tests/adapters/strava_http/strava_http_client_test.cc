// StravaHttpClient against a tiny scripted HTTP server (cpp-httplib) on port
// 0: what goes over the wire, and how every kind of answer comes back.
#include "adapters/strava_http/strava_http_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "fixtures.h"

namespace dl::adapters::strava_http {
namespace {

using namespace fixtures;
using namespace std::chrono_literals;

constexpr const char* kSecret = "s3cret-client-secret";

struct Seen {
  std::string method, path, body, authorization, content_type;
  std::multimap<std::string, std::string> params;
  int remote_port = 0;
  std::string Param(const std::string& k) const {
    auto it = params.find(k);
    return it == params.end() ? "<absent>" : it->second;
  }
};

// A scripted server: handlers by "METHOD /path"; records every request.
class ScriptedServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  ScriptedServer() {
    server_.set_tcp_nodelay(true);
    auto route = [this](const httplib::Request& req, httplib::Response& res) { Dispatch(req, res); };
    server_.Get(".*", route);
    server_.Post(".*", route);
    server_.Delete(".*", route);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  }
  ~ScriptedServer() {
    Release();
    server_.stop();
    thread_.join();
  }

  void On(const std::string& method_path, Handler h) {
    std::lock_guard lock(mu_);
    handlers_[method_path] = std::move(h);
  }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  Seen last() const {
    auto all = seen();
    return all.empty() ? Seen{} : all.back();
  }
  int port() const { return port_; }
  bool running() const { return server_.is_running(); }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Blocks a handler until Release() (or 10 s): a server too slow to answer.
  void Stall() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 10s, [this] { return released_; });
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  void Dispatch(const httplib::Request& req, httplib::Response& res) {
    Handler h;
    {
      std::lock_guard lock(mu_);
      Seen s{req.method, req.path, req.body, req.get_header_value("Authorization"),
             req.get_header_value("Content-Type"), {}, req.remote_port};
      for (const auto& [k, v] : req.params) s.params.emplace(k, v);
      seen_.push_back(std::move(s));
      auto it = handlers_.find(req.method + " " + req.path);
      if (it != handlers_.end()) h = it->second;
    }
    if (h) {
      h(req, res);
    } else {
      res.status = 404;
      res.set_content(R"({"message":"Record Not Found"})", "application/json");
    }
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::map<std::string, Handler> handlers_;
  std::vector<Seen> seen_;
};

ScriptedServer::Handler Reply(int status, std::string body, httplib::Headers headers = {}) {
  return [=](const httplib::Request&, httplib::Response& res) {
    res.status = status;
    for (const auto& [k, v] : headers) res.set_header(k.c_str(), v);
    res.set_content(body, "application/json; charset=utf-8");
  };
}

// As Strava spells them on the wire (not the documented capitalisation).
httplib::Headers RateHeaders(const std::string& usage, const std::string& read_usage) {
  return {{"x-ratelimit-limit", "200,2000"},
          {"X-Ratelimit-Usage", usage},
          {"X-Readratelimit-Limit", "100,1000"},
          {"x-readratelimit-usage", read_usage}};
}

class StravaHttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.running()); }
  StravaHttpOptions Options() const {
    StravaHttpOptions o;
    o.api_url = server_.base() + "/api/v3/";
    o.oauth_url = server_.base() + "/oauth";
    o.client_id = "12345";
    o.client_secret = kSecret;
    o.connect_timeout_ms = 2000;
    o.total_timeout_ms = 5000;
    return o;
  }
  ScriptedServer server_;
};

TEST_F(StravaHttpClientTest, ListActivitiesSendsTheQueryAndBearerAndParsesThePage) {
  std::string page = "[" + std::string(kRide) + "," + kRun + "]";
  server_.On("GET /api/v3/athlete/activities", Reply(200, page, RateHeaders("8,151", "7,150")));
  StravaHttpClient client(Options());
  ports::ListQuery q{1700000000, 1600000000, 2, 200};
  auto r = client.ListActivities("access-token-1", q);
  ASSERT_TRUE(r.value) << r.value.error().message;
  ASSERT_EQ(r.value->size(), 2u);
  EXPECT_EQ((*r.value)[0].raw_json, kRide);
  EXPECT_EQ((*r.value)[1].id, 16182345679);
  EXPECT_EQ(r.http_status, 200);
  ASSERT_TRUE(r.rate);
  EXPECT_EQ(r.rate->usage_15min, 8);
  EXPECT_EQ(r.rate->usage_daily, 151);
  EXPECT_EQ(r.rate->read_usage_daily, 150);
  EXPECT_TRUE(r.rate->has_read);
  Seen s = server_.last();
  EXPECT_EQ(s.method, "GET");
  EXPECT_EQ(s.path, "/api/v3/athlete/activities");
  EXPECT_EQ(s.Param("before"), "1700000000");
  EXPECT_EQ(s.Param("after"), "1600000000");
  EXPECT_EQ(s.Param("page"), "2");
  EXPECT_EQ(s.Param("per_page"), "200");
  EXPECT_EQ(s.Param("client_secret"), "<absent>");
  EXPECT_EQ(s.authorization, "Bearer access-token-1");
}

TEST_F(StravaHttpClientTest, OmitsAbsentBounds) {
  server_.On("GET /api/v3/athlete/activities", Reply(200, "[]"));
  StravaHttpClient client(Options());
  auto r = client.ListActivities("t", ports::ListQuery{});
  ASSERT_TRUE(r.value);
  EXPECT_TRUE(r.value->empty());
  EXPECT_FALSE(r.rate);
  EXPECT_EQ(server_.last().Param("after"), "<absent>");
  EXPECT_EQ(server_.last().Param("before"), "<absent>");
}

struct StatusCase {
  int status;
  const char* body;
  httplib::Headers headers;
  ErrorCode code;
};

TEST_F(StravaHttpClientTest, StatusesMapToCodesAndKeepTheRateHeaders) {
  const StatusCase cases[] = {
      {401, R"({"message":"Authorization Error","errors":[{"resource":"AccessToken","field":"activity:read_permission","code":"missing"}]})",
       RateHeaders("1,1", "1,1"), ErrorCode::kMissingScope},
      {401, R"({"message":"Authorization Error","errors":[{"resource":"Athlete","field":"access_token","code":"invalid"}]})",
       RateHeaders("1,1", "1,1"), ErrorCode::kUnauthorized},
      {403, R"({"message":"Forbidden","errors":[{"resource":"Application","field":"status","code":"inactive"}]})",
       RateHeaders("1,1", "1,1"), ErrorCode::kInactiveApp},
      {403, R"({"message":"Forbidden"})", {}, ErrorCode::kForbidden},
      {404, R"({"message":"Record Not Found","errors":[{"resource":"Activity","field":"id","code":"invalid"}]})",
       RateHeaders("1,1", "1,1"), ErrorCode::kNotFound},
      {429, R"({"message":"Rate Limit Exceeded","errors":[{"resource":"Application","field":"rate limit","code":"exceeded"}]})",
       RateHeaders("201,900", "101,800"), ErrorCode::kRateLimited},
      {429, R"({"message":"Rate Limit Exceeded","errors":[{"resource":"Application","field":"read rate limit","code":"exceeded"}]})",
       RateHeaders("20,900", "10,1000"), ErrorCode::kDailyRateLimited},
      {429, R"({"errors":"Rate Limit Exceeded","status":429,"message":"Too Many Requests"})", {}, ErrorCode::kRateLimited},
      {500, R"({"message":"error"})", {}, ErrorCode::kTransient},
      {502, "<html>bad gateway</html>", {}, ErrorCode::kTransient},
      {503, "", RateHeaders("3,3", "3,3"), ErrorCode::kTransient},
  };
  StravaHttpClient client(Options());
  for (const StatusCase& c : cases) {
    server_.On("GET /api/v3/activities/77", Reply(c.status, c.body, c.headers));
    auto r = client.GetActivity("tok", 77);
    ASSERT_FALSE(r.value) << c.status;
    EXPECT_EQ(r.value.error().code, c.code) << c.status << " " << c.body << ": " << r.value.error().message;
    EXPECT_EQ(r.http_status, c.status);
    EXPECT_EQ(r.rate.has_value(), !c.headers.empty()) << c.status << " " << c.body;
  }
}

TEST_F(StravaHttpClientTest, GetActivityAndGetAthleteParse) {
  server_.On("GET /api/v3/activities/16182345678", Reply(200, kDetailed, RateHeaders("2,2", "2,2")));
  server_.On("GET /api/v3/athlete", Reply(200, R"({"id":134815,"firstname":"Ann","lastname":"Lee"})"));
  StravaHttpClient client(Options());
  auto a = client.GetActivity("tok", 16182345678);
  ASSERT_TRUE(a.value) << a.value.error().message;
  EXPECT_EQ(a.value->calories, 870.4);
  EXPECT_EQ(a.value->raw_json, kDetailed);
  auto who = client.GetAthlete("tok");
  ASSERT_TRUE(who.value) << who.value.error().message;
  EXPECT_EQ(who.value->id, 134815);
  EXPECT_EQ(server_.last().authorization, "Bearer tok");
}

TEST_F(StravaHttpClientTest, RefreshPostsTheFormAndParsesTheRotatedTokens) {
  server_.On("POST /oauth/token",
             Reply(200, R"({"token_type":"Bearer","access_token":"a2","expires_at":1542940199,"expires_in":14282,"refresh_token":"r2"})"));
  StravaHttpClient client(Options());
  auto r = client.Refresh("refresh+token/1=");
  ASSERT_TRUE(r.value) << r.value.error().message;
  EXPECT_EQ(r.value->access_token, "a2");
  EXPECT_EQ(r.value->refresh_token, "r2");
  EXPECT_EQ(r.value->expires_at_epoch_s, 1542940199);
  EXPECT_FALSE(r.rate) << "/oauth answers carry no rate headers";
  Seen s = server_.last();
  EXPECT_EQ(s.method, "POST");
  EXPECT_EQ(s.content_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(s.authorization, "");
  EXPECT_NE(s.body.find("grant_type=refresh_token"), std::string::npos) << s.body;
  EXPECT_NE(s.body.find("refresh_token=refresh%2Btoken%2F1%3D"), std::string::npos) << s.body;
  EXPECT_NE(s.body.find("client_id=12345"), std::string::npos) << s.body;
  EXPECT_NE(s.body.find(std::string("client_secret=") + kSecret), std::string::npos) << s.body;
}

TEST_F(StravaHttpClientTest, RejectedRefreshIsUnauthorizedAndNamesNoSecret) {
  server_.On("POST /oauth/token",
             Reply(400, R"({"message":"Bad Request","errors":[{"resource":"RefreshToken","field":"refresh_token","code":"invalid"}]})"));
  StravaHttpClient client(Options());
  auto r = client.Refresh("my-old-refresh-token");
  ASSERT_FALSE(r.value);
  EXPECT_EQ(r.value.error().code, ErrorCode::kUnauthorized);
  EXPECT_NE(r.value.error().message.find("RefreshToken/refresh_token/invalid"), std::string::npos);
  EXPECT_EQ(r.value.error().message.find("my-old-refresh-token"), std::string::npos);
  EXPECT_EQ(r.value.error().message.find(kSecret), std::string::npos);
}

TEST_F(StravaHttpClientTest, ExchangeCodeSendsTheGrantAndReadsTheAthlete) {
  server_.On("POST /oauth/token",
             Reply(200, R"({"token_type":"Bearer","expires_at":1608060738,"expires_in":21600,"refresh_token":"r1","access_token":"a1","athlete":{"id":6958432}})"));
  StravaHttpClient client(Options());
  auto r = client.ExchangeCode("code-abc");
  ASSERT_TRUE(r.value) << r.value.error().message;
  EXPECT_EQ(r.value->athlete_id, 6958432);
  Seen s = server_.last();
  EXPECT_EQ(s.Param("grant_type"), "authorization_code");
  EXPECT_EQ(s.Param("code"), "code-abc");
  EXPECT_EQ(s.Param("client_id"), "12345");
}

TEST_F(StravaHttpClientTest, SubscriptionsCarryTheApplicationCredentials) {
  server_.On("POST /api/v3/push_subscriptions", Reply(200, R"({"id":120475})"));
  server_.On("GET /api/v3/push_subscriptions",
             Reply(200, R"([{"id":120475,"resource_state":2,"application_id":12345,"callback_url":"https://cb.test/webhook"}])"));
  server_.On("DELETE /api/v3/push_subscriptions/120475", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  StravaHttpClient client(Options());

  auto created = client.CreateSubscription("https://cb.test/webhook", "verify-me");
  ASSERT_TRUE(created.value) << created.value.error().message;
  EXPECT_EQ(*created.value, 120475);
  Seen post = server_.last();
  EXPECT_EQ(post.Param("callback_url"), "https://cb.test/webhook");
  EXPECT_EQ(post.Param("verify_token"), "verify-me");
  EXPECT_EQ(post.Param("client_secret"), kSecret);

  auto list = client.ListSubscriptions();
  ASSERT_TRUE(list.value) << list.value.error().message;
  ASSERT_EQ(list.value->size(), 1u);
  EXPECT_EQ((*list.value)[0].callback_url, "https://cb.test/webhook");
  EXPECT_EQ(server_.last().Param("client_id"), "12345");

  auto deleted = client.DeleteSubscription(120475);
  ASSERT_TRUE(deleted.value) << deleted.value.error().message;
  EXPECT_EQ(deleted.http_status, 204);
  EXPECT_EQ(server_.last().method, "DELETE");
  EXPECT_EQ(server_.last().Param("client_secret"), kSecret);

  server_.On("POST /api/v3/push_subscriptions",
             Reply(400, R"({"message":"Bad Request","errors":[{"resource":"PushSubscription","field":"","code":"already exists"}]})"));
  auto again = client.CreateSubscription("https://cb.test/webhook", "verify-me");
  ASSERT_FALSE(again.value);
  EXPECT_EQ(again.value.error().code, ErrorCode::kConflict);
}

TEST_F(StravaHttpClientTest, MalformedAndTruncatedBodiesAreTransient) {
  std::string page = MakePage(3);
  server_.On("GET /api/v3/athlete/activities", Reply(200, page.substr(0, page.size() / 2)));
  StravaHttpClient client(Options());
  auto cut = client.ListActivities("t", {});
  ASSERT_FALSE(cut.value);
  EXPECT_EQ(cut.value.error().code, ErrorCode::kTransient);
  EXPECT_NE(cut.value.error().message.find("malformed"), std::string::npos) << cut.value.error().message;

  // The connection closes before Content-Length bytes arrived.
  server_.On("GET /api/v3/athlete/activities", [page](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(page.size(), "application/json", [page](size_t offset, size_t, httplib::DataSink& sink) {
      if (offset > 0) return false;
      sink.write(page.data(), page.size() / 3);
      return true;
    });
  });
  auto partial = client.ListActivities("t", {});
  ASSERT_FALSE(partial.value);
  EXPECT_EQ(partial.value.error().code, ErrorCode::kTransient) << partial.value.error().message;
}

TEST_F(StravaHttpClientTest, ATimeoutIsTransient) {
  server_.On("GET /api/v3/athlete", [this](const httplib::Request&, httplib::Response& res) {
    server_.Stall();
    res.set_content("{}", "application/json");
  });
  StravaHttpOptions o = Options();
  o.total_timeout_ms = 200;
  StravaHttpClient client(o);
  auto start = std::chrono::steady_clock::now();
  auto r = client.GetAthlete("t");
  auto took = std::chrono::steady_clock::now() - start;
  server_.Release();
  ASSERT_FALSE(r.value);
  EXPECT_EQ(r.value.error().code, ErrorCode::kTransient) << r.value.error().message;
  EXPECT_EQ(r.http_status, 0);
  EXPECT_LT(took, 3s);
}

TEST_F(StravaHttpClientTest, ARefusedConnectionIsTransientAndShowsNoSecret) {
  int closed_port = 0;
  {
    ScriptedServer gone;
    closed_port = gone.port();
  }
  StravaHttpOptions o = Options();
  o.api_url = "http://127.0.0.1:" + std::to_string(closed_port) + "/api/v3";
  StravaHttpClient client(o);
  auto r = client.ListSubscriptions();  // its URL carries the client secret
  ASSERT_FALSE(r.value);
  EXPECT_EQ(r.value.error().code, ErrorCode::kTransient);
  EXPECT_EQ(r.http_status, 0);
  EXPECT_FALSE(r.rate);
  EXPECT_NE(r.value.error().message.find("GET /api/v3/push_subscriptions"), std::string::npos) << r.value.error().message;
  EXPECT_EQ(r.value.error().message.find(kSecret), std::string::npos) << r.value.error().message;
  EXPECT_EQ(r.value.error().message.find("client_secret"), std::string::npos) << r.value.error().message;
}

TEST_F(StravaHttpClientTest, ReusesOneConnectionAcrossRequests) {
  server_.On("GET /api/v3/athlete", Reply(200, R"({"id":1})"));
  StravaHttpClient client(Options());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client.GetAthlete("t").value);
  auto seen = server_.seen();
  ASSERT_EQ(seen.size(), 5u);
  for (const Seen& s : seen) EXPECT_EQ(s.remote_port, seen[0].remote_port) << "a new connection per request";
}

TEST_F(StravaHttpClientTest, AnOversizedBodyIsRefused) {
  server_.On("GET /api/v3/athlete/activities", Reply(200, MakePage(20)));
  StravaHttpOptions o = Options();
  o.max_body_bytes = 4096;
  StravaHttpClient client(o);
  auto r = client.ListActivities("t", {});
  ASSERT_FALSE(r.value);
  EXPECT_EQ(r.value.error().code, ErrorCode::kProtocol) << r.value.error().message;
}

TEST(UrlEncode, KeepsUnreservedAndEscapesTheRest) {
  EXPECT_EQ(UrlEncode("aZ09-_.~"), "aZ09-_.~");
  EXPECT_EQ(UrlEncode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
  EXPECT_EQ(UrlEncode(""), "");
}

}  // namespace
}  // namespace dl::adapters::strava_http
