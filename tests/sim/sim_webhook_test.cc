// Push subscriptions and webhook deliveries of strava-sim, against a real
// callback server on port 0.
#include <gtest/gtest.h>

#include "sim_fixture.h"

namespace dl::sim::testing {
namespace {

const char* kCreated = "/api/v3/push_subscriptions";

TEST(SimSubscriptions, ValidationHandshakeOnePerAppViewAndDelete) {
  CallbackServer callback;
  SimOptions o = SmallOptions(2);
  RunningSim s(o);
  const HttpResponse created = PostForm(s.Url(kCreated), SubscribeForm(o, callback.url()));
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t id = json::parse(created.body)["id"];
  EXPECT_EQ(callback.verify_tokens_seen, 1);  // the validation GET carried our verify_token
  EXPECT_TRUE(created.HasHeader("X-RateLimit-Usage"));

  const HttpResponse second = PostForm(s.Url(kCreated), SubscribeForm(o, callback.url()));
  EXPECT_EQ(second.status, 400);
  EXPECT_EQ(
      second.body,
      R"({"message":"Bad Request","errors":[{"resource":"PushSubscription","field":"","code":"already exists"}]})");

  const std::string creds = "?client_id=12345&client_secret=sim-client-secret";
  const json view = json::parse(Get(s.Url(kCreated + creds)).body);
  ASSERT_EQ(view.size(), 1u);
  EXPECT_EQ(view[0]["id"], id);
  EXPECT_EQ(view[0]["callback_url"], callback.url());
  EXPECT_EQ(view[0]["application_id"], 12345);

  HttpRequest del;
  del.method = "DELETE";
  const HttpResponse unknown = Fetch(s.Url(std::string(kCreated) + "/99" + creds), del);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body, R"({"message":"Resource Not Found"})");
  const HttpResponse deleted = Fetch(s.Url(std::string(kCreated) + "/" + std::to_string(id) + creds), del);
  EXPECT_EQ(deleted.status, 204);
  EXPECT_EQ(Get(s.Url(kCreated + creds)).body, "[]");
  EXPECT_EQ(Get(s.Url(std::string(kCreated) + "?client_id=12345&client_secret=bad")).status, 401);
}

TEST(SimSubscriptions, ValidationFailsWithoutEchoOr200InTime) {
  CallbackServer callback;
  SimOptions o = SmallOptions(2);
  o.webhooks.timeout_ms = 300;
  RunningSim s(o);
  const std::string failed =
      R"({"message":"Bad Request","errors":[{"resource":"PushSubscription","field":"callback url","code":"GET to callback URL does not return 200"}]})";
  callback.wrong_challenge = true;
  HttpResponse r = PostForm(s.Url(kCreated), SubscribeForm(o, callback.url()));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, failed);
  callback.wrong_challenge = false;
  callback.validation_status = 500;
  r = PostForm(s.Url(kCreated), SubscribeForm(o, callback.url()));
  EXPECT_EQ(r.body, failed);
  callback.validation_status = 200;
  callback.slow_validation_ms = 700;  // past the (scaled-down) 2-second limit
  r = PostForm(s.Url(kCreated), SubscribeForm(o, callback.url()));
  EXPECT_EQ(r.body, failed);
  EXPECT_EQ(PostForm(s.Url(kCreated), SubscribeForm(o, "http://127.0.0.1:1/hook")).body, failed);  // nobody there
  callback.slow_validation_ms = 0;
  EXPECT_EQ(PostForm(s.Url(kCreated), SubscribeForm(o, callback.url())).status, 201);
}

TEST(SimSubscriptions, AcceptsMultipartFormLikeStravasCurlExample) {
  CallbackServer callback;
  SimOptions o = SmallOptions(2);
  RunningSim s(o);
  std::string body;
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{{"client_id", "12345"},
                                                                             {"client_secret", o.client_secret},
                                                                             {"callback_url", callback.url()},
                                                                             {"verify_token", "VERIFY"}}) {
    body += "--XyZ\r\nContent-Disposition: form-data; name=\"" + k + "\"\r\n\r\n" + v + "\r\n";
  }
  body += "--XyZ--\r\n";
  HttpRequest request;
  request.method = "POST";
  request.body = body;
  request.content_type = "multipart/form-data; boundary=XyZ";
  const HttpResponse r = Fetch(s.Url(kCreated), request);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(callback.verify_tokens_seen, 1);
}

// A subscribed simulator with its callback.
struct Subscribed {
  explicit Subscribed(SimOptions o) : options(std::move(o)), s(options) {
    const HttpResponse r = PostForm(s.Url(kCreated), SubscribeForm(options, callback.url()));
    if (r.status != 201) throw std::runtime_error("subscribe failed: " + r.body);
    subscription_id = json::parse(r.body)["id"];
  }
  json WaitForEvent(size_t n) {
    EXPECT_TRUE(WaitFor([&] { return callback.event_count() >= n; })) << "event " << n << " never came";
    auto events = callback.events();
    return events.size() >= n ? events[n - 1] : json();
  }
  CallbackServer callback;
  SimOptions options;
  RunningSim s;
  int64_t subscription_id = 0;
};

TEST(SimWebhooks, AdminChangesPostTheDocumentedEvents) {
  Subscribed t(SmallOptions(2));
  const HttpResponse created =
      SendJson("POST", t.s.Url("/_sim/activities"),
               R"({"name":"Lunch Ride","sport_type":"GravelRide","start_date":"2025-06-01T12:00:00Z"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const json stored = json::parse(created.body);
  const int64_t id = stored["id"];
  EXPECT_EQ(stored["type"], "Ride");
  EXPECT_EQ(stored["start_date_local"], "2025-06-01T08:00:00Z");  // New York, DST
  const json create = t.WaitForEvent(1);
  EXPECT_EQ(create["object_type"], "activity");
  EXPECT_EQ(create["aspect_type"], "create");
  EXPECT_EQ(create["object_id"], id);
  EXPECT_EQ(create["owner_id"], t.s.sim().athlete_id());
  EXPECT_EQ(create["subscription_id"], t.subscription_id);
  EXPECT_EQ(create["updates"], json::object());
  EXPECT_TRUE(create["event_time"].is_number_integer());

  const std::string one = "/_sim/activities/" + std::to_string(id);
  EXPECT_EQ(SendJson("PUT", t.s.Url(one), R"({"distance":12345.6})").status, 200);  // fires nothing
  EXPECT_EQ(SendJson("PUT", t.s.Url(one), R"({"name":"Renamed"})").status, 200);
  EXPECT_EQ(t.WaitForEvent(2)["updates"], (json{{"title", "Renamed"}}));
  SendJson("PUT", t.s.Url(one), R"({"sport_type":"Run"})");
  EXPECT_EQ(t.WaitForEvent(3)["updates"], (json{{"type", "Run"}}));
  SendJson("PUT", t.s.Url(one), R"({"private":true})");
  EXPECT_EQ(t.WaitForEvent(4)["updates"], (json{{"private", "true"}}));
  SendJson("PUT", t.s.Url(one), R"({"visibility":"everyone"})");
  EXPECT_EQ(t.WaitForEvent(5)["updates"], (json{{"private", "false"}}));
  EXPECT_EQ(json::parse(Get(t.s.Url("/api/v3/activities/" + std::to_string(id)), t.s.Token()).body)["distance"],
            12345.6);
  HttpRequest del;
  del.method = "DELETE";
  EXPECT_EQ(Fetch(t.s.Url(one), del).status, 204);
  EXPECT_EQ(t.WaitForEvent(6)["aspect_type"], "delete");
  EXPECT_EQ(Fetch(t.s.Url(one), del).status, 404);

  EXPECT_EQ(PostForm(t.s.Url("/_sim/deauthorize"), "").status, 200);
  const json deauth = t.WaitForEvent(7);
  EXPECT_EQ(deauth["object_type"], "athlete");
  EXPECT_EQ(deauth["aspect_type"], "update");
  EXPECT_EQ(deauth["object_id"], t.s.sim().athlete_id());
  EXPECT_EQ(deauth["updates"], (json{{"authorized", "false"}}));
  EXPECT_EQ(t.callback.event_count(), 7u);  // the distance edit really fired nothing
}

TEST(SimWebhooks, WithoutReadAllPrivacyFlipsLookLikeDeleteAndCreate) {
  SimOptions o = SmallOptions(2);
  o.scopes = "read,activity:read";
  Subscribed t(o);
  auto created = t.s.sim().CreateActivity(R"({"name":"x","start_date":"2025-01-05T10:00:00Z"})");
  ASSERT_TRUE(created.has_value());
  const int64_t id = json::parse(*created)["id"];
  EXPECT_EQ(t.WaitForEvent(1)["aspect_type"], "create");
  ASSERT_TRUE(t.s.sim().UpdateActivity(id, R"({"visibility":"only_me"})").has_value());
  EXPECT_EQ(t.WaitForEvent(2)["aspect_type"], "delete");
  ASSERT_TRUE(t.s.sim().UpdateActivity(id, R"({"name":"hidden rename"})").has_value());  // invisible to the app
  ASSERT_TRUE(t.s.sim().UpdateActivity(id, R"({"private":false})").has_value());
  const json back = t.WaitForEvent(3);
  EXPECT_EQ(back["aspect_type"], "create");
  EXPECT_EQ(back["object_id"], id);
}

TEST(SimWebhooks, RetriesUntilA200ArrivesInTime) {
  Subscribed t(SmallOptions(2));
  t.callback.fail_first = 1;  // a 500 first
  ASSERT_TRUE(t.s.sim().SendEvent(R"({"n":1})").has_value());
  EXPECT_EQ(t.WaitForEvent(1)["n"], 1);
  t.callback.posts = 0;
  t.callback.fail_first = 2;
  t.callback.fail_by_sleeping_ms = 600;  // later than the 400 ms test timeout
  ASSERT_TRUE(t.s.sim().SendEvent(R"({"n":2})").has_value());
  EXPECT_EQ(t.WaitForEvent(2)["n"], 2);
  std::vector<WebhookDelivery> log;
  ASSERT_TRUE(WaitFor([&] { return (log = t.s.sim().WebhookLog()).size() == 2 && !log[1].pending; }));
  ASSERT_EQ(log[0].attempts.size(), 2u);
  EXPECT_EQ(log[0].attempts[0].status, 500);
  EXPECT_EQ(log[0].attempts[1].status, 200);
  EXPECT_TRUE(log[0].delivered);
  ASSERT_EQ(log[1].attempts.size(), 3u);
  EXPECT_FALSE(log[1].attempts[0].error.empty());
  EXPECT_TRUE(log[1].delivered);
}

TEST(SimWebhooks, GivesUpAfterThreeAttempts) {
  Subscribed t(SmallOptions(2));
  t.callback.fail_first = 100;
  const HttpResponse sent = SendJson("POST", t.s.Url("/_sim/events"), R"({"aspect_type":"create"})");
  EXPECT_EQ(sent.status, 202);
  json log;
  ASSERT_TRUE(WaitFor([&] {
    log = json::parse(Get(t.s.Url("/_sim/webhook-log")).body);
    return log.size() == 1 && !log[0]["pending"].get<bool>();
  }));
  EXPECT_EQ(log[0]["attempts"].size(), 3u);
  EXPECT_FALSE(log[0]["delivered"].get<bool>());
  EXPECT_EQ(t.callback.posts, 3);
  EXPECT_EQ(log[0]["body"], R"({"aspect_type":"create"})");
}

TEST(SimWebhooks, NoSubscriptionMeansNoDelivery) {
  RunningSim s(SmallOptions(2));
  EXPECT_EQ(SendJson("POST", s.Url("/_sim/events"), "{}").status, 409);
  ASSERT_TRUE(s.sim().CreateActivity("{}").has_value());
  EXPECT_TRUE(s.sim().WebhookLog().empty());
}

}  // namespace
}  // namespace dl::sim::testing
