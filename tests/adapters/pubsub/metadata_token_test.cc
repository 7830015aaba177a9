// MetadataTokenSource against a local stand-in of the GCE metadata server
// (cpp-httplib on port 0, reached through GCE_METADATA_HOST like Google's
// libraries do).
#include "adapters/pubsub/metadata_token.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace dl::adapters::pubsub {
namespace {

constexpr char kTokenPath[] = "/computeMetadata/v1/instance/service-accounts/default/token";
constexpr char kSecretToken[] = "ya29.metadata-secret-token";

class FakeMetadataServer {
 public:
  FakeMetadataServer() {
    server_.Get(kTokenPath, [this](const httplib::Request& req, httplib::Response& res) {
      ++calls_;
      // The real server refuses requests without the header (SSRF defence).
      if (req.get_header_value("Metadata-Flavor") != "Google") {
        res.status = 403;
        res.set_content("Missing Metadata-Flavor:Google header.", "text/plain");
        return;
      }
      std::lock_guard lock(mu_);
      res.status = status_;
      res.set_content(body_, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  }
  ~FakeMetadataServer() {
    server_.stop();
    thread_.join();
  }
  void Answer(int status, std::string body) {
    std::lock_guard lock(mu_);
    status_ = status;
    body_ = std::move(body);
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  int calls() const { return calls_.load(); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> calls_{0};
  std::mutex mu_;
  int status_ = 200;
  std::string body_ = std::string(R"({"access_token":")") + kSecretToken + R"(","expires_in":3599,"token_type":"Bearer"})";
};

class MetadataToken : public ::testing::Test {
 protected:
  MetadataTokenSource Source() {
    return MetadataTokenSource(server_.host(), [this] { return now_s_.load(); }, 2'000);
  }
  FakeMetadataServer server_;
  std::atomic<int64_t> now_s_{1'700'000'000};
};

TEST_F(MetadataToken, SendsTheHeaderAndCachesTheTokenUntilShortlyBeforeExpiry) {
  ASSERT_TRUE(server_.calls() == 0);
  auto source = Source();
  auto token = source.Token();
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(*token, kSecretToken);
  now_s_ += 3000;  // still more than 60 s before expiry
  ASSERT_TRUE(source.Token());
  EXPECT_EQ(server_.calls(), 1);
  now_s_ += 540;  // within the last minute: fetched again
  ASSERT_TRUE(source.Token());
  EXPECT_EQ(server_.calls(), 2);
}

TEST_F(MetadataToken, HostComesFromGceMetadataHost) {
  setenv("GCE_METADATA_HOST", server_.host().c_str(), 1);
  EXPECT_EQ(MetadataHostFromEnv(), server_.host());
  auto source = MetadataTokenSource(MetadataHostFromEnv(), [] { return int64_t{1'700'000'000}; });
  auto token = source.Token();
  unsetenv("GCE_METADATA_HOST");
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(*token, kSecretToken);
  EXPECT_EQ(MetadataHostFromEnv(), kDefaultMetadataHost);
}

TEST_F(MetadataToken, RefusalIsUnauthorizedWithAClearMessage) {
  server_.Answer(404, R"({"error":"no service account"})");
  auto token = Source().Token();
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().code, ErrorCode::kUnauthorized);
  EXPECT_NE(token.error().message.find("HTTP 404"), std::string::npos) << token.error().message;
  EXPECT_NE(token.error().message.find("service account"), std::string::npos) << token.error().message;
}

TEST_F(MetadataToken, ServerErrorsAreTransient) {
  server_.Answer(503, "busy");
  auto token = Source().Token();
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().code, ErrorCode::kTransient);
}

TEST_F(MetadataToken, MalformedAnswersFailWithoutQuotingTheToken) {
  for (const std::string& body :
       {std::string("not json ") + kSecretToken,
        std::string(R"({"access_token":")") + kSecretToken + R"(","expires_in":"soon"})",
        std::string(R"({"access_token":")") + kSecretToken + R"(","expires_in":0})",
        std::string(R"({"token":")") + kSecretToken + R"("})"}) {
    server_.Answer(200, body);
    auto token = Source().Token();
    ASSERT_FALSE(token) << body;
    EXPECT_EQ(token.error().code, ErrorCode::kProtocol) << body;
    EXPECT_EQ(token.error().message.find(kSecretToken), std::string::npos) << token.error().message;
    EXPECT_EQ(token.error().message.find("metadata-secret"), std::string::npos) << token.error().message;
  }
}

TEST_F(MetadataToken, NoServerIsATransientErrorNamingTheHost) {
  auto source = MetadataTokenSource("127.0.0.1:1", [] { return int64_t{0}; }, 1'000);
  auto token = source.Token();
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().code, ErrorCode::kTransient);
  EXPECT_NE(token.error().message.find("127.0.0.1:1"), std::string::npos);
}

}  // namespace
}  // namespace dl::adapters::pubsub
