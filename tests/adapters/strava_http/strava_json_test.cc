#include "adapters/strava_http/strava_json.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "fixtures.h"

namespace dl::adapters::strava_http {
namespace {

using namespace fixtures;

std::string PageOf(std::initializer_list<const char*> objects) {
  std::string page = "[";
  for (const char* o : objects) page += (page.size() > 1 ? "," : "") + std::string(o);
  return page + "]";
}

TEST(ParseActivityPage, RideReadsEveryTypedField) {
  auto page = ParseActivityPage(PageOf({kRide}));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->size(), 1u);
  const core::Activity& a = (*page)[0];
  EXPECT_EQ(a.id, 16182345678);
  EXPECT_EQ(a.athlete_id, 134815);
  EXPECT_EQ(a.name, "Morning Ride");
  EXPECT_DOUBLE_EQ(a.distance_m, 40123.7);
  EXPECT_EQ(a.moving_time_s, 5400);
  EXPECT_EQ(a.elapsed_time_s, 6012);
  EXPECT_DOUBLE_EQ(a.total_elevation_gain_m, 402.0);
  EXPECT_EQ(a.elev_high_m, 121.4);
  EXPECT_EQ(a.elev_low_m, -3.2);
  EXPECT_EQ(a.type, "Ride");
  EXPECT_EQ(a.sport_type, "GravelRide");
  EXPECT_EQ(a.workout_type, 10);
  EXPECT_EQ(a.start_date, "2025-10-18T12:49:52Z");
  EXPECT_EQ(a.start_date_local, "2025-10-18T08:49:52Z");
  EXPECT_EQ(a.timezone, "(GMT-05:00) America/New_York");
  EXPECT_DOUBLE_EQ(a.utc_offset_s, -14400.0);
  EXPECT_EQ(a.start_latlng, (core::LatLng{40.72, -73.99}));
  EXPECT_EQ(a.end_latlng, (core::LatLng{40.73, -73.98}));
  EXPECT_EQ(a.map_id, "a16182345678");
  ASSERT_TRUE(a.map_summary_polyline);
  EXPECT_TRUE(a.map_summary_polyline->starts_with("ki{eFvqfiV"));
  EXPECT_NE(a.map_summary_polyline->find("\\eAp@"), std::string::npos) << "JSON \\\\ unescapes to one backslash";
  EXPECT_FALSE(a.trainer);
  EXPECT_FALSE(a.commute);
  EXPECT_FALSE(a.manual);
  EXPECT_FALSE(a.is_private);
  EXPECT_FALSE(a.flagged);
  EXPECT_EQ(a.visibility, "everyone");
  EXPECT_EQ(a.average_speed_mps, 7.43);
  EXPECT_EQ(a.max_speed_mps, 15.2);
  EXPECT_EQ(a.average_cadence, 85.5);
  EXPECT_EQ(a.average_watts, 201.4);
  EXPECT_EQ(a.weighted_average_watts, 219.0);
  EXPECT_EQ(a.max_watts, 612.0);
  EXPECT_EQ(a.kilojoules, 1087.6);
  EXPECT_EQ(a.device_watts, true);
  EXPECT_TRUE(a.has_heartrate);
  EXPECT_EQ(a.average_heartrate, 141.2);
  EXPECT_EQ(a.max_heartrate, 174.0);
  EXPECT_EQ(a.average_temp_c, 18.0);
  EXPECT_EQ(a.suffer_score, 96.0);
  EXPECT_EQ(a.gear_id, "b1234567");
  EXPECT_EQ(a.device_name, "Garmin Edge 540");
  EXPECT_EQ(a.external_id, "garmin_ping_492266071674");
  EXPECT_EQ(a.upload_id, 17300012345);
  EXPECT_EQ(a.achievement_count, 7);
  EXPECT_EQ(a.kudos_count, 12);
  EXPECT_EQ(a.comment_count, 2);
  EXPECT_EQ(a.athlete_count, 3);
  EXPECT_EQ(a.photo_count, 1);
  EXPECT_EQ(a.total_photo_count, 2);
  EXPECT_EQ(a.pr_count, 4);
  EXPECT_FALSE(a.description);
  EXPECT_FALSE(a.calories);
  EXPECT_EQ(a.raw_json, kRide);
}

TEST(ParseActivityPage, RunWithoutPowerKeysLeavesThemAbsentAndNullsAreAbsent) {
  auto page = ParseActivityPage(PageOf({kRun}));
  ASSERT_TRUE(page) << page.error().message;
  const core::Activity& a = page->at(0);
  EXPECT_FALSE(a.average_watts);
  EXPECT_FALSE(a.weighted_average_watts);
  EXPECT_FALSE(a.max_watts);
  EXPECT_FALSE(a.kilojoules);
  EXPECT_FALSE(a.device_watts);
  EXPECT_FALSE(a.workout_type) << "explicit null";
  EXPECT_FALSE(a.gear_id) << "explicit null";
  EXPECT_FALSE(a.external_id);
  EXPECT_FALSE(a.upload_id);
  EXPECT_FALSE(a.suffer_score) << "missing key";
  EXPECT_EQ(a.max_heartrate, 181.0);
  EXPECT_TRUE(a.commute);
  EXPECT_EQ(a.visibility, "followers_only");
}

TEST(ParseActivityPage, NullAndEmptyLatlngReadAsAbsent) {
  auto page = ParseActivityPage(PageOf({kTrainerNullLatlng, kManualEmptyLatlng}));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->size(), 2u);
  const core::Activity& trainer = (*page)[0];
  EXPECT_FALSE(trainer.start_latlng);
  EXPECT_FALSE(trainer.end_latlng);
  EXPECT_EQ(trainer.map_id, "a16182345680");
  EXPECT_FALSE(trainer.map_summary_polyline) << "null polyline";
  EXPECT_FALSE(trainer.elev_high_m);
  EXPECT_TRUE(trainer.trainer);
  EXPECT_TRUE(trainer.is_private);
  EXPECT_EQ(trainer.visibility, "only_me");
  EXPECT_DOUBLE_EQ(trainer.utc_offset_s, 7200);
  const core::Activity& manual = (*page)[1];
  EXPECT_FALSE(manual.start_latlng);
  EXPECT_FALSE(manual.end_latlng);
  EXPECT_EQ(manual.map_summary_polyline, "");
  EXPECT_TRUE(manual.manual);
  EXPECT_EQ(manual.distance_m, 0);
  EXPECT_EQ(manual.sport_type, "Hoverboarding") << "unknown sport types are kept";
}

TEST(ParseActivityPage, OddLatlngShapesAndWrongTypesAreToleratedNotTrusted) {
  auto page = ParseActivityPage(
      R"([{"id":1,"athlete":{"id":2},"start_latlng":[1.5],"end_latlng":[1,2,3],"name":42,"trainer":"yes",)"
      R"("distance":"far","moving_time":3600.0,"kudos_count":2.6,"map":null,"average_watts":{"x":1}},)"
      R"({"id":2,"athlete":{"id":2},"start_latlng":["a","b"],"end_latlng":{"lat":1}}])");
  ASSERT_TRUE(page) << page.error().message;
  const core::Activity& a = (*page)[0];
  EXPECT_FALSE(a.start_latlng);
  EXPECT_FALSE(a.end_latlng);
  EXPECT_EQ(a.name, "") << "a number is not a name";
  EXPECT_FALSE(a.trainer);
  EXPECT_EQ(a.distance_m, 0);
  EXPECT_EQ(a.moving_time_s, 3600) << "float where an integer belongs";
  EXPECT_EQ(a.kudos_count, 3) << "rounded";
  EXPECT_FALSE(a.map_id);
  EXPECT_FALSE(a.average_watts);
  EXPECT_FALSE((*page)[1].start_latlng);
  EXPECT_FALSE((*page)[1].end_latlng);
}

TEST(ParseActivityPage, FloatIdsAndHeartRatesAreAccepted) {
  auto page = ParseActivityPage(R"([{"id":16182345678.0,"athlete":{"id":134815.0},"max_heartrate":174.0,"workout_type":1.0}])");
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ((*page)[0].id, 16182345678);
  EXPECT_EQ((*page)[0].athlete_id, 134815);
  EXPECT_EQ((*page)[0].workout_type, 1);
}

TEST(ParseActivityPage, RawJsonIsTheExactBytesOfEachObject) {
  // Whitespace between tokens, escapes, nested values and unknown keys: each
  // raw_json must be the object's bytes as sent, nothing re-serialised.
  const std::string first = "{ \"id\" : 1 ,\n  \"athlete\":{\"id\":7, \"x\":[1,{\"y\":null}]},\t\"name\":\"Caf\\u00e9 \\\"run\\\"\" }";
  const std::string second = "{\"id\":2,\"athlete\":{\"id\":7},\"segment_efforts\":[[],[{}]],\"name\":\"}{][\"}";
  const std::string body = " \r\n[ " + first + " ,\n\t" + second + "\n]\n ";
  auto page = ParseActivityPage(body);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].raw_json, first);
  EXPECT_EQ((*page)[0].name, "Caf\xC3\xA9 \"run\"");
  EXPECT_EQ((*page)[1].raw_json, second);
  EXPECT_EQ((*page)[1].name, "}{][");
}

TEST(ParseActivityPage, EmptyPageIsAnEmptyList) {
  auto page = ParseActivityPage("[]");
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->empty());
  auto spaced = ParseActivityPage(" [ ] \n");
  ASSERT_TRUE(spaced);
  EXPECT_TRUE(spaced->empty());
}

TEST(ParseActivityPage, EveryTruncationIsTransientNeverAPartialSuccess) {
  // Whatever byte a cut connection stops at, the page must read as a
  // retryable error, never as fewer activities.
  const std::string page = PageOf({kRide, kRun, kTrainerNullLatlng});
  for (size_t n = 0; n < page.size(); ++n) {
    auto r = ParseActivityPage(std::string_view(page).substr(0, n));
    ASSERT_FALSE(r) << "prefix of " << n << " bytes parsed as " << r->size() << " activities";
    ASSERT_EQ(r.error().code, ErrorCode::kTransient) << n << ": " << r.error().message;
    ASSERT_NE(r.error().message.find("malformed"), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(ParseActivityPage(page));
}

TEST(ParseActivityPage, GarbledBodiesAreTransient) {
  for (const char* body : {"[{\"id\":1,\"athlete\":{\"id\":2}}] trailing", "[{\"id\":1,,}]", "[{\"id\":1 \"athlete\":2}]",
                           "<html>502 Bad Gateway</html>", "[{\"id\":1,\"athlete\":{\"id\":2},\"trainer\":tru}]",
                           "[{\"id\":1,\"athlete\":{\"id\":2},\"gear_id\":nul}]", "[{\"id\":01x}]", ""}) {
    auto r = ParseActivityPage(body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().code, ErrorCode::kTransient) << body << ": " << r.error().message;
  }
}

TEST(ParseActivityPage, WellFormedButWrongShapeIsProtocol) {
  struct Case {
    const char* body;
    const char* says;
  } cases[] = {
      {R"({"message":"Authorization Error"})", "non-array"},
      {R"([1,2])", "non-object"},
      {R"([{"athlete":{"id":2},"name":"no id"}])", "without id"},
      {R"([{"id":1,"name":"no athlete"}])", "without athlete.id"},
      {R"([{"id":1,"athlete":null}])", "without athlete.id"},
      {R"([{"id":0,"athlete":{"id":2}}])", "non-positive id 0"},
      {R"([{"id":-7,"athlete":{"id":2}}])", "non-positive id -7"},
      {R"([{"id":1,"athlete":{"id":-2}}])", "non-positive athlete.id -2"},
      {R"("just a string")", "non-array"},
  };
  for (const Case& c : cases) {
    auto r = ParseActivityPage(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().code, ErrorCode::kProtocol) << c.body << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
  }
}

TEST(ParseActivity, DetailedActivityReadsExtrasAndKeepsTheWholeObject) {
  std::string body = std::string("  ") + kDetailed + "\n";
  auto a = ParseActivity(body);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->id, 16182345678);
  EXPECT_EQ(a->description, "Windy \"out\", fast back\nwith caf\xC3\xA9 stop");
  EXPECT_EQ(a->calories, 870.4);
  EXPECT_EQ(a->map_summary_polyline, "short");
  EXPECT_EQ(a->raw_json, kDetailed);
}

TEST(ParseActivity, TruncatedOrWrongShapeBodies) {
  std::string body = kDetailed;
  for (size_t n = 0; n < body.size(); n += 7) {
    auto r = ParseActivity(std::string_view(body).substr(0, n));
    ASSERT_FALSE(r) << n;
    ASSERT_EQ(r.error().code, ErrorCode::kTransient) << n << ": " << r.error().message;
  }
  auto array = ParseActivity("[]");
  ASSERT_FALSE(array);
  EXPECT_EQ(array.error().code, ErrorCode::kProtocol);
  auto trailing = ParseActivity(std::string(kRun) + "{}");
  ASSERT_FALSE(trailing);
  EXPECT_EQ(trailing.error().code, ErrorCode::kTransient);
}

TEST(ActivityParser, ReusedParserGivesTheSameResults) {
  ActivityParser parser;
  std::string big = MakePage(50);
  for (int round = 0; round < 3; ++round) {
    auto small = parser.ParsePage(PageOf({kRun}));
    ASSERT_TRUE(small);
    EXPECT_EQ(small->at(0).id, 16182345679);
    auto page = parser.ParsePage(big);
    ASSERT_TRUE(page);
    ASSERT_EQ(page->size(), 50u);
    EXPECT_EQ(page->back().id, 16'000'000'049);
  }
}

TEST(ActivityParser, APageParsedIntoReusedActivitiesEqualsAFreshParse) {
  // Every field set, then absent, null or of the wrong type (which leaves a
  // field at its default), and pages of other sizes: whatever a slot held
  // before, the reused vector must read exactly like a fresh one.
  const char* kMinimal = R"({"id":9,"athlete":{"id":2}})";
  const char* kOdd =
      R"({"id":1,"athlete":{"id":2},"start_latlng":[1.5],"name":42,"trainer":"yes","distance":"far",)"
      R"("moving_time":3600.0,"kudos_count":2.6,"map":null,"average_watts":{"x":1},"device_name":7,"type":null})";
  const char* kMapWithoutPolyline = R"({"id":3,"athlete":{"id":2},"map":{"id":"a3"},"external_id":"x"})";
  const char* kDuplicateKeys = R"({"id":4,"athlete":{"id":2},"name":"first","name":5,"distance":1,"distance":null})";
  const std::vector<std::string> pages = {
      PageOf({kRide, kDetailed, kRun}),
      PageOf({kMinimal, kOdd}),
      PageOf({kTrainerNullLatlng, kManualEmptyLatlng, kRide, kRun}),
      "[]",
      PageOf({kMapWithoutPolyline, kDuplicateKeys, kMinimal}),
      MakePage(5),
  };
  ActivityParser parser;
  for (const auto& before : pages) {
    for (const auto& after : pages) {
      std::vector<core::Activity> reused;
      ASSERT_TRUE(parser.ParsePageInto(before, reused));
      ASSERT_TRUE(parser.ParsePageInto(after, reused));
      auto fresh = ParseActivityPage(after);
      ASSERT_TRUE(fresh) << fresh.error().message;
      ASSERT_EQ(reused.size(), fresh->size()) << before << "\nthen\n" << after;
      for (size_t i = 0; i < reused.size(); ++i) EXPECT_TRUE(reused[i] == (*fresh)[i]) << i << " of " << after;
    }
  }
}

TEST(ActivityParser, AReusedActivityKeepsItsStringBuffers) {
  ActivityParser parser;
  std::vector<core::Activity> page;
  ASSERT_TRUE(parser.ParsePageInto(PageOf({kRide}), page));
  const char* raw = page[0].raw_json.data();
  const char* polyline = page[0].map_summary_polyline->data();
  ASSERT_TRUE(parser.ParsePageInto(PageOf({kRun}), page));  // shorter strings: they fit
  EXPECT_EQ(page[0].raw_json.data(), raw);
  EXPECT_EQ(page[0].map_summary_polyline->data(), polyline);
  EXPECT_EQ(page[0].raw_json, kRun);
}

TEST(ActivityParser, ParsePageInPlaceReadsLikeACopyAndLeavesTheBodyAsItWas) {
  ActivityParser parser;
  const std::string page = MakePage(3);
  for (std::string body : {page, page + "  ", std::string("[") + kRun + "]"}) {
    body.shrink_to_fit();  // no room for simdjson's padding: it must make some
    const std::string before = body;
    std::vector<core::Activity> in_place;
    ASSERT_TRUE(parser.ParsePageInPlace(body, in_place));
    EXPECT_EQ(body, before);
    auto copy = ParseActivityPage(before);
    ASSERT_TRUE(copy);
    EXPECT_TRUE(in_place == *copy);
  }
  std::string truncated = page.substr(0, page.size() / 2);
  std::vector<core::Activity> out;
  auto r = parser.ParsePageInPlace(truncated, out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTransient);
}

TEST(ParseTokenSet, CodeExchangeRefreshAndBadAnswers) {
  auto exchange = ParseTokenSet(
      R"({"token_type":"Bearer","expires_at":1608060738,"expires_in":18068,"refresh_token":"r1","access_token":"a1",)"
      R"("athlete":{"id":6958432,"resource_state":2,"firstname":"M"}})");
  ASSERT_TRUE(exchange) << exchange.error().message;
  EXPECT_EQ(exchange->access_token, "a1");
  EXPECT_EQ(exchange->refresh_token, "r1");
  EXPECT_EQ(exchange->expires_at_epoch_s, 1608060738);
  EXPECT_EQ(exchange->athlete_id, 6958432);

  auto refresh = ParseTokenSet(R"({"token_type":"Bearer","access_token":"a2","expires_at":1542940199.0,"expires_in":14282,"refresh_token":"r2"})");
  ASSERT_TRUE(refresh) << refresh.error().message;
  EXPECT_EQ(refresh->athlete_id, 0);
  EXPECT_EQ(refresh->expires_at_epoch_s, 1542940199);

  auto missing = ParseTokenSet(R"({"access_token":"a2","expires_at":1})");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kProtocol);
  auto cut = ParseTokenSet(R"({"access_token":"a2","expires_at":1)");
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().code, ErrorCode::kTransient);
  auto array = ParseTokenSet("[]");
  ASSERT_FALSE(array);
  EXPECT_EQ(array.error().code, ErrorCode::kProtocol);
}

TEST(ParseTokenSet, ErrorsNeverEchoTheTokens) {
  auto r = ParseTokenSet(R"({"access_token":"secret-access-123","refresh_token":"secret-refresh-456"})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find("secret-"), std::string::npos) << r.error().message;
}

TEST(ParseAthleteAndSubscriptions, ReadTheirFields) {
  auto athlete = ParseAthlete(R"({"id":134815,"username":"x","firstname":"Ann","lastname":"Lee","resource_state":3})");
  ASSERT_TRUE(athlete);
  EXPECT_EQ(athlete->id, 134815);
  EXPECT_EQ(athlete->firstname, "Ann");
  EXPECT_FALSE(ParseAthlete(R"({"firstname":"Ann"})"));

  auto subs = ParseSubscriptions(
      R"([{"id":120475,"resource_state":2,"application_id":1,"callback_url":"https://x.test/webhook","created_at":"2025-01-01T00:00:00Z"}])");
  ASSERT_TRUE(subs) << subs.error().message;
  ASSERT_EQ(subs->size(), 1u);
  EXPECT_EQ((*subs)[0].id, 120475);
  EXPECT_EQ((*subs)[0].callback_url, "https://x.test/webhook");
  auto none = ParseSubscriptions("[]");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto wrong = ParseSubscriptions("{}");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kProtocol);

  auto id = ParseSubscriptionId(R"({"id": 42})");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, 42);
  EXPECT_FALSE(ParseSubscriptionId(R"({"message":"ok"})"));
}

TEST(ParseFault, ReadsTheDocumentedShape) {
  Fault f = ParseFault(R"({"message":"Authorization Error","errors":[{"resource":"AccessToken","field":"activity:read_permission","code":"missing"}]})");
  EXPECT_EQ(f.message, "Authorization Error");
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].resource, "AccessToken");
  EXPECT_EQ(f.errors[0].field, "activity:read_permission");
  EXPECT_EQ(f.errors[0].code, "missing");
  EXPECT_EQ(f.Describe(), "Authorization Error (AccessToken/activity:read_permission/missing)");
}

TEST(ParseFault, NeverFailsOnOddBodies) {
  // `errors` that is not an array has been seen in a recorded 429.
  Fault s = ParseFault(R"({"errors":"Rate Limit Exceeded","status":429,"message":"Too Many Requests"})");
  EXPECT_EQ(s.message, "Too Many Requests");
  EXPECT_TRUE(s.errors.empty());
  Fault o = ParseFault(R"({"message":"x","errors":{"resource":"A"}})");
  EXPECT_TRUE(o.errors.empty());
  Fault mixed = ParseFault(R"({"errors":[1,"two",null,{"code":"inactive"},[]]})");
  ASSERT_EQ(mixed.errors.size(), 1u);
  EXPECT_EQ(mixed.errors[0].code, "inactive");
  EXPECT_EQ(mixed.Describe(), "no message (//inactive)");
  for (const char* body : {"", "null", "[]", "{\"message\":", "<html>", "{\"message\":null,\"errors\":null}"}) {
    Fault f = ParseFault(body);
    EXPECT_TRUE(f.errors.empty()) << body;
  }
}

TEST(ParseFault, DescribeIsBoundedAndPrintable) {
  std::string long_message(1000, 'x');
  Fault f = ParseFault(R"({"message":")" + long_message + R"(\n\u0007"})");
  std::string d = f.Describe();
  EXPECT_LE(d.size(), 310u);
  for (char c : d) EXPECT_GE(static_cast<unsigned char>(c), 0x20);
}

// Not a benchmark (bench/ holds those): a sanity measurement printed for the
// record, and a check that a realistic full page parses completely.
TEST(ParseActivityPage, FullRealisticPageThroughput) {
  std::string page = MakePage(200);
  ActivityParser parser;
  const int rounds = 5;
  auto start = std::chrono::steady_clock::now();
  size_t parsed = 0;
  for (int i = 0; i < rounds; ++i) {
    auto r = parser.ParsePage(page);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 200u);
    parsed += r->size();
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("parsed %zu activities (%zu-byte pages) in %.3f s: %.0f activities/s (this build)\n", parsed,
              page.size(), s, static_cast<double>(parsed) / s);
}

}  // namespace
}  // namespace dl::adapters::strava_http
