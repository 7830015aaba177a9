#include "app/config.h"

#include <gtest/gtest.h>

namespace dl::app {
namespace {

TEST(ConfigTest, DefaultsPointAtRealStrava) {
  auto c = ResolveConfig({}, {}, {});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->api_url, "https://www.strava.com/api/v3");
  EXPECT_EQ(c->oauth_url, "https://www.strava.com/oauth");
  EXPECT_EQ(c->data_dir, "./desirelines-data");
  EXPECT_EQ(c->StoreUrl(), "sqlite:./desirelines-data/desirelines.db");
  EXPECT_EQ(c->SqlitePath(), "./desirelines-data/desirelines.db");
  EXPECT_EQ(c->webhook_path, "/webhook");
  EXPECT_EQ(c->listen, "127.0.0.1:8080");
}

TEST(ConfigTest, FileThenEnvironmentThenFlags) {
  ConfigMap file = {{"data_dir", "/from/file"}, {"strava.client_id", "1"}, {"strava.api_url", "http://file/api/v3"}};
  ConfigMap env = ConfigFromEnvironment({{"DESIRELINES_DATA_DIR", "/from/env"}, {"STRAVA_CLIENT_ID", "2"},
                                         {"UNRELATED", "x"}});
  ConfigMap flags = {{"data_dir", "/from/flag"}};
  auto c = ResolveConfig(file, env, flags);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->data_dir, "/from/flag");
  EXPECT_EQ(c->client_id, "2");
  EXPECT_EQ(c->api_url, "http://file/api/v3");
  EXPECT_EQ(env.count("UNRELATED"), 0u);
}

TEST(ConfigTest, RejectsUnknownFileKeysAndBadValues) {
  auto unknown = ResolveConfig({{"strava.client_idd", "1"}}, {}, {});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message.find("strava.client_idd"), std::string::npos);
  EXPECT_FALSE(ResolveConfig({}, {{"strava.api_url", "ftp://x"}}, {}).has_value());
  EXPECT_FALSE(ResolveConfig({}, {{"strava.client_id", "abc"}}, {}).has_value());
  EXPECT_FALSE(ResolveConfig({}, {{"strava.subscription_id", "-3"}}, {}).has_value());
  EXPECT_FALSE(ResolveConfig({}, {{"rate.window_scale", "0.5"}}, {}).has_value());
  EXPECT_FALSE(ResolveConfig({}, {{"serve.webhook_path", "hook"}}, {}).has_value());
  EXPECT_FALSE(ResolveConfig({}, {{"pipeline.on_deauthorize", "maybe"}}, {}).has_value());
  EXPECT_FALSE(ResolveConfig({}, {{"store.raw_json", "zip"}}, {}).has_value());
  EXPECT_EQ(ResolveConfig({}, {}, {}).value().raw_json, "compact");
  EXPECT_EQ(ResolveConfig({}, {{"store.raw_json", "text"}}, {}).value().raw_json, "text");
}

TEST(ConfigTest, StoreUrlErrorsNeverEchoAPassword) {
  auto c = ResolveConfig({}, {{"store", "mysql://user:hunter2@db/x"}}, {});
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().message.find("hunter2"), std::string::npos);
  EXPECT_NE(c.error().message.find("mysql"), std::string::npos);
}

TEST(ConfigTest, SecretsAreFlagged) {
  EXPECT_TRUE(IsSecretKey("strava.client_secret"));
  EXPECT_TRUE(IsSecretKey("strava.refresh_token"));
  EXPECT_TRUE(IsSecretKey("strava.verify_token"));
  EXPECT_TRUE(IsSecretKey("api.write_token"));
  EXPECT_FALSE(IsSecretKey("strava.client_id"));
}

TEST(ConfigTest, TrailingSlashesAndCorsList) {
  auto c = ResolveConfig({}, {{"strava.api_url", "http://127.0.0.1:5/api/v3/"},
                              {"api.cors_origins", "https://a.example, https://b.example ,"}}, {});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->api_url, "http://127.0.0.1:5/api/v3");
  ASSERT_EQ(c->cors_origins.size(), 2u);
  EXPECT_EQ(c->cors_origins[1], "https://b.example");
}

}  // namespace
}  // namespace dl::app
