#include "adapters/files/config_file.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "adapters/files/atomic_file.h"
#include "test_dir.h"

namespace dl::adapters::files {
namespace {

void ExpectInvalid(std::string_view text, const std::string& prefix, std::vector<std::string> parts = {}) {
  auto r = ParseConfig(text, "cfg.toml");
  ASSERT_FALSE(r.has_value()) << text;
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message.rfind(prefix, 0), 0u) << "expected prefix '" << prefix << "' in: " << r.error().message;
  for (const auto& part : parts) {
    EXPECT_NE(r.error().message.find(part), std::string::npos) << "'" << part << "' not in: " << r.error().message;
  }
}

TEST(ConfigFileTest, FlattensOneLevelOfTablesAndStringifiesValues) {
  auto r = ParseConfig(R"(# desirelines
data_dir = "/var/lib/desirelines"
sports_file = ''
serve.listen = "0.0.0.0:8080"   # a dotted key is a table too

[strava]
client_id = 12345
client_secret = "s3cr3t"
subscription_id = -7

[rate]
window_scale = 1.5
big = 1e20

[api]
cors_origins = ["https://a.example", "http://localhost:5173"]
read_only = true
empty = []

[athlete]
since = 2019-01-01
wakes = 06:30:00
)",
                       "cfg.toml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const ConfigValues want = {
      {"data_dir", "/var/lib/desirelines"},
      {"sports_file", ""},
      {"serve.listen", "0.0.0.0:8080"},
      {"strava.client_id", "12345"},
      {"strava.client_secret", "s3cr3t"},
      {"strava.subscription_id", "-7"},
      {"rate.window_scale", "1.5"},
      {"rate.big", "1e+20"},
      {"api.cors_origins", "https://a.example,http://localhost:5173"},
      {"api.read_only", "true"},
      {"api.empty", ""},
      {"athlete.since", "2019-01-01"},
      {"athlete.wakes", "06:30:00"},
  };
  EXPECT_EQ(*r, want);
}

TEST(ConfigFileTest, EmptyFileIsAnEmptyMap) {
  auto r = ParseConfig("# nothing yet\n", "cfg.toml");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->empty());
}

TEST(ConfigFileTest, SyntaxErrorsNameFileLineAndColumn) {
  ExpectInvalid("data_dir = \"x\"\n[strava\nclient_id = 1\n", "cfg.toml:2:");
  ExpectInvalid("a = 1\na = 2\n", "cfg.toml:2:", {"'a'"});
  ExpectInvalid("= 3\n", "cfg.toml:1:1: ");
  ExpectInvalid("[t]\nx = 1\n[t]\ny = 2\n", "cfg.toml:3:1: ", {"'t'"});
}

TEST(ConfigFileTest, StructureErrorsNameTheKeyAndLine) {
  ExpectInvalid("[strava]\nid = 1\n[strava.oauth]\nurl = \"x\"\n", "cfg.toml:3:", {"'strava.oauth'", "nested"});
  ExpectInvalid("x = 1\n[[servers]]\nhost = \"a\"\n", "cfg.toml:", {"'servers' must be a list of plain values"});
  ExpectInvalid("[api]\ncors_origins = [[\"a\"], [\"b\"]]\n", "cfg.toml:2:", {"'api.cors_origins'"});
  ExpectInvalid("[api]\ncors_origins = [\"a,b\"]\n", "cfg.toml:2:", {"contains a comma"});
  ExpectInvalid("\"a.b\" = 1\n[a]\nb = 2\n", "cfg.toml:", {"'a.b' is defined twice"});
}

TEST(ConfigFileTest, ErrorsDoNotRepeatValues) {
  const std::vector<std::string> docs = {
      "[strava]\nclient_secret = 1234abcdsecretvalue\n",
      "[strava]\nclient_secret = \"abcd-unterminated-secretvalue\n",
      "[strava]\nclient_secret = \"abcd\\qsecretvalue\"\n",
      "[strava]\nclient_secret = \"abcd\" secretvalue\n",
  };
  for (const auto& doc : docs) {
    auto r = ParseConfig(doc, "cfg.toml");
    ASSERT_FALSE(r.has_value()) << doc;
    EXPECT_EQ(r.error().message.rfind("cfg.toml:2:", 0), 0u) << r.error().message;
    EXPECT_EQ(r.error().message.find("secretvalue"), std::string::npos) << r.error().message;
  }
}

TEST(ConfigFileTest, LoadsAFileAndReportsAMissingOne) {
  TestDir dir;
  auto path = dir.path() / "desirelines.toml";
  ASSERT_TRUE(AtomicWriteFile(path, "[strava]\nclient_id = \"99\"\n", kSecretFileMode).has_value());
  auto r = LoadConfigFile(path);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, (ConfigValues{{"strava.client_id", "99"}}));

  ASSERT_TRUE(AtomicWriteFile(path, "[strava\n").has_value());
  auto bad = LoadConfigFile(path);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message.rfind(path.string() + ":1:", 0), 0u) << bad.error().message;

  auto missing = LoadConfigFile(dir.path() / "absent.toml");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("absent.toml does not exist"), std::string::npos);
}

TEST(ConfigFileTest, CheckOwnerOnly) {
  TestDir dir;
  auto path = dir.path() / "desirelines.toml";
  ASSERT_TRUE(AtomicWriteFile(path, "", kSecretFileMode).has_value());
  EXPECT_TRUE(CheckOwnerOnly(path).has_value());

  for (unsigned mode : {0640u, 0604u, 0620u, 0644u}) {
    std::filesystem::permissions(path, static_cast<std::filesystem::perms>(mode));
    auto s = CheckOwnerOnly(path);
    ASSERT_FALSE(s.has_value()) << std::oct << mode;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", mode);
    EXPECT_NE(s.error().message.find(std::string("(mode ") + octal + ")"), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find("chmod 600 " + path.string()), std::string::npos) << s.error().message;
  }
  std::filesystem::permissions(path, static_cast<std::filesystem::perms>(0400));
  EXPECT_TRUE(CheckOwnerOnly(path).has_value());

  auto missing = CheckOwnerOnly(dir.path() / "absent.toml");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace dl::adapters::files
