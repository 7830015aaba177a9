#include "app/auth.h"

#include <gtest/gtest.h>

namespace dl::app {
namespace {

TEST(AuthTest, AuthorizeUrlAsksForActivityReadAll) {
  auto url = BuildAuthorizeUrl("https://www.strava.com/oauth", "12345", "http://127.0.0.1:8765/callback", "s1");
  EXPECT_EQ(url,
            "https://www.strava.com/oauth/authorize?client_id=12345"
            "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&response_type=code"
            "&approval_prompt=force&scope=read%2Cactivity%3Aread_all&state=s1");
}

TEST(AuthTest, RedirectWithTheScopeGivesTheCode) {
  auto code = CheckAuthorizationRedirect({{"state", "s1"}, {"code", "abc"}, {"scope", "read,activity:read_all"}}, "s1");
  ASSERT_TRUE(code.has_value()) << code.error().message;
  EXPECT_EQ(*code, "abc");
}

TEST(AuthTest, UntickedScopeIsAPlainWordsError) {
  auto r = CheckAuthorizationRedirect({{"state", "s1"}, {"code", "abc"}, {"scope", "read,activity:read"}}, "s1");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kMissingScope);
  EXPECT_NE(r.error().message.find("private activities"), std::string::npos);
}

TEST(AuthTest, WrongStateAndDenialAreRejected) {
  auto wrong = CheckAuthorizationRedirect({{"state", "evil"}, {"code", "abc"}, {"scope", "activity:read_all"}}, "s1");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidArgument);
  auto denied = CheckAuthorizationRedirect({{"state", "s1"}, {"error", "access_denied"}}, "s1");
  ASSERT_FALSE(denied.has_value());
  EXPECT_NE(denied.error().message.find("declined"), std::string::npos);
  EXPECT_FALSE(CheckAuthorizationRedirect({{"state", "s1"}, {"scope", "activity:read_all"}}, "s1").has_value());
}

// The state is the proof that a redirect answers this authorization: a
// request without it (another local process, a stale tab of an earlier run)
// must be refused as foreign whatever else it carries, never taken as
// Strava's answer.
TEST(AuthTest, AnErrorWithoutTheStateIsForeignNotADenial) {
  for (std::string state : {"evil", ""}) {
    std::multimap<std::string, std::string> q = {{"error", "access_denied"}};
    if (!state.empty()) q.emplace("state", state);
    auto r = CheckAuthorizationRedirect(q, "s1");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << r.error().message;
    EXPECT_NE(r.error().message.find("state"), std::string::npos) << r.error().message;
  }
}

TEST(AuthTest, ScopeListMatching) {
  EXPECT_TRUE(ScopeContains("read,activity:read_all", "activity:read_all"));
  EXPECT_FALSE(ScopeContains("read,activity:read_all_x", "activity:read_all"));
  EXPECT_FALSE(ScopeContains("", "activity:read_all"));
}

}  // namespace
}  // namespace dl::app
