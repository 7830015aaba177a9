#include "adapters/pubsub/service_account.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cctype>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "adapters/pubsub/base64.h"

namespace dl::adapters::pubsub {
namespace {

using nlohmann::json;

// Signs `input` with RSA-SHA256 (PKCS#1 v1.5), which is what RS256 means.
Result<std::string> SignRs256(const std::string& pem, std::string_view input) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                &BIO_free);
  if (!bio) return Fail(ErrorCode::kInternal, "BIO_new_mem_buf failed");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!pkey || EVP_PKEY_base_id(pkey.get()) != EVP_PKEY_RSA) {
    return Fail(ErrorCode::kInvalidArgument, "service account private_key is not an RSA PEM private key");
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  size_t length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return Fail(ErrorCode::kInternal, "RS256 signing setup failed");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return Fail(ErrorCode::kInternal, "RS256 signing failed");
  }
  signature.resize(length);
  return signature;
}

// application/x-www-form-urlencoded value encoding.
std::string FormEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// POSTs the form; returns (HTTP status, body). The body holds the assertion,
// so neither it nor the answer goes into error messages.
Result<std::pair<long, std::string>> PostForm(const TokenRequest& request, int64_t timeout_ms) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return Fail(ErrorCode::kInternal, "curl_easy_init failed");
  const std::string content_type = "Content-Type: " + request.content_type;
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(nullptr, content_type.c_str()), &curl_slist_free_all);
  std::string body;
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.c_str());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    return Fail(ErrorCode::kTransient, "token request to " + request.url + ": " + curl_easy_strerror(rc));
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  return std::make_pair(status, std::move(body));
}

}  // namespace

Result<ServiceAccountKey> ParseServiceAccountKey(std::string_view json_text) {
  json parsed = json::parse(json_text, nullptr, false);
  if (!parsed.is_object()) return Fail(ErrorCode::kInvalidArgument, "service account key is not a JSON object");
  ServiceAccountKey key;
  key.client_email = parsed.value("client_email", "");
  key.private_key_id = parsed.value("private_key_id", "");
  key.private_key_pem = parsed.value("private_key", "");
  key.project_id = parsed.value("project_id", "");
  key.token_uri = parsed.value("token_uri", std::string(kGoogleTokenUri));
  const std::string type = parsed.value("type", "service_account");
  if (type != "service_account") {
    return Fail(ErrorCode::kInvalidArgument, "key file type is '" + type + "', expected service_account");
  }
  if (key.client_email.empty() || key.private_key_pem.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "service account key lacks client_email or private_key");
  }
  return key;
}

Result<std::string> MakeServiceAccountJwt(const ServiceAccountKey& key, int64_t now_epoch_s,
                                          std::string_view scope) {
  json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!key.private_key_id.empty()) header["kid"] = key.private_key_id;
  const json claims = {{"iss", key.client_email},
                       {"scope", std::string(scope)},
                       {"aud", key.token_uri},
                       {"iat", now_epoch_s},
                       {"exp", now_epoch_s + 3600}};
  const std::string signing_input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());
  auto signature = SignRs256(key.private_key_pem, signing_input);
  if (!signature) return std::unexpected(signature.error());
  return signing_input + "." + Base64UrlEncode(*signature);
}

TokenRequest BuildTokenRequest(const ServiceAccountKey& key, std::string_view jwt) {
  return TokenRequest{
      .url = key.token_uri,
      .content_type = "application/x-www-form-urlencoded",
      .body = "grant_type=" + FormEncode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
              "&assertion=" + FormEncode(jwt),
  };
}

Result<AccessToken> ParseTokenResponse(std::string_view json_text, int64_t now_epoch_s) {
  json parsed = json::parse(json_text, nullptr, false);
  if (!parsed.is_object()) return Fail(ErrorCode::kProtocol, "token response is not a JSON object");
  if (parsed.contains("error")) {
    // error / error_description are Google's words, not secrets.
    std::string error = parsed["error"].is_string() ? parsed["error"].get<std::string>() : "error";
    return Fail(ErrorCode::kUnauthorized,
                "token endpoint refused the assertion: " + error + " " + parsed.value("error_description", ""));
  }
  AccessToken token;
  token.token = parsed.value("access_token", "");
  if (token.token.empty()) return Fail(ErrorCode::kProtocol, "token response without access_token");
  token.expires_at_epoch_s = now_epoch_s + parsed.value("expires_in", int64_t{0});
  return token;
}

ServiceAccountTokenSource::ServiceAccountTokenSource(ServiceAccountKey key, std::function<int64_t()> now_epoch_s,
                                                     std::string scope, int64_t timeout_ms)
    : key_(std::move(key)), now_epoch_s_(std::move(now_epoch_s)), scope_(std::move(scope)), timeout_ms_(timeout_ms) {
  static std::once_flag global_init;
  std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Result<std::string> CachedToken::Get(int64_t now_epoch_s,
                                     const std::function<Result<AccessToken>(int64_t)>& fetch) {
  constexpr int64_t kMarginS = 60;
  std::lock_guard<std::mutex> lock(mutex_);
  if (cached_.token.empty() || now_epoch_s + kMarginS >= cached_.expires_at_epoch_s) {
    auto fresh = fetch(now_epoch_s);
    if (!fresh) return std::unexpected(fresh.error());
    cached_ = std::move(*fresh);
  }
  return cached_.token;
}

Result<std::string> ServiceAccountTokenSource::Token() {
  return cache_.Get(now_epoch_s_(), [this](int64_t now) { return Fetch(now); });
}

Result<AccessToken> ServiceAccountTokenSource::Fetch(int64_t now_epoch_s) {
  auto jwt = MakeServiceAccountJwt(key_, now_epoch_s, scope_);
  if (!jwt) return std::unexpected(jwt.error());
  auto reply = PostForm(BuildTokenRequest(key_, *jwt), timeout_ms_);
  if (!reply) return std::unexpected(reply.error());
  const auto& [status, body] = *reply;
  if (status == 429 || status >= 500) {
    return Fail(ErrorCode::kTransient, "token endpoint answered HTTP " + std::to_string(status));
  }
  auto token = ParseTokenResponse(body, now_epoch_s);
  if (token && status != 200) {
    return Fail(ErrorCode::kProtocol, "token endpoint answered HTTP " + std::to_string(status));
  }
  return token;
}

}  // namespace dl::adapters::pubsub
