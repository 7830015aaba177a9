// OAuth for real GCP with a service-account key file: a JWT signed with
// RS256 (RFC 7523) is exchanged at Google's token endpoint for an access
// token. The pieces that need no network (parse the key, sign the JWT, build
// the exchange request, parse the answer) are separate so they can be tested
// with a fixed key. Secrets (private key, assertion, access token) never
// appear in error messages.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "core/result.h"

namespace dl::adapters::pubsub {

inline constexpr std::string_view kPubSubScope = "https://www.googleapis.com/auth/pubsub";
inline constexpr std::string_view kGoogleTokenUri = "https://oauth2.googleapis.com/token";

struct ServiceAccountKey {
  std::string client_email;     // JWT "iss"
  std::string private_key_id;   // JWT header "kid"
  std::string private_key_pem;  // PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----")
  std::string token_uri = std::string(kGoogleTokenUri);  // JWT "aud" and where to POST
  std::string project_id;       // may be empty
};

// The JSON key file Google issues ("type": "service_account").
// kInvalidArgument when it is not JSON or lacks client_email/private_key.
Result<ServiceAccountKey> ParseServiceAccountKey(std::string_view json_text);

// header.claims.signature, each base64url without padding. Header
// {"alg":"RS256","typ":"JWT","kid":private_key_id}; claims iss, scope,
// aud=token_uri, iat=now_epoch_s, exp=iat+3600. kInvalidArgument when the
// PEM is not an RSA private key.
Result<std::string> MakeServiceAccountJwt(const ServiceAccountKey& key, int64_t now_epoch_s,
                                          std::string_view scope = kPubSubScope);

// The form POST that trades the JWT for an access token.
struct TokenRequest {
  std::string url;           // key.token_uri
  std::string content_type;  // application/x-www-form-urlencoded
  std::string body;          // grant_type=urn:...:jwt-bearer&assertion=JWT
};
TokenRequest BuildTokenRequest(const ServiceAccountKey& key, std::string_view jwt);

struct AccessToken {
  std::string token;
  int64_t expires_at_epoch_s = 0;
};
// Parses {"access_token":..,"expires_in":..}; expiry is now + expires_in.
Result<AccessToken> ParseTokenResponse(std::string_view json_text, int64_t now_epoch_s);

// The cache both token sources share: a token is reused until 60 s before
// its expiry (so it never expires in flight); concurrent callers share one
// fetch. Thread-safe.
class CachedToken {
 public:
  Result<std::string> Get(int64_t now_epoch_s, const std::function<Result<AccessToken>(int64_t)>& fetch);

 private:
  std::mutex mutex_;
  AccessToken cached_;  // guarded by mutex_
};

// Fetches access tokens at key.token_uri (libcurl) and caches them until
// 60 s before expiry. Thread-safe: concurrent callers share one fetch.
// Use with PubSubClient as: .token_provider = [&source] { return source.Token(); }
// Errors: kUnauthorized when Google refuses the assertion, kTransient for
// network failures and 5xx, kProtocol for an answer we cannot read.
class ServiceAccountTokenSource {
 public:
  ServiceAccountTokenSource(ServiceAccountKey key, std::function<int64_t()> now_epoch_s,
                            std::string scope = std::string(kPubSubScope), int64_t timeout_ms = 10'000);
  Result<std::string> Token();

 private:
  Result<AccessToken> Fetch(int64_t now_epoch_s);

  const ServiceAccountKey key_;
  const std::function<int64_t()> now_epoch_s_;
  const std::string scope_;
  const int64_t timeout_ms_;
  CachedToken cache_;
};

}  // namespace dl::adapters::pubsub
