#include "adapters/strava_http/strava_errors.h"

#include <gtest/gtest.h>

namespace dl::adapters::strava_http {
namespace {

TEST(ParseRateLimitHeaders, NamesAreMatchedInAnyCase) {
  // As real Strava sends them: "X-Ratelimit-Limit", not the documented case.
  HeaderList h = {{"Content-Type", "application/json"},
                  {"X-Ratelimit-Limit", "200,2000"},
                  {"x-ratelimit-usage", "8, 151"},
                  {"X-READRATELIMIT-LIMIT", "100,1000"},
                  {"X-Readratelimit-Usage", " 7,150 "}};
  auto r = ParseRateLimitHeaders(h);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->limit_15min, 200);
  EXPECT_EQ(r->limit_daily, 2000);
  EXPECT_EQ(r->usage_15min, 8);
  EXPECT_EQ(r->usage_daily, 151);
  EXPECT_TRUE(r->has_read);
  EXPECT_EQ(r->read_limit_15min, 100);
  EXPECT_EQ(r->read_limit_daily, 1000);
  EXPECT_EQ(r->read_usage_15min, 7);
  EXPECT_EQ(r->read_usage_daily, 150);
}

TEST(ParseRateLimitHeaders, AbsentOrUnreadable) {
  EXPECT_FALSE(ParseRateLimitHeaders({}));
  EXPECT_FALSE(ParseRateLimitHeaders({{"X-RateLimit-Limit", "200,2000"}})) << "usage missing";
  EXPECT_FALSE(ParseRateLimitHeaders({{"X-RateLimit-Limit", "200"}, {"X-RateLimit-Usage", "1,2"}}));
  EXPECT_FALSE(ParseRateLimitHeaders({{"X-RateLimit-Limit", "a,b"}, {"X-RateLimit-Usage", "1,2"}}));
  EXPECT_FALSE(ParseRateLimitHeaders({{"X-RateLimit-Limit", "-1,2"}, {"X-RateLimit-Usage", "1,2"}}));
  auto no_read = ParseRateLimitHeaders({{"X-RateLimit-Limit", "600,30000"}, {"X-RateLimit-Usage", "692,29300"},
                                        {"X-ReadRateLimit-Limit", "garbage"}});
  ASSERT_TRUE(no_read);
  EXPECT_FALSE(no_read->has_read);
  EXPECT_EQ(no_read->usage_15min, 692) << "usage may exceed the limit";
}

TEST(DailyBucketSpent, EitherFamily) {
  ports::RateLimitHeaders r{200, 2000, 5, 2000, 100, 1000, 5, 10, true};
  EXPECT_TRUE(DailyBucketSpent(r));
  r.usage_daily = 10;
  EXPECT_FALSE(DailyBucketSpent(r));
  r.read_usage_daily = 1001;
  EXPECT_TRUE(DailyBucketSpent(r));
  r.has_read = false;
  EXPECT_FALSE(DailyBucketSpent(r)) << "read counts only when the read headers came";
}

ports::RateLimitHeaders Usage(int64_t u15, int64_t ud, int64_t r15, int64_t rd) {
  return ports::RateLimitHeaders{200, 2000, u15, ud, 100, 1000, r15, rd, true};
}

struct MappingCase {
  int status;
  const char* body;
  Endpoint endpoint;
  std::optional<ports::RateLimitHeaders> rate;
  ErrorCode code;
  const char* says;  // a phrase the message must contain
};

TEST(MapHttpError, StatusAndBodyGiveTheCode) {
  const MappingCase cases[] = {
      {401, R"({"message":"Authorization Error","errors":[{"resource":"AccessToken","field":"activity:read_permission","code":"missing"}]})",
       Endpoint::kApi, std::nullopt, ErrorCode::kMissingScope, "activity:read_all"},
      {401, R"({"message":"Authorization Error","errors":[{"resource":"Athlete","field":"access_token","code":"invalid"}]})",
       Endpoint::kApi, std::nullopt, ErrorCode::kUnauthorized, "Athlete/access_token/invalid"},
      {401, "", Endpoint::kApi, std::nullopt, ErrorCode::kUnauthorized, "access token"},
      {403, R"({"message":"Forbidden","errors":[{"resource":"Application","field":"status","code":"inactive"}]})",
       Endpoint::kApi, std::nullopt, ErrorCode::kInactiveApp, "inactive"},
      {403, R"({"message":"limit of connected athletes exceeded"})", Endpoint::kApi, std::nullopt,
       ErrorCode::kForbidden, "limit of connected athletes exceeded"},
      {404, R"({"message":"Record Not Found","errors":[{"resource":"Activity","field":"id","code":"invalid"}]})",
       Endpoint::kApi, std::nullopt, ErrorCode::kNotFound, "Record Not Found"},
      {404, "", Endpoint::kApi, std::nullopt, ErrorCode::kNotFound, "no such record"},
      {429, R"({"message":"Rate Limit Exceeded","errors":[{"resource":"Application","field":"rate limit","code":"exceeded"}]})",
       Endpoint::kApi, Usage(201, 500, 20, 300), ErrorCode::kRateLimited, "15-minute"},
      {429, R"({"message":"Rate Limit Exceeded","errors":[{"resource":"Application","field":"read rate limit","code":"exceeded"}]})",
       Endpoint::kApi, Usage(50, 500, 101, 1000), ErrorCode::kDailyRateLimited, "daily"},
      {429, R"({"message":"Rate Limit Exceeded"})", Endpoint::kApi, Usage(10, 2001, 5, 10),
       ErrorCode::kDailyRateLimited, "UTC midnight"},
      {429, R"({"errors":"Rate Limit Exceeded","status":429,"message":"Too Many Requests"})", Endpoint::kApi,
       std::nullopt, ErrorCode::kRateLimited, "Too Many Requests"},
      {500, R"({"message":"error"})", Endpoint::kApi, std::nullopt, ErrorCode::kTransient, "HTTP 500"},
      {502, "<html>Bad Gateway</html>", Endpoint::kApi, std::nullopt, ErrorCode::kTransient, "HTTP 502"},
      {503, "", Endpoint::kApi, std::nullopt, ErrorCode::kTransient, "HTTP 503"},
      {408, "", Endpoint::kApi, std::nullopt, ErrorCode::kTransient, "HTTP 408"},
      {400, R"({"message":"Bad Request","errors":[{"resource":"RefreshToken","field":"refresh_token","code":"invalid"}]})",
       Endpoint::kOAuthToken, std::nullopt, ErrorCode::kUnauthorized, "RefreshToken/refresh_token/invalid"},
      {400, R"({"message":"Bad Request","errors":[{"resource":"AuthorizationCode","field":"code","code":"invalid"}]})",
       Endpoint::kOAuthToken, std::nullopt, ErrorCode::kUnauthorized, "AuthorizationCode/code/invalid"},
      {401, R"({"message":"Authorization Error","errors":[{"resource":"Application","field":"","code":"invalid"}]})",
       Endpoint::kOAuthToken, std::nullopt, ErrorCode::kUnauthorized, "client id or secret"},
      {400, R"({"message":"Bad Request","errors":[{"resource":"PushSubscription","field":"","code":"already exists"}]})",
       Endpoint::kSubscriptions, std::nullopt, ErrorCode::kConflict, "already exists"},
      {400, R"({"message":"Bad Request","errors":[{"resource":"PushSubscription","field":"callback url","code":"GET to callback URL does not return 200"}]})",
       Endpoint::kSubscriptions, std::nullopt, ErrorCode::kInvalidArgument, "does not return 200"},
      {418, "", Endpoint::kApi, std::nullopt, ErrorCode::kProtocol, "HTTP 418"},
      {400, R"({"message":"Bad Request","errors":[{"resource":"Activity","field":"after","code":"invalid"}]})",
       Endpoint::kApi, std::nullopt, ErrorCode::kProtocol, "Activity/after/invalid"},
      {422, "", Endpoint::kSubscriptions, std::nullopt, ErrorCode::kInvalidArgument, "HTTP 422"},
      {302, "", Endpoint::kApi, std::nullopt, ErrorCode::kProtocol, "HTTP 302"},
  };
  for (const MappingCase& c : cases) {
    Error e = MapHttpError(c.status, c.body, c.endpoint, c.rate);
    EXPECT_EQ(e.code, c.code) << c.status << " " << c.body << " -> " << ErrorCodeName(e.code) << ": " << e.message;
    EXPECT_NE(e.message.find(c.says), std::string::npos) << c.status << ": " << e.message;
  }
}

TEST(MapHttpError, PlainWordsForTheTwoUnretryableCases) {
  Error scope = MapHttpError(401, R"({"errors":[{"field":"activity:read_permission","code":"missing"}]})", Endpoint::kApi, {});
  EXPECT_NE(scope.message.find("desirelines auth"), std::string::npos) << scope.message;
  EXPECT_NE(scope.message.find("did not grant activity:read_all"), std::string::npos) << scope.message;
  Error inactive = MapHttpError(403, R"({"errors":[{"resource":"Application","field":"status","code":"inactive"}]})",
                                Endpoint::kApi, {});
  EXPECT_NE(inactive.message.find("application is inactive"), std::string::npos) << inactive.message;
}

TEST(MapHttpError, GarbageBodiesNeverCrash) {
  for (const char* body : {"", "{", "[1,2", "\"x\"", "{\"errors\":[[[[", "{\"errors\":{\"a\":1}}", "\xff\xfe"}) {
    for (int status : {400, 401, 403, 404, 429, 500}) {
      Error e = MapHttpError(status, body, Endpoint::kApi, std::nullopt);
      EXPECT_FALSE(e.message.empty());
    }
  }
}

}  // namespace
}  // namespace dl::adapters::strava_http
