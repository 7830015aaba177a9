// Contract tests of strava-sim's API over real HTTP: listing, scopes, OAuth,
// rate limits, faults and stats. Each point is from /work/shared/strava-api.md.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include "sim/generator.h"
#include "sim_fixture.h"

namespace dl::sim::testing {
namespace {

constexpr int64_t kT0 = 1700000000;  // 2023-11-14T22:13:20Z
constexpr int64_t kAthlete = 4242;

// One activity as a file would hold it: odd spacing and a field the simulator
// does not know, both of which must be served unchanged.
std::string RawActivity(int64_t id, int64_t start, const std::string& visibility, int64_t athlete = kAthlete) {
  return "{\"id\": " + std::to_string(id) +
         ", \"resource_state\":2,\n  \"athlete\":{\"id\":" + std::to_string(athlete) +
         ",\"resource_state\":1},\"name\":\"A " + std::to_string(id) + "\",\"start_date\":\"" + FormatIso(start) +
         "\",\"visibility\":\"" + visibility + "\",\"private\":" + (visibility == "only_me" ? "true" : "false") +
         ",\"distance\":1000.50,\"mystery_field\":{\"x\":[1,2]}}";
}

struct FileData {
  std::vector<std::string> raw;  // ids 101..105, 100 s apart
  std::string Json() const {
    std::string s = "[\n";
    for (size_t i = 0; i < raw.size(); ++i) s += (i ? ",\n" : "") + raw[i];
    return s + "\n]";
  }
};

FileData MakeFileData() {
  FileData d;
  d.raw.push_back(RawActivity(101, kT0, "everyone"));
  d.raw.push_back(RawActivity(102, kT0 + 100, "followers_only"));
  d.raw.push_back(RawActivity(103, kT0 + 200, "everyone"));
  d.raw.push_back(RawActivity(104, kT0 + 300, "only_me"));
  d.raw.push_back(RawActivity(105, kT0 + 400, "everyone", /*athlete=*/999));  // someone else's
  d.raw.push_back(RawActivity(106, kT0 + 500, "everyone"));
  return d;
}

std::vector<int64_t> Ids(const json& list) {
  std::vector<int64_t> ids;
  for (const auto& a : list) ids.push_back(a["id"].get<int64_t>());
  return ids;
}

class FileSimTest : public ::testing::Test {
 protected:
  static SimOptions Options() {
    SimOptions o = SmallOptions();
    o.activities_json = MakeFileData().Json();
    return o;
  }
  RunningSim s_{Options()};
};

TEST_F(FileSimTest, NewestFirstByDefaultOldestFirstWithAfter) {
  const std::string token = s_.Token();
  EXPECT_EQ(Ids(s_.GetJson("/api/v3/athlete/activities", token)), (std::vector<int64_t>{106, 104, 103, 102, 101}));
  EXPECT_EQ(Ids(s_.GetJson("/api/v3/athlete/activities?after=0", token)),
            (std::vector<int64_t>{101, 102, 103, 104, 106}));
  EXPECT_EQ(s_.sim().athlete_id(), kAthlete);  // the athlete most activities name
}

TEST_F(FileSimTest, BoundsAreExclusiveOnStartDate) {
  const std::string token = s_.Token();
  const auto path = [](const std::string& q) { return "/api/v3/athlete/activities?" + q; };
  EXPECT_EQ(Ids(s_.GetJson(path("after=" + std::to_string(kT0 + 100)), token)), (std::vector<int64_t>{103, 104, 106}));
  EXPECT_EQ(Ids(s_.GetJson(path("before=" + std::to_string(kT0 + 200)), token)), (std::vector<int64_t>{102, 101}));
  // Both bounds: oldest first, both exclusive.
  EXPECT_EQ(Ids(s_.GetJson(path("after=" + std::to_string(kT0) + "&before=" + std::to_string(kT0 + 300)), token)),
            (std::vector<int64_t>{102, 103}));
  EXPECT_EQ(s_.GetJson(path("after=" + std::to_string(kT0 + 500)), token), json::array());
}

TEST_F(FileSimTest, FileActivitiesAreServedByteForByte) {
  const FileData d = MakeFileData();
  const HttpResponse r = Get(s_.Url("/api/v3/athlete/activities?after=0"), s_.Token());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "[" + d.raw[0] + "," + d.raw[1] + "," + d.raw[2] + "," + d.raw[3] + "," + d.raw[5] + "]");
  EXPECT_EQ(r.Header("Content-Type"), "application/json; charset=utf-8");
}

TEST_F(FileSimTest, OnlyMeNeedsReadAllAndForeignActivitiesAreInvisible) {
  const std::string read_only = s_.Token("read,activity:read");
  EXPECT_EQ(Ids(s_.GetJson("/api/v3/athlete/activities?after=0", read_only)),
            (std::vector<int64_t>{101, 102, 103, 106}));
  const std::string not_found =
      R"({"message":"Record Not Found","errors":[{"resource":"Activity","field":"id","code":"invalid"}]})";
  for (const char* path : {"/api/v3/activities/104", "/api/v3/activities/105", "/api/v3/activities/777"}) {
    const HttpResponse r = Get(s_.Url(path), read_only);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body, not_found) << path;
  }
  const HttpResponse hidden = Get(s_.Url("/api/v3/activities/104"), s_.Token());
  EXPECT_EQ(hidden.status, 200);
  EXPECT_EQ(json::parse(hidden.body)["mystery_field"]["x"][1], 2);
}

TEST_F(FileSimTest, MissingScopeAndBadTokenAnswer401) {
  const HttpResponse no_scope = Get(s_.Url("/api/v3/athlete/activities"), s_.Token("read"));
  EXPECT_EQ(no_scope.status, 401);
  EXPECT_EQ(
      no_scope.body,
      R"({"message":"Authorization Error","errors":[{"resource":"AccessToken","field":"activity:read_permission","code":"missing"}]})");
  for (const std::string token : {"", "not-a-token"}) {
    const HttpResponse bad = Get(s_.Url("/api/v3/athlete/activities"), token);
    EXPECT_EQ(bad.status, 401);
    EXPECT_EQ(
        bad.body,
        R"({"message":"Authorization Error","errors":[{"resource":"Athlete","field":"access_token","code":"invalid"}]})");
  }
  // The access_token query parameter works like the header (stravalib uses it).
  EXPECT_EQ(Get(s_.Url("/api/v3/athlete?access_token=" + s_.Token("read"))).status, 200);
}

TEST_F(FileSimTest, DetailCarriesResourceState3AndDetailedFields) {
  const json a = s_.GetJson("/api/v3/activities/101", s_.Token());
  EXPECT_EQ(a["resource_state"], 3);
  EXPECT_TRUE(a.contains("description"));
  EXPECT_TRUE(a.contains("calories"));
  EXPECT_EQ(a["name"], "A 101");
  const json athlete = s_.GetJson("/api/v3/athlete", s_.Token());
  EXPECT_EQ(athlete["id"], kAthlete);
}

TEST(SimListing, PagesEndWithEmptyArrayAndPerPageClampsAt200) {
  RunningSim s(SmallOptions(/*per_year=*/130));  // 260 activities
  const std::string token = s.Token();
  EXPECT_EQ(s.GetJson("/api/v3/athlete/activities", token).size(), 30u);  // default per_page
  EXPECT_EQ(s.GetJson("/api/v3/athlete/activities?per_page=500", token).size(), 200u);
  EXPECT_EQ(s.GetJson("/api/v3/athlete/activities?per_page=200&page=2", token).size(), 60u);
  const HttpResponse past = Get(s.Url("/api/v3/athlete/activities?per_page=200&page=3"), token);
  EXPECT_EQ(past.status, 200);
  EXPECT_EQ(past.body, "[]");
  // Pages tile the listing: no gaps, no repeats, newest first.
  std::vector<int64_t> all;
  for (int page = 1;; ++page) {
    const json list = s.GetJson("/api/v3/athlete/activities?per_page=70&page=" + std::to_string(page), token);
    if (list.empty()) break;
    for (const auto& a : list) all.push_back(a["id"]);
  }
  EXPECT_EQ(all.size(), 260u);
  EXPECT_TRUE(std::is_sorted(all.rbegin(), all.rend()));
  EXPECT_EQ(Get(s.Url("/api/v3/athlete/activities?after=abc"), token).status, 400);
}

// ---- OAuth -------------------------------------------------------------------

std::string QueryValue(const std::string& url, const std::string& key) {
  const size_t at = url.find(key + "=");
  if (at == std::string::npos) return "";
  const size_t end = url.find('&', at);
  return url.substr(at + key.size() + 1, end == std::string::npos ? std::string::npos : end - at - key.size() - 1);
}

TEST(SimOAuth, AuthorizeRedirectsWithGrantedScopesAndCodeIsSingleUse) {
  SimOptions o = SmallOptions(2);
  o.scopes = "read,activity:read";  // the athlete unticks read_all
  RunningSim s(o);
  const HttpResponse r =
      Get(s.Url("/oauth/authorize?client_id=12345&response_type=code&state=xyz&"
                "redirect_uri=http://localhost/cb&scope=read,activity:read_all,activity:read"));
  ASSERT_EQ(r.status, 302);
  const std::string location = r.Header("Location");
  EXPECT_TRUE(location.starts_with("http://localhost/cb?state=xyz&code=")) << location;
  EXPECT_EQ(QueryValue(location, "scope"), "read,activity:read");
  EXPECT_FALSE(r.HasHeader("X-RateLimit-Limit"));

  const std::string form = "client_id=12345&client_secret=sim-client-secret&grant_type=authorization_code&code=" +
                           QueryValue(location, "code");
  const HttpResponse exchanged = PostForm(s.Url("/oauth/token"), form);
  ASSERT_EQ(exchanged.status, 200) << exchanged.body;
  const json tokens = json::parse(exchanged.body);
  EXPECT_EQ(tokens["token_type"], "Bearer");
  EXPECT_EQ(tokens["expires_in"], 21600);
  EXPECT_EQ(tokens["athlete"]["id"], s.sim().athlete_id());
  EXPECT_FALSE(exchanged.HasHeader("X-RateLimit-Usage"));
  // The token has exactly the granted scopes: lists work, only-me stays hidden.
  EXPECT_EQ(Get(s.Url("/api/v3/athlete/activities"), tokens["access_token"]).status, 200);

  const HttpResponse again = PostForm(s.Url("/oauth/token"), form);
  EXPECT_EQ(again.status, 400);
  EXPECT_EQ(again.body,
            R"({"message":"Bad Request","errors":[{"resource":"AuthorizationCode","field":"code","code":"invalid"}]})");
}

TEST(SimOAuth, AuthorizeRejectsLegacyScopesAndCanBeDenied) {
  SimOptions o = SmallOptions(2);
  o.deny_authorization = true;
  RunningSim s(o);
  const std::string base = "/oauth/authorize?client_id=12345&response_type=code&redirect_uri=http://localhost/cb";
  const HttpResponse legacy = Get(s.Url(base + "&scope=view_private"));
  EXPECT_EQ(legacy.status, 400);
  EXPECT_EQ(legacy.body,
            R"({"message":"Bad Request","errors":[{"resource":"Authorize","field":"scope","code":"invalid"}]})");
  const HttpResponse denied = Get(s.Url(base + "&scope=read&state=s1"));
  EXPECT_EQ(denied.status, 302);
  EXPECT_EQ(denied.Header("Location"), "http://localhost/cb?state=s1&error=access_denied");
  EXPECT_EQ(Get(s.Url("/oauth/authorize?client_id=999&response_type=code&redirect_uri=http://x/&scope=read")).status,
            403);
}

TEST(SimOAuth, EveryRefreshRotatesAndTheOldRefreshTokenFails) {
  RunningSim s(SmallOptions(2));
  const auto refresh = [&s](const std::string& token, const std::string& secret = "sim-client-secret") {
    return PostForm(s.Url("/oauth/token"),
                    "client_id=12345&client_secret=" + secret + "&grant_type=refresh_token&refresh_token=" + token);
  };
  const HttpResponse first = refresh("sim-refresh-token");
  ASSERT_EQ(first.status, 200) << first.body;
  const json t1 = json::parse(first.body);
  EXPECT_FALSE(t1.contains("athlete"));
  EXPECT_NE(t1["refresh_token"], "sim-refresh-token");
  const HttpResponse reused = refresh("sim-refresh-token");
  EXPECT_EQ(reused.status, 400);
  EXPECT_EQ(
      reused.body,
      R"({"message":"Bad Request","errors":[{"resource":"RefreshToken","field":"refresh_token","code":"invalid"}]})");
  const HttpResponse second = refresh(t1["refresh_token"]);
  ASSERT_EQ(second.status, 200);
  const json t2 = json::parse(second.body);
  EXPECT_NE(t2["access_token"], t1["access_token"]);
  EXPECT_NE(t2["refresh_token"], t1["refresh_token"]);
  EXPECT_EQ(Get(s.Url("/api/v3/athlete"), t2["access_token"]).status, 200);
  EXPECT_EQ(refresh(t1["refresh_token"]).status, 400);

  const HttpResponse bad_secret = refresh(t2["refresh_token"], "wrong");
  EXPECT_EQ(bad_secret.status, 401);
  EXPECT_EQ(bad_secret.body,
            R"({"message":"Authorization Error","errors":[{"resource":"Application","field":"","code":"invalid"}]})");
  const HttpResponse bad_client =
      PostForm(s.Url("/oauth/token"), "client_id=1&client_secret=x&grant_type=refresh_token");
  EXPECT_EQ(bad_client.status, 400);
  EXPECT_EQ(bad_client.body,
            R"({"message":"Bad Request","errors":[{"resource":"Application","field":"client_id","code":"invalid"}]})");
}

TEST(SimOAuth, DeauthorizeInvalidatesEveryToken) {
  RunningSim s(SmallOptions(2));
  const std::string token = s.Token();
  const HttpResponse r = PostForm(s.Url("/oauth/deauthorize"), "access_token=" + token);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["access_token"], token);
  EXPECT_EQ(Get(s.Url("/api/v3/athlete"), token).status, 401);
  EXPECT_EQ(PostForm(s.Url("/oauth/token"),
                     "client_id=12345&client_secret=sim-client-secret&grant_type=refresh_token"
                     "&refresh_token=sim-refresh-token")
                .status,
            400);
}

TEST(SimOAuth, AccessTokensExpireAfterTheirLifetime) {
  SimOptions o = SmallOptions(2);
  o.token_lifetime_s = 1;
  o.limits = RateLimits{1000000, 1000000, 1000000, 1000000};  // polling must not hit a 429
  RunningSim s(o);
  const HttpResponse r = PostForm(s.Url("/oauth/token"),
                                  "client_id=12345&client_secret=sim-client-secret"
                                  "&grant_type=refresh_token&refresh_token=sim-refresh-token");
  const json t = json::parse(r.body);
  EXPECT_EQ(t["expires_in"], 1);
  EXPECT_EQ(Get(s.Url("/api/v3/athlete"), t["access_token"]).status, 200);
  EXPECT_TRUE(
      WaitFor([&] { return Get(s.Url("/api/v3/athlete"), t["access_token"]).status == 401; }, std::chrono::seconds(4)));
}

TEST(SimOAuth, GrantedScopesCanChangeAtRuntime) {
  RunningSim s(SmallOptions(2));
  EXPECT_EQ(SendJson("POST", s.Url("/_sim/grant"), R"({"scopes":"read"})").status, 200);
  const HttpResponse r =
      Get(s.Url("/oauth/authorize?client_id=12345&response_type=code&redirect_uri=https://a.example/"
                "&scope=read,activity:read_all"));
  EXPECT_EQ(QueryValue(r.Header("Location"), "scope"), "read");
  const json tokens = json::parse(PostForm(s.Url("/oauth/token"),
                                           "client_id=12345&client_secret=sim-client-secret"
                                           "&grant_type=authorization_code&code=" +
                                               QueryValue(r.Header("Location"), "code"))
                                      .body);
  EXPECT_EQ(Get(s.Url("/api/v3/athlete/activities"), tokens["access_token"]).status, 401);  // activity:read unticked
}

// ---- admin -------------------------------------------------------------------------

TEST(SimAdmin, CreateFillsUpdateRecomputesLocalTimeAndListsAsStored) {
  RunningSim s(SmallOptions(2));
  const size_t before = s.sim().ActivityCount();
  const HttpResponse created = SendJson(
      "POST", s.Url("/_sim/activities"),
      R"({"id":123456789,"sport_type":"TrailRun","start_date":"2025-01-15T12:00:00Z","timezone":"(GMT+01:00) Europe/Berlin","extra":"kept"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const json a = json::parse(created.body);
  EXPECT_EQ(a["type"], "Run");
  EXPECT_EQ(a["start_date_local"], "2025-01-15T13:00:00Z");
  EXPECT_EQ(a["utc_offset"], 3600.0);
  EXPECT_EQ(a["extra"], "kept");
  EXPECT_EQ(a["resource_state"], 2);
  EXPECT_EQ(SendJson("POST", s.Url("/_sim/activities"), R"({"id":123456789})").status, 409);
  const HttpResponse moved =
      SendJson("PUT", s.Url("/_sim/activities/123456789"), R"({"start_date":"2025-07-15T12:00:00Z"})");
  EXPECT_EQ(json::parse(moved.body)["start_date_local"], "2025-07-15T14:00:00Z");  // summer time
  EXPECT_EQ(SendJson("PUT", s.Url("/_sim/activities/1"), "{}").status, 404);
  EXPECT_EQ(SendJson("POST", s.Url("/_sim/activities"), "not json").status, 400);
  EXPECT_EQ(SendJson("POST", s.Url("/_sim/activities"), R"({"sport_type":5})").status, 400);
  EXPECT_EQ(SendJson("PUT", s.Url("/_sim/activities/123456789"), R"({"start_date":7})").status, 400);
  EXPECT_EQ(SendJson("POST", s.Url("/_sim/faults"), R"({"rate":"high"})").status, 400);
  const json all = json::parse(Get(s.Url("/_sim/activities")).body);
  EXPECT_EQ(all.size(), before + 1);
  // Moved in time, it moved in the listing too (oldest first after 2025-07-01).
  EXPECT_EQ(s.GetJson("/api/v3/athlete/activities?after=1751328000&per_page=1", s.Token())[0]["id"], 123456789);
}

// ---- rate limits --------------------------------------------------------------

void ExpectRateHeaders(const HttpResponse& r, const std::string& usage, const std::string& read_usage) {
  EXPECT_EQ(r.Header("X-RateLimit-Limit"), "200,2000");
  EXPECT_EQ(r.Header("X-ReadRateLimit-Limit"), "100,1000");
  EXPECT_EQ(r.Header("X-RateLimit-Usage"), usage);
  EXPECT_EQ(r.Header("X-ReadRateLimit-Usage"), read_usage);
}

TEST(SimRateLimits, EveryApiResponseCarriesBothHeaderFamilies) {
  SimOptions o = SmallOptions(2);
  o.window_scale = 1.0 / 64;  // 16-hour windows: no reset during the test
  RunningSim s(o);
  ExpectRateHeaders(Get(s.Url("/api/v3/athlete"), s.Token()), "1,1", "1,1");       // 200
  ExpectRateHeaders(Get(s.Url("/api/v3/athlete"), "bad"), "2,2", "2,2");           // 401
  ExpectRateHeaders(Get(s.Url("/api/v3/activities/1"), s.Token()), "3,3", "3,3");  // 404
  ExpectRateHeaders(PostForm(s.Url("/api/v3/push_subscriptions"), "client_id=1"), "4,4",
                    "3,3");  // non-GET: overall only
  EXPECT_FALSE(Get(s.Url("/_sim/stats")).HasHeader("X-RateLimit-Usage"));
  EXPECT_FALSE(PostForm(s.Url("/oauth/token"), "").HasHeader("X-RateLimit-Usage"));
  EXPECT_EQ(s.sim().Stats().api_requests, 4);
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Waits (polling the clock) until a window of `window_us` starts, or until
// the current one has more than `margin_us` left.
void WaitForWindow(int64_t window_us, int64_t margin_us = -1) {
  const int64_t index = NowUs() / window_us;
  WaitFor([&] {
    const int64_t now = NowUs();
    return now / window_us != index || (margin_us >= 0 && window_us - now % window_us > margin_us);
  });
}

TEST(SimRateLimits, FifteenMinuteBucketFreesAtTheNextQuarterHourButDailyDoesNot) {
  SimOptions o = SmallOptions(2);
  o.window_scale = 900;  // a "15-minute" window lasts 1 s, a "day" 96 s
  o.limits = RateLimits{3, 5, 100, 1000};
  RunningSim s(o);
  const std::string token = s.Token();
  const std::string url = s.Url("/api/v3/athlete");
  const std::string body_429 =
      R"({"message":"Rate Limit Exceeded","errors":[{"resource":"Application","field":"rate limit","code":"exceeded"}]})";
  WaitForWindow(96'000'000, 6'000'000);  // no daily reset during the next seconds
  WaitForWindow(1'000'000, 600'000);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(Get(url, token).status, 200);
  const HttpResponse limited = Get(url, token);
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.body, body_429);
  EXPECT_EQ(limited.Header("X-RateLimit-Usage"), "4,4");  // the rejected request counts
  EXPECT_FALSE(limited.HasHeader("Retry-After"));
  // The next scaled quarter hour frees the 15-minute bucket...
  WaitForWindow(1'000'000);
  const HttpResponse next = Get(url, token);
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.Header("X-RateLimit-Usage"), "1,5");
  // ...but the daily bucket (5) is spent and stays spent in the next windows.
  const HttpResponse daily = Get(url, token);
  EXPECT_EQ(daily.status, 429);
  EXPECT_EQ(daily.body, body_429);
  EXPECT_EQ(daily.Header("X-RateLimit-Usage"), "2,6");
  WaitForWindow(1'000'000);
  const HttpResponse still = Get(url, token);
  EXPECT_EQ(still.status, 429);
  EXPECT_EQ(still.Header("X-RateLimit-Usage"), "1,7");
  EXPECT_EQ(s.sim().Stats().rate_limited, 3);
  EXPECT_EQ(s.sim().Stats().api_requests, 7);
}

TEST(SimRateLimits, ReadBucketLimitsGetsOnlyWithItsOwnField) {
  SimOptions o = SmallOptions(2);
  o.window_scale = 1.0 / 64;
  o.limits = RateLimits{100, 1000, 2, 1000};
  RunningSim s(o);
  const std::string token = s.Token();
  EXPECT_EQ(Get(s.Url("/api/v3/athlete"), token).status, 200);
  EXPECT_EQ(Get(s.Url("/api/v3/athlete"), token).status, 200);
  const HttpResponse limited = Get(s.Url("/api/v3/athlete"), token);
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(
      limited.body,
      R"({"message":"Rate Limit Exceeded","errors":[{"resource":"Application","field":"read rate limit","code":"exceeded"}]})");
  // A POST is not a read: not limited by the read bucket (it fails on credentials instead).
  const HttpResponse post = PostForm(s.Url("/api/v3/push_subscriptions"), "client_id=12345&client_secret=x");
  EXPECT_EQ(post.status, 401);
  EXPECT_EQ(post.Header("X-RateLimit-Usage"), "4,4");
  EXPECT_EQ(post.Header("X-ReadRateLimit-Usage"), "3,3");
}

// ---- faults, inactive, stats ---------------------------------------------------

TEST(SimFaults, EachKindIsObservable) {
  SimOptions o = SmallOptions(2);
  o.faults.slow_ms = 1500;
  RunningSim s(o);
  const std::string token = s.Token();
  const std::string url = s.Url("/api/v3/athlete/activities?per_page=50");
  s.sim().QueueFaults({FaultKind::kHttp500, FaultKind::kHttp502, FaultKind::kHttp503});
  for (long status : {500L, 502L, 503L}) {
    const HttpResponse r = Get(url, token);
    EXPECT_EQ(r.status, status);
    EXPECT_TRUE(json::parse(r.body, nullptr, false).contains("message")) << r.body;
    EXPECT_TRUE(r.HasHeader("X-RateLimit-Usage"));
  }
  s.sim().QueueFaults({FaultKind::kReset});
  const HttpResponse reset = Get(url, token);
  EXPECT_TRUE(reset.curl_code == CURLE_RECV_ERROR || reset.curl_code == CURLE_GOT_NOTHING) << reset.curl_code;
  EXPECT_EQ(reset.status, 0);
  s.sim().QueueFaults({FaultKind::kTruncate});
  const HttpResponse cut = Get(url, token);
  EXPECT_EQ(cut.curl_code, CURLE_PARTIAL_FILE);
  EXPECT_FALSE(json::accept(cut.body));
  s.sim().QueueFaults({FaultKind::kSlow});
  HttpRequest impatient;
  impatient.headers = {"Authorization: Bearer " + token};
  impatient.timeout_ms = 300;
  EXPECT_EQ(Fetch(url, impatient).curl_code, CURLE_OPERATION_TIMEDOUT);
  const HttpResponse fine = Get(url, token);
  EXPECT_EQ(fine.status, 200);
  EXPECT_EQ(json::parse(fine.body).size(), 4u);
  EXPECT_EQ(s.sim().Stats().faults, 6);
}

TEST(SimFaults, RandomFaultsFollowTheSeedAndFlagsCanChangeAtRuntime) {
  const auto statuses = [](uint64_t seed) {
    SimOptions o = SmallOptions(2);
    o.faults.rate = 0.5;
    o.faults.kinds = {FaultKind::kHttp500, FaultKind::kHttp503};
    o.faults.seed = seed;
    RunningSim s(o);
    const std::string token = s.Token();
    std::vector<long> out;
    for (int i = 0; i < 24; ++i) out.push_back(Get(s.Url("/api/v3/athlete"), token).status);
    return out;
  };
  const std::vector<long> a = statuses(7);
  EXPECT_EQ(a, statuses(7));
  EXPECT_NE(a, statuses(8));
  EXPECT_GT(std::count(a.begin(), a.end(), 500L), 0);
  EXPECT_GT(std::count(a.begin(), a.end(), 503L), 0);
  EXPECT_LT(std::count(a.begin(), a.end(), 200L), 24);

  RunningSim s(SmallOptions(2));
  const HttpResponse set = SendJson("POST", s.Url("/_sim/faults"), R"({"inactive":true})");
  EXPECT_EQ(set.status, 200);
  EXPECT_EQ(Get(s.Url("/api/v3/athlete"), s.Token()).status, 403);
  EXPECT_EQ(SendJson("POST", s.Url("/_sim/faults"), R"({"kinds":["bogus"]})").status, 400);
}

TEST(SimFaults, InactiveApplicationAnswers403Everywhere) {
  SimOptions o = SmallOptions(2);
  o.faults.inactive = true;
  RunningSim s(o);
  for (const char* path : {"/api/v3/athlete", "/api/v3/athlete/activities", "/api/v3/activities/1"}) {
    const HttpResponse r = Get(s.Url(path), s.Token());
    EXPECT_EQ(r.status, 403) << path;
    EXPECT_EQ(r.body,
              R"({"message":"Forbidden","errors":[{"resource":"Application","field":"status","code":"inactive"}]})");
  }
}

TEST(SimStats, CountsApiRequestsByNormalisedEndpointIncluding429s) {
  SimOptions o = SmallOptions(2);
  o.window_scale = 1.0 / 64;
  o.limits = RateLimits{3, 1000, 100, 1000};
  RunningSim s(o);
  const std::string token = s.Token();
  Get(s.Url("/api/v3/athlete/activities"), token);
  Get(s.Url("/api/v3/activities/123"), token);
  Get(s.Url("/api/v3/activities/456"), token);
  Get(s.Url("/api/v3/activities/789"), token);  // 429
  Get(s.Url("/_sim/activities"));               // admin: never counted
  const json stats = json::parse(Get(s.Url("/_sim/stats")).body);
  EXPECT_EQ(stats["api_requests"], 4);
  EXPECT_EQ(stats["rate_limited"], 1);
  EXPECT_EQ(stats["by_endpoint"]["GET /api/v3/athlete/activities"], 1);
  EXPECT_EQ(stats["by_endpoint"]["GET /api/v3/activities/{id}"], 3);
  EXPECT_EQ(stats["by_endpoint"].size(), 2u);
  EXPECT_EQ(PostForm(s.Url("/_sim/stats/reset"), "").status, 200);
  EXPECT_EQ(json::parse(Get(s.Url("/_sim/stats")).body)["api_requests"], 0);
}

}  // namespace
}  // namespace dl::sim::testing
