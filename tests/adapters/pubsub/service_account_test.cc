// Service-account JWT: signed with a fixed test key (generated once with
// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`; it protects
// nothing) and verified here with its public half.
#include "adapters/pubsub/service_account.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "adapters/pubsub/base64.h"

namespace dl::adapters::pubsub {
namespace {

using nlohmann::json;

constexpr char kTestPrivateKey[] = R"(-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCmUiEqhbV7Z184
cLncdtzW9k9N7eVXIVdeVeZjGgpS5RnVy/HqDgs6lgpnT3WwQXledFGY5s6L97dj
Yv8PBG2bi+j0I8hmg4hgaXy/m/N1wos63lYdDCArulH4J/6oSgpNw1q0UOVMjZ9s
g8Y/mStL2Kjqk2oW8cBn4m9DyalFsjyZt37L87QFIX3VoK9p4phlR1R92EKFFX9v
N21gWW2hXfrG5GODsyFrBgmmDYVOpBiAeoVALWs+H3VzlPeJ+F+U+tQCwu8ahqvO
TwRC9EeTsKQd0Ai1ieFf075qeDEwYk1ZDQSzd+bemeutAkcpcfhwmEzzihAKcBVO
10Zvtl1JAgMBAAECggEAAth4/gRPhBRE94SE41Q+ZkEiBlSxmG0W/04/RMp2bqT6
7Tuq4KMdNUpXxnJj3SPbaeeSyu7b/7PWA+chiJRMNHMIMD9dJcb5HNry9LnYnaxW
mAsVO4mpS3gCqudPYl1jQ6GrvatDitd7dvWpi2LnjHR9rgcX+r6grkZVHjqDi7r5
KDsyiYhM4UaV5VgwL7EXNf7jF3Z5Duuk5AzAaXSCaD/W3G7G3Tvt20v5IWF+HVcC
IHH31XYcvhsQ/eAhBzK22F+bLU6DCL+mZhZnvTLcmCrjHKyBITjMq0iCuECv/vMa
QDISccy8g/hhakhgB4gdg1alaXlrKq2vifQg5dz1XwKBgQDWBE/NVPWdSKyxCGrM
PyENUqPeF+D2cc68XVD0uNwVypMrgD4+N1KEY0S25ex/e5UTWwjBcrb2UU25pgtm
TLQfLJFBFBHvudRVpFF8mR6r8fbJzpfN5U7A2FplwGmLF5lwCvxriK5fk3TRf2N7
cYuZNsy5FBKlvsq2jN11Lkh3+wKBgQDG8pORsJbfzB25PwrX/pc5+jMWlH0YYyBY
7KpvK5KiAaIOav69GOcEYNKXDH8Mw0O0Qjpccc7ksmpP1nb05gJZP5TKEGM3yYNC
GDOT57JEWMwrAOHlnUu0WrWbaRX8nuhTXMfWKwmjI2rNIwBAV9Yz0bZm1IIWmOzE
6GH2CnooiwKBgQCU4aT+S4cd5ou0EA3zjksY8I9sliH6b0uJQEVsKRl501W0Il+q
emPeEwyfS63NNZSMRXz+ziW3jvHKH1e4z81SDnfx1NtxcE3lUg0Z548twIKU+zIh
ms7BWwDv3f3ONBmalxnoWMotVPAkOUFkg6XAbR3X9r3OLb7pZW898HebdwKBgCtK
m+wHBj261/j4i+6Gevflxvox46rL3z0aetfoHmdcfZwvkjEp2xNr0keGM5teXjw6
cSKurTu8yz+GRqpx5q7vE/yIZl68XfCi/Y5Ay9ztibgN4BosCU48suoXiu5G0f1Z
4i5rfRRf35y18hcORhFOoCduNMSgEF2kx7RXgU+TAoGAY5DMW8KTzx3TAELtDbFG
bBYJBZs0DSSV2I3q2eo7231/CLQUTrXXJLn9i/8xIStcB0fgBNMfzY1jZRGaEwcu
wwD4U3ZpMsQOh9ELLCNjt/pQduiMqUVmTbheRcq4fcrcB75fmzkbqIaszCqxFhcV
NB/0FvwA/zrD798IOd+He3U=
-----END PRIVATE KEY-----
)";
constexpr char kTestPublicKey[] = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAplIhKoW1e2dfOHC53Hbc
1vZPTe3lVyFXXlXmYxoKUuUZ1cvx6g4LOpYKZ091sEF5XnRRmObOi/e3Y2L/DwRt
m4vo9CPIZoOIYGl8v5vzdcKLOt5WHQwgK7pR+Cf+qEoKTcNatFDlTI2fbIPGP5kr
S9io6pNqFvHAZ+JvQ8mpRbI8mbd+y/O0BSF91aCvaeKYZUdUfdhChRV/bzdtYFlt
oV36xuRjg7MhawYJpg2FTqQYgHqFQC1rPh91c5T3ifhflPrUAsLvGoarzk8EQvRH
k7CkHdAItYnhX9O+angxMGJNWQ0Es3fm3pnrrQJHKXH4cJhM84oQCnAVTtdGb7Zd
SQIDAQAB
-----END PUBLIC KEY-----
)";

ServiceAccountKey TestKey() {
  ServiceAccountKey key;
  key.client_email = "dl-test@dl-test.iam.gserviceaccount.com";
  key.private_key_id = "kid-0123456789";
  key.private_key_pem = kTestPrivateKey;
  return key;
}

std::vector<std::string> SplitJwt(const std::string& jwt) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot = jwt.find('.'); dot != std::string::npos; dot = jwt.find('.', start)) {
    parts.push_back(jwt.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(jwt.substr(start));
  return parts;
}

bool VerifyRs256(const std::string& signing_input, const std::string& signature) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(kTestPublicKey, -1), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!pkey || !ctx) return false;
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
}

TEST(ServiceAccountJwt, HeaderAndClaimsDecodeToTheExpectedJson) {
  auto jwt = MakeServiceAccountJwt(TestKey(), 1'700'000'000);
  ASSERT_TRUE(jwt) << jwt.error().message;
  auto parts = SplitJwt(*jwt);
  ASSERT_EQ(parts.size(), 3u);
  auto header = Base64Decode(parts[0]);
  auto claims = Base64Decode(parts[1]);
  ASSERT_TRUE(header && claims);
  EXPECT_EQ(json::parse(*header), (json{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "kid-0123456789"}}));
  EXPECT_EQ(json::parse(*claims), (json{{"iss", "dl-test@dl-test.iam.gserviceaccount.com"},
                                        {"scope", "https://www.googleapis.com/auth/pubsub"},
                                        {"aud", "https://oauth2.googleapis.com/token"},
                                        {"iat", 1'700'000'000},
                                        {"exp", 1'700'003'600}}));
}

TEST(ServiceAccountJwt, SignatureVerifiesWithThePublicKeyAndFailsWhenTampered) {
  auto jwt = MakeServiceAccountJwt(TestKey(), 1'700'000'000);
  ASSERT_TRUE(jwt) << jwt.error().message;
  auto parts = SplitJwt(*jwt);
  ASSERT_EQ(parts.size(), 3u);
  auto signature = Base64Decode(parts[2]);
  ASSERT_TRUE(signature);
  EXPECT_EQ(signature->size(), 256u);  // RSA-2048
  EXPECT_TRUE(VerifyRs256(parts[0] + "." + parts[1], *signature));
  auto other = MakeServiceAccountJwt(TestKey(), 1'700'000'001);
  ASSERT_TRUE(other);
  auto other_parts = SplitJwt(*other);
  EXPECT_FALSE(VerifyRs256(parts[0] + "." + other_parts[1], *signature));
}

TEST(ServiceAccountJwt, IsBase64UrlWithoutPadding) {
  auto jwt = MakeServiceAccountJwt(TestKey(), 1'700'000'000);
  ASSERT_TRUE(jwt);
  EXPECT_EQ(jwt->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
            std::string::npos);
}

TEST(ServiceAccountJwt, RefusesAKeyThatIsNotRsaPemWithoutEchoingIt) {
  ServiceAccountKey key = TestKey();
  key.private_key_pem = "-----BEGIN PRIVATE KEY-----\nnot-a-key-SECRET\n-----END PRIVATE KEY-----\n";
  auto jwt = MakeServiceAccountJwt(key, 1'700'000'000);
  ASSERT_FALSE(jwt);
  EXPECT_EQ(jwt.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(jwt.error().message.find("SECRET"), std::string::npos);
}

TEST(ServiceAccountKeyFile, ParsesGooglesJsonKeyFile) {
  const json file = {{"type", "service_account"},
                     {"project_id", "dl-prod"},
                     {"private_key_id", "abc123"},
                     {"private_key", kTestPrivateKey},
                     {"client_email", "svc@dl-prod.iam.gserviceaccount.com"},
                     {"token_uri", "https://oauth2.googleapis.com/token"}};
  auto key = ParseServiceAccountKey(file.dump());
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->client_email, "svc@dl-prod.iam.gserviceaccount.com");
  EXPECT_EQ(key->private_key_id, "abc123");
  EXPECT_EQ(key->project_id, "dl-prod");
  EXPECT_EQ(key->private_key_pem, kTestPrivateKey);
  EXPECT_TRUE(MakeServiceAccountJwt(*key, 1'700'000'000));
}

TEST(ServiceAccountKeyFile, RejectsMissingFieldsAndOtherTypes) {
  EXPECT_EQ(ParseServiceAccountKey("not json").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParseServiceAccountKey(R"({"type":"service_account","client_email":"a@b"})").error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParseServiceAccountKey(R"({"type":"authorized_user","client_email":"a@b","private_key":"x"})")
                .error()
                .code,
            ErrorCode::kInvalidArgument);
}

TEST(TokenExchange, BuildsTheJwtBearerFormPost) {
  TokenRequest request = BuildTokenRequest(TestKey(), "aaa.bbb-_.ccc");
  EXPECT_EQ(request.url, "https://oauth2.googleapis.com/token");
  EXPECT_EQ(request.content_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(request.body,
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=aaa.bbb-_.ccc");
}

TEST(TokenExchange, ParsesTheAccessTokenAndItsExpiry) {
  auto token = ParseTokenResponse(R"({"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"})", 1000);
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(token->token, "ya29.x");
  EXPECT_EQ(token->expires_at_epoch_s, 4599);
  auto refused = ParseTokenResponse(R"({"error":"invalid_grant","error_description":"Invalid JWT"})", 1000);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(ParseTokenResponse("{}", 1000).error().code, ErrorCode::kProtocol);
}

// A stand-in for oauth2.googleapis.com/token on a loopback port: checks the
// grant type and the assertion's signature, answers like Google.
class FakeTokenEndpoint {
 public:
  FakeTokenEndpoint() {
    server_.set_tcp_nodelay(true);
    server_.Post("/token", [this](const httplib::Request& req, httplib::Response& res) {
      ++calls_;
      if (fail_with_500_) {
        res.status = 500;
        return;
      }
      const std::string assertion = req.get_param_value("assertion");
      auto parts = SplitJwt(assertion);
      auto signature = parts.size() == 3 ? Base64Decode(parts[2]) : std::nullopt;
      const bool valid = req.get_header_value("Content-Type") == "application/x-www-form-urlencoded" &&
                         req.get_param_value("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer" &&
                         signature && VerifyRs256(parts[0] + "." + parts[1], *signature);
      if (!valid) {
        res.status = 400;
        res.set_content(R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})",
                        "application/json");
        return;
      }
      const std::string token = "ya29.token-" + std::to_string(calls_.load());
      res.set_content(R"({"access_token":")" + token + R"(","expires_in":3599,"token_type":"Bearer"})",
                      "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  }
  ~FakeTokenEndpoint() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/token"; }
  int calls() const { return calls_; }
  void FailWith500() { fail_with_500_ = true; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> calls_{0};
  std::atomic<bool> fail_with_500_{false};
};

TEST(ServiceAccountTokenSource, ExchangesTheJwtAndCachesUntilAMinuteBeforeExpiry) {
  FakeTokenEndpoint endpoint;
  ServiceAccountKey key = TestKey();
  key.token_uri = endpoint.url();
  int64_t now = 1'700'000'000;
  ServiceAccountTokenSource source(key, [&now] { return now; });
  auto first = source.Token();
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, "ya29.token-1");
  now += 3599 - 61;  // still more than a minute left: cached
  EXPECT_EQ(source.Token().value_or(""), "ya29.token-1");
  EXPECT_EQ(endpoint.calls(), 1);
  now += 1;  // within the last minute: refreshed
  EXPECT_EQ(source.Token().value_or(""), "ya29.token-2");
  EXPECT_EQ(endpoint.calls(), 2);
}

TEST(ServiceAccountTokenSource, RefusedAssertionIsUnauthorizedAndServerErrorIsTransient) {
  FakeTokenEndpoint endpoint;
  ServiceAccountKey key = TestKey();
  key.token_uri = endpoint.url();
  // Signed by another RSA key than the one the endpoint trusts.
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> other(EVP_RSA_gen(2048), &EVP_PKEY_free);
  ASSERT_TRUE(other);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio.get(), other.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  key.private_key_pem.assign(data, static_cast<size_t>(size));
  ServiceAccountTokenSource wrong_key(key, [] { return int64_t{1'700'000'000}; });
  auto refused = wrong_key.Token();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthorized);
  EXPECT_NE(refused.error().message.find("invalid_grant"), std::string::npos) << refused.error().message;

  endpoint.FailWith500();
  ServiceAccountKey good = TestKey();
  good.token_uri = endpoint.url();
  ServiceAccountTokenSource source(good, [] { return int64_t{1'700'000'000}; });
  auto transient = source.Token();
  ASSERT_FALSE(transient);
  EXPECT_EQ(transient.error().code, ErrorCode::kTransient);
}

}  // namespace
}  // namespace dl::adapters::pubsub
