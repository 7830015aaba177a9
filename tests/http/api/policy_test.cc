// The HTTP policy helpers, without a server: ETag matching, bearer tokens,
// the constant-time comparison and CORS decisions.
#include "http/api/http_policy.h"

#include <gtest/gtest.h>

namespace dl::http::api {
namespace {

Request WithHeaders(std::vector<std::pair<std::string, std::string>> headers) {
  Request r;
  r.method = "GET";
  r.headers = std::move(headers);
  return r;
}

std::string HeaderOf(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

TEST(HttpPolicyTest, EtagIsAStableQuotedHashOfTheBody) {
  EXPECT_EQ(BodyEtag(""), "\"cbf29ce484222325\"");  // the FNV-1a 64 offset basis
  EXPECT_EQ(BodyEtag("a"), "\"af63dc4c8601ec8c\"");  // FNV-1a 64 of "a", a published test vector
  EXPECT_NE(BodyEtag("{\"a\":1}"), BodyEtag("{\"a\":2}"));
}

TEST(HttpPolicyTest, IfNoneMatchListsAndWeakTags) {
  EXPECT_TRUE(EtagMatches("\"abc\"", "\"abc\""));
  EXPECT_TRUE(EtagMatches("\"x\", W/\"abc\" ,\"y\"", "\"abc\""));
  EXPECT_TRUE(EtagMatches(" * ", "\"abc\""));
  EXPECT_FALSE(EtagMatches("\"abcd\"", "\"abc\""));
  EXPECT_FALSE(EtagMatches("", "\"abc\""));
}

TEST(HttpPolicyTest, ConditionalTurnsAMatchInto304) {
  auto req = WithHeaders({{"if-none-match", BodyEtag("body")}});
  Response r = Conditional(req, Response::Json(200, "body"), kNoCache);
  EXPECT_EQ(r.status, 304);
  EXPECT_TRUE(r.body.empty());
  Response miss = Conditional(WithHeaders({}), Response::Json(200, "body"), kNoCache);
  EXPECT_EQ(miss.status, 200);
  EXPECT_EQ(HeaderOf(miss, "ETag"), BodyEtag("body"));
  Response error = Conditional(req, Response::Error(404, "x"), kNoCache);
  EXPECT_EQ(error.status, 404);
  EXPECT_EQ(HeaderOf(error, "Cache-Control"), "no-store");
  EXPECT_EQ(HeaderOf(error, "ETag"), "");
}

TEST(HttpPolicyTest, BearerTokens) {
  EXPECT_EQ(BearerToken(WithHeaders({{"Authorization", "Bearer abc"}})), "abc");
  EXPECT_EQ(BearerToken(WithHeaders({{"authorization", "bearer  abc "}})), "abc");
  EXPECT_FALSE(BearerToken(WithHeaders({{"Authorization", "Basic abc"}})).has_value());
  EXPECT_FALSE(BearerToken(WithHeaders({{"Authorization", "Bearer"}})).has_value());
  EXPECT_FALSE(BearerToken(WithHeaders({})).has_value());
}

TEST(HttpPolicyTest, TokensEqualOnlyWhenIdentical) {
  EXPECT_TRUE(TokensEqual("secret", "secret"));
  EXPECT_FALSE(TokensEqual("secreT", "secret"));
  EXPECT_FALSE(TokensEqual("secret2", "secret"));
  EXPECT_FALSE(TokensEqual("secre", "secret"));
  EXPECT_FALSE(TokensEqual("", ""));  // an empty token never opens anything
}

TEST(HttpPolicyTest, CorsNeedsAnExactOrigin) {
  const std::vector<std::string> allowed{"https://a.example"};
  Response r;
  ApplyCors(WithHeaders({{"Origin", "https://a.example.evil"}}), r, allowed);
  EXPECT_EQ(HeaderOf(r, "Access-Control-Allow-Origin"), "");
  Response ok;
  ApplyCors(WithHeaders({{"Origin", "https://a.example"}}), ok, allowed);
  EXPECT_EQ(HeaderOf(ok, "Access-Control-Allow-Origin"), "https://a.example");
  Response closed;
  ApplyCors(WithHeaders({{"Origin", "https://a.example"}}), closed, {});
  EXPECT_TRUE(closed.headers.empty());
}

}  // namespace
}  // namespace dl::http::api
